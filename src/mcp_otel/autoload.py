"""Zero-code start-up: ``MCP_OTEL_AUTO_INSTRUMENT=true`` instruments every Python process of the environment.

The ``mcp_otel_autoload.pth`` file that ``pip install`` puts at the root of site-packages runs one line in
every interpreter start; while the variable is unset that line costs a dictionary look-up. When it is set:

1. ``activate()`` (stdlib only, cheap: it runs in pip, pytest and ``opentelemetry-instrument``'s wrapper
   too) attaches the trace context the parent process passed in ``TRACEPARENT``/``TRACESTATE``/``BAGGAGE``
   (the OpenTelemetry environment-carrier convention; an instrumented MCP client passes them to the stdio
   servers it spawns) and waits for ``mcp`` to be imported. A process that never imports ``mcp`` pays
   nothing more.
2. When ``mcp`` is imported, ``McpInstrumentor`` is applied (unless ``opentelemetry-instrument`` or the
   application already did it) and a one-shot trigger is put on the API's proxy tracer.
3. When the first span starts, and only if the application has not set a tracer provider by then, the SDK
   is configured from the standard ``OTEL_*`` variables (resource, sampler, OTLP over gRPC or
   HTTP/protobuf, headers, ...; see `_configure_sdk`), the exporters are built in a background thread, and
   mcp_otel.shutdown takes charge of exit (bounded by ``MCP_OTEL_SHUTDOWN_TIMEOUT``), SIGTERM, MCP server
   stops, and of handing over to a provider the application sets later. Deciding this late lets an
   application that sets its providers in ``main()`` after importing ``mcp`` keep them from the start.

Defaults on top of the SDK's (each overridden by setting the variable):

* no ``OTEL_EXPORTER_OTLP_*ENDPOINT`` and no ``OTEL_TRACES_EXPORTER``: traces print as a tree on stderr
  (``ConsoleTreeExporter``, exporter name ``mcp_otel_tree``) instead of going to a collector that is not
  there; with an endpoint, ``OTEL_TRACES_EXPORTER`` and ``OTEL_METRICS_EXPORTER`` default to ``otlp``;
* ``OTEL_*_EXPORTER=console`` writes to stderr, never stdout (stdout is a stdio server's protocol);
* ``service.name`` defaults to the program's name (``python weather_server.py`` -> ``weather_server``).

``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` containing ``mcp_otel`` (or ``*``) turns all of this off.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: this module is on the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# The same names as semconv.ENV_AUTO_INSTRUMENT, semconv.ENV_DISABLED_INSTRUMENTATIONS and
# semconv.SCOPE_NAME (checked by the tests), spelled out because semconv imports typing (milliseconds that
# every interpreter of the environment would pay while the variable is set).
ENV_AUTO_INSTRUMENT = "MCP_OTEL_AUTO_INSTRUMENT"
ENV_DISABLED = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
ENTRY_POINT_NAME = "mcp_otel"  # the entry point's name, which is also the instrumentation scope name
TREE_EXPORTER_NAME = "mcp_otel_tree"

_TRUE = ("1", "true", "yes", "on")
_CONTEXT_VARIABLES = ("TRACEPARENT", "TRACESTATE", "BAGGAGE")

_activated = False
_sdk_decided = False
_sdk_configured = False
_trigger: dict[str, Any] = {}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def requested() -> bool:
    """``MCP_OTEL_AUTO_INSTRUMENT`` is set to a true value."""
    return _flag(ENV_AUTO_INSTRUMENT)


def disabled() -> bool:
    """``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names ``mcp_otel`` (or is ``*``)."""
    names = {n.strip() for n in os.environ.get(ENV_DISABLED, "").split(",")}
    return ENTRY_POINT_NAME in names or "*" in names


def is_active() -> bool:
    """The start-up hook is armed in this process."""
    return _activated


def _logger() -> Any:
    import logging

    return logging.getLogger("mcp_otel")


def _pth_hook() -> None:
    """What the ``.pth`` line calls: never raises, never writes to stdout."""
    try:
        activate()
    except Exception:
        _logger().warning("mcp-otel: auto-instrumentation could not start", exc_info=True)


def activate() -> bool:
    """Arm auto-instrumentation in this process (idempotent); False when not requested or disabled."""
    global _activated
    if _activated:
        return True
    if not requested() or disabled():
        return False
    _activated = True
    if any(name in os.environ for name in _CONTEXT_VARIABLES):
        _attach_environment_context()
    when_imported("mcp", _on_mcp_imported)
    return True


# --- 1. the parent's trace context --------------------------------------------------------------------
def _attach_environment_context() -> None:
    """Make the context in TRACEPARENT/TRACESTATE/BAGGAGE the process's ambient context (never detached)."""
    try:
        from opentelemetry import context

        from mcp_otel.propagation import context_from_environ

        ctx = context_from_environ(os.environ)
        if ctx is not None:
            context.attach(ctx)
    except Exception:
        _logger().debug("mcp-otel: ignoring the trace context in the environment", exc_info=True)


