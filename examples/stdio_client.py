"""A client that spawns the weather server over stdio: the server joins the client's trace.

    MCP_OTEL_AUTO_INSTRUMENT=true python examples/stdio_client.py

No instrumentation code in either process, and no ``env`` in the server parameters: the instrumented
client passes ``MCP_OTEL_AUTO_INSTRUMENT``, the ``OTEL_*`` settings and the trace context (``TRACEPARENT``,
the client's ``mcp.connect`` span) to the server it spawns, so the server's spans land in the same trace
under its own ``service.name`` (``weather_server``). ``MCP_OTEL_STDIO_PROPAGATION=false`` turns that off.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

SERVER = StdioServerParameters(
    command=sys.executable,
    args=[str(Path(__file__).with_name("weather_server.py")), "--transport", "stdio"],
)


async def main() -> None:
    async with stdio_client(SERVER) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool("get_weather", {"city": "Nairobi"})
        print(f"get_weather -> {result.content[0].text}", file=sys.stderr)


if __name__ == "__main__":
    anyio.run(main)
