"""An MCP client that sets its own OpenTelemetry providers ``before`` or ``after`` its first MCP session,
with ``MCP_OTEL_AUTO_INSTRUMENT=true`` in its environment (issue 15, "order-dependent"):

    python late_provider_app.py before|after

Session 1 calls ``add(1, 2)``, session 2 calls ``echo("late")`` (stdio, tests/servers/mcp_server.py, sdk
flavour). The application's providers export to memory; at the end it prints, on stderr, one line
``RESULT {json}``: the names of the CLIENT spans and metrics its own exporters saw, and whether the
global providers are its own.
"""

import json
import sys
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SERVER = Path(__file__).resolve().parents[2] / "servers" / "mcp_server.py"


async def session(tool: str, arguments: dict) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=[str(SERVER), "--flavour", "sdk", "--transport", "stdio"]
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        await client.call_tool(tool, arguments)


def set_own_providers() -> tuple[TracerProvider, InMemorySpanExporter, MeterProvider, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return tracer_provider, exporter, meter_provider, reader


def main(order: str) -> None:
    if order == "before":
        own = set_own_providers()
    anyio.run(session, "add", {"a": 1, "b": 2})
    if order == "after":
        own = set_own_providers()
    anyio.run(session, "echo", {"text": "late"})
    tracer_provider, exporter, meter_provider, reader = own
    data = reader.get_metrics_data()
    metric_names = sorted(
        {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
        if data
        else set()
    )
    result = {
        "client_spans": sorted(
            s.name for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.CLIENT
        ),
        "scopes": sorted({s.instrumentation_scope.name for s in exporter.get_finished_spans()}),
        "metrics": metric_names,
        "own_tracer_provider": trace.get_tracer_provider() is tracer_provider,
        "own_meter_provider": metrics.get_meter_provider() is meter_provider,
    }
    print("RESULT " + json.dumps(result), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
