"""Server-side machinery shared by the mcp 1.x and 2.x server adapters.

* Which transport a server session runs on: the stdio, SSE and streamable-HTTP server transports are wrapped
  so that the streams they yield are remembered with their kind (and, for streamable HTTP, the transport
  object, which knows the session id and whether the session expired).
* What an HTTP request tells about the peer (``client.address``/``client.port``, the session id header).
* The ambient HTTP span of a POST, for mcp 1.x, whose handlers run in the session's task rather than in the
  request's: captured while the transport handles the request, keyed by the ASGI scope.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.trace import SpanContext

from mcp_otel import semconv
from mcp_otel._arguments import Arguments
from mcp_otel._patching import Patcher
from mcp_otel._weak import IdentityWeakMap
from mcp_otel.adapters._client import _stream_key
from mcp_otel.server import IncomingRequest, ServerSessionInfo
from mcp_otel.telemetry import Telemetry, guarded, report_internal_error

# handle_request / handle_post_message(scope, receive, send): the ASGI call
_ASGI = Arguments(("scope", "receive", "send"))


class TransportBinding:
    """What a server transport told us about the streams it yielded (never changed once built)."""

    __slots__ = ("kind", "transport")

    def __init__(self, kind: str, transport: weakref.ref[Any] | None = None) -> None:
        self.kind = kind
        self.transport = transport  # the StreamableHTTPServerTransport

    def session_info(self, session_id: str | None = None) -> ServerSessionInfo:
        live = self.transport() if self.transport is not None else None
        if session_id is None and live is not None:
            value = getattr(live, "mcp_session_id", None)
            session_id = str(value) if value else None
        return ServerSessionInfo(transport=self.kind, session_id=session_id)

    def expired(self) -> bool:
        """Whether the streamable-HTTP transport's idle timeout ended the session."""
        live = self.transport() if self.transport is not None else None
        scope = getattr(live, "idle_scope", None)
        return bool(getattr(scope, "cancel_called", False))

    @property
    def stateless(self) -> bool:
        live = self.transport() if self.transport is not None else None
        return live is not None and getattr(live, "mcp_session_id", "") is None


class ServerHub:
    """Per-``instrument()`` registry of server transports' streams and in-flight HTTP requests."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._streams: IdentityWeakMap[TransportBinding] = IdentityWeakMap()
        # id(ASGI scope) -> the span current while the transport handled that HTTP request
        self._http_spans: dict[int, SpanContext] = {}

    @guarded
    def bind_streams(self, streams: Any, binding: TransportBinding) -> None:
        if isinstance(streams, tuple | list):
            for stream in streams:
                key = _stream_key(stream)
                if key is not None:
                    self._streams.set(key, binding)

    def binding_for(self, stream: Any) -> TransportBinding | None:
        try:
            key = _stream_key(stream)
            return self._streams.get(key) if key is not None else None
        except Exception:
            report_internal_error("ServerHub.binding_for")
            return None

    def http_span(self, request: Any) -> SpanContext | None:
        scope = getattr(request, "scope", None)
        return self._http_spans.get(id(scope)) if scope is not None else None

    # --- wrappers ---------------------------------------------------------------------------------
    def transport_wrapper(self, kind: str, keep_transport: bool = False) -> Callable[..., Any]:
        """A wrapt wrapper for a server transport returning an async context manager of streams."""
        hub = self

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            cm = wrapped(*args, **kwargs)
            try:
                transport = weakref.ref(instance) if keep_transport and instance is not None else None
                return _BindingProxy(cm, hub, TransportBinding(kind, transport))
            except Exception:
                report_internal_error("server transport_wrapper")
                return cm

        return wrapper

    async def capture_http_span(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """Around a transport's ASGI entry point: remember the ambient (HTTP server) span of the request."""
        key = self._remember_http_span(args, kwargs)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            if key is not None:
                self._http_spans.pop(key, None)

    def _remember_http_span(self, args: Any, kwargs: Any) -> int | None:
        try:
            scope = _ASGI.get(args, kwargs, "scope")
            current = trace.get_current_span().get_span_context()
            if scope is None or not current.is_valid:
                return None
            self._http_spans[id(scope)] = current
            return id(scope)
        except Exception:
            report_internal_error("ServerHub.capture_http_span")
            return None

    def apply_transports(self, patcher: Patcher, stdio_sites: list[str], *, capture_http: bool) -> None:
        """Wrap the stdio, SSE and streamable-HTTP server transports (classes are looked up lazily)."""
        stdio = self.transport_wrapper(semconv.TRANSPORT_STDIO)
        patcher.wrap_function("mcp.server.stdio", "stdio_server", stdio_sites, stdio)

        def http(module: Any) -> None:
            cls = module.StreamableHTTPServerTransport
            patcher.wrap(cls, "connect", self.transport_wrapper(semconv.TRANSPORT_STREAMABLE_HTTP, True))
            if capture_http:
                patcher.wrap(cls, "handle_request", self.capture_http_span)

        def sse(module: Any) -> None:
            cls = module.SseServerTransport
            patcher.wrap(cls, "connect_sse", self.transport_wrapper(semconv.TRANSPORT_SSE))
            if capture_http:
                patcher.wrap(cls, "handle_post_message", self.capture_http_span)

        def manager(module: Any) -> None:
            patcher.wrap(module.StreamableHTTPSessionManager, "run", _stopped_on_exit)

        patcher.on_import("mcp.server.streamable_http", http)
        patcher.on_import("mcp.server.sse", sse)
        patcher.on_import("mcp.server.streamable_http_manager", manager)


