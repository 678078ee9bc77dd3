"""Turning an exception or a result into the contract's ``error.type``: one mapping table for all adapters."""

from __future__ import annotations

import re

from mcp_otel import semconv

try:  # Python 3.10 has no builtin ExceptionGroup; anyio depends on the backport there.
    BaseExceptionGroup  # noqa: B018  (probe for the builtin)
except NameError:  # pragma: no cover - 3.10 only
    from exceptiongroup import BaseExceptionGroup  # type: ignore[no-redef,unused-ignore]


class ErrorInfo:
    """What went wrong with one operation, in contract terms (never changed once built).

    Attributes:
        error_type: the ``error.type`` value.
        status_code: the JSON-RPC code as a string when the peer returned one (``rpc.response.status_code``).
        message: the span status description that may always be recorded: a fixed description, or the
            message of the library or transport (scrubbed and bounded by the caller).
        code: the JSON-RPC code as an int, when there is one.
        detail: text from a handler or a peer (an exception's or a JSON-RPC error's message): content,
            recorded only with content capture on (DESIGN trust rule 4), see :func:`description`.
    """

    __slots__ = ("code", "detail", "error_type", "message", "status_code")

    def __init__(
        self,
        error_type: str,
        status_code: str | None = None,
        message: str | None = None,
        code: int | None = None,
        detail: str | None = None,
    ) -> None:
        self.error_type = error_type
        self.status_code = status_code
        self.message = message
        self.code = code
        self.detail = detail

    @property
    def is_timeout(self) -> bool:
        return self.error_type == semconv.ERROR_TIMEOUT

    @property
    def is_session_terminated(self) -> bool:
        return self.error_type == semconv.ERROR_SESSION_TERMINATED


def description(error: ErrorInfo, capture_content: bool) -> str | None:
    """The span status description of ``error`` (before scrubbing and clipping): the content rule.

    With content capture off, only ``message`` (fixed, or the library's own); with it on, the handler's or
    peer's text is appended.
    """
    if capture_content and error.detail:
        return f"{error.message}: {error.detail}" if error.message else error.detail
    return error.message


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


def from_code(code: int, message: str | None, *, replied: bool = False) -> ErrorInfo:
    """A JSON-RPC error reply: received from the peer (client side) or ``replied`` (server side).

    Its message is the peer's or the handler's text, kept as ``message`` only when it is one of the SDKs'
    own fixed messages (:data:`SDK_MESSAGES`); otherwise the description is fixed and the text is content.
    """
    status = _code_text(code)
    if message is not None and is_sdk_message(message):
        return ErrorInfo(status, status_code=status, message=message, code=code)
    fixed = f"replied with JSON-RPC error {status}" if replied else f"peer returned JSON-RPC error {status}"
    return ErrorInfo(status, status_code=status, message=fixed, code=code, detail=message or None)


def from_exception(exc: BaseException) -> ErrorInfo:
    """An exception without a protocol code (transport failures, bugs, cancellation) on the client, or
    ending a session on either side.

    The message is kept only for the library's and the transport's own exceptions (:func:`is_library_error`);
    anything else (the application's or a handler's exception surfacing through ``async with``, a
    ``ValidationError`` quoting the peer's payload) gets ``raised <class>`` and its text as content.
    """
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
    if is_library_error(inner):
        return ErrorInfo(qualified_name(inner), message=str(inner) or None)
    return ErrorInfo(
        qualified_name(inner), message=f"raised {type(inner).__name__}", detail=str(inner) or None
    )


def handler_error(exc: BaseException, method: str) -> ErrorInfo:
    """A server handler raised: its JSON-RPC code when it carries one, else its class; never its text.

    Every exception out of a handler is the handler's (or the code it called): its message is content,
    whatever its type (``int(arg)``'s ValueError, ``open(path)``'s OSError quote the arguments).
    """
    inner = unwrap_exception_group(exc)
    if _is_cancellation(inner):
        return ErrorInfo(semconv.ERROR_CANCELLED, message="request cancelled")
    found = rpc_error(inner)
    if found is not None:
        return from_code(*found, replied=True)
    if type(inner).__name__ == "ValidationError" and type(inner).__module__.startswith("pydantic"):
        # The wire reply is INVALID_PARAMS with a fixed message (pydantic's text holds client input).
        return from_code(_INVALID_PARAMS, "Invalid request parameters", replied=True)
    what = _HANDLER_KIND.get(method, "handler")
    return ErrorInfo(
        qualified_name(inner), message=f"{what} raised {type(inner).__name__}", detail=str(inner) or None
    )


