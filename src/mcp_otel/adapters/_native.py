"""Keeping libraries' own MCP spans from duplicating ours (FastMCP 3.x and 4.x)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, SpanKind

from mcp_otel._arguments import Arguments

_REPLACED_KINDS = frozenset({SpanKind.CLIENT, SpanKind.SERVER})
# mcp 2.x ``otel_span(name, *, kind, attributes=None, context=None, ...)`` (client and server modules)
OTEL_SPAN = Arguments(("name",), ("kind", "attributes", "context"))
# ``Tracer.start_as_current_span`` / ``start_span(name, context=None, kind=INTERNAL, attributes=None, ...)``
START_SPAN = Arguments(("name", "context", "kind", "attributes", "links"))


class QuietTracer(trace.NoOpTracer):
    """Stands in for a library's tracer: its CLIENT and SERVER spans (which mcp-otel emits instead) become
    ``INVALID_SPAN`` without being made current, so the caller's span stays current and the library's
    bookkeeping (``is_recording()`` guards, ``set_attribute``) is a no-op; other spans (FastMCP's INTERNAL
    ``delegate`` and sampling spans) are created by the real tracer as before.
    """

    def __init__(self, real: Callable[[], trace.Tracer]) -> None:
        self._real = real

    @contextmanager
    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        kind = kwargs.get("kind", args[1] if len(args) > 1 else SpanKind.INTERNAL)
        if kind in _REPLACED_KINDS:
            yield INVALID_SPAN
            return
        with self._real().start_as_current_span(name, *args, **kwargs) as span:
            yield span

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        kind = kwargs.get("kind", args[1] if len(args) > 1 else SpanKind.INTERNAL)
        if kind in _REPLACED_KINDS:
            return INVALID_SPAN
        return self._real().start_span(name, *args, **kwargs)


def quiet_get_tracer(original: Callable[..., trace.Tracer]) -> Callable[..., trace.Tracer]:
    """A replacement for a library's ``get_tracer`` whose tracers are :class:`QuietTracer`."""

    def get_tracer(*args: Any, **kwargs: Any) -> trace.Tracer:
        return QuietTracer(lambda: original(*args, **kwargs))

    get_tracer.__wrapped__ = original  # type: ignore[attr-defined]
    return get_tracer
