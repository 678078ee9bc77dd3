"""Nothing lost at shutdown, no hang at exit (DESIGN trust rule 6), and an application's own provider wins
(issue 15): zero-code processes (``MCP_OTEL_AUTO_INSTRUMENT`` only), real transports, a real OTLP receiver.

* A uvicorn-hosted streamable-HTTP server stopped with SIGTERM after a finished request delivers its
  SERVER span and metrics (uvicorn re-raises SIGTERM after its graceful shutdown: no ``atexit``), and still
  dies of SIGTERM.
* With the endpoint unreachable, exit is bounded by ``MCP_OTEL_SHUTDOWN_TIMEOUT`` and stderr gets one line
  per signal and process, not one per batch or retry.
* An application that sets its providers after mcp-otel configured the SDK gets them (its exporter sees
  mcp-otel's spans and metrics), and what was recorded before reaches the OTLP endpoint.
* A short-lived client's spans all arrive although the exporter is built lazily, off the start-up path.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from support.otlp import OtlpReceiver
from support.servers import RunningServer, free_port
from support.zerocode import (
    ZEROCODE_APPS,
    by_id,
    one,
    run_python,
    service_spans,
    wait_service_spans,
    zerocode_env,
)

CLIENT_APP = str(ZEROCODE_APPS / "client_app.py")
UVICORN_APP = str(ZEROCODE_APPS / "uvicorn_app.py")
LATE_PROVIDER_APP = str(ZEROCODE_APPS / "late_provider_app.py")
STDIO_EXIT_SERVER = str(ZEROCODE_APPS / "stdio_exit_server.py")
# Spans and metrics stay queued until exit: only a flush at shutdown can deliver them.
QUEUED = {"OTEL_BSP_SCHEDULE_DELAY": "600000", "OTEL_METRIC_EXPORT_INTERVAL": "600000"}


def _server_metrics(receiver: OtlpReceiver, service: str) -> set[str]:
    return {m.name for m in receiver.metrics() if m.resource.get("service.name") == service}


@pytest.mark.parametrize("launch", ["uvicorn-cli", "uvicorn-run"])
def test_sigterm_after_a_finished_request_delivers_the_server_spans(launch: str) -> None:
    with OtlpReceiver() as receiver:
        port = free_port()
        if launch == "uvicorn-cli":  # the app is imported inside uvicorn, after its signal handlers are set
            argv = ["-m", "uvicorn", "--app-dir", str(ZEROCODE_APPS), "uvicorn_app:app"]
            argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        else:  # the app imports mcp first, then calls uvicorn.run
            argv = [UVICORN_APP, str(port)]
        env = zerocode_env(receiver, "zc-uvicorn", extra=QUEUED)
        server = RunningServer(flavour="sdk", transport="streamable-http", port=port, argv=argv, env=env)
        with server:
            server.start()
            run_python(
                [CLIENT_APP, "streamable-http", server.url], zerocode_env(receiver, "zc-uvicorn-client")
            )
            client = wait_service_spans(receiver, "zc-uvicorn-client", "tools/call add")
            assert not service_spans(receiver, "zc-uvicorn")  # still queued in the server
            returncode = server.stop()
            logs = server.logs()
        # Terminated by the signal, as without mcp-otel (uvicorn raises it again).
        assert returncode == -signal.SIGTERM, logs
        spans = wait_service_spans(receiver, "zc-uvicorn", "tools/call add", timeout=10)
        server_span = one(spans)
        assert server_span.kind == "SERVER"
        assert server_span.parent_span_id == one(client).span_id
        assert {s.name for s in service_spans(receiver, "zc-uvicorn")} >= {
            "tools/call add",
            "tools/call echo",
        }
        assert "mcp.server.operation.duration" in receiver.wait_for(
            lambda: _server_metrics(receiver, "zc-uvicorn") or None, timeout=10
        )
        assert "mcp-otel" not in logs, logs  # (mcp 1.x logs its own tracebacks at shutdown)


def test_sigterm_with_the_default_action_flushes_then_dies_of_it() -> None:
    """No handler of the application's: mcp-otel's flushes, then the process dies of SIGTERM as before."""
    program = """
