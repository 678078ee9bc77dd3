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

    def named(
        self, name: str, scope: str | None = "mcp_otel", side: str | None = "client"
    ) -> list[ReadableSpan]:
        """Spans called ``name``. ``side="client"`` (the default) keeps the client's spans only: in-process
        tests instrument the server too, whose SERVER spans and server ``mcp.session`` share the names;
        ``side="server"`` keeps the server's, ``side=None`` all."""
        found = [s for s in self.spans(scope) if s.name == name]
        if side is None:
            return found
        return [s for s in found if self._side(s) == side]

    def one(self, name: str, side: str | None = "client") -> ReadableSpan:
        found = self.named(name, side=side)
        assert len(found) == 1, (
            f"expected one {side or ''} {name!r} span, got {[s.name for s in self.spans()]}"
        )
        return found[0]

    def _side(self, span: ReadableSpan) -> str:
        if span.kind.name == "CLIENT":
            return "client"
        if span.kind.name == "SERVER":
            return "server"
        if span.name in ("mcp.connect", "mcp.cleanup"):
            return "client"
        if span.name == "mcp.session":
            children = {
                c.name for c in self.spans(None) if c.parent and c.parent.span_id == span.context.span_id
            }
            client_children = {"mcp.connect", "mcp.cleanup"} & children
            has_client_requests = any(
                c.kind.name == "CLIENT"
                for c in self.spans(None)
                if c.parent and c.parent.span_id == span.context.span_id
            )
            return "client" if client_children or has_client_requests else "server"
        parent = self.parent_of(span)
        return self._side(parent) if parent is not None else "client"

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
    # shutdown_on_exit=False: an atexit registration would keep every test's providers alive
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
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