def server_stopped() -> None:
    """The event "an MCP server stopped"; the core flushes what mcp-otel configured (never raises)."""
    from mcp_otel import shutdown  # not on the start-up path: a server stops once

    shutdown.server_stopped()


def _stopped_on_exit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``StreamableHTTPSessionManager.run()`` (the app's lifespan): its end is a server that stopped."""
    cm = wrapped(*args, **kwargs)
    try:
        return _StoppedProxy(cm)
    except Exception:
        report_internal_error("server _stopped_on_exit")
        return cm


class _StoppedProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """An async context manager whose exit tells the core that an MCP server stopped (it flushes)."""

    # `async with` looks __aenter__ up on the type: wrapt's ObjectProxy does not forward it (wrapt 2.x).
    async def __aenter__(self) -> Any:
        return await self.__wrapped__.__aenter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            server_stopped()


class _BindingProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """The transport's context manager; entering it binds the yielded streams to the transport kind."""

    def __init__(self, wrapped: Any, hub: ServerHub, binding: TransportBinding) -> None:
        super().__init__(wrapped)
        self._self_hub = hub
        self._self_binding = binding

    async def __aenter__(self) -> Any:
        streams = await self.__wrapped__.__aenter__()
        self._self_hub.bind_streams(streams, self._self_binding)
        return streams

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            if self._self_binding.kind == semconv.TRANSPORT_STDIO:  # the stdio server has stopped
                server_stopped()


def describe_http(incoming: IncomingRequest, http_request: Any) -> None:
    """Peer address, session id and protocol version from a Starlette request (streamable HTTP or SSE)."""
    if http_request is None:
        return
    try:
        client = getattr(http_request, "client", None)
        if client is not None:
            host, port = client[0], client[1]
            incoming.client_address = str(host) if host else None
            incoming.client_port = int(port) if isinstance(port, int) else None
        headers: Any = getattr(http_request, "headers", None)
        if isinstance(headers, Mapping) or hasattr(headers, "get"):
            session_id = headers.get("mcp-session-id")
            if session_id and incoming.session_id is None:
                incoming.session_id = str(session_id)
            version = headers.get("mcp-protocol-version")
            if version and incoming.protocol_version is None:
                incoming.protocol_version = str(version)
        if incoming.session_id is None:
            # SSE: the session id is a query parameter of the POST endpoint
            params = getattr(http_request, "query_params", None)
            sid = params.get("session_id") if params is not None else None
            if sid:
                incoming.session_id = str(sid)
                incoming.transport = incoming.transport or semconv.TRANSPORT_SSE
    except Exception:
        report_internal_error("describe_http")