import sys, time
import mcp
from opentelemetry import trace
trace.get_tracer("app").start_span("before-sigterm").end()
print("ready", file=sys.stderr, flush=True)
time.sleep(60)
"""
    with OtlpReceiver() as receiver:
        env = zerocode_env(receiver, "zc-sigterm", extra=QUEUED)
        proc = subprocess.Popen(
            [sys.executable, "-c", program],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None and proc.stdout is not None
        assert proc.stderr.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
        assert proc.stdout.read() == ""
        assert proc.stderr.read() == ""
        spans = receiver.wait_for(lambda: service_spans(receiver, "zc-sigterm", name="before-sigterm"), 10)
        assert len(spans) == 1


def test_stdio_server_flushes_when_it_stops() -> None:
    """The stdio server's spans leave when its transport closes, before anything can kill it."""
    client = f"""
import sys, anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

async def main():
    params = StdioServerParameters(command=sys.executable, args=[{STDIO_EXIT_SERVER!r}])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await session.call_tool("add", {{"a": 1, "b": 2}})

anyio.run(main)
"""
    with OtlpReceiver() as receiver:
        run_python(["-c", client], zerocode_env(receiver, "zc-stdio-stop", extra=QUEUED))
        # (the server's service name is its program's: OTEL_SERVICE_NAME is not passed to stdio servers)
        server = receiver.wait_for(lambda: receiver.spans("tools/call add", kind="SERVER"), timeout=10)
        client_span = one(service_spans(receiver, "zc-stdio-stop", name="tools/call add", kind="CLIENT"))
        assert one(server).parent_span_id == client_span.span_id


