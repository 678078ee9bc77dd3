"""The only module that touches the OpenTelemetry Tracer and Meter, plus the never-raise guard."""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace

from mcp_otel import scrub, semconv
from mcp_otel.bounds import NameBook
from mcp_otel.config import Config
from mcp_otel.errors import ErrorInfo, description, qualified_name, unwrap_exception_group
from mcp_otel.version import __version__

if TYPE_CHECKING:
    from opentelemetry import metrics
    from opentelemetry.metrics import Counter, Histogram, Meter, UpDownCounter

_logger = logging.getLogger("mcp_otel")
_reported: set[str] = set()

F = TypeVar("F", bound=Callable[..., Any])


# OpenTelemetry's suppress_instrumentation() keys (the user's switch, DESIGN rule 2), read here rather than
# through opentelemetry.instrumentation.utils.is_instrumentation_enabled: that module imports
# opentelemetry.propagate (the propagators' entry points), ~2 ms of every instrumented start-up (issue 14).
_SUPPRESS_KEY = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", None)
_SUPPRESS_KEY_PLAIN = "suppress_instrumentation"  # what contrib's utils also checks, for older setters


def instrumentation_enabled(current: otel_context.Context | None = None) -> bool:
    """Not inside ``suppress_instrumentation()``: ``is_instrumentation_enabled()`` of contrib (tested to agree).

    ``current``: the current context, when the caller has it already.
    """
    if _SUPPRESS_KEY is None:  # an API without the key in opentelemetry.context: ask contrib
        from opentelemetry.instrumentation.utils import is_instrumentation_enabled

        return bool(is_instrumentation_enabled())
    if current is None:
        current = otel_context.get_current()  # read once: called several times per request (issue 14)
    return not (current.get(_SUPPRESS_KEY) or current.get(_SUPPRESS_KEY_PLAIN))


def report_internal_error(where: str) -> None:
    """Log an instrumentation fault once per site (warning), then at debug level only."""
    if where in _reported:
        _logger.debug("mcp-otel: internal error in %s", where, exc_info=True)
        return
    _reported.add(where)
    _logger.warning("mcp-otel: internal error in %s; the application is not affected", where, exc_info=True)


