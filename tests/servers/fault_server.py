"""tests/servers/mcp_server.py with faults the failure tests reproduce.

Environment:
- ``MCP_TEST_PID_FILE``: write this process's pid there at start (to kill a stdio server mid-request).
- ``MCP_TEST_FAIL_TOOL_CALLS=N``: the first N ``tools/call`` POSTs are answered like an expired session
  (HTTP 404 with the SDK's JSON-RPC body ``-32600 Session not found``), whatever session they carry.
- ``MCP_TEST_HTTP_500_TOOL=name``: every ``tools/call`` of that tool gets a plain-text HTTP 500.

Arguments are those of mcp_server.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mcp_server


class FaultyToolCalls:
    """ASGI middleware that fails selected tools/call POSTs before the MCP app sees them."""

    def __init__(self, app: Any, fail_first: int, http_500_tool: str | None) -> None:
        self.app = app
        self.remaining = fail_first
        self.http_500_tool = http_500_tool

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        if isinstance(payload, dict) and payload.get("method") == "tools/call":
            tool = (payload.get("params") or {}).get("name")
            if self.http_500_tool and tool == self.http_500_tool:
                await _respond(send, 500, b"internal error", b"text/plain")
                return
            if self.remaining > 0:
                self.remaining -= 1
                error = {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32600, "message": "Session not found"},
                }
                await _respond(send, 404, json.dumps(error).encode(), b"application/json")
                return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _respond(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    pid_file = os.environ.get("MCP_TEST_PID_FILE")
    if pid_file:
        Path(pid_file).write_text(str(os.getpid()))
    fail_first = int(os.environ.get("MCP_TEST_FAIL_TOOL_CALLS", "0"))
    http_500_tool = os.environ.get("MCP_TEST_HTTP_500_TOOL")
    if fail_first or http_500_tool:
        original = mcp_server.Flavour.__init__

        def patched(self: Any, run_stdio: Any, http_app: Any) -> None:
            original(self, run_stdio, lambda *a: FaultyToolCalls(http_app(*a), fail_first, http_500_tool))

        mcp_server.Flavour.__init__ = patched  # type: ignore[method-assign]
    mcp_server.main()


if __name__ == "__main__":
    main()
