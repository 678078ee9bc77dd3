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
    if isinstance(inner, TimeoutError):
        return ErrorInfo(semconv.ERROR_TIMEOUT, message=str(inner) or "timed out")
    return ErrorInfo(qualified_name(inner), message=str(inner) or None)


def is_cancellation(exc: BaseException) -> bool:
    """Whether the exception (or the group's meaningful leaf) is a task cancellation."""
    return _is_cancellation(unwrap_exception_group(exc))


