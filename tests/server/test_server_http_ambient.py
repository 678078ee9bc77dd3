"""The SERVER span and the HTTP server span around it: a real streamable-HTTP server (uvicorn on 127.0.0.1, in
this process and event loop) behind an ASGI middleware that opens an HTTP SERVER span per request, the way
HTTP instrumentation does. The MCP SERVER span's parent is the ``_meta`` context and it links the HTTP span of
the POST that carried the request; without ``_meta`` the HTTP span is its parent.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from support.capture import Capture, instrumented
from support.clients import open_connection
from support.env import MCP_MAJOR
from support.server_flavours import available, build
from support.servers import serving_in_process

pytestmark = pytest.mark.anyio


class HttpSpans:
    """ASGI middleware: one SERVER span per HTTP request, current while the app handles it."""

    def __init__(self, app: Any, tracer: trace.Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.tracer.start_as_current_span(f"HTTP {scope['method']}", kind=SpanKind.SERVER):
            await self.app(scope, receive, send)


def _http_app(server: Any) -> Any:
    if type(server).__module__.startswith("fastmcp"):
        return server.http_app(path="/mcp", transport="http")
    if MCP_MAJOR >= 2:
        return server.streamable_http_app(streamable_http_path="/mcp")
    return server.streamable_http_app()


def _http_spans(cap: Capture) -> dict[int, Any]:
    return {s.context.span_id: s for s in cap.spans(None) if s.name.startswith("HTTP ")}


@pytest.mark.parametrize("flavour", [f for f in ("sdk", "fastmcp") if available(f)])
@pytest.mark.parametrize("propagate", [True, False], ids=["meta", "no-meta"])
async def test_server_span_links_the_http_span(
    flavour: str, propagate: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not propagate and MCP_MAJOR >= 2:
        # a client that sends no trace context: the mcp 2.x dispatcher injects its own unless told not to
        from mcp.shared import jsonrpc_dispatcher

        monkeypatch.setattr(jsonrpc_dispatcher, "inject_trace_context", lambda meta: None)
    with instrumented(propagate=propagate) as cap:
        app = HttpSpans(_http_app(build(flavour)), cap.tracer_provider.get_tracer("tests.http"))
        async with serving_in_process(app) as url, open_connection("streamable-http", url) as conn:
            await conn.session.call_tool("add", {"a": 1, "b": 2})
    http = _http_spans(cap)
    assert http
    for name in ("initialize", "tools/call add"):
        [server] = [s for s in cap.spans() if s.kind == SpanKind.SERVER and s.name == name]
        [client] = [s for s in cap.spans() if s.kind == SpanKind.CLIENT and s.name == name]
        attributes = dict(server.attributes or {})
        assert attributes["client.address"] == "127.0.0.1" and isinstance(attributes["client.port"], int)
        assert attributes["network.transport"] == "tcp" and attributes["network.protocol.name"] == "http"
        linked_http = [http[link.context.span_id] for link in server.links if link.context.span_id in http]
        if propagate:
            assert server.parent.span_id == client.context.span_id, name
            assert len(linked_http) == 1, name  # the POST that carried this request
            post = linked_http[0]
        else:
            assert linked_http == [], name
            post = http[server.parent.span_id]  # no _meta: the HTTP span is the parent
        assert post.name == "HTTP POST"
        assert post.start_time <= server.start_time and server.end_time <= post.end_time
