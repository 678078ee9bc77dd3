"""mcp-otel against no instrumentation and the installable alternatives, on both mcp lines, in one run.

    python benchmarks/compare.py [--rounds 7] [--calls 500] [--memory-calls 100000] [--startup-runs 20]

Builds (or reuses) .venvs/bench-v1 (mcp 1.30, Python 3.11) and .venvs/bench-v2 (mcp 2.3, Python 3.13) with
scripts/bootstrap.sh, each holding mcp-otel, opentelemetry-instrumentation-mcp and
openinference-instrumentation-mcp. Per-call overhead: each round runs every contender once, in a fresh
process (an alternative's uninstrument() may leave wrappers behind), in a rotated order; reported is the
median over rounds of the CPU time per call, and its ratio to plain. CPU time holds better than wall time
on a shared 2-core machine. Start-up: ``python -c "import mcp"`` with MCP_OTEL_AUTO_INSTRUMENT unset and
set, interleaved. Memory: RSS and gc-object growth over --memory-calls calls (0 skips it).
Exporter health: mcp-otel exporting over OTLP/gRPC to a live sink in another process ("exporter up") and
to a port where nothing listens ("exporter down"); use a few thousand --calls so that both reach their
steady state (batches of 512 spans, the exporter's retry back-off).
Prints a Markdown table (the one in README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTENDER = ROOT / "benchmarks" / "_contender.py"
LINES = {
    "bench-v1": [
        "plain",
        "mcp-otel",
        "mcp-otel, exporter up",
        "mcp-otel, exporter down",
        "opentelemetry-instrumentation-mcp",
        "openinference-instrumentation-mcp",
    ],
    "bench-v2": [
        "plain",
        "native",
        "mcp-otel",
        "mcp-otel, exporter up",
        "mcp-otel, exporter down",
        "opentelemetry-instrumentation-mcp",
        "openinference-instrumentation-mcp",
    ],
}


def venv_python(name: str) -> str:
    venv = subprocess.run(
        [str(ROOT / "scripts" / "bootstrap.sh"), name], check=True, capture_output=True, text=True
    ).stdout.strip()
    return str(ROOT / venv / "bin" / "python")


def measure(python: str, contender: str, calls: int, memory: bool = False) -> dict[str, float] | None:
    args = [python, str(CONTENDER), contender, str(calls)] + (["--memory"] if memory else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        print(f"  {contender} failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_rounds(
    python: str, contenders: list[str], rounds: int, calls: int, label: str | None = None
) -> dict[str, list[dict[str, float]]]:
    """Each contender once per round in a fresh process, the order rotated each round; the results of each.
    With ``label``, every result is reported on stderr as it arrives."""
    results: dict[str, list[dict[str, float]]] = {c: [] for c in contenders}
    for round_no in range(rounds):
        shift = round_no % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            result = measure(python, contender, calls)
            if result:
                results[contender].append(result)
                if label is not None:
                    print(f"  {label} {contender}: {result['cpu_us']:.0f} µs", file=sys.stderr)
    return results


def startup(python: str, runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"unset": [], "set": []}
    # PYTHONDONTWRITEBYTECODE would make every child compile every module from source (benchmarks/startup.py)
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MCP_OTEL_AUTO_INSTRUMENT", "PYTHONDONTWRITEBYTECODE")
    }
    for _ in range(runs):
        for label in ("unset", "set"):
            env = dict(base, MCP_OTEL_AUTO_INSTRUMENT="true") if label == "set" else base
            env["OTEL_TRACES_EXPORTER"] = "none"
            env["OTEL_METRICS_EXPORTER"] = "none"
            started = time.perf_counter()
            subprocess.run([python, "-c", "import mcp"], env=env, check=True, capture_output=True)
            times[label].append((time.perf_counter() - started) * 1e3)
    return {label: statistics.median(values) for label, values in times.items() if values}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--memory-calls", type=int, default=100_000)
    parser.add_argument("--startup-runs", type=int, default=20)
    parser.add_argument("--lines", nargs="*", default=list(LINES))
    args = parser.parse_args()
    rows = []
    for line in args.lines:
        python = venv_python(line)
        contenders = LINES[line]
        measured = measure_rounds(python, contenders, args.rounds, args.calls)
        cpu = {c: [r["cpu_us"] for r in results] for c, results in measured.items()}
        wall = {c: [r["wall_us"] for r in results] for c, results in measured.items()}
        plain = statistics.median(cpu["plain"])
        memory = {}
        if args.memory_calls:
            for contender in contenders:
                memory[contender] = measure(python, contender, args.memory_calls, memory=True)
        boot = startup(python, args.startup_runs)
        mcp_version = subprocess.run(
            [python, "-c", "import importlib.metadata as m; print(m.version('mcp'))"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        for contender in contenders:
            if not cpu[contender]:
                continue
            value = statistics.median(cpu[contender])
            mem = memory.get(contender) or {}
            rows.append(
                (
                    f"mcp {mcp_version}",
                    contender,
                    f"{value:.0f}",
                    f"{statistics.median(wall[contender]):.0f}",
                    f"{value / plain:.2f}x",
                    f"{mem['rss_growth_kib']:+.0f} KiB" if "rss_growth_kib" in mem else "",
                )
            )
        up, down = cpu.get("mcp-otel, exporter up"), cpu.get("mcp-otel, exporter down")
        if up and down:
            ratio_cpu = statistics.median(down) / statistics.median(up)
            ratio_wall = statistics.median(wall["mcp-otel, exporter down"]) / statistics.median(
                wall["mcp-otel, exporter up"]
            )
            rows.append(
                (
                    f"mcp {mcp_version}",
                    "exporter down vs exporter up",
                    "",
                    f"{ratio_wall:.2f}x",
                    f"{ratio_cpu:.2f}x",
                    "",
                )
            )
        if boot:  # --startup-runs 0 skips it
            rows.append(
                (
                    f"mcp {mcp_version}",
                    "start-up: `python -c 'import mcp'`",
                    "",
                    f"unset {boot['unset']:.0f} ms / set {boot['set']:.0f} ms",
                    f"{boot['set'] / boot['unset']:.2f}x",
                    "",
                )
            )
    print(
        f"{args.rounds} rounds x {args.calls} in-memory tools/call per contender; memory over {args.memory_calls} calls"
    )
    print("| line | contender | CPU µs/call | wall µs/call | CPU vs plain | RSS growth |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
