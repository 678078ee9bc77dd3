"""The client behaviour suite, in process (no ports), on whichever mcp line the environment has.

Every test asserts on exported spans and metrics: names, kinds, parents, attribute keys and value types.
"""

from __future__ import annotations

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from support.capture import instrumented
from support.env import MCP_MAJOR
from support.inproc import SEEN_META, build_server, error_code, is_error, open_session

pytestmark = pytest.mark.anyio

# mcp 2.x: "legacy" exercises the JSON-RPC dispatcher (initialize handshake), "auto" the 2026-07-28
# in-process path (server/discover, DirectDispatcher). mcp 1.x has one path.
MODES = ["legacy", "auto"] if MCP_MAJOR >= 2 else ["legacy"]
HANDSHAKE = {"legacy": "initialize", "auto": "server/discover"}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


def _attrs(span) -> dict:
    return dict(span.attributes or {})


async def test_session_tree_and_attributes(mode: str) -> None:
    server = build_server("tree")
    with instrumented() as cap:
        async with open_session(server, mode=mode) as s:
            result = await s.call_tool("add", {"a": 2, "b": 3})
    assert not is_error(result)

    session = cap.one("mcp.session")
    assert session.kind == SpanKind.INTERNAL
    assert session.parent is None
    for name in ("mcp.connect", "mcp.cleanup"):
        child = cap.one(name)
        assert child.kind == SpanKind.INTERNAL
        assert cap.parent_of(child) is session
    handshake = cap.one(HANDSHAKE[mode])
    assert handshake.kind == SpanKind.CLIENT and cap.parent_of(handshake) is session
    assert (
        _attrs(handshake)["mcp.protocol.version"] == _attrs(cap.one("tools/call add"))["mcp.protocol.version"]
    )
    call = cap.one("tools/call add")
    assert call.kind == SpanKind.CLIENT and cap.parent_of(call) is session
    assert call.status.status_code == StatusCode.UNSET

    a = _attrs(call)
    assert a["mcp.method.name"] == "tools/call"
    assert a["gen_ai.tool.name"] == "add"
    assert a["gen_ai.operation.name"] == "execute_tool"
    assert isinstance(a["mcp.protocol.version"], str)
    assert "error.type" not in a
    if mode == "legacy":
        assert isinstance(a["jsonrpc.request.id"], str)
        assert _attrs(handshake)["jsonrpc.request.id"] == ("0" if MCP_MAJOR == 1 else "1")

    sa = _attrs(session)
    assert sa["mcp_otel.transport"] == "memory"
    assert sa["mcp_otel.server.name"] == "tree"
    assert sa["mcp_otel.session.end_reason"] == "closed"
    assert isinstance(sa["mcp_otel.session.requests"], int) and sa["mcp_otel.session.requests"] >= 2
    assert sa["mcp_otel.session.errors"] == 0
    assert sa["mcp_otel.session.timeouts"] == 0
    assert "mcp.session.id" not in sa  # in-memory sessions have no Mcp-Session-Id

    # spans end in order: children before the session
    assert cap.one("mcp.cleanup").end_time <= session.end_time
    assert cap.one("mcp.connect").end_time <= handshake.start_time


async def test_metrics_names_units_buckets(mode: str) -> None:
    server = build_server()
    with instrumented() as cap:
        async with open_session(server, mode=mode) as s:
            await s.call_tool("add", {"a": 1, "b": 1})
        metrics = cap.metrics()
        units = cap.metric_units()
    op_points = metrics["mcp.client.operation.duration"]
    calls = [p for p in op_points if p.attributes.get("gen_ai.tool.name") == "add"]
    assert calls and calls[0].count == 1
    assert calls[0].attributes["mcp.method.name"] == "tools/call"
    assert list(calls[0].explicit_bounds) == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]
    for point in op_points:  # never high-cardinality keys on metrics
        assert not {"mcp.session.id", "jsonrpc.request.id", "mcp.resource.uri"} & set(point.attributes)
    assert metrics["mcp.client.session.duration"][0].count == 1
    assert units["mcp.client.operation.duration"] == "s"
    assert units["mcp.client.session.duration"] == "s"
    active = metrics["mcp_otel.client.sessions.active"]
    assert sum(p.value for p in active) == 0  # opened and closed
    assert units["mcp_otel.client.sessions.active"] == "{session}"


