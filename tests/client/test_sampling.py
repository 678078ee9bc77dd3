"""Sampled-out requests (issue 14): nothing recorded but the trace context and the metrics, nothing built
for a span that does not record, and the same telemetry as before for every span that does.

In process, client and server both instrumented, on whichever mcp line the environment has.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

import mcp_otel.server
import mcp_otel.session
from mcp_otel.telemetry import sdk_sampler_decision
from support.capture import Capture
from support.env import MCP_MAJOR
from support.inproc import SEEN_META, build_server, open_session

MODES = ["legacy", "auto"] if MCP_MAJOR >= 2 else ["legacy"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def instrumented_with(sampler: sampling.Sampler, *, metrics_on: bool = True) -> Iterator[Capture]:
    """Instrument with a TracerProvider using ``sampler`` and a real (or a no-op) MeterProvider."""
    from mcp_otel import McpInstrumentor

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider: Any = (
        MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        if metrics_on
        else metrics.NoOpMeterProvider()
    )
    instrumentor = McpInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield Capture(tracer_provider, meter_provider, exporter, reader)
    finally:
        instrumentor.uninstrument()


@contextmanager
def counting_attribute_builds() -> Iterator[list[str]]:
    """Record every request-attribute dict the core builds (client and server side)."""
    built: list[str] = []
    original = mcp_otel.session.request_attributes

    def counted(telemetry: Any, info: Any) -> Any:
        built.append(info.method)
        return original(telemetry, info)

    mp = pytest.MonkeyPatch()
    mp.setattr(mcp_otel.session, "request_attributes", counted)
    mp.setattr(mcp_otel.server, "request_attributes", counted)
    try:
        yield built
    finally:
        mp.undo()


def _points(cap: Capture, name: str) -> list[dict[str, Any]]:
    return [dict(p.attributes) for p in cap.metrics().get(name, [])]


@pytest.mark.anyio
async def test_sampled_out_records_nothing_builds_nothing_and_propagates(mode: str) -> None:
    SEEN_META.clear()
    with (
        instrumented_with(sampling.ALWAYS_OFF, metrics_on=False) as cap,
        counting_attribute_builds() as built,
    ):
        async with open_session(build_server(), mode=mode) as s:
            for _ in range(3):
                await s.call_tool("show_meta")
    assert cap.spans(None) == []
    # No attribute dict for spans that do not record (and no metric reads them): not one per request.
    assert built == []
    # The non-sampled context still reaches the server (sampled flag clear), so the server does not sample.
    assert len(SEEN_META) == 3
    flags = [meta.get("traceparent", "").rsplit("-", 1)[-1] for meta in SEEN_META]
    assert all(len(f) == 2 and not int(f, 16) & 1 for f in flags), flags


@contextmanager
def counting_native_work() -> Iterator[dict[str, int]]:
    """Count, per kind: ``_meta`` extractions (ours and the SDK's) and library attributes handed to our
    spans by adoption (mcp 2.x's own CLIENT/SERVER spans folded into ours)."""
    import opentelemetry.propagate

    import mcp_otel.adapters._native as native

    counts = {"extract": 0, "adopt": 0}
    mp = pytest.MonkeyPatch()

    def counting(name: str, original: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return original(*args, **kwargs)

        return counted

    mp.setattr(opentelemetry.propagate, "extract", counting("extract", opentelemetry.propagate.extract))
    if MCP_MAJOR >= 2:
        import mcp.shared._otel

        mp.setattr(mcp.shared._otel, "extract", counting("extract", mcp.shared._otel.extract))
    mp.setattr(native, "adopt_attributes", counting("adopt", native.adopt_attributes))
    try:
        yield counts
    finally:
        mp.undo()


@pytest.mark.anyio
async def test_sampled_out_adopts_nothing_and_extracts_once(mode: str) -> None:
    """Nothing records: the libraries' attributes are not copied onto our spans, and ``_meta`` is
    extracted once per request (ours, for the non-sampled parent), not a second time for the SDK
    middleware's SERVER span that ours stands in for. With spans on, both still happen as before."""
    per_request: dict[str, dict[str, int]] = {}
    for label, sampler in (("off", sampling.ALWAYS_OFF), ("on", sampling.ALWAYS_ON)):
        with instrumented_with(sampler, metrics_on=False) as cap:
            async with open_session(build_server(), mode=mode) as s:
                await s.call_tool("add", {"a": 0, "b": 1})  # the hidden tools/list
                with counting_native_work() as counts:
                    for i in range(3):
                        await s.call_tool("add", {"a": i, "b": 1})
        per_request[label] = {name: count // 3 for name, count in counts.items()}
        if label == "on":
            assert len(cap.named("tools/call add", side=None)) == 2 * 4
    assert per_request["off"] == {"extract": 1, "adopt": 0}, per_request
    assert per_request["on"]["extract"] == 1, per_request
    if MCP_MAJOR >= 2 and mode == "legacy":  # the SDK's CLIENT and SERVER spans are adopted when recording
        assert per_request["on"]["adopt"] >= 2, per_request


@pytest.mark.anyio
async def test_sampled_out_keeps_the_metrics(mode: str) -> None:
    """Metrics are not sampled: the same duration points, with the same attributes, as when recording."""
    recorded: dict[str, list[dict[str, Any]]] = {}
    for label, sampler in (("on", sampling.ALWAYS_ON), ("off", sampling.ALWAYS_OFF)):
        with instrumented_with(sampler) as cap:
            async with open_session(build_server(), mode=mode) as s:
                await s.call_tool("add", {"a": 1, "b": 2})
                await s.call_tool("fail_tool")
        recorded[label] = sorted(
            _points(cap, "mcp.client.operation.duration") + _points(cap, "mcp.server.operation.duration"),
            key=repr,
        )
        if label == "off":
            assert cap.spans(None) == []
    assert recorded["off"] == recorded["on"]
    assert any(p.get("error.type") == "tool_error" for p in recorded["off"])


@pytest.mark.anyio
async def test_parent_based_ratio_records_whole_traces_with_every_attribute(mode: str) -> None:
    """Turns sampled at a ratio: a sampled turn's request spans carry exactly what always-on records, on
    both sides; an unsampled turn's record nothing, on either side."""
    with instrumented_with(sampling.ALWAYS_ON) as cap:
        async with open_session(build_server(), mode=mode) as s:
            with cap.tracer_provider.get_tracer("app").start_as_current_span("turn"):
                await s.call_tool("add", {"a": 1, "b": 2})
    reference = {
        kind: set(dict(span.attributes or {})) - {"jsonrpc.request.id"}
        for kind in (SpanKind.CLIENT, SpanKind.SERVER)
        for span in cap.spans()
        if span.kind == kind and span.name == "tools/call add"
    }

    with instrumented_with(sampling.ParentBased(sampling.TraceIdRatioBased(0.5))) as cap:
        tracer = cap.tracer_provider.get_tracer("app")
        sampled = 0
        async with open_session(build_server(), mode=mode) as s:
            for i in range(40):
                with tracer.start_as_current_span("turn") as turn:
                    await s.call_tool("add", {"a": i, "b": 1})
                sampled += bool(turn.get_span_context().trace_flags.sampled)
        calls = [span for span in cap.spans() if span.name == "tools/call add"]
    turns = {span.context.trace_id for span in cap.spans(None) if span.name == "turn"}
    assert 0 < sampled < 40 and len(turns) == sampled
    assert len(calls) == 2 * sampled  # one CLIENT and one SERVER span per sampled turn, none for the others
    for span in calls:
        assert span.context.trace_id in turns
        assert set(dict(span.attributes or {})) - {"jsonrpc.request.id"} == reference[span.kind]


@pytest.mark.anyio
async def test_custom_sampler_still_sees_the_attributes(mode: str) -> None:
    """A sampler that is not the SDK's may decide from the attributes: they are passed at start."""

    class DropAddTool(sampling.Sampler):
        def should_sample(
            self, parent_context: Any, trace_id: int, name: str, *args: Any, **kwargs: Any
        ) -> Any:
            attributes = kwargs.get("attributes", args[1] if len(args) > 1 else None) or {}
            if attributes.get("gen_ai.tool.name") == "add":
                return sampling.SamplingResult(sampling.Decision.DROP)
            return sampling.SamplingResult(sampling.Decision.RECORD_AND_SAMPLE, attributes)

        def get_description(self) -> str:
            return "DropAddTool"

    with instrumented_with(DropAddTool()) as cap:
        async with open_session(build_server(), mode=mode) as s:
            await s.call_tool("add", {"a": 1, "b": 2})
            await s.get_prompt("greet", {"name": "ada"})
    names = {span.name for span in cap.spans()}
    assert "tools/call add" not in names
    assert "prompts/get greet" in names


_SAMPLERS = [
    sampling.ALWAYS_ON,
    sampling.ALWAYS_OFF,
    sampling.DEFAULT_ON,
    sampling.DEFAULT_OFF,
    sampling.TraceIdRatioBased(0.5),
    sampling.ParentBasedTraceIdRatio(0.25),
    sampling.ParentBased(
        sampling.ALWAYS_ON,
        remote_parent_sampled=sampling.ALWAYS_OFF,
        remote_parent_not_sampled=sampling.TraceIdRatioBased(0.5),
        local_parent_sampled=sampling.TraceIdRatioBased(0.5),
        local_parent_not_sampled=sampling.ALWAYS_ON,
    ),
]


@settings(max_examples=300, deadline=None)
@given(
    sampler=st.sampled_from(_SAMPLERS),
    parent=st.none()
    | st.builds(
        lambda trace_id, remote, flags: SpanContext(trace_id, 0x1234, remote, TraceFlags(flags)),
        st.integers(1, 2**128 - 1),
        st.booleans(),
        st.sampled_from([0, 1]),
    ),
)
def test_known_sampler_decision_matches_the_sdk(
    sampler: sampling.Sampler, parent: SpanContext | None
) -> None:
    """Whenever the decision is known before the span starts, it is the one the SDK makes."""
    decision = sdk_sampler_decision(sampler, parent)
    if decision is None:
        assert parent is None  # only a root under a ratio sampler is unknowable (its trace id is not drawn)
        return
    provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent is not None else None
    span = provider.get_tracer("t").start_span("s", context=context)
    assert span.is_recording() is decision


@contextmanager
def counting_calls(owner: Any, name: str) -> Iterator[list[Any]]:
    """Record every call of ``owner.name`` (a module function, a class or a method)."""
    calls: list[Any] = []
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(owner, name, counted)
    try:
        yield calls
    finally:
        mp.undo()


@pytest.mark.anyio
async def test_sampled_out_request_under_another_span_builds_no_session_link(mode: str) -> None:
    """A request made under another span than its session was opened under links the session span, but
    only a span that may record gets links: sampled out, no Link is built for it (per request)."""
    per_request: dict[str, int] = {}
    for label, sampler in (("off", sampling.ALWAYS_OFF), ("on", sampling.ALWAYS_ON)):
        with instrumented_with(sampler, metrics_on=False) as cap:
            async with open_session(build_server(), mode=mode) as s:
                await s.call_tool("add", {"a": 0, "b": 1})  # the hidden tools/list
                with counting_calls(mcp_otel.session, "Link") as links:
                    for i in range(3):
                        with cap.tracer_provider.get_tracer("app").start_as_current_span("turn"):
                            await s.call_tool("add", {"a": i, "b": 1})
        per_request[label] = len(links) // 3
        if label == "on":
            calls = cap.named("tools/call add", side="client")
            assert sum(bool(span.links) for span in calls) == 3  # the requests made under a turn
    assert per_request == {"off": 0, "on": 1}, per_request


@pytest.mark.anyio
async def test_metrics_off_register_no_tool_names(mode: str) -> None:
    """The tool names a server lists or answers bound its metrics' attributes (bounds.py): with metrics off
    (a no-op meter) nothing reads them, so none is registered (nor a list result serialised for them)."""
    import mcp_otel.bounds
    import mcp_otel.telemetry

    books: list[Any] = []

    class RecordedNameBook(mcp_otel.bounds.NameBook):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            books.append(self)

    registered: dict[str, set[str]] = {}
    for label, metrics_on in (("off", False), ("on", True)):
        books.clear()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(mcp_otel.telemetry, "NameBook", RecordedNameBook)
            with instrumented_with(sampling.ALWAYS_ON, metrics_on=metrics_on):
                async with open_session(build_server(), mode=mode) as s:
                    for i in range(3):
                        await s.call_tool("add", {"a": i, "b": 1})
        # the server's book (registered_only): the names its metrics may carry
        registered[label] = {name for book in books if book._registered_only for name in book._names["tool"]}
    assert registered["off"] == set(), registered
    assert "add" in registered["on"], registered


@pytest.mark.anyio
async def test_sampled_out_without_metrics_does_not_work_out_outcomes(mode: str) -> None:
    """A server call whose span does not record, with metrics off and a session span that does not record
    either, has no reader for its outcome: the result is not examined (no tool-result check); with spans
    on, each tools/call result still is."""
    per_request: dict[str, int] = {}
    for label, sampler in (("off", sampling.ALWAYS_OFF), ("on", sampling.ALWAYS_ON)):
        with instrumented_with(sampler, metrics_on=False):
            async with open_session(build_server(), mode=mode) as s:
                await s.call_tool("add", {"a": 0, "b": 1})  # the hidden tools/list
                with counting_calls(mcp_otel.server, "tool_result_error") as examined:
                    for i in range(3):
                        await s.call_tool("add", {"a": i, "b": 1})
        per_request[label] = len(examined) // 3
    assert per_request == {"off": 0, "on": 1}, per_request
