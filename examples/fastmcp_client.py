"""``fastmcp.Client``, with no instrumentation code.

    python examples/weather_server.py &
    MCP_OTEL_AUTO_INSTRUMENT=true python examples/fastmcp_client.py [URL]

One ``mcp.session`` for the ``async with`` block, one CLIENT span per call (FastMCP's own client span is
adopted, not duplicated), the failing tool marked ``error.type=tool_error``.
"""

from __future__ import annotations

import sys

import anyio
from fastmcp import Client

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/mcp"


async def main() -> None:
    async with Client(URL) as client:
        result = await client.call_tool("get_weather", {"city": "Oslo"})
        print(f"get_weather -> {result.content[0].text}", file=sys.stderr)
        failed = await client.call_tool("get_forecast", {"city": "Oslo"}, raise_on_error=False)
        print(f"get_forecast -> tool error: {failed.content[0].text}", file=sys.stderr)


if __name__ == "__main__":
    anyio.run(main)
