"""Per-call overhead of mcp-otel on in-memory ``tools/call``, instrumented vs not, in one run.

Rounds alternate (plain, instrumented, plain, …) so that machine noise hits both sides alike; each round
opens a session and makes N sequential calls. The instrumented side uses the real SDK pipeline: a
TracerProvider with a BatchSpanProcessor feeding an exporter that drops everything, and a MeterProvider
with an in-memory reader. Reported: the median over rounds of the mean wall-clock and CPU time per call,
and the instrumented/plain ratio.

    python benchmarks/overhead.py [--calls 200] [--rounds 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from _contender import build_server  # one server for every benchmark
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from mcp_otel import McpInstrumentor

MCP_VERSION = importlib.metadata.version("mcp")
MCP_MAJOR = int(MCP_VERSION.split(".")[0])


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[object]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


STDIO_SERVER = Path(__file__).resolve().parent.parent / "tests" / "servers" / "mcp_server.py"


@asynccontextmanager
async def stdio_session() -> AsyncIterator[Any]:
    """A ClientSession to an uninstrumented SDK server in a child process (the client's side alone)."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=[str(STDIO_SERVER), "--flavour", "sdk", "--transport", "stdio"]
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def one_round(server: object, calls: int, transport: str = "memory") -> tuple[float, float]:
    """(wall seconds per call, CPU seconds per call) for one session of ``calls`` tool calls.

    ``memory``: client and server in this process, both instrumented (what one call costs end to end).
    ``stdio``: the server is a child process that is not instrumented; the CPU time is this process's
    alone, i.e. the client's side.
    """
    if transport == "stdio":
        session_cm: Any = stdio_session()
    elif MCP_MAJOR >= 2:
        from mcp import Client

        session_cm = Client(server, mode="legacy")
    else:
        from mcp.shared.memory import create_connected_server_and_client_session

        session_cm = create_connected_server_and_client_session(server._mcp_server)
    async with session_cm as session:
        await session.call_tool("add", {"a": 1, "b": 2})  # warm: the hidden tools/list happens here
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(calls):
            await session.call_tool("add", {"a": i, "b": 1})
        return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--transport", choices=["memory", "stdio"], default="memory")
    args = parser.parse_args()

    import logging

    logging.getLogger("mcp").setLevel(logging.WARNING)
    server = build_server()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    instrumentor = McpInstrumentor()

    results: dict[str, list[tuple[float, float]]] = {"plain": [], "mcp-otel": []}
    anyio.run(one_round, server, 20, args.transport)  # warm imports and caches
    for _ in range(args.rounds):
        for label in ("plain", "mcp-otel"):
            if label == "mcp-otel":
                instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
            gc.collect()
            try:
                results[label].append(anyio.run(one_round, server, args.calls, args.transport))
            finally:
                if label == "mcp-otel":
                    instrumentor.uninstrument()
    tracer_provider.shutdown()

    summary = {}
    for label, rounds in results.items():
        summary[label] = {
            "wall_us": statistics.median(r[0] for r in rounds) * 1e6,
            "cpu_us": statistics.median(r[1] for r in rounds) * 1e6,
        }
    ratio_wall = summary["mcp-otel"]["wall_us"] / summary["plain"]["wall_us"]
    ratio_cpu = summary["mcp-otel"]["cpu_us"] / summary["plain"]["cpu_us"]
    py = ".".join(map(str, sys.version_info[:2]))
    print(
        f"mcp {MCP_VERSION}, Python {py}: {args.rounds} interleaved rounds x {args.calls} {args.transport} tools/call"
    )
    print(f"{'':10} {'wall us/call':>14} {'cpu us/call':>14}")
    for label, row in summary.items():
        print(f"{label:10} {row['wall_us']:14.1f} {row['cpu_us']:14.1f}")
    print(f"{'ratio':10} {ratio_wall:14.3f} {ratio_cpu:14.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"mcp": MCP_VERSION, "summary": summary, "ratio_wall": ratio_wall, "ratio_cpu": ratio_cpu}, fh
            )


if __name__ == "__main__":
    main()
