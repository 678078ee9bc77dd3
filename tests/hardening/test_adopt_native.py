"""DESIGN trust rules 1 and 2 against the libraries' own telemetry (mcp 2.x, FastMCP 3.x and 4.x).

* Adopt, never subtract: the one CLIENT and one SERVER span per request (ours) carry every attribute
  FastMCP would have set on its own spans (server name, component, provider, delegate, the authenticated
  ``enduser.*``), while the contract's keys and outcome stay ours; FastMCP's INTERNAL spans of a mounted
  server keep their attributes and hang under our SERVER span.
* The user's switch wins: inside ``suppress_instrumentation()`` / ``suppress_fastmcp_telemetry()`` mcp-otel
  records no span and no metric, and an excluded method gets no span from anyone.

A real FastMCP server (token auth with FastMCP's ``StaticTokenVerifier``, a mounted server) runs under
uvicorn on 127.0.0.1 in this process, so both sides and the libraries' own spans land in one capture.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from support.capture import Capture, instrumented
from support.env import FASTMCP_MAJOR, HAS_FASTMCP, MCP_MAJOR
from support.native import native_spans_to
from support.servers import serving_in_process

pytestmark = pytest.mark.anyio
needs_fastmcp = pytest.mark.skipif(not HAS_FASTMCP, reason="fastmcp is not installed in this environment")
TOKEN = "token-of-alice"


@contextmanager
def captured(**kwargs: Any) -> Iterator[Capture]:
    with instrumented(**kwargs) as cap, native_spans_to(SimpleSpanProcessor(cap.exporter)):
        yield cap


def _server(auth: bool = True) -> Any:
    from fastmcp import FastMCP
    from fastmcp.exceptions import ToolError

    verifier = None
    if auth:
        from fastmcp.server.auth.providers.jwt import StaticTokenVerifier

        verifier = StaticTokenVerifier(tokens={TOKEN: {"client_id": "alice", "scopes": ["read", "write"]}})
    server = FastMCP("parent", auth=verifier)
    child = FastMCP("child")

    @child.tool
    def mul(a: int, b: int) -> int:
        return a * b

    @server.tool
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool
    def secret_failure() -> str:
        raise ToolError("the secret text of a handler")

    server.mount(child, namespace="c")
    return server


def serving(server: Any) -> Any:
    return serving_in_process(server.http_app(path="/mcp", transport="http"))


def _client(target: Any, **kwargs: Any) -> Any:
    from fastmcp import Client

    if FASTMCP_MAJOR >= 4:
        kwargs["mode"] = "legacy"
    return Client(target, **kwargs)


def _one(cap: Capture, name: str, kind: str) -> Any:
    found = [s for s in cap.spans(None) if s.name == name and s.kind.name == kind]
    assert len(found) == 1, (name, kind, [(s.instrumentation_scope.name, s.kind.name, s.name) for s in found])
    return found[0]


@needs_fastmcp
async def test_our_spans_carry_fastmcps_attributes_and_the_authenticated_user() -> None:
    with captured() as cap:
        async with serving(_server()) as url, _client(url, auth=TOKEN) as client:
            assert (await client.call_tool("add", {"a": 1, "b": 2})).data == 3
            assert (await client.call_tool("c_mul", {"a": 2, "b": 3})).data == 6
            failed = await client.call_tool("secret_failure", raise_on_error=False)
            assert failed.is_error

    # One CLIENT and one SERVER span per request, all ours.
    requests = [s for s in cap.spans(None) if s.kind.name in ("CLIENT", "SERVER")]
    assert {s.instrumentation_scope.name for s in requests} == {"mcp_otel"}

    server = _one(cap, "tools/call add", "SERVER")
    attributes = dict(server.attributes or {})
    assert attributes["fastmcp.server.name"] == "parent"
    assert attributes["fastmcp.component.type"] == "tool"
    assert attributes["fastmcp.component.key"] == "tool:add@"
    assert attributes["fastmcp.provider.type"] == "LocalProvider"
    assert attributes["enduser.id"] == "alice"
    assert attributes["enduser.scope"] == "read write"
    # the contract's keys stay ours
    assert attributes["mcp.method.name"] == "tools/call"
    assert attributes["gen_ai.tool.name"] == "add"
    client = _one(cap, "tools/call add", "CLIENT")
    assert dict(client.attributes or {})["fastmcp.component.key"] == "add"

    # A mounted server: the delegate span and the child's handling keep their attributes, under ours.
    mounted = _one(cap, "tools/call c_mul", "SERVER")
    assert dict(mounted.attributes or {})["fastmcp.provider.type"] == "FastMCPProvider"
    assert dict(mounted.attributes or {})["fastmcp.delegate.original_name"] == "mul"
    delegate = _one(cap, "delegate mul", "INTERNAL")
    assert delegate.instrumentation_scope.name == "fastmcp"
    assert dict(delegate.attributes or {})["mcp.method.name"] == "tools/call"
    assert delegate.parent is not None and delegate.parent.span_id == mounted.context.span_id
    inner = _one(cap, "tools/call mul", "INTERNAL")
    assert dict(inner.attributes or {})["fastmcp.server.name"] == "child"
    assert inner.parent is not None and inner.parent.span_id == delegate.context.span_id

    # FastMCP's error bookkeeping does not reach our span: no handler text (rule 4), our outcome only.
    failure = _one(cap, "tools/call secret_failure", "SERVER")
    assert dict(failure.attributes or {})["error.type"] == "tool_error"
    assert "secret" not in (failure.status.description or "")
    assert not [e for e in failure.events if "secret" in str(dict(e.attributes or {}))]


@needs_fastmcp
async def test_fastmcp_session_id_of_a_sessionless_transport_is_not_adopted() -> None:
    """FastMCP invents a session id in memory/stdio; the contract sets mcp.session.id only for real sessions."""
    with captured() as cap:
        async with _client(_server(auth=False)) as client:
            await client.call_tool("add", {"a": 1, "b": 2})
    server = _one(cap, "tools/call add", "SERVER")
    assert "mcp.session.id" not in dict(server.attributes or {})
    assert dict(server.attributes or {})["fastmcp.server.name"] == "parent"


@needs_fastmcp
@pytest.mark.parametrize("capture", [False, True], ids=["capture-off", "capture-on"])
async def test_fastmcps_client_span_is_kept_when_no_request_is_sent(capture: bool) -> None:
    """FastMCP's CLIENT span waits for ours; a call that fails before sending a request (here: the client
    is not connected) claims none, and FastMCP's span is exported as without mcp-otel, under rule 4."""
    client = _client(_server(auth=False))
    with captured(capture_content=capture) as cap:
        with pytest.raises(RuntimeError) as raised:
            await client.call_tool("add", {"a": 1, "b": 2})
    (span,) = [s for s in cap.spans(None) if s.kind.name == "CLIENT"]
    assert (span.instrumentation_scope.name, span.name) == ("fastmcp", "tools/call add")
    assert dict(span.attributes or {})["gen_ai.tool.name"] == "add"
    assert span.status.status_code.name == "ERROR"
    (event,) = span.events
    assert dict(event.attributes or {})["exception.type"] == "RuntimeError"
    if capture:
        assert span.status.description == str(raised.value)
        assert dict(event.attributes or {})["exception.message"] == str(raised.value)
    else:
        assert span.status.description is None
        assert set(dict(event.attributes or {})) == {"exception.type"}


