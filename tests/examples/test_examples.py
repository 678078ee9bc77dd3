"""Smoke tests of examples/: each example runs as documented, zero-code (MCP_OTEL_AUTO_INSTRUMENT=true and
an OTLP endpoint, nothing else), against the example servers on 127.0.0.1, and its trace arrives at a real
OTLP receiver. Services are named after their programs (the autoload default)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from support.env import HAS_FASTMCP, MCP_MAJOR, MCP_VERSION_TUPLE, skip_or_fail
from support.otlp import OtlpReceiver, SpanRecord
from support.servers import RunningServer, free_port
from support.zerocode import EXAMPLES, run_python, service_spans, wait_service_spans, zerocode_env

HAS_ABI_CORE = importlib.util.find_spec("abi_core") is not None
OWN_SERVER_SPANS = (
    importlib.util.find_spec(
        "mcp_otel.adapters.mcp_v2_server" if MCP_MAJOR >= 2 else "mcp_otel.adapters.mcp_v1_server"
    )
    is not None
)
# The example servers are the mcp SDK's own: native SERVER spans on mcp 2.x, mcp-otel's where it has them.
SERVER_SPANS_EXPECTED = MCP_MAJOR >= 2 or OWN_SERVER_SPANS


@dataclass
class Stack:
    receiver: OtlpReceiver
    weather: RunningServer
    abi: RunningServer | None


def _example_server(script: str, receiver: OtlpReceiver) -> RunningServer:
    port = free_port()
    return RunningServer(
        flavour=script,
        transport="streamable-http",
        port=port,
        argv=[str(EXAMPLES / script), "--port", str(port)],
        env=zerocode_env(receiver, None, protocol="grpc"),
    )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with OtlpReceiver() as receiver:
        weather = _example_server("weather_server.py", receiver)
        abi = _example_server("abi_core_server.py", receiver) if HAS_ABI_CORE else None
        servers = [s for s in (weather, abi) if s is not None]
        try:
            for server in servers:
                server.launch()
            for server in servers:
                server.wait_ready()
            yield Stack(receiver, weather, abi)
        finally:
            for server in servers:
                server.close()


def _run_example(stack: Stack, script: str, *args: str, protocol: str = "http") -> None:
    proc = run_python([str(EXAMPLES / script), *args], zerocode_env(stack.receiver, None, protocol=protocol))
    assert proc.stdout == ""


def _session(stack: Stack, service: str) -> tuple[SpanRecord, dict[str, list[SpanRecord]]]:
    """The one client session of `service`, and its trace's spans (all services) by name."""
    sessions = wait_service_spans(stack.receiver, service, "mcp.session", scope="mcp_otel")
    assert len(sessions) == 1, [s.name for s in service_spans(stack.receiver, service)]
    session = sessions[0]
    by_name: dict[str, list[SpanRecord]] = {}
    for span in stack.receiver.spans(trace_id=session.trace_id):
        by_name.setdefault(span.name, []).append(span)
    return session, by_name


def _client_call(spans: dict[str, list[SpanRecord]], name: str, service: str) -> SpanRecord:
    found = [s for s in spans.get(name, []) if s.kind == "CLIENT" and s.service_name == service]
    assert len(found) == 1, (name, [(s.service_name, s.scope) for s in spans.get(name, [])])
    return found[0]


def _assert_served(stack: Stack, trace_id: str, call: SpanRecord, server: str = "weather_server") -> None:
    if not SERVER_SPANS_EXPECTED:
        return
    served = stack.receiver.wait_for(
        lambda: [
            s
            for s in service_spans(stack.receiver, server, trace_id=trace_id, kind="SERVER")
            if s.name == call.name
        ]
    )
    assert len(served) == 1
    assert served[0].parent_span_id == call.span_id
    if OWN_SERVER_SPANS:
        assert served[0].scope == "mcp_otel"


def test_client_session(stack: Stack) -> None:
    _run_example(stack, "client_session.py", stack.weather.url)
    session, spans = _session(stack, "client_session")
    assert session.attributes["server.port"] == stack.weather.port
    weather = _client_call(spans, "tools/call get_weather", "client_session")
    forecast = _client_call(spans, "tools/call get_forecast", "client_session")
    assert weather.parent_span_id == session.span_id
    assert forecast.attributes["error.type"] == "tool_error" and forecast.status_code == "ERROR"
    _assert_served(stack, session.trace_id, weather)


