"""A runnable MCP server with the same tools, prompt and resource in every flavour, for tests.

    python tests/servers/mcp_server.py --flavour F --transport T [--port N] [--idle-timeout S] [--stateless]
                                       [--instrument]

Flavours (the mcp major version is read with importlib.metadata):

* ``lowlevel``: mcp's low-level ``Server`` (v1: ``@server.call_tool()`` decorators;
  v2: ``Server(on_call_tool=...)``).
* ``sdk``: v1 ``mcp.server.fastmcp.FastMCP``; v2 ``mcp.server.mcpserver.MCPServer``.
* ``fastmcp``: the ``fastmcp`` package (3.x on mcp 1.x, 4.x on mcp 2.x), when installed.

Transports: ``stdio``; ``streamable-http`` (uvicorn on 127.0.0.1:PORT, path ``/mcp``, stateful unless
``--stateless``); ``sse`` (path ``/sse``, messages under ``/messages/``). Nothing is ever printed to stdout
(stdout is the stdio protocol); logs go to stderr.

Tools (identical names, arguments and results in every flavour):

* ``add(a: int, b: int) -> int``, ``echo(text: str) -> str``, ``slow(seconds: float) -> "done"``.
* ``fail_tool()``: a tool error result, text ``tool failed`` (isError=True):
  lowlevel v1 returns ``CallToolResult(isError=True)`` (on mcp < 1.14, which cannot return a
  ``CallToolResult``, it raises, which the decorator also turns into isError with the same text);
  lowlevel v2 returns ``CallToolResult(is_error=True)``; sdk and fastmcp raise ``ToolError("tool failed")``.
* ``raise_tool()``: raises ``ValueError("kaboom")`` inside the tool. What each flavour makes of it:

  ==================  ===========================================================================
  lowlevel v1         isError=True, text ``kaboom`` (the ``call_tool`` decorator catches everything)
  lowlevel v2         JSON-RPC error (no wrapper): code 0 ``kaboom`` on the handshake (legacy) path,
                      -32603 ``Internal server error`` on the 2026-07-28 (modern) path
  sdk v1 (FastMCP)    isError=True, text ``Error executing tool raise_tool: kaboom``
  sdk v2 (MCPServer)  isError=True, text ``Error executing tool raise_tool`` (detail only in the server log)
  fastmcp 3.x         isError=True, text ``Error calling tool 'raise_tool': kaboom``
  fastmcp 4.x         isError=True, text ``Error calling tool 'raise_tool': kaboom``
  ==================  ===========================================================================

  (``raise_tool_outcome()`` in tests/support/servers.py holds this table; the infra tests check it.)
* ``whoami()``: the transport's session id as the server sees it: the ``mcp-session-id`` header on stateful
  streamable HTTP, the ``session_id`` query parameter of the POST on SSE, ``""`` when there is none (stdio,
  stateless HTTP).
* ``soft_fail()``: returns ``{"success": False, "error": "db down"}`` as a normal result (no isError).

Prompt ``greet(name)`` (one user message ``Hello, {name}!``) and resource ``res://hello`` (text ``hello``).

JSON-RPC error replies: ``resources/read`` of ``res://missing`` and ``prompts/get`` of an unknown prompt; the
codes per flavour are in ``jsonrpc_error_codes()`` in tests/support/servers.py (checked by the infra tests).

``--instrument``: configure an OTLP exporter from the standard environment variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_PROTOCOL`` = ``grpc`` (default) or ``http/protobuf``,
``OTEL_METRIC_EXPORT_INTERVAL`` in ms, default 1000 here) with a TracerProvider (BatchSpanProcessor) and a
MeterProvider (PeriodicExportingMetricReader), set as the global providers and passed to
``McpInstrumentor().instrument(tracer_provider=..., meter_provider=...)`` before the server is built.
Providers are flushed and shut down at exit (SIGTERM exits through ``sys.exit(0)`` so atexit runs).
``OTEL_BSP_SCHEDULE_DELAY`` defaults to 200 ms here.

``--reject-get-stream`` answers 405 to ``GET /mcp``: an open GET stream counts as a request in flight, so only
then does ``--idle-timeout`` end a session that a stock client keeps open.
"""

