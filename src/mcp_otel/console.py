"""A span exporter that prints each finished trace as a tree on stderr (never stdout: stdio servers own it).

Used by ``make demo`` and by the auto-instrumentation hook when no exporter is configured, so a user sees
the session lifecycle without running a collector. It needs the OpenTelemetry SDK.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

# Attributes worth a glance in a terminal; the rest stay in the OTLP data.
_SHOWN = (
    "mcp_otel.transport",
    "server.address",
    "server.port",
    "mcp.session.id",
    "mcp.protocol.version",
    "jsonrpc.request.id",
    "mcp_otel.request.timeout",
    "mcp_otel.retry.attempt",
    "mcp_otel.session.requests",
    "mcp_otel.session.errors",
    "mcp_otel.session.timeouts",
    "mcp_otel.session.leaked_streams",
    "mcp_otel.session.end_reason",
    "error.type",
)
_MAX_PENDING_TRACES = 1000


class ConsoleTreeExporter(SpanExporter):
    """Buffers spans per trace and prints the tree once the trace's root span has ended (traces rooted in
    another process, like a stdio server's, are printed at shutdown)."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out
        self._pending: dict[int, list[ReadableSpan]] = {}
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ready: list[list[ReadableSpan]] = []
        with self._lock:
            for span in spans:
                trace_id = span.context.trace_id
                self._pending.setdefault(trace_id, []).append(span)
                # A true root ends last in its trace: print then. A span whose parent is remote (a server
                # span under its client's request, maybe in this very process) waits for that root, or for
                # shutdown when the root lives in another process.
                if span.parent is None:
                    ready.append(self._pending.pop(trace_id))
            while len(self._pending) > _MAX_PENDING_TRACES:  # bounded: traces whose root never ends
                self._pending.pop(next(iter(self._pending)))
        for group in ready:
            self._print(group)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            leftovers, self._pending = list(self._pending.values()), {}
        for group in leftovers:
            self._print(group)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def _print(self, spans: list[ReadableSpan]) -> None:
        out = self._out or sys.stderr
        ids = {s.context.span_id for s in spans}
        children: dict[int | None, list[ReadableSpan]] = {}
        for span in spans:
            parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
            children.setdefault(parent, []).append(span)
        for group in children.values():
            group.sort(key=lambda s: s.start_time or 0)
        lines = [f"trace {spans[0].context.trace_id:032x}"]
        roots = children.get(None, [])
        for index, root in enumerate(roots):
            self._lines(root, children, "", index == len(roots) - 1, lines, {})
        out.write("\n".join(lines) + "\n")
        out.flush()

    def _lines(
        self,
        span: ReadableSpan,
        children: dict[int | None, list[ReadableSpan]],
        prefix: str,
        last: bool,
        lines: list[str],
        inherited: dict[str, object],
    ) -> None:
        branch = "└── " if last else "├── "
        lines.append(prefix + branch + describe(span, inherited))
        kids = children.get(span.context.span_id, [])
        below = prefix + ("    " if last else "│   ") + ("│ " if kids else "  ")
        lines.extend(below + "• " + describe_event(event) for event in span.events)
        seen = {**inherited, **dict(span.attributes or {})}
        for index, child in enumerate(kids):
            extension = "    " if last else "│   "
            self._lines(child, children, prefix + extension, index == len(kids) - 1, lines, seen)


def describe(span: ReadableSpan, inherited: dict[str, object] | None = None) -> str:
    """One line: name, kind, duration, status and the interesting attributes not already shown above."""
    duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    attributes = span.attributes or {}
    inherited = inherited or {}
    shown = " ".join(
        f"{k}={attributes[k]}" for k in _SHOWN if k in attributes and inherited.get(k) != attributes[k]
    )
    status = " ERROR" if span.status.status_code == StatusCode.ERROR else ""
    links = f" (links {len(span.links)})" if span.links else ""
    scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
    origin = "" if scope == "mcp_otel" else f" <{scope}>"
    return f"{span.name} [{span.kind.name}]{origin} {duration:.1f} ms{status}{links}  {shown}".rstrip()


def describe_event(event: Any) -> str:
    """A span event on one line: its name, then its attributes with the name's prefix dropped."""
    prefix = event.name + "."
    shown = " ".join(
        f"{k[len(prefix) :] if k.startswith(prefix) else k}={v}" for k, v in (event.attributes or {}).items()
    )
    return f"{event.name} {shown}".rstrip()
