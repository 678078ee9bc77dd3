"""Zero-code over real OTLP: MCP clients and servers started with only environment variables (or under
``opentelemetry-instrument``), no instrumentation code in them, export to a real OTLP receiver (gRPC and
HTTP/protobuf) on 127.0.0.1; one trace spans client and server.

Server spans: mcp 2.x servers have native SERVER spans and FastMCP 3.x servers too (v1 runs the fastmcp
flavour for that); mcp-otel's own server spans take over where they exist (``mcp_otel.adapters.*_server``).
Either way there must be exactly one SERVER span per request, child of the client's CLIENT span.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from support.env import HAS_FASTMCP, MCP_MAJOR, skip_or_fail
from support.otlp import OtlpReceiver, SpanRecord
from support.servers import RunningServer, free_port, make_http_server, server_args
from support.zerocode import (
    ZEROCODE_APPS,
    has_distro,
    otel_instrument,
    run_python,
    service_spans,
    wait_service_spans,
    zerocode_env,
)

CLIENT_APP = str(ZEROCODE_APPS / "client_app.py")
# A flavour whose server spans exist in this environment without mcp-otel's server side.
FLAVOUR = "fastmcp" if MCP_MAJOR == 1 and HAS_FASTMCP else "sdk"


def own_server_spans() -> bool:
    """mcp-otel instruments MCP servers in this checkout (its own SERVER spans and server metrics)."""
    module = "mcp_otel.adapters.mcp_v2_server" if MCP_MAJOR >= 2 else "mcp_otel.adapters.mcp_v1_server"
    return importlib.util.find_spec(module) is not None


SERVER_SPANS_EXPECTED = MCP_MAJOR >= 2 or FLAVOUR == "fastmcp" or own_server_spans()


@dataclass
class Servers:
    receiver: OtlpReceiver
    auto: RunningServer  # MCP_OTEL_AUTO_INSTRUMENT=true, OTLP/gRPC, service zc-server
    otel: RunningServer | None  # opentelemetry-instrument, OTLP/HTTP, service zc-server-oi


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with OtlpReceiver() as receiver:
        auto = make_http_server(FLAVOUR, env=zerocode_env(receiver, "zc-server", protocol="grpc"))
        otel = None
        if has_distro() and otel_instrument():
            port = free_port()
            otel = RunningServer(
                flavour=FLAVOUR,
                transport="streamable-http",
                port=port,
                argv=[otel_instrument(), sys.executable, *server_args(FLAVOUR, "streamable-http", port=port)],
                env=zerocode_env(receiver, "zc-server-oi", protocol="http", auto=False),
            )
        servers = [s for s in (auto, otel) if s is not None]
        try:
            for server in servers:  # boot in parallel
                server.launch()
            for server in servers:
                server.wait_ready()
            yield Servers(receiver, auto, otel)
        finally:
            for server in servers:
                server.close()


def _client_trace(receiver: OtlpReceiver, service: str) -> tuple[str, dict[str, SpanRecord]]:
    """The client's session trace: its id and the client's spans by name (one each, from mcp_otel)."""
    session = wait_service_spans(receiver, service, "mcp.session", scope="mcp_otel")
    assert len(session) == 1, [s.name for s in service_spans(receiver, service)]
    trace_id = session[0].trace_id
    spans = service_spans(receiver, service, trace_id=trace_id)
    mine = [s for s in spans if s.scope == "mcp_otel"]
    names = [s.name for s in mine]
    for name in ("mcp.connect", "initialize", "tools/call add", "tools/call echo", "mcp.cleanup"):
        assert names.count(name) == 1, f"{name}: {names}"
    by_name = {s.name: s for s in mine}
    for name in ("mcp.connect", "initialize", "tools/call add", "mcp.cleanup"):
        assert by_name[name].parent_span_id == session[0].span_id, name
    assert by_name["tools/call add"].kind == "CLIENT"
    # exactly one CLIENT span per request, whichever mechanisms are on
    client_calls = [s for s in spans if s.kind == "CLIENT" and "tools/call" in s.name and "add" in s.name]
    assert len(client_calls) == 1, [(s.name, s.scope) for s in client_calls]
    return trace_id, by_name


def _assert_server_joined(
    receiver: OtlpReceiver, server_service: str, trace_id: str, client_call: SpanRecord
) -> None:
    if not SERVER_SPANS_EXPECTED:
        return
    server_calls = receiver.wait_for(
        lambda: [
            s
            for s in service_spans(receiver, server_service, trace_id=trace_id, kind="SERVER")
            if s.name == "tools/call add"
        ],
        timeout=10,
    )
    assert len(server_calls) == 1, [(s.name, s.scope) for s in server_calls]
    assert server_calls[0].parent_span_id == client_call.span_id
    if own_server_spans():  # mcp-otel's own SERVER span (native ones are replaced, not duplicated)
        assert server_calls[0].scope == "mcp_otel"
        assert server_calls[0].attributes["mcp.method.name"] == "tools/call"
    assert server_calls[0].resource["service.name"] == server_service


def _assert_client_metrics(receiver: OtlpReceiver, service: str) -> None:
    def arrived():
        return [
            m
            for m in receiver.metrics("mcp.client.operation.duration")
            if m.resource.get("service.name") == service and m.points
        ]

    metric = receiver.wait_for(arrived, timeout=10)[-1]
    methods = {p.attributes.get("mcp.method.name") for p in metric.points}
    assert {"initialize", "tools/call"} <= methods
    assert metric.unit == "s"


def test_env_only_client_and_server_share_one_trace(servers: Servers) -> None:
    """Client over OTLP/HTTP, server over OTLP/gRPC, both configured by environment variables alone."""
    rx = servers.receiver
    env = zerocode_env(rx, "zc-client", protocol="http")
    proc = run_python([CLIENT_APP, "streamable-http", servers.auto.url], env)
    assert proc.stdout == ""  # the start-up hook writes nothing to stdout
    trace_id, client = _client_trace(rx, "zc-client")
    assert {s.protocol for s in service_spans(rx, "zc-client")} == {"http"}
    session = client["mcp.session"]
    assert session.attributes["server.address"] == "127.0.0.1"
    assert session.attributes["server.port"] == servers.auto.port
    assert session.resource["telemetry.auto.version"]
    _assert_server_joined(rx, "zc-server", trace_id, client["tools/call add"])
    server_spans = service_spans(rx, "zc-server", trace_id=trace_id)
    assert {s.protocol for s in server_spans} <= {"grpc"}
    _assert_client_metrics(rx, "zc-client")
    if own_server_spans():
        rx.wait_for(
            lambda: [
                m
                for m in rx.metrics("mcp.server.operation.duration")
                if m.resource.get("service.name") == "zc-server" and m.points
            ]
        )


def test_opentelemetry_instrument_and_both_mechanisms(servers: Servers) -> None:
    """``opentelemetry-instrument`` (with opentelemetry-distro) picks mcp_otel up; with the variable set as
    well, the process is instrumented once."""
    if servers.otel is None:
        skip_or_fail("opentelemetry-instrument with opentelemetry-distro is not installed")
    rx = servers.receiver
    launcher = [otel_instrument()]
    env = zerocode_env(rx, "zc-client-oi", protocol="grpc", auto=False)
    proc = run_python([CLIENT_APP, "streamable-http", servers.otel.url], env, launcher=launcher)
    assert proc.stdout == ""
    trace_id, client = _client_trace(rx, "zc-client-oi")
    _assert_server_joined(rx, "zc-server-oi", trace_id, client["tools/call add"])
    _assert_client_metrics(rx, "zc-client-oi")

    both = zerocode_env(rx, "zc-client-both", protocol="http", auto=True)
    run_python([CLIENT_APP, "streamable-http", servers.otel.url], both, launcher=launcher)
    trace_id, client = _client_trace(rx, "zc-client-both")  # one session, one span per request
    _assert_server_joined(rx, "zc-server-oi", trace_id, client["tools/call add"])


@pytest.mark.parametrize("mechanism", ["env", "opentelemetry-instrument"])
def test_disabled_instrumentations_turns_it_off(servers: Servers, mechanism: str) -> None:
    rx = servers.receiver
    service = f"zc-client-off-{mechanism}"
    extra = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests, mcp_otel"}
    env = zerocode_env(rx, service, protocol="grpc", auto=mechanism == "env", extra=extra)
    launcher: list[str] = []
    if mechanism == "opentelemetry-instrument":
        if servers.otel is None:
            skip_or_fail("opentelemetry-instrument with opentelemetry-distro is not installed")
        launcher = [otel_instrument()]
    proc = run_python([CLIENT_APP, "streamable-http", servers.auto.url], env, launcher=launcher)
    assert proc.stdout == ""
    # The process has exited: whatever it exported at shutdown has been received.
    assert [s.name for s in service_spans(rx, service, scope="mcp_otel")] == []
    mine = [m for m in rx.metrics() if m.resource.get("service.name") == service and m.scope == "mcp_otel"]
    assert mine == []