def test_mcp_client(stack: Stack) -> None:
    if MCP_MAJOR < 2:
        skip_or_fail("mcp.Client is mcp 2.x", expected_missing=True)
    _run_example(stack, "mcp_client.py", stack.weather.url, protocol="grpc")
    session, spans = _session(stack, "mcp_client")
    call = _client_call(spans, "tools/call get_weather", "mcp_client")
    assert call.parent_span_id == session.span_id
    _assert_served(stack, session.trace_id, call)


def test_fastmcp_client(stack: Stack) -> None:
    if not HAS_FASTMCP:
        skip_or_fail("fastmcp is not installed", expected_missing=True)
    _run_example(stack, "fastmcp_client.py", stack.weather.url)
    session, spans = _session(stack, "fastmcp_client")
    call = _client_call(spans, "tools/call get_weather", "fastmcp_client")
    assert call.parent_span_id == session.span_id
    assert (
        _client_call(spans, "tools/call get_forecast", "fastmcp_client").attributes["error.type"]
        == "tool_error"
    )
    _assert_served(stack, session.trace_id, call)


def test_stdio_client(stack: Stack) -> None:
    _run_example(stack, "stdio_client.py", protocol="grpc")
    session, spans = _session(stack, "stdio_client")
    assert session.attributes["mcp_otel.transport"] == "stdio"
    call = _client_call(spans, "tools/call get_weather", "stdio_client")
    _assert_served(stack, session.trace_id, call)  # the spawned server, in the same trace


def test_pooled_session(stack: Stack) -> None:
    _run_example(stack, "pooled_session.py", "127.0.0.1", str(stack.weather.port))
    session, _ = _session(stack, "pooled_session")
    assert session.attributes["mcp_otel.session.requests"] == 5  # initialize, 3 calls, tools/list
    calls = [
        s
        for s in service_spans(stack.receiver, "pooled_session", kind="CLIENT")
        if s.name == "tools/call get_weather"
    ]
    assert len(calls) == 3
    handlers = {
        s.span_id: s
        for s in service_spans(stack.receiver, "pooled_session")
        if s.name.startswith("handle query")
    }
    for call in calls:  # under the application's span, linked to the shared session
        assert call.parent_span_id in handlers
        assert (session.trace_id, session.span_id) in call.links
        _assert_served(stack, call.trace_id, call)


def test_abi_core_client(stack: Stack) -> None:
    if stack.abi is None:
        skip_or_fail(
            "abi-core-ai is not installed", expected_missing=MCP_MAJOR != 1 or MCP_VERSION_TUPLE < (1, 26)
        )
    assert stack.abi is not None
    _run_example(stack, "abi_core_client.py", "127.0.0.1", str(stack.abi.port))
    session, spans = _session(stack, "abi_core_client")
    assert session.attributes["server.address"] == "127.0.0.1"
    assert session.attributes["server.port"] == stack.abi.port
    assert session.attributes["mcp_otel.transport"] == "streamable-http"
    call = _client_call(spans, "tools/call find_agent", "abi_core_client")
    assert call.parent_span_id == session.span_id
    _assert_served(stack, session.trace_id, call, server="abi_core_server")


def test_embedded_default_prints_the_tree(stack: Stack) -> None:
    """No exporter configured: the trace tree goes to stderr, nothing to stdout."""
    env = zerocode_env(None, None)
    proc = run_python([str(EXAMPLES / "client_session.py"), stack.weather.url], env)
    assert proc.stdout == ""
    assert "└── mcp.session [INTERNAL]" in proc.stderr
    assert "tools/call get_forecast [CLIENT]" in proc.stderr and "error.type=tool_error" in proc.stderr


def test_retry_client(stack: Stack) -> None:
    _run_example(stack, "retry_client.py", "127.0.0.1", str(stack.weather.port))
    session, spans = _session(stack, "retry_client")
    call = _client_call(spans, "tools/call get_weather", "retry_client")
    assert call.parent_span_id == session.span_id
    assert call.attributes["mcp_otel.retry.attempt"] == 1
    assert call.attributes["mcp_otel.retry.max_attempts"] == 3
    _assert_served(stack, session.trace_id, call)
