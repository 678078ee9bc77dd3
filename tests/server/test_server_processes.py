"""Client and server in separate processes, both exporting over OTLP to one receiver the test runs.

Servers: tests/servers/mcp_server.py started with ``--instrument`` (OTLP from OTEL_* variables, mcp-otel on,
the libraries' native telemetry left at its defaults: mcp 2.x's server middleware, FastMCP 3.4's always-on
spans, FastMCP 4's ``native`` and ``propagation_only`` modes). The client is this process, instrumented with
an OTLP exporter; the libraries' native client spans are exported too (through the global provider), so
"one CLIENT and one SERVER span per request" counts every scope on both sides.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from support.capture import Capture, instrumented
from support.clients import is_error, open_connection
from support.env import MCP_MAJOR
from support.native import native_spans_to
from support.otlp import OtlpReceiver, SpanRecord
from support.servers import (
    RunningServer,
    available_flavours,
    close_all,
    start_http_servers,
    stdio_server_params,
    supports_idle_timeout,
)

pytestmark = pytest.mark.anyio

# (flavour, FASTMCP_TELEMETRY_MODE or None): every server flavour of this line, native telemetry at its default
VARIANTS = [(f, None) for f in available_flavours()]
if MCP_MAJOR >= 2 and "fastmcp" in available_flavours():
    VARIANTS.append(("fastmcp", "propagation_only"))
IDLE_TIMEOUT = 1.0


def _variant_id(variant: tuple[str, str | None]) -> str:
    return variant[0] + (f"-{variant[1]}" if variant[1] else "")


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as rx:
        yield rx


def _server_env(receiver: OtlpReceiver, service: str, mode: str | None = None) -> dict[str, str]:
    env = {**receiver.exporter_env("grpc"), "OTEL_SERVICE_NAME": service}
    if mode:
        env["FASTMCP_TELEMETRY_MODE"] = mode
    return env


@pytest.fixture(scope="module")
def servers(receiver: OtlpReceiver) -> Iterator[dict[str, RunningServer]]:
    """Every HTTP server of this module, started in parallel: one per variant, plus stateless and idle ones."""
    specs: dict[str, dict[str, Any]] = {}
    for flavour, mode in VARIANTS:
        name = _variant_id((flavour, mode))
        specs[name] = {"flavour": flavour, "env": _server_env(receiver, f"server-{name}", mode)}
    specs["stateless"] = {
        "flavour": "sdk",
        "stateless": True,
        "env": _server_env(receiver, "server-stateless"),
    }
    specs["sse"] = {"flavour": "sdk", "transport": "sse", "env": _server_env(receiver, "server-sse")}
    if supports_idle_timeout("sdk"):
        specs["idle"] = {
            "flavour": "sdk",
            "idle_timeout": IDLE_TIMEOUT,
            "reject_get_stream": True,
            "env": _server_env(receiver, "server-idle"),
        }
    started = start_http_servers([{**spec, "instrument": True} for spec in specs.values()])
    try:
        yield dict(zip(specs, started, strict=True))
    finally:
        close_all(started)


@contextmanager
def client(receiver: OtlpReceiver) -> Iterator[Capture]:
    """This process as an instrumented MCP client exporting over OTLP (its native spans as well)."""
    otlp = SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True))
    with instrumented() as cap, native_spans_to(otlp):
        cap.tracer_provider.add_span_processor(otlp)
        yield cap


def _client_trace(cap: Capture) -> str:
    return format(cap.one("mcp.session").context.trace_id, "032x")


def _requests_of(receiver: OtlpReceiver, trace_id: str, kind: str) -> dict[str, list[SpanRecord]]:
    out: dict[str, list[SpanRecord]] = {}
    for span in receiver.spans(kind=kind, trace_id=trace_id):
        out.setdefault(span.name, []).append(span)
    return out


def _assert_one_trace(receiver: OtlpReceiver, trace_id: str, names: tuple[str, ...]) -> dict[str, SpanRecord]:
    """One CLIENT and one SERVER span per request, across every scope; server spans parented on the client's."""
    clients = _requests_of(receiver, trace_id, "CLIENT")  # exported synchronously: complete by now
    assert set(names) <= set(clients), sorted(clients)
    servers = receiver.wait_for(
        lambda: (
            (found := _requests_of(receiver, trace_id, "SERVER")) and set(clients) <= set(found) and found
        ),
        timeout=15,
    )
    time.sleep(0.3)  # a duplicate would arrive in the same batch; give a straggler batch the chance to show
    servers = _requests_of(receiver, trace_id, "SERVER")
    assert set(servers) == set(clients), (sorted(servers), sorted(clients))
    out = {}
    for name in servers:
        assert [s.scope for s in servers[name]] == ["mcp_otel"], (name, [s.scope for s in servers[name]])
        assert [s.scope for s in clients[name]] == ["mcp_otel"], (name, [s.scope for s in clients[name]])
        server, client_span = servers[name][0], clients[name][0]
        assert server.parent_span_id == client_span.span_id, name
        assert server.service_name != client_span.service_name  # two processes
        out[name] = server
    return out


