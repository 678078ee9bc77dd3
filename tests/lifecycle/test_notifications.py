"""Progress, server logs, list changes and server→client requests on real sessions (both SDK lines).

In-process (mcp 1.x memory streams, mcp 2.x ``Client(server, mode="legacy")``), stdio and streamable HTTP:
the server runs tests/servers/lifecycle_server.py; in-process tests instrument both sides in one process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import lifecycle_server as ls
import pytest
from clients import LOGS, connect, stdio_parameters
from opentelemetry.trace import SpanKind

from support.capture import Capture, instrumented
from support.env import MCP_VERSION_TUPLE

pytestmark = pytest.mark.anyio

KINDS = ("memory", "stdio", "http")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def target(kind: str, lifecycle_server: Callable[..., Any]) -> Callable[[], Any]:
    """The connect target for ``kind`` (a fresh server object for memory: built under instrumentation)."""
    if kind == "memory":
        return ls.build
    if kind == "stdio":
        return stdio_parameters
    server = lifecycle_server()
    return lambda: server.url


def _attrs(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def _events(span: Any, name: str) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == name]


def _all_text(cap: Capture) -> str:
    """Every attribute, event attribute and status description of every span, as one string."""
    parts: list[str] = []
    for span in cap.spans(None):
        parts.append(repr(dict(span.attributes or {})))
        parts.append(repr(span.status.description))
        parts.extend(repr(dict(e.attributes or {})) for e in span.events)
    return "\n".join(parts)


@asynccontextmanager
async def session(kind: str, target: Callable[[], Any]) -> AsyncIterator[Any]:
    async with connect(kind, target()) as s:
        yield s


def _tool_call(cap: Capture, tool: str, kind: SpanKind) -> Any:
    found = [s for s in cap.spans() if s.name == f"tools/call {tool}" and s.kind == kind]
    assert len(found) == 1, [s.name for s in cap.spans()]
    return found[0]


async def test_progress_events_on_both_request_spans(kind: str, target: Callable[[], Any]) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    with instrumented() as cap:
        async with session(kind, target) as s:
            await s.call_tool("progress", {"n": 3}, progress_callback=on_progress)
    if MCP_VERSION_TUPLE >= (1, 13):
        # mcp 1.12 over streamable HTTP sometimes loses a report before the app's callback sees it
        assert [p for p, _, _ in seen] == [1, 2, 3]  # the caller's callback still gets every report
    client = _tool_call(cap, "progress", SpanKind.CLIENT)
    events = _events(client, "mcp_otel.progress")
    assert [e["mcp_otel.progress.value"] for e in events] == [float(p) for p, _, _ in seen]
    # (empty when mcp 1.12 lost every report over HTTP: then there is nothing to check but the equality above)
    assert {e["mcp_otel.progress.total"] for e in events} <= {3.0}
    assert all("mcp_otel.progress.message" not in e for e in events)
    if MCP_VERSION_TUPLE >= (1, 13):
        assert events
    if kind == "memory":  # the server's SERVER span is in this process
        server = _tool_call(cap, "progress", SpanKind.SERVER)
        assert [e["mcp_otel.progress.value"] for e in _events(server, "mcp_otel.progress")] == [1.0, 2.0, 3.0]
    assert ls.MARKER_PROGRESS not in _all_text(cap)


async def test_progress_message_with_capture_on() -> None:
    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pass

    with instrumented(capture_content=True) as cap:
        async with session("memory", ls.build) as s:
            await s.call_tool("progress", {"n": 2}, progress_callback=on_progress)
    client = _tool_call(cap, "progress", SpanKind.CLIENT)
    messages = [e["mcp_otel.progress.message"] for e in _events(client, "mcp_otel.progress")]
    assert messages == [f"{ls.MARKER_PROGRESS}-1", f"{ls.MARKER_PROGRESS}-2"]


async def test_server_logs_and_list_changes_on_the_session(kind: str, target: Callable[[], Any]) -> None:
    LOGS.clear()
    with instrumented() as cap:
        async with session(kind, target) as s:
            if kind == "http":  # list_changed travels on the GET stream: let it open, and deliver
                await anyio.sleep(0.3)
            await s.call_tool("chatty", {"n": 4})
            await s.call_tool("change_tools", {})
            if kind == "http":
                await anyio.sleep(0.3)
    assert len(LOGS) == 4  # the app's logging callback is untouched
    sessions = [s for s in cap.named("mcp.session") if _events(s, "mcp_otel.log")]
    assert len(sessions) == 1
    logs = _events(sessions[0], "mcp_otel.log")
    assert [e["mcp_otel.log.level"] for e in logs] == list(ls.LEVELS)
    assert {e["mcp_otel.log.logger"] for e in logs} == {"chatty"}
    assert all("mcp_otel.log.data" not in e for e in logs)
    assert _events(sessions[0], "mcp_otel.list_changed") == [{"mcp_otel.list_changed.kind": "tools"}]
    assert ls.MARKER_LOG not in _all_text(cap)


async def test_log_data_with_capture_on() -> None:
    with instrumented(capture_content=True) as cap:
        async with session("memory", ls.build) as s:
            await s.call_tool("chatty", {"n": 2})
    (client_session,) = [s for s in cap.named("mcp.session") if _events(s, "mcp_otel.log")]
    data = [e["mcp_otel.log.data"] for e in _events(client_session, "mcp_otel.log")]
    assert data == [f"{ls.MARKER_LOG}-0", f"{ls.MARKER_LOG}-1"]


async def test_a_chatty_server_cannot_grow_the_session_span() -> None:
    with instrumented(max_span_events=10) as cap:
        async with session("memory", ls.build) as s:
            await s.call_tool("chatty", {"n": 50})
    (client_session,) = [s for s in cap.named("mcp.session") if _events(s, "mcp_otel.log")]
    assert len(_events(client_session, "mcp_otel.log")) == 10
    assert _attrs(client_session)["mcp_otel.events.dropped"] == 40


@pytest.mark.parametrize(
    "tool,method",
    [("sample", "sampling/createMessage"), ("elicit", "elicitation/create"), ("roots", "roots/list")],
)
async def test_server_to_client_requests_are_traced_on_both_lines(
    kind: str, target: Callable[[], Any], tool: str, method: str
) -> None:
    with instrumented() as cap:
        async with session(kind, target) as s:
            result = await s.call_tool(tool, {})
    text = result.content[0].text
    assert text == {"sample": "sampled", "elicit": "accept", "roots": "1"}[tool]
    callback = [s for s in cap.spans() if s.name == method and s.kind == SpanKind.SERVER]
    assert len(callback) == 1, [(s.name, s.kind) for s in cap.spans(None)]
    assert callback[0].attributes["mcp.method.name"] == method
    metrics = cap.metrics()
    assert any(
        p.attributes.get("mcp.method.name") == method for p in metrics["mcp.server.operation.duration"]
    )
    client_call = _tool_call(cap, tool, SpanKind.CLIENT)
    # the client's SERVER span is in the trace of the client's tools/call
    assert callback[0].context.trace_id == client_call.context.trace_id
    if kind == "memory":  # the server's side is in this process
        server_call = _tool_call(cap, tool, SpanKind.SERVER)
        sent = [s for s in cap.spans(None) if s.name == method and s.kind == SpanKind.CLIENT]
        assert len(sent) == 1, [(s.name, s.kind, s.instrumentation_scope.name) for s in cap.spans(None)]
        assert sent[0].instrumentation_scope.name == "mcp_otel"  # mcp 2.x's own span adopted, not doubled
        assert sent[0].parent.span_id == server_call.context.span_id
        assert callback[0].parent.span_id == sent[0].context.span_id
        assert any(
            p.attributes.get("mcp.method.name") == method for p in metrics["mcp.client.operation.duration"]
        )


async def test_session_duration_metrics_carry_no_network_transport(
    lifecycle_server: Callable[..., Any],
) -> None:
    """semantic-conventions-genai PR #453: one session's requests may travel differently."""
    server = lifecycle_server()
    with instrumented() as cap:
        async with session("http", lambda: server.url) as s:
            await s.call_tool("progress", {"n": 1})
        async with session("memory", ls.build) as s:  # the in-process server's session too
            await s.call_tool("progress", {"n": 1})
    metrics = cap.metrics()
    client_points = metrics["mcp.client.session.duration"]
    assert client_points and all("network.transport" not in p.attributes for p in client_points)
    assert any(p.attributes.get("network.protocol.name") == "http" for p in client_points)
    server_points = metrics["mcp.server.session.duration"]
    assert server_points and all("network.transport" not in p.attributes for p in server_points)
    # the operation metrics keep it
    assert any("network.transport" in p.attributes for p in metrics["mcp.client.operation.duration"])


async def test_excluded_notifications_record_nothing() -> None:
    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pass

    excluded = ["notifications/progress", "notifications/message"]
    with instrumented(excluded_methods=excluded) as cap:
        async with session("memory", ls.build) as s:
            await s.call_tool("progress", {"n": 2}, progress_callback=on_progress)
            await s.call_tool("chatty", {"n": 2})
            await s.call_tool("change_tools", {})
    events = [e.name for span in cap.spans() for e in span.events]
    assert "mcp_otel.progress" not in events and "mcp_otel.log" not in events
    assert "mcp_otel.list_changed" in events  # not excluded
