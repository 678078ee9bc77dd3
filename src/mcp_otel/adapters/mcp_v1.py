"""mcp 1.x client: transports, ClientSession lifecycle and every request (``BaseSession.send_request``)."""

from __future__ import annotations

from typing import Any, Protocol

import wrapt

from mcp_otel import semconv
from mcp_otel._arguments import Arguments
from mcp_otel._patching import Patcher
from mcp_otel.adapters._client import (
    ClientHub,
    enter_layer,
    exit_exception,
    exit_layer,
    url_transport,
    wrap_shared_transports,
)
from mcp_otel.adapters._native import claim_client_span, enabled, silenced
from mcp_otel.errors import TOOL_ERROR, classify
from mcp_otel.propagation import inject_carrier
from mcp_otel.results import tool_result_error
from mcp_otel.session import (
    ClientSessionRecord,
    Endpoint,
    RequestInfo,
    request_info,
    start_client_operation,
)
from mcp_otel.telemetry import Telemetry, guarded, report_internal_error

# BaseSession.send_request(request, result_type, request_read_timeout_seconds=None, ...): FastMCP 3.x calls
# it with keywords (its own trace-context path, proxies, background tasks), ClientSession positionally.
_EXCLUDED = object()  # _start's answer for a request of an excluded method
_SEND_REQUEST_FALLBACK = ("request", "result_type", "request_read_timeout_seconds")


def describe_request(instance: Any, request: Any, timeout: Any) -> RequestInfo:
    root = getattr(request, "root", request)
    method = str(getattr(root, "method", "unknown"))
    params = getattr(root, "params", None)
    request_id = getattr(instance, "_request_id", None)
    info = request_info(method, request_id, lambda key: getattr(params, key, None))
    if timeout is None:
        timeout = getattr(instance, "_session_read_timeout_seconds", None)
    if timeout is not None:
        info.timeout = timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout
    return info


