"""stdio servers join the client's trace: non-secret settings and the trace context go into the child's env.

mcp's ``stdio_client`` starts the server with a short whitelist of variables (``HOME``, ``LC_CTYPE``,
``PATH``, ``SHELL``, ``TERM`` and their Windows counterparts) plus ``server.env``, on purpose: a stdio
server is often someone else's code (``npx some-server``). The wrapper below calls ``stdio_client`` with a
copy of the caller's ``StdioServerParameters`` whose ``env`` also holds, by allow-list (DESIGN trust rule 3):

* this process's non-secret OpenTelemetry settings (:func:`passed`): exporter endpoints without userinfo,
  query or fragment, protocols, compression, timeouts, exporter and sampler names, propagators, batch /
  interval / limit tuning, ``OTEL_SDK_DISABLED``, the disabled-instrumentations list, the content-capture
  switch, and every ``MCP_OTEL_*`` variable;
* the variables named in ``MCP_OTEL_STDIO_PROPAGATION_EXTRA`` (servers the user trusts with more);
* once the connect phase has started, the trace context of ``mcp.connect`` (``TRACEPARENT``,
  ``TRACESTATE``; the OpenTelemetry environment carrier), injected from a context that holds that span
  only: the application's baggage is never passed (``BAGGAGE`` would carry whatever the app put in it).

Never passed: ``*_HEADERS`` (exporter credentials), ``*_CLIENT_KEY``, ``*_CLIENT_CERTIFICATE``,
``*_CERTIFICATE``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_SERVICE_NAME`` (the server is another service), an
endpoint with userinfo or a query, and any variable not on the list. What the caller set in ``server.env``
always wins. ``MCP_OTEL_STDIO_PROPAGATION=false`` turns the whole thing off; ``MCP_OTEL_PROPAGATE=false``
leaves out the trace context.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from mcp_otel.adapters._client import STDIO_CLIENT, ClientHub, TransportProxy
from mcp_otel.propagation import env_carrier
from mcp_otel.session import ClientSessionRecord, Endpoint
from mcp_otel.telemetry import Telemetry, report_internal_error

# The OpenTelemetry SDK settings that carry no secret (signal-specific variants included). Patterns, not
# compiled: re compiles (and caches) them at the first stdio spawn, not on every instrumented start-up.
_SIGNAL = r"(?:_TRACES|_METRICS|_LOGS)?"
_PASSED = "|".join(
    (
        rf"OTEL_EXPORTER_OTLP{_SIGNAL}_(?:PROTOCOL|COMPRESSION|TIMEOUT|INSECURE)",
        r"OTEL_EXPORTER_OTLP_METRICS_(?:TEMPORALITY_PREFERENCE|DEFAULT_HISTOGRAM_AGGREGATION)",
        r"OTEL_(?:TRACES|METRICS|LOGS)_EXPORTER",
        r"OTEL_TRACES_SAMPLER(?:_ARG)?",
        r"OTEL_PROPAGATORS",
        r"OTEL_(?:BSP|BLRP)_(?:SCHEDULE_DELAY|EXPORT_TIMEOUT|MAX_QUEUE_SIZE|MAX_EXPORT_BATCH_SIZE)",
        r"OTEL_METRIC_EXPORT_(?:INTERVAL|TIMEOUT)",
        r"OTEL_METRICS_EXEMPLAR_FILTER",
        r"OTEL_(?:ATTRIBUTE|SPAN_ATTRIBUTE|SPAN_EVENT|SPAN_LINK|EVENT_ATTRIBUTE|LINK_ATTRIBUTE|"
        r"LOGRECORD_ATTRIBUTE)_(?:COUNT|VALUE_LENGTH)_LIMIT",
        r"OTEL_SDK_DISABLED",
        r"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
        r"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        r"MCP_OTEL_[A-Z0-9_]+",
    )
)
# Exporter endpoints are passed only without userinfo, query or fragment (credentials live there).
_ENDPOINT = rf"OTEL_EXPORTER_(?:OTLP{_SIGNAL}|[A-Z]+)_ENDPOINT"
# The environment-carrier fields that may go (the application's BAGGAGE never does).
_NOT_FROM_CARRIER = frozenset({"BAGGAGE"})


def passed(name: str, value: str) -> bool:
    """Whether this process's variable ``name`` goes into a stdio server's environment."""
    if re.fullmatch(_ENDPOINT, name):
        return _plain_endpoint(value)
    return re.fullmatch(_PASSED, name) is not None


def _plain_endpoint(value: str) -> bool:
    if "?" in value or "#" in value:
        return False
    authority = value.split("://", 1)[-1].split("/", 1)[0]
    return "@" not in authority


def child_environment(
    user_env: Mapping[str, str] | None, environ: Mapping[str, str], extra: Iterable[str] = ()
) -> dict[str, str]:
    """The env for a stdio server: our allowed settings, the named extras, then everything the caller set."""
    env = {k: v for k, v in environ.items() if passed(k, v)}
    for name in extra:
        if name in environ:
            env[name] = environ[name]
    env.update(user_env or {})
    return env


def _with_child_env(
    args: tuple[Any, ...], kwargs: dict[str, Any], extra: Iterable[str]
) -> tuple[Any, Any, dict[str, str] | None, Any]:
    """``stdio_client`` arguments with a copy of the server parameters carrying the child's env."""
    server = STDIO_CLIENT.get(args, kwargs, "server")
    copy = getattr(server, "model_copy", None)
    if copy is None or not hasattr(server, "env"):
        return args, kwargs, None, None
    user_env = server.env if isinstance(server.env, Mapping) else None
    env = child_environment(user_env, os.environ, extra)
    # model_copy(update=...) does not validate: the new object holds this very dict, which the connect
    # phase completes with the trace context before stdio_client reads it.
    replaced = copy(update={"env": env})
    call_args, call_kwargs = STDIO_CLIENT.replace(args, kwargs, "server", replaced)
    return call_args, call_kwargs, env, user_env


