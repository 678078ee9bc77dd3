"""ABI-Core (package ``abi-core-ai``): ``abi_core.abi_mcp.client.init_session(host, port, transport)``.

The helper opens ``sse_client``/``streamable_http_client`` and a ``ClientSession``; traced as a session
helper (``mcp_otel.helpers``) it owns ``mcp.session`` from the moment it is entered, with its host, port
and transport, and the transport and session inside join it. ABI-Core pins mcp < 2: this adapter only
ever sees the mcp 1.x client, which the mcp adapter traces as usual.

The module is patched when it is imported (importing ABI-Core costs more than a second), and so is the
re-export in ``abi_core.abi_mcp``.
"""

from __future__ import annotations

from typing import Any

import wrapt

from mcp_otel._patching import Patcher
from mcp_otel.adapters._client import ClientHub
from mcp_otel.helpers import HelperArguments, helper_wrapper
from mcp_otel.telemetry import Telemetry

_MODULE = "abi_core.abi_mcp.client"
_REEXPORTS = ("abi_core.abi_mcp",)
_NAMES = HelperArguments(host="host", port="port", transport="transport", url=None)


class AbiCoreAdapter:
    """Patches ``abi_core.abi_mcp.client.init_session``."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.hub = ClientHub(telemetry)

    def apply(self, patcher: Patcher) -> None:
        patcher.on_import(_MODULE, lambda module: self._patch(patcher, module))

    def _patch(self, patcher: Patcher, module: Any) -> None:
        original = getattr(module, "init_session", None)
        if original is None or isinstance(original, wrapt.FunctionWrapper):
            return
        hub = self.hub
        wrapper = helper_wrapper(lambda: hub, original, _NAMES)
        proxy = wrapt.FunctionWrapper(original, patcher._gate(wrapper))
        patcher.replace(module, "init_session", proxy)
        for site in _REEXPORTS:
            patcher.on_import(
                site, lambda mod, o=original, p=proxy: patcher._patch_site(mod, "init_session", o, p)
            )
