"""In-process MCP servers and sessions for the fast behaviour suite, for whichever mcp line is installed.

``open_session(server)`` yields an object with the calls the tests need, so one suite runs on both lines:
mcp 1.x through ``create_connected_server_and_client_session`` (a real ClientSession over memory
streams), mcp 2.x through ``mcp.Client(server, mode=...)`` (legacy: the JSON-RPC dispatcher path; auto:
the 2026-07-28 in-process path).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from support.env import MCP_MAJOR

# Every in-process server records the _meta it saw per tool call, for propagation tests.
SEEN_META: list[dict[str, Any]] = []
# Streams the `leaky` tool created and never closed.
LEAKED: list[Any] = []


def build_server(name: str = "inproc") -> Any:
    """An SDK server (mcp 1.x FastMCP / mcp 2.x MCPServer) with the standard tools."""
    if MCP_MAJOR >= 2:
        from mcp.server.mcpserver import Context, MCPServer
        from mcp.server.mcpserver.exceptions import ToolError

        server = MCPServer(name)
    else:
        from mcp.server.fastmcp import Context, FastMCP
        from mcp.server.fastmcp.exceptions import ToolError

        server = FastMCP(name)

    @server.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool()
    def fail_tool() -> str:
        raise ToolError("the tool failed")

    @server.tool()
    async def slow(seconds: float) -> str:
        await anyio.sleep(seconds)
        return "done"

    @server.tool()
    def show_meta(ctx: Context) -> str:
        meta = ctx.request_context.meta
        if meta is not None and not isinstance(meta, dict):
            meta = meta.model_dump()
        SEEN_META.append(dict(meta or {}))
        return "ok"

    @server.tool()
    def leaky() -> str:
        """Creates a stream pair and never closes it (kept alive in LEAKED)."""
        LEAKED.append(anyio.create_memory_object_stream(1))
        return "leaked"

    @server.prompt()
    def greet(name: str) -> str:
        return f"hello {name}"

    return server


class Session:
    """The calls a test makes, the same on both lines."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return await self.inner.call_tool(name, arguments or {}, **kwargs)

    async def read_resource(self, uri: str) -> Any:
        if MCP_MAJOR >= 2:
            return await self.inner.read_resource(uri)
        from pydantic import AnyUrl

        return await self.inner.read_resource(AnyUrl(uri))

    async def get_prompt(self, name: str, arguments: dict[str, str]) -> Any:
        return await self.inner.get_prompt(name, arguments)

    async def list_tools(self) -> Any:
        return await self.inner.list_tools()


def is_error(result: Any) -> bool:
    return bool(getattr(result, "is_error", None) or getattr(result, "isError", None))


def error_code(exc: BaseException) -> int | None:
    """The JSON-RPC code of an McpError (1.x) / MCPError (2.x)."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    return getattr(getattr(exc, "error", None), "code", None)


@asynccontextmanager
async def open_session(
    server: Any, *, mode: str = "legacy", read_timeout: float | None = None
) -> "AsyncIterator[Session]":
    if MCP_MAJOR >= 2:
        from mcp import Client

        async with Client(server, mode=mode, read_timeout_seconds=read_timeout) as client:
            yield Session(client)
    else:
        from datetime import timedelta

        from mcp.shared.memory import create_connected_server_and_client_session

        lowlevel = getattr(server, "_mcp_server", server)
        timeout = timedelta(seconds=read_timeout) if read_timeout is not None else None
        async with create_connected_server_and_client_session(
            lowlevel, read_timeout_seconds=timeout
        ) as session:
            yield Session(session)
