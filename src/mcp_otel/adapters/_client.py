"""Client-side machinery shared by the mcp 1.x and 2.x adapters: session layers and transport proxies.

A session may be opened by several nested layers: a helper such as ``init_session``, ``mcp.Client``, a
transport function, ``ClientSession``. The outermost one owns the session record (it starts the
``mcp.session`` span and ends it on exit); the inner ones join it through ``OPENING`` while the outer
``__aenter__`` runs, or, for the plain ``async with transport as streams: async with ClientSession(...)``
shape, through the streams the transport yielded.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import wrapt

from mcp_otel import semconv
from mcp_otel._arguments import Arguments
from mcp_otel._weak import IdentityWeakMap
from mcp_otel.adapters._native import enabled
from mcp_otel.session import OPENING, ClientSessionRecord, Endpoint
from mcp_otel.streams import STREAM_OWNER
from mcp_otel.telemetry import Telemetry, guarded, report_internal_error

_logger = logging.getLogger("mcp_otel")


class ClientHub:
    """Per-``instrument()`` registry linking library objects to session records (weakly)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        # transport stream (or its raw anyio stream) -> record, for ClientSession to find its session
        self._streams: IdentityWeakMap[ClientSessionRecord] = IdentityWeakMap()
        # library object (ClientSession, mcp.Client, fastmcp.Client) -> record
        self._owners: IdentityWeakMap[ClientSessionRecord] = IdentityWeakMap()
        # library object -> the SessionLayer its __aenter__ opened, for its __aexit__
        self._layers: IdentityWeakMap[SessionLayer] = IdentityWeakMap()

    def record_for(self, obj: Any) -> ClientSessionRecord | None:
        return self._owners.get(obj)

    @guarded
    def attach(self, obj: Any, record: ClientSessionRecord) -> None:
        self._owners.set(obj, record)

    @guarded
    def remember_layer(self, obj: Any, layer: SessionLayer) -> None:
        self._layers.set(obj, layer)
        if layer.record is not None:
            self._owners.set(obj, layer.record)

    def take_layer(self, obj: Any) -> SessionLayer | None:
        try:
            return self._layers.pop(obj)
        except Exception:
            report_internal_error("ClientHub.take_layer")
            return None

    @guarded
    def bind_streams(self, streams: Any, record: ClientSessionRecord) -> None:
        """Remember every stream object in what a transport yielded (tuples, nested tuples)."""
        pending = [streams]
        while pending:
            item = pending.pop()
            if isinstance(item, tuple | list):
                pending.extend(item)
            elif (key := _stream_key(item)) is not None:
                self._streams.set(key, record)

    def record_for_stream(self, stream: Any) -> ClientSessionRecord | None:
        key = _stream_key(stream)
        if key is None:
            return None
        return self._streams.get(key)


def _stream_key(stream: Any) -> Any:
    """A weak-referenceable identity for a stream: mcp 2.x context streams wrap a raw anyio stream."""
    for candidate in (stream, getattr(stream, "_inner", None)):
        if candidate is None or callable(candidate) or isinstance(candidate, str | bytes | int):
            continue
        try:
            weakref.ref(candidate)
        except TypeError:
            continue
        return candidate
    return None


