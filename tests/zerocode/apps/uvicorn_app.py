"""A streamable-HTTP MCP server hosted by uvicorn the way production runs it, with no instrumentation code
and no signal handling of its own (stopped with SIGTERM, as docker, Kubernetes and systemd stop it):

    python -m uvicorn --app-dir tests/zerocode/apps uvicorn_app:app --port PORT   # the app loads in uvicorn
    python tests/zerocode/apps/uvicorn_app.py PORT                                 # the app calls uvicorn.run

Tools ``add(a, b)`` and ``echo(text)`` (what client_app.py calls), path ``/mcp``. uvicorn catches SIGTERM,
shuts down gracefully and raises SIGTERM again: the process dies of the signal and ``atexit`` never runs.
"""

import importlib.metadata
import sys

if int(importlib.metadata.version("mcp").split(".")[0]) >= 2:
    from mcp.server.mcpserver import MCPServer as Server
else:
    from mcp.server.fastmcp import FastMCP as Server

server = Server("zc-uvicorn")


@server.tool()
def add(a: int, b: int) -> int:
    return a + b


@server.tool()
def echo(text: str) -> str:
    return text


app = server.streamable_http_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
