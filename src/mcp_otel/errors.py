"""Turning an exception or a result into the contract's ``error.type``: one mapping table for all adapters."""

from __future__ import annotations

from dataclasses import dataclass

from mcp_otel import semconv

try:  # Python 3.10 has no builtin ExceptionGroup; anyio depends on the backport there.
    BaseExceptionGroup  # noqa: B018  (probe for the builtin)
except NameError:  # pragma: no cover - 3.10 only
    from exceptiongroup import BaseExceptionGroup  # type: ignore[no-redef]


@dataclass(frozen=True)
class ErrorInfo:
    """What went wrong with one operation, in contract terms.

    Attributes:
        error_type: the ``error.type`` value.
        status_code: the JSON-RPC code as a string when the peer returned one (``rpc.response.status_code``).
        message: a human-readable description for the span status (already bounded by the caller).
        code: the JSON-RPC code as an int, when there is one.
    """

    error_type: str
    status_code: str | None = None
    message: str | None = None
    code: int | None = None

    @property
    def is_timeout(self) -> bool:
        return self.error_type == semconv.ERROR_TIMEOUT

    @property
    def is_session_terminated(self) -> bool:
        return self.error_type == semconv.ERROR_SESSION_TERMINATED


TOOL_ERROR = ErrorInfo(semconv.ERROR_TOOL)


def unwrap_exception_group(exc: BaseException) -> BaseException:
    """The meaningful error inside (nested) ExceptionGroups: the first leaf that is not a cancellation.

    ``async with ClientSession(...)`` and the transports wrap everything in a TaskGroup's ExceptionGroup
    (mcp 1.x and 2.x alike), which would make every failure read ``ExceptionGroup``.
    """
    seen = 0
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions and seen < 32:
        seen += 1
        leaves = list(exc.exceptions)
        meaningful = [e for e in leaves if not _is_cancellation(e)]
        exc = (meaningful or leaves)[0]
    return exc


def _is_cancellation(exc: BaseException) -> bool:
    return type(exc).__name__ in {"CancelledError", "Cancelled"}


def qualified_name(exc: BaseException) -> str:
    """``error.type`` for an exception that carries no protocol code: its qualified class name."""
    cls = type(exc)
    module = cls.__module__
    if module in {"builtins", "__main__"}:
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def from_code(code: int, message: str | None) -> ErrorInfo:
    """A JSON-RPC error reply."""
    return ErrorInfo(str(code), status_code=str(code), message=message, code=code)


def from_exception(exc: BaseException) -> ErrorInfo:
    """An exception without a protocol code (transport failures, bugs, cancellation)."""
    inner = unwrap_exception_group(exc)
    if _is_cancellation(inner):
        return ErrorInfo(semconv.ERROR_CANCELLED, message="cancelled before a response arrived")
    if isinstance(inner, TimeoutError):
        return ErrorInfo(semconv.ERROR_TIMEOUT, message=str(inner) or "timed out")
    auth = _http_auth_error(inner)
    if auth is not None:
        return auth
    if type(inner).__name__ in _CLOSED_STREAM_ERRORS:
        # mcp 1.x: after the transport died (stdio server gone, POST writer failed) the next call hits
        # the closed memory stream.
        return ErrorInfo(semconv.ERROR_CONNECTION_CLOSED, message=f"{type(inner).__name__}: transport closed")
    if type(inner).__module__.startswith("mcp.client.auth"):
        # OAuth errors quote the authorization server's responses (token endpoint bodies): never recorded.
        return ErrorInfo(qualified_name(inner), message="OAuth flow failed")
    return ErrorInfo(qualified_name(inner), message=str(inner) or None)


_CLOSED_STREAM_ERRORS = frozenset({"ClosedResourceError", "BrokenResourceError", "EndOfStream"})

_HTTP_AUTH_ERRORS = {
    401: ErrorInfo(semconv.ERROR_UNAUTHORIZED, message="HTTP 401 Unauthorized"),
    403: ErrorInfo(semconv.ERROR_FORBIDDEN, message="HTTP 403 Forbidden"),
}


def _http_auth_error(exc: BaseException) -> ErrorInfo | None:
    """httpx's (and httpx2's) ``HTTPStatusError`` for a 401/403 the client's auth could not resolve (its
    message holds the URL, so the fixed description replaces it)."""
    if type(exc).__name__ != "HTTPStatusError":
        return None
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return _HTTP_AUTH_ERRORS.get(status) if isinstance(status, int) else None


# mcp 1.x reports its own read timeout with httpx's 408; 2.x with REQUEST_TIMEOUT (-32001).
_TIMEOUT_CODES = frozenset({408, -32001})
# mcp 1.x's streamable-HTTP client turns an HTTP 404 into code +32600 "Session terminated"; mcp 2.x
# delivers the server's -32600 "Session not found" (or synthesises "Session terminated").
_SESSION_GONE_MESSAGES = frozenset({"Session not found", "Session terminated"})


def rpc_error(exc: BaseException) -> tuple[int, str] | None:
    """(code, message) of an mcp 1.x ``McpError`` (``.error.code``) or 2.x ``MCPError`` (``.code``)."""
    name = type(exc).__name__
    if name == "MCPError":
        code, message = getattr(exc, "code", None), getattr(exc, "message", None)
    elif name == "McpError":
        error = getattr(exc, "error", None)
        code, message = getattr(error, "code", None), getattr(error, "message", None)
    else:
        return None
    if not isinstance(code, int):
        return None
    return code, str(message) if message is not None else ""


def classify(exc: BaseException, *, session_id_known: bool = True) -> ErrorInfo:
    """``error.type`` for an exception out of an MCP client call, on either SDK line.

    ``session_id_known``: whether the transport holds a session id; a -32600 "Session not found" without
    one is an ordinary invalid request, not a dropped session.
    """
    inner = unwrap_exception_group(exc)
    found = rpc_error(inner)
    if found is None:
        return from_exception(inner)
    code, message = found
    if code in _TIMEOUT_CODES and (code != 408 or message.startswith("Timed out")):
        return ErrorInfo(semconv.ERROR_TIMEOUT, message=message)
    if code == 32600 or (code == -32600 and session_id_known and message in _SESSION_GONE_MESSAGES):
        return ErrorInfo(semconv.ERROR_SESSION_TERMINATED, status_code=str(code), message=message, code=code)
    if code == -32000 and message.startswith("Connection closed"):
        # Synthesised locally when the transport went away; no peer answered.
        return ErrorInfo(semconv.ERROR_CONNECTION_CLOSED, message=message, code=code)
    return from_code(code, message)


def is_cancellation(exc: BaseException) -> bool:
    """Whether the exception (or the group's meaningful leaf) is a task cancellation."""
    return _is_cancellation(unwrap_exception_group(exc))
