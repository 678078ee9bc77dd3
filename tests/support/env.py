"""Facts about the test environment (library versions) and the skip-or-fail policy."""

import importlib.metadata
import importlib.util
import os

import pytest


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _major(version: str | None) -> int:
    return int(version.split(".")[0]) if version else 0


ENV_NAME: str = os.environ.get("MCP_OTEL_TEST_ENV", "")
MCP_VERSION: str = _version("mcp") or "0"
MCP_MAJOR: int = _major(MCP_VERSION)
MCP_VERSION_TUPLE: tuple[int, ...] = tuple(int(p) for p in MCP_VERSION.split(".")[:3] if p.isdigit())
FASTMCP_VERSION: str | None = _version("fastmcp") if importlib.util.find_spec("fastmcp") else None
FASTMCP_MAJOR: int = _major(FASTMCP_VERSION)
HAS_FASTMCP: bool = FASTMCP_VERSION is not None
HAS_MCP_OTEL: bool = importlib.util.find_spec("mcp_otel") is not None


def require_all() -> bool:
    """True under CI=true or MCP_OTEL_REQUIRE_ALL=1: a missing tool or library fails instead of skipping."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("MCP_OTEL_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str, *, expected_missing: bool = False) -> None:
    """Skip the test, or fail it under `require_all()` unless the environment is known not to have it.

    `expected_missing` marks gaps by design (e.g. no fastmcp in v1-oldest), which skip even in CI.
    """
    if require_all() and not expected_missing:
        pytest.fail(f"required by CI but unavailable: {reason}")
    pytest.skip(reason)