def _exit_delay(args: list[str], env: dict[str, str], marker: str) -> tuple[float, str, str, int]:
    """Seconds from ``marker`` on stderr (the program's last line) to the process's end; and its output."""
    proc = subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None and proc.stdout is not None
    lines: list[str] = []
    marked: float | None = None
    for line in proc.stderr:
        lines.append(line)
        if marker in line and marked is None:
            marked = time.monotonic()
    stdout = proc.stdout.read()
    returncode = proc.wait(timeout=60)
    ended = time.monotonic()
    assert marked is not None, "".join(lines)
    return ended - marked, stdout, "".join(lines), returncode


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_unreachable_endpoint_exit_is_bounded_and_says_so_once(protocol: str) -> None:
    """A stdio client and the stdio server it spawns, both instrumented, the endpoint a closed port."""
    closed = f"http://127.0.0.1:{free_port()}"
    env = zerocode_env(
        None,
        "zc-unreachable",
        extra={
            "OTEL_EXPORTER_OTLP_ENDPOINT": closed,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            # The exporters would retry for up to 30 s; MCP_OTEL_SHUTDOWN_TIMEOUT (1 s) bounds exit anyway.
            "OTEL_EXPORTER_OTLP_TIMEOUT": "30",
        },
    )
    args = [CLIENT_APP, "stdio", "sdk"]
    delay, stdout, stderr, returncode = _exit_delay(args, env, "client_app: stdio ok")
    assert returncode == 0, stderr
    assert stdout == ""
    plain = {k: v for k, v in env.items() if k != "MCP_OTEL_AUTO_INSTRUMENT"}
    baseline, _, plain_stderr, _ = _exit_delay(args, plain, "client_app: stdio ok")
    # Before: the exporters' retries at exit (~7 s with their default 10 s timeout, here up to 30 s). A
    # generous bound against the same program uninstrumented, for a loaded machine: a bigger heap takes
    # longer to finalize (the numbers are in benchmarks/startup.py's exit table).
    assert delay < baseline + 5.0, (delay, baseline, stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    ours = [line.split("mcp-otel: ", 1)[1] for line in lines if "mcp-otel: " in line]
    # Nothing else the uninstrumented run does not print (mcp 1.12's dependencies warn on their own).
    others = [line for line in lines if "mcp-otel: " not in line and line not in plain_stderr.splitlines()]
    assert others == [], stderr  # no "Transient error ...", "Failed to export ...", tracebacks
    # One line per signal and process (client and server), and only about export failures.
    assert 1 <= sum(bool(re.match(r"\d+ spans not exported to 127.0.0.1:", x)) for x in ours) <= 2, stderr
    assert sum(bool(re.match(r"\d+ metric exports not exported", x)) for x in ours) <= 2, stderr
    assert all(len(line) < 250 for line in ours), stderr  # short
    assert len(ours) <= 4, stderr


def test_shutdown_timeout_is_validated() -> None:
    from mcp_otel import shutdown

    for raw, expected in [("", 1.0), ("2.5", 2.5), ("0", 0.0), ("-1", 1.0), ("soon", 1.0), ("nan", 1.0)]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MCP_OTEL_SHUTDOWN_TIMEOUT", raw)
            assert shutdown.shutdown_timeout() == expected, raw


def test_short_lived_client_loses_no_span_with_the_lazy_exporter() -> None:
    """The exporter is built in a background thread after the first span: a client that is done before
    that thread is must still deliver every span (grpc: the slow one to import)."""
    with OtlpReceiver() as receiver:
        run_python([CLIENT_APP, "stdio", "sdk"], zerocode_env(receiver, "zc-lazy"))
        spans = receiver.wait_for(
            lambda: (found := service_spans(receiver, "zc-lazy")) and len(found) >= 6 and found, timeout=10
        )
        names = {s.name for s in spans if s.scope == "mcp_otel"}
        client = {s.name for s in spans if s.kind == "CLIENT"}
        assert {"mcp.session", "mcp.connect", "mcp.cleanup"} <= names, names
        assert {"initialize", "tools/call add", "tools/call echo"} <= client, client
        session = one([s for s in spans if s.name == "mcp.session"])
        assert all(s.trace_id == session.trace_id for s in spans if s.kind == "CLIENT")
        assert session.span_id in by_id(spans)


@pytest.mark.parametrize("order", ["before", "after"])
def test_application_provider_wins_in_either_order(order: str) -> None:
    with OtlpReceiver() as receiver:
        env = zerocode_env(receiver, "zc-late", extra={"OTEL_BSP_SCHEDULE_DELAY": "100"})
        proc = run_python([LATE_PROVIDER_APP, order], env)
        assert proc.stdout == ""
        assert "Overriding" not in proc.stderr, proc.stderr
        line = next(x for x in proc.stderr.splitlines() if x.startswith("RESULT "))
        result = json.loads(line[len("RESULT ") :])
        assert result["own_tracer_provider"] and result["own_meter_provider"], result
        assert "mcp_otel" in result["scopes"], result
        assert "mcp.client.operation.duration" in result["metrics"], result
        calls = [name for name in result["client_spans"] if name.startswith("tools/call")]
        if order == "before":  # the application's providers from the start: it sees both sessions
            assert calls == ["tools/call add", "tools/call echo"], result
            time.sleep(0.5)
            assert not [s for s in service_spans(receiver, "zc-late") if s.kind == "CLIENT"]
        else:  # session 1 went to the OTLP endpoint mcp-otel configured, session 2 to the application
            assert calls == ["tools/call echo"], result
            first = wait_service_spans(receiver, "zc-late", "tools/call add", kind="CLIENT")
            assert len(first) == 1
            assert not service_spans(receiver, "zc-late", name="tools/call echo", kind="CLIENT")


@pytest.mark.parametrize("preference", ["", "DELTA", "LOWMEMORY", "cumulative"])
@pytest.mark.parametrize("histogram", ["", "base2_exponential_bucket_histogram"])
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_lazy_metric_reader_prefers_what_the_otlp_exporter_prefers(
    preference: str, histogram: str, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader is built before the (lazy) OTLP metric exporter: mcp-otel's mirror of the exporter's
    temporality and aggregation preferences must match the exporter's own."""
    from mcp_otel import autoload

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", histogram)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    exporter = OTLPMetricExporter(endpoint="http://127.0.0.1:9")
    try:
        temporality, aggregation = autoload.otlp_metric_preferences()
        assert temporality == exporter._preferred_temporality
        # (an explicit-bucket histogram is the reader's default: the mirror may leave it out)
        expected = {
            k: type(v).__name__
            for k, v in exporter._preferred_aggregation.items()
            if type(v).__name__ != "ExplicitBucketHistogramAggregation"
        }
        assert {k: type(v).__name__ for k, v in aggregation.items()} == expected
    finally:
        exporter.shutdown()


def test_an_attempt_failing_after_exit_began_is_not_retried() -> None:
    """An export in flight when exit begins (its deadline computed before `hurry` shortened it) fails:
    the guard closes the exporter at once instead of letting it back off and retry, which held the
    provider's shutdown, and so exit, until MCP_OTEL_SHUTDOWN_TIMEOUT ran out (issue 14)."""
    import socket
    import threading

    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult

    from mcp_otel.shutdown import ExporterGuard

    # An endpoint that accepts the connection and drops it a moment later: the attempt is in flight while
    # exit begins, then fails with UNAVAILABLE, which the exporter retries (after ~1 s, ~2 s, ...).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    in_flight = threading.Event()

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(connection)
            in_flight.wait(30)
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    port = listener.getsockname()[1]
    guard = ExporterGuard(
        "traces",
        "otlp_proto_grpc",
        lambda: OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}", insecure=True, timeout=10),
        SpanExportResult.FAILURE,
    )
    span = TracerProvider().get_tracer("exit").start_span("in flight")
    span.end()
    results: list[object] = []
    exporting = threading.Thread(target=lambda: results.append(guard.export([span])))
    try:
        exporting.start()
        while not (guard.in_flight and accepted) and exporting.is_alive():
            time.sleep(0.01)
        guard.hurry(1.0)  # exit begins: the attempt in flight has not failed yet
        in_flight.set()  # now it fails
        exporting.join(60)
        assert results == [SpanExportResult.FAILURE]
        # closed at the failed attempt (without the fix: retried until its own 10 s deadline, the guard open)
        assert guard._closed
        assert guard._inner._shutdown
    finally:
        in_flight.set()
        listener.close()
        guard.shutdown()
