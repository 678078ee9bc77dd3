"""mcp 1.x lifecycle beyond request/response (DESIGN "Lifecycle beyond request/response").

* Progress: a client request that asks for progress (``progress_callback``: mcp uses the request id as the
  token) or carries its own ``_meta.progressToken`` registers its span under the token; the client's
  ``ClientSession._received_notification`` (every server notification but ``cancelled``) finds it there. On
  the server, ``ServerSession.send_progress_notification`` runs inside the handler, under the SERVER span.
* Server logs and list changes: ``_received_notification`` again, onto the session span.
* Server→client requests (sampling, elicitation, roots): the server sends them with ``ServerSession``'s
  inherited ``send_request`` (a CLIENT span, child of the handler's SERVER span, ``_meta`` injected); the
  client answers them in ``ClientSession._received_request`` (a SERVER span, parent from ``_meta``), the
  response read where it is handed to ``RequestResponder.respond``.
* Streamable-HTTP reconnects and 401/403: :mod:`mcp_otel.adapters._lifecycle_http`.

The client's ``send_request`` is not wrapped here: the client adapter's wrapper calls
:meth:`register_progress` inside the request span it opened (one wrapt layer per request, not two).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from mcp_otel import lifecycle
from mcp_otel._patching import Patcher
from mcp_otel._weak import IdentityWeakMap
from mcp_otel.adapters._lifecycle_http import HttpLifecycle
from mcp_otel.adapters.mcp_v1 import McpV1ClientAdapter, _RequestWithMeta
from mcp_otel.adapters.mcp_v1_server import _record_response
from mcp_otel.errors import classify
from mcp_otel.propagation import inject_carrier
from mcp_otel.server import IncomingRequest, ServerCall, run_server_call, start_server_call
from mcp_otel.session import RequestInfo, request_info, start_client_operation
from mcp_otel.telemetry import guarded, instrumentation_enabled, report_internal_error

_PROGRESS_CALLBACK_POSITION = 4  # send_request(request, result_type, timeout, metadata, progress_callback)
_TIMEOUT_POSITION = 2


def _outgoing(session: Any, args: Any, kwargs: Any) -> RequestInfo:
    """A server->client ``send_request(request, result_type, request_read_timeout_seconds=None, ...)``:
    sampling, elicitation and roots requests name no tool, prompt or resource."""
    request = kwargs.get("request", args[0] if args else None)
    method = str(getattr(getattr(request, "root", request), "method", "unknown"))
    timeout = kwargs.get(
        "request_read_timeout_seconds", args[_TIMEOUT_POSITION] if len(args) > _TIMEOUT_POSITION else None
    )
    if timeout is None:
        timeout = getattr(session, "_session_read_timeout_seconds", None)
    request_id = getattr(session, "_request_id", None)  # the id send_request is about to use
    return RequestInfo(
        method=method,
        request_id=str(request_id) if request_id is not None else None,
        timeout=timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout,
    )


class McpV1LifecycleAdapter:
    """Patches the mcp 1.x client and server for progress, logs, list changes and server→client requests."""

    def __init__(self, client: McpV1ClientAdapter) -> None:
        self._client = client
        self.telemetry = client.telemetry
        self.hub = client.hub
        # ClientSession -> {progress token: request span}
        self._progress: IdentityWeakMap[dict[Any, Span]] = IdentityWeakMap()
        # RequestResponder of a server->client request -> the client's SERVER call for it
        self._calls: IdentityWeakMap[ServerCall] = IdentityWeakMap()

    def apply(self, patcher: Patcher) -> None:
        from mcp.client.session import ClientSession
        from mcp.server.session import ServerSession
        from mcp.shared.session import RequestResponder

        self._client.lifecycle = self  # the client's send_request: through the client adapter's wrapper
        patcher.wrap(ClientSession, "_received_notification", self._received_notification)
        patcher.wrap(ClientSession, "_received_request", self._received_request)
        patcher.wrap(RequestResponder, "respond", self._respond)
        # ServerSession inherits send_request: wrapping it on the subclass leaves the client's alone.
        patcher.wrap(ServerSession, "send_request", self._server_send_request)
        patcher.wrap(ServerSession, "send_progress_notification", self._server_progress)
        HttpLifecycle(self.telemetry).apply(patcher)

    # --- client: progress, logs, list changes -----------------------------------------------------
    def forget_progress(self, session: Any, token: Any) -> None:
        """The request of ``token`` is over: its progress no longer lands on its span."""
        try:
            tokens = self._progress.get(session)
            if tokens is not None:
                tokens.pop(token, None)
        except Exception:
            report_internal_error("mcp_v1_lifecycle.forget_progress")

    def register_progress(self, session: Any, args: Any, kwargs: Any) -> Any:
        """A ClientSession request that asks for progress, sent under our CLIENT span: its token (the
        request id, or its own ``_meta.progressToken``) now points at that span; None otherwise."""
        try:
            callback = kwargs.get(
                "progress_callback",
                args[_PROGRESS_CALLBACK_POSITION] if len(args) > _PROGRESS_CALLBACK_POSITION else None,
            )
            if callback is not None:
                token = getattr(session, "_request_id", None)  # mcp uses the request id as the token
            else:
                request = kwargs.get("request", args[0] if args else None)
                params = getattr(getattr(request, "root", request), "params", None)
                token = getattr(getattr(params, "meta", None), "progressToken", None)
            if token is None:  # the common case: no progress asked for
                return None
            span = trace.get_current_span()
            if not lifecycle.is_own_span(span, SpanKind.CLIENT):
                return None
            tokens = self._progress.get(session)
            if tokens is None:
                tokens = {}
                self._progress.set(session, tokens)
            tokens[token] = span
            return token
        except Exception:
            report_internal_error("mcp_v1_lifecycle._progress_token")
            return None

    async def _received_notification(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        self._on_notification(instance, kwargs.get("notification", args[0] if args else None))
        return await wrapped(*args, **kwargs)

    @guarded
    def _on_notification(self, session: Any, notification: Any) -> None:
        if not instrumentation_enabled():
            return
        root = getattr(notification, "root", notification)
        method = getattr(root, "method", None)
        params = getattr(root, "params", None)
        if method == "notifications/progress":
            tokens = self._progress.get(session)
            span = tokens.get(getattr(params, "progressToken", None)) if tokens else None
            if span is not None:
                lifecycle.progress_params(self.telemetry, span, params)
            return
        record = self.hub.record_for(session)
        if record is not None and isinstance(method, str):
            record.on_notification(method, params)

    # --- client: server->client requests (its callbacks) ------------------------------------------
    async def _received_request(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        responder = kwargs.get("responder", args[0] if args else None)
        call = self._start_callback(instance, responder)
        if call is None:
            return await wrapped(*args, **kwargs)
        result = await run_server_call(call, wrapped, args, kwargs)
        if not call.finished:  # no response was read at respond()
            call.succeeded()
        return result

    def _start_callback(self, session: Any, responder: Any) -> ServerCall | None:
        try:
            if responder is None or not instrumentation_enabled():
                return None
            root = getattr(getattr(responder, "request", None), "root", None)
            method = str(getattr(root, "method", "unknown"))
            params = getattr(root, "params", None)
            incoming = IncomingRequest(
                info=request_info(
                    method, getattr(responder, "request_id", None), lambda k: getattr(params, k, None)
                ),
                meta=getattr(responder, "request_meta", None),
            )
            record = self.hub.record_for(session)
            if record is not None:
                incoming.session_id = record.session_id
                incoming.protocol_version = record.protocol_version
                incoming.transport = record.endpoint.transport
            call = start_server_call(self.telemetry, incoming, None)
            if call is not None:
                self._calls.set(responder, call)
            return call
        except Exception:
            report_internal_error("mcp_v1_lifecycle._start_callback")
            return None

    def _respond(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        # Not a coroutine function (per request, like the server adapter's): the caller awaits respond()'s.
        if len(self._calls):
            call = self._calls.pop(instance)
            if call is not None and not call.finished:
                _record_response(call, kwargs.get("response", args[0] if args else None))
        return wrapped(*args, **kwargs)

    # --- server: server->client requests and progress ---------------------------------------------
    async def _server_send_request(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        started = self._start_server_request(instance, args, kwargs)
        if started is None:
            return await wrapped(*args, **kwargs)
        op, call_args, call_kwargs = started
        with op.activate():
            try:
                result = await wrapped(*call_args, **call_kwargs)
            except BaseException as exc:
                op.finish(classify(exc), exception=exc)
                raise
        op.finish()
        return result

    def _start_server_request(self, session: Any, args: Any, kwargs: Any) -> Any:
        try:
            if not instrumentation_enabled():
                return None
            info = _outgoing(session, args, kwargs)
            if info.method in self.telemetry.config.excluded_methods:
                return None
            # The parent is the current context: the SERVER span of the request whose handler asks.
            op = start_client_operation(self.telemetry, info, None, None, None, None)
        except Exception:
            report_internal_error("mcp_v1_lifecycle._start_server_request")
            return None
        call_args, call_kwargs = args, kwargs
        try:
            if self.telemetry.config.propagate:
                carrier = inject_carrier(op.context)
                if carrier and args:
                    call_args = (_RequestWithMeta(args[0], carrier), *args[1:])
                elif carrier and "request" in kwargs:  # ServerSession's helpers pass request=...
                    call_kwargs = {**kwargs, "request": _RequestWithMeta(kwargs["request"], carrier)}
        except Exception:
            report_internal_error("mcp_v1_lifecycle._start_server_request")
        return op, call_args, call_kwargs

    async def _server_progress(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``send_progress_notification(progress_token, progress, total=None, message=None, ...)``."""
        self._note_server_progress(args, kwargs)
        return await wrapped(*args, **kwargs)

    @guarded
    def _note_server_progress(self, args: Any, kwargs: Any) -> None:
        span = trace.get_current_span()
        if not instrumentation_enabled() or not lifecycle.is_own_span(span, SpanKind.SERVER):
            return
        names = ("progress_token", "progress", "total", "message")
        values = dict(zip(names, args, strict=False))
        values.update({k: v for k, v in kwargs.items() if k in names})
        lifecycle.progress(
            self.telemetry, span, values.get("progress"), values.get("total"), values.get("message")
        )