# --- 2. post-import hook --------------------------------------------------------------------------------
class _PostImportFinder:
    """A one-shot meta-path finder: runs ``hook(module)`` right after ``name`` has been executed.

    wrapt has the same facility, but importing it costs tens of milliseconds, which every interpreter of
    the environment (pip, pytest, ...) would pay while the variable is set.
    """

    def __init__(self, name: str, hook: Callable[[Any], None]) -> None:
        self._name = name
        self._hook = hook
        self._fired = False
        self._searching = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        # Not removed here: importlib.util.find_spec("mcp") (fastmcp does that) finds without importing.
        if fullname != self._name or self._fired or self._searching:
            return None
        spec = None
        self._searching = True  # a finder below us may ask the whole meta path again
        try:
            for finder in list(sys.meta_path):
                find = getattr(finder, "find_spec", None)
                if find is None or finder is self:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._searching = False
        loader: Any = getattr(spec, "loader", None)
        original = getattr(loader, "exec_module", None)
        if original is None:
            return spec

        def exec_module(module: Any) -> None:
            try:
                original(module)
            finally:
                try:
                    del loader.exec_module  # back to the loader class's own method
                except AttributeError:
                    pass
            if not self._fired and getattr(module, "__name__", None) == self._name:
                self._fired = True
                self._remove()
                _run_hook(self._hook, module)

        try:
            loader.exec_module = exec_module
        except Exception:  # a loader that refuses attributes: no hook, the import itself is untouched
            return spec
        return spec

    def _remove(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass


def _run_hook(hook: Callable[[Any], None], module: Any) -> None:
    try:
        hook(module)
    except Exception:  # runs inside the application's import statement: log, never raise
        _logger().warning(
            "mcp-otel: auto-instrumentation failed; the application is not affected", exc_info=True
        )


def when_imported(name: str, hook: Callable[[Any], None]) -> None:
    """Run ``hook(module)`` once the top-level module ``name`` is imported (now, if it already is)."""
    module = sys.modules.get(name)
    if module is not None:
        _run_hook(hook, module)
        return
    sys.meta_path.insert(0, _PostImportFinder(name, hook))


def _on_mcp_imported(module: Any) -> None:
    _install_first_span_trigger()
    # Not McpInstrumentor: BaseInstrumentor would put opentelemetry.instrumentation and packaging on every
    # instrumented process's start-up (mcp_otel._instrumentation keeps the state they share).
    from mcp_otel import _instrumentation

    state = _instrumentation.state
    if state.instrumented or state.busy:
        return  # opentelemetry-instrument (which imports mcp while it instruments) or the application
    if _dependencies_met():  # what BaseInstrumentor checks, without packaging
        _instrumentation.instrument({}, autoload=True)


def _dependencies_met() -> bool:
    """``McpInstrumentor.instrumentation_dependencies()`` satisfied (read from the metadata headers only)."""
    from mcp_otel.package import _instruments, requirement_met

    for spec in _instruments:
        found, met = requirement_met(spec)
        if not met:
            _logger().error("mcp-otel: %r is required, found %s; MCP is not instrumented", spec, found)
            return False
    return True


# --- 3. SDK configuration at the first span ---------------------------------------------------------------
def _install_first_span_trigger() -> None:
    """Configure the SDK when a span is first started through the API's proxy tracer.

    Our tracer, mcp 2.x's and FastMCP's are all proxy tracers until a provider is set; once the SDK is
    configured they resolve to it, and the trigger removes itself.
    """
    from opentelemetry import trace

    if _sdk_decided or _trigger or not _no_tracer_provider():
        return
    cls = trace.ProxyTracer
    originals = {name: cls.__dict__[name] for name in ("start_span", "start_as_current_span")}

    def start_span(self: Any, *args: Any, **kwargs: Any) -> Any:
        ensure_sdk()
        return originals["start_span"](self, *args, **kwargs)

    def start_as_current_span(self: Any, *args: Any, **kwargs: Any) -> Any:
        ensure_sdk()
        return originals["start_as_current_span"](self, *args, **kwargs)

    replacements = {"start_span": start_span, "start_as_current_span": start_as_current_span}
    for name, replacement in replacements.items():
        setattr(cls, name, replacement)
    _trigger.update(cls=cls, originals=originals, replacements=replacements)


def _remove_first_span_trigger() -> None:
    if not _trigger:
        return
    cls, originals, replacements = _trigger["cls"], _trigger["originals"], _trigger["replacements"]
    for name, original in originals.items():
        if cls.__dict__.get(name) is replacements[name]:
            setattr(cls, name, original)
    _trigger.clear()


def _no_tracer_provider() -> bool:
    from opentelemetry import trace

    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


_lock: Any = None


def ensure_sdk() -> bool:
    """Configure the SDK from the environment unless a tracer provider is set; decided once per process.

    Returns True when this call (or an earlier one) configured the SDK.
    """
    global _sdk_decided, _sdk_configured, _lock
    if _sdk_decided:
        return _sdk_configured
    if _lock is None:
        import threading

        _lock = threading.Lock()
    with _lock:
        if _sdk_decided:  # another thread decided while this one waited
            return _sdk_configured  # type: ignore[unreachable]
        try:
            if _no_tracer_provider():
                _sdk_configured = _configure_sdk()
        except Exception:
            _logger().warning("mcp-otel: could not configure the OpenTelemetry SDK", exc_info=True)
        finally:
            _sdk_decided = True
            _remove_first_span_trigger()
    return _sdk_configured


def _configure_sdk() -> bool:
    """Build and set the SDK's providers from the ``OTEL_*`` variables; mcp_otel.shutdown takes charge.

    Built here rather than by the SDK's ``_OTelSDKConfigurator`` (which mcp-otel used before) because the
    configurator imports and builds every exporter on the spot (OTLP/gRPC: ~100 ms, on the first span's
    path) and registers exit handlers that can hang for ``OTEL_EXPORTER_OTLP_TIMEOUT`` (10 s) when the
    endpoint is down. Here only the public SDK classes are used; each exporter sits in an
    ``ExporterGuard`` that builds it in a background thread; exit is bounded by
    ``MCP_OTEL_SHUTDOWN_TIMEOUT``. Honoured as by the SDK's configurator: ``OTEL_{TRACES,METRICS,LOGS}_EXPORTER``
    (entry-point names, ``otlp`` by ``OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL``, ``console`` to stderr),
    ``OTEL_TRACES_SAMPLER[_ARG]`` (entry-point samplers too), ``OTEL_PYTHON_ID_GENERATOR``, the resource
    variables and detectors, ``OTEL_BSP_*``, ``OTEL_METRIC_EXPORT_*``, the OTLP exporters' own variables and
    ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED``.
    """
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
    except ImportError:
        _logger().warning(
            "mcp-otel: %s is set but opentelemetry-sdk is not installed (pip install 'mcp-otel[sdk]'); "
            "nothing is exported",
            ENV_AUTO_INSTRUMENT,
        )
        return False
    from opentelemetry import trace

    from mcp_otel import shutdown
    from mcp_otel.version import __version__

    attributes: dict[str, Any] = {"telemetry.auto.version": __version__, **default_resource_attributes()}
    resource = Resource.create(attributes)
    guards: list[Any] = []

    class ManagedTracerProvider(TracerProvider):
        """Remembers the tracers it gives out, so proxies can let go of them at a hand-over."""

        def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
            tracer = super().get_tracer(*args, **kwargs)
            shutdown.remember_tracer(tracer)
            return tracer

    tracer_provider = ManagedTracerProvider(resource=resource, shutdown_on_exit=False, **_sampling_options())
    for name in exporter_names("traces"):
        # Any: the guard duck-types the SDK's exporter interfaces (it builds the real exporter lazily)
        guard: Any = shutdown.ExporterGuard(
            "traces", name, _exporter_factory("traces", name), SpanExportResult.FAILURE
        )
        guards.append(guard)
        tracer_provider.add_span_processor(BatchSpanProcessor(guard))
    providers: dict[str, Any] = {"traces": tracer_provider}
    providers["metrics"] = _metrics_provider(resource, guards)
    providers["logs"] = _logs_provider(resource, guards)
    from mcp_otel._instrumentation import state

    if state.telemetry is not None:  # its instruments, created lazily: from the proxy, before ours is set
        state.telemetry.ensure_instruments()
    trace.set_tracer_provider(tracer_provider)
    if providers["metrics"] is not None:
        from opentelemetry import metrics

        metrics.set_meter_provider(providers["metrics"])
    if providers["logs"] is not None:
        from opentelemetry._logs import set_logger_provider

        set_logger_provider(providers["logs"])
    shutdown.manage(providers, guards)
    if guards:
        shutdown.build_in_background(guards)
    return True


def exporter_names(signal: str) -> list[str]:
    """The exporters for ``signal``: ``OTEL_{SIGNAL}_EXPORTER`` or our default, ``otlp`` resolved."""
    raw = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "")
    names = [n.strip() for n in raw.split(",") if n.strip()] if raw.strip() else []
    if [n.lower() for n in names] == ["none"]:
        return []
    if not names and signal != "logs":  # logs only when asked for, as with the SDK's configurator
        names = default_exporter_names(signal)
    resolved = [_otlp_entry_point(signal) if n == "otlp" else n for n in names if n.lower() != "none"]
    return list(dict.fromkeys(resolved))


