"""Fixtures for the failure tests: a fault-injecting variant of the test server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.servers import RunningServer, make_http_server

FAULT_SCRIPT = Path(__file__).resolve().parents[1] / "servers" / "fault_server.py"


@pytest.fixture
def fault_server() -> Iterator[Callable[..., RunningServer]]:
    """Factory: a streamable-HTTP SDK server run by fault_server.py (env selects the fault)."""
    started: list[RunningServer] = []

    def factory(env: dict[str, str] | None = None, **kwargs: Any) -> RunningServer:
        server = make_http_server("sdk", "streamable-http", env=env, **kwargs)
        server.argv[0] = str(FAULT_SCRIPT)
        started.append(server)
        return server.start()

    yield factory
    for server in started:
        server.close()