import argparse
import atexit
import importlib.metadata
import importlib.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio

log = logging.getLogger("mcp_server")

MCP_VERSION = importlib.metadata.version("mcp")
MCP_MAJOR = int(MCP_VERSION.split(".")[0])
HAS_FASTMCP = importlib.util.find_spec("fastmcp") is not None

FLAVOURS = ("lowlevel", "sdk", "fastmcp")
TRANSPORTS = ("stdio", "streamable-http", "sse")

TOOL_SCHEMAS: dict[str, dict[str, Any]] = {
    "add": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
    "echo": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    "fail_tool": {"type": "object", "properties": {}},
    "raise_tool": {"type": "object", "properties": {}},
    "slow": {"type": "object", "properties": {"seconds": {"type": "number"}}, "required": ["seconds"]},
    "whoami": {"type": "object", "properties": {}},
    "soft_fail": {"type": "object", "properties": {}},
}
TOOL_DESCRIPTIONS = {
    "add": "Add two integers.",
    "echo": "Return the text unchanged.",
    "fail_tool": "Return a tool error result (isError).",
    "raise_tool": "Raise ValueError('kaboom') inside the tool.",
    "slow": "Sleep for `seconds`, then return 'done'.",
    "whoami": "Return the transport session id as the server sees it ('' if none).",
    "soft_fail": "Return {'success': False, 'error': 'db down'} as a normal result.",
}
SOFT_FAIL = {"success": False, "error": "db down"}
RESOURCE_URI = "res://hello"
RESOURCE_TEXT = "hello"
RESOURCE_NOT_FOUND = -32002  # the spec's code for an unknown resource (used by the lowlevel flavours)
INVALID_PARAMS = -32602


def session_id_from_request(request: Any) -> str:
    """The session id carried by an HTTP request (Starlette ``Request``), or ``""``."""
    if request is None:
        return ""
    try:
        sid = request.headers.get("mcp-session-id")
        if sid:
            return str(sid)
        return str(request.query_params.get("session_id") or "")
    except AttributeError:
        return ""


def greeting(name: str) -> str:
    return f"Hello, {name}!"


# ------------------------------------------------------------------------------------------------
# Flavours. Each builder returns a Flavour with `run_stdio()` (async) and `http_app(...)` (an ASGI app).
# ------------------------------------------------------------------------------------------------


class Flavour:
    def __init__(
        self,
        run_stdio: Callable[[], Any],
        http_app: Callable[[str, bool, float | None], Any],
    ) -> None:
        self.run_stdio = run_stdio
        self.http_app = http_app


