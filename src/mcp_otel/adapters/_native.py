"""The libraries' own MCP spans (mcp 2.x, FastMCP 3.x/4.x) folded into ours: adopt, never subtract.

DESIGN trust rules 1 and 2. Where a library opens its own CLIENT or SERVER span for a request that
mcp-otel traces, the library gets a stand-in instead, never made current, that hands every attribute it
sets to our span for the same request (``fastmcp.server.name``, ``fastmcp.component.*``,
``fastmcp.provider.type``, ``fastmcp.delegate.*``, ``enduser.id``/``.scope``, the SDK's keys ...). Keys our
span already carries stay ours (they are scrubbed and clipped by the contract's rules); the library's
status, ``error.type``, exception events and renames are dropped, so nothing contradicts our outcome and
no handler text leaks (rule 4).

* Server: FastMCP's ``server_span``/``seam_span`` and the SDK middleware's SERVER span run *inside* our
  SERVER span: while ours is the current span, the stand-in forwards to it. A library SERVER span nested
  deeper (a mounted server handling a delegated call, under FastMCP's INTERNAL ``delegate`` span) is an
  internal step of the same request: it is recorded as an INTERNAL span with its name and attributes.
* Client: FastMCP's ``client_span`` opens *before* our CLIENT span (which starts inside ``ClientSession``):
  its attributes wait in :data:`_NATIVE_CLIENT` and the request span claims them when it starts
  (:func:`claim_client_span`).
* The user's switches: inside OpenTelemetry's ``suppress_instrumentation()`` or FastMCP's
  ``suppress_fastmcp_telemetry()`` mcp-otel records nothing (:func:`enabled`) and the libraries behave as
  without mcp-otel; a request for an excluded method gets no span from anyone (:func:`silenced`).
* No request at all (FastMCP's in-process ``server.call_tool()``; SDK notifications): the library's span
  is left as it would be without mcp-otel.
"""

from __future__ import annotations

import sys
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    INVALID_SPAN,
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    SpanKind,
    Status,
    StatusCode,
)

from mcp_otel import errors, semconv
from mcp_otel._arguments import Arguments
from mcp_otel.errors import unwrap_exception_group
from mcp_otel.server import ACTIVE_CALL as ACTIVE_CALL  # re-exported: fastmcp_v4 imports it from here
from mcp_otel.telemetry import Telemetry, instrumentation_enabled, report_internal_error

# mcp 2.x ``otel_span(name, *, kind, attributes=None, context=None, ...)`` (client and server modules)
OTEL_SPAN = Arguments(("name",), ("kind", "attributes", "context"))
SPAN_PARAMETERS = ("kind", "attributes")  # what a span wrapper reads, in one OTEL_SPAN.values() call
# ``Tracer.start_as_current_span`` / ``start_span(name, context=None, kind=INTERNAL, attributes=None, ...)``
START_SPAN = Arguments(("name", "context", "kind", "attributes", "links"))

# True while a request for an excluded method is handled or sent: the libraries' spans are silenced too.
_SILENCED: ContextVar[bool] = ContextVar("mcp_otel_silenced", default=False)
# FastMCP's CLIENT span of the call being made in this context, waiting for our request span.
_NATIVE_CLIENT: ContextVar[_PendingClientSpan | None] = ContextVar("mcp_otel_native_client", default=None)

# Never taken from a library: the contract decides these. Our outcome sets error.type and the status code
# (the library's would contradict it); mcp.session.id is set only where the protocol has a session
# (FastMCP invents one for stdio, and a fresh one per 2026-07-28 request).
_CONTRACT_DECIDES = frozenset({semconv.ERROR_TYPE, semconv.RPC_RESPONSE_STATUS_CODE, semconv.MCP_SESSION_ID})


def _fastmcp_spans_on() -> bool:
    """FastMCP 4's own decision to record spans here (its telemetry_mode); FastMCP 3 always does."""
    check = getattr(sys.modules.get("fastmcp.telemetry"), "native_spans_enabled", None)
    try:
        return bool(check()) if check is not None else True
    except Exception:
        report_internal_error("_fastmcp_spans_on")
        return True


def enabled() -> bool:
    """The user's switch (DESIGN rule 2): OpenTelemetry's suppression and FastMCP 4's own
    ``suppress_fastmcp_telemetry()`` (its key lives in the OTel context) both turn us off."""
    # the current context read once for both switches (called several times per request)
    current = otel_context.get_current()
    if not instrumentation_enabled(current):
        return False
    key = getattr(sys.modules.get("fastmcp.telemetry"), "_SUPPRESS_KEY", None)
    return key is None or not current.get(key)