async def _calls(conn: Any) -> None:
    assert not is_error(await conn.session.call_tool("add", {"a": 1, "b": 2}))
    assert is_error(await conn.session.call_tool("fail_tool", {}))


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
async def test_streamable_http_one_trace(
    receiver: OtlpReceiver, servers: dict[str, RunningServer], variant: tuple[str, str | None]
) -> None:
    server = servers[_variant_id(variant)]
    with client(receiver) as cap:
        async with open_connection("streamable-http", server.url) as conn:
            await _calls(conn)
            session_id = (await conn.session.call_tool("whoami", {})).content[0].text
    trace_id = _client_trace(cap)
    spans = _assert_one_trace(receiver, trace_id, ("initialize", "tools/call add", "tools/call fail_tool"))
    call = spans["tools/call add"].attributes
    assert call["network.transport"] == "tcp" and call["network.protocol.name"] == "http"
    assert call["client.address"] == "127.0.0.1" and isinstance(call["client.port"], int)
    assert call["mcp.session.id"] == session_id
    assert call["gen_ai.tool.name"] == "add" and call["mcp.method.name"] == "tools/call"
    assert isinstance(call["mcp.protocol.version"], str)
    failed = spans["tools/call fail_tool"]
    assert failed.attributes["error.type"] == "tool_error" and failed.status_code == "ERROR"
    assert spans["initialize"].attributes["mcp.protocol.version"] == call["mcp.protocol.version"]

    # The server session: one span per session id, ended by the client's DELETE at exit.
    service = f"server-{_variant_id(variant)}"
    session = receiver.wait_for(lambda: _server_session(receiver, service, session_id), timeout=15)
    attributes = session.attributes
    assert session.parent_span_id is None and session.kind == "INTERNAL"
    assert attributes["mcp_otel.transport"] == "streamable-http"
    assert attributes["mcp_otel.session.end_reason"] == "closed"
    assert attributes["mcp_otel.session.requests"] >= 4
    assert attributes["mcp_otel.session.errors"] == 1
    assert attributes["client.address"] == "127.0.0.1"
    assert (session.trace_id, session.span_id) in spans["tools/call add"].links
    _assert_server_metrics(receiver, service)


def _server_session(receiver: OtlpReceiver, service: str, session_id: str | None) -> SpanRecord | None:
    for span in receiver.spans("mcp.session", scope="mcp_otel"):
        if span.service_name == service and span.attributes.get("mcp.session.id") == session_id:
            return span
    return None


