"""Retries: automatic detection of retried requests, and an instrumented retry helper.

Detection: a request to the same server, method, target and argument digest as one that failed less
than ``window`` seconds ago is attempt n+1 of a retry sequence, across sessions too (the seed's retry loop
opens a new session per attempt). The helper, when used, states the attempt exactly instead.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from mcp_otel import semconv
from mcp_otel.errors import classify, rpc_error, unwrap_exception_group

T = TypeVar("T")
P = ParamSpec("P")


class RetryScope:
    """The attempt the retry helper is making (never changed once built)."""

    __slots__ = ("attempt", "max_attempts")

    def __init__(self, attempt: int, max_attempts: int | None) -> None:
        self.attempt = attempt
        self.max_attempts = max_attempts


# Set by the retry helper (or ``retry_attempt``) for the duration of one attempt.
RETRY_SCOPE: ContextVar[RetryScope | None] = ContextVar("mcp_otel_retry_scope", default=None)


def _digest(arguments: Any) -> str:
    try:
        data = json.dumps(arguments, sort_keys=True, default=repr, separators=(",", ":"))
    except Exception:
        data = repr(arguments)
    return hashlib.blake2b(data.encode("utf-8", "replace"), digest_size=8).hexdigest()


class RetryDetector:
    """Remembers recent failures (bounded, expiring) to recognise the next identical request as a retry."""

    def __init__(self, window: float, capacity: int = 1024) -> None:
        self.window = window
        self.capacity = capacity
        # key -> (attempt number of the failure, monotonic time, error.type)
        self._failures: OrderedDict[tuple[Any, ...], tuple[int, float, str]] = OrderedDict()

    @staticmethod
    def key(server: tuple[Any, ...], method: str, target: str | None, arguments: Any) -> tuple[Any, ...]:
        return (server, method, target, _digest(arguments) if arguments is not None else None)

    def attempt_for(self, key_factory: Callable[[], tuple[Any, ...]]) -> tuple[int, str] | None:
        """(attempt, previous error.type) when this request repeats a recent failure. Cheap when none."""
        if not self._failures or self.window <= 0:
            return None
        key = key_factory()
        entry = self._failures.get(key)
        if entry is None:
            return None
        attempt, when, error_type = entry
        if time.monotonic() - when > self.window:
            del self._failures[key]
            return None
        return attempt + 1, error_type

    def failed(self, key: tuple[Any, ...], attempt: int, error_type: str) -> None:
        self._failures[key] = (attempt, time.monotonic(), error_type)
        self._failures.move_to_end(key)
        while len(self._failures) > self.capacity:
            self._failures.popitem(last=False)

    def succeeded(self, key_factory: Callable[[], tuple[Any, ...]]) -> None:
        if self._failures:
            self._failures.pop(key_factory(), None)


# --- the retry helper --------------------------------------------------------------------------------

_CONNECTION_ERRORS = frozenset(
    {
        "ConnectError",
        "ConnectTimeout",
        "RemoteProtocolError",
        "ReadError",
        "WriteError",
        "ClosedResourceError",
        "BrokenResourceError",
        "EndOfStream",
        "IncompleteRead",
    }
)


_RETRYABLE_TYPES = frozenset({semconv.ERROR_SESSION_TERMINATED, semconv.ERROR_CONNECTION_CLOSED})


def is_retryable(exc: BaseException) -> bool:
    """The default policy: connection and session errors are retried; tool errors and timeouts are not.

    A ``tools/call`` may not be idempotent, so a call that reached the tool (a tool error, a timeout while
    it ran) is never replayed by default.
    """
    inner = unwrap_exception_group(exc)
    if rpc_error(inner) is not None:
        return classify(inner).error_type in _RETRYABLE_TYPES
    names = {cls.__name__ for cls in type(inner).__mro__}
    if "ToolError" in names or isinstance(inner, TimeoutError):
        return False
    return bool(names & _CONNECTION_ERRORS) or isinstance(inner, OSError)


@contextmanager
def retry_attempt(attempt: int, max_attempts: int | None = None) -> Iterator[None]:
    """Mark the MCP requests made in this block as attempt ``attempt`` (1-based) of a retry sequence.

    For users of another retry library (tenacity, stamina): wrap each attempt's body in it.
    """
    token = RETRY_SCOPE.set(RetryScope(attempt, max_attempts))
    try:
        yield
    finally:
        RETRY_SCOPE.reset(token)


async def call_with_retry(
    attempt_fn: Callable[[], Awaitable[T]],
    *,
    max_attempts: int = 3,
    initial_delay: float = 0.5,
    max_delay: float = 10.0,
    multiplier: float = 2.0,
    jitter: float = 0.1,
    retry_if: Callable[[BaseException], bool] = is_retryable,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
) -> T:
    """Run ``attempt_fn`` until it succeeds, with exponential backoff, at most ``max_attempts`` times.

    Each attempt usually opens its own session (``async with init_session(...) as s: return await
    s.call_tool(...)``), so a terminated session is replaced, not reused. Requests made during an attempt
    carry ``mcp_otel.retry.attempt`` and ``mcp_otel.retry.max_attempts``; every attempt from the second on
    counts in ``mcp_otel.client.retries``. The last exception is re-raised unchanged.

    Args:
        attempt_fn: a coroutine function making one attempt.
        max_attempts: attempts in all, including the first.
        initial_delay: seconds before the second attempt; multiplied by ``multiplier`` each time, capped
            at ``max_delay``, with ``jitter`` (a fraction) of random spread.
        retry_if: which exceptions are retried (default :func:`is_retryable`).
        sleep: the sleep function (default ``anyio.sleep``).
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if sleep is None:
        import anyio

        sleep = anyio.sleep
    delay = initial_delay
    previous_error: str | None = None
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            _count_helper_retry(previous_error)
        with retry_attempt(attempt, max_attempts):
            try:
                return await attempt_fn()
            except Exception as exc:
                if attempt >= max_attempts or not retry_if(exc):
                    raise
                previous_error = classify(exc).error_type
        spread = delay * jitter * (2 * random.random() - 1)
        await sleep(max(0.0, min(delay, max_delay) + spread))
        delay *= multiplier
    raise AssertionError("unreachable")  # pragma: no cover


def retrying(
    *,
    max_attempts: int = 3,
    initial_delay: float = 0.5,
    max_delay: float = 10.0,
    multiplier: float = 2.0,
    jitter: float = 0.1,
    retry_if: Callable[[BaseException], bool] = is_retryable,
    sleep: Callable[[float], Awaitable[Any]] | None = None,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorator form of :func:`call_with_retry` (same options) for an ``async def`` making one attempt."""
    import functools

    def decorate(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await call_with_retry(
                lambda: func(*args, **kwargs),
                max_attempts=max_attempts,
                initial_delay=initial_delay,
                max_delay=max_delay,
                multiplier=multiplier,
                jitter=jitter,
                retry_if=retry_if,
                sleep=sleep,
            )

        return wrapper

    return decorate


# The instrumentation registers its Telemetry here so the helper can count without a handle (its retries
# counter is read at the first count: Telemetry creates its instruments at their first use).
_helper_telemetry: Any = None


def _count_helper_retry(previous_error: str | None) -> None:
    telemetry = _helper_telemetry
    if telemetry is None:
        return
    try:
        telemetry.client_retries.add(1, {semconv.ERROR_TYPE: previous_error} if previous_error else {})
    except Exception:  # never let telemetry break the retry loop
        pass
