"""A fresh tracer and meter provider per test, instrumented, with helpers to read what was exported."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Capture:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    extra: dict[str, Any] = field(default_factory=dict)

    def spans(self, scope: str | None = "mcp_otel") -> list[ReadableSpan]:
        spans = list(self.exporter.get_finished_spans())
        return [s for s in spans if scope is None or s.instrumentation_scope.name == scope]

    def named(self, name: str, scope: str | None = "mcp_otel") -> list[ReadableSpan]:
        return [s for s in self.spans(scope) if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"expected one {name!r} span, got {[s.name for s in self.spans()]}"
        return found[0]

    def parent_of(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        for candidate in self.spans(None):
            if candidate.context.span_id == span.parent.span_id:
                return candidate
        return None

    def client_spans(self) -> list[ReadableSpan]:
        """CLIENT spans from every scope (ours and the libraries' native ones)."""
        return [s for s in self.spans(None) if s.kind.name == "CLIENT"]

    def metrics(self) -> dict[str, list[Any]]:
        """metric name -> data points (the reader is cumulative: every point since the start)."""
        out: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out

    def metric_units(self) -> dict[str, str]:
        out: dict[str, str] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out[metric.name] = metric.unit
        return out


def new_capture() -> Capture:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return Capture(tracer_provider, meter_provider, exporter, reader)


@contextmanager
def instrumented(**kwargs: Any) -> Iterator[Capture]:
    """Instrument with fresh providers for the block, uninstrument after."""
    from mcp_otel import McpInstrumentor

    capture = new_capture()
    instrumentor = McpInstrumentor()
    instrumentor.instrument(
        tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider, **kwargs
    )
    try:
        yield capture
    finally:
        instrumentor.uninstrument()
