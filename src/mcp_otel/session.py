"""The session model: lifecycle state and counters of one MCP session, owner of its spans and metrics.

Adapters translate library calls into the events below (open, connect, initialized, request, cleanup,
end); this module turns them into spans and metrics and never looks at library objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from mcp_otel import bounds, lifecycle, semconv
from mcp_otel.errors import ErrorInfo, classify, from_exception, is_cancellation
from mcp_otel.results import to_json
from mcp_otel.retry import RETRY_SCOPE, RetryDetector
from mcp_otel.streams import STREAM_OWNER, StreamLedger, TrackedStream
from mcp_otel.telemetry import Telemetry, guarded, report_internal_error


class Endpoint:
    """What a transport knows about where the session goes (never changed once built; a later layer's
    knowledge makes a new one from ``__dict__``, see :meth:`ClientSessionRecord.update_endpoint`)."""

    def __init__(
        self,
        transport: str | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
        network_transport: str | None = None,
        network_protocol_name: str | None = None,
        identity: str | None = None,
    ) -> None:
        self.transport = transport
        self.server_address = server_address
        self.server_port = server_port
        self.network_transport = network_transport
        self.network_protocol_name = network_protocol_name
        # What identifies the server for retry detection (URL, stdio command line); never exported.
        self.identity = identity

    def attributes(self) -> dict[str, AttributeValue]:
        pairs = (
            (semconv.TRANSPORT, self.transport),
            (semconv.SERVER_ADDRESS, self.server_address),
            (semconv.SERVER_PORT, self.server_port),
            (semconv.NETWORK_TRANSPORT, self.network_transport),
            (semconv.NETWORK_PROTOCOL_NAME, self.network_protocol_name),
        )
        return {k: v for k, v in pairs if v is not None}


class RequestInfo:
    """One outgoing (or incoming) MCP request, described by an adapter."""

    __slots__ = ("arguments", "method", "prompt_name", "request_id", "resource_uri", "timeout", "tool_name")

    def __init__(
        self,
        method: str,
        request_id: str | None = None,
        tool_name: str | None = None,
        prompt_name: str | None = None,
        resource_uri: str | None = None,
        timeout: float | None = None,
        arguments: Any = None,
    ) -> None:
        self.method = method
        self.request_id = request_id
        self.tool_name = tool_name
        self.prompt_name = prompt_name
        self.resource_uri = resource_uri
        self.timeout = timeout
        self.arguments = arguments

    @property
    def target(self) -> str | None:
        # resource URIs are high-cardinality: never part of the span name by default (semconv).
        return self.tool_name or self.prompt_name


def request_info(method: str, request_id: Any, get: Callable[[str], Any]) -> RequestInfo:
    """A request as an adapter reads it: its method, id and an accessor of its params (a dict's ``get`` or a
    ``getattr``), on the client and the server side."""
    info = RequestInfo(method, str(request_id) if request_id is not None else None)
    if method == "tools/call":  # one branch per method, each reading only its own params (per request)
        name = get("name")
        if name is not None:
            info.tool_name = str(name)
        info.arguments = get("arguments")
    elif method == "prompts/get":
        name = get("name")
        if name is not None:
            info.prompt_name = str(name)
    elif method.startswith("resources/"):
        uri = get("uri")
        if uri is not None:
            info.resource_uri = str(uri)
    return info


# The session being opened in this task, so that nested layers (a helper like init_session, mcp.Client,
# the transport, ClientSession) join one session instead of each starting their own. Set only while an
# outermost layer's __aenter__ runs; never left set in the application's context.
OPENING: ContextVar[ClientSessionRecord | None] = ContextVar("mcp_otel_opening", default=None)


def _span_ids(span_context: trace.SpanContext) -> tuple[int, int]:
    return span_context.trace_id, span_context.span_id


class _Activation:
    """``with op.activate():`` -- a plain class, cheaper than a generator context manager on the hot path."""

    __slots__ = ("_context", "_owner", "_owner_token", "_token")

    def __init__(self, context: otel_context.Context, owner: ClientSessionRecord | None) -> None:
        self._context = context
        self._owner = owner
        self._token: Any = None
        self._owner_token: Any = None

    def __enter__(self) -> None:
        try:
            self._token = otel_context.attach(self._context)
        except Exception:  # a broken context must not break the call
            self._token = None
        if self._owner is not None:
            # streams the request creates (mcp 1.x: its response pair) belong to the session
            self._owner_token = STREAM_OWNER.set(self._owner)

    def __exit__(self, *exc_info: Any) -> None:
        if self._owner_token is not None:
            STREAM_OWNER.reset(self._owner_token)
        if self._token is not None:
            try:
                otel_context.detach(self._token)
            except Exception:  # detach from another context: OpenTelemetry already logged it
                pass


class Operation:
    """One request span plus its duration metric; finished exactly once."""

    __slots__ = (
        "_attributes",
        "_context",
        "_finished",
        "_histogram",
        "_names",
        "_recording",
        "_retry",
        "_session",
        "_start",
        "_telemetry",
        "span",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        span: Span,
        attributes: dict[str, AttributeValue] | None,
        histogram: Any,
        session: ClientSessionRecord | None,
        names: bounds.NameBook,
    ) -> None:
        self._telemetry = telemetry
        self._names = names
        self.span = span
        # The span's attributes, of which the metric reads its subset; None when neither the span (it
        # does not record) nor a metric (metrics are off) reads them: nothing is built for them then.
        self._attributes = attributes
        self._recording = span.is_recording()
        # None when metrics are off (a no-op meter): no duration is recorded, no metric attributes picked.
        self._histogram = histogram if telemetry.metrics_on else None
        self._session = session
        self._start = time.perf_counter()
        self._finished = False
        self._context: otel_context.Context | None = None
        # (key factory, attempt) for retry detection; None when the request is not tracked for retries
        self._retry: tuple[Callable[[], tuple[Any, ...]], int] | None = None

    @property
    def context(self) -> otel_context.Context:
        """A context holding the request span (built once: activation and injection both need it)."""
        if self._context is None:
            self._context = trace.set_span_in_context(self.span)
        return self._context

    @property
    def own_attributes(self) -> dict[str, AttributeValue] | None:
        """The attributes the span started with, plus those set through :meth:`set_attribute` with
        ``metric=True``: every key in it is on the span as ours (read, never written, by adapters)."""
        return self._attributes

    def activate(self) -> _Activation:
        """Make the request span current for the wrapped call (attach and detach in the caller's frame)."""
        return _Activation(self.context, self._session)

    def set_attribute(self, key: str, value: AttributeValue, *, metric: bool = False) -> None:
        # Guarded inline, not by @guarded: called per request, and the decorator's frame costs more than
        # the body when nothing records.
        try:
            attributes = self._attributes
            if attributes is None or attributes.get(key) == value:  # a span's set_attribute is not free
                return
            if metric:
                attributes[key] = value
            if self._recording:
                self.span.set_attribute(key, value)
        except Exception:
            report_internal_error("Operation.set_attribute")

    def finish(
        self,
        error: ErrorInfo | None = None,
        *,
        record_status: bool = True,
        exception: BaseException | None = None,
    ) -> None:
        """End the span and record the duration; ``record_status=False`` for server caller errors.

        ``exception``: what ended the request, recorded as the span's ``exception`` event when the span
        gets ERROR status (one event, whatever the library recorded on the span it replaced).
        """
        # Guarded inline, not by @guarded: called per request (one frame less).
        try:
            if self._finished:
                return
            self._finished = True
            duration = time.perf_counter() - self._start
            session = self._session
            if error is not None and session is not None and session.auth_error is not None:
                error = session.auth_error_for(error)
            attributes = self._attributes
            if error is not None and attributes is not None:
                attributes[semconv.ERROR_TYPE] = error.error_type
                if error.status_code is not None:
                    attributes[semconv.RPC_RESPONSE_STATUS_CODE] = error.status_code
                if self._recording:
                    self.span.set_attribute(semconv.ERROR_TYPE, error.error_type)
                    if error.status_code is not None:
                        self.span.set_attribute(semconv.RPC_RESPONSE_STATUS_CODE, error.status_code)
                    if record_status:
                        self.span.set_status(Status(StatusCode.ERROR, self._telemetry.description(error)))
                        if exception is not None and error.error_type != semconv.ERROR_CANCELLED:
                            self.span.add_event(
                                semconv.EVENT_EXCEPTION, self._telemetry.exception_attributes(exception)
                            )
            if self._retry is not None:
                key_factory, attempt = self._retry
                if error is None:
                    self._telemetry.retries.succeeded(key_factory)
                else:
                    self._telemetry.retries.failed(key_factory(), attempt, error.error_type)
            if session is not None:
                session.on_request_finished(self, error)
                # the id is known only after the handshake: add it when the span started without it
                if (
                    self._recording
                    and session.session_id
                    and attributes is not None
                    and semconv.MCP_SESSION_ID not in attributes
                ):
                    self.span.set_attribute(semconv.MCP_SESSION_ID, session.session_id)
            self.span.end()
            if self._histogram is not None and attributes is not None:
                self._histogram.record(
                    duration, bounds.metric_attributes(attributes, semconv.OPERATION_METRIC_KEYS, self._names)
                )
        except Exception:
            report_internal_error("Operation.finish")


class ClientSessionRecord:
    """One client session: from the transport opening to its teardown (or ClientSession alone)."""

    def __init__(self, telemetry: Telemetry, endpoint: Endpoint) -> None:
        self._telemetry = telemetry
        self.endpoint = endpoint
        self._request_base = self._request_attributes_of(endpoint)
        # The ambient span when the session was opened: requests made under the same span are children
        # of the session span; others keep their own parent and link the session instead.
        self._opened_under = _span_ids(trace.get_current_span().get_span_context())
        self.span = telemetry.tracer.start_span(
            semconv.SPAN_SESSION, kind=SpanKind.INTERNAL, attributes=endpoint.attributes()
        )
        self._session_context = trace.set_span_in_context(self.span)
        self._span_context = self.span.get_span_context()
        self._start = time.perf_counter()
        self.requests = 0
        self.errors = 0
        self.timeouts = 0
        self.terminated = False
        self.session_id: str | None = None
        self.session_id_source: Callable[[], str | None] | None = None
        self.protocol_version: str | None = None
        self.connect_span: Span | None = None
        self.cleanup_span: Span | None = None
        self.ended = False
        self.stream_ledger = StreamLedger()
        if (
            not telemetry.metrics_on
            and not self.span.is_recording()
            and telemetry.drops(self._session_context)
        ):
            # Nothing could report a leak (no metrics; neither this span nor its children record): the
            # session's streams are not tracked.
            self.stream_ledger.closed = True
        # Requests in flight: a session can end under them (mcp 1.x does not always wake its waiters).
        self.pending: set[Operation] = set()
        self.reconnects = 0
        # An HTTP 401/403 the client's auth could not resolve, while it lasts (the next 2xx clears it).
        self.auth_error: ErrorInfo | None = None
        self._active_attributes = self._low_cardinality_endpoint()
        telemetry.client_sessions_active.add(1, self._active_attributes)

    # --- lifecycle events -------------------------------------------------------------------------
    def _low_cardinality_endpoint(self) -> dict[str, AttributeValue]:
        return {k: v for k, v in self.endpoint.attributes().items() if k == semconv.TRANSPORT}

    @guarded
    def update_endpoint(self, endpoint: Endpoint) -> None:
        """A later layer (the transport under a helper) knows more about the endpoint."""
        merged = {**self.endpoint.__dict__, **{k: v for k, v in endpoint.__dict__.items() if v is not None}}
        self.endpoint = Endpoint(**merged)
        self._request_base = self._request_attributes_of(self.endpoint)
        if self.span.is_recording():
            self.span.set_attributes(self.endpoint.attributes())

    @guarded
    def start_connect(self, endpoint: Endpoint) -> None:
        if self.connect_span is None:
            self.connect_span = self._child(semconv.SPAN_CONNECT, endpoint.attributes())

    @guarded
    def end_connect(self, exc: BaseException | None = None) -> None:
        span, self.connect_span = self.connect_span, None
        if span is None or not span.is_recording():
            if span is not None:
                span.end()
            return
        if exc is not None:
            self._mark_error(span, from_exception(exc))
        span.end()

    @guarded
    def on_initialized(
        self, protocol_version: str | None, server_name: str | None, server_version: str | None
    ) -> dict[str, AttributeValue]:
        """The handshake result; returns the attributes the initialize span should carry too."""
        attributes: dict[str, AttributeValue] = {}
        if protocol_version:
            self.protocol_version = self._telemetry.clip(str(protocol_version))
            attributes[semconv.MCP_PROTOCOL_VERSION] = self.protocol_version
        if server_name:
            attributes[semconv.SERVER_NAME] = self._telemetry.clip(str(server_name))
        if server_version:
            attributes[semconv.SERVER_VERSION] = self._telemetry.clip(str(server_version))
        self.refresh_session_id()
        if self.span.is_recording():
            self.span.set_attributes(attributes)
        return attributes

    def refresh_session_id(self) -> None:
        source = self.session_id_source
        if source is None:  # checked before the guard: called per request
            return
        self._refresh_session_id(source)

    @guarded
    def _refresh_session_id(self, source: Callable[[], str | None]) -> None:
        value = source()
        if value and value != self.session_id:
            self.session_id = self._telemetry.clip(str(value))
            self.span.set_attribute(semconv.MCP_SESSION_ID, self.session_id)

    @guarded
    def start_cleanup(self) -> None:
        if self.cleanup_span is None and not self.ended:
            self.cleanup_span = self._child(semconv.SPAN_CLEANUP, {})

    @guarded
    def end(self, exc: BaseException | None = None) -> None:
        """The session is over: end cleanup and session spans, record the session metrics."""
        if self.ended:
            return
        self.ended = True
        self.refresh_session_id()
        if self.connect_span is not None:
            self.end_connect(exc)
        for operation in list(self.pending):
            # Still waiting when the session ended: the caller may never get an answer (mcp 1.x drops
            # waiters whose session is exited); the span ends here with the session.
            operation.finish(self.auth_error or _ENDED_UNDER_REQUEST)
        error: ErrorInfo | None = None
        if exc is not None and is_cancellation(exc):
            reason = semconv.END_CANCELLED
        elif exc is not None:
            error = classify(exc, session_id_known=self.session_id is not None)
            reason = semconv.END_TERMINATED if self.terminated else semconv.END_ERROR
        elif self.terminated:
            error = ErrorInfo(semconv.ERROR_SESSION_TERMINATED, message="session terminated by the server")
            reason = semconv.END_TERMINATED
        else:
            reason = semconv.END_CLOSED
        if self.terminated and error is not None and not error.is_session_terminated:
            error = ErrorInfo(semconv.ERROR_SESSION_TERMINATED, message=error.message, detail=error.detail)
        if error is not None and self.auth_error is not None:
            error = self.auth_error_for(error)
        leaked = self._check_streams()
        cleanup, self.cleanup_span = self.cleanup_span, None
        if cleanup is not None:
            if leaked is not None:
                cleanup.set_attribute(semconv.SESSION_LEAKED_STREAMS, leaked)
            cleanup.end()
        span = self.span
        if span.is_recording():
            span.set_attributes(
                {
                    semconv.SESSION_REQUESTS: self.requests,
                    semconv.SESSION_ERRORS: self.errors,
                    semconv.SESSION_TIMEOUTS: self.timeouts,
                    semconv.SESSION_END_REASON: reason,
                }
            )
            if leaked is not None:
                span.set_attribute(semconv.SESSION_LEAKED_STREAMS, leaked)
            if error is not None:
                self._mark_error(span, error)
        span.end()
        metric_attributes = dict(self.endpoint.attributes())
        if self.protocol_version:
            metric_attributes[semconv.MCP_PROTOCOL_VERSION] = self.protocol_version
        if error is not None:
            metric_attributes[semconv.ERROR_TYPE] = error.error_type
        self._telemetry.client_session_duration.record(
            time.perf_counter() - self._start,
            bounds.metric_attributes(metric_attributes, semconv.SESSION_METRIC_KEYS),
        )
        self._telemetry.client_sessions_active.add(-1, self._active_attributes)

    # --- between the edges and the requests (DESIGN "Lifecycle beyond request/response") ------------
    def on_notification(self, method: str, params: Any) -> None:
        """A server notification for the session: ``notifications/message`` or a list change."""
        if not self.ended:
            lifecycle.notification(self._telemetry, self.span, method, params)

    @guarded
    def on_reconnect(self, attempt: int, resumed: bool, error_type: str, stream: str) -> None:
        """The transport reconnects one of its streams (attempt 1 after a drop, 2 after that one failed...)."""
        if self.ended:
            return
        self.reconnects += 1
        lifecycle.add_event(
            self._telemetry,
            self.span,
            semconv.EVENT_RECONNECT,
            {
                semconv.RECONNECT_ATTEMPT: attempt,
                semconv.RECONNECT_RESUMED: resumed,
                semconv.RECONNECT_STREAM: stream,
                semconv.ERROR_TYPE: error_type,
            },
        )
        if self.span.is_recording():
            self.span.set_attribute(semconv.SESSION_RECONNECTS, self.reconnects)
        self._telemetry.client_reconnects.add(
            1, {**self._active_attributes, semconv.ERROR_TYPE: bounds.error_value(error_type)}
        )

    @guarded
    def on_reconnect_gave_up(self) -> None:
        """The client stopped reconnecting its GET stream: no server-initiated message arrives any more."""
        if not self.ended and self.span.is_recording():
            self.span.set_attribute(semconv.SESSION_RECONNECT_GAVE_UP, True)

    @guarded
    def on_http_status(self, status: int) -> None:
        """The final status of an HTTP exchange of this session (after the client's auth, if any)."""
        if status in _AUTH_STATUSES:
            self.auth_error = _AUTH_STATUSES[status]
        elif 200 <= status < 300:
            self.auth_error = None

    def auth_error_for(self, error: ErrorInfo) -> ErrorInfo:
        """``error`` as the contract reports it while an unresolved 401/403 stands: the transport's generic
        stand-ins for it (mcp 2.x: -32603 "Server returned an error response"; mcp 1.x: the request
        cancelled or orphaned when the HTTP error tore the transport down) become ``unauthorized`` /
        ``forbidden``."""
        auth = self.auth_error
        if auth is not None and error.error_type in _AUTH_MASKED:
            return auth
        return error

    def start_auth(self, step: str) -> Span:
        """One OAuth flow the client's auth runs for this session (``mcp.auth``, a child of the session)."""
        return self._child(semconv.SPAN_AUTH, {semconv.AUTH_STEP: step})

    # --- requests ---------------------------------------------------------------------------------
    def start_request(self, info: RequestInfo) -> Operation:
        """Start the CLIENT span of one request in this session (parenting per the contract)."""
        current = trace.get_current_span().get_span_context()
        if not self.ended and _span_ids(current) == self._opened_under:
            return start_client_operation(
                self._telemetry,
                info,
                self._base_attributes,
                self._session_context,
                None,
                self,
                self._span_context,
            )
        return start_client_operation(
            self._telemetry, info, self._base_attributes, None, self._session_link, self, current
        )

    def _session_link(self) -> list[Link]:
        """A request parented elsewhere links the session (built only for a span that may record)."""
        return [Link(self._span_context)]

    def _base_attributes(self) -> dict[str, AttributeValue]:
        """What the session adds to each request's attributes (built only when they are)."""
        attributes = dict(self._request_base)
        if self.protocol_version:
            attributes[semconv.MCP_PROTOCOL_VERSION] = self.protocol_version
        if self.session_id:
            attributes[semconv.MCP_SESSION_ID] = self.session_id
        return attributes

    def server_key(self) -> tuple[Any, ...]:
        endpoint = self.endpoint
        return (endpoint.transport, endpoint.server_address, endpoint.server_port, endpoint.identity)

    # --- streams ----------------------------------------------------------------------------------
    def _check_streams(self) -> int | None:
        """Charge the streams still open after cleanup; None when stream tracking is off."""
        if not self._telemetry.config.track_streams:
            return None
        return self.stream_ledger.finish(self)

    def on_stream_leaked(self, stream: TrackedStream) -> None:
        """One stream of this session leaked (still open after cleanup, or collected unclosed)."""
        try:
            self.stream_ledger.leaked += 1
            self._telemetry.client_streams_leaked.add(1, self._active_attributes)
            record_leak_event(self.span, stream)
        except Exception:
            report_internal_error("ClientSessionRecord.on_stream_leaked")

    def on_request_finished(self, operation: Operation, error: ErrorInfo | None) -> None:
        self.pending.discard(operation)
        self.requests += 1
        if error is None:
            return
        self.errors += 1
        if error.is_timeout:
            self.timeouts += 1
        if error.is_session_terminated:
            self.terminated = True

    # --- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _request_attributes_of(endpoint: Endpoint) -> dict[str, AttributeValue]:
        attributes = endpoint.attributes()
        attributes.pop(semconv.TRANSPORT, None)  # a session attribute, not a semconv request one
        return attributes

    def _child(self, name: str, attributes: dict[str, AttributeValue]) -> Span:
        return self._telemetry.tracer.start_span(
            name, context=self._session_context, kind=SpanKind.INTERNAL, attributes=attributes
        )

    def _mark_error(self, span: Span, error: ErrorInfo) -> None:
        span.set_attribute(semconv.ERROR_TYPE, error.error_type)
        span.set_status(Status(StatusCode.ERROR, self._telemetry.description(error)))


def record_leak_event(span: Span, stream: TrackedStream) -> None:
    """Where a leaked stream was created, when origin capture is on."""
    if stream.origin is not None and span.is_recording():
        filename, line, function = stream.origin
        span.add_event(
            semconv.EVENT_STREAM_LEAKED,
            {
                semconv.STREAM_TYPE: stream.kind,
                semconv.CODE_FILEPATH: filename,
                semconv.CODE_LINENO: line,
                semconv.CODE_FUNCTION: function,
            },
        )


def request_attributes(telemetry: Telemetry, info: RequestInfo) -> dict[str, AttributeValue]:
    """The conventions' request attributes that are known before the request is sent."""
    clip = telemetry.clip
    limit = telemetry.config.max_attribute_length  # the common case (short values) without a call each
    method = info.method
    attributes: dict[str, AttributeValue] = {
        semconv.MCP_METHOD_NAME: method if len(method) <= limit else clip(method)
    }
    if info.request_id is not None:
        request_id = str(info.request_id)
        attributes[semconv.JSONRPC_REQUEST_ID] = request_id if len(request_id) <= limit else clip(request_id)
    if info.tool_name is not None:
        tool = info.tool_name
        attributes[semconv.GEN_AI_TOOL_NAME] = tool if len(tool) <= limit else clip(tool)
        if info.method == "tools/call":
            attributes[semconv.GEN_AI_OPERATION_NAME] = semconv.OPERATION_EXECUTE_TOOL
    if info.prompt_name is not None:
        attributes[semconv.GEN_AI_PROMPT_NAME] = telemetry.clip(info.prompt_name)
    if info.resource_uri is not None:
        attributes[semconv.MCP_RESOURCE_URI] = telemetry.uri(info.resource_uri)
    if info.timeout is not None:
        attributes[semconv.REQUEST_TIMEOUT] = float(info.timeout)
    return attributes


def start_request_span(
    telemetry: Telemetry,
    info: RequestInfo,
    kind: SpanKind,
    parent: otel_context.Context | None,
    dropped: bool,
    attributes: dict[str, AttributeValue] | None,
    links: Any,
) -> Span:
    """A request's CLIENT or SERVER span, with the tool arguments when content capture is on.

    ``dropped``: known not to record, whatever its name, attributes and links (Telemetry.drops): started
    bare, for the context it carries (the non-sampled traceparent, its children's parent).
    """
    if dropped:
        return telemetry.tracer.start_span(info.method, context=parent, kind=kind)
    span = telemetry.tracer.start_span(
        semconv.span_name(info.method, info.target),
        context=parent,
        kind=kind,
        attributes=attributes,
        links=links,
    )
    if telemetry.config.capture_content and info.arguments is not None and span.is_recording():
        span.set_attribute(semconv.GEN_AI_TOOL_CALL_ARGUMENTS, telemetry.clip(to_json(info.arguments)))
    return span


def start_client_operation(
    telemetry: Telemetry,
    info: RequestInfo,
    base_attributes: Callable[[], dict[str, AttributeValue]] | None,
    parent: otel_context.Context | None,
    links: Callable[[], list[Link]] | None,
    session: ClientSessionRecord | None,
    parent_span_context: trace.SpanContext | None = None,
) -> Operation:
    """Start a CLIENT request span (with or without a session); ``base_attributes`` adds the session's.

    ``links``: builds the span's links (not called for a span known not to record);
    ``parent_span_context``: the span context of ``parent`` (or of the current span), when the caller has it.
    """
    if parent_span_context is None:
        dropped = telemetry.drops(parent)
    else:
        dropped = telemetry.drops_under(parent_span_context)
    attributes: dict[str, AttributeValue] | None = None
    if not dropped or telemetry.metrics_on:
        attributes = request_attributes(telemetry, info)
        if base_attributes is not None:
            attributes.update(base_attributes())
    retry = _retry_state(telemetry, info, session, attributes)
    span = start_request_span(
        telemetry,
        info,
        SpanKind.CLIENT,
        parent,
        dropped,
        attributes,
        links() if links and not dropped else None,
    )
    operation = Operation(
        telemetry, span, attributes, telemetry.client_operation_duration, session, telemetry.client_names
    )
    operation._retry = retry
    if session is not None:
        session.pending.add(operation)
    return operation


def _retry_state(
    telemetry: Telemetry,
    info: RequestInfo,
    session: ClientSessionRecord | None,
    attributes: dict[str, AttributeValue] | None,
) -> tuple[Callable[[], tuple[Any, ...]], int] | None:
    """Set the retry attributes of a request (when it has any); returns what finish() needs to remember
    its outcome."""
    scope = RETRY_SCOPE.get()
    if scope is not None:  # the retry helper knows the attempt exactly and counts attempts itself
        if attributes is not None:
            attributes[semconv.RETRY_ATTEMPT] = scope.attempt
            if scope.max_attempts is not None:
                attributes[semconv.RETRY_MAX_ATTEMPTS] = scope.max_attempts
        return None
    if info.method in _NOT_RETRIED:
        return None

    def key() -> tuple[Any, ...]:
        server = session.server_key() if session is not None else ()
        return RetryDetector.key(server, info.method, info.target or info.resource_uri, info.arguments)

    detected = telemetry.retries.attempt_for(key)
    attempt = 1
    if detected is not None:
        attempt, previous_error = detected
        if attributes is not None:
            attributes[semconv.RETRY_ATTEMPT] = attempt
        counted = {**request_attributes(telemetry, info), semconv.ERROR_TYPE: previous_error}
        telemetry.client_retries.add(
            1, bounds.metric_attributes(counted, _RETRY_METRIC_KEYS, telemetry.client_names)
        )
    return key, attempt


_AUTH_STATUSES = {
    401: ErrorInfo(semconv.ERROR_UNAUTHORIZED, message="HTTP 401 Unauthorized"),
    403: ErrorInfo(semconv.ERROR_FORBIDDEN, message="HTTP 403 Forbidden"),
}
_AUTH_MASKED = frozenset(
    {
        "-32603",
        semconv.ERROR_CANCELLED,
        semconv.ERROR_CONNECTION_CLOSED,
        semconv.ERROR_UNAUTHORIZED,
        semconv.ERROR_FORBIDDEN,
        "httpx.HTTPStatusError",
        "httpx2.HTTPStatusError",
    }
)
_RETRY_METRIC_KEYS = (semconv.MCP_METHOD_NAME, semconv.GEN_AI_TOOL_NAME, semconv.ERROR_TYPE)

_ENDED_UNDER_REQUEST = ErrorInfo(
    semconv.ERROR_CONNECTION_CLOSED, message="the session ended before the response arrived"
)

# The handshake repeats on every new session by design; it is not a retry of anything.
_NOT_RETRIED = frozenset({"initialize", "server/discover", "notifications/initialized", "ping"})
