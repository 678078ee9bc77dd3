"""Leaked anyio memory-object streams, attributed to the session that created them (mcp 1.x leaks;
mcp 2.x closes everything, so there the same misuse must report 0)."""

from __future__ import annotations

import gc

import pytest

from support.capture import instrumented
from support.clients import open_connection
from support.env import MCP_MAJOR, MCP_VERSION_TUPLE
from support.inproc import build_server, open_session
from support.servers import start_http_server

pytestmark = pytest.mark.anyio


def _attrs(span) -> dict:
    return dict(span.attributes or {})


def _leaked_total(cap) -> int:
    return sum(p.value for p in cap.metrics().get("mcp_otel.client.streams.leaked", []))


@pytest.fixture(scope="module")
def server():
    with start_http_server("sdk", "streamable-http") as running:
        yield running


async def test_correct_async_with_reports_zero(server) -> None:
    with instrumented() as cap:
        async with open_connection("streamable-http", server.url) as conn:
            for _ in range(3):
                await conn.session.call_tool("add", {"a": 1, "b": 2})
        gc.collect()
    session = _attrs(cap.one("mcp.session"))
    assert session["mcp_otel.session.leaked_streams"] == 0
    assert _attrs(cap.one("mcp.cleanup"))["mcp_otel.session.leaked_streams"] == 0
    assert _leaked_total(cap) == 0


@pytest.mark.skipif(MCP_VERSION_TUPLE < (1, 24), reason="streamable_http_client spelling")
async def test_transport_entered_without_a_session(server) -> None:
    """M9: the transport's read stream is only closed by a ClientSession (mcp 1.x)."""
    with instrumented(capture_leak_origin=True) as cap:
        # imported after instrument(): a name bound by `from x import f` before it stays unpatched
        from mcp.client.streamable_http import streamable_http_client

        async with streamable_http_client(server.url) as streams:
            assert streams
        gc.collect()
    expected = 1 if MCP_MAJOR == 1 else 0
    session = cap.one("mcp.session")
    assert _attrs(session)["mcp_otel.session.leaked_streams"] == expected
    assert _leaked_total(cap) == expected
    events = [e for e in session.events if e.name == "mcp_otel.stream.leaked"]
    assert len(events) == expected
    if expected:
        event = dict(events[0].attributes)
        assert event["mcp_otel.stream.type"] == "MemoryObjectReceiveStream"
        assert event["code.file.path"] == __file__  # where the user can fix it
        assert isinstance(event["code.line.number"], int)


async def test_unserialisable_argument() -> None:
    """M11: mcp 1.x's send_request creates its response pair before its try: one stream stays open in the
    session, its peer is garbage-collected unclosed."""
    with instrumented() as cap:
        async with open_session(build_server()) as s:
            with pytest.raises(Exception):  # noqa: B017 - pydantic serialisation error
                await s.call_tool("add", {"a": object(), "b": 1})
            gc.collect()
        gc.collect()
    expected = 2 if MCP_MAJOR == 1 else 0
    assert _attrs(cap.one("mcp.session"))["mcp_otel.session.leaked_streams"] == expected
    assert _leaked_total(cap) == expected


async def test_origin_capture_is_opt_in(server) -> None:
    with instrumented() as cap:
        async with open_session(build_server()) as s:
            with pytest.raises(Exception):  # noqa: B017
                await s.call_tool("add", {"a": object(), "b": 1})
    assert not [e for e in cap.one("mcp.session").events if e.name == "mcp_otel.stream.leaked"]


async def test_tracker_keeps_nothing_alive() -> None:
    import weakref

    with instrumented():
        async with open_session(build_server()) as s:
            await s.call_tool("add", {"a": 1, "b": 2})
            ref = weakref.ref(s.inner)
        del s
        gc.collect()
        assert ref() is None


async def test_server_session_streams() -> None:
    """Server side: a correct session reports 0; a tool that leaks a stream pair is charged with 2."""
    from support.inproc import LEAKED

    with instrumented() as cap:
        async with open_session(build_server()) as s:
            await s.call_tool("add", {"a": 1, "b": 2})
        async with open_session(build_server()) as s:
            await s.call_tool("leaky", {})
        gc.collect()
    servers = sorted(cap.named("mcp.session", side="server"), key=lambda span: span.start_time)
    # mcp 2.x runs each in-process handler in the *client's* context snapshot (its context streams carry
    # it) and sync tools in a worker thread, so in one process the server cannot claim the handler's
    # streams; across processes it can. mcp 1.x runs the handler in the server session's own task.
    leaked = [span.attributes["mcp_otel.session.leaked_streams"] for span in servers]
    clients = sorted(cap.named("mcp.session"), key=lambda span: span.start_time)
    client_leaked = [span.attributes["mcp_otel.session.leaked_streams"] for span in clients]
    if MCP_MAJOR == 1:
        assert leaked == [0, 2] and client_leaked == [0, 0]
    else:  # in one process the leak lands on the client or the server session, never on the clean one
        assert leaked[0] == 0 and client_leaked[0] == 0
        assert leaked[1] + client_leaked[1] in (0, 2)
    for send, receive in LEAKED:
        send.close()
        receive.close()
    LEAKED.clear()
