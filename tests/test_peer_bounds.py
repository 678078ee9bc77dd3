"""DESIGN trust rule 5: a peer cannot blow up the telemetry.

* A raw hostile server over stdio answers ``initialize`` with a 1 MB ``protocolVersion`` (and server name,
  version) and ``tools/call`` with a 1 MB error message and a code outside JSON-RPC's range: every span
  attribute and status stays within ``max_attribute_length``, metrics carry ``_OTHER``.
* A hostile client sends thousands of distinct tool names: the server's operation-duration metric keeps
  the names the server registers plus ``_OTHER`` (its spans keep the clipped names).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from mcp_otel import bounds, semconv
from support.capture import Capture, instrumented
from support.server_flavours import FLAVOURS, available, build, connect

pytestmark = pytest.mark.anyio

HOSTILE = str(Path(__file__).resolve().parent / "servers" / "hostile_server.py")
LIMIT = 256


def _strings(cap: Capture) -> list[tuple[str, str]]:
    out = []
    for span in cap.spans(None):
        out.append((f"{span.name[:40]} name", span.name))
        out.append((f"{span.name[:40]} status", span.status.description or ""))
        for key, value in (span.attributes or {}).items():
            if isinstance(value, str):
                out.append((f"{span.name[:40]} {key}", value))
        for event in span.events:
            for key, value in (event.attributes or {}).items():
                if isinstance(value, str):
                    out.append((f"{span.name[:40]} event {key}", value))
    return out


def _metric_values(cap: Capture) -> dict[str, set[Any]]:
    """attribute key -> every value it takes in any metric point."""
    values: dict[str, set[Any]] = {}
    for points in cap.metrics().values():
        for point in points:
            for key, value in point.attributes.items():
                values.setdefault(key, set()).add(value)
    return values


async def _hostile_session() -> None:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=[HOSTILE])
    try:
        async with stdio_client(params) as streams, ClientSession(streams[0], streams[1]) as session:
            try:
                await session.initialize()
            except Exception:  # mcp refuses an unknown protocol version, on both lines
                pass
            try:
                await session.call_tool("anything", {})
            except Exception:
                pass
    except Exception:
        pass


async def test_hostile_server_strings_are_clipped_and_metrics_bounded() -> None:
    with instrumented(max_attribute_length=LIMIT) as cap:
        for _ in range(3):
            await _hostile_session()
    assert cap.named("mcp.session")
    too_long = [(where, len(text)) for where, text in _strings(cap) if len(text) > LIMIT]
    assert too_long == []
    values = _metric_values(cap)
    assert values.get(semconv.MCP_PROTOCOL_VERSION, set()) <= semconv.PROTOCOL_VERSIONS | {"_OTHER"}
    for key, seen in values.items():
        assert all(len(str(v)) <= 64 for v in seen), key
    # a peer's code outside JSON-RPC's range is kept on the span, not in metrics
    assert "987654" not in values.get(semconv.ERROR_TYPE, set())
    calls = cap.named("tools/call anything")
    if calls:
        assert calls[0].attributes["error.type"] == "987654"
        assert calls[0].status.description == "peer returned JSON-RPC error 987654"


@pytest.fixture(params=[f for f in FLAVOURS if available(f)])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_hostile_client_tool_names(flavour: str) -> None:
    calls = 2_500 if flavour == "lowlevel" else 300
    with instrumented(max_attribute_length=LIMIT) as cap:
        async with connect(build(flavour)) as s:
            await s.inner.list_tools()
            await s.call_tool("add", {"a": 1, "b": 2})
            for i in range(calls):
                try:
                    await s.call_tool(f"evil-{i}", {})
                except Exception:
                    pass
            try:
                await s.call_tool("x" * 100_000, {})
            except Exception:
                pass
    server_points = [
        p
        for p in cap.metrics()["mcp.server.operation.duration"]
        if p.attributes.get("mcp.method.name") == "tools/call"
    ]
    names = {p.attributes.get("gen_ai.tool.name") for p in server_points}
    assert names <= {"add", "fail_tool", "raise_tool", "soft_fail", "traced", "_OTHER"}
    assert "_OTHER" in names and "add" in names
    assert len(cap.metrics()["mcp.server.operation.duration"]) < 20
    # the spans keep the (clipped) names
    server_spans = [s for s in cap.spans() if s.kind == SpanKind.SERVER and s.name.startswith("tools/call")]
    assert any(s.attributes.get("gen_ai.tool.name") == "evil-7" for s in server_spans)
    assert all(len(s.attributes.get("gen_ai.tool.name", "")) <= LIMIT for s in server_spans)
    # the client's names are its own choice, kept up to the backstop
    client_points = cap.metrics()["mcp.client.operation.duration"]
    assert len(client_points) <= 2 * bounds.MAX_NAMES + 10


def test_metric_bounds() -> None:
    server = bounds.NameBook(registered_only=True)
    server.register("tool", ["add"])
    client = bounds.NameBook(registered_only=False, limit=2)
    attributes = {
        semconv.MCP_METHOD_NAME: "tools/evil",
        semconv.MCP_PROTOCOL_VERSION: "2099-01-01",
        semconv.GEN_AI_TOOL_NAME: "evil",
        semconv.ERROR_TYPE: "-99999999999",
        semconv.RPC_RESPONSE_STATUS_CODE: "-32603",
    }
    keys = semconv.OPERATION_METRIC_KEYS
    assert bounds.metric_attributes(attributes, keys, server) == {
        semconv.MCP_METHOD_NAME: "_OTHER",
        semconv.MCP_PROTOCOL_VERSION: "_OTHER",
        semconv.GEN_AI_TOOL_NAME: "_OTHER",
        semconv.ERROR_TYPE: "_OTHER",
        semconv.RPC_RESPONSE_STATUS_CODE: "-32603",
    }
    assert bounds.metric_attributes({semconv.GEN_AI_TOOL_NAME: "add"}, keys, server) == {
        semconv.GEN_AI_TOOL_NAME: "add"
    }
    seen = [client.metric_value("tool", n) for n in ("a", "b", "c", "a")]
    assert seen == ["a", "b", "_OTHER", "a"]
    assert bounds.error_value("tool_error") == "tool_error"
    assert bounds.error_value("0") == "0"
