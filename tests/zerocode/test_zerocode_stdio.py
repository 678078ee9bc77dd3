"""stdio servers join the client's trace: the instrumented client passes OTEL_*/MCP_OTEL_* settings and the
trace context (TRACEPARENT, ...) into the environment of the stdio server it spawns, without ever
overriding what the caller set in ``server.env`` and without touching the caller's parameters."""

from __future__ import annotations

import json
import sys

import pytest
from opentelemetry import trace
from test_zerocode_otlp import own_server_spans

from support.capture import instrumented
from support.clients import open_connection, text_of
from support.env import HAS_FASTMCP, MCP_MAJOR
from support.otlp import OtlpReceiver
from support.zerocode import ZEROCODE_APPS, run_python, service_spans, wait_service_spans, zerocode_env

CLIENT_APP = str(ZEROCODE_APPS / "client_app.py")
ENV_SERVER = str(ZEROCODE_APPS / "env_server.py")
FLAVOUR = "fastmcp" if MCP_MAJOR == 1 and HAS_FASTMCP else "sdk"
# Server spans of the stdio child that would exist without mcp-otel's server side (see test_zerocode_otlp).
SERVER_SPANS_EXPECTED = MCP_MAJOR >= 2 or FLAVOUR == "fastmcp" or own_server_spans()


def test_stdio_server_spawned_by_auto_instrumented_client_joins_its_trace() -> None:
    with OtlpReceiver() as rx:
        env = zerocode_env(rx, "zc-stdio-client", protocol="grpc")
        proc = run_python([CLIENT_APP, "stdio", FLAVOUR], env)
        assert proc.stdout == ""
        session = wait_service_spans(rx, "zc-stdio-client", "mcp.session", scope="mcp_otel")
        assert len(session) == 1
        assert session[0].attributes["mcp_otel.transport"] == "stdio"
        trace_id = session[0].trace_id
        client_spans = service_spans(rx, "zc-stdio-client", trace_id=trace_id, scope="mcp_otel")
        client = {s.name: s for s in client_spans}
        if not SERVER_SPANS_EXPECTED:
            return
        # The server got no OTEL_SERVICE_NAME: its service.name is its program's name.
        calls = rx.wait_for(
            lambda: service_spans(rx, "mcp_server", trace_id=trace_id, kind="SERVER", name="tools/call add")
        )
        assert len(calls) == 1
        assert calls[0].parent_span_id == client["tools/call add"].span_id
        if MCP_MAJOR >= 2 or own_server_spans():
            # Server spans with no _meta parent (mcp 2.x's notifications/initialized, mcp-otel's server
            # session) hang under, or link to, the client's mcp.connect: the span that spawned the process,
            # passed in TRACEPARENT.
            connect = client["mcp.connect"]

            def spawned() -> list:
                return [
                    s
                    for s in service_spans(rx, "mcp_server")
                    if s.parent_span_id == connect.span_id or (trace_id, connect.span_id) in s.links
                ]

            assert rx.wait_for(spawned)


async def _spawned_env(params) -> dict[str, str]:
    async with open_connection("stdio", params) as conn:
        result = await conn.session.call_tool("environment", {})
    return json.loads(text_of(result))


def _params(env: dict[str, str] | None):
    from mcp import StdioServerParameters

    return StdioServerParameters(command=sys.executable, args=[ENV_SERVER], env=env)


@pytest.fixture
def parent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MCP_OTEL_AUTO_INSTRUMENT", "TRACEPARENT", "TRACESTATE", "BAGGAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "parent-service")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=parent-service,deployment.environment=test")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("MCP_OTEL_EXCLUDED_METHODS", "ping")


