"""Every span, attribute, metric and environment-variable name mcp-otel uses, in one place.

The MCP names follow the OpenTelemetry MCP semantic conventions (status: Development). We keep them here
rather than importing ``opentelemetry.semconv._incubating``: in semantic-conventions 0.66b2 the ``mcp.*``
constants are private and already marked as moving to semantic-conventions-genai. Everything the conventions
do not define lives under the ``mcp_otel.`` prefix.
"""

from __future__ import annotations

from typing import Final

SCOPE_NAME: Final = "mcp_otel"
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.37.0"

# --- span names -----------------------------------------------------------------------------------
SPAN_SESSION: Final = "mcp.session"
SPAN_CONNECT: Final = "mcp.connect"
SPAN_CLEANUP: Final = "mcp.cleanup"
SPAN_AUTH: Final = "mcp.auth"

# --- semantic-convention attributes ---------------------------------------------------------------
MCP_METHOD_NAME: Final = "mcp.method.name"
MCP_PROTOCOL_VERSION: Final = "mcp.protocol.version"
MCP_SESSION_ID: Final = "mcp.session.id"
MCP_RESOURCE_URI: Final = "mcp.resource.uri"
JSONRPC_REQUEST_ID: Final = "jsonrpc.request.id"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
NETWORK_TRANSPORT: Final = "network.transport"
NETWORK_PROTOCOL_NAME: Final = "network.protocol.name"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
CLIENT_ADDRESS: Final = "client.address"
CLIENT_PORT: Final = "client.port"
ERROR_TYPE: Final = "error.type"
RPC_RESPONSE_STATUS_CODE: Final = "rpc.response.status_code"
# The OpenTelemetry exception event (one per span whose request ended in an exception; content rule: telemetry.py)
EVENT_EXCEPTION: Final = "exception"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"

OPERATION_EXECUTE_TOOL: Final = "execute_tool"

# What replaces every query value of a recorded URL or URI (scrub.py).
REDACTED: Final = "REDACTED"

# --- mcp-otel extension attributes ----------------------------------------------------------------
TRANSPORT: Final = "mcp_otel.transport"
SERVER_NAME: Final = "mcp_otel.server.name"
SERVER_VERSION: Final = "mcp_otel.server.version"
SESSION_REQUESTS: Final = "mcp_otel.session.requests"
SESSION_ERRORS: Final = "mcp_otel.session.errors"
SESSION_TIMEOUTS: Final = "mcp_otel.session.timeouts"
SESSION_LEAKED_STREAMS: Final = "mcp_otel.session.leaked_streams"
SESSION_END_REASON: Final = "mcp_otel.session.end_reason"
REQUEST_TIMEOUT: Final = "mcp_otel.request.timeout"
RETRY_ATTEMPT: Final = "mcp_otel.retry.attempt"
RETRY_MAX_ATTEMPTS: Final = "mcp_otel.retry.max_attempts"

# span events
EVENT_STREAM_LEAKED: Final = "mcp_otel.stream.leaked"
EVENT_CANCEL_SENT: Final = "mcp_otel.cancel.sent"
STREAM_TYPE: Final = "mcp_otel.stream.type"
CANCEL_REASON: Final = "mcp_otel.cancel.reason"
CODE_FILEPATH: Final = "code.file.path"
CODE_LINENO: Final = "code.line.number"
CODE_FUNCTION: Final = "code.function.name"

