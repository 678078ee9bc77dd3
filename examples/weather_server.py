"""An MCP server for the examples: ``get_weather(city)`` and a failing ``get_forecast(city)``.

    MCP_OTEL_AUTO_INSTRUMENT=true python examples/weather_server.py                 # http://127.0.0.1:8000/mcp
    MCP_OTEL_AUTO_INSTRUMENT=true python examples/weather_server.py --port 8001
    python examples/weather_server.py --transport stdio                             # for stdio_client.py

No instrumentation code: with ``MCP_OTEL_AUTO_INSTRUMENT=true`` the server traces itself; its
``service.name`` defaults to ``weather_server`` (or set ``OTEL_SERVICE_NAME``). Built with the mcp SDK's
own server (``FastMCP`` on mcp 1.x, ``MCPServer`` on mcp 2.x); logs go to stderr, never stdout.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
from typing import Any

import anyio

MCP_MAJOR = int(importlib.metadata.version("mcp").split(".")[0])


def build_server() -> Any:
    if MCP_MAJOR >= 2:
        from mcp.server.mcpserver import MCPServer
        from mcp.server.mcpserver.exceptions import ToolError

        server = MCPServer("weather")
    else:
        from mcp.server.fastmcp import FastMCP
        from mcp.server.fastmcp.exceptions import ToolError

        server = FastMCP("weather")

    @server.tool()
    def get_weather(city: str) -> str:
        """Today's weather in a city."""
        return f"sunny in {city}"

    @server.tool()
    def get_forecast(city: str) -> str:
        """Tomorrow's forecast: the forecast service is down, so this tool always fails."""
        raise ToolError(f"forecast service unavailable for {city}")

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transport", choices=["streamable-http", "stdio"], default="streamable-http")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    server = build_server()
    if args.transport == "stdio":
        anyio.run(server.run_stdio_async)
        return
    import uvicorn

    logging.getLogger("mcp").setLevel(logging.WARNING)
    uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
