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
from support.env import MCP_MAJOR, MCP_VERSION_TUPLE

pytestmark = pytest.mark.anyio

TOKEN = "s3cr3t-good-token"


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


# --- OAuth: mcp's OAuthClientProvider against an authorization server on 127.0.0.1 --------------------
class _Storage:
    def __init__(self) -> None:
        self.tokens: Any = None
        self.client_info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


def _provider(mcp_url: str) -> Any:
    """An OAuthClientProvider whose "browser" follows the authorization redirect itself."""
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata

    redirect_uri = "http://127.0.0.1:9/callback"
    landed: dict[str, str] = {}

    async def redirect_handler(url: str) -> None:
        from urllib.parse import parse_qs, urlsplit

        http = _httpx()
        async with http.AsyncClient() as client:
            response = await client.get(url)  # the authorization server approves at once (302)
        query = parse_qs(urlsplit(response.headers["location"]).query)
        landed.update(code=query["code"][0], state=query["state"][0])

    async def callback_handler() -> Any:
        if MCP_MAJOR >= 2:
            from mcp.client.auth import AuthorizationCodeResult

            return AuthorizationCodeResult(code=landed["code"], state=landed["state"])
        return landed["code"], landed["state"]

    metadata = OAuthClientMetadata(
        redirect_uris=[redirect_uri], grant_types=["authorization_code", "refresh_token"], scope="mcp"
    )
    return OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=metadata,
        storage=_Storage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )


def _httpx() -> Any:
    if MCP_MAJOR >= 2:
        import httpx2

        return httpx2
    import httpx

    return httpx


@asynccontextmanager
async def oauth_session(url: str, auth: Any) -> AsyncIterator[Any]:
    from mcp import ClientSession

    if MCP_MAJOR >= 2:
        from mcp.client.streamable_http import streamable_http_client

        async with _httpx().AsyncClient(auth=auth) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    yield session
        return
    from mcp.client.streamable_http import streamablehttp_client

    async with streamablehttp_client(url, auth=auth) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


@pytest.mark.skipif(
    MCP_VERSION_TUPLE < (1, 13),
    reason="mcp 1.12's OAuth client looks for the authorization server at the MCP server's origin",
)
async def test_oauth_flows_are_spans_under_the_session(
    lifecycle_server: Callable[..., Any], oauth_server: Callable[..., Any]
) -> None:
    """401 -> discovery -> authorization (registration, code exchange); the token expires after 1 s, so
    the next request refreshes it first. Nothing secret reaches the telemetry."""
    import anyio

    authorization = oauth_server("--access-token", TOKEN, "--expires-in", "1")
    server = lifecycle_server("--token", TOKEN, "--issuer", authorization.base_url)
    with instrumented() as cap:
        async with oauth_session(server.url, _provider(server.url)) as session:
            await session.call_tool("progress", {"n": 1})
            await anyio.sleep(1.2)
            await session.call_tool("progress", {"n": 1})
    (session_span,) = cap.named("mcp.session")
    auth = sorted(cap.named("mcp.auth"), key=lambda s: s.start_time)
    assert [s.attributes["mcp_otel.auth.step"] for s in auth] == ["discovery", "authorization", "refresh"]
    for span in auth:
        assert span.parent.span_id == session_span.context.span_id
        assert "error.type" not in span.attributes
    assert "error.type" not in session_span.attributes
    text = _text(cap)
    for secret in (TOKEN, "CODE-MARKER", "REFRESH-MARKER"):
        assert secret not in text


@pytest.mark.skipif(
    MCP_VERSION_TUPLE < (1, 13),
    reason="mcp 1.12's OAuth client looks for the authorization server at the MCP server's origin",
)
async def test_failed_oauth_flow(
    lifecycle_server: Callable[..., Any], oauth_server: Callable[..., Any]
) -> None:
    """The authorization server refuses the code exchange: the authorization span and the session fail."""
    authorization = oauth_server("--access-token", TOKEN, "--reject-tokens")
    server = lifecycle_server("--token", TOKEN, "--issuer", authorization.base_url)
    with instrumented() as cap:
        with pytest.raises(BaseException):  # noqa: B017 (each SDK line raises its own shape)
            async with oauth_session(server.url, _provider(server.url)) as session:
                await session.call_tool("progress", {"n": 1})
    steps = {s.attributes["mcp_otel.auth.step"]: s for s in cap.named("mcp.auth")}
    failed = steps["authorization"]
    assert failed.attributes["error.type"].endswith("OAuthTokenError")
    assert failed.status.description == f"OAuth authorization failed: {failed.attributes['error.type']}"
    assert "error.type" not in steps["discovery"].attributes
    (session_span,) = cap.named("mcp.session")
    assert session_span.attributes["error.type"].endswith("OAuthTokenError")
    assert "invalid_grant" not in _text(cap) and "CODE-MARKER" not in _text(cap)
