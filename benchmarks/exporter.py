"""What a live OTLP exporter costs per request, and how much of it is the shape of mcp-otel's spans.

    python benchmarks/exporter.py [--rounds 5] [--calls 3000] [--lines bench-v1 bench-v2]

Two parts, per mcp line:

* **Span shapes** (one process per contender, spans kept in memory): spans per ``tools/call`` request,
  attributes and links per span, attribute value types, OTLP-encoded bytes per request and the CPU time
  the OTLP encoder (``encode_spans(...).SerializeToString()``, what the exporter's batch thread runs)
  takes per request. Contenders: mcp-otel and, on mcp 2.x, the SDK's native telemetry.
* **Exporter up vs spans dropped** (fresh process per run, interleaved rounds, CPU per request, in-memory
  session with client and server in the process): the same providers with a BatchSpanProcessor feeding
  either an exporter that drops every batch or OTLP/gRPC to a live sink in another process. The
  difference is what exporting costs the process (encoding, gRPC, the batch thread's share of the GIL).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import timeit
from collections import Counter
from pathlib import Path
from typing import Any

from compare import measure_rounds, venv_python

HERE = Path(__file__).resolve().parent
SHAPE_CALLS = 200


async def _shape_run(calls: int) -> None:
    from _contender import MCP_MAJOR, build_server

    server = build_server()
    if MCP_MAJOR >= 2:
        from mcp import Client

        session_cm: Any = Client(server, mode="legacy")
    else:
        from mcp.shared.memory import create_connected_server_and_client_session

        session_cm = create_connected_server_and_client_session(server._mcp_server)
    import _contender

    async with session_cm as session:
        for i in range(20):
            await session.call_tool("add", {"a": i, "b": 1})
        _contender.MEMORY.clear()
        for i in range(calls):
            await session.call_tool("add", {"a": i, "b": 1})


def shapes(contender: str) -> dict[str, Any]:
    """Run in a child process: the spans of ``SHAPE_CALLS`` requests, described."""
    import _contender
    import anyio
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    _contender.setup(contender)
    anyio.run(_shape_run, SHAPE_CALLS)
    spans = list(_contender.MEMORY.get_finished_spans())
    kinds: dict[str, list[Any]] = {}
    for span in spans:
        kinds.setdefault(f"{span.kind.name} ({span.instrumentation_scope.name})", []).append(span)
    types: Counter[str] = Counter()
    for span in spans:
        types.update(type(v).__name__ for v in (span.attributes or {}).values())
    encoded = encode_spans(spans).SerializeToString()
    seconds = min(timeit.repeat(lambda: encode_spans(spans).SerializeToString(), number=5, repeat=5)) / 5
    return {
        "spans_per_request": len(spans) / SHAPE_CALLS,
        "per_kind": {
            kind: {
                "spans": len(group) / SHAPE_CALLS,
                "attributes": statistics.mean(len(s.attributes or {}) for s in group),
                "links": statistics.mean(len(s.links) for s in group),
                "keys": sorted({k for s in group for k in (s.attributes or {})}),
            }
            for kind, group in sorted(kinds.items())
        },
        "value_types": dict(types),
        "bytes_per_request": len(encoded) / SHAPE_CALLS,
        "encode_us_per_request": seconds / SHAPE_CALLS * 1e6,
    }


def child_shapes(python: str, contender: str) -> dict[str, Any]:
    proc = subprocess.run(
        [python, __file__, "--child-shapes", contender], capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        raise SystemExit(f"{contender}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--lines", nargs="*", default=["bench-v1", "bench-v2"])
    parser.add_argument("--child-shapes", metavar="CONTENDER")
    args = parser.parse_args()
    if args.child_shapes:
        import logging

        logging.disable(logging.WARNING)
        print(json.dumps(shapes(args.child_shapes)))
        return

    shape_rows, cost_rows, detail = [], [], []
    for line in args.lines:
        python = venv_python(line)
        owners = ["mcp-otel"] + (["native"] if line == "bench-v2" else [])
        for owner in owners:
            shape = child_shapes(python, f"{owner}, in memory")
            kinds = "; ".join(
                f"{kind}: {k['spans']:.3g} x {k['attributes']:.1f} attributes"
                + (f", {k['links']:.0f} link" if k["links"] else "")
                for kind, k in shape["per_kind"].items()
            )
            shape_rows.append(
                (
                    line,
                    owner,
                    f"{shape['spans_per_request']:.0f}",
                    kinds,
                    ", ".join(f"{t} {n / SHAPE_CALLS:.3g}" for t, n in sorted(shape["value_types"].items())),
                    f"{shape['bytes_per_request']:.0f}",
                    f"{shape['encode_us_per_request']:.0f}",
                )
            )
            detail.extend(
                f"{line} {owner} {kind}: {', '.join(k['keys'])}" for kind, k in shape["per_kind"].items()
            )
        contenders = [c for owner in owners for c in (owner, f"{owner}, exporter up")]
        measured = measure_rounds(python, contenders, args.rounds, args.calls, label=line)
        cpu = {c: [r["cpu_us"] for r in results] for c, results in measured.items()}
        for owner in owners:
            if not (cpu[owner] and cpu[f"{owner}, exporter up"]):
                continue
            drop, up = statistics.median(cpu[owner]), statistics.median(cpu[f"{owner}, exporter up"])
            cost_rows.append(
                (line, owner, f"{drop:.0f}", f"{up:.0f}", f"+{up - drop:.0f} µs ({up / drop:.2f}x)")
            )

    print(f"Span shapes per tools/call request (in memory, {SHAPE_CALLS} requests, client and server traced)")
    print(
        "| env | spans by | spans/request | per kind (scope) | attribute values/request | OTLP bytes/request | encode µs/request |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in shape_rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(
        f"Exporter up vs spans dropped: {args.rounds} rounds x {args.calls} calls, CPU per request (median)"
    )
    print("| env | spans by | dropped µs/request | OTLP/gRPC up µs/request | exporting costs |")
    print("| --- | --- | --- | --- | --- |")
    for row in cost_rows:
        print("| " + " | ".join(row) + " |")
    print()
    for line in detail:
        print(f"- {line}")


if __name__ == "__main__":
    main()
