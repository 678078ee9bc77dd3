"""The server side of the session model: server sessions and incoming requests.

Adapters describe what arrives (an :class:`IncomingRequest`, a transport's :class:`ServerSessionInfo`) and
report outcomes; this module turns them into the ``mcp.session`` span of a server session, the SERVER span
of each request and the server metrics, and never looks at library objects.

Parenting of a SERVER span (semantic conventions): the trace context carried in ``params._meta`` is the
parent; the ambient span (the HTTP server span, when HTTP instrumentation runs) is linked, and becomes the
parent only when ``_meta`` carries nothing. A request that belongs to a server session also links that
session's span: the session span is long-lived, never current, and lives in its own trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from mcp_otel import bounds, semconv
from mcp_otel.errors import ErrorInfo, from_code, from_exception, handler_error, is_cancellation
from mcp_otel.propagation import extract_context
from mcp_otel.results import tool_result_error
from mcp_otel.session import Operation, RequestInfo, record_leak_event, request_attributes, start_request_span
from mcp_otel.streams import StreamLedger, TrackedStream
from mcp_otel.telemetry import Telemetry, guarded, report_internal_error


class ServerSessionInfo:
    """What the transport knows about a server session when it starts (never changed once built)."""

    __slots__ = ("session_id", "transport")

    def __init__(self, transport: str | None = None, session_id: str | None = None) -> None:
        self.transport = transport  # mcp_otel.transport: stdio, sse, streamable-http
        self.session_id = session_id

    @property
    def network_transport(self) -> str | None:
        return _NETWORK.get(self.transport, _UNKNOWN_NETWORK)[0]

    @property
    def network_protocol_name(self) -> str | None:
        return _NETWORK.get(self.transport, _UNKNOWN_NETWORK)[1]


# mcp_otel.transport -> (network.transport, network.protocol.name)
_NETWORK: dict[str | None, tuple[str | None, str | None]] = {
    semconv.TRANSPORT_STDIO: ("pipe", None),
    semconv.TRANSPORT_SSE: ("tcp", "http"),
    semconv.TRANSPORT_STREAMABLE_HTTP: ("tcp", "http"),
}
_UNKNOWN_NETWORK: tuple[str | None, str | None] = (None, None)


class IncomingRequest:
    """One request as the server received it, described by an adapter (unknown fields stay None)."""

    __slots__ = (
        "ambient",
        "client_address",
        "client_port",
        "info",
        "meta",
        "protocol_version",
        "session_id",
        "transport",
    )

    def __init__(
        self,
        info: RequestInfo,
        meta: Any = None,
        session_id: str | None = None,
        protocol_version: str | None = None,
        transport: str | None = None,
        client_address: str | None = None,
        client_port: int | None = None,
        ambient: SpanContext | None = None,
    ) -> None:
        self.info = info
        self.meta = meta  # params._meta (a dict, or mcp 1.x's Meta model)
        self.session_id = session_id
        self.protocol_version = protocol_version
        self.transport = transport  # mcp_otel.transport value, when the adapter knows it per request
        self.client_address = client_address
        self.client_port = client_port
        # The ambient span to link (the HTTP server span of the POST that carried the request).
        self.ambient = ambient


def _span_context(span_context: SpanContext | None) -> SpanContext | None:
    return span_context if span_context is not None and span_context.is_valid else None


class ServerSessionRecord:
    """One server session: a stdio connection, an SSE connection or a stateful streamable-HTTP session id.

    Its ``mcp.session`` span is a root (with a link to the span that was current when the session
    started, if any): a session outlives the request that opened it and spans many client traces.
    """

    def __init__(self, telemetry: Telemetry, info: ServerSessionInfo) -> None:
        self._telemetry = telemetry
        self.info = info
        self.session_id = telemetry.clip(info.session_id) if info.session_id else None
        self.protocol_version: str | None = None
        self.requests = 0
        self.errors = 0
        self.ended = False
        self.stream_ledger = StreamLedger()
        self.expired = False
        # Asks the transport whether its idle timeout ended the session (streamable HTTP).
        self.expired_probe: Callable[[], bool] | None = None
        self._client_known = False
        attributes: dict[str, AttributeValue] = {}
        for key, value in (
            (semconv.TRANSPORT, info.transport),
            (semconv.NETWORK_TRANSPORT, info.network_transport),
            (semconv.NETWORK_PROTOCOL_NAME, info.network_protocol_name),
            (semconv.MCP_SESSION_ID, self.session_id),
        ):
            if value is not None:
                attributes[key] = value
        ambient = _span_context(trace.get_current_span().get_span_context())
        self.span = telemetry.tracer.start_span(
            semconv.SPAN_SESSION,
            context=otel_context.Context(),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=[Link(ambient)] if ambient is not None else None,
        )
        self._recording = self.span.is_recording()
        if not self._recording:
            # Leaks are reported on this span alone (no server leak metric): nothing to track them for.
            self.stream_ledger.closed = True
        self._start = time.perf_counter()
        self._active_attributes: dict[str, AttributeValue] = (
            {semconv.TRANSPORT: info.transport} if info.transport else {}
        )
        telemetry.server_sessions_active.add(1, self._active_attributes)

    @property
    def recording(self) -> bool:
        """Whether the session's span records (what the session counts is read only then)."""
        return self._recording

    @property
    def span_context(self) -> SpanContext:
        return self.span.get_span_context()

    def on_request(self, request: IncomingRequest) -> None:
        """Fill in what the first requests tell about the session (the HTTP peer, an SSE session id)."""
        if self.ended or not self._recording:  # checked before the guard: called per request
            return
        self._describe_peer(request)

    @guarded
    def _describe_peer(self, request: IncomingRequest) -> None:
        if not self._client_known and request.client_address:
            self._client_known = True
            self.span.set_attribute(semconv.CLIENT_ADDRESS, self._telemetry.clip(request.client_address))
            if request.client_port is not None:
                self.span.set_attribute(semconv.CLIENT_PORT, request.client_port)
        if self.session_id is None and request.session_id:
            self.session_id = self._telemetry.clip(request.session_id)
            self.span.set_attribute(semconv.MCP_SESSION_ID, self.session_id)

    @guarded
    def on_initialized(self, protocol_version: str | None) -> None:
        if protocol_version:
            self.protocol_version = self._telemetry.clip(str(protocol_version))
            if self.span.is_recording():
                self.span.set_attribute(semconv.MCP_PROTOCOL_VERSION, self.protocol_version)

    def on_request_finished(self, error: ErrorInfo | None) -> None:
        self.requests += 1
        if error is not None:
            self.errors += 1

    @guarded
    def end(self, exc: BaseException | None = None) -> None:
        """The session is over: ``closed`` (client left, DELETE), ``terminated`` (the server expired it),
        ``cancelled`` (server shutdown) or ``error``."""
        if self.ended:
            return
        self.ended = True
        if not self.expired and self.expired_probe is not None:
            try:
                self.expired = bool(self.expired_probe())
            except Exception:
                report_internal_error("ServerSessionRecord.expired_probe")
        error: ErrorInfo | None = None
        if self.expired:
            reason = semconv.END_TERMINATED
        elif exc is not None and is_cancellation(exc):
            reason = semconv.END_CANCELLED
        elif exc is not None:
            error = from_exception(exc)
            reason = semconv.END_ERROR
        else:
            reason = semconv.END_CLOSED
        leaked = self.stream_ledger.finish(self) if self._telemetry.config.track_streams else None
        span = self.span
        if span.is_recording():
            span.set_attributes(
                {
                    semconv.SESSION_REQUESTS: self.requests,
                    semconv.SESSION_ERRORS: self.errors,
                    semconv.SESSION_END_REASON: reason,
                }
            )
            if leaked is not None:
                span.set_attribute(semconv.SESSION_LEAKED_STREAMS, leaked)
            if error is not None:
                span.set_attribute(semconv.ERROR_TYPE, error.error_type)
                span.set_status(Status(StatusCode.ERROR, self._telemetry.description(error)))
        span.end()
        metric_attributes: dict[str, AttributeValue] = {}
        for key, value in (
            (semconv.NETWORK_TRANSPORT, self.info.network_transport),
            (semconv.NETWORK_PROTOCOL_NAME, self.info.network_protocol_name),
            (semconv.MCP_PROTOCOL_VERSION, self.protocol_version),
            (semconv.ERROR_TYPE, error.error_type if error is not None else None),
        ):
            if value is not None:
                metric_attributes[key] = value
        self._telemetry.server_session_duration.record(
            time.perf_counter() - self._start,
            bounds.metric_attributes(metric_attributes, semconv.SESSION_METRIC_KEYS),
        )
        self._telemetry.server_sessions_active.add(-1, self._active_attributes)

    def on_stream_leaked(self, stream: TrackedStream) -> None:
        """A stream created by this session's task leaked (open at its end, or collected unclosed)."""
        try:
            self.stream_ledger.leaked += 1
            record_leak_event(self.span, stream)
        except Exception:
            report_internal_error("ServerSessionRecord.on_stream_leaked")


