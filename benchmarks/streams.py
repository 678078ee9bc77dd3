"""Cost of the stream-leak tracker per anyio memory-object stream, hooks on vs off, in one run.

Creates and closes N stream pairs in interleaved rounds: plain (uninstrumented), instrumented with no
owning session (the common case for streams outside MCP), and instrumented inside a session (each stream
charged to it; optionally with origin capture). Reports ns per stream (CPU time, median of rounds).

    python benchmarks/streams.py [--pairs 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import anyio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from mcp_otel import McpInstrumentor
from mcp_otel.session import ClientSessionRecord, Endpoint
from mcp_otel.streams import STREAM_OWNER


def create_pairs(n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        send, receive = anyio.create_memory_object_stream(1)
        send.close()
        receive.close()
    return (time.process_time() - start) / (2 * n) * 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    instrumentor = McpInstrumentor()
    results: dict[str, list[float]] = {
        "plain": [],
        "hooked, no session": [],
        "in a session": [],
        "+ origin": [],
    }
    create_pairs(1000)
    for _ in range(args.rounds):
        results["plain"].append(create_pairs(args.pairs))
        for label, origin in (("hooked, no session", False), ("in a session", False), ("+ origin", True)):
            instrumentor.instrument(
                tracer_provider=TracerProvider(), meter_provider=MeterProvider(), capture_leak_origin=origin
            )
            try:
                if label == "hooked, no session":
                    results[label].append(create_pairs(args.pairs))
                    continue
                record = ClientSessionRecord(instrumentor._telemetry, Endpoint(transport="memory"))
                token = STREAM_OWNER.set(record)
                try:
                    results[label].append(create_pairs(args.pairs))
                finally:
                    STREAM_OWNER.reset(token)
                    record.end()
            finally:
                instrumentor.uninstrument()
    plain = statistics.median(results["plain"])
    print(f"anyio memory-object streams: {args.rounds} rounds x {args.pairs} pairs, CPU ns per stream")
    for label, values in results.items():
        value = statistics.median(values)
        print(f"{label:20} {value:10.0f} ns   (+{value - plain:6.0f} ns)")


if __name__ == "__main__":
    main()
