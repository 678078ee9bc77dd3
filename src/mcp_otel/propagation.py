"""Trace context in ``params._meta`` (SEP-414: ``traceparent``, ``tracestate``, ``baggage``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context

# A traceparent is 55 characters; anything far larger is not a trace header but abuse.
_MAX_CARRIER_VALUE = 512
_CARRIER_KEYS = ("traceparent", "tracestate", "baggage")
_OPTIONAL_KEYS = _CARRIER_KEYS[1:]

_propagate: Any = None


def _propagator() -> Any:
    """``opentelemetry.propagate``, imported at the first request rather than at start-up: importing it
    loads the configured propagators from their entry points (~2 ms of every instrumented process's
    ``import mcp`` on mcp 1.x, which does not import it itself; issue 14)."""
    global _propagate
    if _propagate is None:
        from opentelemetry import propagate

        _propagate = propagate
    return _propagate


def inject_carrier(context: Context | None = None) -> dict[str, str]:
    """The propagation fields for the current (or given) context, as a fresh dict."""
    carrier: dict[str, str] = {}
    _propagator().inject(carrier, context=context)
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
    if not isinstance(meta, dict):
        # mcp 1.x hands a pydantic Meta model whose undeclared keys are its extra fields; reading them
        # from that dict, not by getattr, avoids an AttributeError raised per absent key (tracestate, …).
        # Asked before the Mapping ABC, whose isinstance is a Python call (per request).
        extra = getattr(meta, "__pydantic_extra__", None)
        if isinstance(extra, dict):
            meta = extra
        elif not isinstance(meta, Mapping):
            meta = {k: getattr(meta, k, None) for k in _CARRIER_KEYS}
    parent = meta.get("traceparent")
    if not isinstance(parent, str) or not 0 < len(parent) <= _MAX_CARRIER_VALUE:
        return None  # checked first: most requests carry a traceparent alone, or nothing
    carrier = {"traceparent": parent}
    for key in _OPTIONAL_KEYS:
        value = meta.get(key)
        if isinstance(value, str) and 0 < len(value) <= _MAX_CARRIER_VALUE:
            carrier[key] = value
    try:
        ctx: Context = _propagator().extract(carrier)
    except Exception:
        return None
    if not trace.get_current_span(ctx).get_span_context().is_valid:
        return None
    return ctx


# --- the environment carrier (OpenTelemetry "environment variables as context propagation carriers") -----
def env_name(key: str) -> str:
    """``traceparent`` -> ``TRACEPARENT``: upper case, anything but letters and digits becomes ``_``."""
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in key.upper())


def env_carrier(context: Context | None = None) -> dict[str, str]:
    """The propagation fields of the current (or given) context as environment variables."""
    return {env_name(k): v for k, v in inject_carrier(context).items()}


class _EnvironGetter:
    """A TextMap getter over an environment mapping (keys looked up by their variable name)."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(env_name(key))
        if not isinstance(value, str) or not 0 < len(value) <= _MAX_CARRIER_VALUE:
            return None
        return [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return [k.lower() for k in carrier]


def context_from_environ(environ: Mapping[str, str]) -> Context | None:
    """The parent context a process was started with (TRACEPARENT, ...), or None when absent or invalid."""
    try:
        ctx: Context = _propagator().extract(environ, getter=_EnvironGetter())
    except Exception:
        return None
    if not trace.get_current_span(ctx).get_span_context().is_valid:
        return None
    return ctx
