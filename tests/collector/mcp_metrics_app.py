"""A real instrumented MCP client for the live alerting test, run as a subprocess.

It instruments mcp with mcp_otel.McpInstrumentor, exposes the metrics with opentelemetry-exporter-prometheus
on 127.0.0.1:PORT (prometheus_client), and drives an in-memory FastMCP server: every round calls a tool
that succeeds, one that returns isError (error.type=tool_error) and one that sleeps past the request's
read timeout (error.type=timeout), and every few rounds closes the session and opens a new one
(mcp.client.session.duration). It calls for --duration seconds or --max-rounds rounds, whichever comes
first, then keeps serving the metrics for --linger seconds; SIGTERM ends it at any point.

When ready it writes --ready-file (JSON): the port, and the Prometheus names of every instrument the
package registered, translated with the exporter's own name and unit mapping, so that the test can tell
"declared but not recorded in this run" (e.g. retries) from "not exported at all".

Exit status 3 means the package (or its McpInstrumentor) cannot be imported.
"""

import argparse
import asyncio
import json
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

READ_TIMEOUT = timedelta(seconds=0.2)
SLOW_TOOL_SECONDS = 0.6
ROUNDS_PER_SESSION = 20


def declared_prometheus_names(meter_provider: Any) -> dict[str, str]:
    """{Prometheus sample name: OTel instrument name} for every instrument of the mcp_otel meter(s)."""
    from opentelemetry.exporter.prometheus._mapping import map_unit, sanitize_full_name
    from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter

    names: dict[str, str] = {}
    meters = meter_provider._meters  # SDK internals: this is a test tool, not product code
    for meter in meters.values() if isinstance(meters, dict) else meters:
        for instrument in list(meter._instrument_id_instrument.values()):
            base = sanitize_full_name(instrument.name)
            unit = map_unit(instrument.unit or "")
            if unit and not base.endswith(f"_{unit}"):
                base = f"{base}_{unit}"
            if isinstance(instrument, Histogram):
                samples = [f"{base}_bucket", f"{base}_sum", f"{base}_count"]
            elif isinstance(instrument, (Counter, ObservableCounter)):
                samples = [base if base.endswith("_total") else f"{base}_total"]
            else:  # UpDownCounter, gauges: a Prometheus gauge without suffix
                samples = [base]
            for sample in samples:
                names[sample] = instrument.name
    return names


def build_server() -> Any:
    from mcp.server.fastmcp import FastMCP
    from mcp.server.fastmcp.exceptions import ToolError

    server = FastMCP("collector-live-test", log_level="WARNING")

    @server.tool()
    def lookup(key: str) -> str:
        return f"value of {key}"

    @server.tool()
    def flaky_search(query: str) -> str:
        raise ToolError(f"search backend unavailable for {query!r}")

    @server.tool()
    async def slow_report() -> str:
        await asyncio.sleep(SLOW_TOOL_SECONDS)
        return "too late"

    return server


async def drive(server: Any, deadline: float, max_rounds: int) -> dict[str, int]:
    from mcp.shared.exceptions import McpError
    from mcp.shared.memory import create_connected_server_and_client_session

    counts = {"rounds": 0, "sessions": 0, "tool_errors": 0, "timeouts": 0}
    while counts["rounds"] < max_rounds and time.monotonic() < deadline:
        async with create_connected_server_and_client_session(server) as session:
            counts["sessions"] += 1
            await session.list_tools()
            for _ in range(ROUNDS_PER_SESSION):
                if counts["rounds"] >= max_rounds or time.monotonic() >= deadline:
                    break
                counts["rounds"] += 1
                await session.call_tool("lookup", {"key": "a"})
                result = await session.call_tool("flaky_search", {"query": "mcp"})
                counts["tool_errors"] += bool(result.isError)
                try:
                    await session.call_tool("slow_report", {}, read_timeout_seconds=READ_TIMEOUT)
                except McpError:
                    counts["timeouts"] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=90.0)
    parser.add_argument("--max-rounds", type=int, default=2000)
    parser.add_argument("--linger", type=float, default=120.0)
    args = parser.parse_args()

    try:
        from mcp_otel import McpInstrumentor
    except ImportError as exc:
        print(f"mcp_otel.McpInstrumentor is not importable: {exc}", file=sys.stderr)
        return 3
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import start_http_server

    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    McpInstrumentor().instrument(meter_provider=meter_provider, tracer_provider=TracerProvider())
    start_http_server(args.port, addr="127.0.0.1")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ready = {"port": args.port, "declared": declared_prometheus_names(meter_provider)}
    tmp = args.ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(ready), encoding="utf-8")
    tmp.rename(args.ready_file)

    counts = asyncio.run(drive(build_server(), time.monotonic() + args.duration, args.max_rounds))
    print(json.dumps(counts), flush=True)
    time.sleep(args.linger)
    return 0


if __name__ == "__main__":
    sys.exit(main())