class ServerCall:
    """The SERVER span of one incoming request plus its outcome; finished exactly once."""

    __slots__ = ("_telemetry", "inert", "method", "op", "session", "target")

    def __init__(
        self,
        telemetry: Telemetry,
        op: Operation,
        method: str,
        session: ServerSessionRecord | None,
        target: str | None = None,
        *,
        inert: bool = False,
    ) -> None:
        self._telemetry = telemetry
        self.op = op
        self.method = method
        self.session = session
        self.target = target  # the tool or prompt name
        # Nothing reads its outcome: the span does not record, metrics are off and the session's span (if
        # any) does not record either. A result then only ends the call; adapters need not read it.
        self.inert = inert

    @property
    def finished(self) -> bool:
        return bool(self.op._finished)

    def activate(self) -> Any:
        """Make the SERVER span current while the handler runs (handler spans nest under it)."""
        return self.op.activate()

    def succeeded(
        self,
        *,
        is_error: bool = False,
        payload: Callable[[], Any] | None = None,
        protocol_version: str | None = None,
    ) -> None:
        """The request was answered with a result.

        ``payload`` returns the result in its wire form (a dict with camelCase keys), computed only when
        a result-error detector or content capture needs it.
        """
        # Guarded inline, not by @guarded: called per request (one frame less).
        try:
            if self.finished:
                return
            if self.inert:  # sampled out, metrics off (issue 14): no outcome to work out
                self.op.finish()
                return
            if protocol_version:
                protocol_version = self._telemetry.clip(str(protocol_version))
                self.op.set_attribute(semconv.MCP_PROTOCOL_VERSION, protocol_version, metric=True)
                if self.session is not None and self.method == "initialize":
                    self.session.on_initialized(protocol_version)
            error: ErrorInfo | None = None
            if self.method == "tools/call":
                error = tool_result_error(self._telemetry, self.op.span, is_error, payload)
            elif self.method in _LISTS and payload is not None and self._telemetry.metrics_on:
                self._register_listed(payload)
            self._finish(error)
        except Exception:
            report_internal_error("ServerCall.succeeded")

    def _register_listed(self, payload: Callable[[], Any]) -> None:
        """The tool / prompt names the server announced: the names its metrics may carry (bounds.py)."""
        kind, key = _LISTS[self.method]
        wire = payload()
        items = wire.get(key) if isinstance(wire, dict) else None
        if isinstance(items, list):
            names = (item.get("name") for item in items if isinstance(item, dict))
            self._telemetry.server_names.register(kind, names)

    @guarded
    def error_reply(self, code: int, message: str | None) -> None:
        """The request was answered with a JSON-RPC error."""
        if not self.finished:
            self._finish(from_code(code, message, replied=True))

    @guarded
    def cancelled(self) -> None:
        """No response went out: the client cancelled the request, or the connection went away."""
        if not self.finished:
            self._finish(ErrorInfo(semconv.ERROR_CANCELLED, message="request cancelled"))

    @guarded
    def failed(self, exc: BaseException) -> None:
        """The handler raised: the JSON-RPC code it maps to, else the exception's class name."""
        if not self.finished:
            self._finish(handler_error(exc, self.method), exc)

    def _register_answered(self) -> None:
        """A tool / prompt the server answered without error is one it registers (bounds.py)."""
        kind = _ANSWERED.get(self.method)
        # only metrics read the names: nothing to register with metrics off (a no-op meter)
        if kind is not None and self.target is not None and self._telemetry.metrics_on:
            self._telemetry.server_names.add(kind, self.target)

    def _finish(self, error: ErrorInfo | None, exception: BaseException | None = None) -> None:
        # Caller errors (and a caller's cancellation) are recorded in error.type, without ERROR status.
        caller_error = error is not None and (
            error.code in semconv.CALLER_ERROR_CODES or error.error_type == semconv.ERROR_CANCELLED
        )
        if error is None:
            self._register_answered()
        self.op.finish(error, record_status=not caller_error, exception=exception)
        if self.session is not None:
            self.session.on_request_finished(error)


