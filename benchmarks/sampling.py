"""What mcp-otel costs when spans are sampled out, sampled at a ratio, or recorded without metrics (issue 14).

    python benchmarks/sampling.py [--rounds 5] [--calls 2000] [--lines bench-v1 bench-v2]

Each contender runs in a fresh process (benchmarks/_contender.py), every round in a rotated order, on an
in-memory session with client and server in one process, both instrumented; reported is the median CPU
time per ``tools/call`` and two ratios: against no OpenTelemetry at all (``plain``) and against the same
providers without mcp-otel (``SDK, ...``: on mcp 2.x the SDK's own telemetry runs there, on mcp 1.x the SDK
is idle). Rows:

* ``always_off``: an ``ALWAYS_OFF`` sampler and a no-op MeterProvider (sampled out, metrics off);
* ``ratio 0.1, turn spans``: ``parentbased_traceidratio`` at 0.1 with each call inside its own root span
  (an agent's turn; without it a session's requests follow the session span, all in or all out), against
  ``spans only, turn spans`` (always on): the "share of the always-on cost" column is
  (ratio - SDK ratio) / (spans only - SDK spans only), which is 0.1 plus what a sampled-out call still costs;
* ``spans only``: the default sampler, a no-op MeterProvider: mcp-otel's spans against mcp 2.x's native
  spans (``SDK, spans only``), which record fewer attributes on the same two spans per call;
* ``mcp-otel``: the full contract (spans and metrics), for reference.
"""

from __future__ import annotations

import argparse
import statistics

from compare import measure_rounds, venv_python

RATIO = "ratio 0.1"
# (contender, its baseline: the same providers without mcp-otel)
ROWS = [
    ("plain", None),
    ("SDK, always_off", None),
    ("mcp-otel, always_off", "SDK, always_off"),
    (f"SDK, {RATIO}, turn spans", None),
    (f"mcp-otel, {RATIO}, turn spans", f"SDK, {RATIO}, turn spans"),
    ("SDK, spans only, turn spans", None),
    ("mcp-otel, spans only, turn spans", "SDK, spans only, turn spans"),
    ("SDK, spans only", None),
    ("mcp-otel, spans only", "SDK, spans only"),
    ("mcp-otel", None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--lines", nargs="*", default=["bench-v1", "bench-v2"])
    args = parser.parse_args()
    contenders = [name for name, _ in ROWS]
    out = []
    for line in args.lines:
        python = venv_python(line)
        measured = measure_rounds(python, contenders, args.rounds, args.calls, label=line)
        cpu = {c: [r["cpu_us"] for r in results] for c, results in measured.items()}
        med = {c: statistics.median(v) for c, v in cpu.items() if v}
        plain = med["plain"]
        share = ""
        on, on_base = med.get(ROWS[6][0]), med.get(ROWS[5][0])
        ratio, ratio_base = med.get(ROWS[4][0]), med.get(ROWS[3][0])
        if on and on_base and ratio and ratio_base and on > on_base:
            share = f"{(ratio - ratio_base) / (on - on_base):.2f}"
        for name, base in ROWS:
            if name not in med:
                continue
            vs_base = f"{med[name] / med[base]:.3f}x (+{med[name] - med[base]:.0f} µs)" if base in med else ""
            out.append(
                (
                    line,
                    name,
                    f"{med[name]:.0f}",
                    f"{med[name] / plain:.2f}x",
                    vs_base,
                    share if name == ROWS[4][0] else "",
                )
            )
    print(f"{args.rounds} rounds x {args.calls} in-memory tools/call per contender (CPU, median of rounds)")
    print(
        "| env | contender | CPU µs/call | vs plain | vs same providers without mcp-otel"
        " | share of the always-on cost |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in out:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
