"""``fastmcp.Client`` gives the same client trace as a plain ClientSession, although it connects, initializes
and disconnects in a background task and runs every call in a task of its own:

    mcp.session > mcp.connect, initialize (server/discover on 2026-07-28), one CLIENT span per call,
    mcp.cleanup; the server's SERVER spans under the calls.

In process (FastMCPTransport), over stdio (keep_alive on and off) and over streamable HTTP to a server in
another process exporting over OTLP. FastMCP's own CLIENT spans (3.4 always, 4.x in ``native`` mode) are
replaced by ours: every CLIENT span counted here is checked across every instrumentation scope.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from support.capture import Capture, instrumented
from support.env import FASTMCP_MAJOR, HAS_FASTMCP
from support.native import native_spans_to
from support.otlp import OtlpReceiver
from support.server_flavours import build
from support.servers import RunningServer, start_http_server, stdio_server_params

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not HAS_FASTMCP, reason="fastmcp is not installed in this environment"),
]
# fastmcp 4 negotiates the protocol era: "auto" (2026-07-28 against a 2.x server) or "legacy" (initialize)
MODES = ["auto", "legacy"] if FASTMCP_MAJOR >= 4 else ["legacy"]
HANDSHAKE = {"auto": "server/discover", "legacy": "initialize"}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _client(target: Any, mode: str, **kwargs: Any) -> Any:
    from fastmcp import Client

    if FASTMCP_MAJOR >= 4:
        kwargs["mode"] = mode
    return Client(target, **kwargs)


@contextmanager
def captured(**kwargs: Any) -> Iterator[Capture]:
    with instrumented(**kwargs) as cap, native_spans_to(SimpleSpanProcessor(cap.exporter)):
        yield cap


def _children(cap: Capture, parent: Any) -> list[Any]:
    return [s for s in cap.spans(None) if s.parent is not None and s.parent.span_id == parent.context.span_id]


def _assert_client_tree(cap: Capture, mode: str, calls: tuple[str, ...]) -> Any:
    """The contract's client tree; every CLIENT span is ours and a child of the session. Returns the session."""
    session = cap.one("mcp.session")
    children = {s.name for s in _children(cap, session)}
    assert {"mcp.connect", HANDSHAKE[mode], "mcp.cleanup", *calls} <= children, sorted(children)
    clients = cap.client_spans()
    assert {s.instrumentation_scope.name for s in clients} == {"mcp_otel"}, (
        "FastMCP's CLIENT spans are replaced"
    )
    for span in clients:
        assert span.parent is not None and span.parent.span_id == session.context.span_id, span.name
    for name in calls:
        assert len([s for s in clients if s.name == name]) == 1, name
    attributes = dict(session.attributes or {})
    assert attributes["mcp_otel.session.end_reason"] == "closed"
    assert attributes["mcp_otel.session.requests"] == len(clients)
    assert cap.one("mcp.connect").end_time <= cap.one(HANDSHAKE[mode]).start_time
    assert cap.one("mcp.cleanup").end_time <= session.end_time
    return session


async def test_in_memory_tree_and_server_spans(mode: str) -> None:
    with captured() as cap:
        async with _client(build("fastmcp"), mode) as client:
            await client.call_tool("add", {"a": 1, "b": 2})
            await asyncio.gather(client.list_prompts(), client.call_tool("traced", {}))  # tasks of their own
    session = _assert_client_tree(cap, mode, ("tools/call add", "tools/call traced", "prompts/list"))
    assert dict(session.attributes or {})["mcp_otel.transport"] == "memory"
    servers = [s for s in cap.spans(None) if s.kind == SpanKind.SERVER]
    assert {s.instrumentation_scope.name for s in servers} == {"mcp_otel"}
    by_id = {s.context.span_id: s for s in cap.client_spans()}
    for server in servers:
        assert by_id[server.parent.span_id].name == server.name  # each under its own CLIENT span