def _add_trace_context(
    telemetry: Telemetry, env: dict[str, str], user_keys: frozenset[str], record: ClientSessionRecord | None
) -> None:
    """TRACEPARENT & co. of ``mcp.connect`` (the spawn), else of the session, else of the caller."""
    if not telemetry.config.propagate:
        return
    span = None
    if record is not None:
        span = record.connect_span or record.span
    if span is None:
        span = trace.get_current_span()
    # A context holding the span only: the application's baggage (and anything else in its context) stays.
    context = trace.set_span_in_context(span, otel_context.Context())
    for key, value in env_carrier(context).items():
        if key not in user_keys and key not in _NOT_FROM_CARRIER:
            env[key] = value


def stdio_transport_wrapper(
    hub: ClientHub,
    describe: Callable[[tuple[Any, ...], dict[str, Any]], Endpoint],
    on_streams: Callable[[Any, ClientSessionRecord], None] | None = None,
) -> Callable[..., Any]:
    """A wrapt wrapper for ``stdio_client``: ``transport_wrapper`` plus the child's environment."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call_args, call_kwargs, env, user_env = args, kwargs, None, None
        if hub.telemetry.config.stdio_propagation:
            try:
                call_args, call_kwargs, env, user_env = _with_child_env(
                    args, kwargs, hub.telemetry.config.stdio_propagation_extra
                )
            except Exception:
                report_internal_error("stdio_transport_wrapper")
                call_args, call_kwargs, env = args, kwargs, None
        cm = wrapped(*call_args, **call_kwargs)
        try:
            on_enter = None
            if env is not None:
                user_keys = frozenset(user_env or ())
                telemetry = hub.telemetry

                def on_enter(record: ClientSessionRecord | None) -> None:
                    _add_trace_context(telemetry, env, user_keys, record)

            return TransportProxy(cm, hub, describe(args, kwargs), on_streams, on_enter)
        except Exception:
            report_internal_error("stdio_transport_wrapper")
            return cm

    return wrapper
