"""Instructions per request, counted by valgrind: a noise-free comparison on a busy shared machine.

    python benchmarks/instructions.py [--lines bench-v1 bench-v2] [--contenders NAME ...] [--src LABEL=PATH ...]

CPU-time ratios of a few percent drown in the noise of a loaded 2-core machine; instruction counts do not.
Each contender of benchmarks/_contender.py runs under ``valgrind --tool=callgrind`` with instrumentation
switched on only around the timed loop (``--callgrind``), once with 100 and once with 300 calls; the
difference divided by 200 is the instructions one in-memory ``tools/call`` costs (client and server in
the process), start-up and the switches cancelling out. Instructions are not time (cache misses and the
allocator's work weigh differently), so they back, not replace, the CPU tables. ``--src LABEL=PATH``
runs the mcp-otel contenders from that ``src`` directory instead of the installed one (repeatable: e.g.
``before=/tmp/base/src after=src`` for a before/after in one run). The contender ``SDK propagation of a
sampled-out request`` is not a session: it counts the SDK's own work of carrying a non-sampled traceparent
from a CLIENT span to a SERVER span, part of the floor of mcp-otel's sampled-out cost on mcp 1.x.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
from pathlib import Path

from compare import venv_python

CONTENDER = Path(__file__).resolve().parent / "_contender.py"
DEFAULT = ["plain", "SDK, always_off", "mcp-otel, always_off", "SDK, spans only", "mcp-otel, spans only"]


def instructions(python: str, contender: str, calls: int, src: str | None) -> int:
    # a fixed hash seed: str hashes (dict and set layouts) are then the same in every run and contender
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if src:
        env["PYTHONPATH"] = src
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={tmp}/out",
                python,
                str(CONTENDER),
                contender,
                str(calls),
                "--callgrind",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=3600,
        )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"{contender}: {proc.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", nargs="*", default=["bench-v1", "bench-v2"])
    parser.add_argument("--contenders", nargs="*", default=DEFAULT)
    parser.add_argument("--src", nargs="*", default=[], help="LABEL=PATH: mcp-otel from that src directory")
    args = parser.parse_args()
    rows = []
    for line in args.lines:
        python = venv_python(line)
        sources = [tuple(item.split("=", 1)) for item in args.src] or [("", None)]
        runs = [
            (contender, label, path)
            for contender in args.contenders
            for label, path in (sources if contender.startswith("mcp-otel") else [("", None)])
        ]
        for contender, label, path in runs:
            low, high = instructions(python, contender, 100, path), instructions(python, contender, 300, path)
            rows.append((line, contender + (f" ({label})" if label else ""), (high - low) / 200))
    print("Instructions per in-memory tools/call (valgrind callgrind, client and server in the process)")
    print("| env | contender | instructions/request | vs plain | vs the same providers without mcp-otel |")
    print("| --- | --- | --- | --- | --- |")
    for line, name, count in rows:
        same = {r[1]: r[2] for r in rows if r[0] == line}
        plain = same.get("plain")
        base = (
            same.get(re.sub(r"^mcp-otel", "SDK", name.split(" (")[0]))
            if name.startswith("mcp-otel")
            else None
        )
        vs_plain = f"{count / plain:.3f}x" if plain else ""
        vs_base = f"{count / base:.3f}x (+{(count - base) / 1e3:.0f} k)" if base else ""
        print(f"| {line} | {name} | {count / 1e6:.3f} M | {vs_plain} | {vs_base} |")


if __name__ == "__main__":
    main()
