"""fastmcp 4.x (on mcp 2.x): one CLIENT and one SERVER span per request in every ``telemetry_mode``.

* ``native`` (the default): FastMCP's CLIENT span (``client_span``) and its SERVER span (the seam span
  enriched by ``server_span``) get their tracer from ``get_tracer`` imported into
  ``fastmcp.client.telemetry`` and ``fastmcp.server.telemetry``; that name is replaced by one whose
  CLIENT/SERVER spans are non-recording and never current. The SDK's ``MCP send`` CLIENT span is already
  replaced by ours (mcp_v2), and FastMCP removes the SDK's server middleware itself.
* ``propagation_only`` (or ``suppress_fastmcp_telemetry()``): FastMCP creates no spans but attaches the
  ``_meta`` context around the request, which would take our SERVER span's place as the parent of the
  handler's spans; while our SERVER span is current, ``_get_parent_trace_context`` answers None.
* ``off``: FastMCP neither injects nor extracts; ours does both.
"""

from __future__ import annotations

from typing import Any

from mcp_otel._patching import Patcher
from mcp_otel.adapters._native import ACTIVE_CALL, adopting_get_tracer
from mcp_otel.telemetry import Telemetry


class FastMCPV4Adapter:
    """Patches fastmcp 4.x (lazily: fastmcp is imported after instrument() in most apps)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def apply(self, patcher: Patcher) -> None:
        def quiet(module: Any) -> None:
            original = getattr(module, "get_tracer", None)
            if original is not None:
                patcher.replace(module, "get_tracer", adopting_get_tracer(self.telemetry, original))

        def server_telemetry(module: Any) -> None:
            quiet(module)
            if hasattr(module, "_get_parent_trace_context"):
                patcher.wrap(module, "_get_parent_trace_context", _parent_context)

        patcher.on_import("fastmcp.client.telemetry", quiet)
        patcher.on_import("fastmcp.server.telemetry", server_telemetry)


def _parent_context(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if ACTIVE_CALL.get() is not None:
        return None  # our SERVER span is current and already parented on _meta
    return wrapped(*args, **kwargs)