def _entry_point(group: str, name: str) -> Any:
    from importlib.metadata import entry_points

    for entry in entry_points(group=group, name=name):
        return entry.load()
    raise RuntimeError(f"no {name!r} in entry point group {group!r}")


_CONSOLE = {
    "traces": ("opentelemetry.sdk.trace.export", "ConsoleSpanExporter"),
    "metrics": ("opentelemetry.sdk.metrics.export", "ConsoleMetricExporter"),
    "logs": ("opentelemetry.sdk._logs.export", "ConsoleLogRecordExporter"),
}


def _exporter_factory(signal: str, name: str) -> Callable[[], Any]:
    """Builds the named exporter (console ones print to stderr: a stdio server's stdout is its protocol)."""

    def build() -> Any:
        if name == "console":
            import importlib

            module = importlib.import_module(_CONSOLE[signal][0])
            cls = getattr(module, _CONSOLE[signal][1], None) or module.ConsoleLogExporter
            return cls(out=sys.stderr)
        return _entry_point(f"opentelemetry_{signal}_exporter", name)()

    return build


def _sampling_options() -> dict[str, Any]:
    """``sampler`` / ``id_generator`` for entry-point ones; the SDK reads its built-in samplers itself."""
    options: dict[str, Any] = {}
    try:
        sampler = os.environ.get("OTEL_TRACES_SAMPLER", "").strip()
        from opentelemetry.sdk.trace import sampling

        if sampler and sampler not in getattr(sampling, "_KNOWN_SAMPLERS", {}):
            factory = _entry_point("opentelemetry_traces_sampler", sampler)
            options["sampler"] = factory(os.environ.get("OTEL_TRACES_SAMPLER_ARG"))
        id_generator = os.environ.get("OTEL_PYTHON_ID_GENERATOR", "").strip()
        if id_generator and id_generator != "random":
            options["id_generator"] = _entry_point("opentelemetry_id_generator", id_generator)()
    except Exception:
        _logger().warning("mcp-otel: ignoring OTEL_TRACES_SAMPLER / OTEL_PYTHON_ID_GENERATOR", exc_info=True)
    return options


