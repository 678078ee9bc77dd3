"""Start-up cost of mcp-otel (issue 14 goal 1) and exit delay with an unreachable endpoint (issue 15 item 2).

    python benchmarks/startup.py                      # this interpreter's environment
    python benchmarks/startup.py --envs v1 v2         # .venvs/v1 and .venvs/v2, side by side, interleaved
    python benchmarks/startup.py --rounds 21 --exit-rounds 5
    python benchmarks/startup.py --baseline-src /tmp/old/src   # also an older mcp-otel (`git archive REV src`)
    python benchmarks/startup.py --rounds 0 --exit-rounds 0 --instructions   # instruction counts only

Start-up: wall time (and CPU time) of fresh interpreters, every case once per round in a shuffled order (so machine noise
falls on all cases alike), medians over the rounds:

* ``unset``: ``python -c "import mcp"`` without ``MCP_OTEL_AUTO_INSTRUMENT``;
* ``auto grpc`` / ``auto http``: the same with ``MCP_OTEL_AUTO_INSTRUMENT=true`` and an OTLP endpoint
  (gRPC / HTTP-protobuf): the start-up hook instruments at ``import mcp``; the SDK is configured at the first
  span and the exporter built in a background thread, so neither is on this path;
* ``auto grpc + 1st span``: and then one span, which configures the SDK (``first_span_ms``, in the child);
* ``sdk`` / ``sdk+instrument()``: ``import mcp`` with the SDK already imported, without / with
  ``McpInstrumentor().instrument()`` (what instrument() in code costs);
* ``sdk+BaseInstrumentor import`` / ``sdk+empty instrument()``: its floor, contrib's ``BaseInstrumentor``
  imported, and an instrumentor that patches nothing instrumented (contrib's dependency check of mcp).

Inside each child, the wall time of ``import mcp`` itself is reported too (``import_mcp_ms``: the
start-up hook runs inside it, and it leaves out interpreter start-up and exit, the noisiest parts), and in
the ``sdk+...`` children the time of the import (``import_ms``) and of the ``instrument()`` call.

Instructions (``--instructions``): the start-up cases once each under valgrind, whole process; on a
loaded machine wall and CPU times of a few milliseconds drown in the noise, instruction counts do not.

Exit: an MCP client over stdio (tests/zerocode/apps/client_app.py, which spawns an instrumented stdio
server), the OTLP endpoint a closed port: wall time uninstrumented vs ``MCP_OTEL_AUTO_INSTRUMENT=true``
(gRPC and HTTP), and the stderr lines the instrumented run printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT_APP = ROOT / "tests" / "zerocode" / "apps" / "client_app.py"

PROBE = """
import time, json, sys
t0 = time.perf_counter()
{pre}
t1 = time.perf_counter()
import mcp
t2 = time.perf_counter()
{post}
extra["import_mcp_ms"] = (t2 - t1) * 1000  # the hook runs inside it; no interpreter start or exit
print("STARTUP " + json.dumps(extra), file=sys.stderr)
"""

CASES: dict[str, tuple[dict[str, str | None], str, str]] = {
    # name: (environment, code before `import mcp`, code after it; `extra` collects in-child timings)
    "unset": ({}, "", "extra = {}"),
    "auto grpc": (
        {"MCP_OTEL_AUTO_INSTRUMENT": "true", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        "",
        "extra = {}",
    ),
    "auto http": (
        {"MCP_OTEL_AUTO_INSTRUMENT": "true", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
        "",
        "extra = {}",
    ),
    # The first span configures the SDK: timed in the child (the wall time includes exit, which with the
    # endpoint unreachable is the exit budget; see the exit table).
    "auto grpc + 1st span": (
        {"MCP_OTEL_AUTO_INSTRUMENT": "true", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        "",
        "from opentelemetry import trace\n"
        "t3 = time.perf_counter()\n"
        "trace.get_tracer('startup').start_span('first').end()\n"
        "extra = {'first_span_ms': (time.perf_counter() - t3) * 1000}",
    ),
    "sdk": ({}, "import opentelemetry.sdk.trace, opentelemetry.sdk.metrics", "extra = {}"),
    "sdk+instrument()": (
        {},
        "import opentelemetry.sdk.trace, opentelemetry.sdk.metrics",
        "t3 = time.perf_counter()\n"
        "from mcp_otel.instrumentor import McpInstrumentor\n"
        "t4 = time.perf_counter()\n"
        "McpInstrumentor().instrument()\n"
        "t5 = time.perf_counter()\n"
        "extra = {'import_ms': (t4 - t3) * 1000, 'instrument_ms': (t5 - t4) * 1000}",
    ),
    # The floor under sdk+instrument(): contrib's BaseInstrumentor (McpInstrumentor must subclass it), its
    # import alone, and an instrumentor that patches nothing, whose instrument() runs contrib's dependency
    # check of mcp's requirement (importlib.metadata.version: the whole METADATA, parsed).
    "sdk+BaseInstrumentor import": (
        {},
        "import opentelemetry.sdk.trace, opentelemetry.sdk.metrics",
        "t3 = time.perf_counter()\n"
        "from opentelemetry.instrumentation.instrumentor import BaseInstrumentor\n"
        "extra = {'import_ms': (time.perf_counter() - t3) * 1000}",
    ),
    "sdk+empty instrument()": (
        {},
        "import opentelemetry.sdk.trace, opentelemetry.sdk.metrics",
        "t3 = time.perf_counter()\n"
        "from opentelemetry.instrumentation.instrumentor import BaseInstrumentor\n"
        "class Empty(BaseInstrumentor):\n"
        "    def instrumentation_dependencies(self): return ('mcp >= 1.12.4',)\n"
        "    def _uninstrument(self, **kwargs): pass\n"
        "t4 = time.perf_counter()\n"
        "Empty().instrument()\n"
        "t5 = time.perf_counter()\n"
        "extra = {'import_ms': (t4 - t3) * 1000, 'instrument_ms': (t5 - t4) * 1000}",
    ),
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env() -> dict[str, str]:
    drop = ("OTEL_", "MCP_OTEL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("TRACEPARENT", None)
    # An installed package runs from .pyc files (pip compiles at install, Python caches on first import);
    # with PYTHONDONTWRITEBYTECODE set (some shells and CI images set it) every run would compile every
    # module from source again, which then dominates what is measured. The warm-up round writes them.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{closed_port()}"
    return env


BASELINE_SRC: str | None = None  # --baseline-src: cases marked "(baseline)" import mcp_otel from there


def with_baseline(case: str, env: dict[str, str]) -> str:
    """The case's name without its "(baseline)" mark; PYTHONPATH set for the baseline source tree."""
    if case.endswith(" (baseline)"):
        assert BASELINE_SRC is not None
        env["PYTHONPATH"] = BASELINE_SRC  # before site-packages: its mcp_otel wins over the editable one
        return case.removesuffix(" (baseline)")
    return case


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_case(python: str, case: str) -> tuple[float, dict[str, float]]:
    """Wall ms of one fresh interpreter; in-child timings plus ``cpu_ms`` (the child's CPU time, which
    holds better than wall time on a shared machine)."""
    env = base_env()
    case = with_baseline(case, env)
    variables, pre, post = CASES[case]
    env.update({k: v for k, v in variables.items() if v is not None})
    code = PROBE.format(pre=pre, post=post)
    cpu = child_cpu()
    start = time.perf_counter()
    proc = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    cpu = child_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"{python} {case}: exit {proc.returncode}\n{proc.stderr}")
    line = next(x for x in proc.stderr.splitlines() if x.startswith("STARTUP "))
    return elapsed * 1000, {"cpu_ms": cpu * 1000, **json.loads(line[len("STARTUP ") :])}


