"""One benchmark measurement in a fresh process (run by benchmarks/compare.py).

    python benchmarks/_contender.py CONTENDER CALLS [--memory] [--callgrind]

Prints one JSON line: wall and CPU microseconds per in-memory ``tools/call`` (after a warm-up), or with
``--memory`` the RSS and gc-object growth between call 1,000 and the last call. Every contender but
``plain`` runs with a global SDK TracerProvider (BatchSpanProcessor, an exporter that drops spans unless
it is an OTLP contender) and a MeterProvider (a no-op one for the metrics-off contenders), so contenders
with the same providers pay the same SDK costs. ``CONTENDERS`` lists them.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio

MCP_MAJOR = int(importlib.metadata.version("mcp").split(".")[0])


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def otlp_sink_port() -> int:
    import subprocess
    from pathlib import Path

    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("_otlp_sink.py"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    _children.append(sink)  # stays referenced: its stdin closes, and it exits, when this process does
    return int(sink.stdout.readline())  # type: ignore[union-attr]


_children: list[object] = []


@dataclass(frozen=True)
class Setup:
    """What one contender runs with: which instrumentation, which sampler, whether metrics are recorded."""

    instrumentation: str | None  # None: no instrumentor (on mcp 2.x the SDK's own telemetry still runs)
    sampler: str = "always_on"  # always_on, always_off, or parentbased_traceidratio at RATIO
    metrics: bool = True  # False: a no-op MeterProvider (metrics off)
    # drop, up (OTLP/gRPC to a live sink), down (OTLP/gRPC, nothing listening), memory (kept in MEMORY)
    exporter: str = "drop"
    # Each call inside its own root span (an agent's turn): with a ratio sampler a session's requests are
    # sampled with the session's span, so without this one run would be all in or all out.
    turn_spans: bool = False


# Sampled-out and spans-only contenders (issue 14): "SDK, ..." has the same providers without mcp-otel, so on
# mcp 2.x its native telemetry runs in both; on mcp 1.x the SDK is idle there.
RATIO = 0.1
SDK_PROPAGATION = "SDK propagation of a sampled-out request"
CONTENDERS: dict[str, Setup | None] = {
    "plain": None,
    "native": Setup(None),
    "mcp-otel": Setup("mcp-otel"),
    "mcp-otel, exporter up": Setup("mcp-otel", exporter="up"),
    "mcp-otel, exporter down": Setup("mcp-otel", exporter="down"),
    "native, exporter up": Setup(None, exporter="up"),
    "mcp-otel, in memory": Setup("mcp-otel", exporter="memory"),
    "native, in memory": Setup(None, exporter="memory"),
    "opentelemetry-instrumentation-mcp": Setup("opentelemetry-instrumentation-mcp"),
    "openinference-instrumentation-mcp": Setup("openinference-instrumentation-mcp"),
    "SDK, always_off": Setup(None, sampler="always_off", metrics=False),
    "mcp-otel, always_off": Setup("mcp-otel", sampler="always_off", metrics=False),
    f"SDK, ratio {RATIO}": Setup(None, sampler="ratio", metrics=False),
    f"mcp-otel, ratio {RATIO}": Setup("mcp-otel", sampler="ratio", metrics=False),
    "SDK, spans only": Setup(None, metrics=False),
    "mcp-otel, spans only": Setup("mcp-otel", metrics=False),
    f"SDK, ratio {RATIO}, turn spans": Setup(None, sampler="ratio", metrics=False, turn_spans=True),
    f"mcp-otel, ratio {RATIO}, turn spans": Setup(
        "mcp-otel", sampler="ratio", metrics=False, turn_spans=True
    ),
    "SDK, spans only, turn spans": Setup(None, metrics=False, turn_spans=True),
    # Not a session: per "call", only the SDK work any instrumentation pays to carry a non-sampled
    # traceparent from a CLIENT span through _meta to a SERVER span (run_sdk_propagation). On mcp 1.x it is
    # part of mcp-otel's sampled-out cost; mcp 2.x's native telemetry does the same in its baseline.
    SDK_PROPAGATION: Setup(None, sampler="always_off", metrics=False),
    "mcp-otel, spans only, turn spans": Setup("mcp-otel", metrics=False, turn_spans=True),
}


MEMORY: Any = None  # the InMemorySpanExporter of an "in memory" contender


def _sampler(name: str) -> Any:
    from opentelemetry.sdk.trace import sampling

    if name == "always_off":
        return sampling.ALWAYS_OFF
    if name == "ratio":  # what OTEL_TRACES_SAMPLER=parentbased_traceidratio, _ARG=RATIO configures
        return sampling.ParentBased(sampling.TraceIdRatioBased(RATIO))
    return sampling.ParentBased(sampling.ALWAYS_ON)  # the SDK's default


def setup(contender: str) -> None:
    if contender not in CONTENDERS:
        raise SystemExit(f"unknown contender {contender!r}")
    spec = CONTENDERS[contender]
    if spec is None:
        return
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class DropExporter(SpanExporter):
        def export(self, spans: Sequence[object]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider(sampler=_sampler(spec.sampler))
    if spec.exporter == "memory":
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        global MEMORY
        MEMORY = InMemorySpanExporter()
        tracer_provider.add_span_processor(SimpleSpanProcessor(MEMORY))
    elif spec.exporter != "drop":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        port = otlp_sink_port() if spec.exporter == "up" else free_port()
        exporter: SpanExporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}", insecure=True)
    else:
        exporter = DropExporter()
    if spec.exporter != "memory":
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    if spec.metrics:
        metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    else:
        metrics.set_meter_provider(metrics.NoOpMeterProvider())
    if spec.instrumentation == "mcp-otel":
        from mcp_otel import McpInstrumentor

        McpInstrumentor().instrument()
    elif spec.instrumentation == "opentelemetry-instrumentation-mcp":
        from opentelemetry.instrumentation.mcp import McpInstrumentor

        McpInstrumentor().instrument()
    elif spec.instrumentation == "openinference-instrumentation-mcp":
        from openinference.instrumentation.mcp import MCPInstrumentor

        MCPInstrumentor().instrument()


def build_server():
    if MCP_MAJOR >= 2:
        from mcp.server.mcpserver import MCPServer

        server = MCPServer("bench")
    else:
        from mcp.server.fastmcp import FastMCP

        server = FastMCP("bench")

    @server.tool()
    def add(a: int, b: int) -> int:
        return a + b

    return server


def rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4


async def run(calls: int, memory: bool, turn_spans: bool = False) -> dict[str, float]:
    server = build_server()
    call = _call_in_turn if turn_spans else _call
    if MCP_MAJOR >= 2:
        from mcp import Client

        session_cm = Client(server, mode="legacy")
    else:
        from mcp.shared.memory import create_connected_server_and_client_session

        session_cm = create_connected_server_and_client_session(server._mcp_server)
    out: dict[str, float] = {}
    async with session_cm as session:
        for i in range(200):  # warm-up, the hidden tools/list included
            await call(session, i)
        gc.collect()
        out["rss_start_kib"], out["objects_start"] = rss_kib(), len(gc.get_objects())
        _callgrind("on")
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(calls):
            await call(session, i)
        out["wall_us"] = (time.perf_counter() - wall) / calls * 1e6
        out["cpu_us"] = (time.process_time() - cpu) / calls * 1e6
        _callgrind("off")
    if memory:
        gc.collect()
        out["rss_growth_kib"] = rss_kib() - out["rss_start_kib"]
        out["objects_growth"] = len(gc.get_objects()) - out["objects_start"]
    return out


def _callgrind(switch: str) -> None:
    """``--callgrind`` (benchmarks/instructions.py runs this under valgrind): count the timed loop only."""
    if "--callgrind" in sys.argv:
        import os
        import subprocess

        subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], capture_output=True, check=True)


def run_sdk_propagation(calls: int) -> dict[str, float]:
    """SDK_PROPAGATION: two non-recording spans (CLIENT, then SERVER under the context extracted from the
    client's injected carrier), each made current and ended: what carrying the non-sampled traceparent
    costs in the SDK alone, per request."""
    from opentelemetry import context, propagate, trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer("bench")
    session = trace.set_span_in_context(tracer.start_span("session"))

    def one() -> None:
        client = tracer.start_span("tools/call", context=session, kind=SpanKind.CLIENT)
        client_context = trace.set_span_in_context(client)
        token = context.attach(client_context)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=client_context)
        remote = propagate.extract(carrier)
        server = tracer.start_span("tools/call", context=remote, kind=SpanKind.SERVER)
        inner = context.attach(trace.set_span_in_context(server, remote))
        context.detach(inner)
        server.end()
        context.detach(token)
        client.end()

    for _ in range(200):
        one()
    _callgrind("on")
    cpu = time.process_time()
    for _ in range(calls):
        one()
    cpu = time.process_time() - cpu
    _callgrind("off")
    return {"cpu_us": cpu / calls * 1e6}


async def _call(session: Any, i: int) -> None:
    await session.call_tool("add", {"a": i, "b": 1})


async def _call_in_turn(session: Any, i: int) -> None:
    from opentelemetry import trace

    with trace.get_tracer("bench").start_as_current_span("agent turn"):
        await session.call_tool("add", {"a": i, "b": 1})


def main() -> None:
    contender, calls = sys.argv[1], int(sys.argv[2])
    logging.disable(logging.WARNING)
    setup(contender)
    spec = CONTENDERS[contender]
    if contender == SDK_PROPAGATION:
        print(json.dumps({"contender": contender, **run_sdk_propagation(calls)}))
        return
    turn_spans = spec is not None and spec.turn_spans
    print(json.dumps({"contender": contender, **anyio.run(run, calls, "--memory" in sys.argv, turn_spans)}))


if __name__ == "__main__":
    main()
