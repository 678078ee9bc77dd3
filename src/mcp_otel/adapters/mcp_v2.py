"""mcp 2.x client: transports, ``mcp.Client``, ClientSession lifecycle and every request.

Requests are hooked at the dispatchers' ``send_raw_request`` (the one choke point: ``send_discover`` and
``subscriptions/listen`` bypass ``ClientSession.send_request``). The SDK opens its own CLIENT span there
(``MCP send …``, via ``mcp.shared.jsonrpc_dispatcher.otel_span``); for requests we trace, that helper is
made to hand back our span instead, so there is exactly one CLIENT span per request and the SDK's own
``_meta`` injection carries our context.
"""

from __future__ import annotations

import functools
import weakref
from contextlib import nullcontext
from contextvars import ContextVar
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, SpanKind

from mcp_otel import semconv
from mcp_otel._arguments import Arguments
from mcp_otel._patching import Patcher
from mcp_otel._weak import IdentityWeakMap
from mcp_otel.adapters._client import (
    MEMORY_ENDPOINT,
    ClientHub,
    endpoint_for_url,
    enter_layer,
    exit_exception,
    exit_layer,
    stdio_endpoint,
    url_transport,
    wrap_shared_transports,
)
from mcp_otel.adapters._native import (
    OTEL_SPAN,
    SPAN_PARAMETERS,
    AdoptedSpan,
    claim_client_span,
    enabled,
    is_silenced,
    silenced,
)
from mcp_otel.errors import TOOL_ERROR, classify
from mcp_otel.propagation import inject_carrier, merged_meta
from mcp_otel.results import tool_result_error
from mcp_otel.session import (
    OPENING,
    ClientSessionRecord,
    Endpoint,
    Operation,
    RequestInfo,
    request_info,
    start_client_operation,
)
from mcp_otel.telemetry import Telemetry, guarded, report_internal_error

_EXCLUDED = object()  # _start's answer for a request of an excluded method
# The request span our send_raw_request wrapper opened in this task, for the SDK's otel_span to adopt.
_PENDING_CLIENT_OP: ContextVar[Operation | None] = ContextVar("mcp_otel_pending_client_op", default=None)


# send_raw_request(method, params, opts=None) on both dispatchers, and JSONRPCDispatcher.notify (same shape).
SEND_RAW_REQUEST = Arguments(("method", "params", "opts"))
_REQUEST_PARAMETERS = ("method", "params", "opts")


def describe_request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestInfo:
    """A raw ``send_raw_request(method, params, opts)`` call."""
    method, params, opts = SEND_RAW_REQUEST.values(args, kwargs, _REQUEST_PARAMETERS)
    method = "unknown" if method is None else str(method)
    info = request_info(method, None, params.get if isinstance(params, dict) else _nothing)
    timeout = opts.get("timeout") if isinstance(opts, dict) else None
    if isinstance(timeout, int | float):
        info.timeout = float(timeout)
    return info


def _nothing(_key: str) -> None:
    """The params accessor of a request without params."""


def _field(obj: Any, wire_name: str, attribute: str) -> Any:
    """A result field from a wire dict (camelCase) or a model (snake_case)."""
    if isinstance(obj, dict):
        return obj.get(wire_name)
    return getattr(obj, attribute, None)


