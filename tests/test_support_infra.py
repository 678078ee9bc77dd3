"""Tests of the test infrastructure itself (tests/support, tests/servers), without mcp_otel.

Every flavour x transport this environment has starts and answers over a real ClientSession; the per-flavour
facts other tests rely on (raise_tool outcome, JSON-RPC error codes, session ids, idle timeout) are checked
here; the OTLP receiver gets spans and metrics from the plain SDK exporters, over gRPC and HTTP.
"""

import contextlib
import gzip
import json
import re
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from support import servers as srv
from support.clients import (
    error_code,
    is_error,
    mcp_error_types,
    open_connection,
    structured_of,
    text_of,
    unwrap,
)
from support.env import ENV_NAME, HAS_FASTMCP, MCP_MAJOR, MCP_VERSION, skip_or_fail
from support.otlp import OtlpReceiver

SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
TOOL_NAMES = {"add", "echo", "fail_tool", "raise_tool", "slow", "whoami", "soft_fail"}


def need_flavour(flavour: str) -> None:
    if not srv.flavour_available(flavour):
        # fastmcp is absent from v1-oldest by design; anywhere else CI wants it.
        skip_or_fail(f"flavour {flavour!r} not installed", expected_missing=ENV_NAME == "v1-oldest")


def test_mcp_importable() -> None:
    """A broken environment (say, an mcp release that cannot import with the installed pydantic) shows up
    here as one clear failure."""
    import mcp

    assert mcp.ClientSession is not None


# ------------------------------------------------------------------------------------------------------------
# A pool of HTTP servers started once, in parallel, for the module
# ------------------------------------------------------------------------------------------------------------


class Pool:
    def __init__(self) -> None:
        self.servers: dict[tuple[str, str], srv.RunningServer] = {}
        self.started_in: float = 0.0

    def get(self, flavour: str, variant: str) -> srv.RunningServer:
        need_flavour(flavour)
        return self.servers[(flavour, variant)]


POOL_VARIANTS: dict[str, dict[str, Any]] = {
    "streamable-http": {"transport": "streamable-http"},
    "sse": {"transport": "sse"},
    "stateless": {"transport": "streamable-http", "stateless": True},
    "idle": {"transport": "streamable-http", "idle_timeout": 1.0, "reject_get_stream": True},
}


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    specs: list[dict[str, Any]] = []
    keys: list[tuple[str, str]] = []
    for flavour in srv.available_flavours():
        for variant, spec in POOL_VARIANTS.items():
            if variant == "idle" and not srv.supports_idle_timeout(flavour):
                continue
            specs.append({"flavour": flavour, "start_timeout": 60.0, **spec})
            keys.append((flavour, variant))
    result = Pool()
    started = time.monotonic()
    servers = srv.start_http_servers(specs)
    result.started_in = time.monotonic() - started
    result.servers = dict(zip(keys, servers, strict=True))
    try:
        yield result
    finally:
        srv.close_all(servers, graceful=False)  # nothing to flush: save the graceful-shutdown seconds