_OTLP_METRIC_EXPORTERS = ("otlp_proto_grpc", "otlp_proto_http")


def otlp_metric_preferences() -> tuple[dict[Any, Any], dict[Any, Any]]:
    """The temporality and aggregation the OTLP metric exporters prefer, from the same variables.

    Mirrors ``OTLPMetricExporterMixin._get_temporality`` / ``_get_aggregation`` (SDK 1.27-1.45) so that
    the reader can be built before the exporter is (the reader reads them at construction); a test checks
    the mirror against the real exporters.
    """
    from opentelemetry.sdk.metrics import (
        Counter,
        Histogram,
        ObservableCounter,
        ObservableGauge,
        ObservableUpDownCounter,
        UpDownCounter,
    )
    from opentelemetry.sdk.metrics.export import AggregationTemporality
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation

    delta, cumulative = AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE
    preference = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "CUMULATIVE")
    preference = preference.upper().strip()
    temporality = {
        Counter: delta if preference in ("DELTA", "LOWMEMORY") else cumulative,
        UpDownCounter: cumulative,
        Histogram: delta if preference in ("DELTA", "LOWMEMORY") else cumulative,
        ObservableCounter: delta if preference == "DELTA" else cumulative,
        ObservableUpDownCounter: cumulative,
        ObservableGauge: cumulative,
    }
    aggregation: dict[Any, Any] = {}
    histogram = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "")
    if histogram.strip().lower() == "base2_exponential_bucket_histogram":
        aggregation[Histogram] = ExponentialBucketHistogramAggregation()
    return temporality, aggregation


