"""OpenTelemetry instrumentation for MCP (Model Context Protocol) clients and servers.

Usage::

    from mcp_otel import McpInstrumentor

    McpInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

Or with no code at all: ``MCP_OTEL_AUTO_INSTRUMENT=true`` (see ``mcp_otel.autoload``).

The public names are loaded on first use (PEP 562): ``import mcp_otel.autoload``, which the start-up hook
does in every interpreter of the environment while the variable is set, must not pay for OpenTelemetry's
instrumentation machinery.
"""

from __future__ import annotations

import importlib

from mcp_otel.version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the start-up hook's path)
if TYPE_CHECKING:
    from typing import Any

    from mcp_otel.autoload import configure
    from mcp_otel.helpers import trace_session
    from mcp_otel.instrumentor import McpInstrumentor
    from mcp_otel.retry import call_with_retry, is_retryable, retry_attempt, retrying

# public name -> module that defines it
_EXPORTS = {
    "McpInstrumentor": "mcp_otel.instrumentor",
    "configure": "mcp_otel.autoload",
    "trace_session": "mcp_otel.helpers",
    "call_with_retry": "mcp_otel.retry",
    "is_retryable": "mcp_otel.retry",
    "retry_attempt": "mcp_otel.retry",
    "retrying": "mcp_otel.retry",
}

__all__ = [
    "McpInstrumentor",
    "__version__",
    "call_with_retry",
    "configure",
    "is_retryable",
    "retry_attempt",
    "retrying",
    "trace_session",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mcp_otel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