# lifecycle beyond request/response (DESIGN "Lifecycle beyond request/response")
EVENT_RECONNECT: Final = "mcp_otel.reconnect"
RECONNECT_ATTEMPT: Final = "mcp_otel.reconnect.attempt"
RECONNECT_RESUMED: Final = "mcp_otel.reconnect.resumed"
RECONNECT_STREAM: Final = "mcp_otel.reconnect.stream"  # "get" (standalone stream) or "post" (a request's)
SESSION_RECONNECTS: Final = "mcp_otel.session.reconnects"
# The client stopped reconnecting its GET stream (mcp's MAX_RECONNECTION_ATTEMPTS): server-initiated
# messages no longer arrive for the rest of the session.
SESSION_RECONNECT_GAVE_UP: Final = "mcp_otel.session.reconnect_gave_up"
EVENT_PROGRESS: Final = "mcp_otel.progress"
PROGRESS_VALUE: Final = "mcp_otel.progress.value"
PROGRESS_TOTAL: Final = "mcp_otel.progress.total"
PROGRESS_MESSAGE: Final = "mcp_otel.progress.message"
EVENT_LOG: Final = "mcp_otel.log"
LOG_LEVEL: Final = "mcp_otel.log.level"
LOG_LOGGER: Final = "mcp_otel.log.logger"
LOG_DATA: Final = "mcp_otel.log.data"
EVENT_LIST_CHANGED: Final = "mcp_otel.list_changed"
LIST_CHANGED_KIND: Final = "mcp_otel.list_changed.kind"
# Lifecycle events a span did not get because it reached its cap (a chatty server cannot grow a span).
EVENTS_DROPPED: Final = "mcp_otel.events.dropped"
AUTH_STEP: Final = "mcp_otel.auth.step"

# mcp_otel.auth.step values (one mcp.auth span per OAuth flow mcp's OAuthClientProvider runs)
AUTH_STEP_DISCOVERY: Final = "discovery"
AUTH_STEP_REFRESH: Final = "refresh"
AUTH_STEP_AUTHORIZATION: Final = "authorization"

# transports (mcp_otel.transport values)
TRANSPORT_STDIO: Final = "stdio"
TRANSPORT_SSE: Final = "sse"
TRANSPORT_STREAMABLE_HTTP: Final = "streamable-http"
TRANSPORT_WEBSOCKET: Final = "websocket"
TRANSPORT_MEMORY: Final = "memory"

# session end reasons
END_CLOSED: Final = "closed"
END_ERROR: Final = "error"
END_CANCELLED: Final = "cancelled"
END_TERMINATED: Final = "terminated"

# error.type values we define
ERROR_TOOL: Final = "tool_error"
ERROR_TIMEOUT: Final = "timeout"
ERROR_SESSION_TERMINATED: Final = "session_terminated"
ERROR_CONNECTION_CLOSED: Final = "connection_closed"
ERROR_CANCELLED: Final = "cancelled"
ERROR_UNAUTHORIZED: Final = "unauthorized"
ERROR_FORBIDDEN: Final = "forbidden"
ERROR_OTHER: Final = "_OTHER"

# --- bounded sets (DESIGN trust rule 5): peer-supplied metric attribute values outside them become _OTHER ---
OTHER: Final = "_OTHER"
# Every method of the MCP revisions 2024-11-05 ... 2026-07-28 (requests and notifications, both directions):
# a name in MCP_OTEL_EXCLUDED_METHODS outside it is most likely a typo (config.py warns); in metrics a
# method outside it is _OTHER (bounds.py).
MCP_METHODS: Final = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "subscriptions/listen",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "logging/setLevel",
        "completion/complete",
        "sampling/createMessage",
        "elicitation/create",
        "roots/list",
        "tasks/get",
        "tasks/result",
        "tasks/list",
        "tasks/cancel",
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/message",
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
        "notifications/resources/list_changed",
        "notifications/resources/updated",
        "notifications/roots/list_changed",
        "notifications/elicitation/complete",
        "notifications/tasks/status",
        "notifications/subscriptions/acknowledged",
    }
)
# The released protocol revisions (mcp_types.version.KNOWN_PROTOCOL_VERSIONS of mcp 2.3).
PROTOCOL_VERSIONS: Final = frozenset({"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"})
# JSON-RPC codes kept as metric values (error.type, rpc.response.status_code): the range JSON-RPC reserves
# (-32768..-32000, which holds every code the MCP SDKs use), 0 (mcp 1.x's handler errors), and mcp 1.x's
# local 408 (timeout) and +32600 (session terminated). Other codes a peer sends become _OTHER.
JSONRPC_RESERVED_CODES: Final = range(-32768, -31999)
JSONRPC_EXTRA_CODES: Final = frozenset({0, 408, 32600})

# Server-side caller errors: recorded as error.type but not as span status ERROR (semconv common.yaml).
CALLER_ERROR_CODES: Final = frozenset({-32700, -32600, -32601, -32602, -32002})

