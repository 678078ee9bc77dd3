"""Pytest fixtures around the support helpers (imported into tests/conftest.py)."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support.servers import RunningServer, flavour_available, start_http_server, stdio_server_params


@pytest.fixture
def http_server() -> Iterator[Callable[..., RunningServer]]:
    """Factory: ``http_server(flavour, transport="streamable-http", **kwargs) -> RunningServer``.

    Same arguments as `support.servers.start_http_server`. Skips when the flavour is not installed here
    (fastmcp in v1-oldest). Every server it started is stopped (and killed if need be) at teardown; its log
    is printed then, so a failing test's report shows it under "Captured stdout teardown".
    """
    started: list[RunningServer] = []

    def factory(flavour: str, transport: str = "streamable-http", **kwargs: Any) -> RunningServer:
        if not flavour_available(flavour):
            pytest.skip(f"flavour {flavour!r} is not installed in this environment")
        server = start_http_server(flavour, transport, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in reversed(started):
        # Captured output: pytest shows it only when the test fails.
        header = f"--- {server.flavour}/{server.transport} server on port {server.port}: log ---"
        print(f"{header}\n{server.logs()[-4000:]}")
        server.close()


@pytest.fixture
def stdio_params() -> Callable[..., Any]:
    """Factory: ``stdio_params(flavour, **kwargs) -> StdioServerParameters`` (skips a missing flavour)."""

    def factory(flavour: str, **kwargs: Any) -> Any:
        if not flavour_available(flavour):
            pytest.skip(f"flavour {flavour!r} is not installed in this environment")
        return stdio_server_params(flavour, **kwargs)

    return factory


@pytest.fixture
def otlp_receiver() -> Iterator[Any]:
    """A started `support.otlp.OtlpReceiver` (gRPC and HTTP on 127.0.0.1), stopped at teardown."""
    from support.otlp import OtlpReceiver

    with OtlpReceiver() as receiver:
        yield receiver
