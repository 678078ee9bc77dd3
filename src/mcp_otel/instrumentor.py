"""``McpInstrumentor``: the contrib ``BaseInstrumentor`` over mcp_otel._instrumentation, which detects the
installed MCP libraries and applies (or removes) their adapters."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, TypedDict

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from mcp_otel import _instrumentation
from mcp_otel.config import check_instrument_kwargs
from mcp_otel.package import _instruments

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

    from mcp_otel._patching import Patcher
    from mcp_otel.config import ResultErrorDetector
    from mcp_otel.telemetry import Telemetry

_state = _instrumentation.state


# Here rather than in mcp_otel.config (which has the OPTIONS rows): building a TypedDict costs as much as
# importing a module, and the MCP_OTEL_AUTO_INSTRUMENT hook, which imports config, never needs it.
class InstrumentOptions(TypedDict, total=False):
    """The keyword arguments of ``McpInstrumentor().instrument()`` (``None``: not set here)."""

    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    capture_content: bool | None
    excluded_methods: Iterable[str] | None
    propagate: bool | None
    max_attribute_length: int | None
    stdio_propagation: bool | None
    stdio_propagation_extra: Iterable[str] | None
    retry_window: float | None
    track_streams: bool | None
    capture_leak_origin: bool | None
    result_error_detector: bool | ResultErrorDetector | None
    max_span_events: int | None
    # BaseInstrumentor's own
    skip_dep_check: bool
    raise_exception_on_conflict: bool


class McpInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """OpenTelemetry instrumentor for MCP clients and servers.

    ``McpInstrumentor().instrument(**options)`` patches what is installed: the ``mcp`` SDK (1.x or 2.x),
    FastMCP (3.x or 4.x) and ABI-Core. ``uninstrument()`` removes every wrapper again.

    Keyword options (each overrides its environment variable; ``None`` leaves the variable in charge; an
    unknown keyword or an invalid value raises ``TypeError``/``ValueError``):

    - ``tracer_provider``, ``meter_provider``: the providers to use (default: the global ones).
    - ``capture_content`` (bool, ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, off): record tool
      arguments and results, bounded by ``max_attribute_length``.
    - ``excluded_methods`` (collection of MCP method names, ``MCP_OTEL_EXCLUDED_METHODS``, none): methods
      that get no span and no metric; a ``str`` is read like the variable, comma-separated.
    - ``propagate`` (bool, ``MCP_OTEL_PROPAGATE``, on): inject the trace context into ``params._meta``.
    - ``max_attribute_length`` (int ≥ 1, 1024): longest string written to an attribute.
    - ``stdio_propagation`` (bool, ``MCP_OTEL_STDIO_PROPAGATION``, on): pass settings and the trace context
      into the environment of stdio servers the client spawns (non-secret settings only, see README).
    - ``stdio_propagation_extra`` (collection of variable names, ``MCP_OTEL_STDIO_PROPAGATION_EXTRA``, none):
      further variables passed verbatim into stdio servers' environment (servers you trust with them).
    - ``retry_window`` (seconds ≥ 0, ``MCP_OTEL_RETRY_WINDOW``, 30): a repeat of a failed request within
      this window is a detected retry; 0 turns detection off.
    - ``track_streams`` (bool, ``MCP_OTEL_TRACK_STREAMS``, on): attribute anyio memory-object streams to
      sessions and report leaks.
    - ``capture_leak_origin`` (bool, ``MCP_OTEL_CAPTURE_LEAK_ORIGIN``, off): record where each leaked
      stream was created.
    - ``result_error_detector`` (bool or callable, ``MCP_OTEL_DETECT_RESULT_ERRORS``, off): mark
      ``tools/call`` results shaped like ``{"success": false, "error": ...}`` as ``tool_error``; a callable
      gets the wire-form result and returns something truthy (or the error message) for a failure.
    - ``max_span_events`` (int, ``MCP_OTEL_MAX_SPAN_EVENTS``, 64): most lifecycle events (progress, server
      logs, list changes, reconnects) one span records; later ones are counted in ``mcp_otel.events.dropped``.
    - ``skip_dep_check``, ``raise_exception_on_conflict``: ``BaseInstrumentor``'s own.
    """

    # BaseInstrumentor keeps this flag on the instance; here it is the process's one record
    # (mcp_otel._instrumentation), which the MCP_OTEL_AUTO_INSTRUMENT hook sets without this class.
    @property
    def _is_instrumented_by_opentelemetry(self) -> bool:
        return _state.instrumented

    @_is_instrumented_by_opentelemetry.setter
    def _is_instrumented_by_opentelemetry(self, value: bool) -> None:
        _state.instrumented = value

    @property
    def busy(self) -> bool:
        """True while ``instrument()`` runs (it imports mcp, which fires the start-up hook)."""
        return _state.busy

    @property
    def by_autoload(self) -> bool:
        """The current instrumentation was applied by the ``MCP_OTEL_AUTO_INSTRUMENT`` hook."""
        return _state.by_autoload

    @property
    def _telemetry(self) -> Telemetry | None:
        return _state.telemetry

    @property
    def _patcher(self) -> Patcher | None:
        return _state.patcher

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def instrument(self, **kwargs: Unpack[InstrumentOptions]) -> None:
        """Instrument MCP (the options are in the class docstring); a no-op when already instrumented.

        An explicit call with options (providers, ``capture_content``, ...) replaces the instrumentation
        the ``MCP_OTEL_AUTO_INSTRUMENT`` hook applied, so code-level configuration wins; one without options
        leaves it in place. Raises ``TypeError``/``ValueError`` for an unknown keyword or an invalid value.
        """
        check_instrument_kwargs(kwargs)
        if _state.instrumented and _state.by_autoload:
            options = {k for k in kwargs if k not in ("skip_dep_check", "raise_exception_on_conflict")}
            if not options:
                return None
            self.uninstrument()
        _state.busy = True
        try:
            super().instrument(**kwargs)
        finally:
            _state.busy = False

    def _instrument(self, **kwargs: Any) -> None:
        _instrumentation.instrument(kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        _instrumentation.uninstrument()