_INVALID_PARAMS = -32602
_HANDLER_KIND = {"tools/call": "tool", "prompts/get": "prompt", "resources/read": "resource"}

# Exceptions whose message is the library's or the transport's own text (kept after scrubbing):
# network and OS errors, and the exceptions of the HTTP and async stacks under the MCP transports.
_LIBRARY_MODULES = frozenset(
    {"httpx", "httpx2", "httpcore", "httpcore2", "h11", "h2", "anyio", "ssl", "websockets", "wsproto"}
)


def is_library_error(exc: BaseException) -> bool:
    """Whether ``exc``'s message is library or transport text rather than application/handler text."""
    if isinstance(exc, OSError):
        return True
    return type(exc).__module__.split(".", 1)[0] in _LIBRARY_MODULES


# The messages the MCP SDKs (mcp 1.12-1.x, 2.x) put in JSON-RPC errors they produce themselves: fixed
# strings, never a handler's text. A JSON-RPC error whose message is not one of these is treated as
# content (the peer's handler may have quoted its arguments into it).
SDK_MESSAGES = frozenset(
    {
        "Connection closed",
        "Method not found",
        "Invalid request parameters",
        "Invalid request",
        "Invalid params",
        "Parse error",
        "Internal error",
        "Internal server error",
        "Session terminated",
        "Session not found",
        "Request cancelled",
        "Request timed out",
        "Not Found",
        "Unsupported protocol version",
        "Server returned an error response",
        "Handler returned an invalid result",
        "Client callback returned an invalid result",
        "Invalid or expired requestState",
        "Sampling not supported",
        "Elicitation not supported",
        "List roots not supported",
        "tasks/get not supported",
        "tasks/result not supported",
        "tasks/list not supported",
        "tasks/cancel not supported",
        "Bad Request: No valid session ID provided",
        "Bad Request: Missing session ID",
        "Bad Request: Server not initialized",
        "Not Acceptable: Client must accept both application/json and text/event-stream",
        "Not Acceptable: Client must accept text/event-stream",
        "Unsupported Media Type: Content-Type must be application/json",
    }
)
# mcp 1.x's and 2.x's local timeouts (the request type / method is ours, the number the read timeout).
# Patterns, not compiled: re compiles (and caches) them at the first error, not on every start-up.
_SDK_MESSAGE_PATTERNS = (
    r"Timed out while waiting for response to \w+\. Waited [0-9.]+ seconds\.",
    r"Request '[\w/]+' timed out",
)


def is_sdk_message(message: str) -> bool:
    """Whether a JSON-RPC error message is one of the SDKs' own fixed messages (:data:`SDK_MESSAGES`)."""
    if message in SDK_MESSAGES:
        return True
    return len(message) < 200 and any(re.fullmatch(p, message) for p in _SDK_MESSAGE_PATTERNS)


def _code_text(code: int) -> str:
    # A JSON number can be arbitrarily long (up to Python's 4,300 digits); error.type stays short.
    return str(code) if -(10**12) < code < 10**12 else semconv.OTHER


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
        kept = message if is_sdk_message(message) else "request timed out"
        return ErrorInfo(semconv.ERROR_TIMEOUT, message=kept)
    if code == 32600 or (code == -32600 and session_id_known and message in _SESSION_GONE_MESSAGES):
        reply = from_code(code, message)
        return ErrorInfo(
            semconv.ERROR_SESSION_TERMINATED,
            status_code=reply.status_code,
            message=reply.message,
            code=code,
            detail=reply.detail,
        )
    if code == -32000 and message.startswith("Connection closed"):
        # Synthesised locally when the transport went away; no peer answered.
        return ErrorInfo(semconv.ERROR_CONNECTION_CLOSED, message="Connection closed", code=code)
    return from_code(code, message)


def is_cancellation(exc: BaseException) -> bool:
    """Whether the exception (or the group's meaningful leaf) is a task cancellation."""
    return _is_cancellation(unwrap_exception_group(exc))
