"""Fixtures for the lifecycle tests: the lifecycle test server (tests/servers/lifecycle_server.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.servers import RunningServer, make_http_server

SCRIPT = Path(__file__).resolve().parents[1] / "servers" / "lifecycle_server.py"
OAUTH_SCRIPT = SCRIPT.parent / "oauth_server.py"
sys.path.insert(0, str(SCRIPT.parent))

from clients import INSTRUMENTED_SERVER_ENV  # noqa: E402 (after the path set-up above)


@pytest.fixture
def lifecycle_server() -> Iterator[Callable[..., RunningServer]]:
    """Factory: ``lifecycle_server(*args)`` starts lifecycle_server.py over streamable HTTP on a free port."""
    started: list[RunningServer] = []

    def factory(*args: str, env: dict[str, str] | None = None) -> RunningServer:
        server = make_http_server("sdk", "streamable-http", env={**INSTRUMENTED_SERVER_ENV, **(env or {})})
        server.argv = [str(SCRIPT), "--transport", "streamable-http", "--port", str(server.port), *args]
        started.append(server)
        return server.start()

    yield factory
    for server in reversed(started):
        print(f"--- lifecycle server on port {server.port}: log ---\n{server.logs()[-4000:]}")
        server.close()


@pytest.fixture
def oauth_server() -> Iterator[Callable[..., RunningServer]]:
    """Factory: ``oauth_server(*args)`` starts the authorization server tests/servers/oauth_server.py."""
    started: list[RunningServer] = []

    def factory(*args: str) -> RunningServer:
        server = make_http_server("sdk", "streamable-http")
        server.argv = [str(OAUTH_SCRIPT), "--port", str(server.port), *args]
        started.append(server)
        return server.start()

    yield factory
    for server in reversed(started):
        print(f"--- authorization server on port {server.port}: log ---\n{server.logs()[-4000:]}")
        server.close()