def _assert_server_metrics(receiver: OtlpReceiver, service: str) -> None:
    def ready() -> dict[str, Any] | None:
        latest = {}
        for name in (
            "mcp.server.operation.duration",
            "mcp.server.session.duration",
            "mcp_otel.server.sessions.active",
        ):
            records = [m for m in receiver.metrics(name) if m.resource.get("service.name") == service]
            if not records:
                return None
            latest[name] = records[-1]
        return latest if latest["mcp.server.session.duration"].points else None

    latest = receiver.wait_for(ready, timeout=10)
    calls = [
        p for p in latest["mcp.server.operation.duration"].points if p.attributes.get("gen_ai.tool.name")
    ]
    assert {p.attributes["gen_ai.tool.name"] for p in calls} >= {"add", "fail_tool"}
    assert all("mcp.session.id" not in p.attributes and "client.address" not in p.attributes for p in calls)
    assert latest["mcp.server.operation.duration"].unit == "s"
    assert sum(p.count or 0 for p in latest["mcp.server.session.duration"].points) >= 1
    assert latest["mcp_otel.server.sessions.active"].unit == "{session}"


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
async def test_stdio_one_trace_and_server_session(
    receiver: OtlpReceiver, variant: tuple[str, str | None]
) -> None:
    flavour, mode = variant
    service = f"stdio-{_variant_id(variant)}"
    params = stdio_server_params(flavour, instrument=True, env=_server_env(receiver, service, mode))
    with client(receiver) as cap:
        async with open_connection("stdio", params) as conn:
            await _calls(conn)
    trace_id = _client_trace(cap)
    spans = _assert_one_trace(receiver, trace_id, ("initialize", "tools/call add", "tools/call fail_tool"))
    call = spans["tools/call add"].attributes
    assert call["network.transport"] == "pipe"
    assert "client.address" not in call and "mcp.session.id" not in call
    session = receiver.wait_for(lambda: _server_session(receiver, service, None), timeout=15)
    assert session.attributes["mcp_otel.transport"] == "stdio"
    assert session.attributes["network.transport"] == "pipe"
    assert session.attributes["mcp_otel.session.end_reason"] == "closed"
    assert session.attributes["mcp_otel.session.requests"] >= 4
    for span in spans.values():
        assert (session.trace_id, session.span_id) in span.links


async def test_sse_one_trace_and_server_session(
    receiver: OtlpReceiver, servers: dict[str, RunningServer]
) -> None:
    with client(receiver) as cap:
        async with open_connection("sse", servers["sse"].url) as conn:
            await _calls(conn)
            session_id = (await conn.session.call_tool("whoami", {})).content[0].text
    spans = _assert_one_trace(
        receiver, _client_trace(cap), ("initialize", "tools/call add", "tools/call fail_tool")
    )
    assert spans["tools/call add"].attributes["mcp.session.id"] == session_id
    assert spans["tools/call add"].attributes["network.transport"] == "tcp"
    session = receiver.wait_for(lambda: _server_session(receiver, "server-sse", session_id), timeout=15)
    assert session.attributes["mcp_otel.transport"] == "sse"
    assert session.attributes["mcp_otel.session.end_reason"] == "closed"
    assert (session.trace_id, session.span_id) in spans["tools/call add"].links


async def test_stateless_http_has_no_server_session(
    receiver: OtlpReceiver, servers: dict[str, RunningServer]
) -> None:
    with client(receiver) as cap:
        async with open_connection("streamable-http", servers["stateless"].url) as conn:
            await conn.session.call_tool("add", {"a": 1, "b": 2})
    spans = _assert_one_trace(receiver, _client_trace(cap), ("initialize", "tools/call add"))
    assert "mcp.session.id" not in spans["tools/call add"].attributes
    assert spans["tools/call add"].links == []
    time.sleep(0.5)  # a batch the server might still send
    assert [s for s in receiver.spans("mcp.session") if s.service_name == "server-stateless"] == []


@pytest.mark.skipif(not supports_idle_timeout("sdk"), reason="this mcp has no session idle timeout")
async def test_idle_expiry_ends_the_server_session(
    receiver: OtlpReceiver, servers: dict[str, RunningServer]
) -> None:
    with client(receiver):
        async with open_connection("streamable-http", servers["idle"].url) as conn:
            session_id = (await conn.session.call_tool("whoami", {})).content[0].text
            # the server drops the session while the client still holds it
            session = await anyio.to_thread.run_sync(
                lambda: receiver.wait_for(lambda: _server_session(receiver, "server-idle", session_id), 15)
            )
    assert session.attributes["mcp_otel.session.end_reason"] == "terminated"
    assert session.status_code == "UNSET"
    assert session.duration_s >= IDLE_TIMEOUT