@contextmanager
def silenced() -> Iterator[None]:
    """Run an excluded request: the libraries' own spans for it are dropped too."""
    token = _SILENCED.set(True)
    try:
        yield
    finally:
        _SILENCED.reset(token)


def is_silenced() -> bool:
    return _SILENCED.get()


# span (weakly) -> keys a library put on it, which a later library call may update (ours it may not)
_ADOPTED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def adopt_attributes(telemetry: Telemetry, span: Any, items: Any, ours: Any = None) -> None:
    """Put library attributes (``(key, value)`` pairs) on our ``span``, each unless ours already has that
    key (or it is an outcome). The span's state is read once per call, not per key.

    ``ours``: keys known to be on ``span`` as ours (its Operation's attributes, a plain dict): skipped
    without asking the span (the SDK's attribute mapping answers ``in`` in Python, under a lock); the
    libraries' keys are mostly the contract's, which ours carries already (issue 14).
    """
    try:
        if not span.is_recording():  # checked first: nothing lands on a span that does not record
            return
        current: Any = None
        adopted: set[str] | None = None
        looked_up = False
        for key, value in items:
            if ours is not None and key in ours:
                continue
            if not isinstance(key, str) or key in _CONTRACT_DECIDES or value is None:
                continue
            if not looked_up:
                current = getattr(span, "attributes", None) or {}
                adopted, looked_up = _adopted_keys(span, create=False), True
            if key in current and (adopted is None or key not in adopted):
                continue
            if isinstance(value, str):
                value = _scrubbed(telemetry, key, value)
            if adopted is None:
                adopted = _adopted_keys(span, create=True)
            adopted.add(key)
            span.set_attribute(key, value)
    except Exception:
        report_internal_error("adopt_attribute")


def _adopted_keys(span: Any, *, create: bool) -> Any:
    """The keys libraries put on ``span`` so far; the entry is made only when one is (most are ours)."""
    try:
        return _ADOPTED.setdefault(span, set()) if create else _ADOPTED.get(span)
    except TypeError:  # not weak-referenceable: a key of ours or theirs is simply kept once
        return set() if create else None


def _scrubbed(telemetry: Telemetry, key: str, value: str) -> str:
    """URIs hide in several of FastMCP's keys (``fastmcp.component.key`` of a resource, ``*.backend_uri``,
    ``*.original_uri``): scrubbed like every URI we record (rule 4); every string clipped (rule 5)."""
    if "://" not in value:
        return telemetry.clip(value)
    if key == _FASTMCP_COMPONENT_KEY:
        # FastMCP's component key is "{type}:{identifier}@{version}": the "@" is not URI userinfo
        identifier, at, version = value.rpartition("@")
        if at and "/" not in version and ":" not in version:
            return telemetry.clip(telemetry.text(identifier) + at + version)
    return telemetry.text(value)


class AdoptedSpan(NonRecordingSpan):
    """What a library gets for its span of a request we trace: attributes go to ours, nothing else does.

    ``is_recording()`` is True so that the library's ``if span.is_recording(): set_attributes(...)``
    runs; it carries our span's context. Status, events, exceptions, renames and ``end`` are no-ops.
    """

    def __init__(self, telemetry: Telemetry, target: Any, ours: Any = None) -> None:
        """``ours``: the attributes of ``target``'s Operation (see :func:`adopt_attributes`)."""
        super().__init__(target.get_span_context() if target is not None else INVALID_SPAN_CONTEXT)
        self._telemetry = telemetry
        self._target = target
        self._ours = ours

    def is_recording(self) -> bool:
        return True

    def set_attribute(self, key: str, value: Any) -> None:
        if self._target is not None:
            adopt_attributes(self._telemetry, self._target, ((key, value),), self._ours)

    def set_attributes(self, attributes: Any) -> None:
        target = self._target
        try:
            # Nothing is copied for a span that does not record (sampled out): the library's attributes
            # would land nowhere.
            if attributes and target is not None and target.is_recording():
                adopt_attributes(self._telemetry, target, list(dict(attributes).items()), self._ours)
        except Exception:
            report_internal_error("AdoptedSpan.set_attributes")


