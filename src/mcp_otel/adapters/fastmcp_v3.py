"""fastmcp 3.x (on mcp 1.x): its always-on CLIENT and SERVER spans give way to ours.

FastMCP 3.4 has no switch for its telemetry. Its ``client_span``/``server_span`` helpers get their tracer
from ``get_tracer`` imported into ``fastmcp.client.telemetry`` and ``fastmcp.server.telemetry``: that name
is replaced by one whose CLIENT/SERVER spans are non-recording and never current (hookpoints E12), so
there is one CLIENT span (ours, from the ClientSession underneath) and one SERVER span (ours, from
``Server._handle_request``) per request. ``_meta`` still carries our context. Its INTERNAL spans (mounted
servers' ``delegate``, sampling tools) and its ``sampling create_message`` CLIENT span, which has no
mcp-otel counterpart, are left as they are.

Its ``MiddlewareServerSession._received_request`` runs FastMCP middleware around ``initialize``: wrapped
like the SDK's, so the initialize span covers the middleware too.
"""

from __future__ import annotations

from typing import Any

from mcp_otel._patching import Patcher
from mcp_otel.adapters._native import adopting_get_tracer
from mcp_otel.adapters.mcp_v1_server import McpV1ServerAdapter


class FastMCPV3Adapter:
    """Patches fastmcp 3.x (lazily: fastmcp is imported after instrument() in most apps)."""

    def __init__(self, server: McpV1ServerAdapter) -> None:
        self.server = server

    def apply(self, patcher: Patcher) -> None:
        telemetry = self.server.telemetry

        def quiet(module: Any) -> None:
            original = getattr(module, "get_tracer", None)
            if original is not None:
                patcher.replace(module, "get_tracer", adopting_get_tracer(telemetry, original))

        patcher.on_import("fastmcp.client.telemetry", quiet)
        patcher.on_import("fastmcp.server.telemetry", quiet)

        def low_level(module: Any) -> None:
            cls = getattr(module, "MiddlewareServerSession", None)
            if cls is not None and "_received_request" in cls.__dict__:
                patcher.wrap(cls, "_received_request", self.server.received_request)

        patcher.on_import("fastmcp.server.low_level", low_level)
