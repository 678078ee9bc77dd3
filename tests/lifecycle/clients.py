"""One client helper for the lifecycle tests, on both SDK lines: in-process, stdio or streamable HTTP, with
the sampling / elicitation / roots / logging callbacks of tests/servers/lifecycle_server.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import lifecycle_server as ls

from support.env import MCP_MAJOR

LOGS: list[Any] = []

# The server process instruments itself (no exporter): its server->client requests then carry _meta.
INSTRUMENTED_SERVER_ENV = {
    "MCP_OTEL_AUTO_INSTRUMENT": "true",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
}


def stdio_parameters() -> Any:
    """tests/servers/lifecycle_server.py over stdio, instrumenting itself."""
    import sys

    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=sys.executable,
        args=[ls.__file__, "--transport", "stdio"],
        env=dict(INSTRUMENTED_SERVER_ENV),
    )


async def logging_callback(params: Any) -> None:
    LOGS.append(params)


CALLBACKS: dict[str, Any] = {
    "sampling_callback": ls.sampling_callback,
    "elicitation_callback": ls.elicitation_callback,
    "list_roots_callback": ls.list_roots_callback,
    "logging_callback": logging_callback,
}


@asynccontextmanager
async def connect(kind: str, target: Any = None) -> AsyncIterator[Any]:
    """``kind``: ``memory`` (target: a server from ``ls.build()``), ``stdio`` (target: StdioServerParameters)
    or ``http`` (target: the URL). Yields the SDK's session (mcp 1.x ClientSession, mcp 2.x Client)."""
    if MCP_MAJOR >= 2:
        from mcp import Client

        async with Client(target, mode="legacy", log_level="debug", **CALLBACKS) as client:
            yield client
        return
    from mcp import ClientSession

    async with AsyncExitStack() as stack:
        if kind == "memory":
            from mcp.shared.memory import create_connected_server_and_client_session

            session = await stack.enter_async_context(
                create_connected_server_and_client_session(target._mcp_server, **CALLBACKS)
            )
            yield session
            return
        if kind == "stdio":
            from mcp.client.stdio import stdio_client

            read, write = await stack.enter_async_context(stdio_client(target))
        else:
            from mcp.client.streamable_http import streamablehttp_client

            read, write, _ = await stack.enter_async_context(streamablehttp_client(target))
        session = await stack.enter_async_context(ClientSession(read, write, **CALLBACKS))
        await session.initialize()
        yield session
