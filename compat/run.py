#!/usr/bin/env python3
"""make compat: the libraries' own test suites, without and with mcp-otel, compared test by test.

    python3 compat/run.py [--ci] [SUITE ...]        (make compat SUITES="mcp1 mcp2")

For each suite (below): download the library's PyPI source archive (it ships tests/ and uv.lock), build its
locked environment with uv (cached under .compat/NAME, rebuilt when the suite's recipe changes), install
this checkout into it (non-editable: what users install, the start-up .pth included), then run the selected
tests twice:

* without: mcp-otel installed but not switched on;
* with: MCP_OTEL_AUTO_INSTRUMENT=true and an OTLP endpoint on a closed 127.0.0.1 port, so the SDK is
  configured and every span really records and tries to export (exit-time and stderr effects show here).

Outcomes are compared per test id. A test whose outcome differs is re-run once in both modes; a difference
that does not reproduce is reported as flaky, one that does is looked up in compat/expected.txt (suite,
test id pattern, reason). Any reproduced difference not listed there fails the run. Environmental failures
(running as root, ...) fail in both modes and so are not differences. The report goes to stdout and to
.compat/report.md; raw results (JSON lines per test, junit XML, logs) stay in .compat/results/.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "compat"
CACHE = ROOT / ".compat"
RESULTS = CACHE / "results"
RUN_TIMEOUT = 40 * 60  # seconds for one pytest run before it counts as hung
REPORT_ONLY = False  # --report-only: compare the results of the last run again (after editing expected.txt)

# fastmcp's CI runs its unit tests in parallel and the tests that spawn interpreters serially
# (.github/actions/run-pytest in the archive); we do the same.
_FASTMCP_UNIT = "not integration and not client_process and not subprocess_heavy and not conformance"
_FASTMCP_PROCESS = "client_process or subprocess_heavy"
# CI's share of FastMCP's unit tests (the whole selection takes ~6 min per mode on 2 idle cores, 15 loaded):
# the directories that exercise the client, the server's request path, mounting, proxies and telemetry.
_FASTMCP_CI_DIRS = (
    "tests/client",
    "tests/telemetry",
    "tests/server/telemetry",
    "tests/server/mount",
    "tests/server/http",
    "tests/server/providers/proxy",
    "tests/server/test_server.py",
)
_FASTMCP_UNIT_ARGS = ("-m", _FASTMCP_UNIT, "--timeout=5", "-n", "2", "--dist", "worksteal")


@dataclass(frozen=True)
class Part:
    """One pytest invocation of a suite."""

    name: str
    args: tuple[str, ...]
    ci_args: tuple[str, ...] | None = None  # what CI runs instead (a subset), None: the same as args
    in_ci: bool = True


@dataclass(frozen=True)
class Suite:
    name: str
    requirement: str  # the source archive
    python: str
    sync_args: tuple[str, ...] = ()  # extra `uv sync --frozen` arguments
    after_sync: tuple[str, ...] = ()  # requirements installed on top of the lock
    env: tuple[tuple[str, str], ...] = ()  # set for every run, as the library's CI does
    parts: tuple[Part, ...] = field(default_factory=tuple)


SUITES = [
    Suite(
        "mcp1",
        "mcp==1.30.0",
        "3.11",
        sync_args=("--all-extras",),  # as mcp's CI (tests import mcp.cli, which needs the cli extra)
        parts=(Part("all", ("tests", "-n", "2")),),
    ),
    Suite(
        "mcp2",
        "mcp==2.3.0",
        "3.13",
        # strict-no-cover (dev group) installs from a git repository we cannot reach; it is a coverage check.
        sync_args=("--all-extras", "--no-install-package", "strict-no-cover"),
        # As mcp's CI: the example-stories smoke tests (real stdio and uvicorn subprocesses) and PEP 597.
        env=(("MCP_EXAMPLES_SMOKE", "1"), ("PYTHONWARNDEFAULTENCODING", "1")),
        parts=(Part("all", ("tests", "-n", "2")),),
    ),
    Suite(
        "fastmcp3",
        "fastmcp==3.4.11",
        "3.11",
        # The lock's certifi may be one the index refuses; pdbpp (dev group) only breaks pytest start-up.
        sync_args=("--no-install-package", "certifi", "--no-install-package", "pdbpp"),
        after_sync=("certifi", "mcp==1.30.0"),  # fastmcp 3.4's lock pins mcp 1.26: test the newest 1.x
        parts=(
            Part("unit", ("tests", *_FASTMCP_UNIT_ARGS), ci_args=(*_FASTMCP_CI_DIRS, *_FASTMCP_UNIT_ARGS)),
            Part("process", ("tests", "-m", _FASTMCP_PROCESS, "--timeout=5", "-n", "0"), in_ci=False),
        ),
    ),
    Suite(
        "fastmcp4",
        "fastmcp==4.2.3",
        "3.13",
        # As fastmcp3; and the lock's pydocket (0.29.1, for fastmcp-tasks) is newer than the index has: the
        # newest it has instead (task tests that need 0.29 then fail in both modes).
        sync_args=(
            "--no-install-package",
            "certifi",
            "--no-install-package",
            "pdbpp",
            "--no-install-package",
            "pydocket",
        ),
        after_sync=("certifi", "pydocket"),
        parts=(
            Part("unit", ("tests", *_FASTMCP_UNIT_ARGS), ci_args=(*_FASTMCP_CI_DIRS, *_FASTMCP_UNIT_ARGS)),
            Part("process", ("tests", "-m", _FASTMCP_PROCESS, "--timeout=5", "-n", "0"), in_ci=False),
        ),
    ),
]
BUILD_RECIPE_VERSION = "2"  # bump when the build steps below change


def log(message: str) -> None:
    print(f"compat: {message}", file=sys.stderr, flush=True)


def sh(*cmd: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdin=subprocess.DEVNULL)


# --- environments ---------------------------------------------------------------------------------------
def find_python(version: str, uv: str) -> str:
    """pyenv's newest X.Y, else pythonX.Y on PATH, else one uv finds (as scripts/bootstrap.sh does)."""
    candidates = []
    try:
        pyenv_root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
        candidates = sorted(
            glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python"),
            key=lambda p: [int(x) for x in Path(p).parent.parent.name.split(".") if x.isdigit()],
        )
    except (OSError, subprocess.CalledProcessError):
        pass
    found = candidates[-1] if candidates else shutil.which(f"python{version}")
    if not found:
        found = subprocess.run(
            [uv, "python", "find", version],
            capture_output=True,
            text=True,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
        ).stdout.strip()
    if not found:
        raise SystemExit(f"compat: no Python {version} found (uv python install {version})")
    return found


