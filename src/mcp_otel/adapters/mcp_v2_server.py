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

from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, SpanKind

from mcp_otel import semconv
from mcp_otel._arguments import Arguments
from mcp_otel._patching import Patcher
from mcp_otel._weak import IdentityWeakMap
from mcp_otel.adapters._native import (
    NESTED,
    OTEL_SPAN,
    SPAN_PARAMETERS,
    close_server_stand_in,
    enabled,
    open_server_stand_in,
    server_parent_unused,
    silenced,
)
from mcp_otel.adapters._server import ServerHub, describe_http
from mcp_otel.server import (
    IncomingRequest,
    ServerCall,
    ServerSessionInfo,
    ServerSessionRecord,
    run_server_call,
    start_server_call,
)
from mcp_otel.session import request_info
from mcp_otel.streams import STREAM_OWNER
from mcp_otel.telemetry import Telemetry, guarded, report_internal_error

_STDIO_IMPORT_SITES = [
    "mcp",
    "mcp.server.__main__",
    "mcp.server.mcpserver.server",
    "fastmcp.server.low_level",
    "fastmcp.server.mixins.transport",
]

_EXCLUDED = object()  # _start's answer for a request of an excluded method
# serve_dual_era_loop / serve_loop(server, read_stream, write_stream, *, lifespan_state, session_id, ...)
_ON_REQUEST_PARAMETERS = ("dctx", "method", "params")  # ServerRunner._on_request(dctx, method, params)
_SERVE = Arguments(("server", "read_stream", "write_stream"), ("lifespan_state", "session_id"))
# The server session whose serving loop runs in this task (while a serve_* function builds its Connection).
_SERVING: ContextVar[ServerSessionRecord | None] = ContextVar("mcp_otel_serving", default=None)


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
        self._on_request_args = Arguments.of_method(ServerRunner, "_on_request", ("dctx", "method", "params"))
        patcher.wrap(ServerRunner, "_on_request", self._on_request)
        patcher.wrap(server_otel, "otel_span", self._server_otel_span)
        patcher.wrap(server_otel, "extract_trace_context", _extract_unless_adopted)

    def _server_otel_span(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``mcp.server._otel.otel_span``: the SDK middleware's SERVER span is folded into ours."""
        kind, attributes = OTEL_SPAN.values(args, kwargs, SPAN_PARAMETERS)
        if kind != SpanKind.SERVER:
            return wrapped(*args, **kwargs)
        return _SdkServerSpan(self.telemetry, wrapped, args, kwargs, attributes)

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
            if not enabled():
                return None
            read_stream = _SERVE.get(args, kwargs, "read_stream")
            binding = self.hub.binding_for(read_stream)
            session_id = _SERVE.get(args, kwargs, "session_id")
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
        if call is _EXCLUDED:
            with silenced():  # the SDK middleware's and FastMCP's spans for it too (DESIGN rule 2)
                return await wrapped(*args, **kwargs)
        result = await run_server_call(call, wrapped, args, kwargs)
        _record_result(call, result)
        return result

    def _start(self, runner: Any, args: Any, kwargs: Any) -> Any:
        try:
            if not enabled():
                return None
            dctx, method, params = self._on_request_args.values(args, kwargs, _ON_REQUEST_PARAMETERS)
            method = "unknown" if method is None else str(method)
            if method in self.telemetry.config.excluded_methods:
                return _EXCLUDED
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
        if call.inert or not isinstance(result, dict):  # inert: nothing reads the outcome
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


def _extract_unless_adopted(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``mcp.server._otel.extract_trace_context(meta)``, the parent of the middleware's SERVER span: not
    read when ours adopts that span (``_SdkServerSpan``), so not extracted (one ``propagate.extract`` per
    request; ours already extracted ``_meta`` for our span)."""
    if server_parent_unused():
        return None
    return wrapped(*args, **kwargs)


class _SdkServerSpan:
    """The SDK middleware's ``otel_span(...)`` context manager: our span adopting it, or the SDK's own."""

    __slots__ = ("_args", "_attributes", "_inner", "_kwargs", "_telemetry", "_token", "_wrapped")

    def __init__(self, telemetry: Telemetry, wrapped: Any, args: Any, kwargs: Any, attributes: Any) -> None:
        self._telemetry = telemetry
        self._wrapped = wrapped
        self._args = args
        self._kwargs = kwargs
        self._attributes = attributes
        self._inner: Any = None
        self._token: Any = None

    def __enter__(self) -> Any:
        attributes = self._attributes
        # Notifications are not requests: the contract records them as session events (DESIGN lifecycle),
        # so the SDK's SERVER span for one is dropped as before.
        stand_in, self._token = open_server_stand_in(self._telemetry, attributes, unmatched=INVALID_SPAN)
        if stand_in is not None and stand_in is not NESTED:
            return stand_in
        # suppressed: the SDK's span as without mcp-otel
        self._inner = self._wrapped(*self._args, **self._kwargs)
        return self._inner.__enter__()

    def __exit__(self, *exc_info: Any) -> Any:
        close_server_stand_in(self._token)
        if self._inner is not None:
            return self._inner.__exit__(*exc_info)
        return None
