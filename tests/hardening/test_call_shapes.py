"""Every wrapper binds its arguments the way the wrapped signature does (DESIGN trust rule 8).

Table-driven over the patch table itself: after ``instrument()``, every callable mcp-otel wrapped is wrapped
once more by a *reshaper* that re-issues each call all-positional or all-keyword (as the library's signature
allows), then real sessions run (SDK and FastMCP clients and servers in memory, a stdio subprocess) and the
application's results and mcp-otel's spans must be the same as with the callers' own call shapes. A wrapper
added later is reshaped too; one the scenarios do not reach must be listed in ``NOT_REACHED`` with a reason.
The regression: FastMCP 3.x calls ``send_request(request=..., result_type=...)`` inside an active span and
got ``IndexError`` from mcp-otel (issue 15).
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import wrapt
from opentelemetry import trace

from support.capture import Capture, instrumented
from support.env import FASTMCP_MAJOR, HAS_FASTMCP, MCP_MAJOR
from support.inproc import build_server
from support.servers import serving_in_process, stdio_server_params

pytestmark = pytest.mark.anyio

# owner.attribute of wrappers these in-process scenarios do not reach, with the reason.
NOT_REACHED = {
    "mcp.client.streamable_http.streamablehttp_client": "deprecated spelling (reached on mcp < 1.2x only)",
    "mcp.client.websocket.websocket_client": "no websocket server here: its only argument is the URL",
    "mcp.server.stdio.stdio_server": "the stdio server runs in a subprocess",
    "mcp.shared.direct_dispatcher.DirectDispatcher.send_raw_request": "2026-07-28 in-process mode",
    "mcp.shared.jsonrpc_dispatcher.inject_trace_context": "only with propagate=False",
    "fastmcp.server.telemetry._get_parent_trace_context": "no call arguments",
    # patched only once ABI-Core is imported (tests/zerocode/test_abi_core.py may have done so earlier)
    "abi_core.abi_mcp.client.init_session": "ABI-Core's helper; tests/zerocode/test_abi_core.py calls it",
    "abi_core.abi_mcp.init_session": "ABI-Core's helper (its package re-export); tests/zerocode/test_abi_core.py",
}
# Lifecycle wrappers (issue 12): only the SDK calls them, from the scenarios of tests/lifecycle (progress,
# server logs, server->client requests, reconnects, OAuth), which these scenarios do not play.
_LIFECYCLE = "lifecycle: SDK-internal call site, exercised by tests/lifecycle"
NOT_REACHED.update(
    {
        name: _LIFECYCLE
        for name in (
            "mcp.client.auth.oauth2.OAuthClientProvider._auth_flow",
            "mcp.client.auth.OAuthClientProvider.async_auth_flow",
            "mcp.client.session.ClientSession._received_notification",
            "mcp.client.session.ClientSession._received_request",
            "mcp.client.session.ClientSession._on_notify",
            "mcp.client.session.ClientSession._on_request",
            "mcp.client.streamable_http.StreamableHTTPTransport._handle_reconnection",
            "mcp.server.session.ServerSession.send_progress_notification",
            "mcp.server.session.ServerSession.send_request",
            "mcp.server._streamable_http_modern._SingleExchangeDispatchContext.progress",
            "mcp.shared.direct_dispatcher._DirectDispatchContext.progress",
            "mcp.shared.jsonrpc_dispatcher._JSONRPCDispatchContext.progress",
        )
    }
)
_IMPORT_SITES_OF = (
    "streamable_http_client",
    "streamablehttp_client",
    "sse_client",
    "stdio_client",
    "stdio_server",
    "create_client_server_memory_streams",
    "serve_loop",
    "serve_dual_era_loop",
    "otel_span",
    "get_tracer",
)


def _name(owner: Any, attribute: str) -> str:
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}.{attribute}"
    return f"{getattr(owner, '__name__', owner)}.{attribute}"


def _signature(owner: Any, original: Any) -> inspect.Signature | None:
    func = original.__func__ if isinstance(original, staticmethod | classmethod) else original
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    parameters = list(signature.parameters.values())
    if isinstance(owner, type) and not isinstance(original, staticmethod) and parameters:
        parameters = parameters[1:]  # self / cls: wrapt hands it over as `instance`
    return signature.replace(parameters=parameters)


def _reshape(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any], keyword: bool
) -> Any:
    """The same call, all-positional or all-keyword where the signature allows; None when it cannot bind."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return None
    if not keyword:
        bound.apply_defaults()
    new_args: list[Any] = []
    new_kwargs: dict[str, Any] = {}
    var_positional = any(
        p.kind is p.VAR_POSITIONAL and bound.arguments.get(p.name) for p in signature.parameters.values()
    )
    for parameter in signature.parameters.values():
        if parameter.name not in bound.arguments:
            continue
        value = bound.arguments[parameter.name]
        if parameter.kind is parameter.POSITIONAL_ONLY:
            new_args.append(value)
        elif parameter.kind is parameter.POSITIONAL_OR_KEYWORD:
            if keyword and not var_positional:
                new_kwargs[parameter.name] = value
            else:
                new_args.append(value)
        elif parameter.kind is parameter.VAR_POSITIONAL:
            new_args.extend(value)
        elif parameter.kind is parameter.KEYWORD_ONLY:
            new_kwargs[parameter.name] = value
        else:
            new_kwargs.update(value)
    return tuple(new_args), new_kwargs