def ensure_uv() -> str:
    """The uv scripts/bootstrap.sh uses (it installs one into .venvs/.tools when none is on PATH)."""
    out = subprocess.run(
        [str(ROOT / "scripts" / "bootstrap.sh"), "v1"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MCP_OTEL_BOOTSTRAP_DRY_RUN": "1"},
    ).stdout
    return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("uv="))


def download(requirement: str, uv: str, into: Path) -> None:
    """The source archive, with pip (the one client that downloads sdists) from a small tools environment:
    the system python3 may have no pip."""
    tools = CACHE / "tools"
    if not (tools / "bin" / "pip").exists():
        sh(uv, "venv", "--quiet", "--seed", "--python", find_python("3.11", uv), str(tools))
    sh(
        str(tools / "bin" / "python"),
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-binary",
        ":all:",
        "--no-deps",
        requirement,
        "-d",
        str(into),
    )


def stamp(suite: Suite) -> str:
    recipe = repr((BUILD_RECIPE_VERSION, suite.requirement, suite.python, suite.sync_args, suite.after_sync))
    sdk = (ROOT / "pyproject.toml").read_text()  # the [sdk] extra we install on top
    return hashlib.sha256((recipe + sdk).encode()).hexdigest()[:16]


def build(suite: Suite, uv: str) -> Path:
    """The suite's source tree with its locked environment in .venv; rebuilt when its recipe changes."""
    home = CACHE / suite.name
    src = home / "src"
    python = src / ".venv" / "bin" / "python"
    key = stamp(suite)
    if (home / ".stamp").is_file() and (home / ".stamp").read_text().strip() == key and python.exists():
        return src
    started = time.monotonic()
    log(f"{suite.name}: building from the {suite.requirement} source archive")
    shutil.rmtree(home, ignore_errors=True)
    archives = CACHE / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    name, version = suite.requirement.split("==")
    archive = archives / f"{name}-{version}.tar.gz"
    if not archive.exists():
        download(suite.requirement, uv, archives)
    home.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 (and security backports)
            tar.extractall(home, filter="data")
        else:
            tar.extractall(home)
    (home / f"{name}-{version}").rename(src)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    sh(
        uv,
        "sync",
        "--frozen",
        "--quiet",
        "--python",
        find_python(suite.python, uv),
        *suite.sync_args,
        cwd=src,
        env=env,
    )
    if suite.after_sync:
        sh(uv, "pip", "install", "--quiet", "--python", str(python), *suite.after_sync, env=env)
    # mcp-otel's dependencies, without moving anything the lock installed (constraints = what is there now).
    frozen = subprocess.run(
        [uv, "pip", "freeze", "--python", str(python)], capture_output=True, text=True, check=True, env=env
    ).stdout
    constraints = home / "constraints.txt"
    constraints.write_text("".join(line + "\n" for line in frozen.splitlines() if "==" in line))
    sh(
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        "-c",
        str(constraints),
        f"{ROOT}[sdk]",
        env=env,
    )
    (home / ".stamp").write_text(key + "\n")
    log(f"{suite.name}: built in {time.monotonic() - started:.0f} s")
    return src


