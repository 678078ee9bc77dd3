"""Nothing lost at shutdown, no hang at exit (DESIGN trust rule 6) for the providers mcp-otel configured.

Only providers that ``mcp_otel.autoload`` built (``MCP_OTEL_AUTO_INSTRUMENT`` / ``configure()``) are
handled here; an application's own providers are its own business.

* **Exporters** are wrapped in a guard (`ExporterGuard`): the real exporter is built off the critical path
  (gRPC costs ~100 ms to import), its per-batch and per-retry log lines are held back, and failures are
  counted so that exit prints **one** line per signal when something could not be exported.
* **Exit** (`atexit`, SIGTERM, an MCP server that stops): the providers are flushed and shut down within
  ``MCP_OTEL_SHUTDOWN_TIMEOUT`` seconds (default 1). The SDK's own exit handlers are not registered
  (``shutdown_on_exit=False``): the SDK's ``force_flush`` ignores its timeout and the OTLP exporters retry
  for up to ``OTEL_EXPORTER_OTLP_TIMEOUT`` (10 s) against an endpoint that is down (SDK 1.27-1.45).
* **SIGTERM**: uvicorn (and docker, Kubernetes, systemd behind it) stops a server with SIGTERM; uvicorn
  catches it, shuts down gracefully and raises it again with the previous handler restored, so the process
  dies of the signal and ``atexit`` never runs. Our handler flushes and then does what the handler before it
  would have done: calls it, or (default action) dies of the same signal, exit status unchanged.
* **Hand-over**: an application that sets its own tracer or meter provider after mcp-otel configured one
  wins (no "Overriding of current TracerProvider is not allowed"): ours is flushed and shut down and the
  proxies (mcp-otel's, mcp's and FastMCP's tracers and instruments) follow the application's provider.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import signal
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from mcp_otel import semconv

_logger = logging.getLogger("mcp_otel")

DEFAULT_TIMEOUT = 1.0
SIGNAL_NAMES = {"traces": "spans", "metrics": "metric exports", "logs": "log records"}


def shutdown_timeout() -> float:
    """``MCP_OTEL_SHUTDOWN_TIMEOUT`` in seconds (a non-negative number; anything else: the default)."""
    raw = os.environ.get(semconv.ENV_SHUTDOWN_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0.0 or value == float("inf"):  # also rejects nan
        _logger.warning(
            "mcp-otel: ignoring %s=%r (seconds, a number >= 0); using %s",
            semconv.ENV_SHUTDOWN_TIMEOUT,
            raw,
            DEFAULT_TIMEOUT,
        )
        return DEFAULT_TIMEOUT
    return value


# --- exporter guard ------------------------------------------------------------------------------------
_exporting = threading.local()  # .guard: the ExporterGuard exporting in this thread, if any


class _HoldBack(logging.Filter):
    """Drops the exporter's own log records while a guard exports in this thread, keeping the last as the
    cause for the exit summary (the OTLP exporters log every retry and every failed batch)."""

    def filter(self, record: logging.LogRecord) -> bool:
        guard = getattr(_exporting, "guard", None)
        if guard is None:
            return True
        if record.levelno >= logging.WARNING:
            guard.note_cause(record.getMessage())
            guard.retrying = guard.in_flight  # the OTLP exporters log each failed attempt before a retry
            if guard.retrying and guard.exiting:
                # An attempt that began before exit shortened the deadline (hurry) failed: no retry. Its
                # backoff would otherwise hold the provider's shutdown (and exit) until the exit budget runs
                # out: the SDK exporters compute the deadline once per export (SDK 1.27-1.45).
                guard.close()
        return False


_HOLD_BACK = _HoldBack()
# What the OTLP exporters (1.4x) log when they stop retrying: says nothing about why the attempts failed.
_GENERIC = ("max retries or shutdown", "aborting retry", "Exporter already shutdown")


class ExporterGuard:
    """A span, metric or log exporter that builds the real one lazily and fails quietly.

    ``factory()`` builds the real exporter; `build()` runs it (mcp_otel.autoload calls it in a background
    thread right after configuring), else the first export does. Duck-typed for ``BatchSpanProcessor``,
    ``BatchLogRecordProcessor`` and ``PeriodicExportingMetricReader`` (which reads the preferred temporality
    and aggregation at construction, so they are given here).
    """

    def __init__(
        self,
        signal_name: str,
        exporter_name: str,
        factory: Callable[[], Any],
        failure: Any,
        *,
        preferred_temporality: Any = None,
        preferred_aggregation: Any = None,
    ) -> None:
        self.signal = signal_name
        self.exporter_name = exporter_name
        self._factory: Callable[[], Any] | None = factory
        self._failure = failure
        self._inner: Any = None
        self._build_lock = threading.Lock()
        self._closed = False  # exit ran out of time: export nothing more
        self._shut_down = threading.Event()
        self.failed = 0  # items (spans, log records) or exports (metrics) that did not reach the exporter
        self.cause: str | None = None
        self._hurry: float | None = None
        self.in_flight = False
        self.retrying = False  # the export in flight has failed at least once and is waiting to retry
        self._preferred_temporality = preferred_temporality or {}
        self._preferred_aggregation = preferred_aggregation or {}

    # -- building -------------------------------------------------------------------------------------
    def build(self) -> Any:
        if self._inner is not None or self._factory is None or self._shut_down.is_set():
            return self._inner
        with self._build_lock:  # the export that needs it waits for a build in progress
            factory = self._factory
            if factory is None or self._shut_down.is_set():
                return self._inner
            _exporting.guard = self  # what the exporter logs while being built is held back too
            try:
                inner = factory()
                classes = [*type(inner).__mro__, type(getattr(inner, "_client", None))]
                for module in {cls.__module__ for cls in classes}:
                    if module.startswith("opentelemetry."):
                        logging.getLogger(module).addFilter(_HOLD_BACK)
                self._inner = inner
                self._apply_hurry()
                if self._shut_down.is_set():
                    inner.shutdown()
            except Exception as exc:
                self.note_cause(f"could not create the {self.exporter_name} exporter: {exc!r}")
            finally:
                self._factory = None
                _exporting.guard = None
        return self._inner

    def note_cause(self, message: str) -> None:
        if self.cause and any(generic in message for generic in _GENERIC):
            return  # keep the reason an attempt failed, not that retrying stopped
        # The exporters' messages name the endpoint as configured: no userinfo, no query values (rule 4).
        text = re.sub(r"[^\s/@,;()]+@", "", " ".join(message.split()))
        self.cause = re.sub(r"\?[^\s,;)]*", "?REDACTED", text)[:300]

    # -- the exporter interface ------------------------------------------------------------------------
    def export(self, batch: Any, *args: Any, **kwargs: Any) -> Any:
        count = 1 if self.signal == "metrics" else len(batch)
        inner = None if self._closed else self.build()
        if inner is None:
            self.failed += count
            return self._failure
        _exporting.guard = self
        self.in_flight, self.retrying = True, False
        try:
            result = inner.export(batch, *args, **kwargs)
        except Exception as exc:
            self.note_cause(repr(exc))
            result = self._failure
        finally:
            _exporting.guard = None
            self.in_flight = self.retrying = False
        if result == self._failure:
            self.failed += count
        return result

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        inner = self._inner
        flush = getattr(inner, "force_flush", None)
        if flush is None:
            return True
        try:
            return bool(flush(timeout_millis=timeout_millis))
        except Exception:
            return False

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        if self._shut_down.is_set():
            return
        self._shut_down.set()  # not built by now: never (a build in progress shuts it down when done)
        inner = self._inner
        if inner is None:
            return
        exporting = getattr(_exporting, "guard", None)  # set when called from an export in progress
        _exporting.guard = self
        try:
            inner.shutdown()
        except Exception as exc:
            self.note_cause(repr(exc))
        finally:
            _exporting.guard = exporting

    # -- exit --------------------------------------------------------------------------------------------
    @property
    def exiting(self) -> bool:
        """Exit (or the hand-over of its provider) has begun: `hurry` was called."""
        return self._hurry is not None

    def hurry(self, seconds: float) -> None:
        """Exit has begun: from now on one export attempt gets half of ``seconds`` (one attempt and no
        retry with the default: the OTLP exporters' first backoff is 0.8-1.2 s).

        The OTLP exporters keep their per-export deadline in ``_timeout`` (seconds; on the exporter, or on
        its ``_client`` for HTTP in 1.4x) and stop retrying when the next backoff would pass it.
        """
        self._hurry = max(seconds / 2, 0.05)
        self._apply_hurry()
        if self.retrying:  # an export already failing against the endpoint: the rest would fail too
            self.close()

    def _apply_hurry(self) -> None:
        if self._hurry is None:
            return
        for holder in (self._inner, getattr(self._inner, "_client", None)):
            timeout = getattr(holder, "_timeout", None)
            if isinstance(timeout, (int, float)) and timeout > self._hurry:
                try:
                    holder._timeout = self._hurry  # type: ignore[union-attr]
                except Exception:
                    pass

    def close(self) -> None:
        """Exit ran out of time: drop what is left and interrupt a retry in progress."""
        self._closed = True
        self.shutdown()


def build_in_background(guards: list[ExporterGuard]) -> None:
    """Build the exporters off the critical path, and make sure they are built before interpreter exit.

    Exporters cannot be built once interpreter shutdown has begun (the SDK's ``Resource.create`` and gRPC
    submit to a ``ThreadPoolExecutor``, which refuses new work after ``threading``'s exit hooks ran), so a
    ``threading`` exit hook (run before that of ``concurrent.futures``, registered earlier) waits for the
    build; that wait counts against the exit budget (``MCP_OTEL_SHUTDOWN_TIMEOUT``).
    """
    import concurrent.futures.thread  # noqa: F401  (registers its exit hook before ours)

    built = threading.Event()

    def build() -> None:
        try:
            for guard in guards:
                guard.build()
        finally:
            built.set()

    register = getattr(threading, "_register_atexit", None)  # private, Python 3.9+
    if register is not None:
        try:
            register(lambda: built.wait(max(0.0, _exit_deadline() - time.monotonic())))
        except RuntimeError:  # interpreter shutdown already begun
            pass
    threading.Thread(target=build, name="mcp-otel-exporters", daemon=True).start()


# --- the providers mcp-otel configured ---------------------------------------------------------------
class _State:
    def __init__(self) -> None:
        self.providers: dict[str, Any] = {}  # signal -> provider we configured and still own
        self.guards: list[ExporterGuard] = []
        self.lock = threading.Lock()
        self.finished = threading.Event()  # exit shutdown done
        self.exiting = False
        self.atexit_registered = False
        self.previous_handlers: dict[int, Any] = {}
        self.retired: weakref.WeakSet[Any] = weakref.WeakSet()  # SDK tracers of providers handed over
        self.exit_deadline: float | None = None  # monotonic; fixed when exit begins


_state = _State()


def _exit_deadline() -> float:
    """When exit must be done: ``MCP_OTEL_SHUTDOWN_TIMEOUT`` after its first step began."""
    with _state.lock:
        if _state.exit_deadline is None:
            _state.exit_deadline = time.monotonic() + shutdown_timeout()
        return _state.exit_deadline


def manage(providers: dict[str, Any], guards: list[ExporterGuard]) -> None:
    """Take charge of the providers mcp-otel just configured (``{"traces": tp, "metrics": mp, ...}``).

    Called by ``mcp_otel.autoload`` right after setting them as the global providers.
    """
    with _state.lock:
        _state.providers.update({k: v for k, v in providers.items() if v is not None})
        _state.guards.extend(guards)
        if not _state.atexit_registered:
            _state.atexit_registered = True
            atexit.register(_at_exit)
    _install_signal_handler(signal.SIGTERM)
    _install_handover()


def managed() -> dict[str, Any]:
    with _state.lock:
        return dict(_state.providers)


def _bounded(
    work: Callable[[], None], seconds: float, name: str, give_up: Callable[[], bool] | None = None
) -> bool:
    """Run ``work`` in a daemon thread and wait at most ``seconds`` (less once ``give_up()`` is true);
    True when it finished in time."""
    done = threading.Event()

    def run() -> None:
        try:
            work()
        except Exception:
            _logger.debug("mcp-otel: %s failed", name, exc_info=True)
        finally:
            done.set()

    threading.Thread(target=run, name=f"mcp-otel-{name}", daemon=True).start()
    if give_up is None:
        return done.wait(seconds)
    deadline = time.monotonic() + seconds
    while not done.wait(min(0.02, max(0.0, deadline - time.monotonic()))):
        if time.monotonic() >= deadline or give_up():
            return False
    return True


def flush(reason: str = "flush") -> bool:
    """Flush the managed providers, waiting at most ``MCP_OTEL_SHUTDOWN_TIMEOUT``; never raises.

    For an MCP server that stopped (its transport closed): what it recorded leaves the process now, before
    a parent that spawned it (stdio) or an orchestrator (HTTP) ends it.
    """
    try:
        providers = list(managed().values())
        if not providers or _state.exiting:
            return True

        guards = list(_state.guards)

        def work() -> None:
            for provider in providers:
                provider.force_flush()

        # An export that already failed once is retrying against an endpoint that is down: waiting
        # longer would only delay the server's stop (the retry goes on in the background until exit).
        return _bounded(work, shutdown_timeout(), reason, lambda: any(g.retrying for g in guards))
    except Exception:
        _logger.debug("mcp-otel: flush failed", exc_info=True)
        return False


def server_stopped() -> None:
    """An MCP server's transport has closed (stdio server ended, HTTP session manager stopped)."""
    flush("server-stopped")


def shutdown(reason: str = "exit") -> None:
    """Flush and shut down the managed providers within ``MCP_OTEL_SHUTDOWN_TIMEOUT``; once per process.

    Never raises; when an export failed, logs one line per signal (``mcp_otel`` logger, WARNING).
    """
    with _state.lock:
        if _state.exiting:
            wait = True
        else:
            wait = False
            _state.exiting = True
            providers = dict(_state.providers)
            guards = list(_state.guards)
    if wait:  # another thread (or the signal handler's interrupted frame) is shutting down: let it finish
        _state.finished.wait(shutdown_timeout())
        return
    try:
        _shutdown(providers, guards, max(0.0, _exit_deadline() - time.monotonic()), shutdown_timeout())
    except Exception:
        _logger.debug("mcp-otel: shutdown failed", exc_info=True)
    finally:
        _state.finished.set()


def _shutdown(providers: dict[str, Any], guards: list[ExporterGuard], timeout: float, budget: float) -> None:
    """Shut the providers down within ``timeout`` seconds (what is left of ``budget``, for the report)."""
    if not providers:
        return
    deadline = time.monotonic() + timeout
    for guard in guards:
        guard.hurry(timeout)

    def work() -> None:
        for name in ("traces", "logs", "metrics"):  # spans first: they are what users miss most
            provider = providers.get(name)
            if provider is not None:
                provider.shutdown()

    finished = _bounded(work, timeout, "shutdown")
    if not finished:
        for guard in guards:
            guard.close()
        _bounded(lambda: None, max(0.0, min(0.05, deadline - time.monotonic())), "grace")
    _report(guards, finished, budget)


def _report(guards: list[ExporterGuard], finished: bool, timeout: float) -> None:
    """One short line per signal whose export failed (never one per batch or retry)."""
    by_signal: dict[str, list[ExporterGuard]] = {}
    for guard in guards:
        by_signal.setdefault(guard.signal, []).append(guard)
    late = "" if finished else f"; gave up after {semconv.ENV_SHUTDOWN_TIMEOUT}={timeout:g}s"
    reported = False
    for signal_name, group in by_signal.items():
        failed = sum(g.failed for g in group)
        if not failed:
            continue
        reported = True
        cause = next((g.cause for g in group if g.cause), None)
        if cause and len(cause) > 100:
            cause = cause[:99] + "…"
        _logger.warning(
            "mcp-otel: %d %s not exported%s (%s)%s%s",
            failed,
            SIGNAL_NAMES.get(signal_name, signal_name),
            _destination(signal_name),
            ",".join(sorted({g.exporter_name for g in group})),
            late,
            f": {cause}" if cause else "",
        )
    if not reported and not finished:
        _logger.warning("mcp-otel: telemetry export did not finish%s", late)


def _destination(signal_name: str) -> str:
    """`` to host:port`` of the OTLP endpoint for ``signal_name`` (never userinfo, path or query)."""
    from urllib.parse import urlsplit

    raw = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal_name.upper()}_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or ""
    ).strip()
    try:
        parts = urlsplit(raw if "//" in raw else f"//{raw}")
        host = parts.hostname
        return f" to {host}:{parts.port}" if host and parts.port else (f" to {host}" if host else "")
    except ValueError:
        return ""