# --- metrics --------------------------------------------------------------------------------------
METRIC_CLIENT_OPERATION_DURATION: Final = "mcp.client.operation.duration"
METRIC_SERVER_OPERATION_DURATION: Final = "mcp.server.operation.duration"
METRIC_CLIENT_SESSION_DURATION: Final = "mcp.client.session.duration"
METRIC_SERVER_SESSION_DURATION: Final = "mcp.server.session.duration"
METRIC_CLIENT_SESSIONS_ACTIVE: Final = "mcp_otel.client.sessions.active"
METRIC_SERVER_SESSIONS_ACTIVE: Final = "mcp_otel.server.sessions.active"
METRIC_CLIENT_STREAMS_LEAKED: Final = "mcp_otel.client.streams.leaked"
METRIC_CLIENT_RETRIES: Final = "mcp_otel.client.retries"
METRIC_CLIENT_RECONNECTS: Final = "mcp_otel.client.reconnects"

UNIT_SECONDS: Final = "s"
UNIT_SESSION: Final = "{session}"
UNIT_STREAM: Final = "{stream}"
UNIT_RETRY: Final = "{retry}"
UNIT_RECONNECT: Final = "{reconnect}"

DURATION_BUCKETS: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)

# Low-cardinality keys copied from a request span onto the operation-duration metric.
OPERATION_METRIC_KEYS: Final = (
    MCP_METHOD_NAME,
    ERROR_TYPE,
    GEN_AI_TOOL_NAME,
    GEN_AI_PROMPT_NAME,
    GEN_AI_OPERATION_NAME,
    RPC_RESPONSE_STATUS_CODE,
    MCP_PROTOCOL_VERSION,
    NETWORK_TRANSPORT,
    NETWORK_PROTOCOL_NAME,
    SERVER_ADDRESS,
    SERVER_PORT,
)
# The session-duration metrics carry no network.transport (nor network.protocol.version): one session's
# requests may travel differently (semantic-conventions-genai PR #453, "Remove per-operation transport
# details from MCP session-duration metrics"); the endpoint and network.protocol.name stay.
SESSION_METRIC_KEYS: Final = (
    ERROR_TYPE,
    MCP_PROTOCOL_VERSION,
    NETWORK_PROTOCOL_NAME,
    SERVER_ADDRESS,
    SERVER_PORT,
)

# --- environment variables ------------------------------------------------------------------------
ENV_CAPTURE_CONTENT: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_EXCLUDED_METHODS: Final = "MCP_OTEL_EXCLUDED_METHODS"
ENV_PROPAGATE: Final = "MCP_OTEL_PROPAGATE"
ENV_AUTO_INSTRUMENT: Final = "MCP_OTEL_AUTO_INSTRUMENT"
ENV_STDIO_PROPAGATION: Final = "MCP_OTEL_STDIO_PROPAGATION"
ENV_STDIO_PROPAGATION_EXTRA: Final = "MCP_OTEL_STDIO_PROPAGATION_EXTRA"
ENV_DISABLED_INSTRUMENTATIONS: Final = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
ENV_RETRY_WINDOW: Final = "MCP_OTEL_RETRY_WINDOW"
ENV_TRACK_STREAMS: Final = "MCP_OTEL_TRACK_STREAMS"
ENV_CAPTURE_LEAK_ORIGIN: Final = "MCP_OTEL_CAPTURE_LEAK_ORIGIN"
ENV_DETECT_RESULT_ERRORS: Final = "MCP_OTEL_DETECT_RESULT_ERRORS"
ENV_MAX_SPAN_EVENTS: Final = "MCP_OTEL_MAX_SPAN_EVENTS"
ENV_SHUTDOWN_TIMEOUT: Final = "MCP_OTEL_SHUTDOWN_TIMEOUT"  # seconds that exit may spend flushing (default 1)


_MAX_NAME_PART = 128


def span_name(method: str, target: str | None) -> str:
    """The conventions' span name: ``{mcp.method.name} {target}``, or the method alone (each part bounded:
    both come from the wire)."""
    method = method[:_MAX_NAME_PART]
    return f"{method} {target[:_MAX_NAME_PART]}" if target else method
