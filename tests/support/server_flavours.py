"""In-process servers of every flavour with the same tools, and an in-process client for each, for the server
behaviour suite (tests/server, tests/fastmcp). No ports: mcp 1.x's memory streams, mcp 2.x's ``Client(server,
mode="legacy")`` (the JSON-RPC dispatcher path) or ``mode="auto"`` (2026-07-28, in-process), fastmcp's
``Client(server)``.

Flavours: ``lowlevel`` (mcp's low-level ``Server``), ``sdk`` (mcp 1.x ``FastMCP`` / mcp 2.x ``MCPServer``),
``fastmcp`` (fastmcp 3.x / 4.x, when installed).

Tools: ``add(a, b)``, ``fail_tool`` (isError), ``raise_tool`` (raises ValueError), ``soft_fail`` (returns
``{"success": False, "error": "db down"}``), ``traced`` (records the span current in the handler in
``HANDLER_SEEN``, opens a span "handler work" with the global tracer). Prompt ``greet``. Low-level only:
prompt ``strict`` (JSON-RPC error -32602, a caller error), resource ``res://missing`` (-32002, a caller
error), ``res://broken`` (-32099, a server error).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry import trace

from support.env import FASTMCP_MAJOR, HAS_FASTMCP, MCP_MAJOR

FLAVOURS = ("lowlevel", "sdk", "fastmcp")
SOFT_FAIL = {"success": False, "error": "db down"}

# (trace_id, span_id) of the span current inside the last `traced` call
HANDLER_SEEN: list[tuple[int, int]] = []


def available(flavour: str) -> bool:
    return flavour != "fastmcp" or HAS_FASTMCP


def _handler_work() -> str:
    current = trace.get_current_span().get_span_context()
    HANDLER_SEEN.append((current.trace_id, current.span_id))
    with trace.get_tracer("tests.handler").start_as_current_span("handler work"):
        return "traced"


def build(flavour: str, name: str = "flavour-test") -> Any:
    if flavour == "lowlevel":
        return _lowlevel_v2(name) if MCP_MAJOR >= 2 else _lowlevel_v1(name)
    if flavour == "sdk":
        if MCP_MAJOR >= 2:
            from mcp.server.mcpserver import MCPServer
            from mcp.server.mcpserver.exceptions import ToolError

            return _decorated(MCPServer(name), ToolError)
        from mcp.server.fastmcp import FastMCP
        from mcp.server.fastmcp.exceptions import ToolError

        return _decorated(FastMCP(name, log_level="WARNING"), ToolError)
    if flavour == "fastmcp":
        from fastmcp import FastMCP
        from fastmcp.exceptions import ToolError

        return _decorated(FastMCP(name), ToolError)
    raise ValueError(flavour)


def _decorated(app: Any, tool_error: type[Exception]) -> Any:
    @app.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @app.tool()
    def fail_tool() -> str:
        raise tool_error("tool failed")

    @app.tool()
    def raise_tool() -> str:
        raise ValueError("kaboom")

    @app.tool()
    def soft_fail() -> dict[str, Any]:
        return dict(SOFT_FAIL)

    @app.tool()
    def traced() -> str:
        return _handler_work()

    @app.prompt()
    def greet(name: str) -> str:
        return f"Hello, {name}!"

    return app


def _lowlevel_v1(name: str) -> Any:
    import json

    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import McpError

    server: Any = Server(name)
    import inspect

    can_return_result = "CallToolResult)" in inspect.getsource(Server.call_tool)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        schema = {"type": "object", "properties": {}}
        names = ("add", "fail_tool", "raise_tool", "soft_fail", "traced")
        return [types.Tool(name=n, inputSchema=schema) for n in names]

    @server.call_tool(validate_input=False)
    async def call_tool(tool: str, arguments: dict[str, Any]) -> Any:
        text = lambda v: [types.TextContent(type="text", text=str(v))]  # noqa: E731
        if tool == "add":
            return text(int(arguments["a"]) + int(arguments["b"]))
        if tool == "fail_tool":
            if not can_return_result:  # mcp < 1.14: the decorator turns a raise into isError as well
                raise RuntimeError("tool failed")
            return types.CallToolResult(content=text("tool failed"), isError=True)
        if tool == "raise_tool":
            raise ValueError("kaboom")
        if tool == "soft_fail":
            return text(json.dumps(SOFT_FAIL))
        if tool == "traced":
            return text(_handler_work())
        raise ValueError(f"Unknown tool: {tool}")

    @server.get_prompt()
    async def get_prompt(prompt: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
        if prompt == "strict":
            raise McpError(types.ErrorData(code=-32602, message="bad prompt arguments"))
        return types.GetPromptResult(
            messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text="hi"))]
        )

    @server.read_resource()
    async def read_resource(uri: Any) -> Any:
        if str(uri) == "res://broken":
            raise McpError(types.ErrorData(code=-32099, message="backend down"))
        raise McpError(types.ErrorData(code=-32002, message=f"Resource not found: {uri}"))

    return server


def _lowlevel_v2(name: str) -> Any:
    import json

    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError

    def text(value: Any) -> list[types.TextContent]:
        return [types.TextContent(type="text", text=str(value))]

    async def on_list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        schema = {"type": "object", "properties": {}}
        names = ("add", "fail_tool", "raise_tool", "soft_fail", "traced")
        return types.ListToolsResult(tools=[types.Tool(name=n, input_schema=schema) for n in names])

    async def on_call_tool(ctx: Any, params: Any) -> types.CallToolResult:
        tool, arguments = params.name, params.arguments or {}
        if tool == "add":
            return types.CallToolResult(content=text(int(arguments["a"]) + int(arguments["b"])))
        if tool == "fail_tool":
            return types.CallToolResult(content=text("tool failed"), is_error=True)
        if tool == "raise_tool":
            raise ValueError("kaboom")
        if tool == "soft_fail":
            return types.CallToolResult(content=text(json.dumps(SOFT_FAIL)))
        if tool == "traced":
            return types.CallToolResult(content=text(_handler_work()))
        return types.CallToolResult(content=text(f"Unknown tool: {tool}"), is_error=True)

    async def on_get_prompt(ctx: Any, params: Any) -> types.GetPromptResult:
        if params.name == "strict":
            raise MCPError(-32602, "bad prompt arguments")
        return types.GetPromptResult(
            messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text="hi"))]
        )

    async def on_read_resource(ctx: Any, params: Any) -> types.ReadResourceResult:
        if str(params.uri) == "res://broken":
            raise MCPError(-32099, "backend down")
        raise MCPError(-32002, f"Resource not found: {params.uri}")

    return Server(
        name,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_get_prompt=on_get_prompt,
        on_read_resource=on_read_resource,
    )


class Session:
    """The calls a test makes, the same for every client; every call returns the raw MCP result."""

    def __init__(self, inner: Any, kind: str) -> None:
        self.inner = inner
        self.kind = kind  # "session" (ClientSession/mcp.Client) or "fastmcp" (fastmcp.Client)

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        if self.kind == "fastmcp":
            return await self.inner.call_tool_mcp(name, arguments or {})
        return await self.inner.call_tool(name, arguments or {})

    async def get_prompt(self, name: str, arguments: dict[str, str] | None = None) -> Any:
        if self.kind == "fastmcp":
            return await self.inner.get_prompt_mcp(name, arguments or {})
        return await self.inner.get_prompt(name, arguments or {})

    async def read_resource(self, uri: str) -> Any:
        if self.kind == "fastmcp":
            return await self.inner.read_resource_mcp(uri)
        if MCP_MAJOR >= 2:
            return await self.inner.read_resource(uri)
        from pydantic import AnyUrl

        return await self.inner.read_resource(AnyUrl(uri))


@asynccontextmanager
async def connect(server: Any, *, mode: str = "legacy") -> AsyncIterator[Session]:
    """An initialized client of an in-process `server` (built by `build`).

    fastmcp servers are served through ``fastmcp.Client``; mcp servers through mcp 1.x's memory streams or
    mcp 2.x's ``Client`` (`mode`: "legacy" for the JSON-RPC path, "auto" for the 2026-07-28 path).
    """
    if type(server).__module__.startswith("fastmcp"):
        from fastmcp import Client

        kwargs = {"mode": mode} if FASTMCP_MAJOR >= 4 else {}
        async with Client(server, **kwargs) as client:
            yield Session(client, "fastmcp")
    elif MCP_MAJOR >= 2:
        from mcp import Client

        async with Client(server, mode=mode) as client:
            yield Session(client, "session")
    else:
        from mcp.shared.memory import create_connected_server_and_client_session

        lowlevel = getattr(server, "_mcp_server", server)
        async with create_connected_server_and_client_session(lowlevel) as session:
            yield Session(session, "session")


def is_error(result: Any) -> bool:
    value = getattr(result, "is_error", None)  # mcp 2.x (fastmcp 4 warns on the old name)
    return bool(value if value is not None else getattr(result, "isError", None))
