"""The server behaviour suite, in process (no ports), for every server flavour on whichever mcp line the
environment has: SERVER spans (names, parents, attributes), error semantics, the result-error detector,
server sessions and metrics, and no duplicate spans with the libraries' own telemetry switched on.

The libraries' native spans go to the global tracer provider; `native_spans_to` routes them into the test's
capture, so "exactly one SERVER span per request" counts every scope, not only ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from support.capture import Capture, instrumented
from support.clients import mcp_error_types
from support.env import FASTMCP_MAJOR, MCP_MAJOR
from support.native import native_spans_to
from support.server_flavours import FLAVOURS, HANDLER_SEEN, available, build, connect, is_error

pytestmark = pytest.mark.anyio

MODES = ["legacy", "auto"] if MCP_MAJOR >= 2 else ["legacy"]
HANDSHAKE = {"legacy": "initialize", "auto": "server/discover"}


@pytest.fixture(params=[f for f in FLAVOURS if available(f)])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def captured(**kwargs: Any) -> Iterator[Capture]:
    """Instrumented, with the libraries' native spans landing in the same capture."""
    with instrumented(**kwargs) as cap, native_spans_to(SimpleSpanProcessor(cap.exporter)):
        yield cap


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def _of_kind(cap: Capture, kind: SpanKind, name: str | None = None) -> list[Any]:
    return [s for s in cap.spans(None) if s.kind == kind and (name is None or s.name == name)]


def _one(cap: Capture, kind: SpanKind, name: str) -> Any:
    """The single span of this kind and name across every instrumentation scope (ours, SDK, FastMCP)."""
    found = _of_kind(cap, kind, name)
    assert len(found) == 1, f"{kind.name} {name!r}: {[(s.name, s.instrumentation_scope.name) for s in found]}"
    assert found[0].instrumentation_scope.name == "mcp_otel"
    return found[0]


def _server_session(cap: Capture, server_span: Any) -> Any:
    linked = {link.context.span_id for link in server_span.links}
    sessions = [s for s in cap.named("mcp.session", side=None) if s.context.span_id in linked]
    assert len(sessions) == 1, "a request of a server session links the session's span"
    return sessions[0]


async def test_one_server_span_per_request_parented_on_the_client_span(flavour: str, mode: str) -> None:
    with captured() as cap:
        async with connect(build(flavour), mode=mode) as s:
            result = await s.call_tool("add", {"a": 2, "b": 3})
            await s.get_prompt("greet", {"name": "x"})
    assert not is_error(result)

    for name in ("tools/call add", "prompts/get greet", HANDSHAKE[mode]):
        server = _one(cap, SpanKind.SERVER, name)
        client = _one(cap, SpanKind.CLIENT, name)
        assert server.parent is not None and server.parent.span_id == client.context.span_id, name
        assert server.context.trace_id == client.context.trace_id
    # no SERVER or CLIENT span from any other scope, whatever the request
    assert {s.instrumentation_scope.name for s in _of_kind(cap, SpanKind.SERVER)} == {"mcp_otel"}
    assert {s.instrumentation_scope.name for s in _of_kind(cap, SpanKind.CLIENT)} == {"mcp_otel"}
    assert len(_of_kind(cap, SpanKind.SERVER)) == len(_of_kind(cap, SpanKind.CLIENT))

    call = _attrs(_one(cap, SpanKind.SERVER, "tools/call add"))
    assert call["mcp.method.name"] == "tools/call"
    assert call["gen_ai.tool.name"] == "add"
    assert call["gen_ai.operation.name"] == "execute_tool"
    assert isinstance(call["mcp.protocol.version"], str)
    assert isinstance(call["jsonrpc.request.id"], str)
    assert "error.type" not in call
    assert "server.address" not in call
    prompt = _attrs(_one(cap, SpanKind.SERVER, "prompts/get greet"))
    assert prompt["gen_ai.prompt.name"] == "greet" and "gen_ai.operation.name" not in prompt
    handshake = _attrs(_one(cap, SpanKind.SERVER, HANDSHAKE[mode]))
    assert handshake["mcp.protocol.version"] == call["mcp.protocol.version"]
    assert (handshake["mcp.protocol.version"] == "2026-07-28") == (mode == "auto")

    points = [
        p
        for p in cap.metrics()["mcp.server.operation.duration"]
        if p.attributes.get("gen_ai.tool.name") == "add"
    ]
    assert len(points) == 1 and points[0].count == 1
    assert points[0].attributes["mcp.method.name"] == "tools/call"
    assert not {"mcp.session.id", "jsonrpc.request.id", "client.address"} & set(points[0].attributes)


