"""A real OTLP receiver on 127.0.0.1: gRPC (grpcio + opentelemetry-proto) and HTTP (/v1/traces, /v1/metrics,
/v1/logs; protobuf or JSON bodies, gzip/deflate aware), decoding what arrives into plain records.

    with OtlpReceiver() as rx:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": rx.grpc_endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
        ...
        spans = rx.wait_for(lambda: rx.spans(name="tools/call add"), timeout=10)

`spans()` and `metrics()` return every record received so far, in arrival order; `clear()` forgets them.
Each record notes which `protocol` ("grpc" or "http") delivered it.
"""

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

T = TypeVar("T")

# ------------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRecord:
    name: str
    attributes: dict[str, Any]
    time_unix_nano: int


@dataclass(frozen=True)
class SpanRecord:
    name: str
    kind: str  # "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER" or "UNSPECIFIED"
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str | None
    attributes: dict[str, Any]
    status_code: str  # "UNSET", "OK" or "ERROR"
    status_message: str
    resource: dict[str, Any]
    scope: str  # instrumentation scope name
    scope_version: str
    links: list[tuple[str, str]]  # (trace_id, span_id)
    events: list[str]  # event names, in order
    event_records: list[EventRecord]
    start_time_unix_nano: int
    end_time_unix_nano: int
    protocol: str  # "grpc" or "http"

    @property
    def duration_s(self) -> float:
        return (self.end_time_unix_nano - self.start_time_unix_nano) / 1e9

    @property
    def service_name(self) -> str | None:
        return self.resource.get("service.name")

    @property
    def resource_attributes(self) -> dict[str, Any]:
        return self.resource


@dataclass(frozen=True)
class MetricPoint:
    attributes: dict[str, Any]
    value: int | float | None = None  # sum / gauge
    count: int | None = None  # histogram
    sum: float | None = None
    bucket_counts: list[int] = field(default_factory=list)
    explicit_bounds: list[float] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    time_unix_nano: int = 0


@dataclass(frozen=True)
class MetricRecord:
    """One metric in one export request (periodic cumulative exports repeat a metric: see `last_metric`)."""

    name: str
    unit: str
    description: str
    kind: str  # "sum", "gauge", "histogram", "exponential_histogram" or "summary"
    monotonic: bool | None  # for sums
    temporality: str | None  # "CUMULATIVE" / "DELTA" for sums and histograms
    points: list[MetricPoint]
    resource: dict[str, Any]
    scope: str
    protocol: str

    @property
    def data_points(self) -> list[MetricPoint]:
        return self.points

    @property
    def resource_attributes(self) -> dict[str, Any]:
        return self.resource


# ------------------------------------------------------------------------------------------------
# Decoding
# ------------------------------------------------------------------------------------------------


def any_value(value: common_pb2.AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, which)


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _hex(raw: bytes) -> str | None:
    return raw.hex() if raw else None


def decode_spans(request: trace_service_pb2.ExportTraceServiceRequest, protocol: str) -> list[SpanRecord]:
    out: list[SpanRecord] = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                events = [
                    EventRecord(e.name, attributes(e.attributes), e.time_unix_nano) for e in span.events
                ]
                out.append(
                    SpanRecord(
                        name=span.name,
                        kind=trace_pb2.Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=_hex(span.parent_span_id),
                        attributes=attributes(span.attributes),
                        status_code=trace_pb2.Status.StatusCode.Name(span.status.code).removeprefix(
                            "STATUS_CODE_"
                        ),
                        status_message=span.status.message,
                        resource=resource,
                        scope=ss.scope.name,
                        scope_version=ss.scope.version,
                        links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        events=[e.name for e in events],
                        event_records=events,
                        start_time_unix_nano=span.start_time_unix_nano,
                        end_time_unix_nano=span.end_time_unix_nano,
                        protocol=protocol,
                    )
                )
    return out


def _number(point: Any) -> int | float | None:
    which = point.WhichOneof("value")
    return getattr(point, which) if which else None


def _temporality(value: int) -> str:
    return metrics_pb2.AggregationTemporality.Name(value).removeprefix("AGGREGATION_TEMPORALITY_")