def _at_exit() -> None:
    shutdown("exit")


# --- SIGTERM ---------------------------------------------------------------------------------------------
def _install_signal_handler(signum: int) -> None:
    """Put our handler in front of the current one (main thread only: Python allows no other)."""
    try:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signum)
        if previous is _on_signal or previous in (signal.SIG_IGN, None):
            return  # an ignored signal stays ignored; None: a handler installed outside Python
        _state.previous_handlers[signum] = previous
        signal.signal(signum, _on_signal)
    except Exception:
        _logger.debug("mcp-otel: no SIGTERM handler", exc_info=True)


def _on_signal(signum: int, frame: Any) -> None:
    """Flush, then whatever the handler before ours would have done."""
    previous = _state.previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        # The application (uvicorn, ...) decides what the signal means and may go on running: flush what
        # is finished now; exit (atexit, or this handler again when uvicorn re-raises) does the rest.
        flush("signal")
        previous(signum, frame)
        return
    shutdown(signal.Signals(signum).name)
    # The default action: die of the same signal, as the process would have without us.
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


# --- hand-over to an application's own provider ------------------------------------------------------
class _HandOverOnce:
    """Stands in for the API's set-once guard while the global provider is the one mcp-otel configured.

    The application's first own ``set_*_provider`` call wins: it runs the API's setter (which, for meters,
    also re-points every proxy instrument), then ours is flushed and shut down; the API's original guard is
    put back, so any later call warns exactly as before.
    """

    def __init__(self, module: Any, attribute: str, signal_name: str) -> None:
        self._module = module
        self._attribute = attribute
        self._original = getattr(module, attribute)
        self._signal = signal_name
        self._lock = threading.Lock()
        self._done = True  # a provider is set (test utilities read the flag)

    def do_once(self, func: Callable[[], None]) -> bool:
        with self._lock:
            if getattr(self._module, self._attribute) is not self:
                return bool(self._original.do_once(func))
            setattr(self._module, self._attribute, self._original)
            func()
        _handed_over(self._signal)
        return True