# ------------------------------------------------------------------------------------------------------------
# Every flavour x transport answers tools/call add
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
@pytest.mark.parametrize("flavour", srv.FLAVOURS)
async def test_http_server_answers(pool: Pool, flavour: str, transport: str) -> None:
    server = pool.get(flavour, transport)
    assert server.url == f"http://127.0.0.1:{server.port}{srv.PATHS[transport]}"
    async with open_connection(transport, server.url) as conn:
        result = await conn.session.call_tool("add", {"a": 2, "b": 3})
        assert not is_error(result)
        assert text_of(result) == "5"
        server_sid = text_of(await conn.session.call_tool("whoami", {}))
    assert SESSION_ID.match(server_sid), server_sid
    if transport == "streamable-http" and MCP_MAJOR < 2:
        assert conn.session_id() == server_sid  # the mcp-session-id header, seen from both ends


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", srv.FLAVOURS)
async def test_stdio_server_answers(flavour: str) -> None:
    need_flavour(flavour)
    params = srv.stdio_server_params(flavour, env={"MCP_TEST_MARKER": "1"})
    assert params.command == sys.executable
    assert params.env is not None and params.env["MCP_TEST_MARKER"] == "1"
    bad_lines: list[Exception] = []  # stdout is the protocol: anything else arrives here as an exception

    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):
            bad_lines.append(message)

    async with open_connection("stdio", params, message_handler=on_message) as conn:
        result = await conn.session.call_tool("add", {"a": 2, "b": 3})
        assert text_of(result) == "5"
        assert text_of(await conn.session.call_tool("whoami", {})) == ""
        with contextlib.suppress(*mcp_error_types()):
            await conn.session.call_tool("raise_tool", {})  # the server logs a traceback: to stderr only
    assert bad_lines == []


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", srv.FLAVOURS)
async def test_stateless_http(pool: Pool, flavour: str) -> None:
    server = pool.get(flavour, "stateless")
    async with open_connection("streamable-http", server.url) as conn:
        assert text_of(await conn.session.call_tool("add", {"a": 1, "b": 1})) == "2"
        assert text_of(await conn.session.call_tool("whoami", {})) == ""
        assert conn.session_id() is None


# ------------------------------------------------------------------------------------------------------------
# The tools, prompt, resource and errors behave as documented in tests/servers/mcp_server.py
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("flavour", srv.FLAVOURS)
async def test_tool_semantics(pool: Pool, flavour: str) -> None:
    server = pool.get(flavour, "streamable-http")
    async with open_connection("streamable-http", server.url) as conn:
        session = conn.session
        tools = await session.list_tools()
        assert {t.name for t in tools.tools} == TOOL_NAMES

        assert text_of(await session.call_tool("echo", {"text": "hi there"})) == "hi there"

        started = time.monotonic()
        assert text_of(await session.call_tool("slow", {"seconds": 0.2})) == "done"
        assert time.monotonic() - started >= 0.2

        failed = await session.call_tool("fail_tool", {})
        assert is_error(failed)
        assert "tool failed" in text_of(failed)

        soft = await session.call_tool("soft_fail", {})
        assert not is_error(soft)
        assert structured_of(soft) == {"success": False, "error": "db down"}

        kind, expected = srv.raise_tool_outcome(flavour)
        if kind == "is_error":
            raised = await session.call_tool("raise_tool", {})
            assert is_error(raised)
            assert text_of(raised) == expected
        else:
            with pytest.raises(mcp_error_types()) as excinfo:
                await session.call_tool("raise_tool", {})
            assert error_code(excinfo.value) == expected

        prompt = await session.get_prompt("greet", {"name": "Ada"})
        assert text_of(prompt) == "Hello, Ada!"
        resource = await session.read_resource("res://hello")  # type: ignore[arg-type]
        assert text_of(resource) == "hello"

        codes = srv.jsonrpc_error_codes(flavour)
        with pytest.raises(mcp_error_types()) as excinfo:
            await session.read_resource("res://missing")  # type: ignore[arg-type]
        assert error_code(excinfo.value) == codes["read_missing_resource"]
        with pytest.raises(mcp_error_types()) as excinfo:
            await session.get_prompt("nope", {})
        assert error_code(excinfo.value) == codes["get_unknown_prompt"]

        # The session survives all of that.
        assert text_of(await session.call_tool("add", {"a": 20, "b": 22})) == "42"


