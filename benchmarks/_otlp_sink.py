"""An OTLP/gRPC trace sink for the exporter benchmarks: accepts every export and keeps nothing.

    python benchmarks/_otlp_sink.py    # prints its port, serves until stdin closes

It runs in its own process so that its work is not charged to the process being measured.
"""

from __future__ import annotations

import sys
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class _Sink(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def Export(self, request: Any, context: Any) -> Any:  # the gRPC method name
        return trace_service_pb2.ExportTraceServiceResponse()


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Sink(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()  # the parent closes stdin (or exits) when it is done
    server.stop(0)


if __name__ == "__main__":
    main()