def _lowlevel_http_app(server: Any, transport: str, stateless: bool, idle_timeout: float | None) -> Any:
    """Starlette app around a low-level ``Server`` (both lines) for streamable HTTP or SSE."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    if transport == "streamable-http":
        if MCP_MAJOR >= 2:
            kwargs: dict[str, Any] = {"streamable_http_path": "/mcp", "stateless_http": stateless}
            if idle_timeout is not None:
                kwargs["session_idle_timeout"] = idle_timeout
            return server.streamable_http_app(**kwargs)

        from contextlib import asynccontextmanager

        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        mgr_kwargs: dict[str, Any] = {"app": server, "stateless": stateless}
        if idle_timeout is not None:
            if not _supports_idle_timeout("lowlevel"):
                raise SystemExit(f"--idle-timeout is not supported by mcp {MCP_VERSION}")
            mgr_kwargs["session_idle_timeout"] = idle_timeout
        manager = StreamableHTTPSessionManager(**mgr_kwargs)

        class _Endpoint:
            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                await manager.handle_request(scope, receive, send)

        @asynccontextmanager
        async def lifespan(app: Any) -> Any:
            async with manager.run():
                yield

        return Starlette(routes=[Route("/mcp", endpoint=_Endpoint())], lifespan=lifespan)

    from mcp.server.sse import SseServerTransport

    sse = SseServerTransport("/messages/")

    async def handle_sse(request: Any) -> Response:
        async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return Response()

    return Starlette(
        routes=[Route("/sse", endpoint=handle_sse), Mount("/messages/", app=sse.handle_post_message)]
    )


async def _lowlevel_stdio(server: Any) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def build_lowlevel_v1() -> Flavour:
    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.server.lowlevel.helper_types import ReadResourceContents
    from mcp.shared.exceptions import McpError

    server: Any = Server("mcp-otel-test-lowlevel")
    can_return_result = _v1_can_return_result()

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [
            types.Tool(name=n, description=TOOL_DESCRIPTIONS[n], inputSchema=s)
            for n, s in TOOL_SCHEMAS.items()
        ]

    @server.call_tool()
    async def call_tool(name: str, arguments: dict[str, Any]) -> Any:
        def text(value: Any) -> list[types.TextContent]:
            return [types.TextContent(type="text", text=str(value))]

        if name == "add":
            return text(int(arguments["a"]) + int(arguments["b"]))
        if name == "echo":
            return text(arguments["text"])
        if name == "fail_tool":
            if can_return_result:
                return types.CallToolResult(content=text("tool failed"), isError=True)
            raise RuntimeError("tool failed")
        if name == "raise_tool":
            raise ValueError("kaboom")
        if name == "slow":
            await anyio.sleep(float(arguments["seconds"]))
            return text("done")
        if name == "whoami":
            return text(session_id_from_request(server.request_context.request))
        if name == "soft_fail":
            return dict(SOFT_FAIL)
        raise ValueError(f"Unknown tool: {name}")

    @server.list_prompts()
    async def list_prompts() -> list[types.Prompt]:
        return [
            types.Prompt(
                name="greet",
                description="Greet someone.",
                arguments=[types.PromptArgument(name="name", required=True)],
            )
        ]

    @server.get_prompt()
    async def get_prompt(name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
        if name != "greet":
            raise McpError(types.ErrorData(code=INVALID_PARAMS, message=f"Unknown prompt: {name}"))
        who = (arguments or {}).get("name", "world")
        return types.GetPromptResult(
            messages=[
                types.PromptMessage(role="user", content=types.TextContent(type="text", text=greeting(who)))
            ]
        )

    @server.list_resources()
    async def list_resources() -> list[types.Resource]:
        return [types.Resource(uri=RESOURCE_URI, name="hello", mimeType="text/plain")]  # type: ignore[arg-type]

    @server.read_resource()
    async def read_resource(uri: Any) -> list[ReadResourceContents]:
        if str(uri) != RESOURCE_URI:
            raise McpError(types.ErrorData(code=RESOURCE_NOT_FOUND, message=f"Resource not found: {uri}"))
        return [ReadResourceContents(content=RESOURCE_TEXT, mime_type="text/plain")]

    return Flavour(
        run_stdio=lambda: _lowlevel_stdio(server),
        http_app=lambda transport, stateless, idle: _lowlevel_http_app(server, transport, stateless, idle),
    )


def _v1_can_return_result() -> bool:
    """Newer mcp 1.x lets a low-level call_tool handler return a CallToolResult directly (1.12 cannot)."""
    import inspect

    from mcp.server.lowlevel import Server

    return "CallToolResult)" in inspect.getsource(Server.call_tool)


def build_lowlevel_v2() -> Flavour:
    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError

    def text(value: Any) -> list[types.TextContent]:
        return [types.TextContent(type="text", text=str(value))]

    async def on_list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(name=n, description=TOOL_DESCRIPTIONS[n], input_schema=s)
                for n, s in TOOL_SCHEMAS.items()
            ]
        )

    async def on_call_tool(ctx: Any, params: Any) -> types.CallToolResult:
        name, arguments = params.name, params.arguments or {}
        if name == "add":
            return types.CallToolResult(content=text(int(arguments["a"]) + int(arguments["b"])))
        if name == "echo":
            return types.CallToolResult(content=text(arguments["text"]))
        if name == "fail_tool":
            return types.CallToolResult(content=text("tool failed"), is_error=True)
        if name == "raise_tool":
            raise ValueError("kaboom")
        if name == "slow":
            await anyio.sleep(float(arguments["seconds"]))
            return types.CallToolResult(content=text("done"))
        if name == "whoami":
            return types.CallToolResult(content=text(session_id_from_request(ctx.request)))
        if name == "soft_fail":
            import json

            return types.CallToolResult(
                content=text(json.dumps(SOFT_FAIL)), structured_content=dict(SOFT_FAIL)
            )
        return types.CallToolResult(content=text(f"Unknown tool: {name}"), is_error=True)

    async def on_list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
        return types.ListPromptsResult(
            prompts=[
                types.Prompt(
                    name="greet",
                    description="Greet someone.",
                    arguments=[types.PromptArgument(name="name", required=True)],
                )
            ]
        )

    async def on_get_prompt(ctx: Any, params: Any) -> types.GetPromptResult:
        if params.name != "greet":
            raise MCPError(INVALID_PARAMS, f"Unknown prompt: {params.name}")
        who = (params.arguments or {}).get("name", "world")
        return types.GetPromptResult(
            messages=[
                types.PromptMessage(role="user", content=types.TextContent(type="text", text=greeting(who)))
            ]
        )

    async def on_list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[types.Resource(uri=RESOURCE_URI, name="hello", mime_type="text/plain")]
        )

    async def on_read_resource(ctx: Any, params: Any) -> types.ReadResourceResult:
        if str(params.uri) != RESOURCE_URI:
            raise MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {params.uri}")
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(uri=RESOURCE_URI, mime_type="text/plain", text=RESOURCE_TEXT)
            ]
        )

    server: Any = Server(
        "mcp-otel-test-lowlevel",
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_list_prompts=on_list_prompts,
        on_get_prompt=on_get_prompt,
        on_list_resources=on_list_resources,
        on_read_resource=on_read_resource,
    )
    return Flavour(
        run_stdio=lambda: _lowlevel_stdio(server),
        http_app=lambda transport, stateless, idle: _lowlevel_http_app(server, transport, stateless, idle),
    )


def _register_decorated(app: Any, tool_error: type[Exception], context_cls: Any, request_of: Any) -> None:
    """Register the tools, prompt and resource on a decorator-style app (mcp FastMCP, MCPServer, fastmcp)."""

    @app.tool(description=TOOL_DESCRIPTIONS["add"])
    async def add(a: int, b: int) -> int:
        return a + b

    @app.tool(description=TOOL_DESCRIPTIONS["echo"])
    async def echo(text: str) -> str:
        return text

    @app.tool(description=TOOL_DESCRIPTIONS["fail_tool"])
    async def fail_tool() -> str:
        raise tool_error("tool failed")

    @app.tool(description=TOOL_DESCRIPTIONS["raise_tool"])
    async def raise_tool() -> str:
        raise ValueError("kaboom")

    @app.tool(description=TOOL_DESCRIPTIONS["slow"])
    async def slow(seconds: float) -> str:
        await anyio.sleep(seconds)
        return "done"

    @app.tool(description=TOOL_DESCRIPTIONS["whoami"])
    async def whoami(ctx: context_cls) -> str:  # type: ignore[valid-type]
        return session_id_from_request(request_of(ctx))

    @app.tool(description=TOOL_DESCRIPTIONS["soft_fail"])
    async def soft_fail() -> dict[str, Any]:
        return dict(SOFT_FAIL)

    @app.prompt(description="Greet someone.")
    def greet(name: str) -> str:
        return greeting(name)

    @app.resource(RESOURCE_URI, name="hello", mime_type="text/plain")
    def hello() -> str:
        return RESOURCE_TEXT


def _request_via_request_context(ctx: Any) -> Any:
    try:
        return ctx.request_context.request
    except (AttributeError, ValueError, LookupError):
        return None


def build_sdk_v1(idle_timeout: float | None, stateless: bool) -> Flavour:
    from mcp.server.fastmcp import Context, FastMCP
    from mcp.server.fastmcp.exceptions import ToolError

    kwargs: dict[str, Any] = {"stateless_http": stateless, "log_level": "WARNING"}
    if idle_timeout is not None:
        if not _supports_idle_timeout("sdk"):
            raise SystemExit(f"--idle-timeout is not supported by mcp {MCP_VERSION}'s FastMCP")
        kwargs["session_idle_timeout"] = idle_timeout
    app = FastMCP("mcp-otel-test-sdk", **kwargs)
    _register_decorated(app, ToolError, Context, _request_via_request_context)

    def http_app(transport: str, stateless_: bool, idle: float | None) -> Any:
        return app.streamable_http_app() if transport == "streamable-http" else app.sse_app()

    return Flavour(run_stdio=app.run_stdio_async, http_app=http_app)


def build_sdk_v2() -> Flavour:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    app = MCPServer("mcp-otel-test-sdk")
    _register_decorated(app, ToolError, Context, _request_via_request_context)

    def http_app(transport: str, stateless: bool, idle: float | None) -> Any:
        if transport == "sse":
            return app.sse_app()
        kwargs: dict[str, Any] = {"streamable_http_path": "/mcp", "stateless_http": stateless}
        if idle is not None:
            kwargs["session_idle_timeout"] = idle
        return app.streamable_http_app(**kwargs)

    return Flavour(run_stdio=app.run_stdio_async, http_app=http_app)


def build_fastmcp() -> Flavour:
    import fastmcp
    from fastmcp import Context, FastMCP
    from fastmcp.exceptions import ToolError

    def request_of(ctx: Any) -> Any:
        from fastmcp.server.dependencies import get_http_request

        try:
            return get_http_request()
        except RuntimeError:
            return None

    app = FastMCP("mcp-otel-test-fastmcp")
    _register_decorated(app, ToolError, Context, request_of)
    major = int(fastmcp.__version__.split(".")[0])

    def http_app(transport: str, stateless: bool, idle: float | None) -> Any:
        if transport == "sse":
            return app.http_app(path="/sse", transport="sse")
        kwargs: dict[str, Any] = {"path": "/mcp", "transport": "http", "stateless_http": stateless}
        if idle is not None:
            if major >= 4:
                kwargs["session_idle_timeout"] = idle
            else:
                _patch_fastmcp3_idle_timeout(idle)
        return app.http_app(**kwargs)

    async def run_stdio() -> None:
        await app.run_stdio_async(show_banner=False)

    return Flavour(run_stdio=run_stdio, http_app=http_app)


def _patch_fastmcp3_idle_timeout(idle: float) -> None:
    """fastmcp 3.x has no idle-timeout option; set the mcp 1.x session manager's attribute after __init__."""
    from fastmcp.server import http as fastmcp_http

    cls = fastmcp_http.FastMCPStreamableHTTPSessionManager
    original = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.session_idle_timeout = idle

    cls.__init__ = __init__  # type: ignore[method-assign]