def install_checkout(src: Path, uv: str, checkout: Path = ROOT) -> None:
    """This checkout (or another one), non-editable, plus the outcome-recording plugin, into the suite's
    environment."""
    python = src / ".venv" / "bin" / "python"
    sh(
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        "--no-deps",
        "--reinstall-package",
        "mcp-otel",
        str(checkout),
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shutil.copy(HERE / "compat_outcomes.py", Path(purelib) / "compat_outcomes.py")


# --- running ----------------------------------------------------------------------------------------------
def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound and released: connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mode_env(suite: Suite, src: Path, mode: str, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "MCP_OTEL_", "VIRTUAL_ENV", "PYTHONPATH", "COMPAT_"))
    }
    env.update(suite.env)
    # As `uv run` does: tests start the environment's console scripts (`fastmcp run ...`) by name.
    env["VIRTUAL_ENV"] = str(src / ".venv")
    env["PATH"] = f"{src / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if mode == "with":
        env["MCP_OTEL_AUTO_INSTRUMENT"] = "true"
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
    return env


@dataclass
class Run:
    outcomes: dict[str, dict]
    seconds: float
    returncode: int
    timed_out: bool = False


def run_pytest(suite: Suite, src: Path, args: list[str], mode: str, port: int, out: Path) -> Run:
    """One pytest run; results in OUT.jsonl (per test id), OUT.xml (junit) and OUT.log."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if REPORT_ONLY:
        return load_run(out)
    env = mode_env(suite, src, mode, port)
    env["COMPAT_OUTCOMES"] = str(out.with_suffix(".jsonl"))
    cmd = [
        str(src / ".venv" / "bin" / "python"),
        "-m",
        "pytest",
        *args,
        "-p",
        "compat_outcomes",
        "-p",
        "no:cacheprovider",
        "--color=no",
        "-q",
        f"--junitxml={out.with_suffix('.xml')}",
    ]
    started = time.monotonic()
    with open(out.with_suffix(".log"), "w") as logfile:
        proc = subprocess.Popen(
            cmd,
            cwd=src,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timed_out = False
        try:
            proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except BaseException:  # interrupted: pytest runs in its own process group, so end it too
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    meta = {"seconds": time.monotonic() - started, "returncode": proc.returncode, "timed_out": timed_out}
    out.with_suffix(".meta.json").write_text(json.dumps(meta))
    return load_run(out)


def load_run(out: Path) -> Run:
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    outcomes = {}
    results = out.with_suffix(".jsonl")
    if results.exists():
        for line in results.read_text().splitlines():
            entry = json.loads(line)
            outcomes[entry.pop("id")] = entry
    return Run(outcomes, meta["seconds"], meta["returncode"], meta["timed_out"])


# --- comparing ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expected:
    suite: str
    pattern: str
    reason: str

    def matches(self, suite: str, test_id: str) -> bool:
        return _wildcard(self.suite, suite) and _wildcard(self.pattern, test_id)


def _wildcard(pattern: str, text: str) -> bool:
    """`*` matches anything; every other character (test ids are full of `[`, `.`) only itself."""
    return re.fullmatch(".*".join(re.escape(piece) for piece in pattern.split("*")), text) is not None


def load_expected() -> list[Expected]:
    """compat/expected.txt: `SUITE  TEST-ID-PATTERN  reason...` (`*` is the only wildcard; # comments)."""
    entries = []
    for line in (HERE / "expected.txt").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        suite, pattern, reason = line.split(None, 2)
        entries.append(Expected(suite, pattern, reason.strip()))
    return entries


def outcome(run: Run, test_id: str) -> str:
    entry = run.outcomes.get(test_id)
    return entry["outcome"] if entry else "missing"


def verdict(run: Run, test_id: str) -> str:
    """What a comparison looks at: ok (passed, xfailed), skipped, or bad (failed, error, xpassed, missing).
    A test failing in both modes, one way or another, is a baseline failure, not a difference."""
    result = outcome(run, test_id)
    return {"passed": "ok", "xfailed": "ok", "skipped": "skipped"}.get(result, "bad")


def first_lines(detail: str, count: int = 8) -> str:
    """The assertion/exception lines of a failure (pytest's `E ` lines, or an exception group's), else its
    last lines."""
    lines = detail.splitlines()
    errors = [line for line in lines if line.startswith("E ")]
    if not errors:
        errors = [line for line in lines if "Error" in line or "assert " in line or "Exception" in line]
    picked = errors[:count] if errors else lines[-count:]
    return "\n".join("      " + line[:300] for line in picked)


@dataclass
class Difference:
    test_id: str
    without: str
    with_: str
    detail: str
    status: str = ""  # expected (reason) / unexpected / flaky


def summarise(run: Run) -> str:
    counts: dict[str, int] = {}
    for entry in run.outcomes.values():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    order = ["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
    text = ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))
    if run.timed_out:
        text += " (TIMED OUT)"
    return text or "no results"


