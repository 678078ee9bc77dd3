"""stdio servers join the client's trace: settings and trace context go into the child's environment.

mcp's ``stdio_client`` starts the server with a short whitelist of variables plus ``server.env``, so
neither the OpenTelemetry settings nor ``MCP_OTEL_AUTO_INSTRUMENT`` reach it. The wrapper below calls
``stdio_client`` with a copy of the caller's ``StdioServerParameters`` whose ``env`` also holds this
process's ``OTEL_*`` and ``MCP_OTEL_*`` variables and, once the connect phase has started, the trace
context of ``mcp.connect`` as ``TRACEPARENT``/``TRACESTATE``/``BAGGAGE`` (the OpenTelemetry environment
carrier). A Python server with mcp-otel installed then exports into the same trace without code.

What the caller set in ``server.env`` always wins. ``OTEL_SERVICE_NAME`` (and ``service.name`` in
``OTEL_RESOURCE_ATTRIBUTES``) are not passed on: the server is another service. ``MCP_OTEL_STDIO_PROPAGATION
=false`` turns the whole thing off; ``MCP_OTEL_PROPAGATE=false`` leaves out the trace context.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace

from mcp_otel.adapters._client import STDIO_CLIENT, ClientHub, TransportProxy
from mcp_otel.propagation import env_carrier
from mcp_otel.session import ClientSessionRecord, Endpoint
from mcp_otel.telemetry import Telemetry, report_internal_error

_PREFIXES = ("OTEL_", "MCP_OTEL_")
_NOT_PASSED = frozenset({"OTEL_SERVICE_NAME"})


def child_environment(user_env: Mapping[str, str] | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The env for a stdio server: our OTEL_*/MCP_OTEL_* variables, then everything the caller set."""
    env = {k: v for k, v in environ.items() if k.startswith(_PREFIXES) and k not in _NOT_PASSED}
    resource = env.get("OTEL_RESOURCE_ATTRIBUTES")
    if resource is not None:
        kept = [p for p in resource.split(",") if p.split("=", 1)[0].strip() != "service.name"]
        if any(p.strip() for p in kept):
            env["OTEL_RESOURCE_ATTRIBUTES"] = ",".join(kept)
        else:
            del env["OTEL_RESOURCE_ATTRIBUTES"]
    env.update(user_env or {})
    return env


def _with_child_env(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, Any, dict[str, str] | None, Any]:
    """``stdio_client`` arguments with a copy of the server parameters carrying the child's env."""
    server = STDIO_CLIENT.get(args, kwargs, "server")
    copy = getattr(server, "model_copy", None)
    if copy is None or not hasattr(server, "env"):
        return args, kwargs, None, None
    user_env = server.env if isinstance(server.env, Mapping) else None
    env = child_environment(user_env, os.environ)
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
    context = trace.set_span_in_context(span) if span is not None else None
    for key, value in env_carrier(context).items():
        if key not in user_keys:
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
                call_args, call_kwargs, env, user_env = _with_child_env(args, kwargs)
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
