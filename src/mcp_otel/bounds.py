"""Metric attributes a peer can influence are bounded sets (DESIGN trust rule 5).

A span may carry any (clipped) value a peer sends; a metric attribute value creates a time series that
lives as long as the process, so a hostile or broken peer could exhaust the SDK's cardinality limit (2,000
series per metric by default) and push every legitimate series into overflow, or hold megabytes of keys.
Here, for metrics only (spans keep the clipped value):

* ``mcp.method.name`` outside the MCP method list (:data:`semconv.MCP_METHODS`) -> ``_OTHER``;
* ``mcp.protocol.version`` outside the released revisions (:data:`semconv.PROTOCOL_VERSIONS`) -> ``_OTHER``;
* a numeric ``error.type`` / ``rpc.response.status_code`` outside the codes JSON-RPC reserves -> ``_OTHER``;
* ``gen_ai.tool.name`` / ``gen_ai.prompt.name``: on the server, a name the server does not register ->
  ``_OTHER``. "Registered" is learnt from the server's own answers, the same way on every server flavour
  (low-level ``Server``, FastMCP, ``MCPServer``, fastmcp 3/4): the names it announced in a ``tools/list``
  / ``prompts/list`` result, and a name whose ``tools/call`` / ``prompts/get`` it answered without error.
  On the client the names are the application's own choice and kept. Either way at most
  :data:`MAX_NAMES` distinct names per kind are kept, a backstop against a server that accepts any name.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from opentelemetry.util.types import AttributeValue

from mcp_otel import semconv

# Distinct tool (or prompt) names one process reports in metrics, per side.
MAX_NAMES = 500

_NAME_KEYS = {semconv.GEN_AI_TOOL_NAME: "tool", semconv.GEN_AI_PROMPT_NAME: "prompt"}


class NameBook:
    """The tool and prompt names one side may report in metrics.

    ``registered_only`` (server side): only names :meth:`register`-ed; otherwise (client side) the first
    :data:`MAX_NAMES` names seen.
    """

    def __init__(self, *, registered_only: bool, limit: int = MAX_NAMES) -> None:
        self._registered_only = registered_only
        self._limit = limit
        self._names: dict[str, set[str]] = {"tool": set(), "prompt": set()}
        self._lock = threading.Lock()

    def register(self, kind: str, names: Iterable[object]) -> None:
        """Names the server announced or answered (kind ``tool`` / ``prompt``)."""
        known = self._names[kind]
        with self._lock:
            for name in names:
                if len(known) >= self._limit:
                    return
                if isinstance(name, str):
                    known.add(name)

    def add(self, kind: str, name: str) -> None:
        """One name answered: :meth:`register` without the lock when it is known already (per request)."""
        if name not in self._names[kind]:
            self.register(kind, (name,))

    def metric_value(self, kind: str, name: str) -> str:
        known = self._names[kind]
        if name in known:
            return name
        if self._registered_only:
            return semconv.OTHER
        with self._lock:
            if len(known) < self._limit:
                known.add(name)
                return name
        return semconv.OTHER


def method(value: str) -> str:
    return value if value in semconv.MCP_METHODS else semconv.OTHER


def protocol_version(value: str) -> str:
    return value if value in semconv.PROTOCOL_VERSIONS else semconv.OTHER


def error_value(value: str) -> str:
    """``error.type`` / ``rpc.response.status_code``: JSON-RPC codes outside the reserved range -> _OTHER.

    Non-numeric values are ours (``timeout``, ``tool_error``...) or exception class names: a bounded set.
    """
    digits = value[1:] if value[:1] == "-" else value
    if not digits.isdigit():
        return value
    if len(digits) > 6:
        return semconv.OTHER
    code = int(value)
    if code in semconv.JSONRPC_RESERVED_CODES or code in semconv.JSONRPC_EXTRA_CODES:
        return value
    return semconv.OTHER


def metric_attributes(
    attributes: Mapping[str, AttributeValue], keys: tuple[str, ...], names: NameBook | None = None
) -> dict[str, AttributeValue]:
    """The ``keys`` of ``attributes`` that a metric carries, each peer-influenced value bounded."""
    out: dict[str, AttributeValue] = {}
    for key in keys:
        value = attributes.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            if key == semconv.MCP_METHOD_NAME:
                value = method(value)
            elif key == semconv.MCP_PROTOCOL_VERSION:
                value = protocol_version(value)
            elif key in (semconv.ERROR_TYPE, semconv.RPC_RESPONSE_STATUS_CODE):
                value = error_value(value)
            elif key in _NAME_KEYS:
                value = names.metric_value(_NAME_KEYS[key], value) if names is not None else semconv.OTHER
        out[key] = value
    return out
