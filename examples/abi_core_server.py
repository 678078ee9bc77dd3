"""An ABI-Core style agent registry: an MCP server whose ``find_agent`` tool picks an agent for a query.

    MCP_OTEL_AUTO_INSTRUMENT=true python examples/abi_core_server.py [--port 10100]

ABI-Core's client (``abi_core.abi_mcp.client.find_agent``) calls ``find_agent`` with ``query``,
``exclude_ephemeral`` and an ``_request_context`` argument, which this server ignores. No instrumentation
code: ``MCP_OTEL_AUTO_INSTRUMENT=true`` does it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
from typing import Any

MCP_MAJOR = int(importlib.metadata.version("mcp").split(".")[0])

AGENTS = [
    {"name": "planner", "description": "breaks a task into steps", "skills": ["plan", "schedule"]},
    {"name": "weather", "description": "answers weather questions", "skills": ["weather", "forecast"]},
    {"name": "semantic", "description": "queries the semantic layer", "skills": ["sql", "bigquery"]},
]


def build_server() -> Any:
    if MCP_MAJOR >= 2:
        from mcp.server.mcpserver import MCPServer

        server = MCPServer("abi-agent-registry")
    else:
        from mcp.server.fastmcp import FastMCP

        server = FastMCP("abi-agent-registry")

    @server.tool()
    def find_agent(query: str, exclude_ephemeral: bool = False) -> str:
        """The agent card best matching a natural-language query."""
        words = set(query.lower().split())
        best = max(AGENTS, key=lambda agent: len(words & set(agent["skills"])))
        return json.dumps(best)

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=10100)
    args = parser.parse_args()
    import uvicorn

    logging.getLogger("mcp").setLevel(logging.WARNING)
    uvicorn.run(build_server().streamable_http_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
