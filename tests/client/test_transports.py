"""Client tracing over real transports: streamable HTTP and SSE servers under uvicorn on 127.0.0.1, stdio
subprocesses. The server is the SDK flavour of tests/servers/mcp_server.py, not instrumented."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from support.capture import instrumented
from support.clients import error_code, is_error, open_connection
from support.env import MCP_MAJOR, MCP_VERSION_TUPLE
from support.servers import RunningServer, jsonrpc_error_codes, start_http_server, stdio_server_params

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def http_sdk_server() -> Iterator[RunningServer]:
    with start_http_server("sdk", "streamable-http") as server:
        yield server


@pytest.fixture(scope="module")
def sse_sdk_server() -> Iterator[RunningServer]:
    with start_http_server("sdk", "sse") as server:
        yield server


def _attrs(span) -> dict:
    return dict(span.attributes or {})


def _assert_lifecycle(cap, transport: str) -> dict:
    """The contract's tree: session > connect, initialize, calls, cleanup. Returns the session attributes."""
    session = cap.one("mcp.session")
    assert session.parent is None
    for name in ("mcp.connect", "mcp.cleanup", "initialize", "tools/call add"):
        assert cap.parent_of(cap.one(name)) is session, name
    assert cap.one("initialize").kind == SpanKind.CLIENT
    attributes = _attrs(session)
    assert attributes["mcp_otel.transport"] == transport
    assert attributes["mcp_otel.session.end_reason"] == "closed"
    assert attributes["mcp_otel.server.name"]
    assert _attrs(cap.one("mcp.connect"))["mcp_otel.transport"] == transport
    return attributes


async def _calls(conn) -> None:
    result = await conn.session.call_tool("add", {"a": 1, "b": 2})
    assert not is_error(result)
    assert is_error(await conn.session.call_tool("fail_tool", {}))


async def test_streamable_http(http_sdk_server: RunningServer) -> None:
    with instrumented() as cap:
        async with open_connection("streamable-http", http_sdk_server.url) as conn:
            await _calls(conn)
            server_side_id = (await conn.session.call_tool("whoami", {})).content[0].text
    session = _assert_lifecycle(cap, "streamable-http")
    assert session["server.address"] == "127.0.0.1"
    assert session["server.port"] == http_sdk_server.port
    assert session["network.transport"] == "tcp"
    assert session["network.protocol.name"] == "http"
    assert session["mcp.session.id"] == server_side_id
    call = _attrs(cap.one("tools/call add"))
    assert call["server.address"] == "127.0.0.1" and call["server.port"] == http_sdk_server.port
    assert call["mcp.session.id"] == server_side_id
    assert call["network.transport"] == "tcp"
    assert "mcp_otel.transport" not in call
    failed = cap.one("tools/call fail_tool")
    assert _attrs(failed)["error.type"] == "tool_error" and failed.status.status_code == StatusCode.ERROR
    points = cap.metrics()["mcp.client.operation.duration"]
    add = next(p for p in points if p.attributes.get("gen_ai.tool.name") == "add")
    assert (
        add.attributes["server.address"] == "127.0.0.1"
        and add.attributes["server.port"] == http_sdk_server.port
    )
    assert "mcp.session.id" not in add.attributes


async def test_jsonrpc_error_over_http(http_sdk_server: RunningServer) -> None:
    expected = jsonrpc_error_codes("sdk")["read_missing_resource"]
    with instrumented() as cap:
        async with open_connection("streamable-http", http_sdk_server.url) as conn:
            with pytest.raises(Exception) as info:
                from pydantic import AnyUrl

                await conn.session.read_resource(
                    AnyUrl("res://missing") if MCP_MAJOR < 2 else "res://missing"
                )
    assert error_code(info.value) == expected
    span = cap.one("resources/read")
    assert _attrs(span)["error.type"] == str(expected)
    assert _attrs(span)["rpc.response.status_code"] == str(expected)