def run_suite(suite: Suite, part: Part, src: Path, ci: bool, port: int, expected: list[Expected]) -> dict:
    args = list(part.ci_args if ci and part.ci_args else part.args)
    base = RESULTS / suite.name / part.name
    log(f"{suite.name}/{part.name}: without mcp-otel: pytest {' '.join(args)}")
    without = run_pytest(suite, src, args, "without", port, base / "without")
    log(f"{suite.name}/{part.name}: without: {summarise(without)} in {without.seconds:.0f} s")
    log(f"{suite.name}/{part.name}: with mcp-otel")
    with_ = run_pytest(suite, src, args, "with", port, base / "with")
    log(f"{suite.name}/{part.name}: with: {summarise(with_)} in {with_.seconds:.0f} s")

    differing = sorted(
        t for t in set(without.outcomes) | set(with_.outcomes) if verdict(without, t) != verdict(with_, t)
    )
    differences = []
    if differing:
        # A difference must reproduce: re-run just those tests once in both modes (serially).
        log(f"{suite.name}/{part.name}: re-running {len(differing)} differing tests in both modes")
        rerun_args = [t for t in differing if t != "<collection>"] + ["-n", "0"]
        if "--timeout=5" in args:
            rerun_args.append("--timeout=5")
        again_without = run_pytest(suite, src, rerun_args, "without", port, base / "rerun-without")
        again_with = run_pytest(suite, src, rerun_args, "with", port, base / "rerun-with")
        for test_id in differing:
            before = (outcome(without, test_id), outcome(with_, test_id))
            # Reproduced: the re-run gives each mode the same verdict as the first run did.
            reproduced = (verdict(again_without, test_id), verdict(again_with, test_id)) == (
                verdict(without, test_id),
                verdict(with_, test_id),
            )
            failing = with_ if verdict(with_, test_id) != "ok" else without
            detail = (failing.outcomes.get(test_id) or {}).get("detail", "")
            diff = Difference(test_id, before[0], before[1], detail)
            reason = next((e.reason for e in expected if e.matches(suite.name, test_id)), None)
            if not reproduced:
                diff.status = "flaky"
            elif reason:
                diff.status = f"expected: {reason}"
            else:
                diff.status = "unexpected"
            differences.append(diff)
    return {
        "suite": suite.name,
        "part": part.name,
        "args": args,
        "without": without,
        "with": with_,
        "differences": differences,
        "crashed": without.timed_out or with_.timed_out or without.returncode > 1 or with_.returncode > 1,
    }