async def test_active_sessions_while_open(mode: str) -> None:
    server = build_server()
    with instrumented() as cap:
        async with open_session(server, mode=mode):
            inside = sum(p.value for p in cap.metrics()["mcp_otel.client.sessions.active"])
    assert inside == 1


async def test_tool_error(mode: str) -> None:
    with instrumented() as cap:
        async with open_session(build_server(), mode=mode) as s:
            result = await s.call_tool("fail_tool")
    assert is_error(result)
    span = cap.one("tools/call fail_tool")
    assert span.status.status_code == StatusCode.ERROR
    assert _attrs(span)["error.type"] == "tool_error"
    session = _attrs(cap.one("mcp.session"))
    assert session["mcp_otel.session.errors"] == 1
    assert session["mcp_otel.session.end_reason"] == "closed"
    points = cap.metrics()["mcp.client.operation.duration"]
    assert any(p.attributes.get("error.type") == "tool_error" for p in points)


async def test_jsonrpc_error(mode: str) -> None:
    with instrumented() as cap:
        async with open_session(build_server(), mode=mode) as s:
            with pytest.raises(Exception) as info:
                await s.read_resource("res://missing")
    code = error_code(info.value)
    assert isinstance(code, int)
    span = cap.one("resources/read")
    a = _attrs(span)
    assert a["error.type"] == str(code)
    assert a["rpc.response.status_code"] == str(code)
    assert a["mcp.resource.uri"] == "res://missing"
    assert span.status.status_code == StatusCode.ERROR
    points = cap.metrics()["mcp.client.operation.duration"]
    assert any(p.attributes.get("error.type") == str(code) for p in points)


async def test_raised_exception_in_body_is_unchanged(mode: str) -> None:
    async def scenario() -> BaseException:
        try:
            async with open_session(build_server(), mode=mode) as s:
                await s.call_tool("add", {"a": 1, "b": 1})
                raise ValueError("user bug")
        except BaseException as exc:
            return exc
        raise AssertionError("no exception")

    plain = await scenario()
    with instrumented() as cap:
        traced = await scenario()
    assert type(traced) is type(plain)
    assert str(traced) == str(plain)
    session = cap.one("mcp.session")
    assert _attrs(session)["mcp_otel.session.end_reason"] == "error"
    assert _attrs(session)["error.type"] == "ValueError"  # ExceptionGroup unwrapped
    assert session.status.status_code == StatusCode.ERROR
    points = cap.metrics()["mcp.client.session.duration"]
    assert points[0].attributes["error.type"] == "ValueError"


async def test_client_side_exception_is_unchanged(mode: str) -> None:
    """An argument pydantic cannot serialise: the call raises before anything is sent.

    mcp 1.x serialises inside ``send_request``, which we wrap, so the failure gets its span; mcp 2.x
    serialises before the dispatcher, the one place requests are traced there, so nothing was sent and
    there is no request span (the cost of a second wrapper layer on every request is not worth it).
    """

    async def scenario() -> BaseException:
        async with open_session(build_server(), mode=mode) as s:
            try:
                await s.call_tool("add", {"a": object(), "b": 1})
            except Exception as exc:
                return exc
        raise AssertionError("no exception")

    plain = await scenario()
    with instrumented() as cap:
        traced = await scenario()
    assert type(traced) is type(plain) and str(traced) == str(plain)
    if MCP_MAJOR >= 2:
        assert not [s for s in cap.spans() if s.name.startswith("tools/call")]
        return
    span = cap.one("tools/call add")
    assert _attrs(span)["error.type"].endswith(type(plain).__name__)
    assert span.status.status_code == StatusCode.ERROR


