"""Bad input never crashes the instrumentation's pure helpers and gives bounded results (hypothesis)."""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace

from mcp_otel.adapters._client import endpoint_for_url
from mcp_otel.errors import classify, from_code, unwrap_exception_group
from mcp_otel.propagation import extract_context, merged_meta
from mcp_otel.scrub import clip

if sys.version_info < (3, 11):  # pragma: no cover - v1-oldest
    from exceptiongroup import BaseExceptionGroup

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=200),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=20,
)
traceparents = st.one_of(
    st.text(max_size=100),
    st.builds(
        lambda t, s, f: f"00-{t:032x}-{s:016x}-{f:02x}",
        st.integers(0, 2**128 - 1),
        st.integers(0, 2**64 - 1),
        st.integers(0, 255),
    ),
    st.just("00-" + "f" * 5000),
)
metas = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from(["traceparent", "tracestate", "baggage", "progressToken", "x"]),
        st.one_of(traceparents, json_values),
        max_size=5,
    ),
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(metas)
def test_extract_context_never_raises_and_is_valid_or_none(meta: object) -> None:
    ctx = extract_context(meta)
    if ctx is not None:
        assert trace.get_current_span(ctx).get_span_context().is_valid


@SETTINGS
@given(json_values, st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=3))
def test_merged_meta_copies(meta: object, carrier: dict[str, str]) -> None:
    before = repr(meta)
    out = merged_meta(meta if isinstance(meta, dict) else None, carrier)
    assert repr(meta) == before  # the caller's object is untouched
    assert all(out[k] == v for k, v in carrier.items())


@SETTINGS
@given(st.one_of(st.text(max_size=300), st.integers(), st.none(), st.binary(max_size=50)))
def test_endpoint_for_any_url(url: object) -> None:
    endpoint = endpoint_for_url(url, "streamable-http")
    assert endpoint.server_port is None or isinstance(endpoint.server_port, int)


@SETTINGS
@given(st.integers(), st.text(max_size=10_000))
def test_error_codes_and_messages(code: int, message: str) -> None:
    info = from_code(code, message)
    assert info.error_type == (str(code) if abs(code) < 10**12 else "_OTHER")
    assert len(clip(message, 1024)) <= 1024


class McpError(Exception):  # shaped like mcp 1.x's, to exercise the duck-typed classifier
    def __init__(self, error: object) -> None:
        self.error = error


class MCPError(Exception):  # shaped like mcp 2.x's
    def __init__(self, code: object, message: object) -> None:
        self.code, self.message = code, message


@SETTINGS
@given(st.one_of(st.integers(), st.text(max_size=5), st.none()), st.one_of(st.text(max_size=50), st.none()))
def test_classify_odd_errors(code: object, message: object) -> None:
    for exc in (MCPError(code, message), McpError(type("E", (), {"code": code, "message": message})())):
        info = classify(exc)
        assert isinstance(info.error_type, str) and info.error_type


@pytest.mark.parametrize("depth", [1, 10, 100])
def test_deeply_nested_exception_groups(depth: int) -> None:
    exc: BaseException = ValueError("leaf")
    for _ in range(depth):
        exc = BaseExceptionGroup("group", [exc])
    inner = unwrap_exception_group(exc)
    assert isinstance(inner, ValueError | BaseExceptionGroup)


huge_text = st.one_of(st.text(max_size=50), st.just("x" * 100_000), st.just("\x00\udcff" * 10))


@SETTINGS
@given(metas, huge_text, huge_text, st.one_of(st.none(), huge_text))
def test_server_request_with_odd_meta_and_names(
    meta: object, method: str, name: str, session_id: object
) -> None:
    """The server's request path: any _meta, huge or odd names and ids give a bounded span, never a crash."""
    from mcp_otel.config import Config
    from mcp_otel.server import IncomingRequest, ServerCall, start_server_call
    from mcp_otel.session import RequestInfo
    from mcp_otel.telemetry import Telemetry
    from support.capture import new_capture

    capture = new_capture()
    telemetry = Telemetry(Config(max_attribute_length=256), capture.tracer_provider, capture.meter_provider)
    info = RequestInfo(method=method, tool_name=name, request_id=name, resource_uri=name)
    request = IncomingRequest(info=info, meta=meta, session_id=session_id)  # type: ignore[arg-type]
    call = start_server_call(telemetry, request, None)
    assert call is None or isinstance(call, ServerCall)
    if call is not None:
        call.error_reply(-32602, name)
    for span in capture.spans(None):
        assert len(span.name) <= 256 * 2 + 1
        for value in (span.attributes or {}).values():
            assert not isinstance(value, str) or len(value) <= 256
        assert span.status.description is None or len(span.status.description) <= 256
