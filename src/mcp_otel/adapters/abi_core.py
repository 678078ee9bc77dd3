"""ABI-Core (package ``abi-core-ai``): ``abi_core.abi_mcp.client.init_session(host, port, transport)``.

The helper opens ``sse_client``/``streamable_http_client`` and a ``ClientSession``; traced as a session
helper (``mcp_otel.helpers``) it owns ``mcp.session`` from the moment it is entered, with its host, port
and transport, and the transport and session inside join it. ABI-Core pins mcp < 2: this adapter only
ever sees the mcp 1.x client, which the mcp adapter traces as usual.

The module is patched when it is imported (importing ABI-Core costs more than a second), and so is the
re-export in ``abi_core.abi_mcp``. The module binds the transport functions with ``from ... import``: when
it was imported before this instrumentation (an earlier one, since undone), its bindings are brought up to
date with the wrappers the mcp adapter installed.
"""

from __future__ import annotations

import sys
from typing import Any

import wrapt

from mcp_otel._patching import Patcher
from mcp_otel.adapters._client import ClientHub
from mcp_otel.helpers import HelperArguments, helper_wrapper
from mcp_otel.telemetry import Telemetry

_MODULE = "abi_core.abi_mcp.client"
_REEXPORTS = ("abi_core.abi_mcp",)
_NAMES = HelperArguments(host="host", port="port", transport="transport", url=None)
_TRANSPORTS = (("sse_client", "mcp.client.sse"), ("streamable_http_client", "mcp.client.streamable_http"))


def _innermost(obj: Any) -> Any:
    """The function under any number of (possibly stale) wrapt wrappers."""
    for _ in range(16):  # functools.wraps also sets __wrapped__: only wrapt's own proxies are peeled
        if not isinstance(obj, wrapt.FunctionWrapper):
            return obj
        obj = obj.__wrapped__
    return obj


def _rebind(patcher: Patcher, module: Any, name: str, replacement: Any) -> None:
    """Point ``module.name`` at ``replacement`` if it is the same function under other (or no) wrappers."""
    current = getattr(module, name, None)
    if current is None or current is replacement:
        return
    if _innermost(current) is _innermost(replacement):
        patcher.replace(module, name, replacement)


class AbiCoreAdapter:
    """Patches ``abi_core.abi_mcp.client.init_session``."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.hub = ClientHub(telemetry)

    def apply(self, patcher: Patcher) -> None:
        patcher.on_import(_MODULE, lambda module: self._patch(patcher, module))

    def _patch(self, patcher: Patcher, module: Any) -> None:
        for name, defining in _TRANSPORTS:
            current = getattr(sys.modules.get(defining), name, None)
            if current is not None:
                _rebind(patcher, module, name, current)
        original = getattr(module, "init_session", None)
        if original is None:
            return
        original = _innermost(original)
        hub = self.hub
        proxy = patcher.function_wrapper(original, helper_wrapper(lambda: hub, original, _NAMES))
        patcher.replace(module, "init_session", proxy)

        def rebind(module: Any) -> None:
            _rebind(patcher, module, "init_session", proxy)

        for site in _REEXPORTS:
            patcher.on_import(site, rebind)
