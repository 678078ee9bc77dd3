"""A stdio MCP server whose one tool, ``environment``, returns the process's environment as JSON.

Used to check what an instrumented client puts into a stdio server's environment. Writes nothing to
stdout but the protocol.
"""

import importlib.metadata
import json
import os

import anyio

MCP_MAJOR = int(importlib.metadata.version("mcp").split(".")[0])


def build():  # FastMCP (mcp 1.x) or MCPServer (mcp 2.x)
    if MCP_MAJOR >= 2:
        from mcp.server.mcpserver import MCPServer

        app = MCPServer("env-server")
    else:
        from mcp.server.fastmcp import FastMCP

        app = FastMCP("env-server")

    @app.tool()
    def environment() -> str:
        """This process's environment variables, as a JSON object."""
        return json.dumps(dict(os.environ))

    return app


if __name__ == "__main__":
    anyio.run(build().run_stdio_async)
