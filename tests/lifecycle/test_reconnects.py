"""Streamable-HTTP stream reconnects against real servers that drop the client's streams.

mcp 1.30 and 2.x reconnect the GET stream (``handle_get_stream``: after it ends, and after a failure up to
``MAX_RECONNECTION_ATTEMPTS`` times in a row) and resume a request's POST stream (``_handle_reconnection``);
mcp 1.12 does neither (its GET stream is opened once), so these tests need 1.13+.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from clients import connect

from support.capture import instrumented
from support.env import MCP_VERSION_TUPLE

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(MCP_VERSION_TUPLE < (1, 13), reason="mcp 1.12 does not reconnect its streams"),
]


def _events(span: Any, name: str) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == name]


def _client_session(cap: Any) -> Any:
    (session,) = cap.named("mcp.session")
    return session


def _reconnect_points(cap: Any) -> list[Any]:
    return list(cap.metrics().get("mcp_otel.client.reconnects", []))


async def test_cut_get_stream_reconnects_then_gives_up(lifecycle_server: Callable[..., Any]) -> None:
    """The server cuts every GET stream after 0.3 s: two failures in a row and mcp stops reconnecting."""
    server = lifecycle_server("--drop-get", "0.3")
    with instrumented() as cap:
        async with connect("http", server.url) as s:
            await anyio.sleep(2.0)  # cut, mcp's default 1 s delay, reconnected, cut again: gave up
            await s.call_tool("progress", {"n": 1})  # requests still work (POSTs)
    session = _client_session(cap)
    events = _events(session, "mcp_otel.reconnect")
    assert len(events) == 1, events
    assert events[0]["mcp_otel.reconnect.attempt"] == 1
    assert events[0]["mcp_otel.reconnect.resumed"] is False  # the server numbered no events
    assert events[0]["mcp_otel.reconnect.stream"] == "get"
    assert events[0]["error.type"].endswith("RemoteProtocolError")  # the server cut the chunked stream
    assert session.attributes["mcp_otel.session.reconnects"] == 1
    assert session.attributes["mcp_otel.session.reconnect_gave_up"] is True
    assert session.attributes["mcp_otel.session.end_reason"] == "closed"  # the session itself went on
    points = _reconnect_points(cap)
    assert sum(p.value for p in points) == 1
    assert {p.attributes["mcp_otel.transport"] for p in points} == {"streamable-http"}
    assert {p.attributes["error.type"] for p in points} == {events[0]["error.type"]}


async def test_closed_get_stream_is_resumed_after_the_servers_retry(
    lifecycle_server: Callable[..., Any],
) -> None:
    """The server numbers its events, sends ``retry: 100`` and closes the GET stream cleanly twice: two
    resumed reconnects (``Last-Event-ID`` sent), each one attempt 1 (the stream had ended normally)."""
    server = lifecycle_server("--drop-get", "60", "--resumable", "--retry-ms", "100")
    with instrumented() as cap:
        async with connect("http", server.url) as s:
            await anyio.sleep(0.2)  # the GET stream is open
            await s.call_tool("change_tools", {})  # list_changed goes out on the GET stream, numbered
            await s.call_tool("close_get", {})
            await anyio.sleep(0.4)  # reconnected after 0.1 s (mcp's own default would be 1 s)
            await s.call_tool("close_get", {})
            await anyio.sleep(0.4)
    session = _client_session(cap)
    events = _events(session, "mcp_otel.reconnect")
    assert (
        events
        == [
            {
                "mcp_otel.reconnect.attempt": 1,
                "mcp_otel.reconnect.resumed": True,
                "mcp_otel.reconnect.stream": "get",
                "error.type": "connection_closed",
            }
        ]
        * 2
    )
    assert session.attributes["mcp_otel.session.reconnects"] == 2
    assert "mcp_otel.session.reconnect_gave_up" not in session.attributes


async def test_client_gives_up_on_a_refused_get_stream(http_server: Callable[..., Any]) -> None:
    server = http_server("sdk", reject_get_stream=True)  # GET /mcp answers 405
    with instrumented() as cap:
        async with connect("http", server.url) as s:
            await anyio.sleep(1.8)  # two failed attempts, 1 s apart
            await s.call_tool("add", {"a": 1, "b": 2})
    session = _client_session(cap)
    events = _events(session, "mcp_otel.reconnect")
    assert [e["mcp_otel.reconnect.attempt"] for e in events] == [1]
    assert events[0]["error.type"].endswith("HTTPStatusError")  # 405 Method Not Allowed
    assert session.attributes["mcp_otel.session.reconnect_gave_up"] is True


async def test_resumed_post_stream(lifecycle_server: Callable[..., Any]) -> None:
    """A tool closes its own POST SSE stream mid-call: the client resumes it with Last-Event-ID."""
    server = lifecycle_server("--resumable", "--retry-ms", "100")
    with instrumented() as cap:
        async with connect("http", server.url) as s:
            result = await s.call_tool("drop_post", {})
    assert result.content[0].text == "resumed"
    events = [
        e
        for e in _events(_client_session(cap), "mcp_otel.reconnect")
        if e["mcp_otel.reconnect.stream"] == "post"
    ]
    assert len(events) == 1, events
    assert events[0] == {
        "mcp_otel.reconnect.attempt": 1,
        "mcp_otel.reconnect.resumed": True,
        "mcp_otel.reconnect.stream": "post",
        "error.type": "connection_closed",
    }