async def test_server_session_span_and_metrics(flavour: str) -> None:
    with captured() as cap:
        async with connect(build(flavour)) as s:
            await s.call_tool("add", {"a": 1, "b": 1})
            await s.call_tool("fail_tool")
            inside = sum(p.value for p in cap.metrics()["mcp_otel.server.sessions.active"])
        metrics = cap.metrics()
    assert inside == 1
    call = _one(cap, SpanKind.SERVER, "tools/call add")
    session = _server_session(cap, call)
    assert session.parent is None and session.kind == SpanKind.INTERNAL
    assert session.context.trace_id != call.context.trace_id  # a session spans many client traces
    for span in _of_kind(cap, SpanKind.SERVER):
        assert session.context.span_id in {link.context.span_id for link in span.links}, span.name
    attributes = _attrs(session)
    assert attributes["mcp_otel.session.end_reason"] == "closed"
    assert attributes["mcp_otel.session.requests"] >= 3  # initialize, the two calls (+ tools/list)
    assert attributes["mcp_otel.session.errors"] == 1
    assert isinstance(attributes["mcp.protocol.version"], str)
    assert session.end_time >= call.end_time
    assert sum(p.value for p in metrics["mcp_otel.server.sessions.active"]) == 0
    durations = metrics["mcp.server.session.duration"]
    assert len(durations) == 1 and durations[0].count == 1
    assert durations[0].attributes.get("mcp.protocol.version") == attributes["mcp.protocol.version"]


@pytest.mark.skipif(MCP_MAJOR < 2, reason="the 2026-07-28 in-process path is mcp 2.x")
async def test_modern_requests_have_no_server_session(flavour: str) -> None:
    with captured() as cap:
        async with connect(build(flavour), mode="auto") as s:
            await s.call_tool("add", {"a": 1, "b": 1})
    call = _one(cap, SpanKind.SERVER, "tools/call add")
    assert _attrs(call)["mcp.protocol.version"] == "2026-07-28"
    assert "mcp.session.id" not in _attrs(call)
    server_sessions = {link.context.span_id for link in call.links}
    assert not [s for s in cap.named("mcp.session", side=None) if s.context.span_id in server_sessions]


async def test_tool_errors(flavour: str) -> None:
    with captured() as cap:
        async with connect(build(flavour)) as s:
            await s.inner.list_tools()  # the names the server announces are the ones its metrics carry
            assert is_error(await s.call_tool("fail_tool"))
            try:
                raised = is_error(await s.call_tool("raise_tool"))
            except Exception:
                raised = True
            assert raised
    failed = _one(cap, SpanKind.SERVER, "tools/call fail_tool")
    assert _attrs(failed)["error.type"] == "tool_error"
    assert failed.status.status_code == StatusCode.ERROR
    raising = _one(cap, SpanKind.SERVER, "tools/call raise_tool")
    if flavour == "lowlevel" and MCP_MAJOR >= 2:
        # no tool wrapper in the 2.x low-level server: the exception becomes a JSON-RPC error reply
        assert _attrs(raising)["error.type"] == "ValueError"
    else:
        assert _attrs(raising)["error.type"] == "tool_error"
    assert raising.status.status_code == StatusCode.ERROR
    errors = {
        p.attributes.get("gen_ai.tool.name"): p.attributes.get("error.type")
        for p in cap.metrics()["mcp.server.operation.duration"]
        if p.attributes.get("mcp.method.name") == "tools/call"
    }
    assert errors["fail_tool"] == "tool_error"
    assert errors["raise_tool"] == _attrs(raising)["error.type"]


