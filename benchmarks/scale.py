"""Many concurrent sessions in one process: per-request cost as sessions grow, and memory over 100k requests.

    python benchmarks/scale.py [--levels 10 100 1000] [--requests 20000] [--rounds 3] [--long 100000]

Every measurement runs in a fresh process (this script with ``--child``), client and server in that
process (in-memory sessions, both instrumented), with the SDK pipeline of benchmarks/_contender.py
(BatchSpanProcessor, an exporter that drops spans, an in-memory metric reader). For each level, that many
sessions are opened and held open at once; 50 worker tasks then make ``--requests`` ``tools/call``
requests spread round-robin over all of them, concurrently. Each session is held open by its own task, as
a server's connections are (entered one after another in one task, every session's task group would nest
in the previous one's and anyio's cancel scopes would walk a chain as deep as the number of sessions on
every checkpoint: that measured the nesting, not the library). Reported: CPU µs per request (median of
``--rounds``, interleaved with ``plain``, no instrumentation), the ratio, and the garbage collector's share
of the CPU (timed through ``gc.callbacks``), so a cost that grows with the number of open sessions shows as
a rising curve and the collector's part of it as its own column. ``--long`` runs one process with the largest level and
that many requests, and reports RSS and live gc objects after opening the sessions, at each quarter of
the requests and after closing every session: growth that plateaus is caching, growth that does not is a
leak.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKERS = 50


def _rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4


def _memory() -> dict[str, int]:
    gc.collect()
    return {"rss_kib": _rss_kib(), "gc_objects": len(gc.get_objects())}


class _GcTimer:
    """CPU spent in the garbage collector while active (``gc.callbacks``: start and stop of each collection)."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.cpu += time.process_time() - self._started

    def __enter__(self) -> None:
        gc.callbacks.append(self._callback)

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


async def _child(contender: str, sessions: int, requests: int, checkpoints: int) -> dict[str, Any]:
    import anyio
    from _contender import MCP_MAJOR, build_server

    server = build_server()
    out: dict[str, Any] = {"contender": contender, "sessions": sessions, "requests": requests}
    out["memory"] = [("start", _memory())]
    close = anyio.Event()

    async def hold(cm: Any, *, task_status: Any) -> None:
        async with cm as session:
            task_status.started(session)
            await close.wait()

    async with anyio.create_task_group() as holders:
        opened = []
        for _ in range(sessions):
            if MCP_MAJOR >= 2:
                from mcp import Client

                cm: Any = Client(server, mode="legacy")
            else:
                from mcp.shared.memory import create_connected_server_and_client_session

                cm = create_connected_server_and_client_session(server._mcp_server)
            opened.append(await holders.start(hold, cm))
        for i, session in enumerate(opened):  # warm every session (the hidden tools/list included)
            await session.call_tool("add", {"a": i, "b": 1})
        out["memory"].append((f"{sessions} sessions open", _memory()))
        step = max(requests // checkpoints, 1)
        done = 0
        cpu = 0.0
        collector = _GcTimer()
        while done < requests:
            batch = min(step, requests - done)
            counter = iter(range(done, done + batch))

            async def worker(counter: Any = counter) -> None:
                for n in counter:  # shared: the workers drain one sequence of request numbers
                    await opened[n % sessions].call_tool("add", {"a": n, "b": 1})

            started = time.process_time()
            with collector:
                async with anyio.create_task_group() as tg:
                    for _ in range(WORKERS):
                        tg.start_soon(worker)
            cpu += time.process_time() - started
            done += batch
            if checkpoints > 1:
                out["memory"].append((f"{done} requests", _memory()))
        out["cpu_us"] = cpu / requests * 1e6
        out["gc_us"] = collector.cpu / requests * 1e6
        close.set()
    out["memory"].append(("all sessions closed", _memory()))
    return out


def run_child(
    python: str, contender: str, sessions: int, requests: int, checkpoints: int = 1
) -> dict[str, Any]:
    args = [python, __file__, "--child", contender, str(sessions), str(requests), str(checkpoints)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"{contender} at {sessions} sessions failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--long", type=int, default=100_000, help="requests of the memory run (0: none)")
    parser.add_argument("--child", nargs=4, metavar=("CONTENDER", "SESSIONS", "REQUESTS", "CHECKPOINTS"))
    args = parser.parse_args()
    if args.child:
        import logging

        import anyio
        from _contender import setup

        logging.disable(logging.WARNING)
        contender, sessions, requests, checkpoints = args.child
        setup(contender)
        print(json.dumps(anyio.run(_child, contender, int(sessions), int(requests), int(checkpoints))))
        return

    import importlib.metadata

    python = sys.executable
    version = importlib.metadata.version("mcp")
    print(
        f"mcp {version}, Python {sys.version_info.major}.{sys.version_info.minor}: {args.requests} tools/call "
        f"over N open in-memory sessions, {WORKERS} concurrent workers, median of {args.rounds} rounds"
    )
    print(
        "| sessions | plain CPU µs/request | mcp-otel CPU µs/request | ratio | mcp-otel's own µs "
        "| of it outside the gc | gc µs/request, plain -> mcp-otel |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for level in args.levels:
        runs: dict[str, list[dict[str, Any]]] = {"plain": [], "mcp-otel": []}
        for round_no in range(args.rounds):
            order = ["plain", "mcp-otel"] if round_no % 2 == 0 else ["mcp-otel", "plain"]
            for contender in order:
                runs[contender].append(run_child(python, contender, level, args.requests))
        plain, ours = (
            {key: statistics.median(r[key] for r in runs[c]) for key in ("cpu_us", "gc_us")} for c in runs
        )
        own = ours["cpu_us"] - plain["cpu_us"]
        outside = own - (ours["gc_us"] - plain["gc_us"])
        print(
            f"| {level} | {plain['cpu_us']:.0f} | {ours['cpu_us']:.0f} | {ours['cpu_us'] / plain['cpu_us']:.2f}x "
            f"| {own:+.0f} | {outside:+.0f} | {plain['gc_us']:.0f} -> {ours['gc_us']:.0f} |",
            flush=True,
        )
    if args.long:
        level = max(args.levels)
        print()
        print(f"Memory, mcp-otel, {level} sessions open, {args.long} requests (after gc.collect()):")
        print("| point | RSS MiB | live gc objects | gc objects vs sessions open |")
        print("| --- | --- | --- | --- |")
        result = run_child(python, "mcp-otel", level, args.long, checkpoints=4)
        points = result["memory"]
        reference = points[1][1]["gc_objects"]
        for label, mem in points:
            print(
                f"| {label} | {mem['rss_kib'] / 1024:.1f} | {mem['gc_objects']} "
                f"| {mem['gc_objects'] - reference:+d} |"
            )
        print(f"(CPU {result['cpu_us']:.0f} µs per request over the {args.long} requests)")


if __name__ == "__main__":
    main()
