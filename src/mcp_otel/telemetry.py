"""The only module that touches the OpenTelemetry Tracer and Meter, plus the never-raise guard."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import metrics, trace

from mcp_otel import scrub, semconv
from mcp_otel.bounds import NameBook
from mcp_otel.config import Config
from mcp_otel.errors import ErrorInfo, description
from mcp_otel.version import __version__

_logger = logging.getLogger("mcp_otel")
_reported: set[str] = set()

F = TypeVar("F", bound=Callable[..., Any])


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


class Telemetry:
    """Tracer, meter and instruments of one ``instrument()`` call, with the frozen config."""

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
        meter = metrics.get_meter(
            semconv.SCOPE_NAME, __version__, meter_provider, schema_url=semconv.SCHEMA_URL
        )
        self.meter = meter
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

        from mcp_otel.retry import RetryDetector

        # Tool and prompt names metrics may carry (bounds.py): the client's own, the server's registered.
        self.client_names = NameBook(registered_only=False)
        self.server_names = NameBook(registered_only=True)

        self.retries = RetryDetector(config.retry_window)

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
