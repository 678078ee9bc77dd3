"""``mcp_otel.trace_session``: an application's own ``init_session``-style helper traced as one session
(the outermost layer owns ``mcp.session``), against a real streamable-HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from mcp_otel import trace_session

if sys.version_info < (3, 11):  # pragma: no cover - Python 3.10 (v1-oldest)
    from exceptiongroup import BaseExceptionGroup
from support.capture import instrumented
from support.clients import _streamable_http_client, is_error, unwrap
from support.servers import RunningServer, start_http_server

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with start_http_server("sdk", "streamable-http") as running:
        yield running


@trace_session
@asynccontextmanager
async def init_session(host: str, port: int, transport: str = "streamable-http") -> AsyncIterator[Any]:
    """The seed's helper: transport, then ClientSession, initialized."""
    from mcp import ClientSession

    if transport != "streamable-http":
        raise ValueError(f"Unsupported transport type: {transport}")
    async with _streamable_http_client(f"http://{host}:{port}/mcp") as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            yield session


@trace_session(host=None, port=None, transport=None, url="endpoint")
@asynccontextmanager
async def session_for(endpoint: str) -> AsyncIterator[Any]:
    """A helper of a different shape: a URL; it delegates to another traced helper."""
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    async with init_session(parts.hostname, parts.port) as session:
        yield session


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_helper_owns_the_session(server: RunningServer) -> None:
    with instrumented() as cap:
        async with init_session("127.0.0.1", server.port, "streamable-http") as session:
            assert not is_error(await session.call_tool("add", {"a": 1, "b": 2}))
            assert trace.get_current_span() is trace.INVALID_SPAN
    session_span = cap.one("mcp.session")
    assert session_span.parent is None
    attributes = _attrs(session_span)
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == server.port
    assert attributes["mcp_otel.transport"] == "streamable-http"
    assert attributes["mcp_otel.session.end_reason"] == "closed"
    for name in ("mcp.connect", "initialize", "tools/call add", "mcp.cleanup"):
        assert cap.parent_of(cap.one(name)) is session_span, name
    assert session_span.start_time <= cap.one("mcp.connect").start_time
    assert session_span.end_time >= cap.one("mcp.cleanup").end_time


async def test_outermost_helper_owns_nested_helpers(server: RunningServer) -> None:
    with instrumented() as cap:
        async with session_for(f"http://127.0.0.1:{server.port}/mcp") as session:
            await session.call_tool("echo", {"text": "hi"})
    session_span = cap.one("mcp.session")  # one session for two helpers, a transport and a ClientSession
    assert cap.parent_of(cap.one("tools/call echo")) is session_span
    assert _attrs(session_span)["server.port"] == server.port


async def test_helper_failure_before_any_transport() -> None:
    with instrumented() as cap:
        with pytest.raises(ValueError, match="Unsupported transport type: carrier-pigeon") as raised:
            async with init_session("127.0.0.1", 1, "carrier-pigeon"):
                pytest.fail("entered")
    assert type(raised.value) is ValueError
    session_span = cap.one("mcp.session", side=None)
    attributes = _attrs(session_span)
    assert attributes["error.type"] == "ValueError"
    assert attributes["mcp_otel.session.end_reason"] == "error"
    assert "mcp_otel.transport" not in attributes
    assert not cap.named("mcp.connect")


async def test_body_error_passes_through(server: RunningServer) -> None:
    class Boom(Exception):
        pass

    error = Boom("boom")
    with instrumented() as cap:
        # mcp's ClientSession task group may wrap it in an ExceptionGroup: the library's doing, not ours
        with pytest.raises((Boom, BaseExceptionGroup)) as raised:
            async with init_session("127.0.0.1", server.port) as session:
                await session.call_tool("add", {"a": 1, "b": 2})
                raise error
    assert unwrap(raised.value) is error
    attributes = _attrs(cap.one("mcp.session"))
    assert attributes["mcp_otel.session.end_reason"] == "error"
    assert attributes["error.type"].endswith("Boom"), attributes


async def test_untraced_without_instrumentation_or_when_suppressed(server: RunningServer) -> None:
    cm = init_session("127.0.0.1", server.port)
    assert type(cm).__name__ == "_AsyncGeneratorContextManager"  # not instrumented: returned as it is
    async with cm as session:
        await session.call_tool("add", {"a": 1, "b": 2})
    with instrumented() as cap:
        with suppress_instrumentation():
            cm = init_session("127.0.0.1", server.port)
            assert type(cm).__name__ == "_AsyncGeneratorContextManager"  # the helper adds nothing
            async with cm as session:
                await session.call_tool("add", {"a": 1, "b": 2})
    assert cap.named("tools/call add") == []


def test_decorating_a_bare_async_generator_is_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    async def helper(host: str) -> AsyncIterator[None]:
        yield None

    with caplog.at_level(logging.WARNING, logger="mcp_otel"):
        assert trace_session(helper) is helper
    assert "above @asynccontextmanager" in caplog.text