def _with_trace_meta(op: Operation, args: Any, kwargs: Any) -> tuple[Any, Any]:
    """send_raw_request arguments with the trace context added to a copy of ``params._meta``."""
    carrier = inject_carrier(op.context)
    if not carrier:
        return args, kwargs
    params = SEND_RAW_REQUEST.get(args, kwargs, "params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    new_params = {**(params if isinstance(params, dict) else {}), "_meta": merged_meta(meta, carrier)}
    return SEND_RAW_REQUEST.replace(args, kwargs, "params", new_params)


class SendRawRequestHook(Protocol):
    """What the lifecycle adapter does in ``send_raw_request`` (see :attr:`McpV2ClientAdapter.lifecycle`)."""

    def relay_progress(self, args: Any, kwargs: Any) -> tuple[Any, Any]: ...

    async def untraced_send_raw_request(
        self, wrapped: Any, instance: Any, args: Any, kwargs: Any, direct: bool
    ) -> Any: ...


class McpV2ClientAdapter:
    """Patches the mcp 2.x client."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.hub = ClientHub(telemetry)
        # dispatcher -> weakref(ClientSession): only dispatchers of client sessions are traced here.
        self._dispatchers: IdentityWeakMap[weakref.ref[Any]] = IdentityWeakMap()
        # The lifecycle adapter's part of send_raw_request (progress relay, server->client requests), run
        # from this adapter's wrapper rather than by a wrapper of its own: one wrapt layer per request less.
        self.lifecycle: SendRawRequestHook | None = None

    def apply(self, patcher: Patcher) -> None:
        from mcp.client.client import Client
        from mcp.client.session import ClientSession
        from mcp.client.streamable_http import StreamableHTTPTransport
        from mcp.shared import jsonrpc_dispatcher
        from mcp.shared.direct_dispatcher import DirectDispatcher

        hub = self.hub
        patcher.wrap_function(
            "mcp.client.streamable_http",
            "streamable_http_client",
            [
                "mcp.client.client",
                "mcp.client.session_group",
                "fastmcp.client.transports.http",
                "fastmcp.cli.apps_dev",
            ],
            url_transport(hub, semconv.TRANSPORT_STREAMABLE_HTTP),
        )
        wrap_shared_transports(
            patcher,
            hub,
            stdio_sites=[
                "mcp",
                "mcp.client.__main__",
                "mcp.client.client",
                "fastmcp.client.transports.stdio",
            ],
            memory_sites=["mcp.client._memory", "fastmcp.client.transports.memory"],
        )
        # mcp 2.x yields no session-id callback: the transport object is the only place it lives.
        patcher.wrap(StreamableHTTPTransport, "__init__", self._http_transport_init)
        patcher.wrap(Client, "__aenter__", self._client_aenter)
        patcher.wrap(Client, "__aexit__", self._aexit)
        patcher.wrap(Client, "_build_session", self._client_connect)
        self._session_args = Arguments.of_method(ClientSession, "__init__", ("read_stream",))
        patcher.wrap(ClientSession, "__init__", self._session_init)
        patcher.wrap(ClientSession, "__aenter__", self._session_aenter)
        patcher.wrap(ClientSession, "__aexit__", self._aexit)
        patcher.wrap(ClientSession, "adopt", self._adopt)
        # one wrapper body for both dispatchers; a partial, not a method per dispatcher: no extra frame
        patcher.wrap(
            jsonrpc_dispatcher.JSONRPCDispatcher,
            "send_raw_request",
            functools.partial(self._send_raw_request, direct=False),
        )
        patcher.wrap(
            DirectDispatcher, "send_raw_request", functools.partial(self._send_raw_request, direct=True)
        )
        patcher.wrap(jsonrpc_dispatcher, "otel_span", self._otel_span)
        if not self.telemetry.config.propagate and hasattr(jsonrpc_dispatcher, "inject_trace_context"):
            # The dispatcher injects the current context into _meta by itself; propagate=False means none.
            patcher.wrap(jsonrpc_dispatcher, "inject_trace_context", _no_injection)
        patcher.wrap(jsonrpc_dispatcher.JSONRPCDispatcher, "notify", self._notify)

    # --- session layers ---------------------------------------------------------------------------
    def _http_transport_init(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        record = OPENING.get()
        if record is not None:
            _bind_transport(record, instance)
        return result

    async def _client_aenter(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result, layer = await enter_layer(
            self.hub, _client_endpoint(getattr(instance, "server", None)), lambda: wrapped(*args, **kwargs)
        )
        self.hub.remember_layer(instance, layer)
        return result

    async def _client_connect(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``Client._build_session`` enters the transport (or the in-process server): the connect phase."""
        record = OPENING.get()
        if record is None:
            return await wrapped(*args, **kwargs)
        record.start_connect(record.endpoint)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            record.end_connect(exc)
            raise
        record.end_connect()
        return result

    def _session_init(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        self._bind_session(instance, args, kwargs)
        return result

    @guarded
    def _bind_session(self, session: Any, args: Any, kwargs: Any) -> None:
        dispatcher = getattr(session, "_dispatcher", None)
        if dispatcher is not None:
            self._dispatchers.set(dispatcher, weakref.ref(session))
        read_stream = self._session_args.get(args, kwargs, "read_stream")
        if read_stream is None:
            read_stream = getattr(dispatcher, "_read_stream", None)
        record = OPENING.get() or self.hub.record_for_stream(read_stream)
        if record is not None:
            self.hub.attach(session, record)

    async def _session_aenter(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        existing = self.hub.record_for(instance)
        # Without a transport layer we cannot tell what carries the session (in-memory pairs have their
        # own layer), so the transport stays unset rather than guessed.
        endpoint = Endpoint()
        result, layer = await enter_layer(
            self.hub, endpoint, lambda: wrapped(*args, **kwargs), existing=existing
        )
        self.hub.remember_layer(instance, layer)
        return result

    async def _aexit(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        layer = self.hub.take_layer(instance)
        return await exit_layer(layer, lambda: wrapped(*args, **kwargs), exit_exception(args, kwargs))

    def _adopt(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        self._handshake_done(instance)
        return result

    @guarded
    def _handshake_done(self, session: Any) -> None:
        record = self.hub.record_for(session)
        if record is None:
            return
        info = getattr(session, "server_info", None)
        record.on_initialized(
            getattr(session, "protocol_version", None),
            getattr(info, "name", None),
            getattr(info, "version", None),
        )

    # --- requests ---------------------------------------------------------------------------------
    # Every request, typed or not (send_discover and subscriptions/listen bypass send_request), passes the
    # dispatcher's send_raw_request: one wrapper there traces them all. A request that fails before it
    # reaches the dispatcher (a typed request that cannot be serialised) gets no span: it never left.
    async def _send_raw_request(
        self, wrapped: Any, instance: Any, args: Any, kwargs: Any, *, direct: bool
    ) -> Any:
        """``send_raw_request`` of either dispatcher (``direct``: the in-process one)."""
        started = self._start(instance, args, kwargs)
        lifecycle = self.lifecycle
        if started is None:
            if lifecycle is not None:  # a dispatcher we do not trace (the server's), or mcp-otel is off
                return await lifecycle.untraced_send_raw_request(wrapped, instance, args, kwargs, direct)
            return await wrapped(*args, **kwargs)
        if started is _EXCLUDED:
            with silenced():  # the SDK's own span for it too (DESIGN rule 2)
                return await wrapped(*args, **kwargs)
        op, record, method, args, kwargs = started
        # Pending for the SDK's otel_span to adopt (JSON-RPC dispatcher); the span is current meanwhile.
        token = _PENDING_CLIENT_OP.set(op)
        try:
            with op.activate():
                if lifecycle is not None:  # inside the request span: a progress callback relays onto it
                    args, kwargs = lifecycle.relay_progress(args, kwargs)
                try:
                    result = await wrapped(*args, **kwargs)
                except BaseException as exc:
                    op.finish(
                        classify(exc, session_id_known=record is not None and record.session_id is not None),
                        exception=exc,
                    )
                    raise
        finally:
            _PENDING_CLIENT_OP.reset(token)
        self._finished(op, record, method, result)
        return result

    def _start(self, dispatcher: Any, args: Any, kwargs: Any) -> Any:
        try:
            ref = self._dispatchers.get(dispatcher)
            session = ref() if ref is not None else None
            if session is None or not enabled():
                return None
            info = describe_request(args, kwargs)
            if info.method in self.telemetry.config.excluded_methods:
                return _EXCLUDED
            record = self.hub.record_for(session)
            if record is not None:
                record.refresh_session_id()
                op = record.start_request(info)
            else:
                op = start_client_operation(self.telemetry, info, None, None, None, None)
            claim_client_span(info.method, op.span)
        except Exception:
            report_internal_error("mcp_v2._start")
            return None
        # The span is started: from here a fault must not lose it (it would never end), only the extras.
        try:
            if info.method == "server/discover":
                # The probe proposes a version in its _meta envelope; the session adopts one only later.
                _set_proposed_version(op, SEND_RAW_REQUEST.get(args, kwargs, "params"))
            # The JSON-RPC dispatcher injects the context itself, inside the span it adopts from us; the
            # in-process one does not inject, so we do.
            if self.telemetry.config.propagate and not hasattr(dispatcher, "_pending"):
                args, kwargs = _with_trace_meta(op, args, kwargs)
        except Exception:
            report_internal_error("mcp_v2._start")
        return op, record, info.method, args, kwargs

    def _finished(self, op: Operation, record: ClientSessionRecord | None, method: str, result: Any) -> None:
        # Guarded inline, not by @guarded: called per request (one frame less).
        try:
            if method == "initialize" and record is not None:
                # The session adopts the result only after this returns; the initialize span wants it now.
                server = _field(result, "serverInfo", "server_info")
                attributes = record.on_initialized(
                    _field(result, "protocolVersion", "protocol_version"),
                    _field(server, "name", "name"),
                    _field(server, "version", "version"),
                )
                for key, value in (attributes or {}).items():
                    op.set_attribute(key, value)
            if record is not None and record.protocol_version:
                op.set_attribute(semconv.MCP_PROTOCOL_VERSION, record.protocol_version, metric=True)
            error = TOOL_ERROR if _field(result, "isError", "is_error") is True else None
            config = self.telemetry.config
            if method == "tools/call" and (
                config.result_error_detector is not None or config.capture_content
            ):
                error = tool_result_error(self.telemetry, op.span, error is not None, lambda: result)
            op.finish(error)
        except Exception:
            report_internal_error("McpV2ClientAdapter._finished")

    def _notify(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """mcp 2.x sends a courtesy ``notifications/cancelled`` when a request times out or is cancelled."""
        _note_cancel_sent(args, kwargs)
        return wrapped(*args, **kwargs)

    def _otel_span(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        stand_in = self._client_stand_in(args, kwargs)
        if stand_in is None:
            return wrapped(*args, **kwargs)
        return nullcontext(stand_in)

    def _client_stand_in(self, args: Any, kwargs: Any) -> Any:
        """The SDK's ``MCP send`` span: folded into our request span (already current), or silenced."""
        try:
            kind, attributes = OTEL_SPAN.values(args, kwargs, SPAN_PARAMETERS)
            if kind != SpanKind.CLIENT:
                return None
            op = _PENDING_CLIENT_OP.get()
            if op is None:
                return INVALID_SPAN if is_silenced() else None
            _PENDING_CLIENT_OP.set(None)  # one adoption per request; the wrapper's reset restores the outer
            span = AdoptedSpan(self.telemetry, op.span, op.own_attributes)
            span.set_attributes(attributes)
            return span
        except Exception:
            report_internal_error("mcp_v2._client_stand_in")
            return None


def _no_injection(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
    return None


# The 2026-07-28 envelope key (mcp_types.PROTOCOL_VERSION_META_KEY) that stamps a request's version.
_PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"


def _set_proposed_version(op: Operation, params: Any) -> None:
    meta = params.get("_meta") if isinstance(params, dict) else None
    version = meta.get(_PROTOCOL_VERSION_META_KEY) if isinstance(meta, dict) else None
    if isinstance(version, str) and version:
        op.set_attribute(semconv.MCP_PROTOCOL_VERSION, version[:64], metric=True)


@guarded
def _note_cancel_sent(args: Any, kwargs: Any) -> None:
    if SEND_RAW_REQUEST.get(args, kwargs, "method") != "notifications/cancelled":
        return
    params = SEND_RAW_REQUEST.get(args, kwargs, "params")
    # The timed-out request's span is still current here (the dispatcher sends the cancel from inside it).
    span = trace.get_current_span()
    scope = getattr(span, "instrumentation_scope", None)
    if span.is_recording() and getattr(scope, "name", None) == semconv.SCOPE_NAME:
        reason = params.get("reason") if isinstance(params, dict) else None
        span.add_event(semconv.EVENT_CANCEL_SENT, {semconv.CANCEL_REASON: str(reason or "")})


def _bind_transport(record: ClientSessionRecord, transport: Any) -> None:
    ref = weakref.ref(transport)

    def session_id() -> str | None:
        live = ref()
        return getattr(live, "session_id", None) if live is not None else None

    record.session_id_source = session_id


def _client_endpoint(server: Any) -> Endpoint:
    """What ``mcp.Client(server)`` connects to: a URL, stdio parameters, an in-process server, a Transport."""
    if isinstance(server, str):
        return endpoint_for_url(server, semconv.TRANSPORT_STREAMABLE_HTTP)
    kind = type(server).__name__
    if kind == "StdioServerParameters":
        return stdio_endpoint((server,), {})
    if kind in {"Server", "MCPServer", "LowLevelServer", "FastMCP"}:
        return MEMORY_ENDPOINT
    return Endpoint()
