"""A plain ``mcp.ClientSession`` over streamable HTTP, with no instrumentation code.

    python examples/weather_server.py &
    MCP_OTEL_AUTO_INSTRUMENT=true python examples/client_session.py [URL]

Prints the trace tree on stderr (no exporter configured); with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set it
exports over OTLP instead. The trace: ``mcp.session`` > ``mcp.connect``, ``initialize``,
``tools/call get_weather``, ``tools/call get_forecast`` (a tool error), ``mcp.cleanup``.
"""

from __future__ import annotations

import sys

import anyio
from mcp import ClientSession

try:
    from mcp.client.streamable_http import streamable_http_client
except ImportError:  # older mcp 1.x releases spell it streamablehttp_client
    from mcp.client.streamable_http import streamablehttp_client as streamable_http_client

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/mcp"


async def main() -> None:
    async with streamable_http_client(URL) as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        result = await session.call_tool("get_weather", {"city": "Paris"})
        print(f"get_weather -> {result.content[0].text}", file=sys.stderr)
        result = await session.call_tool("get_forecast", {"city": "Paris"})
        print(f"get_forecast -> tool error: {result.content[0].text}", file=sys.stderr)


if __name__ == "__main__":
    anyio.run(main)
