"""Options, read once from ``instrument()`` keyword arguments and the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp_otel import semconv

_TRUE = {"1", "true", "yes", "on"}


def env_flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """Read a boolean environment variable; anything unrecognised falls back to ``default``."""
    raw = (environ if environ is not None else os.environ).get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    return default


def _env_float(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ[name]))
    except (KeyError, ValueError):
        return default


def _env_int(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ[name]))
    except (KeyError, ValueError):
        return default


@dataclass(frozen=True)
class Config:
    """Everything a wrapper needs to know about the user's choices.

    Attributes:
        capture_content: record tool arguments and results (``gen_ai.tool.call.*``), size-bounded.
        excluded_methods: MCP methods that get no span and no metric (e.g. ``ping``).
        propagate: inject the trace context into ``params._meta`` of outgoing requests.
        max_attribute_length: longest string value written to an attribute.
        stdio_propagation: pass OTEL_*/MCP_OTEL_* settings and the trace context (TRACEPARENT, ...) into
            the environment of stdio servers the client spawns.
        retry_window: seconds within which a repeat of a failed request counts as a retry (0: off).
        track_streams: attribute anyio memory-object streams to sessions and report leaks.
        capture_leak_origin: record where each leaked stream was created (a frame walk per stream).
        result_error_detector: client and server, mark ``tools/call`` results that report a failure in their
            payload (``{"success": false, "error": ...}``) as ``error.type=tool_error``: True for the built-in
            detector, or a callable ``detector(result: dict) -> bool | str`` given the wire-form result.
        max_span_events: most lifecycle events (progress, server logs, list changes, reconnects) one span
            records; later ones are counted in ``mcp_otel.events.dropped`` (never above the SDK's own
            per-span event limit).
    """

    capture_content: bool = False
    excluded_methods: frozenset[str] = field(default_factory=frozenset)
    propagate: bool = True
    max_attribute_length: int = 1024
    stdio_propagation: bool = True
    retry_window: float = 30.0
    track_streams: bool = True
    capture_leak_origin: bool = False
    result_error_detector: Any = None
    max_span_events: int = 64

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None) -> Config:
        """Build the config from the environment, then apply ``instrument()`` keyword arguments."""
        excluded = os.environ.get(semconv.ENV_EXCLUDED_METHODS, "")
        values: dict[str, Any] = {
            "capture_content": env_flag(semconv.ENV_CAPTURE_CONTENT, False),
            "excluded_methods": frozenset(m.strip() for m in excluded.split(",") if m.strip()),
            "propagate": env_flag(semconv.ENV_PROPAGATE, True),
            "stdio_propagation": env_flag(semconv.ENV_STDIO_PROPAGATION, True),
            "retry_window": _env_float(semconv.ENV_RETRY_WINDOW, 30.0),
            "track_streams": env_flag(semconv.ENV_TRACK_STREAMS, True),
            "capture_leak_origin": env_flag(semconv.ENV_CAPTURE_LEAK_ORIGIN, False),
            "result_error_detector": env_flag(semconv.ENV_DETECT_RESULT_ERRORS, False) or None,
            "max_span_events": _env_int(semconv.ENV_MAX_SPAN_EVENTS, 64),
        }
        for key, value in (overrides or {}).items():
            if key in cls.__dataclass_fields__ and value is not None:
                values[key] = frozenset(value) if key == "excluded_methods" else value
        if not isinstance(values["max_span_events"], int) or isinstance(values["max_span_events"], bool):
            raise TypeError("max_span_events must be an int")
        values["max_span_events"] = max(0, values["max_span_events"])
        return cls(**values)
