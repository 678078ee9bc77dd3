"""An MCP server for the lifecycle tests: progress, server logs, list changes, sampling, elicitation, roots.

    python tests/servers/lifecycle_server.py --transport stdio|streamable-http [--port N]
        [--drop-get SECONDS] [--resumable] [--retry-ms MS] [--token TOKEN]

Importable too: ``build()`` returns the SDK server (mcp 1.x FastMCP / mcp 2.x MCPServer) for in-process tests.

Tools (every content string carries a marker the tests look for, to prove content stays out of telemetry
with capture off):

* ``progress(n)``: reports progress n times (value i, total n, message ``PROGRESS-MARKER-i``).
* ``chatty(n)``: sends n log messages, cycling through debug/info/warning/error, logger ``chatty``, data
  ``LOG-MARKER-i``.
* ``change_tools()``: registers a new tool and sends ``notifications/tools/list_changed``.
* ``sample()``: asks the client to sample (``sampling/createMessage``) and returns its text.
* ``elicit()``: asks the client for a name (``elicitation/create``) and returns the action.
* ``roots()``: asks the client for its roots (``roots/list``) and returns how many.
* ``publish_tools_changed()``: (mcp 2.x) publishes a tools list change to ``subscriptions/listen`` streams.
* ``close_get()``: (with ``--resumable``) ends the client's GET stream cleanly: the client reconnects.
* ``drop_post()``: (with ``--resumable``) closes its own POST SSE stream, then answers: the client resumes it.

HTTP options: ``--drop-get S`` cuts every GET stream S seconds after it opened (the client reconnects);
``--resumable`` gives the session manager an in-memory event store (event ids, ``Last-Event-ID`` replay);
``--retry-ms`` the ``retry:`` the server sends (on POST streams; on GET streams too with ``--drop-get``); ``--token T`` puts the app behind mcp's bearer-token auth with
a token verifier accepting only T (``weak`` is valid but lacks the scope: 403; anything else: 401).
"""

import argparse
import importlib.metadata
import sys
from typing import Any

import anyio

MCP_MAJOR = int(importlib.metadata.version("mcp").split(".")[0])
MARKER_PROGRESS = "PROGRESS-MARKER"
MARKER_LOG = "LOG-MARKER"
LEVELS = ("debug", "info", "warning", "error")


def build(name: str = "lifecycle", **settings: Any) -> Any:
    if MCP_MAJOR >= 2:
        from mcp.server.mcpserver import Context, MCPServer

        server = MCPServer(name, **settings)
    else:
        from mcp.server.fastmcp import Context, FastMCP

        server = FastMCP(name, log_level="WARNING", **settings)

    from mcp import types
    from pydantic import BaseModel

    @server.tool()
    async def progress(n: int, ctx: Context) -> str:
        for i in range(1, n + 1):
            await ctx.report_progress(i, n, f"{MARKER_PROGRESS}-{i}")
        return "done"

    @server.tool()
    async def chatty(n: int, ctx: Context) -> str:
        for i in range(n):
            level = LEVELS[i % len(LEVELS)]
            await ctx.log(level, f"{MARKER_LOG}-{i}", logger_name="chatty")
        return "logged"

    @server.tool()
    async def change_tools(ctx: Context) -> str:
        if "added" not in {t.name for t in await server.list_tools()}:

            @server.tool()
            def added() -> str:
                return "new"

        await ctx.session.send_tool_list_changed()
        return "changed"

    @server.tool()
    async def sample(ctx: Context) -> str:
        result = await ctx.session.create_message(
            messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))],
            max_tokens=5,
        )
        content = result.content
        return str(getattr(content, "text", content))

    class Name(BaseModel):
        name: str

    @server.tool()
    async def elicit(ctx: Context) -> str:
        result = await ctx.elicit(message="your name?", schema=Name)
        return str(result.action)

    @server.tool()
    async def roots(ctx: Context) -> str:
        result = await ctx.session.list_roots()
        return str(len(result.roots))

    if MCP_MAJOR >= 2:

        @server.tool()
        async def publish_tools_changed(ctx: Context) -> str:
            await ctx.notify_tools_changed()  # to subscriptions/listen subscribers (2026-07-28)
            return "published"

    @server.tool()
    async def close_get(ctx: Context) -> str:
        await ctx.close_standalone_sse_stream()  # ends the client's GET stream cleanly (needs an event store)
        return "closed"

    @server.tool()
    async def drop_post(ctx: Context) -> str:
        await ctx.report_progress(1, 2)  # an event id on this POST's stream, so that the client can resume
        await anyio.sleep(0.2)
        await ctx.close_sse_stream()
        await anyio.sleep(0.5)
        return "resumed"

    return server