# ------------------------------------------------------------------------------------------------------------
# Idle timeout, restart, kill
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_idle_timeout_ends_sessions(pool: Pool) -> None:
    """`--idle-timeout 1 --reject-get-stream`: after 1.8 s without requests the session is gone (all flavours
    at once, to pay the wait once)."""
    flavours = [f for f in srv.available_flavours() if srv.supports_idle_timeout(f)]
    if not flavours:
        pytest.skip(f"no session idle timeout in mcp {MCP_VERSION}")
    outcomes: dict[str, Any] = {}

    async def one(flavour: str) -> None:
        server = pool.get(flavour, "idle")
        async with open_connection("streamable-http", server.url) as conn:
            assert text_of(await conn.session.call_tool("add", {"a": 1, "b": 2})) == "3"
            await anyio.sleep(1.8)  # idle timeout 1.0 s, margin for a loaded machine
            try:
                with anyio.fail_after(10):
                    await conn.session.call_tool("add", {"a": 1, "b": 2})
                outcomes[flavour] = "still alive"
            except mcp_error_types() as exc:
                outcomes[flavour] = (error_code(exc), str(unwrap(exc)))

    async with anyio.create_task_group() as tg:
        for flavour in flavours:
            tg.start_soon(one, flavour)
    expected = (32600, "Session terminated") if MCP_MAJOR < 2 else (-32600, "Session not found")
    assert outcomes == dict.fromkeys(flavours, expected)


def test_idle_timeout_unsupported_fails_loudly() -> None:
    if srv.supports_idle_timeout("lowlevel"):
        pytest.skip("this mcp supports session_idle_timeout")
    with pytest.raises(srv.ServerStartError, match="not supported"):
        srv.start_http_server("lowlevel", idle_timeout=1.0)


@pytest.mark.anyio
async def test_kill_and_restart_on_same_port(pool: Pool) -> None:
    """On a pool server: it is back on the same port afterwards, so test order does not matter."""
    server = pool.get("lowlevel", "streamable-http")
    port, first_pid = server.port, server.pid
    async with open_connection("streamable-http", server.url) as conn:
        first_sid = text_of(await conn.session.call_tool("whoami", {}))

    assert server.kill() == -9
    assert not server.alive
    assert not srv.port_open(port)

    server.restart()
    assert server.alive and server.port == port and server.pid != first_pid
    async with open_connection("streamable-http", server.url) as conn:
        assert text_of(await conn.session.call_tool("add", {"a": 4, "b": 5})) == "9"
        assert text_of(await conn.session.call_tool("whoami", {})) != first_sid

    assert "serving lowlevel" not in server.logs()  # default log level is WARNING: quiet


# ------------------------------------------------------------------------------------------------------------
# OTLP receiver with the plain SDK exporters
# ------------------------------------------------------------------------------------------------------------


