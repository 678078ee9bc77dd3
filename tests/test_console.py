"""The stderr trace tree (``mcp_otel_tree``): a long-lived server's request traces print as they complete,
and a tree that is only a part of a trace says so (issue 13, item 6)."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from mcp_otel.console import ConsoleTreeExporter
from support.capture import instrumented
from support.clients import open_session
from support.servers import start_http_server

REMOTE_TRACE = 0x0AF7651916CD43DD8448EB211C80319C
REMOTE_SPAN = 0xB7AD6B7169203331


def _remote_context() -> Context:
    parent = SpanContext(
        REMOTE_TRACE, REMOTE_SPAN, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_part_under_a_remote_parent_prints_when_complete_and_says_so() -> None:
    out = io.StringIO()
    exporter = ConsoleTreeExporter(out, grace=0.2)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(
        "tools/call add", context=_remote_context(), kind=trace.SpanKind.SERVER
    ):
        with tracer.start_as_current_span("handler"):
            pass
    assert out.getvalue() == ""  # waits the grace period for the parent to show up in this process
    assert _wait_for(lambda: "tools/call add" in out.getvalue(), timeout=5)
    first = out.getvalue()
    assert first.splitlines()[0] == (
        f"trace {REMOTE_TRACE:032x} (part of this trace, continued from remote parent span {REMOTE_SPAN:016x}; "
        "the rest prints where it was recorded)"
    )
    assert "└── tools/call add [SERVER]" in first and "    └── handler [INTERNAL]" in first
    # the same trace again, later: the header says it was printed in parts
    with tracer.start_as_current_span(
        "tools/call again", context=_remote_context(), kind=trace.SpanKind.SERVER
    ):
        pass
    provider.shutdown()  # leftovers print at shutdown, without waiting
    second = out.getvalue()[len(first) :]
    assert second.splitlines()[0].endswith("; more of this trace is printed above)"), second
    assert "tools/call again [SERVER]" in second


def test_a_parent_arriving_within_the_grace_period_keeps_one_tree() -> None:
    """In one process (client and server), the server's span waits for its client's span: one tree."""
    out = io.StringIO()
    exporter = ConsoleTreeExporter(out, grace=0.5)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    from opentelemetry import propagate

    with tracer.start_as_current_span("mcp.session"):
        with tracer.start_as_current_span("tools/call add", kind=trace.SpanKind.CLIENT):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            remote = propagate.extract(carrier)  # as the server extracts params._meta
            with tracer.start_as_current_span("tools/call add", context=remote, kind=trace.SpanKind.SERVER):
                pass
    time.sleep(0.8)  # past the grace period: nothing printed in parts
    provider.shutdown()
    text = out.getvalue()
    assert text.count("trace ") == 1 and "(" not in text.splitlines()[0], text
    assert "        └── tools/call add [SERVER]" in text


@pytest.mark.timeout(90)
def test_long_lived_http_server_prints_each_request_as_it_completes() -> None:
    """A zero-code HTTP server with no exporter configured: its request trees appear on stderr while it
    runs (before: only when the server stopped), marked as parts of the clients' traces."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith(("OTEL_", "MCP_OTEL_"))}
    env = {**unset, "MCP_OTEL_AUTO_INSTRUMENT": "true", "OTEL_BSP_SCHEDULE_DELAY": "200"}
    server = start_http_server("sdk", env=env)
    try:

        async def call() -> None:
            with instrumented():  # the client propagates its context in params._meta
                async with open_session("streamable-http", server.url) as session:
                    await session.call_tool("echo", {"text": "hi"})

        anyio.run(call)
        assert _wait_for(lambda: "tools/call echo [SERVER]" in server.logs(), timeout=15), server.logs()
        assert server.alive
        logs = server.logs()
        header = next(
            line for line in logs.splitlines() if line.startswith("trace ") and "remote parent" in line
        )
        assert "(part of this trace, continued from remote parent span " in header
    finally:
        server.close()