def _install_handover() -> None:
    try:
        from opentelemetry import trace
        from opentelemetry.metrics import _internal as metrics_internal

        providers = managed()
        targets = [
            (trace, "_TRACER_PROVIDER_SET_ONCE", "traces", "_TRACER_PROVIDER"),
            (metrics_internal, "_METER_PROVIDER_SET_ONCE", "metrics", "_METER_PROVIDER"),
        ]
        for module, once_name, signal_name, current_name in targets:
            ours = providers.get(signal_name)
            once = getattr(module, once_name, None)
            if ours is None or isinstance(once, _HandOverOnce) or once is None:
                continue
            if getattr(module, current_name, None) is ours and hasattr(once, "do_once"):
                setattr(module, once_name, _HandOverOnce(module, once_name, signal_name))
    except Exception:
        _logger.debug("mcp-otel: no provider hand-over", exc_info=True)


def remember_tracer(tracer: Any) -> None:
    """Called by our TracerProvider for each tracer it hands out (to re-point proxies at hand-over)."""
    _tracers_given.add(tracer)


_tracers_given: weakref.WeakSet[Any] = weakref.WeakSet()


def _handed_over(signal_name: str) -> None:
    with _state.lock:
        provider = _state.providers.pop(signal_name, None)
        guards = [g for g in _state.guards if g.signal == signal_name]
        _state.guards = [g for g in _state.guards if g.signal != signal_name]
    if provider is None:
        return
    if signal_name == "traces":
        _repoint_proxy_tracers()
    _logger.debug("mcp-otel: the application set its own %s provider; ours is shut down", signal_name)

    def retire() -> None:
        _shutdown({signal_name: provider}, guards, shutdown_timeout(), shutdown_timeout())

    threading.Thread(target=retire, name="mcp-otel-retire", daemon=True).start()


def _repoint_proxy_tracers() -> None:
    """Proxy tracers cache the tracer of the first provider set: make those that cached ours resolve again."""
    from opentelemetry import trace

    cls = trace.ProxyTracer
    original = cls.__dict__.get("_tracer")
    if not isinstance(original, property) or getattr(original.fget, "_mcp_otel", False):
        return
    retired = set(_tracers_given)
    if not retired:
        return
    _state.retired.update(retired)

    getter = original.fget
    if getter is None:
        return

    def _tracer(self: Any) -> Any:
        real = self.__dict__.get("_real_tracer")
        if real is not None and real in _state.retired:
            self._real_tracer = None
        return getter(self)

    _tracer._mcp_otel = True  # type: ignore[attr-defined]
    cls._tracer = property(_tracer)  # type: ignore[method-assign, assignment]
