"""Version-neutral MCP client helpers: open an initialized `ClientSession` over any transport, read results.

The same calls work with mcp 1.12 (``streamablehttp_client``), 1.30 (``streamable_http_client``) and 2.x.
"""

import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from support.env import MCP_MAJOR

if sys.version_info < (3, 11):  # pragma: no cover - Python 3.10 (v1-oldest)
    from exceptiongroup import BaseExceptionGroup


@dataclass
class McpConnection:
    """An initialized client session plus what the transport knows about it."""

    session: Any  # mcp.ClientSession
    initialize_result: Any
    transport: str
    _get_session_id: Callable[[], str | None] | None = None

    def session_id(self) -> str | None:
        """The streamable-HTTP session id the client holds (mcp 1.x only; None on v2, stdio, SSE, stateless).

        On every line the `whoami` tool returns the id the server sees."""
        return self._get_session_id() if self._get_session_id else None


def _streamable_http_client(url: str) -> Any:
    from mcp.client import streamable_http

    if hasattr(streamable_http, "streamable_http_client"):
        return streamable_http.streamable_http_client(url)
    return streamable_http.streamablehttp_client(url)  # mcp < 1.2x


@contextlib.asynccontextmanager
async def open_connection(
    transport: str,
    target: Any,
    *,
    read_timeout: float | None = None,
    **session_kwargs: Any,
) -> AsyncIterator[McpConnection]:
    """Connect and initialize. `target` is a URL for ``streamable-http``/``sse`` and `StdioServerParameters`
    (see `support.servers.stdio_server_params`) for ``stdio``. `read_timeout` is in seconds for both lines."""
    from mcp import ClientSession

    if transport == "streamable-http":
        transport_cm = _streamable_http_client(target)
    elif transport == "sse":
        from mcp.client.sse import sse_client

        transport_cm = sse_client(target)
    elif transport == "stdio":
        from mcp.client.stdio import stdio_client

        transport_cm = stdio_client(target)
    else:
        raise ValueError(f"unknown transport {transport!r}")

    if read_timeout is not None:
        session_kwargs["read_timeout_seconds"] = (
            timedelta(seconds=read_timeout) if MCP_MAJOR < 2 else read_timeout
        )

    async with transport_cm as streams:
        read, write = streams[0], streams[1]
        get_session_id = streams[2] if len(streams) > 2 else None
        async with ClientSession(read, write, **session_kwargs) as session:
            init = await session.initialize()
            yield McpConnection(session, init, transport, get_session_id)


@contextlib.asynccontextmanager
async def open_session(transport: str, target: Any, **kwargs: Any) -> AsyncIterator[Any]:
    """Like `open_connection`, yielding just the initialized `ClientSession`."""
    async with open_connection(transport, target, **kwargs) as conn:
        yield conn.session


# ------------------------------------------------------------------------------------------------
# Results and errors (v1 camelCase / v2 snake_case, McpError / MCPError)
# ------------------------------------------------------------------------------------------------


def is_error(result: Any) -> bool:
    """`CallToolResult.isError` (v1) / `.is_error` (v2)."""
    value = getattr(result, "is_error", None)
    if value is None:
        value = getattr(result, "isError", None)
    return bool(value)


def text_of(result: Any) -> str:
    """The concatenated text content of a CallToolResult, GetPromptResult or ReadResourceResult."""
    if hasattr(result, "contents"):  # ReadResourceResult
        return "".join(getattr(c, "text", "") or "" for c in result.contents)
    if hasattr(result, "messages"):  # GetPromptResult
        return "".join(getattr(m.content, "text", "") or "" for m in result.messages)
    return "".join(getattr(c, "text", "") or "" for c in result.content)


def structured_of(result: Any) -> Any:
    """Structured content of a tool result, falling back to JSON-decoding its text."""
    value = getattr(result, "structured_content", None)
    if value is None:
        value = getattr(result, "structuredContent", None)
    if value is not None:
        # FastMCP-style servers wrap non-object returns as {"result": ...}
        return value
    return json.loads(text_of(result))


def unwrap(exc: BaseException) -> BaseException:
    """The single leaf of nested (Base)ExceptionGroups, or `exc` itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def mcp_error_types() -> tuple[type[BaseException], ...]:
    """The exception class(es) a client raises for a JSON-RPC error reply."""
    if MCP_MAJOR >= 2:
        from mcp.shared.exceptions import MCPError

        return (MCPError,)
    from mcp.shared.exceptions import McpError

    return (McpError,)


def error_code(exc: BaseException) -> int | None:
    """The JSON-RPC error code of a McpError (v1: `.error.code`) or MCPError (v2: `.code`), else None."""
    exc = unwrap(exc)
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return code if isinstance(code, int) else None


def error_message(exc: BaseException) -> str:
    exc = unwrap(exc)
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        return message
    error = getattr(exc, "error", None)
    return str(getattr(error, "message", None) or exc)