def _sdk_exporters(protocol: str, rx: OtlpReceiver) -> tuple[Any, Any]:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return (
            OTLPSpanExporter(endpoint=rx.grpc_endpoint, insecure=True),
            OTLPMetricExporter(endpoint=rx.grpc_endpoint, insecure=True),
        )
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return (
        HttpSpanExporter(endpoint=f"{rx.http_endpoint}/v1/traces", compression=Compression.Gzip),
        HttpMetricExporter(endpoint=f"{rx.http_endpoint}/v1/metrics"),
    )


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_otlp_receiver_decodes_sdk_exports(otlp_receiver: OtlpReceiver, protocol: str) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    rx = otlp_receiver
    span_exporter, metric_exporter = _sdk_exporters(protocol, rx)
    resource = Resource.create({"service.name": f"infra-{protocol}"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=[PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)],
    )
    tracer = tracer_provider.get_tracer("infra-test", "1.2.3")
    attrs = {"s": "x", "i": 7, "f": 1.5, "b": True, "seq": ["a", "b"]}
    with tracer.start_as_current_span("parent", kind=SpanKind.CLIENT, attributes=attrs) as parent:
        child = tracer.start_span("child", links=[Link(parent.get_span_context())])
        child.add_event("retry", {"attempt": 2})
        child.set_status(Status(StatusCode.ERROR, "boom"))
        child.end()
    meter = meter_provider.get_meter("infra-test")
    meter.create_counter("infra.calls", unit="{call}").add(3, {"k": "v"})
    meter.create_histogram("infra.duration", unit="s", explicit_bucket_boundaries_advisory=[0.1, 1.0]).record(
        0.5
    )
    meter.create_up_down_counter("infra.active").add(-2)
    meter_provider.force_flush()
    tracer_provider.shutdown()
    meter_provider.shutdown()

    c, p = rx.wait_for_spans(count=2)  # in the order they ended
    assert (p.name, c.name) == ("parent", "child")
    assert p.kind == "CLIENT" and c.kind == "INTERNAL"
    assert p.parent_span_id is None and c.parent_span_id == p.span_id and c.trace_id == p.trace_id
    assert len(p.trace_id) == 32 and len(p.span_id) == 16
    assert p.attributes == {"s": "x", "i": 7, "f": 1.5, "b": True, "seq": ["a", "b"]}
    assert (p.status_code, c.status_code, c.status_message) == ("UNSET", "ERROR", "boom")
    assert c.links == [(p.trace_id, p.span_id)]
    assert c.events == ["retry"] and c.event_records[0].attributes == {"attempt": 2}
    assert p.resource["service.name"] == f"infra-{protocol}" == p.service_name
    assert (p.scope, p.scope_version) == ("infra-test", "1.2.3")
    assert p.duration_s >= 0 and p.protocol == protocol

    calls = rx.wait_for_metric("infra.calls")
    assert (calls.unit, calls.kind, calls.monotonic, calls.temporality) == (
        "{call}",
        "sum",
        True,
        "CUMULATIVE",
    )
    assert [(pt.attributes, pt.value) for pt in calls.points] == [({"k": "v"}, 3)]
    duration = rx.wait_for_metric("infra.duration")
    (point,) = duration.points
    assert (duration.unit, duration.kind, point.count, point.sum) == ("s", "histogram", 1, 0.5)
    assert (point.explicit_bounds, point.bucket_counts, point.min, point.max) == (
        [0.1, 1.0],
        [0, 1, 0],
        0.5,
        0.5,
    )
    active = rx.wait_for_metric("infra.active")
    assert (active.monotonic, active.points[0].value) == (False, -2)
    assert calls.resource["service.name"] == f"infra-{protocol}"
    assert {sig for sig, proto in rx.requests()} == {"traces", "metrics"}
    assert {proto for sig, proto in rx.requests()} == {protocol}

    rx.clear()
    assert rx.spans() == [] and rx.metrics() == []
    with pytest.raises(AssertionError, match="condition not met"):
        rx.wait_for(lambda: rx.spans(), timeout=0.1)