def _prebuilt(exporter: Any) -> Callable[[], Any]:
    """A factory handing back an exporter that had to be built early (its preferences are read from it)."""

    def factory() -> Any:
        return exporter

    return factory


def _metrics_provider(resource: Any, guards: list[Any]) -> Any:
    """A MeterProvider when metric exporters are configured (none: the API's no-op meters stay)."""
    names = exporter_names("metrics")
    if not names:
        return None
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExportResult,
        MetricReader,
        PeriodicExportingMetricReader,
    )

    from mcp_otel import shutdown

    readers: list[Any] = []
    for name in names:
        factory: Any = _exporter_factory("metrics", name)
        temporality: Any
        aggregation: Any
        if name in _OTLP_METRIC_EXPORTERS:
            temporality, aggregation = otlp_metric_preferences()
        else:  # its preferences are only known once built: build it now (console, entry points)
            try:
                built = factory()
            except Exception:
                _logger().warning("mcp-otel: no %r metrics exporter", name, exc_info=True)
                continue
            if isinstance(built, MetricReader):  # a pull exporter (Prometheus) is a reader
                readers.append(built)
                continue
            factory = _prebuilt(built)
            temporality = getattr(built, "_preferred_temporality", None)
            aggregation = getattr(built, "_preferred_aggregation", None)
        guard: Any = shutdown.ExporterGuard(
            "metrics",
            name,
            factory,
            MetricExportResult.FAILURE,
            preferred_temporality=temporality,
            preferred_aggregation=aggregation,
        )
        guards.append(guard)
        readers.append(PeriodicExportingMetricReader(guard))
    return MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)


