"""``StreamableHTTPSessionManager.run()`` under instrumentation: an application's lifespan enters and exits it
exactly as without mcp-otel (its exit is the "server stopped" event that flushes; found by make compat: the
proxy around it lacked ``__aenter__`` and every ``async with manager.run()`` raised TypeError on mcp 2.x)."""

from __future__ import annotations

import pytest

from support.capture import instrumented

pytestmark = pytest.mark.anyio


async def test_session_manager_run_is_still_an_async_context_manager() -> None:
    from mcp.server.lowlevel import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    with instrumented():
        manager = StreamableHTTPSessionManager(app=Server("lifespan"))
        ran = False
        async with manager.run() as entered:
            ran = True
        assert ran
        assert entered is None  # what the library's own run() yields


async def _raised_through(manager: object) -> BaseException | None:
    try:
        async with manager.run():  # type: ignore[attr-defined]
            raise LookupError("from the app")
    except BaseException as exc:
        return exc
    return None


async def test_session_manager_run_exception_is_the_applications() -> None:
    from mcp.server.lowlevel import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    plain = await _raised_through(StreamableHTTPSessionManager(app=Server("lifespan")))
    with instrumented():
        traced = await _raised_through(StreamableHTTPSessionManager(app=Server("lifespan")))
    assert plain is not None and traced is not None
    assert (type(traced), str(traced)) == (type(plain), str(plain))
