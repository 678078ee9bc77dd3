"""An MCP client with no instrumentation code at all, for the zero-code tests.

    python client_app.py streamable-http http://127.0.0.1:PORT/mcp
    python client_app.py sse http://127.0.0.1:PORT/sse
    python client_app.py stdio FLAVOUR        # spawns tests/servers/mcp_server.py over stdio, env=None

It initializes, calls ``add(1, 2)`` and ``echo("zero-code")``, checks the answers and exits 0; it writes
nothing to stdout (the tests assert that the start-up hook does not either).
"""

import sys
from pathlib import Path

import anyio
from mcp import ClientSession

SERVER_SCRIPT = Path(__file__).resolve().parents[2] / "servers" / "mcp_server.py"


def transport(kind: str, target: str):
    if kind == "streamable-http":
        from mcp.client import streamable_http

        if hasattr(streamable_http, "streamable_http_client"):
            return streamable_http.streamable_http_client(target)
        return streamable_http.streamablehttp_client(target)
    if kind == "sse":
        from mcp.client.sse import sse_client

        return sse_client(target)
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    args = [str(SERVER_SCRIPT), "--flavour", target, "--transport", "stdio"]
    return stdio_client(StdioServerParameters(command=sys.executable, args=args))


def text(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def main(kind: str, target: str) -> None:
    async with transport(kind, target) as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        assert text(await session.call_tool("add", {"a": 1, "b": 2})) == "3"
        assert text(await session.call_tool("echo", {"text": "zero-code"})) == "zero-code"
    print(f"client_app: {kind} ok", file=sys.stderr)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