# --- client callbacks (the tests pass these) ------------------------------------------------------
async def sampling_callback(context: Any, params: Any) -> Any:
    from mcp import types

    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="sampled"), model="test-model"
    )


async def elicitation_callback(context: Any, params: Any) -> Any:
    from mcp import types

    return types.ElicitResult(action="accept", content={"name": "Ada"})


async def list_roots_callback(context: Any) -> Any:
    from mcp import types

    return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/a", name="a")])


# --- HTTP ------------------------------------------------------------------------------------------
class DropGetStream:
    """ASGI wrapper: a GET stream (the client's standalone SSE stream) is cut after ``seconds``; with
    ``retry_ms`` its first SSE line is ``retry: <ms>`` (mcp's server sends ``retry:`` on POST streams only)."""

    def __init__(self, app: Any, seconds: float, retry_ms: int | None) -> None:
        self.app = app
        self.seconds = seconds
        self.retry_ms = retry_ms

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        first = True

        async def send_with_retry(message: Any) -> None:
            nonlocal first
            if first and self.retry_ms is not None and message["type"] == "http.response.body":
                first = False
                retry = f"retry: {self.retry_ms}\n\n".encode()
                await send({"type": "http.response.body", "body": retry, "more_body": True})
            await send(message)

        with anyio.move_on_after(self.seconds):
            await self.app(scope, receive, send_with_retry)


def http_app(args: argparse.Namespace) -> Any:
    streams: dict[str, Any] = {}
    if args.resumable:
        from mcp.server.streamable_http import EventStore

        streams["event_store"] = _memory_event_store(EventStore)
        if args.retry_ms is not None:
            streams["retry_interval"] = args.retry_ms
    auth = _auth_settings(args) if args.token else {}
    server = build(**auth, **({} if MCP_MAJOR >= 2 else streams))
    if MCP_MAJOR >= 2:
        app = server.streamable_http_app(streamable_http_path="/mcp", **streams)
    else:
        server.settings.streamable_http_path = "/mcp"
        app = server.streamable_http_app()
    if args.drop_get:
        app = DropGetStream(app, args.drop_get, args.retry_ms)
    return app


def _memory_event_store(base: type) -> Any:
    class MemoryEventStore(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            self.events: list[tuple[str, str, Any]] = []

        async def store_event(self, stream_id: str, message: Any) -> str:
            event_id = str(len(self.events) + 1)
            self.events.append((event_id, stream_id, message))
            return event_id

        async def replay_events_after(self, last_event_id: str, send_callback: Any) -> str | None:
            stream = next((s for e, s, _ in self.events if e == last_event_id), None)
            if stream is None:
                return None
            for event_id, stream_id, message in self.events:
                if stream_id == stream and int(event_id) > int(last_event_id) and message is not None:
                    await send_callback(_event_message(event_id, message))
            return stream

    return MemoryEventStore()


def _event_message(event_id: str, message: Any) -> Any:
    from mcp.server.streamable_http import EventMessage

    return EventMessage(message, event_id)


def _auth_settings(args: argparse.Namespace) -> dict[str, Any]:
    from mcp.server.auth.provider import AccessToken
    from mcp.server.auth.settings import AuthSettings

    class Verifier:
        async def verify_token(self, token: str) -> AccessToken | None:
            if token == "weak":  # a valid token without the required scope: 403
                return AccessToken(token=token, client_id="test", scopes=[], expires_at=None)
            if token != args.token:
                return None
            return AccessToken(token=token, client_id="test", scopes=["mcp"], expires_at=None)

    base = f"http://127.0.0.1:{args.port}"
    auth = AuthSettings(
        issuer_url=args.issuer or base, resource_server_url=f"{base}/mcp", required_scopes=["mcp"]
    )
    return {"token_verifier": Verifier(), "auth": auth}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=("stdio", "streamable-http"), required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--drop-get", type=float, default=0.0)
    parser.add_argument("--resumable", action="store_true")
    parser.add_argument("--retry-ms", type=int, default=None)
    parser.add_argument("--token", default=None)
    parser.add_argument("--issuer", default=None)
    args = parser.parse_args()
    if args.transport == "stdio":
        server = build()
        anyio.run(server.run_stdio_async)
        return
    import uvicorn

    uvicorn.run(http_app(args), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    sys.exit(main())