def decode_metrics(
    request: metrics_service_pb2.ExportMetricsServiceRequest, protocol: str
) -> list[MetricRecord]:
    out: list[MetricRecord] = []
    for rm in request.resource_metrics:
        resource = attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data") or ""
                monotonic: bool | None = None
                temporality: str | None = None
                points: list[MetricPoint] = []
                if kind in ("sum", "gauge"):
                    data = getattr(metric, kind)
                    if kind == "sum":
                        monotonic = data.is_monotonic
                        temporality = _temporality(data.aggregation_temporality)
                    points = [
                        MetricPoint(
                            attributes(p.attributes), value=_number(p), time_unix_nano=p.time_unix_nano
                        )
                        for p in data.data_points
                    ]
                elif kind == "histogram":
                    temporality = _temporality(metric.histogram.aggregation_temporality)
                    points = [
                        MetricPoint(
                            attributes(p.attributes),
                            count=p.count,
                            sum=p.sum if p.HasField("sum") else None,
                            bucket_counts=list(p.bucket_counts),
                            explicit_bounds=list(p.explicit_bounds),
                            min=p.min if p.HasField("min") else None,
                            max=p.max if p.HasField("max") else None,
                            time_unix_nano=p.time_unix_nano,
                        )
                        for p in metric.histogram.data_points
                    ]
                elif kind == "exponential_histogram":
                    temporality = _temporality(metric.exponential_histogram.aggregation_temporality)
                    points = [
                        MetricPoint(
                            attributes(p.attributes),
                            count=p.count,
                            sum=p.sum if p.HasField("sum") else None,
                            time_unix_nano=p.time_unix_nano,
                        )
                        for p in metric.exponential_histogram.data_points
                    ]
                elif kind == "summary":
                    points = [
                        MetricPoint(
                            attributes(p.attributes),
                            count=p.count,
                            sum=p.sum,
                            time_unix_nano=p.time_unix_nano,
                        )
                        for p in metric.summary.data_points
                    ]
                out.append(
                    MetricRecord(
                        name=metric.name,
                        unit=metric.unit,
                        description=metric.description,
                        kind=kind,
                        monotonic=monotonic,
                        temporality=temporality,
                        points=points,
                        resource=resource,
                        scope=sm.scope.name,
                        protocol=protocol,
                    )
                )
    return out


# ------------------------------------------------------------------------------------------------
# Receiver
# ------------------------------------------------------------------------------------------------


