"""Streamable-HTTP client lifecycle, shared by the mcp 1.x and 2.x adapters: stream reconnects and 401/403.

mcp's ``StreamableHTTPTransport`` (1.30 and 2.x alike; 1.12 has no reconnection at all) reconnects:

* its standalone GET stream in ``handle_get_stream``: a loop that re-opens the stream after it ends (the
  attempt counter resets) or fails (up to ``MAX_RECONNECTION_ATTEMPTS`` consecutive failures, then it gives
  up), sending ``Last-Event-ID`` when the server numbered its events and waiting the server's ``retry:``;
* a request's POST SSE stream that ended before the response, in ``_handle_reconnection`` (recursive, its
  ``attempt`` argument counting), always with ``Last-Event-ID``.

Every (re)connection goes through ``sse_within_origin`` as imported into ``mcp.client.streamable_http``;
wrapping that name there sees each attempt, its ``Last-Event-ID`` header and how the previous one ended.
POSTs go through ``stream_within_origin``: its final status (after the client's httpx auth, if any) tells
the session about an unresolved 401/403.

OAuth: mcp's ``OAuthClientProvider`` is an httpx auth flow (``_auth_flow`` in 1.30 / 2.x, driven by
``RedirectAwareAuth.async_auth_flow``; ``async_auth_flow`` itself in 1.12), an async generator yielding the
requests it needs. The generator is wrapped and each run of requests of one kind is one ``mcp.auth`` span
under the session: ``discovery`` (``/.well-known/`` metadata), ``refresh`` (a ``refresh_token`` grant) and
``authorization`` (registration, the code exchange). Only the step and the outcome are recorded: never a URL
query, a token, a code or a secret.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import wrapt
from opentelemetry.trace import Span, Status, StatusCode

from mcp_otel import semconv
from mcp_otel._patching import Patcher
from mcp_otel._weak import IdentityWeakMap
from mcp_otel.errors import classify, is_cancellation
from mcp_otel.session import OPENING, ClientSessionRecord
from mcp_otel.telemetry import Telemetry, guarded, instrumentation_enabled, report_internal_error

_LAST_EVENT_ID = "last-event-id"


class _StreamState:
    """One reconnecting stream: the GET stream of a transport, or one request's POST stream."""

    __slots__ = ("attempt", "cause", "extra", "failures", "kind", "opened", "record")

    def __init__(self, record: ClientSessionRecord, kind: str, opened: int = 0) -> None:
        self.record = record
        self.kind = kind  # "get" or "post"
        self.opened = opened  # connection attempts so far (the first is not a reconnect)
        self.attempt = 0  # reconnects since the stream last ended normally
        self.cause = semconv.ERROR_CONNECTION_CLOSED  # how the previous connection ended
        self.failures = 0  # consecutive failed connections (mcp's own attempt counter)
        self.extra: dict[str, Any] = {}


# The stream whose (re)connections run in this task.
_STREAM: ContextVar[_StreamState | None] = ContextVar("mcp_otel_http_stream", default=None)
# The session whose HTTP exchange runs in this task (an OAuth flow runs inside it).
_EXCHANGE: ContextVar[ClientSessionRecord | None] = ContextVar("mcp_otel_http_exchange", default=None)