@contextmanager
def reshaped(capture: Capture, keyword: bool | None) -> Iterator[Counter[str]]:
    """Reshape every call into each wrapped callable for the block; counts the reshaped calls per name."""
    from mcp_otel import McpInstrumentor

    patcher = McpInstrumentor()._patcher
    calls: Counter[str] = Counter()
    undo: list[tuple[Any, str, Any]] = []
    for owner, attribute, original, replacement in list(patcher._applied):
        name = _name(owner, attribute)
        signature = _signature(owner, getattr(replacement, "__wrapped__", original))
        if signature is None or not signature.parameters:
            continue  # nothing to reshape (e.g. __aenter__, the stream hooks' self-only methods)
        calls[name] += 0
        if keyword is None:
            continue

        def reshaper(
            wrapped: Any, instance: Any, args: Any, kwargs: Any, _sig: Any = signature, _name: str = name
        ) -> Any:
            shaped = _reshape(_sig, args, kwargs, bool(keyword))
            if shaped is None:
                return wrapped(*args, **kwargs)
            calls[_name] += 1
            return wrapped(*shaped[0], **shaped[1])

        undo.append((owner, attribute, replacement))
        setattr(owner, attribute, wrapt.FunctionWrapper(replacement, reshaper))
    try:
        yield calls
    finally:
        for owner, attribute, replacement in undo:
            setattr(owner, attribute, replacement)


_VOLATILE = {"mcp.session.id", "jsonrpc.request.id", "client.port", "server.port", "mcp_otel.request.timeout"}


def _summary(capture: Capture) -> list[Any]:
    """Our spans without ids and timings: name, kind, parent's name, attributes, status, events."""
    spans = capture.spans()
    by_id = {s.context.span_id: s for s in spans}
    out = []
    for span in spans:
        parent = by_id.get(span.parent.span_id) if span.parent is not None else None
        attributes = tuple(
            sorted((k, str(v)) for k, v in (span.attributes or {}).items() if k not in _VOLATILE)
        )
        out.append(
            (
                span.name,
                span.kind.name,
                parent.name if parent is not None else None,
                attributes,
                span.status.status_code.name,
                tuple(e.name for e in span.events),
            )
        )
    return sorted(out, key=repr)


