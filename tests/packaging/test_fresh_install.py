"""A new user's first ten minutes, from the built artefacts (issue 13, items 3 and 5).

Build the sdist and the wheel, ``twine check`` them, install the **wheel** (not editable) with its ``sdk``
extra into a clean virtual environment, then, from that install only: the ``.pth`` start-up hook and both
entry points are there, ``MCP_OTEL_AUTO_INSTRUMENT=true`` with no endpoint prints the trace tree, and
``opentelemetry-instrument`` as README documents it (no collector: ``OTEL_TRACES_EXPORTER=mcp_otel_tree``)
prints the tree without export errors.

Runs in the v1 and v2 environments (one per mcp line; library versions constrained to the environment's
own, so the install is reproducible and comes from uv's cache).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.env import ENV_NAME, skip_or_fail
from support.zerocode import clean_environ

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

pytestmark = [
    pytest.mark.skipif(
        ENV_NAME not in ("", "v1", "v2"), reason="packaging is checked in the v1 and v2 environments"
    ),
    pytest.mark.timeout(600),
]

# What the fresh environment gets besides the wheel, at this environment's versions.
PINNED = [
    "mcp",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation",
    "opentelemetry-distro",
    "opentelemetry-exporter-otlp-proto-grpc",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-semantic-conventions",
    "opentelemetry-proto",
    "pydantic",
    "wrapt",
]


def find_uv() -> str | None:
    """uv on PATH, else the one scripts/bootstrap.sh installed into .venvs/.tools."""
    tools = ROOT / ".venvs" / ".tools" / "bin" / "uv"
    return shutil.which("uv") or (str(tools) if tools.exists() else None)


@dataclass
class Install:
    dist: Path
    python: Path
    bin: Path
    app: Path


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    uv = find_uv()
    if uv is None:
        skip_or_fail("uv not found (scripts/bootstrap.sh installs it)")
    base = tmp_path_factory.mktemp("fresh")
    dist = base / "dist"
    _run([uv, "build", "--quiet", "--sdist", "--wheel", "--out-dir", str(dist), str(ROOT)])
    venv = base / "venv"
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    constraints = base / "constraints.txt"
    constraints.write_text("".join(f"{n}=={importlib.metadata.version(n)}\n" for n in PINNED))
    wheel = next(dist.glob("*.whl"))
    requirements = ["mcp", "opentelemetry-distro", f"mcp-otel[sdk] @ {wheel.as_uri()}"]
    _run([uv, "pip", "install", "--quiet", "--python", str(python), "-c", str(constraints), *requirements])
    app = base / "app"  # the user's project: two example scripts, nothing of the checkout
    app.mkdir()
    for name in ("stdio_client.py", "weather_server.py"):
        shutil.copy(EXAMPLES / name, app / name)
    yield Install(dist, python, venv / "bin", app)


def _env(**extra: str) -> dict[str, str]:
    env = clean_environ()
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def test_sdist_and_wheel_pass_twine_check_and_hold_what_they_should(installed: Install) -> None:
    artefacts = sorted(str(p) for p in installed.dist.glob("mcp_otel-*"))  # (uv adds a .gitignore)
    assert sorted(Path(p).suffix for p in artefacts) == [".gz", ".whl"], artefacts
    _run([sys.executable, "-m", "twine", "check", "--strict", *artefacts])
    names = zipfile.ZipFile(next(installed.dist.glob("*.whl"))).namelist()
    assert "mcp_otel_autoload.pth" in names  # at the root of site-packages
    assert "mcp_otel/py.typed" in names and "mcp_otel/adapters/mcp_v2.py" in names
    assert not [n for n in names if n.startswith("tests/")]


def test_wheel_install_has_hook_and_entry_points(installed: Install) -> None:
    probe = _run(
        [
            str(installed.python),
            "-c",
            "import importlib.metadata as m, site, sys, mcp_otel, os\n"
            "print(mcp_otel.__file__)\n"
            "print(os.path.exists(os.path.join(site.getsitepackages()[0], 'mcp_otel_autoload.pth')))\n"
            "i = m.entry_points(group='opentelemetry_instrumentor', name='mcp_otel')\n"
            "e = m.entry_points(group='opentelemetry_traces_exporter', name='mcp_otel_tree')\n"
            "print([x.load().__name__ for x in i], [x.load().__name__ for x in e])\n"
            "print(m.distribution('mcp-otel').read_text('direct_url.json'))\n",
        ],
        cwd=installed.app,
        env=_env(),
    ).stdout.splitlines()
    assert probe[0].startswith(str(installed.python.parent.parent)), probe  # the install, not the checkout
    assert probe[1] == "True"
    assert probe[2] == "['McpInstrumentor'] ['ConsoleTreeExporter']"
    assert '"editable"' not in probe[3]


def test_zero_code_with_no_endpoint_prints_the_tree(installed: Install) -> None:
    result = _run(
        [str(installed.python), "stdio_client.py"],
        cwd=installed.app,
        env=_env(MCP_OTEL_AUTO_INSTRUMENT="true"),
    )
    err = result.stderr
    assert result.stdout == ""
    assert "get_weather -> " in err
    assert "└── mcp.session [INTERNAL]" in err and "tools/call get_weather [CLIENT]" in err, err
    # the spawned server's part of the trace, printed by the server, says where it belongs
    assert "tools/call get_weather [SERVER]" in err, err
    assert "continued from remote parent span" in err, err
    assert "Connection refused" not in err and "Failed to export" not in err, err


def test_opentelemetry_instrument_as_documented_prints_the_tree(installed: Install) -> None:
    """README: with no collector, ``OTEL_TRACES_EXPORTER=mcp_otel_tree OTEL_METRICS_EXPORTER=none
    OTEL_LOGS_EXPORTER=none opentelemetry-instrument python agent.py``."""
    env = _env(OTEL_TRACES_EXPORTER="mcp_otel_tree", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none")
    env["PATH"] = f"{installed.bin}{os.pathsep}{env.get('PATH', '')}"
    result = _run(
        [str(installed.bin / "opentelemetry-instrument"), "python", "stdio_client.py"],
        cwd=installed.app,
        env=env,
    )
    err = result.stderr
    assert "get_weather -> " in err
    assert "└── mcp.session [INTERNAL]" in err and "tools/call get_weather [CLIENT]" in err, err
    assert "Connection refused" not in err and "Failed to export" not in err and "Traceback" not in err, err
