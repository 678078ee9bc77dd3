"""mcp 2.x lifecycle beyond request/response (DESIGN "Lifecycle beyond request/response").

* Progress, client side: a request sent with ``opts["on_progress"]`` gets a relay in its place that adds the
  ``mcp_otel.progress`` event to the request span, then calls the caller's callback (once, same arguments).
  Both dispatchers call it: the JSON-RPC one for each ``notifications/progress`` of the request's token, the
  in-process one directly. Server side: ``ServerSession.report_progress`` / ``send_progress_notification``
  run inside the handler, under the SERVER span.
* Server logs and list changes: ``ClientSession._on_notify`` (every server notification, both dispatchers),
  onto the session span.
* Server→client requests: the server's JSON-RPC dispatcher sends them with ``send_raw_request`` inside the
  handler; we open the CLIENT span (child of the handler's SERVER span) and hand it to the SDK's own
  ``otel_span`` through the client adapter's adoption, so the SDK's ``MCP send …`` span is adopted, not
  duplicated, and its ``_meta`` injection carries our context. The client answers in
  ``ClientSession._on_request`` (a SERVER span, parent from ``_meta``).
* Streamable-HTTP reconnects and 401/403: :mod:`mcp_otel.adapters._lifecycle_http`.

``send_raw_request`` is not wrapped here: the client adapter's wrapper calls :meth:`relay_progress` inside
the request span it opened, and :meth:`untraced_send_raw_request` for the dispatchers it does not trace (the
server's): one wrapt layer per request, not two (issue 14).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from mcp_otel import lifecycle
from mcp_otel._patching import Patcher
from mcp_otel.adapters._lifecycle_http import HttpLifecycle
from mcp_otel.adapters.mcp_v2 import _PENDING_CLIENT_OP, McpV2ClientAdapter
from mcp_otel.errors import classify
from mcp_otel.server import IncomingRequest, run_server_call, start_server_call
from mcp_otel.session import RequestInfo, request_info, start_client_operation
from mcp_otel.telemetry import Telemetry, guarded, instrumentation_enabled, report_internal_error


class _ProgressRelay:
    """Stands in for a caller's progress callback: records the event, then calls the callback."""

    __slots__ = ("_callback", "_span", "_telemetry")

    def __init__(self, telemetry: Telemetry, span: Span, callback: Any) -> None:
        self._telemetry = telemetry
        self._span = span
        self._callback = callback

    async def __call__(self, progress: float, total: float | None, message: str | None) -> Any:
        if instrumentation_enabled():
            lifecycle.progress(self._telemetry, self._span, progress, total, message)
        return await self._callback(progress, total, message)


