"""Faults inside OpenTelemetry never change what the application's MCP calls return or raise."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from mcp_otel import McpInstrumentor
from support.inproc import build_server, error_code, is_error, open_session

pytestmark = pytest.mark.anyio


class RaisingProcessor(SpanProcessor):
    def __init__(self) -> None:
        self.calls = 0

    def on_start(self, span, parent_context=None) -> None:
        self.calls += 1
        raise RuntimeError("span processor on_start exploded")

    def on_end(self, span) -> None:
        self.calls += 1
        raise RuntimeError("span processor on_end exploded")


class RaisingReader(InMemoryMetricReader):
    """Collects (so our instruments feed it) and then explodes."""

    def _receive_metrics(self, *args, **kwargs) -> None:
        super()._receive_metrics(*args, **kwargs)
        raise RuntimeError("metric reader exploded")

    def get_metrics_data(self):
        self.collect()
        raise RuntimeError("metric reader exploded")


async def _outcomes() -> list[tuple[str, object]]:
    """Success, tool error and JSON-RPC error, as the application sees them."""
    out: list[tuple[str, object]] = []
    async with open_session(build_server()) as s:
        result = await s.call_tool("add", {"a": 2, "b": 3})
        out.append(("add", (is_error(result), result.content[0].text)))
        result = await s.call_tool("fail_tool")
        out.append(("fail", (is_error(result), result.content[0].text)))
        try:
            await s.read_resource("res://missing")
        except Exception as exc:
            out.append(("rpc", (type(exc), str(exc), error_code(exc))))
    return out


async def test_raising_span_processor_and_metric_reader_do_not_change_results(caplog) -> None:
    expected = await _outcomes()
    processor = RaisingProcessor()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(processor)
    reader = RaisingReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = McpInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        got = await _outcomes()
        with pytest.raises(RuntimeError):
            reader.get_metrics_data()  # the reader really is broken, and our metrics reach it
    finally:
        instrumentor.uninstrument()
        meter_provider.shutdown()
    assert got == expected
    assert processor.calls > 0  # our spans reached the broken processor
    # one warning per failing site, not one per call
    warnings = [r for r in caplog.records if r.name == "mcp_otel" and r.levelname == "WARNING"]
    assert len(warnings) == len({r.getMessage() for r in warnings})


async def test_shut_down_tracer_provider_is_harmless() -> None:
    expected = await _outcomes()
    tracer_provider = TracerProvider()
    tracer_provider.shutdown()
    instrumentor = McpInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=MeterProvider())
    try:
        got = await _outcomes()
    finally:
        instrumentor.uninstrument()
    assert got == expected


class RaisingPropagator:
    """A global propagator whose inject explodes (extract is a no-op)."""

    fields = frozenset({"traceparent"})

    def inject(self, carrier, context=None, setter=None) -> None:
        raise RuntimeError("propagator exploded")

    def extract(self, carrier, context=None, getter=None):
        from opentelemetry.context import get_current

        return context if context is not None else get_current()


async def _outcomes_or_exception() -> object:
    try:
        return await _outcomes()
    except BaseException as exc:  # mcp 2.x's own dispatcher injects too, and does not survive this
        return (type(exc), str(exc))


async def test_raising_propagator_keeps_results_and_ends_spans() -> None:
    """A fault in the _meta injection: the application sees what it sees without mcp-otel, and on mcp 1.x
    (where only we inject) the calls succeed and their request spans still end."""
    from opentelemetry import propagate

    from support.capture import instrumented
    from support.env import MCP_MAJOR

    previous = propagate.get_global_textmap()
    propagate.set_global_textmap(RaisingPropagator())
    try:
        expected = await _outcomes_or_exception()
        with instrumented() as cap:
            got = await _outcomes_or_exception()
    finally:
        propagate.set_global_textmap(previous)
    assert got == expected
    if MCP_MAJOR == 1:
        assert cap.one("tools/call add").end_time is not None
        assert cap.one("tools/call fail_tool").attributes["error.type"] == "tool_error"
