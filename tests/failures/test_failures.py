"""Each failure mcp-otel reports, reproduced for real against servers on 127.0.0.1, on both mcp lines.

Asserts on exported spans and metrics: timeouts, "Session terminated" (out-of-band DELETE, idle expiry,
restart), connection loss (killed stdio and HTTP servers, HTTP 500, nothing listening), retries.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import anyio
import httpx
import pytest
from opentelemetry.trace import StatusCode

from support.capture import instrumented
from support.clients import open_connection
from support.env import MCP_MAJOR, MCP_VERSION_TUPLE
from support.servers import free_port, start_http_server, stdio_server_params, supports_idle_timeout

pytestmark = pytest.mark.anyio
FAULT_SCRIPT = Path(__file__).resolve().parents[1] / "servers" / "fault_server.py"


def _attrs(span) -> dict:
    return dict(span.attributes or {})


def _points(cap, metric: str, **match) -> list:
    return [
        p for p in cap.metrics().get(metric, []) if all(p.attributes.get(k) == v for k, v in match.items())
    ]


@pytest.fixture(scope="module")
def server():
    with start_http_server("sdk", "streamable-http") as running:
        yield running


# --- timeouts -----------------------------------------------------------------------------------------


async def test_read_timeout(server) -> None:
    with instrumented() as cap:
        async with open_connection("streamable-http", server.url, read_timeout=0.5) as conn:
            with pytest.raises(Exception):  # noqa: B017 - McpError 408 (1.x) / MCPError -32001 (2.x)
                await conn.session.call_tool("slow", {"seconds": 2.0})
            result = await conn.session.call_tool("add", {"a": 1, "b": 1})  # the session stays usable
            assert result.content[0].text == "2"
    span = cap.one("tools/call slow")
    attributes = _attrs(span)
    assert attributes["error.type"] == "timeout"  # never "408" or "-32001"
    assert "rpc.response.status_code" not in attributes
    assert attributes["mcp_otel.request.timeout"] == 0.5
    assert span.status.status_code == StatusCode.ERROR
    assert _attrs(cap.one("tools/call add"))["mcp_otel.request.timeout"] == 0.5
    session = _attrs(cap.one("mcp.session"))
    assert session["mcp_otel.session.timeouts"] == 1
    assert session["mcp_otel.session.end_reason"] == "closed"
    assert _points(cap, "mcp.client.operation.duration", **{"error.type": "timeout"})
    if MCP_MAJOR >= 2:  # mcp 2.x sends a courtesy notifications/cancelled; 1.x sends none
        events = [e for e in span.events if e.name == "mcp_otel.cancel.sent"]
        assert events and "timed out" in events[0].attributes["mcp_otel.cancel.reason"]


async def test_per_request_timeout_wins(server) -> None:
    from datetime import timedelta

    per_call = 0.4 if MCP_MAJOR >= 2 else timedelta(seconds=0.4)
    with instrumented() as cap:
        async with open_connection("streamable-http", server.url, read_timeout=5) as conn:
            with pytest.raises(Exception):  # noqa: B017
                await conn.session.call_tool("slow", {"seconds": 2.0}, read_timeout_seconds=per_call)
    assert _attrs(cap.one("tools/call slow"))["mcp_otel.request.timeout"] == 0.4


@pytest.mark.skipif(MCP_MAJOR >= 2 or MCP_VERSION_TUPLE < (1, 24), reason="the mcp 1.x silent SSE hang")
async def test_v1_sse_read_timeout_hang_ends_span_when_caller_gives_up(server) -> None:
    """mcp 1.x swallows an HTTP read timeout on a POST's SSE response and the call waits forever."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    client = httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.5))
    with instrumented() as cap:
        async with streamable_http_client(server.url, http_client=client) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                with anyio.move_on_after(2) as scope:
                    await session.call_tool("slow", {"seconds": 3.0})
                assert scope.cancelled_caught
    span = cap.one("tools/call slow")
    assert _attrs(span)["error.type"] == "cancelled"
    assert span.status.status_code == StatusCode.ERROR


# --- session terminated ---------------------------------------------------------------------------


async def _server_session_id(conn) -> str:
    return (await conn.session.call_tool("whoami", {})).content[0].text