async def test_jsonrpc_errors_and_caller_errors() -> None:
    """Error replies record the code; caller errors (-32602, -32002, ...) carry no ERROR status."""
    with captured() as cap:
        async with connect(build("lowlevel")) as s:
            for call in (
                lambda: s.get_prompt("strict"),
                lambda: s.read_resource("res://missing"),
                lambda: s.read_resource("res://broken"),
            ):
                with pytest.raises(mcp_error_types()):
                    await call()
    strict = _one(cap, SpanKind.SERVER, "prompts/get strict")
    assert _attrs(strict)["error.type"] == "-32602"
    assert _attrs(strict)["rpc.response.status_code"] == "-32602"
    assert strict.status.status_code == StatusCode.UNSET
    reads = {_attrs(s)["mcp.resource.uri"]: s for s in _of_kind(cap, SpanKind.SERVER, "resources/read")}
    assert len(reads) == 2 and all(s.instrumentation_scope.name == "mcp_otel" for s in reads.values())
    assert _attrs(reads["res://missing"])["error.type"] == "-32002"
    assert reads["res://missing"].status.status_code == StatusCode.UNSET
    assert _attrs(reads["res://broken"])["error.type"] == "-32099"
    assert reads["res://broken"].status.status_code == StatusCode.ERROR
    # the handler's message is content: a fixed description (DESIGN trust rule 4)
    assert reads["res://broken"].status.description == "replied with JSON-RPC error -32099"
    codes = {p.attributes.get("error.type") for p in cap.metrics()["mcp.server.operation.duration"]}
    assert {"-32602", "-32002", "-32099"} <= codes


