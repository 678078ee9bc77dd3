"""Applying and removing mcp-otel's patches, and the one record of whether they are applied.

``McpInstrumentor`` (the contrib ``BaseInstrumentor`` that ``opentelemetry-instrument`` and applications
use) and the ``MCP_OTEL_AUTO_INSTRUMENT`` start-up hook both go through here. The hook does not use
``McpInstrumentor``: importing ``BaseInstrumentor`` imports ``opentelemetry.instrumentation`` and
``packaging`` (~40 ms at ``import mcp``, paid by every instrumented process, issue 14). So the state
lives in this module and ``McpInstrumentor`` reads and writes it: once the hook has instrumented, a later
``McpInstrumentor().instrument()`` sees it (and does not patch twice), and ``uninstrument()`` removes it.
"""

from __future__ import annotations

import logging

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the start-up hook's path)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from mcp_otel._patching import Patcher
    from mcp_otel.telemetry import Telemetry

_logger = logging.getLogger("mcp_otel")


class State:
    """Whether MCP is instrumented in this process, by whom, and what that instrumentation holds."""

    __slots__ = ("busy", "by_autoload", "instrumented", "patcher", "telemetry")

    def __init__(self) -> None:
        self.instrumented = False
        # The instrumentation was applied by the MCP_OTEL_AUTO_INSTRUMENT hook (mcp_otel.autoload).
        self.by_autoload = False
        # True while McpInstrumentor.instrument() runs. It imports mcp, which fires the start-up hook; the
        # hook must then leave it alone, so that opentelemetry-instrument and the hook instrument once.
        self.busy = False
        self.patcher: Patcher | None = None
        self.telemetry: Telemetry | None = None


state = State()


def instrument(options: Mapping[str, Any], *, autoload: bool = False) -> None:
    """Apply the adapters of the installed libraries (``options``: ``instrument()``'s, already checked)."""
    from mcp_otel import retry
    from mcp_otel._patching import Patcher
    from mcp_otel.config import Config
    from mcp_otel.telemetry import Telemetry

    config = Config.from_env(options)
    telemetry = Telemetry(config, options.get("tracer_provider"), options.get("meter_provider"))
    patcher = Patcher()
    state.patcher, state.telemetry = patcher, telemetry
    for adapter in _select_adapters(telemetry):
        try:
            adapter.apply(patcher)
        except Exception:
            _logger.warning("mcp-otel: could not instrument %s", type(adapter).__name__, exc_info=True)
    if config.track_streams:
        try:
            from mcp_otel.streams import StreamTracker

            StreamTracker(config.capture_leak_origin).apply(patcher)
        except Exception:
            _logger.warning("mcp-otel: could not hook anyio memory streams", exc_info=True)
    retry._helper_telemetry = telemetry
    state.instrumented = True
    state.by_autoload = autoload


def uninstrument() -> None:
    """Remove every patch ``instrument()`` applied."""
    from mcp_otel import retry

    state.instrumented = False
    state.by_autoload = False
    patcher, state.patcher = state.patcher, None
    if patcher is not None:
        patcher.unwrap_all()
    retry._helper_telemetry = None


def _major(distribution: str) -> int | None:
    from mcp_otel.package import installed_version  # not importlib.metadata.version(): see there

    try:
        version = installed_version(distribution)
        return int(version.split(".")[0]) if version is not None else None
    except ValueError:
        return None


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

            adapters.append(FastMCPV4Adapter(telemetry))
    elif mcp_major is not None:
        _logger.warning("mcp-otel: mcp %s is not a supported version; MCP is not instrumented", mcp_major)
    if mcp_major is not None:
        import importlib.util

        if importlib.util.find_spec("abi_core") is not None:
            adapters.append(_AbiCoreWhenImported(telemetry))
    return adapters


class _AbiCoreWhenImported:
    """Applies the ABI-Core adapter when ABI-Core's client module is imported.

    Its module (and mcp_otel.helpers under it) would otherwise be imported on every instrumented start-up
    of an environment that merely has ABI-Core installed; the adapter patches at that import anyway.
    """

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def apply(self, patcher: Patcher) -> None:
        patcher.on_import("abi_core.abi_mcp.client", lambda module: self._apply(patcher))  # abi_core._MODULE

    def _apply(self, patcher: Patcher) -> None:
        from mcp_otel.adapters.abi_core import AbiCoreAdapter

        AbiCoreAdapter(self._telemetry).apply(patcher)
