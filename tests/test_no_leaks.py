"""DESIGN trust rule 4: with content capture off, no text from a tool's arguments or result, or from a
handler's exception or error message, reaches a span (status, event, attribute) or a metric, on the client's
and the server's side; URIs are scrubbed. Every exported string is searched for a marker.

Servers: the low-level ``Server``, the SDK's decorated server (FastMCP on mcp 1.x, MCPServer on 2.x) and
fastmcp, in process (real SDK sessions over memory streams), each with tools that put the marker into an
exception, a JSON-RPC error and a failed ``int(arg)``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from support.capture import Capture, instrumented
from support.env import MCP_MAJOR
from support.native import native_spans_to
from support.server_flavours import FLAVOURS, available, connect

pytestmark = pytest.mark.anyio

MARK = "s3cr3tMARK"
URIS = (
    f"res://user:{MARK}@files/a",
    f"res://files/b?jwt={MARK}&code={MARK}&access={MARK}",
    f"res://files/c#{MARK}",
)


@pytest.fixture(params=[f for f in FLAVOURS if available(f)])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _rpc_error(message: str) -> BaseException:
    if MCP_MAJOR >= 2:
        from mcp.shared.exceptions import MCPError

        return MCPError(-32603, message)
    from mcp import types
    from mcp.shared.exceptions import McpError

    return McpError(types.ErrorData(code=-32603, message=message))


def build(flavour: str) -> Any:
    """A server whose tools put their argument into an exception, a JSON-RPC error and a failed int()."""
    if flavour == "lowlevel":
        return _lowlevel()
    if flavour == "fastmcp":
        from fastmcp import FastMCP

        app: Any = FastMCP("leaky")
    elif MCP_MAJOR >= 2:
        from mcp.server.mcpserver import MCPServer

        app = MCPServer("leaky")
    else:
        from mcp.server.fastmcp import FastMCP

        app = FastMCP("leaky", log_level="WARNING")

    @app.tool()
    def boom(secret: str) -> str:
        raise ValueError(f"boom for {secret}")

    @app.tool()
    def rpc(secret: str) -> str:
        raise _rpc_error(f"bad {secret}")

    @app.tool()
    def parse(secret: str) -> int:
        return int(secret)

    @app.tool()
    def echo(secret: str) -> str:
        return secret

    return app


def _lowlevel() -> Any:
    from mcp import types
    from mcp.server.lowlevel import Server

    def text(value: Any) -> list[types.TextContent]:
        return [types.TextContent(type="text", text=str(value))]

    def run(tool: str, arguments: dict[str, Any]) -> Any:
        secret = arguments.get("secret", "")
        if tool == "boom":
            raise ValueError(f"boom for {secret}")
        if tool == "rpc":
            raise _rpc_error(f"bad {secret}")
        if tool == "parse":
            return text(int(secret))
        return text(secret)

    async def read(uri: str) -> Any:
        raise _rpc_error(f"cannot read {uri}")

    if MCP_MAJOR >= 2:

        async def on_call_tool(ctx: Any, params: Any) -> types.CallToolResult:
            return types.CallToolResult(content=run(params.name, params.arguments or {}))

        async def on_read_resource(ctx: Any, params: Any) -> Any:
            return await read(str(params.uri))

        return Server("leaky", on_call_tool=on_call_tool, on_read_resource=on_read_resource)

    server: Any = Server("leaky")

    @server.call_tool(validate_input=False)
    async def call_tool(tool: str, arguments: dict[str, Any]) -> Any:
        return run(tool, arguments)

    @server.read_resource()
    async def read_resource(uri: Any) -> Any:
        return await read(str(uri))

    return server


def exported_strings(cap: Capture) -> Iterator[tuple[str, str]]:
    """(where, text) for every string exported: span names, status descriptions, attributes, events,
    links, and metric point attributes; the libraries' native spans included."""
    for span in cap.spans(None):
        where = f"{span.instrumentation_scope.name}:{span.name}"
        yield where, span.name
        if span.status.description:
            yield f"{where} status", span.status.description
        for key, value in (span.attributes or {}).items():
            yield f"{where} {key}", str(value)
        for event in span.events:
            yield f"{where} event {event.name}", event.name
            for key, value in (event.attributes or {}).items():
                yield f"{where} event {event.name} {key}", str(value)
        for link in span.links:
            for key, value in (link.attributes or {}).items():
                yield f"{where} link {key}", str(value)
    for name, points in cap.metrics().items():
        for point in points:
            for key, value in point.attributes.items():
                yield f"metric {name} {key}", str(value)