async def test_request_before_initialize_is_a_caller_error() -> None:
    """mcp 1.x refuses it in the receive loop, outside the request handler; 2.x in the runner (-32602)."""
    import anyio
    from mcp import ClientSession
    from mcp.shared.memory import create_client_server_memory_streams

    server = build("lowlevel")
    with captured() as cap:
        async with (
            create_client_server_memory_streams() as (client_streams, server_streams),
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(lambda: server.run(*server_streams, server.create_initialization_options()))
            async with ClientSession(*client_streams) as session:
                with pytest.raises(mcp_error_types()):
                    await session.list_tools()  # no initialize first
            tg.cancel_scope.cancel()
    span = _one(cap, SpanKind.SERVER, "tools/list")
    assert _attrs(span)["error.type"] == "-32602"
    assert span.status.status_code == StatusCode.UNSET
    assert span.parent.span_id == _one(cap, SpanKind.CLIENT, "tools/list").context.span_id


@pytest.mark.parametrize("option", ["off", "kwarg", "env", "callable", "raising"])
async def test_result_error_detector(flavour: str, option: str, monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs: dict[str, Any] = {}
    if option == "kwarg":
        kwargs["result_error_detector"] = True
    elif option == "env":
        monkeypatch.setenv("MCP_OTEL_DETECT_RESULT_ERRORS", "true")
    elif option == "callable":
        kwargs["result_error_detector"] = lambda result: "custom" if "db down" in str(result) else False
    elif option == "raising":
        kwargs["result_error_detector"] = lambda result: 1 / 0
    with captured(**kwargs) as cap:
        async with connect(build(flavour)) as s:
            await s.inner.list_tools()  # the names the server announces are the ones its metrics carry
            result = await s.call_tool("soft_fail")
            await s.call_tool("add", {"a": 1, "b": 2})
    assert not is_error(result)  # the application sees the result unchanged
    span = _one(cap, SpanKind.SERVER, "tools/call soft_fail")
    assert "error.type" not in _attrs(_one(cap, SpanKind.SERVER, "tools/call add"))
    if option in ("off", "raising"):
        assert "error.type" not in _attrs(span)
        assert span.status.status_code == StatusCode.UNSET
        return
    assert _attrs(span)["error.type"] == "tool_error"
    assert span.status.status_code == StatusCode.ERROR
    # the detector's message comes from the tool's result: content, recorded with capture on only
    assert span.status.description == "tool result reports a failure"
    points = cap.metrics()["mcp.server.operation.duration"]
    assert any(
        p.attributes.get("gen_ai.tool.name") == "soft_fail" and p.attributes.get("error.type") == "tool_error"
        for p in points
    )


async def test_content_capture_is_opt_in(flavour: str) -> None:
    for capture in (False, True):
        with captured(capture_content=capture) as cap:
            async with connect(build(flavour)) as s:
                await s.call_tool("add", {"a": 20, "b": 22})
        attributes = _attrs(_one(cap, SpanKind.SERVER, "tools/call add"))
        if not capture:
            assert not {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result"} & set(attributes)
            continue
        assert json.loads(attributes["gen_ai.tool.call.arguments"]) == {"a": 20, "b": 22}
        assert "42" in attributes["gen_ai.tool.call.result"]


async def test_excluded_methods_get_no_span_of_any_scope(flavour: str) -> None:
    with captured(excluded_methods=["tools/list", "prompts/get"]) as cap:
        async with connect(build(flavour)) as s:
            await s.call_tool("add", {"a": 1, "b": 2})  # the client lists tools after a first call
            await s.get_prompt("greet", {"name": "x"})
    assert _of_kind(cap, SpanKind.SERVER, "tools/list") == []
    assert _of_kind(cap, SpanKind.SERVER, "prompts/get greet") == []
    methods = {p.attributes.get("mcp.method.name") for p in cap.metrics()["mcp.server.operation.duration"]}
    assert "tools/call" in methods and not {"tools/list", "prompts/get"} & methods
    _one(cap, SpanKind.SERVER, "tools/call add")


async def test_handler_spans_nest_under_the_server_span(flavour: str, mode: str) -> None:
    HANDLER_SEEN.clear()
    with captured() as cap:
        async with connect(build(flavour), mode=mode) as s:
            await s.call_tool("traced")
    server = _one(cap, SpanKind.SERVER, "tools/call traced")
    assert [(server.context.trace_id, server.context.span_id)] == HANDLER_SEEN
    work = [s for s in cap.spans(None) if s.name == "handler work"]
    assert len(work) == 1 and work[0].parent.span_id == server.context.span_id


@pytest.mark.skipif(FASTMCP_MAJOR < 4, reason="telemetry_mode is fastmcp 4.x")
@pytest.mark.parametrize("telemetry_mode", ["native", "propagation_only", "off"])
async def test_fastmcp4_every_telemetry_mode(
    telemetry_mode: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fastmcp

    monkeypatch.setattr(fastmcp.settings, "telemetry_mode", telemetry_mode)
    HANDLER_SEEN.clear()
    with captured() as cap:
        async with connect(build("fastmcp"), mode=mode) as s:
            await s.call_tool("add", {"a": 1, "b": 2})
            await s.call_tool("traced")
    for name in ("tools/call add", "tools/call traced", HANDSHAKE[mode]):
        server, client = _one(cap, SpanKind.SERVER, name), _one(cap, SpanKind.CLIENT, name)
        assert server.parent.span_id == client.context.span_id
    server = _one(cap, SpanKind.SERVER, "tools/call traced")
    assert [(server.context.trace_id, server.context.span_id)] == HANDLER_SEEN
    assert {s.instrumentation_scope.name for s in _of_kind(cap, SpanKind.SERVER)} == {"mcp_otel"}
    assert {s.instrumentation_scope.name for s in _of_kind(cap, SpanKind.CLIENT)} == {"mcp_otel"}


async def test_uninstrument_restores_native_telemetry(flavour: str) -> None:
    with instrumented() as cap:
        pass
    assert cap.spans() == []
    with native_spans_to(SimpleSpanProcessor(cap.exporter)):
        async with connect(build(flavour)) as s:
            await s.call_tool("add", {"a": 1, "b": 2})
    assert cap.spans() == []  # nothing of ours after uninstrument()
    native = {s.instrumentation_scope.name for s in _of_kind(cap, SpanKind.SERVER, "tools/call add")}
    if flavour == "fastmcp":
        assert native == {"fastmcp"}
    elif MCP_MAJOR >= 2:
        assert native == {"mcp-python-sdk"}  # the SDK's OpenTelemetryMiddleware works again
    else:
        assert native == set()  # mcp 1.x has no telemetry of its own