def _outcome(value: Any) -> Any:
    """A result in a comparable form (pydantic models dumped)."""
    if isinstance(value, list):
        return [_outcome(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        data = dump(mode="json")
        if isinstance(data, dict):
            data.pop("meta", None)
            data.pop("_meta", None)
        return data
    return repr(value)


def _app_span(capture: Capture) -> Any:
    """A recording application span (FastMCP 3.x takes its keyword path only inside one)."""
    tracer = trace.get_tracer("app", tracer_provider=capture.tracer_provider)
    return tracer.start_as_current_span("agent step")


async def _sdk_session(capture: Capture) -> list[Any]:
    from support.inproc import open_session

    results = []
    async with open_session(build_server("shapes")) as session:
        results.append(await session.call_tool("add", {"a": 1, "b": 2}))
        results.append(await session.call_tool("fail_tool"))
        results.append(await session.get_prompt("greet", {"name": "x"}))
        results.append(await session.list_tools())
        with _app_span(capture):
            results.append(await session.call_tool("add", {"a": 2, "b": 3}))
    return [_outcome(r) for r in results]


def _fastmcp_server() -> Any:
    from fastmcp import FastMCP

    server = FastMCP("shapes")

    @server.tool
    def add(a: int, b: int) -> int:
        return a + b

    @server.resource("data://greeting")
    def greeting() -> str:
        return "hello"

    @server.prompt
    def greet(name: str) -> str:
        return f"hello {name}"

    return server


async def _fastmcp_session(capture: Capture) -> list[Any]:
    from fastmcp import Client

    results = []
    kwargs = {"mode": "legacy"} if FASTMCP_MAJOR >= 4 else {}
    async with Client(_fastmcp_server(), **kwargs) as client:
        results.append(await client.call_tool_mcp("add", {"a": 1, "b": 2}))
        # Inside an active span FastMCP 3.x sends read_resource/get_prompt with keyword arguments.
        with _app_span(capture):
            results.append(await client.read_resource_mcp("data://greeting"))
            results.append(await client.get_prompt_mcp("greet", {"name": "x"}))
            results.append(await client.call_tool_mcp("add", {"a": 2, "b": 3}))
    return [_outcome(r) for r in results]


async def _stdio_session(capture: Capture) -> list[Any]:
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    results = []
    async with stdio_client(stdio_server_params("sdk")) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            results.append(await session.call_tool("add", {"a": 1, "b": 2}))
    return [_outcome(r) for r in results]


def _http_app(server: Any, transport: str) -> Any:
    if transport == "sse":
        return server.sse_app()
    if MCP_MAJOR >= 2:
        return server.streamable_http_app(streamable_http_path="/mcp")
    return server.streamable_http_app()


async def _network_session(capture: Capture, transport: str) -> list[Any]:
    from support.clients import open_session

    results = []
    app = _http_app(build_server("shapes-" + transport), transport)
    async with serving_in_process(app, "/sse" if transport == "sse" else "/mcp") as url:
        async with open_session(transport, url) as session:
            results.append(await session.call_tool("add", {"a": 1, "b": 2}))
            with _app_span(capture):
                results.append(await session.call_tool("add", {"a": 2, "b": 3}))
    return [_outcome(r) for r in results]


async def _http_session(capture: Capture) -> list[Any]:
    return await _network_session(capture, "streamable-http")


async def _sse_session(capture: Capture) -> list[Any]:
    return await _network_session(capture, "sse")


SCENARIOS = {
    "sdk-memory": _sdk_session,
    "stdio": _stdio_session,
    "streamable-http": _http_session,
    "sse": _sse_session,
}
if HAS_FASTMCP:
    SCENARIOS["fastmcp-memory"] = _fastmcp_session


async def _run(keyword: bool | None) -> tuple[dict[str, Any], dict[str, Any], Counter[str]]:
    results: dict[str, Any] = {}
    spans: dict[str, Any] = {}
    calls: Counter[str] = Counter()
    for name, scenario in SCENARIOS.items():
        with instrumented() as capture, reshaped(capture, keyword) as counted:
            results[name] = await scenario(capture)
        spans[name] = _summary(capture)
        calls.update(counted)
    return results, spans, calls


async def test_positional_and_keyword_calls_give_the_same_results_and_spans() -> None:
    baseline_results, baseline_spans, table = await _run(None)
    for keyword in (False, True):
        results, spans, calls = await _run(keyword)
        assert results == baseline_results, f"keyword={keyword}"
        for name in SCENARIOS:
            assert spans[name] == baseline_spans[name], f"{name}, keyword={keyword}"
        for name in table:
            if name in NOT_REACHED or name.rsplit(".", 1)[-1] in _IMPORT_SITES_OF:
                continue
            assert calls[name] > 0, (
                f"{name} was never called reshaped (keyword={keyword}); list it in NOT_REACHED"
            )
    # The import-site copies of a module function: at least one of them (the defining module's or a
    # `from x import name` site's) must have been reshaped, unless the function is listed as not reached.
    for function in _IMPORT_SITES_OF:
        sites = [n for n in table if n.rsplit(".", 1)[-1] == function]
        if sites and not any(s in NOT_REACHED for s in sites):
            assert any(calls[s] for s in sites), function


async def test_keyword_send_request_inside_a_span_reaches_the_app_unharmed() -> None:
    """Issue 15: fastmcp.Client.read_resource inside a user span -> send_request(request=..., result_type=...)."""
    if not HAS_FASTMCP:
        pytest.skip("fastmcp is not installed in this environment")
    from fastmcp import Client

    kwargs = {"mode": "legacy"} if FASTMCP_MAJOR >= 4 else {}
    with instrumented() as capture:
        async with Client(_fastmcp_server(), **kwargs) as client:
            with _app_span(capture):
                contents = await client.read_resource("data://greeting")
    assert contents[0].text == "hello"
    (client_span,) = [
        s for s in capture.spans() if s.name.startswith("resources/read") and s.kind.name == "CLIENT"
    ]
    (server_span,) = [
        s for s in capture.spans() if s.name.startswith("resources/read") and s.kind.name == "SERVER"
    ]
    # _meta carried our CLIENT span's context on the keyword path too
    assert server_span.parent is not None and server_span.parent.span_id == client_span.context.span_id


@pytest.mark.parametrize("keyword", [False, True])
def test_url_transports_read_the_url_in_both_shapes(keyword: bool) -> None:
    """The network transports (not reached in process above): the endpoint comes from the URL either way."""
    from mcp.client import streamable_http

    with instrumented():
        # mcp < 1.2x has only the older spelling
        function = (
            getattr(streamable_http, "streamable_http_client", None) or streamable_http.streamablehttp_client
        )
        url = "http://127.0.0.1:9/mcp"
        cm = function(url=url) if keyword else function(url)
        assert cm._self_endpoint.server_port == 9
        assert cm._self_endpoint.server_address == "127.0.0.1"
    with instrumented():
        from mcp.client.sse import sse_client

        url = "http://127.0.0.1:9/sse"
        extra = (
            {"on_session_created": print}
            if "on_session_created" in inspect.signature(sse_client).parameters
            else {}
        )
        cm = sse_client(url=url, **extra) if keyword else sse_client(url, None, **extra)
        assert cm._self_endpoint.server_port == 9


def _sample(
    request: Any, result_type: Any, timeout: Any = None, /, *, metadata: Any = None, **extra: Any
) -> None:
    """A signature with every kind of parameter, for the binding below."""


@pytest.mark.parametrize("positional", range(4))
@pytest.mark.parametrize(
    "names",
    [("request",), ("request", "timeout"), ("timeout", "request"), ("result_type", "metadata"), ("other",)],
)
def test_values_reads_each_call_shape_like_get(positional: int, names: tuple[str, ...]) -> None:
    """``Arguments.values`` (one C getter for an all-positional call, a loop otherwise) answers exactly what
    ``get`` answers for each name, in every call shape, twice (the getter is built at the first call)."""
    from mcp_otel._arguments import Arguments

    binding = Arguments.of(_sample)
    values = ("req", "ResultType", 5.0)
    args = values[:positional]
    for kwargs in ({}, {"metadata": "meta"}, {"other": "x"}):
        for _ in range(2):
            expected = tuple(binding.get(args, kwargs, name) for name in names)
            assert binding.values(args, kwargs, names) == expected, (args, kwargs, names)


def test_the_request_choke_points_carry_one_wrapper_each() -> None:
    """Every request passes the client's send_request (mcp 1.x) or the dispatchers' send_raw_request
    (mcp 2.x) once: the lifecycle's work there (progress relay, server->client requests) runs from the
    client adapter's wrapper, not from a second wrapt layer (a bound wrapper and a coroutine per request)."""
    if MCP_MAJOR >= 2:
        from mcp.shared.direct_dispatcher import DirectDispatcher
        from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

        sites = [(JSONRPCDispatcher, "send_raw_request"), (DirectDispatcher, "send_raw_request")]
    else:
        from mcp.shared.session import BaseSession

        sites = [(BaseSession, "send_request")]
    with instrumented():
        for owner, name in sites:
            layers, current = 0, owner.__dict__[name]
            # a wrapper applied over another one wraps it as looked up on the class: a bound wrapper
            while isinstance(current, wrapt.FunctionWrapper | wrapt.BoundFunctionWrapper):
                layers, current = layers + 1, current.__wrapped__
            assert layers == 1, (owner.__name__, name, layers)