def test_otlp_http_receiver_json_and_errors(otlp_receiver: OtlpReceiver) -> None:
    rx = otlp_receiver
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "raw"},
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "raw-span",
                                "kind": "SPAN_KIND_SERVER",
                            }
                        ],
                    }
                ],
            }
        ]
    }
    request = urllib.request.Request(
        f"{rx.http_endpoint}/v1/traces",
        data=gzip.compress(json.dumps(body).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    # OTLP/JSON ids are hex strings, which protobuf's JSON mapping reads as base64: only check what is stable.
    (span,) = rx.wait_for_spans("raw-span")
    assert (span.kind, span.scope, span.service_name) == ("SERVER", "raw", "json")

    rx.fail_with = 503
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(urllib.request.Request(f"{rx.http_endpoint}/v1/traces", data=b""), timeout=5)
    assert excinfo.value.code == 503


# ------------------------------------------------------------------------------------------------------------
# --instrument: exporter set-up from the OTEL_* variables and the flush at exit, with a stand-in mcp_otel
# ------------------------------------------------------------------------------------------------------------

FAKE_MCP_OTEL = textwrap.dedent(
    """
    import os

    from opentelemetry import metrics, trace


    class McpInstrumentor:
        def instrument(self, **kwargs):
            tracer = trace.get_tracer("fake-mcp-otel")
            with tracer.start_as_current_span("fake.instrument", attributes={"fake.pid": os.getpid()}):
                pass
            metrics.get_meter("fake-mcp-otel").create_counter("fake.instrument.calls", unit="{call}").add(1)
    """
)


@pytest.fixture
def fake_mcp_otel(tmp_path: Path) -> dict[str, str]:
    """Environment shadowing the real mcp_otel with a stand-in (PYTHONPATH precedes the editable install)."""
    package = tmp_path / "fake" / "mcp_otel"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_MCP_OTEL)
    return {"PYTHONPATH": str(package.parent)}


@pytest.mark.anyio
async def test_instrument_http_server_grpc_flushes_on_sigterm(
    http_server: Any, otlp_receiver: OtlpReceiver, fake_mcp_otel: dict[str, str]
) -> None:
    """Batch delay and metric interval of a minute: what arrives was flushed by the SIGTERM handler."""
    env = {
        **fake_mcp_otel,
        **otlp_receiver.exporter_env("grpc"),
        "OTEL_BSP_SCHEDULE_DELAY": "60000",
        "OTEL_METRIC_EXPORT_INTERVAL": "60000",
        "OTEL_SERVICE_NAME": "infra-instrumented",
    }
    server = http_server("lowlevel", "streamable-http", env=env, instrument=True)
    async with open_connection("streamable-http", server.url) as conn:
        assert text_of(await conn.session.call_tool("add", {"a": 1, "b": 2})) == "3"
    assert otlp_receiver.spans() == []
    assert server.stop() == 0  # SIGTERM: uvicorn shuts down, then the script exits 0 through sys.exit
    assert not server.alive and not srv.port_open(server.port)

    (span,) = otlp_receiver.wait_for_spans("fake.instrument", timeout=5)
    assert span.service_name == "infra-instrumented" and span.protocol == "grpc"
    assert span.attributes["fake.pid"] == server.pid
    calls = otlp_receiver.wait_for_metric("fake.instrument.calls", timeout=5)
    assert calls.points[0].value == 1
    if MCP_MAJOR >= 2:  # mcp 2.x emits SERVER spans natively once a tracer provider is set
        native = otlp_receiver.spans("tools/call add", kind="SERVER")
        assert native and native[0].scope == "mcp-python-sdk"


@pytest.mark.anyio
async def test_instrument_stdio_server_http_protobuf(
    otlp_receiver: OtlpReceiver, fake_mcp_otel: dict[str, str]
) -> None:
    """OTEL_* variables reach a stdio server (stdio_server_params passes them on); it exports on exit."""
    env = {**fake_mcp_otel, **otlp_receiver.exporter_env("http"), "OTEL_SERVICE_NAME": "infra-stdio"}
    params = srv.stdio_server_params("lowlevel", env=env, instrument=True)
    async with open_connection("stdio", params) as conn:
        assert text_of(await conn.session.call_tool("add", {"a": 1, "b": 2})) == "3"
    (span,) = otlp_receiver.wait_for_spans("fake.instrument", timeout=10)
    assert (span.service_name, span.protocol) == ("infra-stdio", "http")


def test_instrument_without_package_fails_loudly(tmp_path: Path) -> None:
    broken = tmp_path / "mcp_otel"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise ImportError('mcp_otel is not here')\n")
    result = subprocess.run(
        [sys.executable, *srv.server_args("lowlevel", "stdio", instrument=True)],
        env={**srv.merged_env({"PYTHONPATH": str(tmp_path)})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--instrument given but mcp_otel cannot be imported" in result.stderr
    assert result.stdout == ""


def test_helpers_basics() -> None:
    port = srv.free_port()
    assert 0 < port < 65536 and not srv.port_open(port)
    assert srv.server_args("sdk", "streamable-http", port=5, stateless=True, idle_timeout=2.0)[1:] == [
        "--flavour",
        "sdk",
        "--transport",
        "streamable-http",
        "--port",
        "5",
        "--stateless",
        "--idle-timeout",
        "2.0",
    ]
    assert ("fastmcp" in srv.available_flavours()) == HAS_FASTMCP
    with pytest.raises(ValueError, match="not an HTTP transport"):
        srv.start_http_server("lowlevel", "stdio")
