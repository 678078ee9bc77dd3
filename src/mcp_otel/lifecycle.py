"""What happens between a session's edges and its requests: progress, server logs, list changes, reconnects.

Adapters report these happenings with library-free values; this module turns them into span events on the
right span (DESIGN "Lifecycle beyond request/response") and keeps every span bounded: a server that logs or
reports progress thousands of times must not grow a span without limit, nor push the span's other events
(exceptions, stream leaks) out of the SDK's own bounded event list. Each span records at most
``max_span_events`` lifecycle events (never more than half the SDK's per-span event limit); the rest are
counted in ``mcp_otel.events.dropped``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue

from mcp_otel import semconv
from mcp_otel._weak import IdentityWeakMap
from mcp_otel.results import to_json
from mcp_otel.telemetry import Telemetry, guarded

# span -> [recorded, dropped] lifecycle events (weak: the map never keeps a span alive)
_BUDGETS: IdentityWeakMap[list[int]] = IdentityWeakMap()

_PROGRESS = "notifications/progress"
LIST_CHANGED_KINDS = {
    "notifications/tools/list_changed": "tools",
    "notifications/resources/list_changed": "resources",
    "notifications/prompts/list_changed": "prompts",
}


def _cap(telemetry: Telemetry, span: Span) -> int:
    cap = telemetry.config.max_span_events
    limits = getattr(span, "_limits", None)  # the SDK span's SpanLimits (None for other implementations)
    sdk_max = getattr(limits, "max_events", None)
    if isinstance(sdk_max, int) and sdk_max >= 0:
        cap = min(cap, sdk_max // 2)
    return cap


@guarded
def add_event(telemetry: Telemetry, span: Span, name: str, attributes: dict[str, AttributeValue]) -> bool:
    """Add one lifecycle event to ``span`` within its budget; False when it was dropped (or not recording)."""
    if not span.is_recording():
        return False
    budget = _BUDGETS.get(span)
    if budget is None:
        budget = [0, 0]
        _BUDGETS.set(span, budget)
    if budget[0] >= _cap(telemetry, span):
        budget[1] += 1
        span.set_attribute(semconv.EVENTS_DROPPED, budget[1])
        return False
    budget[0] += 1
    span.add_event(name, attributes)
    return True


def is_own_span(span: Span, kind: SpanKind | None = None) -> bool:
    """Whether ``span`` is a recording span mcp-otel started (of ``kind``, when given)."""
    if not span.is_recording():
        return False
    scope = getattr(span, "instrumentation_scope", None)
    if getattr(scope, "name", None) != semconv.SCOPE_NAME:
        return False
    return kind is None or getattr(span, "kind", None) == kind


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def progress(telemetry: Telemetry, span: Span, value: Any, total: Any, message: Any) -> None:
    """``notifications/progress`` for the request ``span`` belongs to (the message is content: opt-in)."""
    if _PROGRESS in telemetry.config.excluded_methods:
        return
    attributes: dict[str, AttributeValue] = {}
    number = _number(value)
    if number is not None:
        attributes[semconv.PROGRESS_VALUE] = number
    number = _number(total)
    if number is not None:
        attributes[semconv.PROGRESS_TOTAL] = number
    if telemetry.config.capture_content and isinstance(message, str) and message:
        attributes[semconv.PROGRESS_MESSAGE] = telemetry.text(message)
    add_event(telemetry, span, semconv.EVENT_PROGRESS, attributes)


def log_message(telemetry: Telemetry, span: Span, level: Any, logger: Any, data: Any) -> None:
    """``notifications/message``: level and logger always (clipped peer strings), the data only opted in."""
    attributes: dict[str, AttributeValue] = {}
    if level is not None:
        attributes[semconv.LOG_LEVEL] = telemetry.clip(str(getattr(level, "value", level)))
    if logger is not None:
        attributes[semconv.LOG_LOGGER] = telemetry.clip(str(logger))
    if telemetry.config.capture_content and data is not None:
        attributes[semconv.LOG_DATA] = telemetry.text(data if isinstance(data, str) else to_json(data))
    add_event(telemetry, span, semconv.EVENT_LOG, attributes)


def list_changed(telemetry: Telemetry, span: Span, method: str) -> None:
    kind = LIST_CHANGED_KINDS.get(method)
    if kind is not None:
        add_event(telemetry, span, semconv.EVENT_LIST_CHANGED, {semconv.LIST_CHANGED_KIND: kind})


def notification(telemetry: Telemetry, span: Span, method: str, params: Any) -> None:
    """A server notification that belongs on the client's ``mcp.session`` (logs and list changes).

    ``params`` is the wire dict (mcp 2.x) or the SDK's params model (mcp 1.x).
    """
    if method in telemetry.config.excluded_methods:  # an excluded notification records nothing either
        return
    if method == "notifications/message":
        log_message(telemetry, span, _get(params, "level"), _get(params, "logger"), _get(params, "data"))
    elif method in LIST_CHANGED_KINDS:
        list_changed(telemetry, span, method)


def progress_params(telemetry: Telemetry, span: Span, params: Any) -> None:
    progress(telemetry, span, _get(params, "progress"), _get(params, "total"), _get(params, "message"))


def _get(params: Any, key: str) -> Any:
    if isinstance(params, dict):
        return params.get(key)
    return getattr(params, key, None)