def _logs_provider(resource: Any, guards: list[Any]) -> Any:
    """A LoggerProvider when log exporters are configured; the logging handler when the SDK would add it."""
    names = exporter_names("logs")
    if not names:
        return None
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs import export as logs_export

    from mcp_otel import shutdown

    result = getattr(logs_export, "LogRecordExportResult", None) or logs_export.LogExportResult
    processor = logs_export.BatchLogRecordProcessor
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    for name in names:
        guard: Any = shutdown.ExporterGuard("logs", name, _exporter_factory("logs", name), result.FAILURE)
        guards.append(guard)
        provider.add_log_record_processor(processor(guard))
    if _flag("OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"):
        import logging

        logging.getLogger().addHandler(LoggingHandler(level=logging.NOTSET, logger_provider=provider))
    return provider


def _endpoint_configured(signal: str) -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    )


def _any_endpoint_configured() -> bool:
    return any(
        k.startswith("OTEL_EXPORTER_OTLP_") and k.endswith("ENDPOINT") and v.strip()
        for k, v in os.environ.items()
    )


def default_exporter_names(signal: str) -> list[str]:
    """Exporters to add when ``OTEL_{SIGNAL}_EXPORTER`` is unset (the SDK alone would add none)."""
    if os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip():
        return []  # the SDK reads the variable itself
    if _endpoint_configured(signal):
        return [_otlp_entry_point(signal)]
    if signal == "traces" and not _any_endpoint_configured():
        return [TREE_EXPORTER_NAME]
    return []


def _otlp_entry_point(signal: str) -> str:
    """``otlp`` resolved by OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL, as the SDK does for the variable."""
    protocol = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    return "otlp_proto_http" if protocol.startswith("http") else "otlp_proto_grpc"


def default_service_name() -> str:
    """The program's name: the script's stem, the ``-m`` module, or ``python`` for ``-c``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if name:
        return str(name).removesuffix(".__main__")
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 in ("", "-c", "-m", "-"):
        return "python"
    return os.path.splitext(os.path.basename(argv0))[0] or "python"


def default_resource_attributes() -> dict[str, Any]:
    """``service.name`` from the program, unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES has one."""
    if os.environ.get("OTEL_SERVICE_NAME", "").strip():
        return {}
    for pair in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        if pair.split("=", 1)[0].strip() == "service.name":
            return {}
    return {"service.name": default_service_name()}


# --- the same from code ---------------------------------------------------------------------------------
def configure(**instrument_kwargs: Any) -> None:
    """Set up OpenTelemetry from the environment and instrument MCP, as ``MCP_OTEL_AUTO_INSTRUMENT`` does.

    ``McpInstrumentor().instrument(**instrument_kwargs)`` runs, unless the application instrumented MCP
    itself already (options replace what the ``MCP_OTEL_AUTO_INSTRUMENT`` hook applied); then the SDK is
    configured from the standard ``OTEL_*`` variables (with the defaults described in this module) unless
    a tracer provider is already set. Instrumenting first gives mcp-otel the API's proxy tracer and meter,
    which follow a provider the application sets later (see mcp_otel.shutdown). Never raises.
    """
    try:
        if disabled():
            return
        from mcp_otel.instrumentor import McpInstrumentor

        instrumentor = McpInstrumentor()
        # Options replace what the start-up hook applied; an application's own instrument() call stays.
        if not instrumentor.is_instrumented_by_opentelemetry or instrumentor.by_autoload:
            instrumentor.instrument(**instrument_kwargs)
        ensure_sdk()
    except Exception:
        _logger().warning("mcp-otel: configure() failed; the application is not affected", exc_info=True)
