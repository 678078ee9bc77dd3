"""A pooled session: one MCP session opened once and shared by many requests from the application.

    python examples/weather_server.py &
    MCP_OTEL_AUTO_INSTRUMENT=true python examples/pooled_session.py [HOST [PORT]]

``init_session`` is an application helper in the style of ABI-Core's; ``@trace_session`` makes it the
owner of ``mcp.session`` (host, port, transport), with the transport and ``ClientSession`` inside joining
it. The pool keeps that session open across requests, each handled under the application's own span:
those requests are children of the application's span and carry a *link* to ``mcp.session`` (a session
span is never made current: it outlives the requests and is shared by them).

Compare the pool in "MCP Session Management Best Practices": its ``get_session`` leaves
``init_session``'s ``async with`` after every call, so each call opens and closes a session of its own,
as its trace shows at a glance (one ``mcp.session`` per call).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
from mcp import ClientSession

try:
    from mcp.client.streamable_http import streamable_http_client
except ImportError:  # older mcp 1.x releases spell it streamablehttp_client
    from mcp.client.streamable_http import streamablehttp_client as streamable_http_client
from opentelemetry import trace

from mcp_otel import trace_session

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
tracer = trace.get_tracer("pooled-session-example")


@trace_session
@asynccontextmanager
async def init_session(host: str, port: int, transport: str = "streamable-http") -> AsyncIterator[Any]:
    if transport != "streamable-http":
        raise ValueError(f"Unsupported transport type: {transport}")
    async with streamable_http_client(f"http://{host}:{port}/mcp") as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            yield session


class MCPConnectionPool:
    """One session, opened once (``open()`` or first use) and reused until ``close()``; calls take turns."""

    def __init__(self, host: str, port: int, transport: str = "streamable-http") -> None:
        self.host, self.port, self.transport = host, port, transport
        self._stack: AsyncExitStack | None = None
        self._session: Any = None
        self._lock = anyio.Lock()

    async def open(self) -> None:
        """Open the session now (at start-up) rather than inside the first request's span."""
        await self._get_session()

    async def _get_session(self) -> Any:
        if self._session is None:
            self._stack = AsyncExitStack()
            self._session = await self._stack.enter_async_context(
                init_session(self.host, self.port, self.transport)
            )
        return self._session

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        async with self._lock:
            session = await self._get_session()
            return await session.call_tool(name, arguments)

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._session = self._stack, None, None
            await stack.aclose()


async def main() -> None:
    pool = MCPConnectionPool(HOST, PORT)
    try:
        await pool.open()
        for city in ("Paris", "Lima", "Kyoto"):
            with tracer.start_as_current_span(f"handle query {city}"):
                result = await pool.call_tool("get_weather", {"city": city})
                print(f"get_weather -> {result.content[0].text}", file=sys.stderr)
    finally:
        await pool.close()


if __name__ == "__main__":
    anyio.run(main)
