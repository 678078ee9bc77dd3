"""mcp 2.x server: the low-level ``Server``, ``MCPServer`` and fastmcp 4.x (all driven by ``ServerRunner``).

* Requests: ``ServerRunner._on_request`` sees every inbound request on every path (loop, stateless,
  2026-07-28 single exchange, in-process ``DirectDispatcher``), ``initialize`` and ``server/discover``
  included, around the whole middleware chain. It returns the wire dict (camelCase ``isError``) or raises
  what the dispatcher maps to a JSON-RPC error.
* The SDK's ``OpenTelemetryMiddleware`` (seeded into every ``Server.middleware``) would add a second SERVER
  span: its ``otel_span`` (the name imported into ``mcp.server._otel``) hands back a non-recording span
  without touching the context, so the middleware stays in place but records nothing.
* Sessions: ``serve_dual_era_loop`` (``Server.run``: stdio, SSE, in-memory) and ``serve_loop`` (stateful
  streamable HTTP, with the session id) run for a connection's lifetime; the ``Connection`` built inside
  is bound to the session so that requests find it. Stateless HTTP and 2026-07-28 requests have none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import INVALID_SPAN, SpanKind

from mcp_otel import semconv
from mcp_otel._patching import Patcher
from mcp_otel._weak import IdentityWeakMap
from mcp_otel.adapters._server import ServerHub, describe_http, request_info
from mcp_otel.server import (
    IncomingRequest,
    ServerCall,
    ServerSessionInfo,
    ServerSessionRecord,
    start_server_call,
)
from mcp_otel.streams import STREAM_OWNER
from mcp_otel.telemetry import Telemetry, guarded, report_internal_error

_STDIO_IMPORT_SITES = [
    "mcp",
    "mcp.server.__main__",
    "mcp.server.mcpserver.server",
    "fastmcp.server.low_level",
    "fastmcp.server.mixins.transport",
]

# The server session whose serving loop runs in this task (while a serve_* function builds its Connection).
_SERVING: ContextVar[ServerSessionRecord | None] = ContextVar("mcp_otel_serving", default=None)
# The SERVER call of the request being handled in this context (fastmcp 4 reads it, see fastmcp_v4).
ACTIVE_CALL: ContextVar[ServerCall | None] = ContextVar("mcp_otel_active_server_call", default=None)


class McpV2ServerAdapter:
    """Patches the mcp 2.x server."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.hub = ServerHub(telemetry)
        # Connection -> the server session it serves; sessions whose Connection is known
        self._connections: IdentityWeakMap[ServerSessionRecord] = IdentityWeakMap()
        self._bound: IdentityWeakMap[bool] = IdentityWeakMap()

    def apply(self, patcher: Patcher) -> None:
        from mcp.server import _otel as server_otel
        from mcp.server.connection import Connection
        from mcp.server.runner import ServerRunner

        # Handlers run in the sender's context (the HTTP request's, on HTTP): no capture needed.
        self.hub.apply_transports(patcher, _STDIO_IMPORT_SITES, capture_http=False)
        patcher.wrap_function(
            "mcp.server.runner", "serve_dual_era_loop", ["mcp.server.lowlevel.server"], self._serve
        )
        patcher.wrap_function(
            "mcp.server.runner", "serve_loop", ["mcp.server.streamable_http_manager"], self._serve
        )
        patcher.wrap(Connection, "__init__", self._connection_init)
        patcher.wrap(ServerRunner, "_on_request", self._on_request)
        patcher.wrap(server_otel, "otel_span", _silenced_server_span)

    # --- sessions ---------------------------------------------------------------------------------
    async def _serve(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``serve_dual_era_loop`` / ``serve_loop(server, read_stream, write_stream, *, session_id, ...)``."""
        record = self._open_session(args, kwargs)
        if record is None:
            return await wrapped(*args, **kwargs)
        token = _SERVING.set(record)
        owner_token = STREAM_OWNER.set(record)  # streams the session's tasks create are charged to it
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            record.end(exc)
            raise
        finally:
            STREAM_OWNER.reset(owner_token)
            _SERVING.reset(token)
        record.end()
        return result

    def _open_session(self, args: Any, kwargs: Any) -> ServerSessionRecord | None:
        try:
            if not is_instrumentation_enabled():
                return None
            read_stream = kwargs.get("read_stream", args[1] if len(args) > 1 else None)
            binding = self.hub.binding_for(read_stream)
            session_id = kwargs.get("session_id")
            info = (
                binding.session_info(str(session_id) if session_id else None)
                if binding is not None
                else ServerSessionInfo(session_id=str(session_id) if session_id else None)
            )
            record = ServerSessionRecord(self.telemetry, info)
            if binding is not None:
                record.expired_probe = binding.expired
            return record
        except Exception:
            report_internal_error("mcp_v2_server._open_session")
            return None

    def _connection_init(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        self._bind_connection(instance)
        return result

    @guarded
    def _bind_connection(self, connection: Any) -> None:
        record = _SERVING.get()
        # only the serving loop's own Connection, not the per-request ones of 2026-07-28 messages
        if record is not None and self._bound.get(record) is None:
            self._bound.set(record, True)
            self._connections.set(connection, record)

    # --- requests ---------------------------------------------------------------------------------
    async def _on_request(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``ServerRunner._on_request(dctx, method, params) -> dict``."""
        call = self._start(instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = ACTIVE_CALL.set(call)
        try:
            with call.activate():
                try:
                    result = await wrapped(*args, **kwargs)
                except BaseException as exc:
                    call.failed(exc)
                    raise
        finally:
            ACTIVE_CALL.reset(token)
        _record_result(call, result)
        return result

    def _start(self, runner: Any, args: Any, kwargs: Any) -> ServerCall | None:
        try:
            if not is_instrumentation_enabled():
                return None
            dctx = kwargs.get("dctx", args[0] if args else None)
            method = str(kwargs.get("method", args[1] if len(args) > 1 else "unknown"))
            params = kwargs.get("params", args[2] if len(args) > 2 else None)
            get = params.get if isinstance(params, dict) else (lambda _key: None)
            incoming = IncomingRequest(
                info=request_info(method, getattr(dctx, "request_id", None), get),
                meta=get("_meta"),
                ambient=trace.get_current_span().get_span_context(),
            )
            connection = getattr(runner, "connection", None)
            session_id = getattr(connection, "session_id", None)
            incoming.session_id = str(session_id) if session_id else None
            version = getattr(connection, "protocol_version", None)
            incoming.protocol_version = str(version) if version and method != "initialize" else None
            metadata = getattr(dctx, "message_metadata", None)
            describe_http(incoming, getattr(metadata, "request_context", None))
            if incoming.transport is None:
                kind = getattr(getattr(dctx, "transport", None), "kind", None)
                if kind == semconv.TRANSPORT_STREAMABLE_HTTP:
                    incoming.transport = kind
            session = self._connections.get(connection) if connection is not None else None
            return start_server_call(self.telemetry, incoming, session)
        except Exception:
            report_internal_error("mcp_v2_server._start")
            return None


def _record_result(call: ServerCall, result: Any) -> None:
    try:
        if not isinstance(result, dict):
            call.succeeded()
        elif call.method == "tools/call":
            call.succeeded(is_error=result.get("isError") is True, payload=lambda: result)
        elif call.method in ("initialize", "server/discover"):
            version = result.get("protocolVersion")
            call.succeeded(protocol_version=str(version) if isinstance(version, str) else None)
        else:
            # the payload (read for tools/list and prompts/list only) tells the names the server registers
            call.succeeded(payload=lambda: result)
    except Exception:
        report_internal_error("mcp_v2_server._record_result")


def _silenced_server_span(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``mcp.server._otel.otel_span``: the SDK middleware's SERVER span; ours replaces it."""
    if kwargs.get("kind") == SpanKind.SERVER:
        return _no_span()
    return wrapped(*args, **kwargs)


@contextmanager
def _no_span() -> Iterator[Any]:
    # Non-recording and never made current: the SDK's bookkeeping on it is a no-op, the context untouched.
    yield INVALID_SPAN
