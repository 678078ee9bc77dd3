"""OpenTelemetry instrumentation for MCP (Model Context Protocol) clients and servers.

Usage::

    from mcp_otel import McpInstrumentor

    McpInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
"""

from mcp_otel.instrumentor import McpInstrumentor
from mcp_otel.retry import call_with_retry, is_retryable, retry_attempt, retrying
from mcp_otel.version import __version__

__all__ = ["McpInstrumentor", "__version__", "call_with_retry", "is_retryable", "retry_attempt", "retrying"]
