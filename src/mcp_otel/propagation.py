"""Trace context in ``params._meta`` (SEP-414: ``traceparent``, ``tracestate``, ``baggage``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context

# A traceparent is 55 characters; anything far larger is not a trace header but abuse.
_MAX_CARRIER_VALUE = 512
_CARRIER_KEYS = ("traceparent", "tracestate", "baggage")


def inject_carrier(context: Context | None = None) -> dict[str, str]:
    """The propagation fields for the current (or given) context, as a fresh dict."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return carrier


def merged_meta(meta: Mapping[str, Any] | None, carrier: Mapping[str, str]) -> dict[str, Any]:
    """A new ``_meta`` dict: the caller's keys plus the trace fields (the caller's dict is not touched)."""
    out = dict(meta) if meta else {}
    out.update(carrier)
    return out


def extract_context(meta: Any) -> Context | None:
    """The remote parent carried in ``_meta``, or None when absent, malformed or invalid.

    Returning None (not an empty Context) matters: an empty Context would orphan the span instead of
    letting it fall back to the ambient parent.
    """
    if meta is None:
        return None
    if not isinstance(meta, Mapping):
        # mcp 1.x hands a pydantic Meta model whose extra keys are attributes.
        meta = {k: getattr(meta, k, None) for k in _CARRIER_KEYS}
    carrier = {
        k: v for k in _CARRIER_KEYS if isinstance(v := meta.get(k), str) and 0 < len(v) <= _MAX_CARRIER_VALUE
    }
    if "traceparent" not in carrier:
        return None
    try:
        ctx = propagate.extract(carrier)
    except Exception:
        return None
    if not trace.get_current_span(ctx).get_span_context().is_valid:
        return None
    return ctx
