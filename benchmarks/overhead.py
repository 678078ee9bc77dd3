"""Per-call overhead of mcp-otel on in-memory ``tools/call``, instrumented vs not, in one run.

Rounds alternate (plain, instrumented, plain, …) so that machine noise hits both sides alike; each round
opens a session and makes N sequential calls. The instrumented side uses the real SDK pipeline: a
TracerProvider with a BatchSpanProcessor feeding an exporter that drops everything, and a MeterProvider
with an in-memory reader. Reported: the median over rounds of the mean wall-clock and CPU time per call,
and the instrumented/plain ratio.

With ``--transport stdio`` a third contender runs too, the *SDK floor*: no mcp-otel, no wrappers; the loop
itself opens the request's CLIENT span (the attributes our span carries), injects the context into
``_meta`` and records the duration histogram, i.e. the least any instrumentation that meets the telemetry
contract pays per request with this SDK. mcp-otel's own cost is the distance from the floor.

``--sampler always_off --no-metrics`` measures the sampled-out path the same way: the floor is then the
non-recording span, its context in ``_meta`` (the non-sampled traceparent) and nothing else.

    python benchmarks/overhead.py [--calls 200] [--rounds 15] [--transport stdio [--floor-parts]]
                                  [--sampler always_on|always_off|ratio] [--no-metrics] [--json out.json]
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
from _contender import _sampler, build_server  # one server (and sampler names) for every benchmark
from opentelemetry import context, propagate, trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from mcp_otel import McpInstrumentor, semconv

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


class SdkFloor:
    """The per-request telemetry the contract asks for, done inline by the benchmark loop."""

    # --floor-parts: the floor's pieces alone, to see where its cost goes
    PARTS = ("span, not current", "valid context only", "histogram only")

    def __init__(self, tracer_provider: TracerProvider, meter_provider: Any, part: str | None = None) -> None:
        self.part = part
        self.tracer = tracer_provider.get_tracer("sdk-floor")
        self.histogram = meter_provider.get_meter("sdk-floor").create_histogram(
            semconv.METRIC_CLIENT_OPERATION_DURATION,
            unit="s",
            explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS),
        )
        self.metric_attributes = {
            "mcp.method.name": "tools/call",
            "gen_ai.tool.name": "add",
            "gen_ai.operation.name": "execute_tool",
            "network.transport": "pipe",
            "mcp.protocol.version": "2025-11-25",
        }
        self.span_attributes = {**self.metric_attributes, "jsonrpc.request.id": "2", "mcp.session.id": "-"}

    async def call(self, session: Any, i: int) -> None:
        start = time.perf_counter()
        if self.part is not None:
            await self._call_part(session, i, start)
            return
        with self.tracer.start_as_current_span(
            "tools/call add", kind=SpanKind.CLIENT, attributes=self.span_attributes
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            await session.call_tool("add", {"a": i, "b": 1}, meta=carrier)
            self.histogram.record(time.perf_counter() - start, self.metric_attributes)

    async def _call_part(self, session: Any, i: int, start: float) -> None:
        if self.part == "span, not current":
            span = self.tracer.start_span(
                "tools/call add", kind=SpanKind.CLIENT, attributes=self.span_attributes
            )
            await session.call_tool("add", {"a": i, "b": 1})
            span.end()
        elif self.part == "valid context only":  # no SDK span: what the SDK and MCP do when one is current
            ids = SpanContext(trace_id=0xABC, span_id=0x100 + i, is_remote=False, trace_flags=TraceFlags(1))
            token = context.attach(trace.set_span_in_context(NonRecordingSpan(ids)))
            try:
                await session.call_tool("add", {"a": i, "b": 1})
            finally:
                context.detach(token)
        else:
            await session.call_tool("add", {"a": i, "b": 1})
            self.histogram.record(time.perf_counter() - start, self.metric_attributes)


async def one_round(
    server: object, calls: int, transport: str = "memory", floor: SdkFloor | None = None
) -> tuple[float, float]:
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
        if floor is not None:
            for i in range(calls):
                await floor.call(session, i)
        else:
            for i in range(calls):
                await session.call_tool("add", {"a": i, "b": 1})
        return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--transport", choices=["memory", "stdio"], default="memory")
    parser.add_argument(
        "--floor-parts", action="store_true", help="stdio: also time the floor's pieces alone"
    )
    parser.add_argument(
        "--sampler",
        choices=["always_on", "always_off", "ratio"],
        default="always_on",
        help="the TracerProvider's sampler (ratio: parentbased_traceidratio at 0.1)",
    )
    parser.add_argument("--no-metrics", action="store_true", help="a no-op MeterProvider (metrics off)")
    args = parser.parse_args()

    import logging

    logging.getLogger("mcp").setLevel(logging.WARNING)
    server = build_server()
    tracer_provider = TracerProvider(sampler=_sampler(args.sampler))
    tracer_provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    meter_provider: Any = (
        NoOpMeterProvider() if args.no_metrics else MeterProvider(metric_readers=[InMemoryMetricReader()])
    )
    instrumentor = McpInstrumentor()

    labels = ["plain", "mcp-otel"] + (["SDK floor"] if args.transport == "stdio" else [])
    floors = {"SDK floor": SdkFloor(tracer_provider, meter_provider)}
    if args.floor_parts and args.transport == "stdio":
        floors.update({part: SdkFloor(tracer_provider, meter_provider, part) for part in SdkFloor.PARTS})
        labels += list(SdkFloor.PARTS)
    results: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
    anyio.run(one_round, server, 20, args.transport)  # warm imports and caches
    for _ in range(args.rounds):
        for label in labels:
            if label == "mcp-otel":
                instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
            gc.collect()
            try:
                results[label].append(
                    anyio.run(
                        one_round,
                        server,
                        args.calls,
                        args.transport,
                        floors.get(label),
                    )
                )
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
    plain = summary["plain"]
    ratio_wall = summary["mcp-otel"]["wall_us"] / plain["wall_us"]
    ratio_cpu = summary["mcp-otel"]["cpu_us"] / plain["cpu_us"]
    py = ".".join(map(str, sys.version_info[:2]))
    setting = f", sampler {args.sampler}" + (", metrics off" if args.no_metrics else "")
    print(
        f"mcp {MCP_VERSION}, Python {py}: {args.rounds} interleaved rounds x {args.calls} {args.transport} tools/call"
        + setting
    )
    print(f"{'':18} {'wall us/call':>14} {'cpu us/call':>14} {'wall ratio':>11} {'cpu ratio':>10}")
    for label, row in summary.items():
        wall_ratio = row["wall_us"] / plain["wall_us"]
        cpu_ratio = row["cpu_us"] / plain["cpu_us"]
        print(f"{label:18} {row['wall_us']:14.1f} {row['cpu_us']:14.1f} {wall_ratio:11.3f} {cpu_ratio:10.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"mcp": MCP_VERSION, "summary": summary, "ratio_wall": ratio_wall, "ratio_cpu": ratio_cpu}, fh
            )


if __name__ == "__main__":
    main()
