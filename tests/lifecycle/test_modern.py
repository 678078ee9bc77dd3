"""The 2026-07-28 revision (mcp 2.x): ``subscriptions/listen`` and the progress / list-change events on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import lifecycle_server as ls
import pytest
from opentelemetry.trace import SpanKind

from support.capture import instrumented
from support.env import MCP_MAJOR

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(MCP_MAJOR < 2, reason="2026-07-28 is mcp 2.x")]


@pytest.fixture(params=["memory", "http"])
def target(request: pytest.FixtureRequest, lifecycle_server: Callable[..., Any]) -> Callable[[], Any]:
    if request.param == "memory":
        return ls.build
    server = lifecycle_server()
    return lambda: server.url


def _events(span: Any, name: str) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == name]


async def test_subscriptions_listen_is_a_request_with_its_events(target: Callable[[], Any]) -> None:
    from mcp import Client

    with instrumented() as cap:
        async with Client(target()) as client:  # mode="auto": 2026-07-28
            assert client.session.protocol_version == "2026-07-28"
            async with client.listen(tools_list_changed=True) as subscription:
                await client.call_tool("publish_tools_changed", {})
                with anyio.fail_after(5):
                    event = await subscription.__anext__()
            assert type(event).__name__ == "ToolsListChanged"
    listen = [s for s in cap.spans() if s.name == "subscriptions/listen" and s.kind == SpanKind.CLIENT]
    assert len(listen) == 1, [(s.name, s.kind) for s in cap.spans()]
    assert listen[0].attributes["mcp.protocol.version"] == "2026-07-28"
    points = cap.metrics()["mcp.client.operation.duration"]
    assert any(p.attributes.get("mcp.method.name") == "subscriptions/listen" for p in points)
    sessions = [s for s in cap.named("mcp.session") if _events(s, "mcp_otel.list_changed")]
    assert len(sessions) == 1
    assert _events(sessions[0], "mcp_otel.list_changed") == [{"mcp_otel.list_changed.kind": "tools"}]


async def test_progress_on_2026_07_28(target: Callable[[], Any]) -> None:
    from mcp import Client

    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    with instrumented() as cap:
        async with Client(target()) as client:
            await client.call_tool("progress", {"n": 2}, progress_callback=on_progress)
    assert seen == [1, 2]
    for kind in (SpanKind.CLIENT, SpanKind.SERVER):
        spans = [s for s in cap.spans() if s.name == "tools/call progress" and s.kind == kind]
        if kind == SpanKind.SERVER and not spans:
            continue  # HTTP: the server is another process
        (span,) = spans
        assert [e["mcp_otel.progress.value"] for e in _events(span, "mcp_otel.progress")] == [1.0, 2.0]