async def test_prompt_span_name(mode: str) -> None:
    with instrumented() as cap:
        async with open_session(build_server(), mode=mode) as s:
            await s.get_prompt("greet", {"name": "ada"})
    span = cap.one("prompts/get greet")
    assert _attrs(span)["gen_ai.prompt.name"] == "greet"
    assert "gen_ai.operation.name" not in _attrs(span)


async def test_trace_context_reaches_server_meta(mode: str) -> None:
    SEEN_META.clear()
    with instrumented() as cap:
        async with open_session(build_server(), mode=mode) as s:
            await s.call_tool("show_meta")
    span = cap.one("tools/call show_meta")
    ctx = span.context
    expected = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-"
    assert SEEN_META and SEEN_META[-1].get("traceparent", "").startswith(expected)


async def test_no_trace_context_in_meta_when_propagation_is_off(mode: str) -> None:
    """propagate=False: nothing in _meta, including what mcp 2.x's dispatcher would inject by itself."""
    SEEN_META.clear()
    with instrumented(propagate=False) as cap:
        async with open_session(build_server(), mode=mode) as s:
            await s.call_tool("show_meta")
    assert cap.one("tools/call show_meta")  # still traced
    assert SEEN_META and not {"traceparent", "tracestate", "baggage"} & set(SEEN_META[-1])


async def test_caller_meta_is_not_mutated() -> None:
    if MCP_MAJOR < 2:
        pytest.skip("call_tool(meta=...) is an mcp 2.x API")
    SEEN_META.clear()
    meta = {"custom": "value"}
    with instrumented():
        async with open_session(build_server(), mode="legacy") as s:
            await s.call_tool("show_meta", meta=meta)
    assert meta == {"custom": "value"}
    assert SEEN_META[-1]["custom"] == "value" and "traceparent" in SEEN_META[-1]


async def test_request_under_user_span_links_session(mode: str) -> None:
    with instrumented() as cap:
        tracer = cap.tracer_provider.get_tracer("app")
        async with open_session(build_server(), mode=mode) as s:
            with tracer.start_as_current_span("agent step") as outer:
                await s.call_tool("add", {"a": 1, "b": 2})
            assert trace.get_current_span() is trace.INVALID_SPAN
    call = cap.one("tools/call add")
    session = cap.one("mcp.session")
    assert call.parent.span_id == outer.get_span_context().span_id
    assert [link.context.span_id for link in call.links] == [session.context.span_id]


async def test_request_from_other_task_keeps_parent_and_links(mode: str) -> None:
    with instrumented() as cap:
        tracer = cap.tracer_provider.get_tracer("app")
        async with open_session(build_server(), mode=mode) as s:

            async def worker(n: int) -> None:
                with tracer.start_as_current_span(f"worker {n}"):
                    await s.call_tool("add", {"a": n, "b": n})

            async with anyio.create_task_group() as tg:
                for n in range(3):
                    tg.start_soon(worker, n)
    workers = {s.context.span_id: s for s in cap.spans("app")}
    calls = cap.named("tools/call add")
    assert len(calls) == 3
    assert {c.parent.span_id for c in calls} == set(workers)  # each call under its own worker span
    assert len({c.context.trace_id for c in calls}) == 3  # no cross-talk between traces
    session_id = cap.one("mcp.session").context.span_id
    assert all(c.links[0].context.span_id == session_id for c in calls)


async def test_session_opened_under_user_span_is_its_child(mode: str) -> None:
    with instrumented() as cap:
        tracer = cap.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("agent") as agent:
            async with open_session(build_server(), mode=mode) as s:
                await s.call_tool("add", {"a": 1, "b": 2})
    session = cap.one("mcp.session")
    assert session.parent.span_id == agent.get_span_context().span_id
    assert cap.parent_of(cap.one("tools/call add")) is session