def endpoint_for_url(url: Any, transport: str) -> Endpoint:
    """server.address/port and network attributes from a transport URL (credentials never read)."""
    host: str | None = None
    port: int | None = None
    scheme = ""
    try:
        parts = urlsplit(str(url))
        host, scheme = parts.hostname, parts.scheme
        port = parts.port or {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    except (ValueError, TypeError):
        pass
    protocol = "websocket" if transport == semconv.TRANSPORT_WEBSOCKET else "http"
    return Endpoint(
        transport=transport,
        server_address=host,
        server_port=port,
        network_transport="tcp",
        network_protocol_name=protocol,
        identity=str(url),
    )


def stdio_endpoint(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Endpoint:
    """A stdio server is identified (for retry detection only) by its command line."""
    server = STDIO_CLIENT.get(args, kwargs, "server")
    command = getattr(server, "command", None)
    if command is None:
        return STDIO_ENDPOINT
    identity = " ".join([str(command), *map(str, getattr(server, "args", None) or ())])
    return Endpoint(transport=semconv.TRANSPORT_STDIO, network_transport="pipe", identity=identity)


# stdio_client(server, errlog=...) and the URL transports' first parameter, the same on every SDK version.
STDIO_CLIENT = Arguments(("server", "errlog"))
URL_TRANSPORT = Arguments(("url",))
STDIO_ENDPOINT = Endpoint(transport=semconv.TRANSPORT_STDIO, network_transport="pipe")
MEMORY_ENDPOINT = Endpoint(transport=semconv.TRANSPORT_MEMORY)


class SessionLayer:
    """Enter/exit bookkeeping of one layer that may own a session (see the module docstring)."""

    __slots__ = ("hub", "owned", "record")

    def __init__(self, hub: ClientHub) -> None:
        self.hub = hub
        self.record: ClientSessionRecord | None = None
        self.owned = False

    @guarded
    def open(self, endpoint: Endpoint, existing: ClientSessionRecord | None = None) -> Any:
        """Join the session being opened (or ``existing``), else start one; returns an OPENING token."""
        record = existing or OPENING.get()
        if record is not None and not record.ended:
            record.update_endpoint(endpoint)
            self.record = record
            return None
        self.record = ClientSessionRecord(self.hub.telemetry, endpoint)
        self.owned = True
        return OPENING.set(self.record)

    def close_opening(self, token: Any) -> None:
        if token is not None:
            try:
                OPENING.reset(token)
            except Exception:  # reset from another context: harmless, the value dies with that context
                report_internal_error("SessionLayer.close_opening")

    @guarded
    def failed(self, exc: BaseException) -> None:
        if self.owned and self.record is not None:
            self.record.end(exc)

    @guarded
    def begin_exit(self) -> None:
        if self.record is not None:
            self.record.start_cleanup()

    @guarded
    def finish(self, exc: BaseException | None) -> None:
        if self.owned and self.record is not None:
            self.record.end(exc)


async def enter_layer(
    hub: ClientHub,
    endpoint: Endpoint,
    enter: Callable[[], Awaitable[Any]],
    *,
    connect: bool = False,
    existing: ClientSessionRecord | None = None,
) -> tuple[Any, SessionLayer]:
    """Run ``enter`` as a session layer; with ``connect`` it is the transport set-up (``mcp.connect``)."""
    layer = SessionLayer(hub)
    if existing is None and OPENING.get() is None and not enabled():
        # suppress_instrumentation(): no session record (an inert layer passes exit straight through)
        return await enter(), layer
    token = layer.open(endpoint, existing)
    record = layer.record
    # Streams created while the layer opens, and by the tasks it spawns, belong to the session.
    owner_token = STREAM_OWNER.set(record) if record is not None else None
    if connect and record is not None:
        record.start_connect(endpoint)
    try:
        result = await enter()
    except BaseException as exc:
        if connect and record is not None:
            record.end_connect(exc)
        layer.failed(exc)
        raise
    finally:
        if owner_token is not None:
            STREAM_OWNER.reset(owner_token)
        layer.close_opening(token)
    if connect and record is not None:
        record.end_connect()
    return result, layer


# __aexit__(exc_type, exc_val, exc_tb): the names the SDK's sessions and clients use.
AEXIT = Arguments(("exc_type", "exc_val", "exc_tb"))


def exit_exception(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The exception an ``__aexit__`` call reports (None on a clean exit)."""
    try:
        return AEXIT.get(args, kwargs, "exc_val")
    except Exception:
        report_internal_error("exit_exception")
        return None


async def exit_layer(layer: SessionLayer | None, exit_: Callable[[], Awaitable[Any]], exc: Any) -> Any:
    """Run ``exit_`` as the teardown of a layer entered with :func:`enter_layer`."""
    if layer is None:
        return await exit_()
    layer.begin_exit()
    try:
        result = await exit_()
    except BaseException as raised:
        layer.finish(raised)
        raise
    layer.finish(exc if not result else None)
    return result


class TransportProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """Wraps the async context manager a transport function returns: entering it is the connect phase."""

    def __init__(
        self,
        wrapped: Any,
        hub: ClientHub,
        endpoint: Endpoint,
        on_streams: Callable[[Any, ClientSessionRecord], None] | None = None,
        on_enter: Callable[[ClientSessionRecord | None], None] | None = None,
    ) -> None:
        super().__init__(wrapped)
        self._self_hub = hub
        self._self_endpoint = endpoint
        self._self_on_streams = on_streams
        self._self_on_enter = on_enter
        self._self_layer: SessionLayer | None = None

    async def _enter_wrapped(self) -> Any:
        """The wrapped ``__aenter__``, after ``on_enter`` saw the session being opened (stdio: its env)."""
        if self._self_on_enter is not None:
            _safe_call(self._self_on_enter, OPENING.get())
        return await self.__wrapped__.__aenter__()

    async def __aenter__(self) -> Any:
        nested = OPENING.get()
        if nested is not None and nested.connect_span is not None:
            # Entered while an outer layer connects (mcp.Client's _build_session, or mcp 1.x's deprecated
            # streamablehttp_client calling streamable_http_client): one connect span, not two.
            streams = await self._enter_wrapped()
            nested.update_endpoint(self._self_endpoint)
            self._bind(streams, nested)
            return streams
        streams, layer = await enter_layer(
            self._self_hub, self._self_endpoint, self._enter_wrapped, connect=True
        )
        self._self_layer = layer
        if layer.record is not None:
            self._bind(streams, layer.record)
        return streams

    def _bind(self, streams: Any, record: ClientSessionRecord) -> None:
        self._self_hub.bind_streams(streams, record)
        if self._self_on_streams is not None:
            _safe_call(self._self_on_streams, streams, record)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        layer, self._self_layer = self._self_layer, None
        return await exit_layer(layer, lambda: self.__wrapped__.__aexit__(exc_type, exc, tb), exc)


def _safe_call(func: Callable[..., Any], *args: Any) -> None:
    try:
        func(*args)
    except Exception:
        report_internal_error(getattr(func, "__qualname__", "callback"))


def transport_wrapper(
    hub: ClientHub,
    describe: Callable[[tuple[Any, ...], dict[str, Any]], Endpoint],
    on_streams: Callable[[Any, ClientSessionRecord], None] | None = None,
) -> Callable[..., Any]:
    """A wrapt wrapper for a transport function: the returned context manager becomes a TransportProxy."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        cm = wrapped(*args, **kwargs)
        try:
            return TransportProxy(cm, hub, describe(args, kwargs), on_streams)
        except Exception:
            report_internal_error("transport_wrapper")
            return cm

    return wrapper


class SessionIdRelay:
    """Chained into ``sse_client(on_session_created=...)``: keeps the id for the session record.

    The SDK calls it while the transport is being entered, before the session record learns of the
    streams, so the id waits here; the caller's own callback (if any) is called as it would have been.
    """

    __slots__ = ("session_id", "user_callback")

    def __init__(self, user_callback: Callable[[str], None] | None) -> None:
        self.user_callback = user_callback
        self.session_id: str | None = None

    def __call__(self, session_id: str) -> None:
        self.session_id = session_id if isinstance(session_id, str) else None
        if self.user_callback is not None:
            self.user_callback(session_id)

    def bind(self, streams: Any, record: ClientSessionRecord) -> None:
        record.session_id_source = self.current

    def current(self) -> str | None:
        return self.session_id


def sse_transport(hub: ClientHub, sse_client: Callable[..., Any]) -> Callable[..., Any]:
    """``sse_client``: on SDKs that report the session id (``on_session_created``), relay it to the record."""
    binding = Arguments.of(sse_client, ("url",))
    if "on_session_created" not in binding.names:
        # no such parameter (older SDKs): the session id stays unknown
        return url_transport(hub, semconv.TRANSPORT_SSE)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            relay = SessionIdRelay(binding.get(args, kwargs, "on_session_created"))
            args, kwargs = binding.replace(args, kwargs, "on_session_created", relay)
        except Exception:
            report_internal_error("sse_transport")
            return wrapped(*args, **kwargs)
        cm = wrapped(*args, **kwargs)
        try:
            endpoint = endpoint_for_url(binding.get(args, kwargs, "url"), semconv.TRANSPORT_SSE)
            return TransportProxy(cm, hub, endpoint, relay.bind)
        except Exception:
            report_internal_error("sse_transport")
            return cm

    return wrapper


def url_argument(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return URL_TRANSPORT.get(args, kwargs, "url")


def url_transport(
    hub: ClientHub,
    transport: str,
    on_streams: Callable[[Any, ClientSessionRecord], None] | None = None,
) -> Callable[..., Any]:
    """The wrapper of a transport function whose first argument is the server URL."""
    return transport_wrapper(hub, lambda a, k: endpoint_for_url(url_argument(a, k), transport), on_streams)


def wrap_shared_transports(
    patcher: Any, hub: ClientHub, *, stdio_sites: list[str], memory_sites: list[str]
) -> None:
    """SSE, stdio and the in-memory pair: the same functions on both SDK lines; the import sites differ."""
    from mcp_otel.adapters._stdio import stdio_transport_wrapper  # _stdio builds on this module

    try:
        from mcp.client.sse import sse_client
    except Exception:  # an optional dependency missing: nothing to patch
        _logger.debug("mcp-otel: mcp.client.sse is not importable; SSE not instrumented", exc_info=True)
    else:
        patcher.wrap_function(
            "mcp.client.sse",
            "sse_client",
            ["mcp.client.session_group", "mcp.client.__main__", "fastmcp.client.transports.sse"],
            sse_transport(hub, sse_client),
        )
    patcher.wrap_function(
        "mcp.client.stdio", "stdio_client", stdio_sites, stdio_transport_wrapper(hub, stdio_endpoint)
    )
    patcher.wrap_function(
        "mcp.shared.memory",
        "create_client_server_memory_streams",
        memory_sites,
        transport_wrapper(hub, lambda a, k: MEMORY_ENDPOINT),
    )