@pytest.mark.anyio
async def test_child_environment_carries_settings_and_connect_context(parent_env: None) -> None:
    user_env = {"OTEL_TRACES_EXPORTER": "none", "USER_ONLY": "kept"}
    params = _params(user_env)
    with instrumented() as cap:
        env = await _spawned_env(params)
    connect = cap.one("mcp.connect")
    ctx = connect.context
    assert env["TRACEPARENT"].startswith(f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-")
    assert env["OTEL_TRACES_EXPORTER"] == "none"  # the caller's value wins over ours
    assert env["USER_ONLY"] == "kept"
    assert env["MCP_OTEL_EXCLUDED_METHODS"] == "ping"
    assert "OTEL_SERVICE_NAME" not in env  # the server is another service
    assert "OTEL_RESOURCE_ATTRIBUTES" not in env  # may hold secrets (DESIGN trust rule 3)
    assert "MCP_OTEL_AUTO_INSTRUMENT" not in env  # passed on only when this process has it
    # the caller's parameters are untouched
    assert params.env == {"OTEL_TRACES_EXPORTER": "none", "USER_ONLY": "kept"}
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.anyio
async def test_explicit_traceparent_and_no_env(parent_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_OTEL_AUTO_INSTRUMENT", "false")  # passed on as the parent has it
    fixed = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with instrumented():
        env = await _spawned_env(_params({"TRACEPARENT": fixed}))
        plain = await _spawned_env(_params(None))
    assert env["TRACEPARENT"] == fixed
    assert env["MCP_OTEL_AUTO_INSTRUMENT"] == "false"
    assert plain["TRACEPARENT"].startswith("00-")
    assert plain["OTEL_TRACES_EXPORTER"] == "console"


@pytest.mark.anyio
@pytest.mark.parametrize("variable", ["MCP_OTEL_STDIO_PROPAGATION", "MCP_OTEL_PROPAGATE"])
async def test_opt_out(parent_env: None, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "false")
    with instrumented() as cap:
        env = await _spawned_env(_params({"USER_ONLY": "kept"}))
    assert cap.one("mcp.session")  # still traced
    assert "TRACEPARENT" not in env
    assert env["USER_ONLY"] == "kept"
    if variable == "MCP_OTEL_STDIO_PROPAGATION":
        assert not [k for k in env if k.startswith(("OTEL_", "MCP_OTEL_"))]
    else:  # settings still go, the trace context does not
        assert env["MCP_OTEL_PROPAGATE"] == "false"


SECRET = "s3cr3tMARK"
# (variable, value) this process holds; none of it may reach a stdio server (DESIGN trust rule 3).
SECRETS = {
    "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {SECRET}",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": f"x-api-key={SECRET}",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS": f"x-api-key={SECRET}",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS": f"x-api-key={SECRET}",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY": f"/keys/{SECRET}.key",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": f"/keys/{SECRET}.crt",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": f"/keys/{SECRET}-traces.key",
    "OTEL_EXPORTER_OTLP_CERTIFICATE": f"/keys/{SECRET}-ca.crt",
    "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment=prod,db.password={SECRET}",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"https://user:{SECRET}@collector.example:4318/v1/traces",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"https://collector.example:4318/v1/metrics?api_key={SECRET}",
    "OTEL_EXPORTER_JAEGER_PASSWORD": SECRET,
    "OTEL_SOMETHING_NEW_TOKEN": SECRET,
    "BAGGAGE": f"user.token={SECRET}",
    "AWS_SECRET_ACCESS_KEY": SECRET,
}
# Non-secret settings that are passed on.
SETTINGS = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example:4317",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://collector.example:4318/v1/logs",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "5000",
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_TRACES_SAMPLER": "parentbased_always_on",  # the test's own provider reads it too
    "OTEL_TRACES_SAMPLER_ARG": "1.0",
    "OTEL_PROPAGATORS": "tracecontext,baggage",
    "OTEL_BSP_SCHEDULE_DELAY": "200",
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    "OTEL_SDK_DISABLED": "false",
    "MCP_OTEL_EXCLUDED_METHODS": "ping",
}


@pytest.mark.anyio
async def test_secrets_never_reach_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import baggage, context

    for name in ("MCP_OTEL_AUTO_INSTRUMENT", "TRACEPARENT", "TRACESTATE", "OTEL_SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**SECRETS, **SETTINGS}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRUSTED_TOKEN", "passed-on-request")
    monkeypatch.setenv("MCP_OTEL_STDIO_PROPAGATION_EXTRA", "TRUSTED_TOKEN, NOT_SET")
    user_env = {"OTEL_EXPORTER_OTLP_HEADERS": "authorization=mine", "USER_ONLY": "kept"}
    with instrumented() as cap:
        # the application's baggage is in its context while it spawns the server
        token = context.attach(baggage.set_baggage("user.token", SECRET))
        try:
            env = await _spawned_env(_params(user_env))
        finally:
            context.detach(token)
    leaked = {k: v for k, v in env.items() if SECRET in v}
    assert leaked == {}
    assert "BAGGAGE" not in env and "OTEL_RESOURCE_ATTRIBUTES" not in env
    # only the caller's own server.env entry
    assert [k for k in env if k.endswith(("_HEADERS", "_CLIENT_KEY", "_CERTIFICATE"))] == [
        "OTEL_EXPORTER_OTLP_HEADERS"
    ]
    for name, value in SETTINGS.items():
        assert env.get(name) == value, name
    assert env["TRUSTED_TOKEN"] == "passed-on-request"  # named in MCP_OTEL_STDIO_PROPAGATION_EXTRA
    assert "NOT_SET" not in env
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == "authorization=mine"  # what the caller set wins
    assert env["USER_ONLY"] == "kept"
    connect = cap.one("mcp.connect").context
    assert env["TRACEPARENT"].startswith(f"00-{connect.trace_id:032x}-{connect.span_id:016x}-")
