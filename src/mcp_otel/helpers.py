"""``trace_session``: trace an ``init_session``-style helper as one MCP session.

Applications often wrap the transport and ``ClientSession`` in a helper of their own, like ABI-Core's
``init_session(host, port, transport)``::

    @trace_session
    @asynccontextmanager
    async def init_session(host, port, transport="streamable-http"):
        async with streamable_http_client(f"http://{host}:{port}/mcp") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session

Decorated, the helper becomes the outermost layer of the session: ``mcp.session`` starts when the helper
is entered (so a failure in the helper's own code, before any transport, is part of it), carries the
helper's host, port and transport, and ends when the helper exits. The transport and ``ClientSession``
inside join that session instead of opening their own; helpers nested in helpers join the outermost one.
Without instrumentation (or under ``suppress_instrumentation``) the helper runs untouched.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload

import wrapt
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from mcp_otel import semconv
from mcp_otel.adapters._client import ClientHub, endpoint_for_url, enter_layer, exit_layer
from mcp_otel.session import Endpoint
from mcp_otel.telemetry import report_internal_error

F = TypeVar("F", bound=Callable[..., Any])

_TRANSPORTS = {
    "streamable-http": semconv.TRANSPORT_STREAMABLE_HTTP,
    "streamable_http": semconv.TRANSPORT_STREAMABLE_HTTP,
    "streamablehttp": semconv.TRANSPORT_STREAMABLE_HTTP,
    "http": semconv.TRANSPORT_STREAMABLE_HTTP,
    "sse": semconv.TRANSPORT_SSE,
    "stdio": semconv.TRANSPORT_STDIO,
    "websocket": semconv.TRANSPORT_WEBSOCKET,
    "ws": semconv.TRANSPORT_WEBSOCKET,
}


@dataclass(frozen=True)
class HelperArguments:
    """Which of the helper's parameters hold the endpoint (None: the helper has no such parameter)."""

    host: str | None = "host"
    port: str | None = "port"
    transport: str | None = "transport"
    url: str | None = "url"


def _port(value: Any) -> int | None:
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def helper_endpoint(arguments: Mapping[str, Any], names: HelperArguments) -> Endpoint:
    """The session's endpoint from the helper's (bound) arguments."""
    raw_transport = arguments.get(names.transport) if names.transport else None
    transport = _TRANSPORTS.get(str(raw_transport).strip().lower()) if raw_transport is not None else None
    url = arguments.get(names.url) if names.url else None
    if url:
        endpoint = endpoint_for_url(url, transport or semconv.TRANSPORT_STREAMABLE_HTTP)
        if transport is None:
            endpoint = Endpoint(**{**endpoint.__dict__, "transport": None})
        return endpoint
    host = arguments.get(names.host) if names.host else None
    port = _port(arguments.get(names.port)) if names.port else None
    if transport == semconv.TRANSPORT_STDIO:
        return Endpoint(transport=transport, network_transport="pipe")
    network = host is not None or port is not None
    return Endpoint(
        transport=transport,
        server_address=str(host) if host is not None else None,
        server_port=port,
        network_transport="tcp" if network else None,
        network_protocol_name=(
            ("websocket" if transport == semconv.TRANSPORT_WEBSOCKET else "http") if network else None
        ),
    )


class SessionHelperProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]  # generic in wrapt 2 stubs only
    """The async context manager a helper returned: entering it opens the session, exiting ends it."""

    def __init__(self, wrapped: Any, hub: ClientHub, endpoint: Endpoint) -> None:
        super().__init__(wrapped)
        self._self_hub = hub
        self._self_endpoint = endpoint
        self._self_layer: Any = None

    async def __aenter__(self) -> Any:
        result, layer = await enter_layer(self._self_hub, self._self_endpoint, self.__wrapped__.__aenter__)
        self._self_layer = layer
        return result

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        layer, self._self_layer = self._self_layer, None
        return await exit_layer(layer, lambda: self.__wrapped__.__aexit__(exc_type, exc, tb), exc)


def _binder(func: Any) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], Mapping[str, Any]]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None

    def bind(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapping[str, Any]:
        if signature is None:
            return dict(kwargs)
        for candidate in ((*args,), (instance, *args)) if instance is not None else ((*args,),):
            try:
                bound = signature.bind_partial(*candidate, **kwargs)
            except TypeError:
                continue
            bound.apply_defaults()
            return bound.arguments
        return dict(kwargs)

    return bind


def helper_wrapper(
    hub_source: Callable[[], ClientHub | None], func: Any, names: HelperArguments
) -> Callable[..., Any]:
    """A wrapt wrapper that turns what ``func`` returns into a :class:`SessionHelperProxy`."""
    bind = _binder(func)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        cm = wrapped(*args, **kwargs)
        try:
            hub = hub_source()
            if hub is None or not is_instrumentation_enabled() or not hasattr(cm, "__aenter__"):
                return cm
            return SessionHelperProxy(cm, hub, helper_endpoint(bind(instance, args, kwargs), names))
        except Exception:
            report_internal_error("trace_session")
            return cm

    return wrapper


_hubs: dict[int, tuple[Any, ClientHub]] = {}


def _instrumented_hub() -> ClientHub | None:
    """A hub bound to the current instrumentation (McpInstrumentor's or the start-up hook's), or None."""
    from mcp_otel._instrumentation import state

    telemetry, patcher = state.telemetry, state.patcher
    if not state.instrumented or telemetry is None or patcher is None:
        return None
    if not patcher.active:
        return None
    cached = _hubs.get(id(telemetry))
    if cached is None or cached[0] is not telemetry:
        _hubs.clear()
        cached = _hubs[id(telemetry)] = (telemetry, ClientHub(telemetry))
    return cached[1]


@overload
def trace_session(func: F) -> F: ...


@overload
def trace_session(
    func: None = None,
    *,
    host: str | None = "host",
    port: str | None = "port",
    transport: str | None = "transport",
    url: str | None = "url",
) -> Callable[[F], F]: ...


def trace_session(
    func: Any = None,
    *,
    host: str | None = "host",
    port: str | None = "port",
    transport: str | None = "transport",
    url: str | None = "url",
) -> Any:
    """Decorate a function that returns an async context manager yielding an MCP session.

    Apply it above ``@asynccontextmanager``. ``host``, ``port``, ``transport`` and ``url`` name the
    helper's parameters that hold those values (defaults: parameters of those names; None: not there);
    they become ``server.address``, ``server.port`` and ``mcp_otel.transport`` on ``mcp.session``.

    Args:
        func: the helper (when used as ``@trace_session`` without parentheses).
        host: name of the parameter holding the server's host.
        port: name of the parameter holding the server's port.
        transport: name of the parameter holding the transport (``streamable-http``, ``sse``, ``stdio``).
        url: name of the parameter holding the server's URL.

    Returns:
        The decorated helper (same signature and behaviour), or a decorator.
    """
    names = HelperArguments(host=host, port=port, transport=transport, url=url)

    def decorate(target: F) -> F:
        if inspect.isasyncgenfunction(target):
            import logging

            logging.getLogger("mcp_otel").warning(
                "mcp-otel: trace_session() needs an async context manager: apply it above "
                "@asynccontextmanager (%s is left untraced)",
                getattr(target, "__qualname__", target),
            )
            return target
        return cast(F, wrapt.FunctionWrapper(target, helper_wrapper(_instrumented_hub, target, names)))

    if func is not None:
        return decorate(func)
    return decorate