# The SERVER call mcp-otel traces for the request handled in this context (set by run_server_call): a
# library's own SERVER span opened under it is folded into it (adapters/_native.py).
ACTIVE_CALL: ContextVar[ServerCall | None] = ContextVar("mcp_otel_active_server_call", default=None)


async def run_server_call(
    call: ServerCall, wrapped: Any, args: Any, kwargs: Any, *, adopt_native: bool = True
) -> Any:
    """Run the request's handler, ``wrapped(*args, **kwargs)`` (once), with the call's SERVER span current;
    a handler that raises fails the call and the exception propagates as is. The adapter records the
    outcome of a handler that returned (where the response is read differs per library).

    ``adopt_native``: the call is :data:`ACTIVE_CALL` meanwhile, so that the libraries' own SERVER span for
    the request is folded into ours (False for a client's callbacks, which no library wraps in one).
    """
    token = ACTIVE_CALL.set(call) if adopt_native else None
    try:
        with call.activate():
            try:
                return await wrapped(*args, **kwargs)
            except BaseException as exc:
                call.failed(exc)
                raise
    finally:
        if token is not None:
            ACTIVE_CALL.reset(token)


_LISTS = {"tools/list": ("tool", "tools"), "prompts/list": ("prompt", "prompts")}
_ANSWERED = {"tools/call": "tool", "prompts/get": "prompt"}