async def test_sse(sse_sdk_server: RunningServer) -> None:
    with instrumented() as cap:
        async with open_connection("sse", sse_sdk_server.url) as conn:
            await _calls(conn)
    session = _assert_lifecycle(cap, "sse")
    assert session["server.port"] == sse_sdk_server.port
    assert session["network.transport"] == "tcp"
    if _sse_reports_session_id():
        # the id the server put in its endpoint event, on the session and on each request after the handshake
        assert len(session["mcp.session.id"]) >= 16
        assert _attrs(cap.one("tools/call add"))["mcp.session.id"] == session["mcp.session.id"]
    else:
        assert "mcp.session.id" not in session


def _sse_reports_session_id() -> bool:
    import inspect

    from mcp.client.sse import sse_client

    return "on_session_created" in inspect.signature(sse_client).parameters


@pytest.mark.skipif(not _sse_reports_session_id(), reason="this mcp's sse_client has no on_session_created")
async def test_sse_session_id_callback_of_the_caller_still_called(sse_sdk_server: RunningServer) -> None:
    from mcp import ClientSession

    seen: list[str] = []
    with instrumented() as cap:
        from mcp.client.sse import sse_client  # after instrument(): the name binds the patched function

        async with (
            sse_client(sse_sdk_server.url, on_session_created=seen.append) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
    assert len(seen) == 1
    assert _attrs(cap.one("mcp.session"))["mcp.session.id"] == seen[0]


async def test_stdio() -> None:
    with instrumented() as cap:
        async with open_connection("stdio", stdio_server_params("sdk")) as conn:
            await _calls(conn)
    session = _assert_lifecycle(cap, "stdio")
    assert session["network.transport"] == "pipe"
    assert "server.address" not in session
    assert _attrs(cap.one("tools/call add"))["network.transport"] == "pipe"


@pytest.mark.skipif(MCP_MAJOR >= 2 or MCP_VERSION_TUPLE < (1, 24), reason="mcp 1.24+ has both spellings")
async def test_deprecated_streamablehttp_client_is_one_connect(http_sdk_server: RunningServer) -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    with instrumented() as cap:
        async with (
            streamablehttp_client(http_sdk_server.url) as (read, write, _),
            ClientSession(read, write) as s,
        ):
            await s.initialize()
            await s.call_tool("add", {"a": 1, "b": 2})
    assert len(cap.named("mcp.session")) == 1
    assert len(cap.named("mcp.connect")) == 1
    assert _attrs(cap.one("mcp.session"))["mcp.session.id"]


@pytest.mark.skipif(MCP_MAJOR < 2, reason="mcp.Client is mcp 2.x")
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_mcp_client_url(http_sdk_server: RunningServer, mode: str) -> None:
    from mcp import Client

    with instrumented() as cap:
        async with Client(http_sdk_server.url, mode=mode) as client:
            await client.call_tool("add", {"a": 1, "b": 2})
    session = cap.one("mcp.session")
    assert len(cap.named("mcp.connect")) == 1
    assert _attrs(session)["mcp_otel.transport"] == "streamable-http"
    assert _attrs(session)["server.port"] == http_sdk_server.port
    assert cap.parent_of(cap.one("tools/call add")) is session
    # exactly one CLIENT span per request: the SDK's own "MCP send …" spans are replaced, not added
    assert all(s.instrumentation_scope.name == "mcp_otel" for s in cap.client_spans())
    if mode == "legacy":
        assert _attrs(session)["mcp.session.id"]
        assert cap.named("initialize")
    else:
        # an mcp 2.x server speaks 2026-07-28: the handshake is server/discover and there is no session id
        assert cap.parent_of(cap.one("server/discover")) is session
        assert not cap.named("initialize")
        assert _attrs(session)["mcp.protocol.version"] == "2026-07-28"
        assert "mcp.session.id" not in _attrs(session)


@pytest.mark.skipif(MCP_MAJOR < 2, reason="mcp.Client is mcp 2.x")
async def test_mcp_client_stdio() -> None:
    from mcp import Client

    with instrumented() as cap:
        async with Client(stdio_server_params("sdk"), mode="legacy") as client:
            await client.call_tool("add", {"a": 1, "b": 2})
    session = _attrs(cap.one("mcp.session"))
    assert session["mcp_otel.transport"] == "stdio"
    assert len(cap.named("mcp.connect")) == 1


@pytest.mark.skipif(MCP_MAJOR < 2, reason="mcp.Client auto mode is mcp 2.x")
async def test_auto_mode_against_a_legacy_server_records_the_failed_probe() -> None:
    """mcp 2.x's Client probes server/discover first; an mcp 1.x server refuses it and the client falls back
    to initialize. The failed probe is recorded, not hidden. The server runs in the v1 environment."""
    import sys
    from pathlib import Path

    from mcp import Client

    from support.servers import make_http_server

    v1_python = Path(__file__).resolve().parents[2] / ".venvs" / "v1" / "bin" / "python"
    if not v1_python.exists():
        from support.env import skip_or_fail

        skip_or_fail("the v1 environment is not built (make test builds it first)")
    server = make_http_server("sdk", "streamable-http")
    # RunningServer runs `sys.executable *argv`: hand over to the v1 interpreter.
    script_args = server.argv
    server.argv = ["-c", "import os, sys; os.execv(sys.argv[1], sys.argv[1:])", str(v1_python), *script_args]
    assert sys.executable
    with server.start(), instrumented() as cap:
        async with Client(server.url) as client:  # mode="auto", the default
            await client.call_tool("add", {"a": 1, "b": 2})
    probe = cap.one("server/discover")
    assert _attrs(probe)["error.type"]
    assert probe.status.status_code == StatusCode.ERROR
    session = cap.one("mcp.session")
    assert cap.parent_of(probe) is session and cap.parent_of(cap.one("initialize")) is session
    assert _attrs(session)["mcp.protocol.version"] != "2026-07-28"
    assert _attrs(session)["mcp.session.id"]
    assert _attrs(session)["mcp_otel.session.end_reason"] == "closed"


@pytest.mark.parametrize("option", ["off", "on", "callable", "raising"])
async def test_client_result_error_detector(http_sdk_server: RunningServer, option: str) -> None:
    """The client marks a tool result that reports failure in its payload, as the server side does."""
    kwargs = {
        "off": {},
        "on": {"result_error_detector": True},
        "callable": {"result_error_detector": lambda result: "custom" if "db down" in str(result) else False},
        "raising": {"result_error_detector": lambda result: 1 / 0},
    }[option]
    with instrumented(**kwargs) as cap:
        async with open_connection("streamable-http", http_sdk_server.url) as conn:
            result = await conn.session.call_tool("soft_fail", {})
            await conn.session.call_tool("add", {"a": 1, "b": 2})
    assert not is_error(result)  # the application sees the result unchanged
    assert "error.type" not in _attrs(cap.one("tools/call add"))
    span = cap.one("tools/call soft_fail")
    if option in ("off", "raising"):
        assert "error.type" not in _attrs(span) and span.status.status_code == StatusCode.UNSET
        return
    assert _attrs(span)["error.type"] == "tool_error"
    assert span.status.status_code == StatusCode.ERROR
    # the detector's message comes from the tool's result: content, recorded with capture on only
    assert span.status.description == "tool result reports a failure"
    points = cap.metrics()["mcp.client.operation.duration"]
    assert any(p.attributes.get("error.type") == "tool_error" for p in points)


async def test_client_records_results_only_when_opted_in(http_sdk_server: RunningServer) -> None:
    for capture in (False, True):
        with instrumented(capture_content=capture, max_attribute_length=200) as cap:
            async with open_connection("streamable-http", http_sdk_server.url) as conn:
                await conn.session.call_tool("add", {"a": 1, "b": 2})
        attributes = _attrs(cap.one("tools/call add"))
        if not capture:
            assert "gen_ai.tool.call.result" not in attributes
            assert "gen_ai.tool.call.arguments" not in attributes
        else:
            assert "3" in attributes["gen_ai.tool.call.result"]
            assert len(attributes["gen_ai.tool.call.result"]) <= 200
