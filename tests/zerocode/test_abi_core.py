"""ABI-Core's ``abi_core.abi_mcp.client.init_session(host, port, transport)`` (package ``abi-core-ai``, mcp 1.x
only) traced as one session carrying host, port and transport, against real servers on 127.0.0.1."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from support.capture import instrumented
from support.clients import is_error, text_of
from support.env import MCP_MAJOR, MCP_VERSION_TUPLE, skip_or_fail
from support.servers import RunningServer, start_http_servers

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module", autouse=True)
def _abi_core() -> None:
    if importlib.util.find_spec("abi_core") is None:
        # abi-core-ai pins mcp < 2 and uses streamable_http_client (mcp >= 1.2x): only the v1 env has it.
        skip_or_fail(
            "abi-core-ai is not installed", expected_missing=MCP_MAJOR != 1 or MCP_VERSION_TUPLE < (1, 26)
        )


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, RunningServer]]:
    started = start_http_servers([{"flavour": "sdk", "transport": t} for t in ("streamable-http", "sse")])
    try:
        yield {s.transport: s for s in started}
    finally:
        for server in started:
            server.close()


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_init_session_is_one_session(servers: dict[str, RunningServer], transport: str) -> None:
    server = servers[transport]
    with instrumented() as cap:
        from abi_core.abi_mcp import client

        async with client.init_session("127.0.0.1", server.port, transport) as session:
            result = await session.call_tool("add", {"a": 2, "b": 3})
    assert not is_error(result) and text_of(result) == "5"
    session_span = cap.one("mcp.session")
    attributes = _attrs(session_span)
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == server.port
    assert attributes["mcp_otel.transport"] == transport
    assert attributes["mcp_otel.session.end_reason"] == "closed"
    for name in ("mcp.connect", "initialize", "tools/call add", "mcp.cleanup"):
        assert cap.parent_of(cap.one(name)) is session_span, name
    assert session_span.start_time <= cap.one("mcp.connect").start_time


async def test_reexport_and_from_import_are_traced(servers: dict[str, RunningServer]) -> None:
    server = servers["streamable-http"]
    with instrumented() as cap:
        from abi_core.abi_mcp import init_session
        from abi_core.abi_mcp.client import init_session as direct

        for helper in (init_session, direct):
            async with helper("127.0.0.1", server.port) as session:  # default transport: streamable-http
                await session.call_tool("echo", {"text": "abi"})
    sessions = cap.named("mcp.session")
    assert len(sessions) == 2
    assert {_attrs(s)["mcp_otel.transport"] for s in sessions} == {"streamable-http"}


async def test_unsupported_transport_is_a_failed_session() -> None:
    from abi_core.abi_mcp import client

    with instrumented() as cap:
        with pytest.raises(ValueError, match="Unsupported transport type"):
            async with client.init_session("127.0.0.1", 9, "websocket"):
                pytest.fail("entered")
    attributes = _attrs(cap.one("mcp.session", side=None))
    assert attributes["error.type"] == "ValueError"
    assert attributes["mcp_otel.session.end_reason"] == "error"


async def test_uninstrumented_is_the_original(servers: dict[str, RunningServer]) -> None:
    from abi_core.abi_mcp import client

    before = client.init_session
    with instrumented():
        assert client.init_session is not before
    assert client.init_session is before
