"""Memory retained by mcp-otel after many calls: RSS and live Python objects, before and after.

Runs ``--calls`` sequential in-memory ``tools/call`` in one instrumented session (spans go through a
BatchSpanProcessor to an exporter that drops them), then reports the growth of the process's resident set
and of gc-tracked objects between the first 1,000 calls and the end, and the size of mcp-otel's own
bookkeeping (retry detector entries, live tracked streams).

    python benchmarks/memory.py [--calls 100000] [--plain]
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import logging
import sys
from collections.abc import Sequence

import anyio
from _contender import build_server  # one server for every benchmark
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from mcp_otel import McpInstrumentor

MCP_MAJOR = int(importlib.metadata.version("mcp").split(".")[0])


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[object]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4


async def run(calls: int) -> dict[str, int]:
    server = build_server()
    if MCP_MAJOR >= 2:
        from mcp import Client

        session_cm = Client(server, mode="legacy")
    else:
        from mcp.shared.memory import create_connected_server_and_client_session

        session_cm = create_connected_server_and_client_session(server._mcp_server)
    out: dict[str, int] = {}
    async with session_cm as session:
        for i in range(calls):
            await session.call_tool("add", {"a": i, "b": 1})
            if i == 999:
                gc.collect()
                out["rss_after_1k"] = rss_kib()
                out["objects_after_1k"] = len(gc.get_objects())
    gc.collect()
    out["rss_end"] = rss_kib()
    out["objects_end"] = len(gc.get_objects())
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--plain", action="store_true", help="run without mcp-otel, for comparison")
    args = parser.parse_args()
    logging.getLogger("mcp").setLevel(logging.WARNING)
    instrumentor = McpInstrumentor()
    if not args.plain:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(DropExporter()))
        instrumentor.instrument(
            tracer_provider=tracer_provider,
            meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
        )
    result = anyio.run(run, args.calls)
    label = "plain" if args.plain else "mcp-otel"
    py = ".".join(map(str, sys.version_info[:2]))
    print(f"{label}, mcp {importlib.metadata.version('mcp')}, Python {py}, {args.calls} calls")
    print(
        f"  RSS: {result['rss_after_1k']} KiB after 1k calls, {result['rss_end']} KiB at the end "
        f"(+{result['rss_end'] - result['rss_after_1k']} KiB)"
    )
    print(
        f"  gc objects: {result['objects_after_1k']} -> {result['objects_end']} "
        f"(+{result['objects_end'] - result['objects_after_1k']})"
    )
    if not args.plain:
        telemetry = instrumentor._telemetry
        print(f"  retry detector entries: {len(telemetry.retries._failures)}")


if __name__ == "__main__":
    main()