def _assert_terminated(cap) -> None:
    failed = [s for s in cap.named("tools/call add") if _attrs(s).get("error.type")]
    assert failed, [(s.name, _attrs(s)) for s in cap.spans()]
    assert _attrs(failed[0])["error.type"] == "session_terminated"
    session = cap.one("mcp.session")
    assert _attrs(session)["mcp_otel.session.end_reason"] == "terminated"
    assert _attrs(session)["error.type"] == "session_terminated"
    assert session.status.status_code == StatusCode.ERROR
    assert _points(cap, "mcp.client.session.duration", **{"error.type": "session_terminated"})


async def _call_expecting_failure(conn) -> None:
    with pytest.raises(Exception) as info:
        await conn.session.call_tool("add", {"a": 1, "b": 2})
    text = str(info.value)
    assert "Session terminated" in text or "Session not found" in text


async def test_session_terminated_by_out_of_band_delete(server) -> None:
    with instrumented() as cap:
        async with open_connection("streamable-http", server.url) as conn:
            sid = await _server_session_id(conn)
            init = conn.initialize_result
            version = getattr(init, "protocol_version", None) or init.protocolVersion
            async with httpx.AsyncClient() as http:
                response = await http.delete(
                    server.url, headers={"mcp-session-id": sid, "mcp-protocol-version": str(version)}
                )
            assert response.status_code == 200
            await _call_expecting_failure(conn)
    _assert_terminated(cap)


async def test_session_terminated_by_idle_expiry() -> None:
    if not supports_idle_timeout("sdk"):
        pytest.skip("this mcp has no session idle timeout")
    with start_http_server("sdk", "streamable-http", idle_timeout=1, reject_get_stream=True) as idle:
        with instrumented() as cap:
            async with open_connection("streamable-http", idle.url) as conn:
                await anyio.sleep(2.5)
                await _call_expecting_failure(conn)
    _assert_terminated(cap)


async def test_session_terminated_by_server_restart() -> None:
    old_server = MCP_VERSION_TUPLE < (1, 20)
    with start_http_server("sdk", "streamable-http") as restarting, instrumented() as cap:
        with pytest.raises(BaseException) if old_server else _no_raise():
            async with open_connection("streamable-http", restarting.url) as conn:
                restarting.restart()
                if old_server:
                    await conn.session.call_tool("add", {"a": 1, "b": 2})
                else:
                    await _call_expecting_failure(conn)
    if old_server:
        # mcp 1.12's server answers 400 (not 404) to an unknown session id: the 1.x client's POST writer
        # dies with HTTPStatusError and the call sees a closed stream. Nothing says "session" here.
        assert _attrs(cap.one("tools/call add"))["error.type"] == "connection_closed"
        return
    _assert_terminated(cap)


class _no_raise:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


# --- connection loss ------------------------------------------------------------------------------


