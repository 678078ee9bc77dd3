"""pytest plugin (loaded with ``-p compat_outcomes``): one JSON line per test id, for compat/run.py.

junit XML names a test by class and function, which cannot always be mapped back to a node id (inherited
tests report the file that defines them); re-running a differing test needs the node id, so we record it
here. Under xdist the controller receives every report, so only the controller writes.
"""

from __future__ import annotations

import json
import os

_results: dict[str, dict] = {}


def pytest_runtest_logreport(report) -> None:
    """Fold setup/call/teardown into one outcome: a failing setup or teardown is an error."""
    entry = _results.setdefault(report.nodeid, {"outcome": "passed", "detail": "", "duration": 0.0})
    entry["duration"] += getattr(report, "duration", 0.0) or 0.0
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    else:
        outcome = report.outcome  # passed or skipped
    if outcome != "passed" and entry["outcome"] in ("passed", "skipped", "xfailed", "xpassed"):
        entry["outcome"] = outcome
    if report.failed or outcome == "skipped":
        entry["detail"] = (
            entry["detail"] + f"\n[{report.when}] " + (report.longreprtext or "")[-4000:]
        ).strip()


def pytest_collectreport(report) -> None:
    if report.failed:
        _results[report.nodeid or "<collection>"] = {
            "outcome": "error",
            "detail": "[collect] " + (report.longreprtext or "")[-4000:],
            "duration": 0.0,
        }


def pytest_sessionfinish(session) -> None:
    path = os.environ.get("COMPAT_OUTCOMES")
    if not path or hasattr(session.config, "workerinput"):
        return
    with open(path, "w", encoding="utf-8") as out:
        for nodeid, entry in _results.items():
            out.write(json.dumps({"id": nodeid, **entry}) + "\n")
