"""OpenTelemetry instrumentation for MCP (Model Context Protocol) clients and servers.

Usage::

    from mcp_otel import McpInstrumentor

    McpInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)

Or with no code at all: ``MCP_OTEL_AUTO_INSTRUMENT=true``, or ``mcp_otel.configure()`` in code.

Public API: ``McpInstrumentor``, ``configure``, ``trace_session``, ``call_with_retry``, ``retrying``,
``retry_attempt``, ``is_retryable``, ``__version__``.
"""

# The public names are loaded on first use: ``import mcp_otel.autoload``, which the start-up hook does in
# every interpreter of the environment while the variable is set, must not pay for OpenTelemetry's
# instrumentation machinery. The loader is a module subclass (not a PEP 562 module ``__getattr__``), so that
# type checkers reject ``mcp_otel.anything`` and ``help(mcp_otel)`` shows the public names only.

from __future__ import annotations

import importlib
import sys

from mcp_otel.version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the start-up hook's path)
if TYPE_CHECKING:
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


class _LazyModule(type(sys)):  # type: ignore[misc]  # types.ModuleType without importing types
    def __getattr__(self, name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'mcp_otel' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(self, name, value)
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(__all__))


sys.modules[__name__].__class__ = _LazyModule
