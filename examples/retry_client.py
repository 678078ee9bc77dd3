"""The seed write-up's ``call_tool_with_retry``, with mcp-otel's instrumented retry helper.

    python examples/weather_server.py &
    MCP_OTEL_AUTO_INSTRUMENT=true python examples/retry_client.py [HOST [PORT]]

Each attempt opens its own session through an ``init_session``-style helper, so a session the server has
dropped ("Session terminated") is replaced, not reused. ``call_with_retry`` retries connection and session
errors with exponential backoff, never tool errors; every request of an attempt carries
``mcp_otel.retry.attempt`` and ``mcp_otel.retry.max_attempts``, and attempts from the second on count in
``mcp_otel.client.retries``. (The seed's loop matched ``str(e)``; errors raised inside ``async with
ClientSession`` arrive wrapped in an ExceptionGroup, so it never retried. ``is_retryable`` looks inside.)
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import ClientSession

try:
    from mcp.client.streamable_http import streamable_http_client
except ImportError:  # older mcp 1.x releases spell it streamablehttp_client
    from mcp.client.streamable_http import streamablehttp_client as streamable_http_client

from mcp_otel import call_with_retry, trace_session

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8000


@trace_session
@asynccontextmanager
async def init_session(host: str, port: int, transport: str = "streamable-http") -> AsyncIterator[Any]:
    async with streamable_http_client(f"http://{host}:{port}/mcp") as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            yield session


async def call_tool_with_retry(tool: str, arguments: dict[str, Any], max_attempts: int = 3) -> Any:
    async def attempt() -> Any:
        async with init_session(HOST, PORT, "streamable-http") as session:
            return await session.call_tool(tool, arguments)

    return await call_with_retry(attempt, max_attempts=max_attempts, initial_delay=0.5)


async def main() -> None:
    result = await call_tool_with_retry("get_weather", {"city": "Lyon"})
    print(f"get_weather -> {result.content[0].text}", file=sys.stderr)


if __name__ == "__main__":
    anyio.run(main)