async def test_call_inside_a_user_span_keeps_its_parent_and_links_the_session(mode: str) -> None:
    tracer = trace.get_tracer("tests.user")
    with captured() as cap:
        async with _client(build("fastmcp"), mode) as client:
            with tracer.start_as_current_span("user step") as step:
                await client.call_tool("add", {"a": 1, "b": 2})
    session = cap.one("mcp.session")
    call = cap.one("tools/call add")
    assert call.parent.span_id == step.get_span_context().span_id
    assert session.context.span_id in {link.context.span_id for link in call.links}


@pytest.mark.parametrize("keep_alive", [True, False], ids=["keep_alive", "no_keep_alive"])
async def test_stdio_session_lasts_as_long_as_the_subprocess(keep_alive: bool) -> None:
    from fastmcp.client.transports import StdioTransport

    mode = MODES[0]  # the default; both eras are covered in memory and over HTTP
    params = stdio_server_params("fastmcp")
    transport = StdioTransport(
        command=params.command, args=params.args, env=params.env, keep_alive=keep_alive
    )
    client = _client(transport, mode)
    with captured() as cap:
        async with client:
            await client.call_tool("add", {"a": 1, "b": 2})
        if keep_alive:
            # the subprocess and its session outlive `async with`; a second block reuses them
            assert cap.named("mcp.session") == []
            async with client:
                await client.call_tool("add", {"a": 3, "b": 4})
            await client.close()
    if keep_alive:
        assert len(cap.named("tools/call add")) == 2
        for span in cap.named("tools/call add"):
            assert span.parent.span_id == cap.one("mcp.session").context.span_id
        session = cap.one("mcp.session")
        assert dict(session.attributes or {})["mcp_otel.transport"] == "stdio"
        assert len(cap.named("mcp.connect")) == 1
    else:
        _assert_client_tree(cap, mode, ("tools/call add",))


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as rx:
        yield rx


@pytest.fixture(scope="module")
def fastmcp_server(receiver: OtlpReceiver) -> Iterator[RunningServer]:
    env = {**receiver.exporter_env("grpc"), "OTEL_SERVICE_NAME": "fastmcp-server"}
    with start_http_server("fastmcp", instrument=True, env=env) as server:
        yield server


async def test_streamable_http_one_trace_across_processes(
    receiver: OtlpReceiver, fastmcp_server: RunningServer, mode: str
) -> None:
    otlp = SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True))
    with instrumented() as cap, native_spans_to(otlp):
        cap.tracer_provider.add_span_processor(otlp)
        async with _client(fastmcp_server.url, mode) as client:
            await client.call_tool("add", {"a": 1, "b": 2})
            await client.call_tool("fail_tool", {}, raise_on_error=False)
    session = _assert_client_tree(cap, mode, ("tools/call add", "tools/call fail_tool"))
    assert dict(session.attributes or {})["mcp_otel.transport"] == "streamable-http"
    trace_id = format(session.context.trace_id, "032x")
    clients = receiver.spans(kind="CLIENT", trace_id=trace_id)
    assert {s.scope for s in clients} == {"mcp_otel"}
    servers = receiver.wait_for(
        lambda: (
            (found := receiver.spans(kind="SERVER", trace_id=trace_id))
            and len(found) >= len(clients)
            and found
        ),
        timeout=15,
    )
    time.sleep(0.3)  # a duplicate would come in the same or the next batch
    servers = receiver.spans(kind="SERVER", trace_id=trace_id)
    assert sorted(s.name for s in servers) == sorted(s.name for s in clients)
    assert {s.scope for s in servers} == {"mcp_otel"} and {s.service_name for s in servers} == {
        "fastmcp-server"
    }
    client_ids = {s.name: s.span_id for s in clients}
    for server in servers:
        assert server.parent_span_id == client_ids[server.name], server.name
    failed = next(s for s in servers if s.name == "tools/call fail_tool")
    assert failed.attributes["error.type"] == "tool_error"
    assert failed.attributes["network.transport"] == "tcp"
    assert failed.attributes["client.address"] == "127.0.0.1"
    if mode == "auto":
        assert "mcp.session.id" not in failed.attributes  # 2026-07-28 has no sessions
    else:
        assert failed.attributes["mcp.session.id"] == dict(session.attributes or {})["mcp.session.id"]