async def test_current_span_untouched(mode: str) -> None:
    with instrumented():
        assert trace.get_current_span() is trace.INVALID_SPAN
        async with open_session(build_server(), mode=mode) as s:
            assert trace.get_current_span() is trace.INVALID_SPAN
            await s.call_tool("add", {"a": 1, "b": 2})
            assert trace.get_current_span() is trace.INVALID_SPAN
        assert trace.get_current_span() is trace.INVALID_SPAN


async def test_uninstrument_leaves_no_spans(mode: str) -> None:
    with instrumented() as cap:
        pass
    async with open_session(build_server(), mode=mode) as s:
        await s.call_tool("add", {"a": 1, "b": 2})
    assert cap.spans(None) == []


async def test_suppressed_instrumentation_records_no_request(mode: str) -> None:
    with instrumented() as cap:
        async with open_session(build_server(), mode=mode) as s:
            with suppress_instrumentation():
                await s.call_tool("add", {"a": 1, "b": 2})
    assert cap.named("tools/call add") == []


async def test_excluded_methods(mode: str) -> None:
    with instrumented(excluded_methods=["tools/list"]) as cap:
        async with open_session(build_server(), mode=mode) as s:
            await s.list_tools()
            await s.call_tool("add", {"a": 1, "b": 2})
    assert cap.named("tools/list") == []
    assert len(cap.named("tools/call add")) == 1


async def test_exactly_one_client_span_per_request(mode: str) -> None:
    """mcp 2.x opens its own 'MCP send …' CLIENT span; ours replaces it rather than adding a second."""
    with instrumented() as cap:
        async with open_session(build_server(), mode=mode) as s:
            await s.call_tool("add", {"a": 1, "b": 2})
            await s.list_tools()
    client_spans = cap.client_spans()
    assert all(s.instrumentation_scope.name == "mcp_otel" for s in client_spans), [
        (s.name, s.instrumentation_scope.name) for s in client_spans
    ]
    names = [s.name for s in client_spans]
    assert len(names) == len(set(names)) or names.count("tools/list") == 2  # one per request sent


async def test_capture_content_is_opt_in(mode: str) -> None:
    with instrumented() as cap:
        async with open_session(build_server(), mode=mode) as s:
            await s.call_tool("add", {"a": 1, "b": 2})
    assert "gen_ai.tool.call.arguments" not in _attrs(cap.one("tools/call add"))
    with instrumented(capture_content=True) as cap:
        async with open_session(build_server(), mode=mode) as s:
            await s.call_tool("add", {"a": 1, "b": 2})
    assert _attrs(cap.one("tools/call add"))["gen_ai.tool.call.arguments"] == '{"a": 1, "b": 2}'


async def test_suppressed_session_records_nothing(mode: str) -> None:
    with instrumented() as cap:
        with suppress_instrumentation():
            async with open_session(build_server(), mode=mode) as s:
                await s.call_tool("add", {"a": 1, "b": 2})
    assert cap.named("mcp.session") == [] and cap.named("tools/call add") == []


def test_console_tree_waits_for_the_root() -> None:
    """The stderr tree prints a trace once, when its root ends, with in-process server spans nested."""
    import io

    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from mcp_otel.console import ConsoleTreeExporter

    out = io.StringIO()
    with instrumented() as cap:
        cap.tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleTreeExporter(out)))

        async def run() -> None:
            async with open_session(build_server()) as s:
                await s.call_tool("add", {"a": 1, "b": 2})

        anyio.run(run)
    text = out.getvalue()
    client_trace = [block for block in text.split("trace ") if "mcp.connect" in block]
    assert len(client_trace) == 1  # not split into fragments by the server spans' remote parents
    assert "└── mcp.session [INTERNAL]" in client_trace[0]
    assert "tools/call add [CLIENT]" in client_trace[0]
