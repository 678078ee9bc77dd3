"""The application sees exactly the same outcome with and without mcp-otel: every adapter, every case.

Each scenario runs twice, plain then instrumented, and the outcomes are compared: a result as
(is_error, text), an exception as its (unwrapped) type, message and JSON-RPC code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import anyio
import pytest

from support.capture import instrumented
from support.clients import error_code, is_error, open_connection, unwrap
from support.env import HAS_FASTMCP, MCP_MAJOR
from support.inproc import build_server, open_session
from support.servers import RunningServer, free_port, start_http_servers, stdio_server_params

pytestmark = pytest.mark.anyio
Scenario = Callable[[], Awaitable[Any]]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, RunningServer]]:
    specs = [{"flavour": "sdk", "transport": "streamable-http"}]
    if HAS_FASTMCP:
        specs.append({"flavour": "fastmcp", "transport": "streamable-http"})
    started = start_http_servers(specs)
    try:
        yield {s.flavour: s for s in started}
    finally:
        for server in started:
            server.close()


def _describe(value: Any) -> Any:
    if isinstance(value, BaseException):
        inner = unwrap(value)
        return ("raised", type(value).__name__, type(inner).__qualname__, str(inner), error_code(inner))
    content = getattr(value, "content", None)
    text = getattr(content[0], "text", None) if content else repr(value)
    return ("returned", is_error(value), text)


async def _outcome(scenario: Scenario) -> Any:
    try:
        with anyio.fail_after(20):
            return _describe(await scenario())
    except BaseException as exc:
        return _describe(exc)


async def _compare(scenario: Scenario) -> Any:
    plain = await _outcome(scenario)
    with instrumented() as cap:
        traced = await _outcome(scenario)
    assert traced == plain
    assert cap.spans(None), "the instrumented run produced no spans"
    return plain


def _timeout(seconds: float) -> Any:
    return seconds if MCP_MAJOR >= 2 else timedelta(seconds=seconds)


async def _cancelled_call(call: Callable[[], Awaitable[Any]]) -> Any:
    with anyio.move_on_after(0.3) as scope:
        await call()
    return ("cancelled", scope.cancelled_caught)


# --- cases, each taking a "call(name, args, **kw)" ---------------------------------------------------
CASES: dict[str, Callable[[Any], Awaitable[Any]]] = {
    "success": lambda s: s.call_tool("add", {"a": 1, "b": 2}),
    "tool_error": lambda s: s.call_tool("fail_tool", {}),
    "jsonrpc_error": lambda s: s.read_resource("res://missing"),
    "timeout": lambda s: s.call_tool("slow", {"seconds": 2.0}, read_timeout_seconds=_timeout(0.3)),
    "cancellation": lambda s: _cancelled_call(lambda: s.call_tool("slow", {"seconds": 2.0})),
    "bad_argument": lambda s: s.call_tool("add", {"a": object(), "b": 1}),
}


class _HttpSession:
    """ClientSession calls with the in-process helper's spelling (read_resource takes a str)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def call_tool(self, *args: Any, **kwargs: Any) -> Any:
        return self.session.call_tool(*args, **kwargs)

    def read_resource(self, uri: str) -> Any:
        if MCP_MAJOR >= 2:
            return self.session.read_resource(uri)
        from pydantic import AnyUrl

        return self.session.read_resource(AnyUrl(uri))


@pytest.mark.parametrize("case", sorted(CASES))
async def test_in_process(case: str) -> None:
    async def scenario() -> Any:
        async with open_session(build_server()) as s:
            return await CASES[case](s)

    await _compare(scenario)


@pytest.mark.parametrize("case", sorted(CASES))
async def test_streamable_http(servers: dict[str, RunningServer], case: str) -> None:
    url = servers["sdk"].url

    async def scenario() -> Any:
        async with open_connection("streamable-http", url) as conn:
            return await CASES[case](_HttpSession(conn.session))

    await _compare(scenario)


@pytest.mark.parametrize("case", ["success", "tool_error", "jsonrpc_error"])
async def test_stdio(case: str) -> None:
    params = stdio_server_params("sdk")

    async def scenario() -> Any:
        async with open_connection("stdio", params) as conn:
            return await CASES[case](_HttpSession(conn.session))

    await _compare(scenario)


async def test_connection_loss_nothing_listening() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"

    async def scenario() -> Any:
        async with open_connection("streamable-http", url) as conn:
            return await conn.session.call_tool("add", {"a": 1, "b": 1})

    outcome = await _compare(scenario)
    assert outcome[0] == "raised"


@pytest.mark.skipif(MCP_MAJOR < 2, reason="mcp.Client is mcp 2.x")
@pytest.mark.parametrize("case", ["success", "tool_error", "jsonrpc_error", "timeout"])
async def test_mcp_client(servers: dict[str, RunningServer], case: str) -> None:
    from mcp import Client

    async def scenario() -> Any:
        async with Client(servers["sdk"].url) as client:
            return await CASES[case](client)

    await _compare(scenario)


@pytest.mark.parametrize("case", ["success", "tool_error", "jsonrpc_error", "timeout"])
async def test_fastmcp_client(servers: dict[str, RunningServer], case: str) -> None:
    if not HAS_FASTMCP:
        pytest.skip("fastmcp is not installed here")
    from fastmcp import Client

    calls = {
        "success": lambda c: c.call_tool("add", {"a": 1, "b": 2}),
        "tool_error": lambda c: c.call_tool("fail_tool", {}),
        "jsonrpc_error": lambda c: c.read_resource("res://missing"),
        "timeout": lambda c: c.call_tool("slow", {"seconds": 2.0}, timeout=0.3),
    }

    async def scenario() -> Any:
        async with Client(servers["fastmcp"].url) as client:
            return await calls[case](client)

    await _compare(scenario)