def leaks(cap: Capture, marker: str = MARK) -> list[str]:
    return [f"{where}: {text[:200]}" for where, text in exported_strings(cap) if marker in text]


async def _exercise(flavour: str) -> None:
    async with connect(build(flavour)) as s:
        for tool in ("boom", "rpc", "parse", "echo"):
            try:
                await s.call_tool(tool, {"secret": MARK})
            except Exception:  # each flavour answers differently (error result or JSON-RPC error)
                pass
        for uri in URIS:
            try:
                await s.read_resource(uri)
            except Exception:
                pass


async def test_nothing_leaks_with_capture_off(flavour: str) -> None:
    with instrumented() as cap, native_spans_to(SimpleSpanProcessor(cap.exporter)):
        await _exercise(flavour)
    ours = [s for s in cap.spans() if s.name.startswith("tools/call")]
    assert len([s for s in ours if s.kind == SpanKind.SERVER]) == 4
    assert len([s for s in ours if s.kind == SpanKind.CLIENT]) == 4
    assert leaks(cap) == []
    failed = [s for s in ours if s.name in ("tools/call boom", "tools/call rpc")]
    assert all(s.status.status_code == StatusCode.ERROR and "error.type" in s.attributes for s in failed)
    server_uris = {
        s.attributes["mcp.resource.uri"]
        for s in cap.spans()
        if s.kind == SpanKind.SERVER and "mcp.resource.uri" in s.attributes
    }
    assert "res://files/b?jwt=REDACTED&code=REDACTED&access=REDACTED" in server_uris
    assert "res://files/c" in server_uris


async def test_fixed_descriptions(flavour: str) -> None:
    if flavour != "lowlevel":
        pytest.skip("the decorated servers turn a raising tool into an isError result")
    with instrumented() as cap:
        await _exercise(flavour)
    server = {s.name: s for s in cap.spans() if s.kind == SpanKind.SERVER}
    client = {s.name: s for s in cap.spans() if s.kind == SpanKind.CLIENT}
    if MCP_MAJOR >= 2:  # the 2.x low-level server answers a raising tool with a JSON-RPC error
        assert server["tools/call boom"].status.description == "tool raised ValueError"
        assert server["tools/call boom"].attributes["error.type"] == "ValueError"
        assert client["tools/call boom"].status.description == "peer returned JSON-RPC error 0"
    # a handler's McpError / MCPError: a JSON-RPC error reply on both lines
    reads = [s for s in cap.spans() if s.name == "resources/read"]
    assert len(reads) == 2 * len(URIS)
    for span in reads:
        expected = "replied with" if span.kind == SpanKind.SERVER else "peer returned"
        assert span.status.description == f"{expected} JSON-RPC error -32603"
        assert span.attributes["error.type"] == "-32603"