def guarded(func: F) -> F:
    """Run our own bookkeeping so that it can never raise into the application (returns None on error)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception:
            report_internal_error(func.__qualname__)
            return None

    return wrapper  # type: ignore[return-value]


# --- will this span record? ------------------------------------------------------------------------
# A request span's attributes are sampler input: they must be passed to start_span, so they are built
# before the span starts. Most production services sample, and a sampled-out request should not pay for
# attribute dicts nobody reads (issue 14). The SDK's own samplers decide from the parent span and the
# trace id alone, never from the name, attributes or links, so for them the decision is known before the
# span starts whenever the trace id is (the parent's): the caller then starts the span bare. Any other
# sampler (a custom one may read the attributes), or a root span under a ratio sampler (its trace id is
# drawn inside start_span), gets None: attributes are built and passed as usual. The classes are matched
# by name so that the SDK is not imported here (it is an optional dependency).
_SDK_SAMPLING = "opentelemetry.sdk.trace.sampling"
_PARENT_BASED = frozenset({"ParentBased", "ParentBasedTraceIdRatio"})


Decider = Callable[[trace.SpanContext | None], bool | None]


def sdk_sampler_decision(sampler: Any, parent: trace.SpanContext | None) -> bool | None:
    """Whether an SDK sampler records a span under ``parent`` (None: not knowable before the span starts).

    Reads the SDK samplers' private fields (stable since SDK 1.0); anything missing means None, i.e. the
    usual path, never a wrong answer.
    """
    return sampler_decider(sampler)(parent)


def _unknown(parent: trace.SpanContext | None) -> None:
    return None


def sampler_decider(sampler: Any) -> Decider:
    """:func:`sdk_sampler_decision` for one sampler, its fields read once: the SDK's samplers are fixed
    once built, and a tracer asks per request span (issue 14)."""
    cls = type(sampler)
    if cls.__module__ != _SDK_SAMPLING:
        return _unknown
    name = cls.__name__
    if name == "StaticSampler":  # ALWAYS_ON, ALWAYS_OFF
        decision = getattr(sampler, "_decision", None)
        if decision is None:
            return _unknown
        records = bool(decision.is_recording())
        return lambda parent: records
    if name == "TraceIdRatioBased":
        limit, bound = sampler.TRACE_ID_LIMIT, sampler.bound
        return lambda parent: None if parent is None else bool(parent.trace_id & limit < bound)
    if name in _PARENT_BASED:
        root, remote_sampled, remote_not_sampled, local_sampled, local_not_sampled = (
            sampler_decider(delegate) if delegate is not None else _unknown
            for delegate in (
                getattr(sampler, field, None)
                for field in (
                    "_root",
                    "_remote_parent_sampled",
                    "_remote_parent_not_sampled",
                    "_local_parent_sampled",
                    "_local_parent_not_sampled",
                )
            )
        )

        def parent_based(parent: trace.SpanContext | None) -> bool | None:
            if parent is None:
                return root(parent)
            if parent.is_remote:
                return (remote_sampled if parent.trace_flags.sampled else remote_not_sampled)(parent)
            return (local_sampled if parent.trace_flags.sampled else local_not_sampled)(parent)

        return parent_based
    return _unknown


# The attributes Telemetry creates at their first use (see Telemetry.__getattr__).
_METRIC_ATTRIBUTES = frozenset(
    {
        "meter",
        "metrics_on",
        "client_operation_duration",
        "server_operation_duration",
        "client_session_duration",
        "server_session_duration",
        "client_sessions_active",
        "server_sessions_active",
        "client_streams_leaked",
        "client_retries",
        "client_reconnects",
    }
)


class Telemetry:
    """Tracer, meter and instruments of one ``instrument()`` call, with the frozen config.

    Unless a meter provider is given or the metrics API is already imported, the meter and its instruments
    are created when first used (the first session or request), not by ``instrument()``: importing the
    metrics API would add ~3 ms to every instrumented process's start-up (``MCP_OTEL_AUTO_INSTRUMENT``
    instruments at ``import mcp``; issue 14). The provider is the one given to ``instrument()``, else the
    global one: a proxy until the application or mcp-otel sets one, as before.
    """

    meter: Meter
    # A no-op meter (NoOpMeterProvider, or the SDK's when OTEL_SDK_DISABLED): metric attributes are not
    # built. The global proxy meter counts as on: a provider may still be set after instrument().
    metrics_on: bool
    client_operation_duration: Histogram
    server_operation_duration: Histogram
    client_session_duration: Histogram
    server_session_duration: Histogram
    client_sessions_active: UpDownCounter
    server_sessions_active: UpDownCounter
    client_streams_leaked: Counter
    client_retries: Counter
    client_reconnects: Counter

    def __init__(
        self,
        config: Config,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.config = config
        self.tracer = trace.get_tracer(
            semconv.SCOPE_NAME, __version__, tracer_provider, schema_url=semconv.SCHEMA_URL
        )
        self._meter_provider = meter_provider
        self._metrics_lock = threading.Lock()
        self._decide: Decider | None = None  # the SDK tracer's sampler as a decider, once known (see drops)

        from mcp_otel.retry import RetryDetector

        # Tool and prompt names metrics may carry (bounds.py): the client's own, the server's registered.
        self.client_names = NameBook(registered_only=False)
        self.server_names = NameBook(registered_only=True)

        self.retries = RetryDetector(config.retry_window)
        if meter_provider is not None or "opentelemetry.metrics" in sys.modules:
            self.ensure_instruments()  # the metrics API is loaded already: nothing to save by waiting

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not set yet: after the first use, the instruments are plain attributes.
        if name not in _METRIC_ATTRIBUTES:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.ensure_instruments()
        return self.__dict__[name]

    def ensure_instruments(self) -> None:
        """Create the meter and the instruments now (once).

        mcp_otel.autoload calls it before it sets the SDK's providers: created from the API's proxy meter,
        the instruments follow a provider the application sets later (the hand-over in mcp_otel.shutdown);
        created after mcp-otel's provider is set, they would stay bound to it.
        """
        with self._metrics_lock:
            if "meter" not in self.__dict__:
                self._create_instruments()

    def _create_instruments(self) -> None:
        from opentelemetry import metrics

        meter = metrics.get_meter(
            semconv.SCOPE_NAME, __version__, self._meter_provider, schema_url=semconv.SCHEMA_URL
        )
        buckets = list(semconv.DURATION_BUCKETS)
        self.client_operation_duration = meter.create_histogram(
            semconv.METRIC_CLIENT_OPERATION_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="Duration of an MCP request as observed by the sender.",
            explicit_bucket_boundaries_advisory=buckets,
        )
        self.server_operation_duration = meter.create_histogram(
            semconv.METRIC_SERVER_OPERATION_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="Duration of an MCP request as observed by the receiver.",
            explicit_bucket_boundaries_advisory=buckets,
        )
        self.client_session_duration = meter.create_histogram(
            semconv.METRIC_CLIENT_SESSION_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="Duration of an MCP session as observed by the client.",
            explicit_bucket_boundaries_advisory=buckets,
        )
        self.server_session_duration = meter.create_histogram(
            semconv.METRIC_SERVER_SESSION_DURATION,
            unit=semconv.UNIT_SECONDS,
            description="Duration of an MCP session as observed by the server.",
            explicit_bucket_boundaries_advisory=buckets,
        )
        self.client_sessions_active = meter.create_up_down_counter(
            semconv.METRIC_CLIENT_SESSIONS_ACTIVE,
            unit=semconv.UNIT_SESSION,
            description="MCP client sessions currently open.",
        )
        self.server_sessions_active = meter.create_up_down_counter(
            semconv.METRIC_SERVER_SESSIONS_ACTIVE,
            unit=semconv.UNIT_SESSION,
            description="MCP server sessions currently open.",
        )
        self.client_streams_leaked = meter.create_counter(
            semconv.METRIC_CLIENT_STREAMS_LEAKED,
            unit=semconv.UNIT_STREAM,
            description="anyio memory-object streams of a client session still open after its cleanup.",
        )
        self.client_retries = meter.create_counter(
            semconv.METRIC_CLIENT_RETRIES,
            unit=semconv.UNIT_RETRY,
            description="MCP requests that repeat an earlier failed request (attempt 2 and later).",
        )
        self.client_reconnects = meter.create_counter(
            semconv.METRIC_CLIENT_RECONNECTS,
            unit=semconv.UNIT_RECONNECT,
            description="Transport reconnect attempts of MCP client sessions (streamable-HTTP streams).",
        )
        self.metrics_on = not isinstance(meter, metrics.NoOpMeter)
        self.meter = meter  # last: its presence marks the instruments as created

    def drops(self, context: otel_context.Context | None) -> bool:
        """True when a span started in ``context`` (None: the current one) is known not to record.

        Only then may it be started without attributes (see ``sdk_sampler_decision``).
        """
        return self.drops_under(trace.get_current_span(context).get_span_context())

    def drops_under(self, parent: trace.SpanContext) -> bool:
        """:meth:`drops` for a span whose parent span context (possibly invalid: a root) the caller has."""
        decide = self._decide
        if decide is None:
            tracer = self.tracer
            # ProxyTracer: instrument() ran before the global provider was set; it resolves on its first
            # span. An SDK tracer's sampler is fixed: kept once found.
            real = getattr(tracer, "_real_tracer", None) or tracer
            sampler = getattr(real, "sampler", None)
            if sampler is None:
                return isinstance(real, trace.NoOpTracer)
            decide = self._decide = sampler_decider(sampler)
        return decide(parent if parent.is_valid else None) is False

    # --- what may be recorded (DESIGN trust rules 4 and 5); every string attribute goes through one ---
    def clip(self, value: str) -> str:
        """A string from a peer (names, versions, ids): bounded to ``max_attribute_length``."""
        limit = self.config.max_attribute_length
        return value if len(value) <= limit else scrub.clip(value, limit)

    def text(self, value: str) -> str:
        """A free-form message (status description, event text): every URL scrubbed, then bounded."""
        return scrub.clip(scrub.text(value), self.config.max_attribute_length)

    def uri(self, value: str) -> str:
        """One URL or URI (``mcp.resource.uri``): scrubbed, then bounded."""
        return scrub.clip(scrub.url(value), self.config.max_attribute_length)

    def description(self, error: ErrorInfo) -> str | None:
        """The status description of a failed span: handler/peer text only with content capture on."""
        found = description(error, self.config.capture_content)
        return self.text(found) if found else None

    def exception_attributes(self, exc: BaseException) -> dict[str, Any]:
        """The ``exception`` event of a span its request ended in ``exc``: the type always, the message and
        stack (handler or application text, DESIGN trust rule 4) only with content capture on."""
        inner = unwrap_exception_group(exc)
        attributes: dict[str, Any] = {semconv.EXCEPTION_TYPE: qualified_name(inner)}
        if self.config.capture_content:
            import traceback  # only with capture on: not on every process's import path

            message = str(inner)
            if message:
                attributes[semconv.EXCEPTION_MESSAGE] = self.text(message)
            stack = "".join(traceback.format_exception(type(inner), inner, inner.__traceback__))
            attributes[semconv.EXCEPTION_STACKTRACE] = scrub.clip(
                scrub.text(stack), self.config.max_attribute_length, keep_end=True
            )
        return attributes
