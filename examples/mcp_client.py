"""``mcp.Client`` (mcp 2.x), with no instrumentation code.

    python examples/weather_server.py &
    MCP_OTEL_AUTO_INSTRUMENT=true python examples/mcp_client.py [URL]

``Client(url)`` probes ``server/discover`` and falls back to the ``initialize`` handshake on servers that
predate it: both requests show in the trace, under one ``mcp.session``.
"""

from __future__ import annotations

import importlib.metadata
import sys

import anyio

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/mcp"


async def main() -> None:
    from mcp import Client

    async with Client(URL) as client:
        result = await client.call_tool("get_weather", {"city": "Lisbon"})
        print(f"get_weather -> {result.content[0].text}", file=sys.stderr)


if __name__ == "__main__":
    if int(importlib.metadata.version("mcp").split(".")[0]) < 2:
        sys.exit("mcp_client.py needs mcp 2.x (mcp.Client); see client_session.py for mcp 1.x")
    anyio.run(main)