class _PendingClientSpan(AdoptedSpan):
    """FastMCP's CLIENT span, opened before ours: attributes wait here until our request span claims it.

    When no request span of ours claims it (the call failed before a request was sent, or FastMCP's
    ``client_span`` helper was used on its own), it is emitted as FastMCP's own span at the end
    (:meth:`replay`): nothing FastMCP would have recorded is lost (DESIGN trust rule 1).
    """

    def __init__(self, telemetry: Telemetry, name: str, method: str | None, outer: Any) -> None:
        super().__init__(telemetry, None)
        self.name = name
        self.method = method
        # FastMCP's CLIENT span this one opened inside (a proxy's ProxyProvider span around its Client's
        # call_tool): the same call, claimed together with it
        self._outer: _PendingClientSpan | None = outer
        self._waiting: dict[str, Any] = {}
        self._claimed = False
        self._parent = otel_context.get_current()  # never made current: the context it opened in
        self._start = time.time_ns()
        self._calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []  # status, exception, events

    def set_attribute(self, key: str, value: Any) -> None:
        if self._target is None:
            if key == semconv.MCP_METHOD_NAME and isinstance(value, str):
                self.method = value
            if len(self._waiting) < _MAX_WAITING or key in self._waiting:
                self._waiting[key] = value
        else:
            super().set_attribute(key, value)

    def set_attributes(self, attributes: Any) -> None:
        if self._target is not None:
            super().set_attributes(attributes)
            return
        try:
            for key, value in dict(attributes or {}).items():
                self.set_attribute(key, value)
        except Exception:
            report_internal_error("AdoptedSpan.set_attributes")

    def _keep(self, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not self._claimed and len(self._calls) < _MAX_WAITING:
            self._calls.append((call, args, kwargs))

    def set_status(self, *args: Any, **kwargs: Any) -> None:
        self._keep("set_status", args, kwargs)

    def record_exception(self, *args: Any, **kwargs: Any) -> None:
        self._keep("record_exception", args, kwargs)

    def add_event(self, *args: Any, **kwargs: Any) -> None:
        self._keep("add_event", args, kwargs)

    def update_name(self, name: str) -> None:
        if not self._claimed:
            self.name = name

    def claim(self, span: Any) -> None:
        outer = self._outer
        if outer is not None and not outer._claimed and outer.method == self.method:
            outer.claim(span)  # first: the inner, more specific span's values win
        self._target, self._claimed = span, True
        waiting, self._waiting, self._calls = self._waiting, {}, []
        adopt_attributes(self._telemetry, span, waiting.items())

    def replay(self, tracer: trace.Tracer) -> None:
        """Unclaimed at its end: FastMCP's span as it would have been, under the content rule (rule 4)."""
        try:
            if self._claimed:
                return
            attributes = {
                key: _scrubbed(self._telemetry, key, value) if isinstance(value, str) else value
                for key, value in self._waiting.items()
                if isinstance(key, str) and value is not None
            }
            span = tracer.start_span(
                self.name,
                context=self._parent,
                kind=SpanKind.CLIENT,
                attributes=attributes,
                start_time=self._start,
                record_exception=False,
                set_status_on_exception=False,
            )
            target: Any = span
            if span.is_recording() and not self._telemetry.config.capture_content:
                target = _ContentSafeSpan(span)
            for call, args, kwargs in self._calls:
                getattr(target, call)(*args, **kwargs)
            span.end()
        except Exception:
            report_internal_error("_PendingClientSpan.replay")


_MAX_WAITING = 128  # attributes and calls kept for an unclaimed span (a library sets a dozen)


def claim_client_span(method: str, span: Any) -> None:
    """Our CLIENT span for ``method`` started: take over FastMCP's waiting CLIENT span for the same call.

    Once per FastMCP call: the hidden ``tools/list`` a ``tools/call`` triggers does not take it.
    """
    try:
        pending = _NATIVE_CLIENT.get()
        if pending is not None and not pending._claimed and pending.method == method:
            pending.claim(span)
    except Exception:
        report_internal_error("claim_client_span")


def _method_of(name: Any, attributes: Any) -> str | None:
    if isinstance(attributes, dict) and isinstance(attributes.get(semconv.MCP_METHOD_NAME), str):
        return str(attributes[semconv.MCP_METHOD_NAME])
    return str(name).split(" ", 1)[0] if name else None


class AdoptingTracer(trace.Tracer):
    """Stands in for a library's tracer (FastMCP's ``get_tracer``); see the module docstring.

    INTERNAL spans (``delegate``, sampling) go to the library's own tracer unchanged.
    """

    def __init__(self, telemetry: Telemetry, real: Callable[[], trace.Tracer]) -> None:
        self._telemetry = telemetry
        self._real = real

    @contextmanager  # the Tracer signature, taken as *args/**kwargs: the libraries call it either way
    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Iterator[Any]:  # type: ignore[override]
        kind = START_SPAN.get((name, *args), kwargs, "kind", SpanKind.INTERNAL)
        if kind in (SpanKind.CLIENT, SpanKind.SERVER) and not _fastmcp_spans_on():
            # FastMCP 4 telemetry_mode off/propagation_only: it would record nothing, so nothing to adopt
            with self._real().start_as_current_span(name, *args, **kwargs) as span:
                yield span
        elif kind is SpanKind.CLIENT:
            with self._client_span(name, args, kwargs) as span:
                yield span
        elif kind is SpanKind.SERVER:
            with self._server_span(name, args, kwargs) as span:
                yield span
        else:
            with self._internal_span(name, args, kwargs) as span:
                yield span

    @contextmanager
    def _internal_span(self, name: str, args: Any, kwargs: Any) -> Iterator[Any]:
        """A library's INTERNAL span (``delegate``, sampling, a nested server's): its own, with its
        attributes, but with content capture off no handler text in its status or exception events (rule 4):
        FastMCP's ``record_span_exception`` writes ``str(exc)`` and the stack."""
        if self._telemetry.config.capture_content:
            with self._real().start_as_current_span(name, *args, **kwargs) as span:
                yield span
            return
        kwargs = {**kwargs, "record_exception": False, "set_status_on_exception": False}
        with self._real().start_as_current_span(name, *args, **kwargs) as span:
            if not span.is_recording():  # nothing to keep safe; the library keeps its own object (identity)
                yield span
                return
            safe = _ContentSafeSpan(span)
            try:
                yield safe
            except BaseException as exc:
                if not safe._self_recorded:  # FastMCP records its exception itself: once per span
                    safe.record_exception(exc)
                safe.set_status(StatusCode.ERROR)
                raise

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        kind = START_SPAN.get((name, *args), kwargs, "kind", SpanKind.INTERNAL)
        if kind in (SpanKind.CLIENT, SpanKind.SERVER) and enabled():
            return INVALID_SPAN  # no library uses this path for request spans; never a duplicate
        return self._real().start_span(name, *args, **kwargs)

    @contextmanager
    def _client_span(self, name: str, args: Any, kwargs: Any) -> Iterator[Any]:
        attributes = START_SPAN.get((name, *args), kwargs, "attributes")
        method = _method_of(name, attributes)
        if not enabled():
            with self._real().start_as_current_span(name, *args, **kwargs) as span:
                yield span
            return
        if is_silenced() or method in self._telemetry.config.excluded_methods:
            yield INVALID_SPAN
            return
        pending = _PendingClientSpan(self._telemetry, name, method, _NATIVE_CLIENT.get())
        pending.set_attributes(attributes)
        token = _NATIVE_CLIENT.set(pending)
        try:
            yield pending
        finally:
            _NATIVE_CLIENT.reset(token)
            pending.replay(self._real())

    @contextmanager
    def _server_span(self, name: str, args: Any, kwargs: Any) -> Iterator[Any]:
        attributes = START_SPAN.get((name, *args), kwargs, "attributes")
        stand_in, token = open_server_stand_in(self._telemetry, attributes)
        try:
            if stand_in is NESTED:
                # A mounted server handling the request inside ours: an internal step, parented where it runs
                with self._internal_span(name, (), {"attributes": attributes}) as span:
                    yield span
            elif stand_in is not None:
                yield stand_in
            else:
                with self._real().start_as_current_span(name, *args, **kwargs) as span:
                    yield span
        finally:
            close_server_stand_in(token)


class _ContentSafeSpan(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """A library's own span with content capture off: an exception is recorded by its type alone and a
    status keeps its code, never a description (both would carry the handler's text)."""

    def __init__(self, span: Any) -> None:
        super().__init__(span)
        self._self_recorded = False  # wrapt keeps `_self_*` attributes on the proxy, not the span

    def __enter__(self) -> Any:
        self.__wrapped__.__enter__()
        return self  # `with span as s: s.record_exception(...)` keeps the rule

    def record_exception(self, exception: BaseException, *args: Any, **kwargs: Any) -> None:
        try:
            self._self_recorded = True
            if self.__wrapped__.is_recording():
                self.__wrapped__.add_event(
                    "exception", {"exception.type": errors.qualified_name(unwrap_exception_group(exception))}
                )
        except Exception:
            report_internal_error("_ContentSafeSpan.record_exception")

    def set_status(self, status: Any, description: str | None = None) -> None:
        try:
            code = getattr(status, "status_code", status)
            self.__wrapped__.set_status(Status(code))
        except Exception:
            report_internal_error("_ContentSafeSpan.set_status")


class _OpenStandIn:
    """A library SERVER span folded into ours and still open (its ``with`` block is running)."""

    __slots__ = ("call", "enriched", "seam", "server_name")

    def __init__(self, call: Any, attributes: Any) -> None:
        self.call = call  # the marker is inherited by tasks a handler starts (an in-process backend's too)
        get = attributes.get if isinstance(attributes, dict) else (lambda _key: None)
        self.server_name = get(_FASTMCP_SERVER_NAME)
        self.seam = get(_FASTMCP_SEAM) is True
        self.enriched = False


_FASTMCP_COMPONENT_KEY = "fastmcp.component.key"
# FastMCP's own keys that tell its seam span (4.x) and which (mounted) server a span belongs to.
_FASTMCP_SERVER_NAME = "fastmcp.server.name"
_FASTMCP_SEAM = "fastmcp.span.seam"
NESTED: Any = object()
_OPEN: ContextVar[_OpenStandIn | None] = ContextVar("mcp_otel_open_stand_in", default=None)


def open_server_stand_in(telemetry: Telemetry, attributes: Any, *, unmatched: Any = None) -> tuple[Any, Any]:
    """What a library gets for the SERVER span it opens here, and a token for :func:`close_server_stand_in`.

    * our span adopting it (:class:`AdoptedSpan`): the first library SERVER span of the request we trace,
      and FastMCP 4's enrichment of its own seam span (same server name);
    * ``NESTED``: any other library SERVER span inside that request (a mounted server's), to be recorded
      as an INTERNAL span;
    * ``INVALID_SPAN`` for an excluded request; None (the library's own span) when suppressed;
      ``unmatched`` when there is no request of ours here (a notification, an in-process call).
    """
    try:
        if is_silenced():
            return INVALID_SPAN, None
        if not enabled():
            return None, None
        call = ACTIVE_CALL.get()
        if call is None:
            return unmatched, None
        span = call.op.span
        open_ = _OPEN.get()
        if open_ is not None and open_.call is not call:
            open_ = None  # another request's (this one runs in a task that request started)
        if trace.get_current_span() is not span:
            return NESTED, None
        if open_ is not None:
            get = attributes.get if isinstance(attributes, dict) else (lambda _key: None)
            if not (open_.seam and not open_.enriched and get(_FASTMCP_SERVER_NAME) == open_.server_name):
                return NESTED, None
            open_.enriched = True
            token = None
        else:
            token = _OPEN.set(_OpenStandIn(call, attributes))
        stand_in = AdoptedSpan(telemetry, span, call.op.own_attributes)
        stand_in.set_attributes(attributes)
        return stand_in, token
    except Exception:
        report_internal_error("open_server_stand_in")
        return None, None


def server_parent_unused() -> bool:
    """Whether a library SERVER span opened here now is certain to be our span adopting it (the request's
    first library SERVER span, while ours is current) or silenced: then the parent context the library
    would start it in is never read, and need not be extracted from ``_meta`` (mcp 2.x's middleware does
    that per request). False whenever :func:`open_server_stand_in` might hand back the library's own span.
    """
    try:
        if is_silenced():
            return True
        if not enabled():
            return False
        call = ACTIVE_CALL.get()
        span = call.op.span if call is not None else None
        if span is None or trace.get_current_span() is not span:
            return False
        open_ = _OPEN.get()
        return open_ is None or open_.call is not call
    except Exception:
        report_internal_error("server_parent_unused")
        return False


def close_server_stand_in(token: Any) -> None:
    if token is not None:
        try:
            _OPEN.reset(token)
        except Exception:  # closed in another context than opened: the value dies with that context
            report_internal_error("close_server_stand_in")


def adopting_get_tracer(telemetry: Telemetry, original: Callable[..., trace.Tracer]) -> Callable[..., Any]:
    """A replacement for a library's ``get_tracer`` whose tracers are :class:`AdoptingTracer`."""

    def get_tracer(*args: Any, **kwargs: Any) -> trace.Tracer:
        return AdoptingTracer(telemetry, lambda: original(*args, **kwargs))

    get_tracer.__wrapped__ = original  # type: ignore[attr-defined]
    return get_tracer
