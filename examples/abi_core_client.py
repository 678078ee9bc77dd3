"""ABI-Core's own client helpers, unchanged, traced with no code (needs ``abi-core-ai``, which pins mcp < 2).

    python examples/abi_core_server.py &
    MCP_OTEL_AUTO_INSTRUMENT=true python examples/abi_core_client.py [HOST [PORT]]

``init_session(host, port, transport)`` becomes the ``mcp.session`` span (with ``server.address``,
``server.port`` and ``mcp_otel.transport``); ``find_agent`` is its ``tools/call find_agent`` request.
"""

from __future__ import annotations

import sys

import anyio
from abi_core.abi_mcp import client

HOST = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 10100


async def main() -> None:
    async with client.init_session(HOST, PORT, "streamable-http") as session:
        result = await client.find_agent(session, "what is the weather forecast for Paris", ctx={})
        print(f"find_agent -> {result.content[0].text}", file=sys.stderr)


if __name__ == "__main__":
    anyio.run(main)
