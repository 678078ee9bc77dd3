"""What a ``tools/call`` result says, on either side: ``isError``, a failure reported in the payload (the
result-error detector) and, when the user opted in, the result content."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import Span

from mcp_otel import semconv
from mcp_otel.errors import TOOL_ERROR, ErrorInfo
from mcp_otel.telemetry import Telemetry, report_internal_error

ResultErrorDetector = Callable[[Mapping[str, Any]], Any]

_MAX_TEXT_TO_PARSE = 65536


def tool_result_error(
    telemetry: Telemetry, span: Span, is_error: bool, payload: Callable[[], Any] | None
) -> ErrorInfo | None:
    """The error of a ``tools/call`` result (None for a success); records the content when capture is on.

    ``payload`` returns the result in its wire form (a dict with camelCase keys); it is called only when a
    result-error detector or content capture needs it.
    """
    config = telemetry.config
    detector = resolve_detector(config.result_error_detector)
    wire: Any = None
    if payload is not None and (detector is not None or config.capture_content):
        wire = _safe_payload(payload)
    if config.capture_content and isinstance(wire, Mapping) and span.is_recording():
        content = wire.get("structuredContent", wire.get("content"))
        span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT, telemetry.clip(to_json(content)))
    if is_error:
        return TOOL_ERROR
    if detector is not None and isinstance(wire, Mapping):
        found = _run_detector(detector, wire)
        if found:
            # the message is the tool's own text: content (errors.description)
            return ErrorInfo(
                semconv.ERROR_TOOL,
                message="tool result reports a failure",
                detail=found if isinstance(found, str) else None,
            )
    return None


def detect_result_error(result: Mapping[str, Any]) -> bool | str:
    """The default detector: a tool result shaped ``{"success": false, "error": ...}``.

    ``result`` is the ``tools/call`` result in its wire form. The payload is looked for in
    ``structuredContent`` (also under FastMCP's ``{"result": ...}`` wrapper), else in a text content
    block holding a JSON object. Returns the error message when there is one, True without one.
    """
    for candidate in _payload_candidates(result):
        if candidate.get("success") is False:
            message = candidate.get("error")
            if isinstance(message, Mapping):
                message = message.get("message")
            return str(message) if message else True
    return False


def _payload_candidates(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    structured = result.get("structuredContent")
    if isinstance(structured, Mapping):
        inner = structured.get("result")
        return [structured, inner] if isinstance(inner, Mapping) else [structured]
    out: list[Mapping[str, Any]] = []
    content = result.get("content")
    if isinstance(content, list):
        for block in content[:4]:
            text = block.get("text") if isinstance(block, Mapping) else None
            if isinstance(text, str) and text[:1] == "{" and len(text) <= _MAX_TEXT_TO_PARSE:
                try:
                    value = json.loads(text)
                except ValueError:
                    continue
                if isinstance(value, Mapping):
                    out.append(value)
    return out


def resolve_detector(option: Any) -> ResultErrorDetector | None:
    if option is None or option is False:
        return None
    if callable(option):
        return option  # type: ignore[no-any-return]
    return detect_result_error if option else None


def _run_detector(detector: ResultErrorDetector, wire: Mapping[str, Any]) -> Any:
    try:
        return detector(wire)
    except Exception:  # a user's detector must not break the request or our bookkeeping
        report_internal_error("result_error_detector")
        return None


def _safe_payload(payload: Callable[[], Any]) -> Any:
    try:
        return payload()
    except Exception:
        report_internal_error("tool result payload")
        return None


def to_json(value: Any) -> str:
    """Captured content as JSON (repr when it is not serialisable)."""
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except Exception:
        return repr(value)
