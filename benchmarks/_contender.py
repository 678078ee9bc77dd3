"""One benchmark measurement in a fresh process (run by benchmarks/compare.py).

    python benchmarks/_contender.py CONTENDER CALLS [--memory]

Prints one JSON line: wall and CPU microseconds per in-memory ``tools/call`` (after a warm-up), or with
``--memory`` the RSS and gc-object growth between call 1,000 and the last call. Every contender but
``plain`` runs with a global SDK TracerProvider (BatchSpanProcessor, an exporter that drops spans) and a
MeterProvider, so they pay the same SDK costs.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import logging
import sys
import time
from collections.abc import Sequence

import anyio

MCP_MAJOR = int(importlib.metadata.version("mcp").split(".")[0])


# OTLP/gRPC span export to a live sink in another process, or to a port where nothing listens (every
# batch export fails and is retried): the "exporter down" target compares the two.
OTLP_CONTENDERS = ("mcp-otel, exporter up", "mcp-otel, exporter down")


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


def setup(contender: str) -> None:
    if contender == "plain":
        return
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class DropExporter(SpanExporter):
        def export(self, spans: Sequence[object]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    if contender in OTLP_CONTENDERS:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        port = otlp_sink_port() if contender == "mcp-otel, exporter up" else free_port()
        exporter: SpanExporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}", insecure=True)
    else:
        exporter = DropExporter()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    if contender == "mcp-otel" or contender in OTLP_CONTENDERS:
        from mcp_otel import McpInstrumentor

        McpInstrumentor().instrument()
    elif contender == "opentelemetry-instrumentation-mcp":
        from opentelemetry.instrumentation.mcp import McpInstrumentor

        McpInstrumentor().instrument()
    elif contender == "openinference-instrumentation-mcp":
        from openinference.instrumentation.mcp import MCPInstrumentor

        MCPInstrumentor().instrument()
    elif contender != "native":
        raise SystemExit(f"unknown contender {contender!r}")


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


async def run(calls: int, memory: bool) -> dict[str, float]:
    server = build_server()
    if MCP_MAJOR >= 2:
        from mcp import Client

        session_cm = Client(server, mode="legacy")
    else:
        from mcp.shared.memory import create_connected_server_and_client_session

        session_cm = create_connected_server_and_client_session(server._mcp_server)
    out: dict[str, float] = {}
    async with session_cm as session:
        for i in range(200):  # warm-up, the hidden tools/list included
            await session.call_tool("add", {"a": i, "b": 1})
        gc.collect()
        out["rss_start_kib"], out["objects_start"] = rss_kib(), len(gc.get_objects())
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(calls):
            await session.call_tool("add", {"a": i, "b": 1})
        out["wall_us"] = (time.perf_counter() - wall) / calls * 1e6
        out["cpu_us"] = (time.process_time() - cpu) / calls * 1e6
    if memory:
        gc.collect()
        out["rss_growth_kib"] = rss_kib() - out["rss_start_kib"]
        out["objects_growth"] = len(gc.get_objects()) - out["objects_start"]
    return out


def main() -> None:
    contender, calls = sys.argv[1], int(sys.argv[2])
    logging.disable(logging.WARNING)
    setup(contender)
    print(json.dumps({"contender": contender, **anyio.run(run, calls, "--memory" in sys.argv)}))


if __name__ == "__main__":
    main()