class OtlpReceiver:
    """OTLP gRPC + HTTP receiver bound to 127.0.0.1 on free ports; a context manager, or start()/stop()."""

    def __init__(self, *, grpc_port: int = 0, http_port: int = 0) -> None:
        self._lock = threading.Lock()
        self._spans: list[SpanRecord] = []
        self._metrics: list[MetricRecord] = []
        self._log_records = 0
        self._requests: list[tuple[str, str]] = []  # (signal, protocol) per export request
        self._grpc_port_wanted = grpc_port
        self._http_port_wanted = http_port
        self._grpc_server: grpc.Server | None = None
        self._http_server: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self.grpc_port = 0
        self.http_port = 0
        self.fail_with: int | None = None  # set to an HTTP status (e.g. 503) to reject HTTP exports

    # -- endpoints ---------------------------------------------------------------------------------------

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """Base URL for OTEL_EXPORTER_OTLP_ENDPOINT with http/protobuf (exporters append /v1/traces...)."""
        return f"http://127.0.0.1:{self.http_port}"

    def endpoint(self, protocol: str) -> str:
        return self.grpc_endpoint if protocol == "grpc" else self.http_endpoint

    def exporter_env(self, protocol: str = "grpc") -> dict[str, str]:
        """Environment for an OTLP-exporting process: endpoint, protocol, no TLS, short metric interval."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint(protocol),
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc" if protocol == "grpc" else "http/protobuf",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> "OtlpReceiver":
        receiver = self

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver._add_spans(request, "grpc")
                return trace_service_pb2.ExportTraceServiceResponse()

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver._add_metrics(request, "grpc")
                return metrics_service_pb2.ExportMetricsServiceResponse()

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver._add_logs(request, "grpc")
                return logs_service_pb2.ExportLogsServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
        self.grpc_port = server.add_insecure_port(f"127.0.0.1:{self._grpc_port_wanted}")
        if not self.grpc_port:
            raise RuntimeError(f"cannot bind OTLP gRPC receiver to 127.0.0.1:{self._grpc_port_wanted}")
        server.start()
        self._grpc_server = server

        http_server = ThreadingHTTPServer(("127.0.0.1", self._http_port_wanted), _make_handler(self))
        http_server.daemon_threads = True
        self.http_port = int(http_server.server_address[1])
        self._http_server = http_server
        self._http_thread = threading.Thread(
            target=http_server.serve_forever, kwargs={"poll_interval": 0.05}, name="otlp-http", daemon=True
        )
        self._http_thread.start()
        return self

    def stop(self) -> None:
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None)
            self._grpc_server = None
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            self._http_server = None
        if self._http_thread is not None:
            self._http_thread.join(5)
            self._http_thread = None

    def __enter__(self) -> "OtlpReceiver":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- reading -----------------------------------------------------------------------------------------

    def spans(
        self,
        name: str | None = None,
        *,
        kind: str | None = None,
        scope: str | None = None,
        trace_id: str | None = None,
    ) -> list[SpanRecord]:
        """Spans received so far (optionally filtered by exact name, kind, scope name, trace id)."""
        with self._lock:
            spans = list(self._spans)
        return [
            s
            for s in spans
            if (name is None or s.name == name)
            and (kind is None or s.kind == kind)
            and (scope is None or s.scope == scope)
            and (trace_id is None or s.trace_id == trace_id)
        ]

    def metrics(self, name: str | None = None) -> list[MetricRecord]:
        """Metric records received so far, one per metric per export (optionally by exact name)."""
        with self._lock:
            metrics = list(self._metrics)
        return [m for m in metrics if name is None or m.name == name]

    def last_metric(self, name: str) -> MetricRecord | None:
        """The most recently received record of metric `name` (for cumulative metrics: the current totals)."""
        found = self.metrics(name)
        return found[-1] if found else None

    def metric_names(self) -> set[str]:
        return {m.name for m in self.metrics()}

    def requests(self) -> list[tuple[str, str]]:
        """(signal, protocol) of every export request received, e.g. ("traces", "http")."""
        with self._lock:
            return list(self._requests)

    @property
    def log_record_count(self) -> int:
        with self._lock:
            return self._log_records

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
            self._metrics.clear()
            self._requests.clear()
            self._log_records = 0

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
        """Poll `predicate()` until it returns something truthy, and return that; AssertionError on timeout
        (the message lists what was received, to make failures readable)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"OTLP receiver: condition not met within {timeout}s; {self.summary()}")
            time.sleep(interval)

    def wait_for_spans(
        self, name: str | None = None, *, count: int = 1, timeout: float = 10.0, **filters: Any
    ) -> list[SpanRecord]:
        """Wait until at least `count` spans match (see `spans()` for filters) and return them."""

        def enough() -> list[SpanRecord]:
            found = self.spans(name, **filters)
            return found if len(found) >= count else []

        return self.wait_for(enough, timeout)

    def wait_for_metric(self, name: str, timeout: float = 10.0) -> MetricRecord:
        """Wait until metric `name` has arrived with at least one data point; return the latest record."""

        def latest() -> MetricRecord | None:
            record = self.last_metric(name)
            return record if record is not None and record.points else None

        return self.wait_for(latest, timeout)

    def summary(self) -> str:
        spans = self.spans()
        names = sorted({f"{s.kind} {s.name!r}" for s in spans})
        return (
            f"{len(spans)} spans {names}; metrics {sorted(self.metric_names())}; "
            f"requests {len(self.requests())}"
        )

    # -- ingestion ---------------------------------------------------------------------------------------

    def _add_spans(self, request: trace_service_pb2.ExportTraceServiceRequest, protocol: str) -> None:
        records = decode_spans(request, protocol)
        with self._lock:
            self._spans.extend(records)
            self._requests.append(("traces", protocol))

    def _add_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest, protocol: str) -> None:
        records = decode_metrics(request, protocol)
        with self._lock:
            self._metrics.extend(records)
            self._requests.append(("metrics", protocol))

    def _add_logs(self, request: logs_service_pb2.ExportLogsServiceRequest, protocol: str) -> None:
        count = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
        with self._lock:
            self._log_records += count
            self._requests.append(("logs", protocol))


_HTTP_ROUTES: dict[str, tuple[type, type, str]] = {
    "/v1/traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        "_add_spans",
    ),
    "/v1/metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        "_add_metrics",
    ),
    "/v1/logs": (
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        "_add_logs",
    ),
}


def _make_handler(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            route = _HTTP_ROUTES.get(self.path.split("?", 1)[0])
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if route is None:
                self._reply(404, b"unknown path", "text/plain")
                return
            if receiver.fail_with is not None:
                self._reply(receiver.fail_with, b"rejected by test", "text/plain")
                return
            encoding = (self.headers.get("Content-Encoding") or "").lower()
            try:
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                request_cls, response_cls, add = route
                request = request_cls()
                content_type = (self.headers.get("Content-Type") or "").lower()
                json_body = content_type.startswith("application/json")
                if json_body:
                    json_format.Parse(body.decode("utf-8"), request)
                else:
                    request.ParseFromString(body)
            except Exception as exc:  # malformed body: a 400 as a collector would send
                self._reply(400, str(exc).encode(), "text/plain")
                return
            getattr(receiver, add)(request, "http")
            response = response_cls()
            if json_body:
                self._reply(200, json.dumps(json_format.MessageToDict(response)).encode(), "application/json")
            else:
                self._reply(200, response.SerializeToString(), "application/x-protobuf")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # silence per-request logging
            pass

    return Handler