class _RequestWithMeta(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """The caller's request, serialised with the trace context added to ``params._meta``.

    ``BaseSession.send_request`` only calls ``request.model_dump(...)`` (and reads the class name for its
    timeout message), so adding the fields to the dumped dict leaves the caller's pydantic objects as
    they were and needs no knowledge of each request's params class.
    """

    def __init__(self, wrapped: Any, carrier: dict[str, str]) -> None:
        super().__init__(wrapped)
        self._self_carrier = carrier

    def model_dump(self, *args: Any, **kwargs: Any) -> Any:
        data = self.__wrapped__.model_dump(*args, **kwargs)
        try:
            if isinstance(data, dict):
                params = data.get("params")
                params = dict(params) if isinstance(params, dict) else {}
                key = "_meta" if kwargs.get("by_alias") else "meta"
                meta = params.get(key)
                params[key] = {**(meta if isinstance(meta, dict) else {}), **self._self_carrier}
                data["params"] = params
        except Exception:
            report_internal_error("_RequestWithMeta.model_dump")
        return data


# send_request(request, result_type, request_read_timeout_seconds=None, ...): what _start reads
_SEND_PARAMETERS = ("request", "request_read_timeout_seconds")


class ProgressHook(Protocol):
    """What the lifecycle adapter does per request (see :attr:`McpV1ClientAdapter.lifecycle`)."""

    def register_progress(self, session: Any, args: Any, kwargs: Any) -> Any: ...

    def forget_progress(self, session: Any, token: Any) -> None: ...


class McpV1ClientAdapter:
    """Patches the mcp 1.x client."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.hub = ClientHub(telemetry)
        # The lifecycle adapter's part of send_request (a progress token registered for the request span),
        # run from this adapter's wrapper rather than by a wrapper of its own: one wrapt layer less.
        self.lifecycle: ProgressHook | None = None

    def apply(self, patcher: Patcher) -> None:
        from mcp.client.session import ClientSession

        self._client_session_type = ClientSession
        hub = self.hub
        http = url_transport(hub, semconv.TRANSPORT_STREAMABLE_HTTP, _bind_session_id_getter)
        patcher.wrap_function(
            "mcp.client.streamable_http",
            "streamable_http_client",
            ["mcp.client.session_group", "fastmcp.client.transports.http", "fastmcp.cli.apps_dev"],
            http,
        )
        # Deprecated spelling; it calls streamable_http_client, and TransportProxy keeps that one connect.
        patcher.wrap_function(
            "mcp.client.streamable_http",
            "streamablehttp_client",
            ["mcp.client.session_group", "fastmcp.client.transports.http"],
            http,
        )
        patcher.wrap_function(
            "mcp.client.websocket", "websocket_client", [], url_transport(hub, semconv.TRANSPORT_WEBSOCKET)
        )
        wrap_shared_transports(
            patcher,
            hub,
            stdio_sites=["mcp", "mcp.client.__main__", "fastmcp.client.transports.stdio"],
            memory_sites=["fastmcp.client.transports.memory"],
        )
        self._init_args = Arguments.of_method(ClientSession, "__init__", ("read_stream",))
        patcher.wrap(ClientSession, "__init__", self._init)
        patcher.wrap(ClientSession, "__aenter__", self._aenter)
        patcher.wrap(ClientSession, "__aexit__", self._aexit)
        # Shared with ServerSession (server->client requests): filtered by isinstance in the wrapper.
        from mcp.shared.session import BaseSession

        self._send_args = Arguments.of_method(BaseSession, "send_request", _SEND_REQUEST_FALLBACK)
        patcher.wrap(BaseSession, "send_request", self._send_request)

    # --- ClientSession lifecycle ------------------------------------------------------------------
    def _init(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        self._bind_session(instance, args, kwargs)
        return result

    @guarded
    def _bind_session(self, session: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        from mcp_otel.session import OPENING

        read_stream = self._init_args.get(args, kwargs, "read_stream")
        record = OPENING.get() or self.hub.record_for_stream(read_stream)
        if record is not None:
            self.hub.attach(session, record)

    async def _aenter(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        existing = self.hub.record_for(instance)
        # Without a transport layer we cannot tell what carries the session (in-memory pairs have their
        # own layer), so the transport stays unset rather than guessed.
        endpoint = Endpoint()
        result, layer = await enter_layer(
            self.hub, endpoint, lambda: wrapped(*args, **kwargs), existing=existing
        )
        self.hub.remember_layer(instance, layer)
        return result

    async def _aexit(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        layer = self.hub.take_layer(instance)
        return await exit_layer(layer, lambda: wrapped(*args, **kwargs), exit_exception(args, kwargs))

    # --- requests ---------------------------------------------------------------------------------
    async def _send_request(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not isinstance(instance, self._client_session_type):
            return await wrapped(*args, **kwargs)
        started = self._start(instance, args, kwargs)
        if started is None:
            return await wrapped(*args, **kwargs)
        if started is _EXCLUDED:
            with silenced():  # FastMCP's own span for it too (DESIGN rule 2)
                return await wrapped(*args, **kwargs)
        op, record, request, call_args, call_kwargs = started
        lifecycle = self.lifecycle
        with op.activate():
            # inside the request span: the progress notifications of its token land on it
            token = lifecycle.register_progress(instance, call_args, call_kwargs) if lifecycle else None
            try:
                result = await wrapped(*call_args, **call_kwargs)
            except BaseException as exc:
                op.finish(classify(exc), exception=exc)
                raise
            finally:
                if token is not None and lifecycle is not None:
                    lifecycle.forget_progress(instance, token)
        self._finished(op, record, request, result)
        return result

    def _start(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        binding = self._send_args
        try:
            if not enabled():
                return None
            request, timeout = binding.values(args, kwargs, _SEND_PARAMETERS)
            info = describe_request(instance, request, timeout)
            if info.method in self.telemetry.config.excluded_methods:
                return _EXCLUDED
            record = self.hub.record_for(instance)
            if record is not None:
                op = record.start_request(info)
            else:
                op = start_client_operation(self.telemetry, info, None, None, None, None)
            claim_client_span(info.method, op.span)
        except Exception:
            report_internal_error("mcp_v1._start")
            return None
        # The span is started: a fault in the injection must not lose it (it would never end).
        call_args, call_kwargs = args, kwargs
        try:
            if self.telemetry.config.propagate and request is not None:
                carrier = inject_carrier(op.context)
                if carrier:
                    call_args, call_kwargs = binding.replace(
                        args, kwargs, "request", _RequestWithMeta(request, carrier)
                    )
        except Exception:
            report_internal_error("mcp_v1._start")
        return op, record, request, call_args, call_kwargs

    def _finished(self, op: Any, record: ClientSessionRecord | None, request: Any, result: Any) -> None:
        # Guarded inline, not by @guarded: called per request (one frame less).
        try:
            method = getattr(getattr(request, "root", request), "method", None)
            if method == "initialize" and record is not None:
                info = getattr(result, "serverInfo", None)
                attributes = record.on_initialized(
                    getattr(result, "protocolVersion", None),
                    getattr(info, "name", None),
                    getattr(info, "version", None),
                )
                for key, value in (attributes or {}).items():
                    op.set_attribute(key, value, metric=key == semconv.MCP_PROTOCOL_VERSION)
            elif record is not None and record.session_id is None:
                record.refresh_session_id()
            error = TOOL_ERROR if getattr(result, "isError", False) is True else None
            config = self.telemetry.config
            if method == "tools/call" and (
                config.result_error_detector is not None or config.capture_content
            ):
                error = tool_result_error(self.telemetry, op.span, error is not None, lambda: _wire(result))
            op.finish(error)
        except Exception:
            report_internal_error("McpV1ClientAdapter._finished")


def _wire(result: Any) -> Any:
    """A result model in its wire form (camelCase keys), as the server sent it."""
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def _bind_session_id_getter(streams: Any, record: ClientSessionRecord) -> None:
    """mcp 1.x streamable HTTP yields ``(read, write, get_session_id)``."""
    if isinstance(streams, tuple) and len(streams) >= 3 and callable(streams[2]):
        record.session_id_source = streams[2]