@pytest.mark.parametrize("capture", [False, True], ids=["capture-off", "capture-on"])
async def test_an_exception_ending_a_request_is_one_exception_event(capture: bool) -> None:
    """Trust rule 1 (the libraries record one) within rule 4: the type always, message and stack only
    with content capture on; on the server for a raising handler, on the client for a raised reply."""
    with instrumented(capture_content=capture) as cap:
        await _exercise("lowlevel")
    failed = [s for s in cap.spans() if s.status.status_code == StatusCode.ERROR and s.name != "mcp.session"]
    assert failed
    for span in failed:
        events = [e for e in span.events if e.name == "exception"]
        # an isError result is no exception; mcp 1.x servers turn a handler's exception into an error
        # reply before any hook sees it
        raised = span.attributes["error.type"] != "tool_error" and (
            span.kind == SpanKind.CLIENT or MCP_MAJOR >= 2
        )
        assert len(events) == (1 if raised else 0), (span.name, span.kind, span.events)
        if not events:
            continue
        attributes = dict(events[0].attributes or {})
        assert attributes["exception.type"]
        if capture:
            assert "exception.stacktrace" in attributes
        else:
            assert set(attributes) == {"exception.type"}
    if MCP_MAJOR >= 2:  # the 2.x low-level server sees the handler's ValueError itself
        (boom,) = [s for s in failed if s.name == "tools/call boom" and s.kind == SpanKind.SERVER]
        (event,) = boom.events
        assert event.attributes["exception.type"] == "ValueError"
        if capture:
            assert MARK in event.attributes["exception.message"]
            assert "raise ValueError" in event.attributes["exception.stacktrace"]


async def test_capture_on_records_the_messages(flavour: str) -> None:
    with instrumented(capture_content=True) as cap:
        await _exercise(flavour)
    found = leaks(cap)
    assert any("gen_ai.tool.call.arguments" in where for where in found)
    if flavour == "lowlevel":
        descriptions = [s.status.description or "" for s in cap.spans() if s.name == "resources/read"]
        assert descriptions and all("-32603: cannot read res://" in d for d in descriptions)
    # URIs are scrubbed whether or not content is captured
    assert not [where for where in found if "mcp.resource.uri" in where]


async def test_application_exception_in_session_body() -> None:
    """An exception raised in the ``async with`` body (the app's text) ends the session without its text."""
    with instrumented() as cap:
        with pytest.raises(Exception):  # noqa: B017 (mcp 1.x wraps it in an ExceptionGroup)
            async with connect(build("lowlevel")):
                raise ValueError(f"app failed on {MARK}")
    session = cap.one("mcp.session")
    assert session.status.description == "raised ValueError"
    assert leaks(cap) == []


@contextmanager
def _refusing_http_server(status: int) -> Iterator[int]:
    """A real HTTP server on 127.0.0.1 answering every request with ``status`` (an auth wall, a crash)."""

    class Handler(BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST = do_DELETE = _refuse

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("status", [401, 500])
async def test_http_failure_urls_are_scrubbed(status: int) -> None:
    from support.clients import open_connection

    with _refusing_http_server(status) as port:
        url = f"http://user:{MARK}@127.0.0.1:{port}/mcp?jwt={MARK}&code={MARK}&access={MARK}#{MARK}"
        with instrumented() as cap:
            with pytest.raises(BaseException):  # noqa: B017 (each line fails its own way)
                with anyio.fail_after(10):
                    async with open_connection("streamable-http", url, read_timeout=5):
                        pass
    assert cap.named("mcp.session")
    assert leaks(cap) == []


@pytest.mark.skipif(not available("fastmcp"), reason="fastmcp is not installed in this environment")
async def test_mounted_fastmcp_server_delegate_span() -> None:
    from fastmcp import FastMCP

    parent, child = FastMCP("parent"), FastMCP("child")

    @child.tool()
    def boom(secret: str) -> str:
        raise ValueError(f"boom for {secret}")

    parent.mount(child)
    with instrumented() as cap, native_spans_to(SimpleSpanProcessor(cap.exporter)):
        async with connect(parent) as s:
            await s.call_tool("boom", {"secret": MARK})
    assert [s for s in cap.spans(None) if s.name.startswith("delegate")]
    assert leaks(cap) == []
