"""``McpInstrumentor``: detects the installed MCP libraries and applies (or removes) their adapters."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from mcp_otel import retry
from mcp_otel._patching import Patcher
from mcp_otel.config import Config, check_instrument_kwargs
from mcp_otel.package import _instruments, installed_version
from mcp_otel.streams import StreamTracker
from mcp_otel.telemetry import Telemetry

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

    from mcp_otel.config import InstrumentOptions

_logger = logging.getLogger("mcp_otel")


def _major(distribution: str) -> int | None:
    try:
        version = installed_version(distribution)  # not importlib.metadata.version(): see there
        return int(version.split(".")[0]) if version is not None else None
    except ValueError:
        return None


class McpInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """OpenTelemetry instrumentor for MCP clients and servers.

    ``McpInstrumentor().instrument(**options)`` patches what is installed: the ``mcp`` SDK (1.x or 2.x),
    FastMCP (3.x or 4.x) and ABI-Core. ``uninstrument()`` removes every wrapper again.

    Keyword options (each overrides its environment variable; ``None`` leaves the variable in charge; an
    unknown keyword or an invalid value raises ``TypeError``/``ValueError``):

    - ``tracer_provider``, ``meter_provider``: the providers to use (default: the global ones).
    - ``capture_content`` (bool, ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, off): record tool
      arguments and results, bounded by ``max_attribute_length``.
    - ``excluded_methods`` (collection of MCP method names, ``MCP_OTEL_EXCLUDED_METHODS``, none): methods
      that get no span and no metric; a ``str`` is read like the variable, comma-separated.
    - ``propagate`` (bool, ``MCP_OTEL_PROPAGATE``, on): inject the trace context into ``params._meta``.
    - ``max_attribute_length`` (int ≥ 1, 1024): longest string written to an attribute.
    - ``stdio_propagation`` (bool, ``MCP_OTEL_STDIO_PROPAGATION``, on): pass settings and the trace context
      into the environment of stdio servers the client spawns (non-secret settings only, see README).
    - ``stdio_propagation_extra`` (collection of variable names, ``MCP_OTEL_STDIO_PROPAGATION_EXTRA``, none):
      further variables passed verbatim into stdio servers' environment (servers you trust with them).
    - ``retry_window`` (seconds ≥ 0, ``MCP_OTEL_RETRY_WINDOW``, 30): a repeat of a failed request within
      this window is a detected retry; 0 turns detection off.
    - ``track_streams`` (bool, ``MCP_OTEL_TRACK_STREAMS``, on): attribute anyio memory-object streams to
      sessions and report leaks.
    - ``capture_leak_origin`` (bool, ``MCP_OTEL_CAPTURE_LEAK_ORIGIN``, off): record where each leaked
      stream was created.
    - ``result_error_detector`` (bool or callable, ``MCP_OTEL_DETECT_RESULT_ERRORS``, off): mark
      ``tools/call`` results shaped like ``{"success": false, "error": ...}`` as ``tool_error``; a callable
      gets the wire-form result and returns something truthy (or the error message) for a failure.
    - ``skip_dep_check``, ``raise_exception_on_conflict``: ``BaseInstrumentor``'s own.
    """

    # True while instrument() runs. It imports mcp, which fires the MCP_OTEL_AUTO_INSTRUMENT hook; the hook
    # must then leave it alone, so that opentelemetry-instrument and the hook together instrument once.
    busy = False
    # The current instrumentation was applied by the MCP_OTEL_AUTO_INSTRUMENT hook (mcp_otel.autoload).
    by_autoload = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def instrument(self, **kwargs: Unpack[InstrumentOptions]) -> None:
        """Instrument MCP (the options are in the class docstring); a no-op when already instrumented.

        An explicit call with options (providers, ``capture_content``, ...) replaces the instrumentation
        the ``MCP_OTEL_AUTO_INSTRUMENT`` hook applied, so code-level configuration wins; one without options
        leaves it in place. Raises ``TypeError``/``ValueError`` for an unknown keyword or an invalid value.
        """
        check_instrument_kwargs(kwargs)
        autoload = kwargs.pop("_mcp_otel_autoload", False)
        if self.is_instrumented_by_opentelemetry and self.by_autoload and not autoload:
            options = {k for k in kwargs if k not in ("skip_dep_check", "raise_exception_on_conflict")}
            if not options:
                return None
            self.uninstrument()
        already = self.is_instrumented_by_opentelemetry
        self.busy = True
        try:
            super().instrument(**kwargs)
        finally:
            self.busy = False
        if not already and self.is_instrumented_by_opentelemetry:
            self.by_autoload = autoload

    def _instrument(self, **kwargs: Any) -> None:
        config = Config.from_env(kwargs)
        telemetry = Telemetry(config, kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        patcher = Patcher()
        self._patcher: Patcher | None = patcher
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
        from mcp_otel.adapters.mcp_v1_server import McpV1ServerAdapter

        server_v1 = McpV1ServerAdapter(telemetry)
        adapters += [McpV1ClientAdapter(telemetry), server_v1]
        if _major("fastmcp") == 3:
            from mcp_otel.adapters.fastmcp_v3 import FastMCPV3Adapter

            adapters.append(FastMCPV3Adapter(server_v1))
    elif mcp_major == 2:
        from mcp_otel.adapters.mcp_v2 import McpV2ClientAdapter
        from mcp_otel.adapters.mcp_v2_server import McpV2ServerAdapter

        adapters += [McpV2ClientAdapter(telemetry), McpV2ServerAdapter(telemetry)]
        if _major("fastmcp") == 4:
            from mcp_otel.adapters.fastmcp_v4 import FastMCPV4Adapter

            adapters.append(FastMCPV4Adapter(telemetry))
    elif mcp_major is not None:
        _logger.warning("mcp-otel: mcp %s is not a supported version; MCP is not instrumented", mcp_major)
    if mcp_major is not None and importlib.util.find_spec("abi_core") is not None:
        from mcp_otel.adapters.abi_core import AbiCoreAdapter

        adapters.append(AbiCoreAdapter(telemetry))
    return adapters