def report(results: list[dict], ci: bool) -> tuple[str, bool]:
    lines = [
        "# make compat" + (" (CI subset)" if ci else ""),
        "",
        "| suite | without | with mcp-otel | time without / with | expected | flaky | unexpected |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    ok = True
    for r in results:
        diffs = r["differences"]
        unexpected = [d for d in diffs if d.status == "unexpected"]
        expected = [d for d in diffs if d.status.startswith("expected")]
        flaky = [d for d in diffs if d.status == "flaky"]
        ok = ok and not unexpected and not r["crashed"]
        lines.append(
            f"| {r['suite']} {r['part']} | {summarise(r['without'])} | {summarise(r['with'])} | "
            f"{r['without'].seconds:.0f} s / {r['with'].seconds:.0f} s | {len(expected)} | {len(flaky)} | "
            f"{len(unexpected)} |"
        )
    for r in results:
        if r["crashed"]:
            lines += [
                "",
                f"## {r['suite']} {r['part']}: a run did not finish normally "
                f"(exit {r['without'].returncode} / {r['with'].returncode}; see .compat/results/)",
            ]
            for mode in ("without", "with"):
                log_file = RESULTS / r["suite"] / r["part"] / f"{mode}.log"
                errors = (
                    [
                        line
                        for line in log_file.read_text(errors="replace").splitlines()
                        if line.startswith("INTERNALERROR>") and "Error:" in line
                    ]
                    if log_file.exists()
                    else []
                )
                if r[mode].timed_out:
                    lines.append(f"- {mode}: timed out after {RUN_TIMEOUT} s")
                elif errors:
                    lines.append(
                        f"- {mode}: pytest INTERNALERROR: `{errors[-1][len('INTERNALERROR>') :].strip()[:300]}`"
                    )
        for title, status in (
            ("unexpected differences", "unexpected"),
            ("did not reproduce on a re-run (flaky, or order-dependent)", "flaky"),
            ("expected differences", "expected"),
        ):
            chosen = [d for d in r["differences"] if d.status.startswith(status)]
            # Tests an aborted run never reached: one line, not hundreds.
            missing = [d for d in chosen if "missing" in (d.without, d.with_)]
            chosen = [d for d in chosen if d not in missing]
            if missing:
                lines += [
                    "",
                    f"## {r['suite']} {r['part']}: {len(missing)} tests ran in one mode only ({status})",
                    "",
                    *(f"- `{d.test_id}`: without {d.without}, with {d.with_}" for d in missing[:5]),
                ]
                if len(missing) > 5:
                    lines.append(f"- ... and {len(missing) - 5} more")
            if not chosen:
                continue
            lines += ["", f"## {r['suite']} {r['part']}: {title} ({len(chosen)})", ""]
            for d in chosen:
                lines.append(
                    f"- `{d.test_id}`: without {d.without}, with {d.with_}"
                    + (f" — {d.status[len('expected: ') :]}" if status == "expected" else "")
                )
                if status == "unexpected" and d.detail:
                    lines += ["", "  ```", first_lines(d.detail), "  ```"]
        slower = slowdowns(r["without"], r["with"])
        if slower:
            lines += [
                "",
                f"## {r['suite']} {r['part']}: slower with mcp-otel (information; the largest {len(slower)})",
                "",
            ]
            lines += [f"- `{test_id}`: {before:.1f} s -> {after:.1f} s" for test_id, before, after in slower]
    return "\n".join(lines) + "\n", ok


def slowdowns(
    without: Run, with_: Run, threshold: float = 2.0, count: int = 10
) -> list[tuple[str, float, float]]:
    """Tests at least THRESHOLD seconds slower with mcp-otel: where exit and shutdown delays show."""
    pairs = [
        (t, without.outcomes[t]["duration"], e["duration"])
        for t, e in with_.outcomes.items()
        if t in without.outcomes
    ]
    slow = [p for p in pairs if p[2] - p[1] >= threshold]
    return sorted(slow, key=lambda p: p[1] - p[2])[:count]


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("suites", nargs="*", help=f"default: all of {[s.name for s in SUITES]}")
    parser.add_argument(
        "--ci", action="store_true", help="the CI selection (fastmcp: a subset of directories)"
    )
    parser.add_argument("--part", action="append", help="only these parts (unit, process, all)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="no building or running: compare the last run's results again",
    )
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="install mcp-otel from this checkout instead (e.g. another branch's worktree)",
    )
    options = parser.parse_args()
    global REPORT_ONLY
    REPORT_ONLY = options.report_only
    names = options.suites or [s.name for s in SUITES]
    unknown = set(names) - {s.name for s in SUITES}
    if unknown:
        parser.error(f"unknown suites {sorted(unknown)}")
    uv = ensure_uv()
    expected = load_expected()
    port = closed_port()
    results = []
    for suite in (s for s in SUITES if s.name in names):
        src = CACHE / suite.name / "src"
        if not REPORT_ONLY:
            src = build(suite, uv)
            install_checkout(src, uv, options.checkout.resolve())
        for part in suite.parts:
            if (options.ci and not part.in_ci) or (options.part and part.name not in options.part):
                continue
            results.append(run_suite(suite, part, src, options.ci, port, expected))
    text, ok = report(results, options.ci)
    (CACHE / "report.md").write_text(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
