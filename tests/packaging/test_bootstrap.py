"""``make demo`` / ``make test`` on a machine without pyenv and without uv (issue 13, item 2).

A copy of the repository's build inputs in a temporary folder, run with PATH stripped to the system's
``/usr/bin:/bin`` (no pyenv shims, no uv): bootstrap installs uv into ``.venvs/.tools`` with the system
``python3 -m venv`` (never ``pip install`` into the externally managed system Python), finds the
interpreter, and builds a working environment; a python3 without venv or pip (stock Debian) gets uv from
its wheel (scripts/get_uv.py); an environment whose Python is missing fails with the commands that
install it, and the demo's ``MCP_OTEL_ANY_PYTHON=1`` falls back to the system python3.

Runs once per ``make test`` (v1 environment); it needs a Debian-like /usr/bin/python3 with the venv module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.env import ENV_NAME, skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PATH = "/usr/bin:/bin"

pytestmark = [
    pytest.mark.skipif(ENV_NAME not in ("", "v1"), reason="bootstrap is checked once, in the v1 environment"),
    pytest.mark.timeout(600),
]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    system = Path("/usr/bin/python3")
    if not system.exists() or subprocess.run([system, "-c", "import ensurepip, venv"]).returncode != 0:
        skip_or_fail("a system /usr/bin/python3 with the venv module (Debian: python3-venv)")
    copy = tmp_path_factory.mktemp("checkout")
    for name in ("scripts", "src", "tests/requirements", "benchmarks/requirements"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "Makefile"):
        shutil.copy(ROOT / name, copy / name)
    return copy


def _bootstrap(checkout: Path, name: str, **extra: str) -> subprocess.CompletedProcess[str]:
    # the machine's settings (certificates, proxies, caches) stay; pyenv, virtualenvs and MCP/OTel go
    drop = ("PYENV", "VIRTUAL_ENV", "OTEL_", "MCP_OTEL_", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = SYSTEM_PATH
    env.update(extra)
    return subprocess.run(
        ["bash", "scripts/bootstrap.sh", name],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )


def test_builds_without_pyenv_or_uv_on_path(checkout: Path) -> None:
    result = _bootstrap(checkout, "v1")
    assert result.returncode == 0, result.stderr
    assert "no uv on PATH; installing it into .venvs/.tools" in result.stderr
    assert (checkout / ".venvs/.tools/bin/uv").exists()
    venv = checkout / result.stdout.strip()
    probe = subprocess.run(
        [
            venv / "bin/python",
            "-c",
            "import sys, mcp, mcp_otel, fastmcp; print(sys.version_info[:2], mcp_otel.__file__)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert "(3, 11)" in probe.stdout and str(checkout / "src") in probe.stdout  # Debian 12's python3.11
    again = _bootstrap(checkout, "v1")  # reused: no second uv install, no rebuild
    assert again.returncode == 0 and "installing" not in again.stderr and "building" not in again.stderr


def test_missing_interpreter_says_how_to_get_it_and_the_demo_falls_back(checkout: Path) -> None:
    if not (checkout / ".venvs/.tools/bin/uv").exists():
        pytest.skip("needs the tools environment of test_builds_without_pyenv_or_uv_on_path")
    if shutil.which("python3.13", path=SYSTEM_PATH):
        pytest.skip("this system has Python 3.13 in /usr/bin")
    missing = _bootstrap(
        checkout, "v2", MCP_OTEL_BOOTSTRAP_DRY_RUN="1", UV_PYTHON_INSTALL_DIR=str(checkout / "none")
    )
    assert missing.returncode == 2
    assert "environment 'v2' needs Python 3.13" in missing.stderr
    assert "uv python install 3.13" in missing.stderr and "pyenv install 3.13" in missing.stderr
    demo = _bootstrap(
        checkout,
        "v2",
        MCP_OTEL_BOOTSTRAP_DRY_RUN="1",
        MCP_OTEL_ANY_PYTHON="1",
        UV_PYTHON_INSTALL_DIR=str(checkout / "none"),
    )
    assert demo.returncode == 0, demo.stderr
    assert "python=/usr/bin/python3\n" in demo.stdout
    assert "no Python 3.13 found; using /usr/bin/python3" in demo.stderr


def test_python3_without_venv_or_pip_gets_uv_from_its_wheel(tmp_path: Path, checkout: Path) -> None:
    """A stock Debian python3 (no python3-venv, no pip): uv's binary comes out of its wheel."""
    fake = tmp_path / "bin"
    fake.mkdir()
    python3 = fake / "python3"  # the system python3, with `-m venv` failing as it does without python3-venv
    python3.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n'
        '  echo "The virtual environment was not created successfully because ensurepip is not available." >&2\n'
        "  exit 1\n"
        "fi\n"
        'exec /usr/bin/python3 "$@"\n'
    )
    python3.chmod(0o755)
    shutil.rmtree(checkout / ".venvs" / ".tools", ignore_errors=True)
    result = _bootstrap(checkout, "v1", MCP_OTEL_BOOTSTRAP_DRY_RUN="1", PATH=f"{fake}:{SYSTEM_PATH}")
    assert result.returncode == 0, result.stderr
    assert "get_uv: downloading uv-" in result.stderr
    assert f"uv={checkout}/.venvs/.tools/bin/uv" in result.stdout
    version = subprocess.run([checkout / ".venvs/.tools/bin/uv", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("uv ")


@pytest.mark.parametrize(
    ("system", "machine", "libc", "expected"),
    [
        ("Linux", "x86_64", "glibc", "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        ("Linux", "aarch64", "glibc", "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"),
        ("Linux", "x86_64", "", "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        ("Linux", "x86_64", "musl", "uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl"),
        ("Darwin", "arm64", "", "uv-0.13.9-py3-none-macosx_11_0_arm64.whl"),
    ],
)
def test_get_uv_picks_the_newest_wheel_for_the_platform(
    system: str, machine: str, libc: str, expected: str
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("get_uv", ROOT / "scripts" / "get_uv.py")
    assert spec is not None and spec.loader is not None
    get_uv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(get_uv)
    names = [
        "uv-0.13.8-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl",
        "uv-0.13.9-py3-none-macosx_11_0_arm64.whl",
        "uv-0.13.9-py3-none-macosx_10_12_x86_64.whl",
        "uv-0.13.9.tar.gz",
        "uv-0.14.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ]
    files = [{"filename": n, "url": n, "yanked": n.startswith("uv-0.14")} for n in names]
    assert get_uv.choose_wheel(files, system, machine, libc)["filename"] == expected
