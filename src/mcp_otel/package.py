"""The libraries this instrumentation applies to (read by ``opentelemetry-instrument``)."""

from __future__ import annotations

import importlib.metadata

_instruments = ("mcp >= 1.12.4",)


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (None when it is not installed), read from the header of
    its metadata only.

    ``importlib.metadata.version()`` parses the whole METADATA file with the ``email`` package (mcp's holds its
    README): its first call costs 20-70 ms, paid by every instrumented process at ``import mcp``.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for name in ("METADATA", "PKG-INFO"):
        text = dist.read_text(name)
        if not text:
            continue
        for line in text.splitlines():
            if not line.strip():
                break  # the end of the headers
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return str(dist.version)