class McpV2LifecycleAdapter:
    """Patches the mcp 2.x client and server for progress, logs, list changes and server→client requests."""

    def __init__(self, client: McpV2ClientAdapter) -> None:
        self.telemetry = client.telemetry
        self.hub = client.hub
        self._client = client
        self._client_dispatchers = client._dispatchers  # the dispatchers of client sessions

    def apply(self, patcher: Patcher) -> None:
        from mcp.client.session import ClientSession
        from mcp.server.session import ServerSession

        self._client.lifecycle = self  # send_raw_request: through the client adapter's wrapper
        patcher.wrap(ClientSession, "_on_notify", self._on_notify)
        patcher.wrap(ClientSession, "_on_request", self._on_request)
        # A handler's progress (ServerSession.report_progress, MCPServer/FastMCP contexts) reaches the
        # dispatch context of its request: one class per path (JSON-RPC, in-process, 2026-07-28 HTTP).
        from mcp.shared import direct_dispatcher, jsonrpc_dispatcher

        patcher.wrap(jsonrpc_dispatcher._JSONRPCDispatchContext, "progress", self._server_progress)
        patcher.wrap(direct_dispatcher._DirectDispatchContext, "progress", self._server_progress)
        patcher.on_import("mcp.server._streamable_http_modern", self._wrap_modern_progress(patcher))
        patcher.wrap(ServerSession, "send_progress_notification", self._server_progress_notification)
        HttpLifecycle(self.telemetry).apply(patcher)

    # --- requests: client progress relay, server->client CLIENT spans -----------------------------
    async def untraced_send_raw_request(
        self, wrapped: Any, instance: Any, args: Any, kwargs: Any, direct: bool
    ) -> Any:
        """``send_raw_request(method, params, opts=None, *, _related_request_id=None)`` the client adapter
        does not trace: a client's (mcp-otel off, or the request excluded: no span of ours to relay
        progress onto, checked by the relay) or the server's (a server->client request, JSON-RPC only:
        in-process 2026-07-28 has none)."""
        if direct or self._client_dispatchers.get(instance) is not None:
            args, kwargs = self.relay_progress(args, kwargs)
            return await wrapped(*args, **kwargs)
        op = self._start_server_request(args, kwargs)
        if op is None:
            return await wrapped(*args, **kwargs)
        token = _PENDING_CLIENT_OP.set(op)  # the SDK's otel_span adopts it (see mcp_v2._otel_span)
        try:
            with op.activate():
                try:
                    result = await wrapped(*args, **kwargs)
                except BaseException as exc:
                    op.finish(classify(exc), exception=exc)
                    raise
        finally:
            _PENDING_CLIENT_OP.reset(token)
        op.finish()
        return result

    def relay_progress(self, args: Any, kwargs: Any) -> tuple[Any, Any]:
        """``opts["on_progress"]`` relayed onto our CLIENT span, when that is the current span."""
        try:
            opts = kwargs.get("opts", args[2] if len(args) > 2 else None)
            callback = opts.get("on_progress") if isinstance(opts, dict) else None
            if callback is None:  # the common case: no progress asked for
                return args, kwargs
            span = trace.get_current_span()
            if not lifecycle.is_own_span(span, SpanKind.CLIENT):
                return args, kwargs
            new_opts = {**opts, "on_progress": _ProgressRelay(self.telemetry, span, callback)}
            if "opts" in kwargs or len(args) < 3:
                return args, {**kwargs, "opts": new_opts}
            return (*args[:2], new_opts, *args[3:]), kwargs
        except Exception:
            report_internal_error("mcp_v2_lifecycle._relay_progress")
            return args, kwargs

    def _start_server_request(self, args: Any, kwargs: Any) -> Any:
        """A request the server sends its client (sampling, elicitation, roots): its CLIENT span."""
        try:
            if not instrumentation_enabled():
                return None
            method = str(kwargs.get("method", args[0] if args else "unknown"))
            opts = kwargs.get("opts", args[2] if len(args) > 2 else None)
            timeout = opts.get("timeout") if isinstance(opts, dict) else None
            # sampling, elicitation and roots requests name no tool, prompt or resource
            info = RequestInfo(method, timeout=float(timeout) if isinstance(timeout, int | float) else None)
            if info.method in self.telemetry.config.excluded_methods:
                return None
            return start_client_operation(self.telemetry, info, None, None, None, None)
        except Exception:
            report_internal_error("mcp_v2_lifecycle._start_server_request")
            return None

    # --- client: notifications and server->client requests ----------------------------------------
    async def _on_notify(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``ClientSession._on_notify(dctx, method, params)``."""
        self._notification(instance, args, kwargs)
        return await wrapped(*args, **kwargs)

    @guarded
    def _notification(self, session: Any, args: Any, kwargs: Any) -> None:
        if not instrumentation_enabled():
            return
        method = kwargs.get("method", args[1] if len(args) > 1 else None)
        record = self.hub.record_for(session)
        if record is not None and isinstance(method, str):
            record.on_notification(method, kwargs.get("params", args[2] if len(args) > 2 else None))

    async def _on_request(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``ClientSession._on_request(dctx, method, params) -> dict``: the client's callbacks."""
        call = self._start_callback(instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        result = await run_server_call(call, wrapped, args, kwargs, adopt_native=False)
        call.succeeded()
        return result

    def _start_callback(self, session: Any, args: Any, kwargs: Any) -> Any:
        try:
            if not instrumentation_enabled():
                return None
            dctx = kwargs.get("dctx", args[0] if args else None)
            method = str(kwargs.get("method", args[1] if len(args) > 1 else "unknown"))
            params = kwargs.get("params", args[2] if len(args) > 2 else None)
            get = params.get if isinstance(params, dict) else (lambda _key: None)
            incoming = IncomingRequest(
                info=request_info(method, getattr(dctx, "request_id", None), get), meta=get("_meta")
            )
            record = self.hub.record_for(session)
            if record is not None:
                incoming.session_id = record.session_id
                incoming.protocol_version = record.protocol_version
                incoming.transport = record.endpoint.transport
            return start_server_call(self.telemetry, incoming, None)
        except Exception:
            report_internal_error("mcp_v2_lifecycle._start_callback")
            return None

    # --- server: progress -------------------------------------------------------------------------
    def _wrap_modern_progress(self, patcher: Patcher) -> Any:
        def hook(module: Any) -> None:
            for value in list(vars(module).values()):
                if (
                    isinstance(value, type)
                    and "progress" in vars(value)
                    and "progress_token" in getattr(value, "__dataclass_fields__", {})
                ):
                    patcher.wrap(value, "progress", self._server_progress)

        return hook

    async def _server_progress(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``progress(progress, total=None, message=None)`` of an inbound request's dispatch context."""
        # A no-op in the SDK when the caller supplied no progress token (or callback): then no event either.
        if (
            getattr(instance, "_progress_token", None) is not None
            or getattr(instance, "progress_token", None) is not None
            or getattr(instance, "_on_progress", None) is not None
        ):
            names = ("progress", "total", "message")
            self._note_server_progress(dict(zip(names, args, strict=False)), kwargs)
        return await wrapped(*args, **kwargs)

    async def _server_progress_notification(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``ServerSession.send_progress_notification(progress_token, progress, total=None, message=None)``."""
        names = ("progress_token", "progress", "total", "message")
        self._note_server_progress(dict(zip(names, args, strict=False)), kwargs)
        return await wrapped(*args, **kwargs)

    @guarded
    def _note_server_progress(self, values: dict[str, Any], kwargs: dict[str, Any]) -> None:
        span = trace.get_current_span()
        if not instrumentation_enabled() or not lifecycle.is_own_span(span, SpanKind.SERVER):
            return
        values.update(kwargs)
        lifecycle.progress(
            self.telemetry, span, values.get("progress"), values.get("total"), values.get("message")
        )
