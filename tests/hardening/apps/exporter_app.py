"""An instrumented client exporting over OTLP (argv: endpoint, protocol) making 50 in-memory calls."""
# ruff: noqa: E402 - the order is the point: providers, then instrument(), then import mcp

import logging
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
logging.basicConfig(level=logging.CRITICAL)
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

proto = sys.argv[2]
if proto == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
else:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
ep = sys.argv[1]
tp = TracerProvider()
tp.add_span_processor(
    BatchSpanProcessor(OTLPSpanExporter(endpoint=ep if proto == "grpc" else ep + "/v1/traces"))
)
mp = MeterProvider(
    metric_readers=[
        PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=ep if proto == "grpc" else ep + "/v1/metrics"),
            export_interval_millis=500,
        )
    ]
)
trace.set_tracer_provider(tp)
metrics.set_meter_provider(mp)
from mcp_otel import McpInstrumentor

McpInstrumentor().instrument()
from support.inproc import build_server, open_session


async def main():
    async with open_session(build_server()) as s:
        for i in range(50):
            r = await s.call_tool("add", {"a": i, "b": 1})
            assert r.content[0].text == str(i + 1)


t = time.monotonic()
anyio.run(main)
print(f"calls ok in {time.monotonic() - t:.2f} s", file=sys.stderr)