async def test_killed_stdio_server(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    params = stdio_server_params("sdk", env={"MCP_TEST_PID_FILE": str(pid_file)})
    params = params.model_copy(update={"args": [str(FAULT_SCRIPT), *params.args[1:]]})
    with instrumented() as cap:
        async with open_connection("stdio", params) as conn:

            async def kill_soon() -> None:
                await anyio.sleep(0.5)
                os.kill(int(pid_file.read_text()), signal.SIGKILL)

            async with anyio.create_task_group() as tg:
                tg.start_soon(kill_soon)
                with pytest.raises(Exception) as info:
                    with anyio.fail_after(10):  # never hang
                        await conn.session.call_tool("slow", {"seconds": 5.0})
            assert "Connection closed" in str(info.value)
            with pytest.raises(Exception):  # noqa: B017 - later calls fail too
                await conn.session.call_tool("add", {"a": 1, "b": 1})
    span = cap.one("tools/call slow")
    assert _attrs(span)["error.type"] == "connection_closed"
    assert _attrs(cap.one("tools/call add"))["error.type"] == "connection_closed"
    assert _attrs(cap.one("mcp.session"))["mcp_otel.session.errors"] == 2


async def test_killed_http_server() -> None:
    with start_http_server("sdk", "streamable-http") as doomed, instrumented() as cap:
        with pytest.raises(BaseException):  # noqa: B017 - the transport's task group fails
            with anyio.fail_after(15):
                async with open_connection("streamable-http", doomed.url) as conn:
                    doomed.kill()
                    await conn.session.call_tool("add", {"a": 1, "b": 2})
    request = _attrs(cap.one("tools/call add"))
    assert request["error.type"]
    session = cap.one("mcp.session")
    assert _attrs(session)["mcp_otel.session.end_reason"] == "error"
    # 1.x: the POST writer fails and closes the streams (connection_closed); 2.x: the transport's task
    # group fails with httpx2.ConnectError, cancelling the pending call
    assert _attrs(session)["error.type"] in {"connection_closed", "httpx2.ConnectError", "httpx.ConnectError"}
    assert _points(cap, "mcp.client.session.duration")[0].attributes.get("error.type")


async def test_http_500(fault_server) -> None:
    faulty = fault_server(env={"MCP_TEST_HTTP_500_TOOL": "echo"})
    with instrumented() as cap, pytest.raises(BaseException):  # noqa: B017
        with anyio.fail_after(15):
            async with open_connection("streamable-http", faulty.url) as conn:
                await conn.session.call_tool("echo", {"text": "x"})
    error_type = _attrs(cap.one("tools/call echo"))["error.type"]
    # mcp 2.x: -32603 "Server returned an error response"; 1.x: the transport dies with HTTPStatusError
    assert error_type == ("-32603" if MCP_MAJOR >= 2 else "cancelled")
    assert _attrs(cap.one("mcp.session"))["mcp_otel.session.end_reason"] == "error"


async def test_nothing_listening() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    with instrumented() as cap, pytest.raises(BaseException):  # noqa: B017
        with anyio.fail_after(15):
            async with open_connection("streamable-http", url):
                pass
    connect = cap.one("mcp.connect") if cap.named("mcp.connect") else None
    session = cap.one("mcp.session")
    assert _attrs(session)["mcp_otel.session.end_reason"] == "error"
    assert "ConnectError" in _attrs(session)["error.type"]
    assert connect is not None and connect.end_time <= session.end_time


# --- retries --------------------------------------------------------------------------------------


def _all_messages(exc: BaseException) -> str:
    """str() of the exception and of everything inside its ExceptionGroups."""
    parts = [str(exc)]
    for inner in getattr(exc, "exceptions", ()):
        parts.append(_all_messages(inner))
    return " ".join(parts)


async def _seed_style_call_tool_with_retry(url: str, max_retries: int = 3, retry_delay: float = 0.05):
    """The seed write-up's call_tool_with_retry: a new session per attempt, retry on session errors.

    One fix: the seed matches ``str(e)``, but an error raised inside ``async with ClientSession`` leaves it
    wrapped in an ExceptionGroup whose str() never says "session terminated", so as written the seed's
    loop never retries. We look inside the group.
    """
    for attempt in range(max_retries):
        try:
            async with open_connection("streamable-http", url) as conn:
                return await conn.session.call_tool("add", {"a": 20, "b": 22})
        except Exception as exc:
            message = _all_messages(exc).lower()
            if (
                "session terminated" in message or "session not found" in message
            ) and attempt < max_retries - 1:
                await anyio.sleep(retry_delay * (attempt + 1))
                continue
            raise
    raise AssertionError("unreachable")


async def test_retry_loop_is_detected(fault_server) -> None:
    faulty = fault_server(env={"MCP_TEST_FAIL_TOOL_CALLS": "2"})
    with instrumented() as cap:
        result = await _seed_style_call_tool_with_retry(faulty.url)
    assert result.content[0].text == "42"
    calls = sorted(cap.named("tools/call add"), key=lambda s: s.start_time)
    assert [_attrs(c).get("mcp_otel.retry.attempt") for c in calls] == [None, 2, 3]
    assert [_attrs(c).get("error.type") for c in calls] == ["session_terminated", "session_terminated", None]
    assert len(cap.named("mcp.session")) == 3  # one session per attempt
    retries = cap.metrics()["mcp_otel.client.retries"]
    assert sum(p.value for p in retries) == 2
    assert {p.attributes["error.type"] for p in retries} == {"session_terminated"}
    assert all(p.attributes["gen_ai.tool.name"] == "add" for p in retries)


async def test_different_arguments_are_not_a_retry(fault_server) -> None:
    faulty = fault_server(env={"MCP_TEST_FAIL_TOOL_CALLS": "1"})
    with instrumented() as cap:
        async with open_connection("streamable-http", faulty.url) as conn:
            with pytest.raises(Exception):  # noqa: B017
                await conn.session.call_tool("add", {"a": 1, "b": 1})
        async with open_connection("streamable-http", faulty.url) as conn:
            await conn.session.call_tool("add", {"a": 2, "b": 2})
    assert all("mcp_otel.retry.attempt" not in _attrs(c) for c in cap.named("tools/call add"))
    assert "mcp_otel.client.retries" not in cap.metrics()


async def test_retry_helper_sets_attempts_exactly(fault_server) -> None:
    from mcp_otel import call_with_retry

    faulty = fault_server(env={"MCP_TEST_FAIL_TOOL_CALLS": "2"})

    async def one_attempt():
        async with open_connection("streamable-http", faulty.url) as conn:
            return await conn.session.call_tool("add", {"a": 40, "b": 2})

    with instrumented() as cap:
        result = await call_with_retry(one_attempt, max_attempts=4, initial_delay=0.01)
    assert result.content[0].text == "42"
    calls = sorted(cap.named("tools/call add"), key=lambda s: s.start_time)
    assert [_attrs(c)["mcp_otel.retry.attempt"] for c in calls] == [1, 2, 3]
    assert {_attrs(c)["mcp_otel.retry.max_attempts"] for c in calls} == {4}
    initializes = cap.named("initialize")
    assert sorted(_attrs(i)["mcp_otel.retry.attempt"] for i in initializes) == [1, 2, 3]
    retries = cap.metrics()["mcp_otel.client.retries"]
    assert sum(p.value for p in retries) == 2
    assert {p.attributes["error.type"] for p in retries} == {"session_terminated"}


async def test_retry_helper_never_retries_tool_errors_by_default(server) -> None:
    from mcp_otel import call_with_retry

    calls = 0

    async def one_attempt():
        nonlocal calls
        calls += 1
        async with open_connection("streamable-http", server.url) as conn:
            await conn.session.read_resource(
                "res://missing" if MCP_MAJOR >= 2 else __import__("pydantic").AnyUrl("res://missing")
            )

    with instrumented(), pytest.raises(Exception):  # noqa: B017
        await call_with_retry(one_attempt, max_attempts=3, initial_delay=0.01)
    assert calls == 1


async def test_retry_helper_gives_up_after_max_attempts() -> None:
    from mcp_otel import call_with_retry

    url = f"http://127.0.0.1:{free_port()}/mcp"
    started = time.monotonic()

    async def one_attempt():
        async with open_connection("streamable-http", url) as conn:
            return await conn.session.call_tool("add", {"a": 1, "b": 1})

    with instrumented() as cap, pytest.raises(BaseException) as info:
        await call_with_retry(one_attempt, max_attempts=3, initial_delay=0.01)
    assert "ConnectError" in repr(info.value)
    assert time.monotonic() - started < 10
    assert len(cap.named("mcp.session")) == 3
    assert sum(p.value for p in cap.metrics()["mcp_otel.client.retries"]) == 2


async def test_request_pending_when_session_ends_is_ended_with_it(server) -> None:
    """A call still waiting when its session is exited from another task: its span ends with the session
    (mcp 1.x may never wake the waiter; mcp 2.x fans out Connection closed)."""
    with instrumented() as cap:
        async with anyio.create_task_group() as tg:
            async with open_connection("streamable-http", server.url) as conn:

                async def pending_call() -> None:
                    try:
                        await conn.session.call_tool("slow", {"seconds": 5.0})
                    except Exception:
                        pass

                tg.start_soon(pending_call)
                await anyio.sleep(0.5)
            # the session is over; whatever the library does with the waiter, the span has ended
            ended = cap.named("tools/call slow")
            tg.cancel_scope.cancel()
    assert len(ended) == 1
    assert _attrs(ended[0])["error.type"] == "connection_closed"
    assert _attrs(cap.one("mcp.session"))["mcp_otel.session.errors"] == 1
