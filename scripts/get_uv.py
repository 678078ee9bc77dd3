"""Put uv into DIR/bin from its wheel on the package index, with the standard library only.

scripts/bootstrap.sh uses this when there is no uv on PATH and ``python3 -m venv`` fails: a stock Debian or
Ubuntu python3 has neither venv nor pip (python3-venv and python3-pip are separate packages), and the
system Python is "externally managed", so nothing is installed into it. uv's wheel holds one static
binary: download it (the index in UV_INDEX_URL or PIP_INDEX_URL, else PyPI; the JSON simple API,
PEP 691), check its sha256, and copy the binary out.

    python3 scripts/get_uv.py .venvs/.tools
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import stat
import sys
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

_WHEEL = re.compile(r"^uv-(?P<version>\d+(?:\.\d+)*)-py3-none-(?P<platforms>.+)\.whl$")
_ARCH = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def platform_wanted(system: str, machine: str, libc: str) -> tuple[str, str]:
    """(platform-tag prefix, architecture) of the wheel this machine runs."""
    arch = _ARCH.get(machine.lower(), machine.lower())
    if system == "Darwin":
        return "macosx", "arm64" if arch == "aarch64" else arch
    if system == "Linux":
        return ("manylinux" if libc in ("glibc", "") else "musllinux"), arch
    raise SystemExit(f"get_uv: no uv wheel for {system}; install uv yourself (pipx install uv)")


def choose_wheel(files: list[dict[str, object]], system: str, machine: str, libc: str) -> dict[str, object]:
    """The newest non-yanked uv wheel for this platform among the index's files."""
    prefix, arch = platform_wanted(system, machine, libc)
    best: tuple[tuple[int, ...], dict[str, object]] | None = None
    for entry in files:
        match = _WHEEL.match(str(entry.get("filename", "")))
        if match is None or entry.get("yanked"):
            continue
        tags = match["platforms"].split(".")
        if not any(t.startswith(prefix) and (t.endswith(arch) or t.endswith("universal2")) for t in tags):
            continue
        version = tuple(int(part) for part in match["version"].split("."))
        if best is None or version > best[0]:
            best = (version, entry)
    if best is None:
        raise SystemExit(f"get_uv: no uv wheel for {prefix} {arch} on the index")
    return best[1]


def main(target: str) -> int:
    index = (
        os.environ.get("UV_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple"
    ).rstrip("/")
    request = urllib.request.Request(
        f"{index}/uv/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    libc = platform.libc_ver()[0]
    wheel = choose_wheel(files, platform.system(), platform.machine(), libc)
    url = urllib.parse.urljoin(f"{index}/uv/", str(wheel["url"]))
    print(f"get_uv: downloading {wheel['filename']}", file=sys.stderr)
    with urllib.request.urlopen(url, timeout=300) as response:
        data = response.read()
    hashes = wheel.get("hashes")
    expected = hashes.get("sha256") if isinstance(hashes, dict) else None
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise SystemExit(f"get_uv: sha256 mismatch for {wheel['filename']}")
    bindir = Path(target) / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if re.fullmatch(r"uv-[^/]+\.data/scripts/(uv|uvx)", name):
                path = bindir / name.rsplit("/", 1)[1]
                path.write_bytes(archive.read(name))
                path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    if not (bindir / "uv").exists():
        raise SystemExit(f"get_uv: {wheel['filename']} has no uv binary")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".venvs/.tools"))