@pytest.mark.skipif(FASTMCP_MAJOR < 4, reason="FastMCP's span helpers are public in fastmcp 4")
async def test_fastmcps_client_span_helper_alone_is_exported_once() -> None:
    from fastmcp.client.telemetry import client_span

    with captured() as cap:
        with client_span("tools/call x", "tools/call", "x"):
            pass
    (span,) = cap.spans(None)
    assert (span.instrumentation_scope.name, span.kind.name, span.name) == (
        "fastmcp",
        "CLIENT",
        "tools/call x",
    )
    assert dict(span.attributes or {})["fastmcp.component.key"] == "x"


@needs_fastmcp
async def test_a_proxy_and_its_backend_each_carry_their_own_attributes() -> None:
    """A FastMCP proxy's outgoing call runs inside its SERVER span; the backend's request is its own."""
    from fastmcp import FastMCP

    backend = _server(auth=False)
    if FASTMCP_MAJOR >= 4:
        from fastmcp.server.server import create_proxy

        proxy = create_proxy(_client(backend), name="proxy")
    else:
        proxy = FastMCP.as_proxy(backend, name="proxy")
    with captured() as cap:
        async with _client(proxy) as client:
            assert (await client.call_tool("add", {"a": 1, "b": 2})).data == 3
    servers = [
        dict(s.attributes or {})
        for s in cap.spans()
        if s.name == "tools/call add" and s.kind.name == "SERVER"
    ]
    by_name = {a["fastmcp.server.name"]: a for a in servers}
    assert set(by_name) == {"proxy", "parent"}, servers
    assert by_name["proxy"]["fastmcp.provider.type"] == "ProxyProvider"
    assert by_name["proxy"]["fastmcp.proxy.backend_name"] == "add"
    assert by_name["parent"]["fastmcp.provider.type"] == "LocalProvider"
    clients = [s for s in cap.spans(None) if s.kind.name == "CLIENT" and s.name == "tools/call add"]
    assert len(clients) == 2 and {s.instrumentation_scope.name for s in clients} == {"mcp_otel"}
    # the proxy's outgoing call: FastMCP opens two CLIENT spans (its ProxyProvider's around its Client's);
    # both are folded into our one CLIENT span
    providers = [dict(s.attributes or {}).get("fastmcp.provider.type") for s in clients]
    assert sorted(providers, key=str) == [None, "ProxyProvider"]


def _mcp_metric_points(cap: Capture) -> int:
    return sum(len(points) for name, points in cap.metrics().items() if name.startswith("mcp"))


async def _session(server: Any) -> None:
    async with _client(server) as client:
        await client.call_tool("add", {"a": 1, "b": 2})


