"""mcp-otel demo: a real MCP server on 127.0.0.1 (streamable HTTP under uvicorn) and an instrumented
client making a few calls: one reports progress and logs a warning (span events in the tree), one fails and
one times out. The trace is printed as a tree
on stderr; with OTEL_EXPORTER_OTLP_ENDPOINT set it is also exported over OTLP (OTEL_EXPORTER_OTLP_PROTOCOL
grpc or http/protobuf).

Run it with ``make demo`` (which builds its own virtual environment), or ``python examples/demo.py``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import socket
import sys
import warnings

import anyio
import uvicorn
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from mcp_otel import McpInstrumentor
from mcp_otel.console import ConsoleTreeExporter

MCP_MAJOR = int(importlib.metadata.version("mcp").split(".")[0])
if MCP_MAJOR >= 2:
    from mcp.server.mcpserver import Context
else:
    from mcp.server.fastmcp import Context


def tracer_provider() -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "mcp-otel-demo"}))
    provider.add_span_processor(SimpleSpanProcessor(ConsoleTreeExporter()))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc") == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def build_app():
    """The examples' weather server (one tool that works, one that fails) plus a tool too slow to wait for."""
    from weather_server import build_server  # examples/weather_server.py, beside this file

    server = build_server()

    @server.tool()
    async def weekly_report(city: str, ctx: Context) -> str:
        """A report built in steps: progress for each, and a warning in the server's log."""
        for day in range(1, 4):
            await ctx.report_progress(day, 3)
        await ctx.warning(f"no station data for {city} on day 3, used the forecast")
        return f"weekly report for {city} ready"

    @server.tool()
    async def slow_report(seconds: float) -> str:
        """A tool slower than the client is willing to wait."""
        await anyio.sleep(seconds)
        return "late"

    return server.streamable_http_app()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def client(url: str) -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        print(f"weekly_report progress {progress:g}/{total:g}", file=sys.stderr)

    async def on_log(params: object) -> None:
        print(f"server log: {getattr(params, 'level', '')} {getattr(params, 'data', '')}", file=sys.stderr)

    async with (
        streamable_http_client(url) as streams,
        ClientSession(streams[0], streams[1], logging_callback=on_log) as session,
    ):
        await session.initialize()
        await session.list_tools()
        result = await session.call_tool("get_weather", {"city": "Paris"})
        print(f"get_weather -> {result.content[0].text}", file=sys.stderr)
        result = await session.call_tool("weekly_report", {"city": "Paris"}, progress_callback=on_progress)
        print(f"weekly_report -> {result.content[0].text}", file=sys.stderr)
        result = await session.call_tool("get_forecast", {"city": "Paris"})
        print(f"get_forecast -> tool error: {result.content[0].text}", file=sys.stderr)
        timeout = 0.3 if MCP_MAJOR >= 2 else __import__("datetime").timedelta(seconds=0.3)
        try:
            await session.call_tool("slow_report", {"seconds": 1.0}, read_timeout_seconds=timeout)
        except Exception as exc:  # the demo shows the failure, it does not hide it
            print(f"slow_report -> {type(exc).__name__}: {exc}", file=sys.stderr)


async def main() -> None:
    # The timed-out call makes the server log a ClosedResourceError traceback when it answers too late;
    # that is the SDK's own noise, not part of what the demo shows.
    for name in ("mcp", "httpx", "uvicorn"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # mcp 2.x deprecates server logging for 2026-07-28; the demo's handshake-era session still uses it.
    warnings.filterwarnings("ignore", message="The logging capability is deprecated")
    provider = tracer_provider()
    trace.set_tracer_provider(provider)
    McpInstrumentor().instrument(tracer_provider=provider)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(), host="127.0.0.1", port=port, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        with anyio.fail_after(15):
            while not server.started:
                await anyio.sleep(0.05)
        try:
            await client(f"http://127.0.0.1:{port}/mcp")
        finally:
            server.should_exit = True
    provider.shutdown()


if __name__ == "__main__":
    anyio.run(main)