def start_server_call(
    telemetry: Telemetry, request: IncomingRequest, session: ServerSessionRecord | None
) -> ServerCall | None:
    """Start the SERVER span of an incoming request; None when the method is excluded or on error."""
    try:
        info = request.info
        if info.method in telemetry.config.excluded_methods:
            return None
        if session is not None:
            session.on_request(request)
        remote = extract_context(request.meta)
        ambient = _span_context(request.ambient)
        if remote is not None:
            parent: otel_context.Context | None = remote
        elif ambient is not None:
            parent = trace.set_span_in_context(NonRecordingSpan(ambient))
        else:
            parent = None
        dropped = telemetry.drops(parent)
        attributes = (
            None if dropped and not telemetry.metrics_on else _attributes(telemetry, request, session)
        )
        links = None if dropped else _links(remote, ambient, session)
        span = start_request_span(telemetry, info, SpanKind.SERVER, parent, dropped, attributes, links)
        op = Operation(
            telemetry, span, attributes, telemetry.server_operation_duration, None, telemetry.server_names
        )
        # the tool or prompt name, clipped as on the span (read from the request: attributes may be None)
        name = info.tool_name if info.tool_name is not None else info.prompt_name
        target = telemetry.clip(name) if isinstance(name, str) else None
        # initialize is never inert: the session learns its protocol version from the answer
        inert = (
            dropped
            and not telemetry.metrics_on
            and info.method != "initialize"
            and (session is None or not session.recording)
        )
        return ServerCall(telemetry, op, info.method, session, target, inert=inert)
    except Exception:
        report_internal_error("start_server_call")
        return None


def _attributes(
    telemetry: Telemetry, request: IncomingRequest, session: ServerSessionRecord | None
) -> dict[str, AttributeValue]:
    """The SERVER span's attributes (the duration metric picks its subset)."""
    attributes = request_attributes(telemetry, request.info)
    session_id = request.session_id or (session.session_id if session is not None else None)
    protocol_version = request.protocol_version or (session.protocol_version if session else None)
    transport = request.transport or (session.info.transport if session is not None else None)
    network_transport, network_protocol = _NETWORK.get(transport, _UNKNOWN_NETWORK)
    for key, value in (
        (semconv.MCP_SESSION_ID, telemetry.clip(session_id) if session_id else None),
        (semconv.MCP_PROTOCOL_VERSION, telemetry.clip(protocol_version) if protocol_version else None),
        (semconv.NETWORK_TRANSPORT, network_transport),
        (semconv.NETWORK_PROTOCOL_NAME, network_protocol),
        (
            semconv.CLIENT_ADDRESS,
            telemetry.clip(request.client_address) if request.client_address else None,
        ),
        (semconv.CLIENT_PORT, request.client_port),
    ):
        if value is not None:
            attributes[key] = value
    return attributes


def _links(
    remote: otel_context.Context | None, ambient: SpanContext | None, session: ServerSessionRecord | None
) -> list[Link] | None:
    """The ambient (HTTP) span when ``_meta`` is the parent, and the server session's span."""
    links: list[Link] = []
    if remote is not None and ambient is not None:
        remote_span = trace.get_current_span(remote).get_span_context()
        if (ambient.trace_id, ambient.span_id) != (remote_span.trace_id, remote_span.span_id):
            links.append(Link(ambient))
    if session is not None and session.span_context.is_valid:
        links.append(Link(session.span_context))
    return links or None


# --- result-error detection -----------------------------------------------------------------------
