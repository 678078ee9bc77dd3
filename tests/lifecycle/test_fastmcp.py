"""FastMCP (3.x on mcp 1.x, 4.x on mcp 2.x): its Context and Client handlers reach the same events.

(No ``from __future__ import annotations``: FastMCP resolves the tool's ``Context`` annotation at runtime.)
"""

from typing import Any

import pytest

from support.capture import instrumented
from support.env import FASTMCP_MAJOR, HAS_FASTMCP

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(not HAS_FASTMCP, reason="fastmcp is not installed here")]


def _events(span: Any, name: str) -> list[dict[str, Any]]:
    return [dict(e.attributes or {}) for e in span.events if e.name == name]


async def test_fastmcp_progress_and_log() -> None:
    from fastmcp import Client, Context, FastMCP

    app = FastMCP("lifecycle")

    @app.tool()
    async def steps(ctx: Context) -> str:
        for i in range(1, 3):
            await ctx.report_progress(i, 2)
        await ctx.warning("LOG-MARKER")
        return "ok"

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pass

    async def on_log(message: Any) -> None:
        pass

    mode = {"mode": "legacy"} if FASTMCP_MAJOR >= 4 else {}
    with instrumented() as cap:
        async with Client(app, log_handler=on_log, **mode) as client:
            await client.call_tool("steps", {}, progress_handler=on_progress)
    for kind in ("CLIENT", "SERVER"):
        (call,) = [s for s in cap.spans() if s.name == "tools/call steps" and s.kind.name == kind]
        assert [e["mcp_otel.progress.value"] for e in _events(call, "mcp_otel.progress")] == [1.0, 2.0]
    logs = [e for s in cap.named("mcp.session") for e in _events(s, "mcp_otel.log")]
    assert logs == [{"mcp_otel.log.level": "warning"}]