def _supports_idle_timeout(flavour: str) -> bool:
    if MCP_MAJOR >= 2:
        return True
    import inspect

    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    return "session_idle_timeout" in inspect.signature(StreamableHTTPSessionManager.__init__).parameters


def build(flavour: str, idle_timeout: float | None, stateless: bool) -> Flavour:
    if flavour == "lowlevel":
        return build_lowlevel_v2() if MCP_MAJOR >= 2 else build_lowlevel_v1()
    if flavour == "sdk":
        return build_sdk_v2() if MCP_MAJOR >= 2 else build_sdk_v1(idle_timeout, stateless)
    if flavour == "fastmcp":
        if not HAS_FASTMCP:
            raise SystemExit("the fastmcp package is not installed in this environment")
        return build_fastmcp()
    raise SystemExit(f"unknown flavour {flavour!r}")


class RejectGetStream:
    """ASGI wrapper answering 405 to ``GET /mcp`` (the client's standalone SSE stream).

    An open GET stream counts as a request in flight, so with it a session never goes idle; clients treat 405
    as "no server-initiated stream" and carry on (mcp's client retries the GET a few times, then gives up)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].rstrip("/") == "/mcp":
            await send(
                {
                    "type": "http.response.start",
                    "status": 405,
                    "headers": [(b"allow", b"POST, DELETE"), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


# ------------------------------------------------------------------------------------------------
# --instrument
# ------------------------------------------------------------------------------------------------


def setup_instrumentation() -> None:
    try:
        from mcp_otel import McpInstrumentor
    except ImportError as exc:  # fail loudly: a test asked for instrumentation
        raise SystemExit(f"--instrument given but mcp_otel cannot be imported: {exc!r}") from exc

    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc").strip().lower()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol in ("http/protobuf", "http"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # type: ignore[assignment]
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[assignment]
            OTLPSpanExporter,
        )
    else:
        raise SystemExit(f"unsupported OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}")

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "mcp-test-server")})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_BSP_* from env
    interval = float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "1000"))
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=interval)],
    )
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)

    done = False

    def shutdown() -> None:
        nonlocal done
        if done:
            return
        done = True
        for provider in (tracer_provider, meter_provider):
            try:
                provider.force_flush()  # type: ignore[attr-defined]
                provider.shutdown()
            except Exception:  # pragma: no cover - best effort at exit
                log.exception("telemetry shutdown failed")

    atexit.register(shutdown)
    McpInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    log.info(
        "instrumented (protocol=%s, endpoint=%s)", protocol, os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flavour", choices=FLAVOURS, required=True)
    parser.add_argument("--transport", choices=TRANSPORTS, required=True)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--idle-timeout", type=float, default=None, help="session idle timeout (seconds)")
    parser.add_argument("--stateless", action="store_true", help="stateless streamable HTTP")
    parser.add_argument(
        "--reject-get-stream",
        action="store_true",
        help="answer 405 to GET /mcp (no standalone SSE stream), so that --idle-timeout can fire",
    )
    parser.add_argument("--instrument", action="store_true", help="McpInstrumentor + OTLP exporters from env")
    parser.add_argument("--log-level", default=os.environ.get("MCP_TEST_SERVER_LOG_LEVEL", "WARNING"))
    return parser.parse_args(argv)


def _watch_parent() -> None:
    """Exit when orphaned (the test process died without stopping us): set MCP_TEST_SERVER_WATCH_PARENT=1."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                log.warning("parent %d is gone: exiting", parent)
                os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _exit_on_signal(signum: int, frame: Any) -> None:
    # sys.exit runs atexit handlers (flushing telemetry); dying of SIGTERM would not. Exit 0: a clean stop.
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.transport == "sse" and args.stateless:
        raise SystemExit("--stateless applies to streamable-http only")
    if args.port <= 0 and args.transport != "stdio":
        raise SystemExit("--port must be a real port (the test helper picks a free one)")
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if os.environ.get("MCP_TEST_SERVER_WATCH_PARENT") == "1":
        _watch_parent()
    # fastmcp: quiet, plain logging to stderr (rich tracebacks cost ~1 s of CPU per logged tool error)
    os.environ.setdefault("FASTMCP_LOG_LEVEL", args.log_level.upper())
    os.environ.setdefault("FASTMCP_ENABLE_RICH_LOGGING", "false")
    os.environ.setdefault("FASTMCP_ENABLE_RICH_TRACEBACKS", "false")
    os.environ.setdefault("OTEL_BSP_SCHEDULE_DELAY", "200")  # spans reach the receiver quickly (ms)

    if args.instrument:
        setup_instrumentation()

    flavour = build(args.flavour, args.idle_timeout, args.stateless)
    if args.transport == "stdio":
        anyio.run(flavour.run_stdio)
        return

    import uvicorn

    app = flavour.http_app(args.transport, args.stateless, args.idle_timeout)
    if args.reject_get_stream:
        app = RejectGetStream(app)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level=args.log_level.lower(),
        timeout_graceful_shutdown=2,
        lifespan="on",
    )
    log.info("serving %s over %s on 127.0.0.1:%d", args.flavour, args.transport, args.port)
    uvicorn.Server(config).run()
    # uvicorn re-raises a captured SIGTERM/SIGINT after its graceful shutdown; our handler turns it into
    # SystemExit so that atexit (telemetry flush) runs.


if __name__ == "__main__":
    main()