@needs_fastmcp
async def test_no_span_or_metric_inside_opentelemetrys_suppression() -> None:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with captured() as cap:
        with suppress_instrumentation():
            await _session(_server(auth=False))
    assert cap.spans() == []
    assert _mcp_metric_points(cap) == 0


@pytest.mark.skipif(FASTMCP_MAJOR < 4, reason="suppress_fastmcp_telemetry() is new in fastmcp 4")
async def test_no_span_or_metric_inside_suppress_fastmcp_telemetry() -> None:
    from fastmcp.telemetry import suppress_fastmcp_telemetry

    with captured() as cap:
        with suppress_fastmcp_telemetry():
            await _session(_server(auth=False))
        assert cap.spans() == []
        assert _mcp_metric_points(cap) == 0
        # outside the block: traced as usual
        await _session(_server(auth=False))
    assert [s for s in cap.spans() if s.name == "tools/call add"]


@needs_fastmcp
async def test_an_excluded_method_gets_no_span_from_anyone_fastmcp() -> None:
    with captured(excluded_methods=["tools/call"]) as cap:
        await _session(_server(auth=False))
    names = [(s.instrumentation_scope.name, s.name) for s in cap.spans(None)]
    assert not [n for n in names if "tools/call" in n[1]], names
    assert [n for n in names if n == ("mcp_otel", "initialize")], names


@pytest.mark.skipif(MCP_MAJOR < 2, reason="mcp 1.x has no native spans")
async def test_an_excluded_method_gets_no_span_from_anyone_sdk() -> None:
    """mcp 2.x's own ``MCP send tools/call`` spans came back as separate root traces (issue 15)."""
    from mcp import Client

    from support.inproc import build_server

    with captured(excluded_methods=["tools/call"]) as cap:
        async with Client(build_server("excluded"), mode="legacy") as client:
            await client.call_tool("add", {"a": 1, "b": 2})
            await client.list_tools()
    names = [(s.instrumentation_scope.name, s.name) for s in cap.spans(None)]
    assert not [n for n in names if "tools/call" in n[1]], names
    assert ("mcp_otel", "tools/list") in names


@pytest.mark.skipif(MCP_MAJOR < 2, reason="mcp 1.x has no native spans")
async def test_sdk_client_span_keys_are_adopted_and_its_error_bookkeeping_is_not() -> None:
    from mcp import Client

    from support.inproc import build_server

    with captured() as cap:
        async with Client(build_server("sdk"), mode="legacy") as client:
            await client.call_tool("add", {"a": 1, "b": 2})
            with pytest.raises(Exception):  # noqa: B017 - the SDK's MCPError for an unknown prompt
                await client.get_prompt("no-such-prompt", {})
    client_span = _one(cap, "tools/call add", "CLIENT")
    assert dict(client_span.attributes or {})["jsonrpc.request.id"]
    assert {s.instrumentation_scope.name for s in cap.spans(None) if s.kind.name == "CLIENT"} == {"mcp_otel"}


def test_adopted_attributes_follow_the_contracts_rules() -> None:
    """Keys the span already has stay ours, outcomes are never taken, URIs are scrubbed, strings clipped."""
    from mcp_otel.adapters._native import AdoptedSpan
    from mcp_otel.config import Config
    from mcp_otel.telemetry import Telemetry
    from support.capture import new_capture

    cap = new_capture()
    telemetry = Telemetry(Config.from_env({"max_attribute_length": 64}), cap.tracer_provider)
    ours = telemetry.tracer.start_span("tools/call add", attributes={"mcp.method.name": "tools/call"})
    theirs = AdoptedSpan(telemetry, ours)
    assert theirs.is_recording()
    theirs.set_attributes(
        {
            "mcp.method.name": "something else",
            "mcp.session.id": "invented-by-the-library",
            "error.type": "ValueError",
            "fastmcp.component.key": "first",
            "fastmcp.delegate.original_uri": "data://x",
            "fastmcp.proxy.backend_uri": "https://user:pw@backend.example/mcp?token=s3cret",
            "fastmcp.server.name": "x" * 500,
        }
    )
    theirs.set_attribute("fastmcp.component.key", "resource:data://x@")  # the library may update its keys
    theirs.set_status(trace_status_error())
    theirs.record_exception(ValueError("handler text"))
    ours.end()
    (span,) = cap.spans()
    attributes = dict(span.attributes or {})
    assert attributes["mcp.method.name"] == "tools/call"
    assert "mcp.session.id" not in attributes and "error.type" not in attributes
    assert attributes["fastmcp.component.key"] == "resource:data://x@"  # its "@version" is not userinfo
    assert attributes["fastmcp.delegate.original_uri"] == "data://x"
    assert "pw@" not in attributes["fastmcp.proxy.backend_uri"]
    assert "s3cret" not in attributes["fastmcp.proxy.backend_uri"]
    assert len(attributes["fastmcp.server.name"]) <= 64
    assert span.status.status_code.name == "UNSET" and not span.events


def trace_status_error() -> Any:
    from opentelemetry.trace import Status, StatusCode

    return Status(StatusCode.ERROR, "handler text")
