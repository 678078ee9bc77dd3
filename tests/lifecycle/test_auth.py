"""HTTP 401/403 against a real server behind mcp's own bearer-token auth (a token verifier).

The client's auth cannot resolve them (a fixed, wrong or under-scoped bearer token, no OAuth provider):
requests and the session end with ``error.type`` ``unauthorized`` / ``forbidden``, and the token never
reaches the telemetry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from support.capture import instrumented
from support.env import MCP_MAJOR

pytestmark = pytest.mark.anyio

TOKEN = "s3cr3t-good-token"  # noqa: S105 (a test token)


@asynccontextmanager
async def bearer_session(url: str, token: str) -> AsyncIterator[Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if MCP_MAJOR >= 2:
        import httpx2
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client

        async with httpx2.AsyncClient(headers=headers) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    yield session
        return
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with streamablehttp_client(url, headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


def _text(cap: Any) -> str:
    parts = []
    for span in cap.spans(None):
        parts += [repr(dict(span.attributes or {})), repr(span.status.description)]
        parts += [repr(dict(e.attributes or {})) for e in span.events]
    return "\n".join(parts)


@pytest.mark.parametrize("token,expected", [("expired-or-wrong", "unauthorized"), ("weak", "forbidden")])
async def test_unresolved_401_403_on_request_and_session(
    lifecycle_server: Callable[..., Any], token: str, expected: str
) -> None:
    server = lifecycle_server("--token", TOKEN)
    with instrumented() as cap:
        with pytest.raises(BaseException):  # noqa: B017 (each SDK line raises its own shape)
            async with bearer_session(server.url, token) as session:
                await session.call_tool("progress", {"n": 1})
    (initialize,) = cap.named("initialize")
    assert initialize.attributes["error.type"] == expected
    (session_span,) = cap.named("mcp.session")
    assert session_span.attributes["error.type"] == expected
    points = cap.metrics()["mcp.client.session.duration"]
    assert {p.attributes.get("error.type") for p in points} == {expected}
    assert token not in _text(cap) and TOKEN not in _text(cap)


async def test_valid_token_passes(lifecycle_server: Callable[..., Any]) -> None:
    server = lifecycle_server("--token", TOKEN)
    with instrumented() as cap:
        async with bearer_session(server.url, TOKEN) as session:
            await session.call_tool("progress", {"n": 1})
    (session_span,) = cap.named("mcp.session")
    assert "error.type" not in session_span.attributes
    assert TOKEN not in _text(cap)