class HttpLifecycle:
    """Wraps one SDK line's ``StreamableHTTPTransport`` and the two connection helpers it imports."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        self._transports: IdentityWeakMap[ClientSessionRecord] = IdentityWeakMap()
        # The httpx client a transport's writer POSTs with -> the session (the POST tasks run in the
        # sender's context on mcp 2.x, so a context variable set by the writer would not reach them).
        self._clients: IdentityWeakMap[ClientSessionRecord] = IdentityWeakMap()

    def apply(self, patcher: Patcher) -> None:
        from mcp.client import streamable_http

        cls = streamable_http.StreamableHTTPTransport
        self._max_attempts = getattr(streamable_http, "MAX_RECONNECTION_ATTEMPTS", None)
        patcher.wrap(cls, "__init__", self._init)
        patcher.wrap(cls, "post_writer", self._post_writer)
        patcher.wrap(cls, "handle_get_stream", self._get_stream)
        patcher.wrap(cls, "_handle_reconnection", self._reconnection)
        patcher.wrap(cls, "_handle_post_request", self._post_request)
        patcher.wrap(streamable_http, "sse_within_origin", self._sse)
        patcher.wrap(streamable_http, "stream_within_origin", self._post)
        self._apply_oauth(patcher)

    def _apply_oauth(self, patcher: Patcher) -> None:
        # When the application imports it: importing mcp.client.auth here would put it (~2 ms) on every
        # instrumented process's start-up, and few use OAuth.
        patcher.on_import("mcp.client.auth", lambda module: self._patch_oauth(patcher, module))

    def _patch_oauth(self, patcher: Patcher, module: Any) -> None:
        provider = getattr(module, "OAuthClientProvider", None)
        if provider is None:
            return
        # 1.30 / 2.x: the flow proper is _auth_flow (async_auth_flow adds redirects around it); 1.12 has
        # async_auth_flow alone.
        name = "_auth_flow" if "_auth_flow" in vars(provider) else "async_auth_flow"
        patcher.wrap(provider, name, self._auth_flow)

    def _auth_flow(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        flow = wrapped(*args, **kwargs)
        try:
            return _AuthFlowProxy(flow, self._telemetry, kwargs.get("request", args[0] if args else None))
        except Exception:
            report_internal_error("HttpLifecycle._auth_flow")
            return flow

    def _init(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        record = OPENING.get()
        if record is not None:
            self._transports.set(instance, record)
        return result

    def _post_writer(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``post_writer(client, ...)``: the POSTs it sends with ``client`` belong to the transport's session."""
        record = self._transports.get(instance)
        client = kwargs.get("client", args[0] if args else None)
        if record is not None and client is not None:
            self._clients.set(client, record)
        return wrapped(*args, **kwargs)

    async def _post_request(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """mcp 1.x raises ``HTTPStatusError`` for a POST's error status here (and tears the transport down,
        cancelling the request): the session learns of a 401/403 before its request spans end."""
        try:
            return await wrapped(*args, **kwargs)
        except Exception as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            record = self._transports.get(instance)
            if record is not None and isinstance(status, int):
                record.on_http_status(status)
            raise

    async def _get_stream(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        record = self._transports.get(instance)
        if record is None:
            return await wrapped(*args, **kwargs)
        state = _StreamState(record, "get")
        token = _STREAM.set(state)
        try:
            result = await wrapped(*args, **kwargs)
        finally:
            _STREAM.reset(token)
        if state.failures and self._max_attempts is not None and state.failures >= self._max_attempts:
            # mcp returned after its last allowed attempt failed: the stream is gone for good.
            record.on_reconnect_gave_up()
        return result

    async def _reconnection(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """``_handle_reconnection(ctx, last_event_id, retry_interval_ms=None, attempt=0)``: one POST resume."""
        state = _STREAM.get()
        token = None
        if state is None or state.kind != "post":
            record = self._transports.get(instance)
            if record is None:
                return await wrapped(*args, **kwargs)
            state = _StreamState(record, "post", opened=1)
            token = _STREAM.set(state)
        self._note_resume(state, kwargs.get("attempt", args[3] if len(args) > 3 else 0))
        try:
            return await wrapped(*args, **kwargs)
        finally:
            if token is not None:
                _STREAM.reset(token)

    @guarded
    def _note_resume(self, state: _StreamState, attempt: Any) -> None:
        """The next connection of this POST stream is resume attempt ``attempt + 1`` (mcp counts from 0)."""
        if not isinstance(attempt, int) or (self._max_attempts is not None and attempt >= self._max_attempts):
            return  # mcp gives up here without connecting; the request span records the outcome
        if attempt == 0:  # called from inside a resumed stream that ended again without the response
            state.cause = semconv.ERROR_CONNECTION_CLOSED
        state.extra["resume_pending"] = attempt + 1

    def _sse(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        cm = wrapped(*args, **kwargs)
        state = _STREAM.get()
        if state is None:
            record = self._clients.get(kwargs.get("client", args[0] if args else None))
            return _StatusProxy(cm, record, None) if record is not None else cm
        try:
            headers = kwargs.get("headers")
            resumed = isinstance(headers, dict) and bool(headers.get(_LAST_EVENT_ID))
            return _StatusProxy(cm, state.record, (state, resumed))
        except Exception:
            report_internal_error("HttpLifecycle._sse")
            return cm

    def _post(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        cm = wrapped(*args, **kwargs)
        record = self._clients.get(kwargs.get("client", args[0] if args else None))
        if record is None:
            return cm
        return _StatusProxy(cm, record, None)


class _StatusProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """An SSE/POST connection context manager: reports its HTTP status and, for a reconnecting stream, the
    reconnect attempt it is and how it ended."""

    def __init__(self, wrapped: Any, record: ClientSessionRecord, stream: tuple[_StreamState, bool] | None):
        super().__init__(wrapped)
        self._self_record = record
        self._self_stream = stream

    async def __aenter__(self) -> Any:
        self._opening()
        token = _EXCHANGE.set(self._self_record)  # the request (and any OAuth flow) runs in here
        try:
            result = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            self._ended(exc)
            raise
        finally:
            _EXCHANGE.reset(token)
        self._status(result)
        return result

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        self._ended(exc)
        return await self.__wrapped__.__aexit__(exc_type, exc, tb)

    @guarded
    def _opening(self) -> None:
        if self._self_stream is None:
            return
        state, resumed = self._self_stream
        pending = state.extra.pop("resume_pending", None)
        if pending is not None:  # a POST resume: _handle_reconnection told us its attempt number
            state.opened += 1
            state.record.on_reconnect(pending, True, state.cause, state.kind)
            return
        state.opened += 1
        if state.opened > 1:
            state.attempt += 1
            state.record.on_reconnect(state.attempt, resumed, state.cause, state.kind)

    @guarded
    def _status(self, result: Any) -> None:
        response = getattr(result, "response", result)  # an EventSource (SSE) or the httpx response (POST)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            self._self_record.on_http_status(status)

    @guarded
    def _ended(self, exc: BaseException | None) -> None:
        if self._self_stream is None:
            return
        state = self._self_stream[0]
        if exc is None:
            state.cause, state.failures, state.attempt = semconv.ERROR_CONNECTION_CLOSED, 0, 0
        elif not is_cancellation(exc):
            state.cause = classify(exc).error_type
            state.failures += 1


def _auth_step(request: Any) -> str:
    """Which OAuth flow a request of mcp's OAuth provider belongs to (read from its URL path and form)."""
    url = getattr(request, "url", None)
    path = str(getattr(url, "path", "") or "")
    if "/.well-known/" in path:
        return semconv.AUTH_STEP_DISCOVERY
    content = getattr(request, "content", b"") or b""
    if isinstance(content, bytes) and b"grant_type=refresh_token" in content:
        return semconv.AUTH_STEP_REFRESH
    return semconv.AUTH_STEP_AUTHORIZATION


class _AuthFlowProxy:
    """The OAuth provider's flow generator: every run of requests of one step is one ``mcp.auth`` span.

    httpx drives it with ``__anext__`` / ``asend`` / ``aclose``; each is passed through unchanged.
    """

    def __init__(self, flow: Any, telemetry: Telemetry, request: Any) -> None:
        self._flow = flow
        self._telemetry = telemetry
        self._request = request  # the MCP request being authenticated
        self._record = _EXCHANGE.get()
        self._span: Span | None = None
        self._step: str | None = None
        self._sent: Any = None

    def __aiter__(self) -> _AuthFlowProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            outgoing = await self._flow.__anext__()
        except BaseException as exc:
            self._end(exc)
            raise
        self._outgoing(outgoing)
        return outgoing

    async def asend(self, response: Any) -> Any:
        self._response(response)
        try:
            outgoing = await self._flow.asend(response)
        except BaseException as exc:
            self._end(exc)
            raise
        self._outgoing(outgoing)
        return outgoing

    async def athrow(self, *args: Any) -> Any:
        try:
            outgoing = await self._flow.athrow(*args)
        except BaseException as exc:
            self._end(exc)
            raise
        self._outgoing(outgoing)
        return outgoing

    async def aclose(self) -> None:
        try:
            await self._flow.aclose()
        finally:
            self._end(None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._flow, name)

    @guarded
    def _outgoing(self, request: Any) -> None:
        self._sent = request
        if request is self._request:  # the MCP request again (with the token): the flow is over
            self._end(None)
            return
        step = _auth_step(request)
        if step == self._step:
            return
        self._end(None)
        if not instrumentation_enabled():
            return
        self._step = step
        if self._record is not None and not self._record.ended:
            self._span = self._record.start_auth(step)
        else:
            self._span = self._telemetry.tracer.start_span(
                semconv.SPAN_AUTH, attributes={semconv.AUTH_STEP: step}
            )

    @guarded
    def _response(self, response: Any) -> None:
        status = getattr(response, "status_code", None)
        span = self._span
        if span is None or self._sent is self._request or not isinstance(status, int):
            return
        if self._step == semconv.AUTH_STEP_REFRESH and status >= 400:
            # mcp falls back to a full authorization: the refresh itself failed
            self._fail(span, str(status), f"token refresh answered HTTP {status}")

    def _fail(self, span: Span, error_type: str, message: str) -> None:
        if span.is_recording():
            span.set_attribute(semconv.ERROR_TYPE, error_type)
            span.set_status(Status(StatusCode.ERROR, message))

    @guarded
    def _end(self, exc: BaseException | None) -> None:
        span, self._span, self._step = self._span, None, None
        if span is None:
            return
        if exc is not None and not isinstance(exc, StopAsyncIteration | GeneratorExit):
            error = classify(exc)
            # OAuth errors carry server-chosen text (and could echo request data): the class name only.
            self._fail(span, error.error_type, f"{self._auth_label(span)} failed: {error.error_type}")
        span.end()

    @staticmethod
    def _auth_label(span: Span) -> str:
        attributes = getattr(span, "attributes", None) or {}
        return f"OAuth {attributes.get(semconv.AUTH_STEP, 'flow')}"
