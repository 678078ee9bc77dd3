"""``McpInstrumentor``: detects the installed MCP libraries and applies (or removes) their adapters."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from mcp_otel import retry
from mcp_otel._patching import Patcher
from mcp_otel.config import Config
from mcp_otel.package import _instruments
from mcp_otel.streams import StreamTracker
from mcp_otel.telemetry import Telemetry

_logger = logging.getLogger("mcp_otel")


def _major(distribution: str) -> int | None:
    try:
        return int(importlib.metadata.version(distribution).split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


class McpInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """OpenTelemetry instrumentor for MCP clients and servers.

    ``McpInstrumentor().instrument(tracer_provider=..., meter_provider=...)`` patches what is installed:
    the ``mcp`` SDK (1.x or 2.x). Keyword arguments besides the providers override the environment:
    ``capture_content`` (bool), ``excluded_methods`` (iterable of MCP method names), ``propagate`` (bool),
    ``max_attribute_length`` (int), ``result_error_detector`` (True, or a callable given the wire-form
    ``tools/call`` result that returns truthy, or an error message, for a failure reported in the payload).
    """

    # True while instrument() runs. It imports mcp, which fires the MCP_OTEL_AUTO_INSTRUMENT hook; the hook
    # must then leave it alone, so that opentelemetry-instrument and the hook together instrument once.
    busy = False
    # The current instrumentation was applied by the MCP_OTEL_AUTO_INSTRUMENT hook (mcp_otel.autoload).
    by_autoload = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def instrument(self, **kwargs: Any) -> Any:
        """Instrument MCP (see the class docstring); a no-op when already instrumented.

        An explicit call with options (providers, ``capture_content``, ...) replaces the instrumentation
        the ``MCP_OTEL_AUTO_INSTRUMENT`` hook applied, so code-level configuration wins; one without options
        leaves it in place.
        """
        autoload = bool(kwargs.pop("_mcp_otel_autoload", False))
        if self.is_instrumented_by_opentelemetry and self.by_autoload and not autoload:
            options = {k for k in kwargs if k not in ("skip_dep_check", "raise_exception_on_conflict")}
            if not options:
                return None
            self.uninstrument()
        already = self.is_instrumented_by_opentelemetry
        self.busy = True
        try:
            result = super().instrument(**kwargs)
        finally:
            self.busy = False
        if not already and self.is_instrumented_by_opentelemetry:
            self.by_autoload = autoload
        return result

    def _instrument(self, **kwargs: Any) -> None:
        config = Config.from_env(kwargs)
        telemetry = Telemetry(config, kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        patcher = Patcher()
        self._patcher = patcher
        self._telemetry = telemetry
        for adapter in _select_adapters(telemetry):
            try:
                adapter.apply(patcher)
            except Exception:
                _logger.warning("mcp-otel: could not instrument %s", type(adapter).__name__, exc_info=True)
        if config.track_streams:
            try:
                StreamTracker(config.capture_leak_origin).apply(patcher)
            except Exception:
                _logger.warning("mcp-otel: could not hook anyio memory streams", exc_info=True)
        retry._helper_counter = telemetry.client_retries

    def _uninstrument(self, **kwargs: Any) -> None:
        self.by_autoload = False
        patcher = getattr(self, "_patcher", None)
        if patcher is not None:
            patcher.unwrap_all()
            self._patcher = None
        retry._helper_counter = None


def _select_adapters(telemetry: Telemetry) -> list[Any]:
    """One adapter per installed library line; unknown major versions get a warning and no patch."""
    adapters: list[Any] = []
    mcp_major = _major("mcp")
    if mcp_major == 1:
        from mcp_otel.adapters.mcp_v1 import McpV1ClientAdapter
        from mcp_otel.adapters.mcp_v1_lifecycle import McpV1LifecycleAdapter
        from mcp_otel.adapters.mcp_v1_server import McpV1ServerAdapter

        server_v1 = McpV1ServerAdapter(telemetry)
        client_v1 = McpV1ClientAdapter(telemetry)
        # The lifecycle adapter first: its request wrappers must run inside the client adapter's span.
        adapters += [McpV1LifecycleAdapter(client_v1), client_v1, server_v1]
        if _major("fastmcp") == 3:
            from mcp_otel.adapters.fastmcp_v3 import FastMCPV3Adapter

            adapters.append(FastMCPV3Adapter(server_v1))
    elif mcp_major == 2:
        from mcp_otel.adapters.mcp_v2 import McpV2ClientAdapter
        from mcp_otel.adapters.mcp_v2_lifecycle import McpV2LifecycleAdapter
        from mcp_otel.adapters.mcp_v2_server import McpV2ServerAdapter

        client_v2 = McpV2ClientAdapter(telemetry)
        # The lifecycle adapter first: its request wrappers must run inside the client adapter's span.
        adapters += [McpV2LifecycleAdapter(client_v2), client_v2, McpV2ServerAdapter(telemetry)]
        if _major("fastmcp") == 4:
            from mcp_otel.adapters.fastmcp_v4 import FastMCPV4Adapter

            adapters.append(FastMCPV4Adapter())
    elif mcp_major is not None:
        _logger.warning("mcp-otel: mcp %s is not a supported version; MCP is not instrumented", mcp_major)
    if mcp_major is not None and importlib.util.find_spec("abi_core") is not None:
        from mcp_otel.adapters.abi_core import AbiCoreAdapter

        adapters.append(AbiCoreAdapter(telemetry))
    return adapters