def python_of(env_name: str) -> str:
    if env_name == "current":
        return sys.executable
    return str(ROOT / ".venvs" / env_name / "bin" / "python")


def label(python: str) -> str:
    out = subprocess.run(
        [
            python,
            "-c",
            "import importlib.metadata as m, sys; print(m.version('mcp'), sys.version.split()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return f"mcp {out[0]} (Python {out[1]})"


def startup(envs: list[str], rounds: int) -> None:
    pythons = {env: python_of(env) for env in envs}
    cases = list(CASES)
    if BASELINE_SRC:
        cases += [f"{c} (baseline)" for c in CASES if c.startswith("auto") or c == "sdk+instrument()"]
    times: dict[tuple[str, str], list[float]] = {(e, c): [] for e in envs for c in cases}
    extras: dict[tuple[str, str], list[dict[str, float]]] = {(e, c): [] for e in envs for c in cases}
    for env in envs:  # warm the caches (.pyc, page cache) once
        for case in cases:
            run_case(pythons[env], case)
    for _ in range(rounds):
        order = [(e, c) for e in envs for c in cases]
        random.shuffle(order)
        for env, case in order:
            ms, extra = run_case(pythons[env], case)
            times[(env, case)].append(ms)
            extras[(env, case)].append(extra)
    print(f"\nStart-up: python -c 'import mcp', median of {rounds} interleaved runs (wall ms)")
    print(f"{'environment':<28} {'case':<29} {'median':>8} {'vs base':>9} {'ratio':>6}  notes")
    for env in envs:
        name = label(pythons[env])
        for case in cases:
            median = statistics.median(times[(env, case)])
            base_case = "sdk" if case.startswith("sdk+") else "unset"
            base = statistics.median(times[(env, base_case)])
            delta = "" if case in ("unset", "sdk") else f"{median - base:+.1f}"
            ratio = "" if case in ("unset", "sdk") else f"{median / base:.2f}x"
            cpu = statistics.median(x["cpu_ms"] for x in extras[(env, case)])
            cpu_base = statistics.median(x["cpu_ms"] for x in extras[(env, base_case)])
            notes = ", ".join(
                [f"cpu {cpu:.0f}" + ("" if case in ("unset", "sdk") else f" ({cpu - cpu_base:+.1f})")]
                + [
                    f"{key} {statistics.median(x[key] for x in extras[(env, case)]):.1f}"
                    for key in sorted(extras[(env, case)][0])
                    if key != "cpu_ms"
                ]
            )
            print(f"{name:<28} {case:<29} {median:8.1f} {delta:>9} {ratio:>6}  {notes}")


INSTRUCTION_CASES = (
    "unset",
    "auto grpc",
    "auto http",
    "sdk",
    "sdk+instrument()",
    "sdk+BaseInstrumentor import",
    "sdk+empty instrument()",
)


def count_instructions(python: str, case: str) -> int:
    """Instructions one fresh interpreter of ``case`` executes (valgrind callgrind, start to exit)."""
    env = base_env()
    case = with_baseline(case, env)
    env["PYTHONHASHSEED"] = "0"  # the same dict layouts every run
    variables, pre, post = CASES[case]
    env.update({k: v for k, v in variables.items() if v is not None})
    with tempfile.TemporaryDirectory() as tmp:
        code = PROBE.format(pre=pre, post=post)
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", python, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"{python} {case}: {proc.stderr[-2000:]}")
    return int(found.group(1))


def instructions(envs: list[str]) -> None:
    """The start-up cases once each under valgrind: a comparison that machine load does not blur."""
    cases = list(INSTRUCTION_CASES)
    if BASELINE_SRC:
        cases += [
            f"{c} (baseline)" for c in INSTRUCTION_CASES if c.startswith("auto") or c == "sdk+instrument()"
        ]
    print("\nStart-up in instructions (valgrind callgrind, whole process, PYTHONHASHSEED=0; M = 10^6)")
    print(f"{'environment':<28} {'case':<29} {'instructions':>13} {'vs base':>9}")
    for env in envs:
        python = python_of(env)
        for case in cases:  # the .pyc files (of the baseline tree too)
            run_case(python, case)
        counts = {case: count_instructions(python, case) for case in cases}
        for case, count in counts.items():
            base = counts["sdk" if case.startswith("sdk+") else "unset"]
            delta = "" if case in ("unset", "sdk") else f"{(count - base) / 1e6:+.1f} M"
            print(f"{label(python):<28} {case:<29} {count / 1e6:11.1f} M {delta:>9}")


def exit_delay(envs: list[str], rounds: int) -> None:
    print(
        f"\nExit with the OTLP endpoint unreachable: stdio client + server, median of {rounds} runs (wall s)"
    )
    print(f"{'environment':<28} {'case':<33} {'median':>7} {'vs off':>7}  stderr lines")
    for env in envs:
        python = python_of(env)
        results: dict[str, list[float]] = {"off": [], "auto grpc": [], "auto http/protobuf": []}
        if BASELINE_SRC:
            results.update({"auto grpc (baseline)": [], "auto http/protobuf (baseline)": []})
        lines: dict[str, int] = {}
        for _ in range(rounds):
            order = list(results)
            random.shuffle(order)
            for case in order:
                environ = base_env()
                if case != "off":
                    environ["MCP_OTEL_AUTO_INSTRUMENT"] = "true"
                    environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = with_baseline(case, environ).split()[1]
                start = time.perf_counter()
                proc = subprocess.run(
                    [python, str(CLIENT_APP), "stdio", "sdk"],
                    env=environ,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                results[case].append(time.perf_counter() - start)
                if proc.returncode != 0:
                    raise SystemExit(f"{case}: exit {proc.returncode}\n{proc.stderr}")
                lines[case] = len(
                    [x for x in proc.stderr.splitlines() if "client_app:" not in x and x.strip()]
                )
        off = statistics.median(results["off"])
        for case, values in results.items():
            median = statistics.median(values)
            delta = "" if case == "off" else f"{median - off:+.2f}"
            print(f"{label(python):<28} {case:<33} {median:7.2f} {delta:>7}  {lines.get(case, 0)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=["current"], help="names under .venvs/ (or 'current')")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--exit-rounds", type=int, default=3, help="0: skip the exit measurement")
    parser.add_argument("--baseline-src", help="a src/ tree of another mcp-otel, measured side by side")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions under valgrind (slow: ~20 s a case)",
    )
    args = parser.parse_args()
    global BASELINE_SRC
    BASELINE_SRC = str(Path(args.baseline_src).resolve()) if args.baseline_src else None
    if args.rounds:
        startup(args.envs, args.rounds)
    if args.instructions:
        instructions(args.envs)
    if args.exit_rounds:
        exit_delay(args.envs, args.exit_rounds)


if __name__ == "__main__":
    main()
