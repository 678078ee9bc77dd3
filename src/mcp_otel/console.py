"""A span exporter that prints each finished trace as a tree on stderr (never stdout: stdio servers own it).

Used by ``make demo`` and by the auto-instrumentation hook when no exporter is configured (exporter name
``mcp_otel_tree``), so a user sees the session lifecycle without running a collector. It needs the
OpenTelemetry SDK.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import IO

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
_MAX_REMEMBERED_TRACES = 1000


def _default_grace() -> float:
    """How long a part of a trace whose parent is remote waits for that parent to show up here: one
    BatchSpanProcessor delay (``OTEL_BSP_SCHEDULE_DELAY``, 5 s by default; spans of one process that end
    together can still arrive one batch apart) plus half a second."""
    try:
        delay = float(os.environ.get("OTEL_BSP_SCHEDULE_DELAY", "") or 5000) / 1000
    except ValueError:
        delay = 5.0
    return max(delay, 0.0) + 0.5


class ConsoleTreeExporter(SpanExporter):
    """Prints each finished trace as a tree on stderr.

    A trace prints when its root span ends. A part of a trace whose parent lives in another process (the
    SERVER spans of a long-lived HTTP server under its clients' requests, a stdio server's spans under its
    client's) prints as soon as it is complete: when its top span has ended and its parent has not shown
    up in this process within ``grace`` seconds (in-process servers stay nested in their client's tree).
    Such a tree's header says which remote span it continues, and a trace printed in parts says so.
    """

    def __init__(self, out: IO[str] | None = None, *, grace: float | None = None) -> None:
        self._out = out
        self._grace = _default_grace() if grace is None else grace
        self._pending: dict[int, list[ReadableSpan]] = {}
        # (trace id, span id) of ended spans whose parent is remote -> when to print their part
        self._due: dict[tuple[int, int], float] = {}
        self._printed: OrderedDict[int, None] = OrderedDict()  # trace ids printed (in part) already
        self._timer: threading.Timer | None = None
        self._closed = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ready: list[list[ReadableSpan]] = []
        with self._lock:
            now = time.monotonic()
            for span in spans:
                trace_id = span.context.trace_id
                self._pending.setdefault(trace_id, []).append(span)
                # A true root ends last in its trace: print then.
                if span.parent is None:
                    ready.append(self._pending.pop(trace_id))
                    self._forget_due(trace_id)
                elif span.parent.is_remote:
                    self._due[(trace_id, span.context.span_id)] = now + self._grace
            while len(self._pending) > _MAX_PENDING_TRACES:  # bounded: traces whose root never ends
                dropped = next(iter(self._pending))
                self._pending.pop(dropped)
                self._forget_due(dropped)
            self._arm_timer()
            printable = [(group, self._header(group)) for group in ready]
        for group, header in printable:
            self._print(group, header)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            leftovers, self._pending, self._due = list(self._pending.values()), {}, {}
            printable = [(group, self._header(group)) for group in leftovers]
        for group, header in printable:
            self._print(group, header)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # --- parts of traces rooted elsewhere ----------------------------------------------------------------
    def _forget_due(self, trace_id: int) -> None:
        for key in [key for key in self._due if key[0] == trace_id]:
            del self._due[key]

    def _arm_timer(self) -> None:
        if self._timer is not None or not self._due or self._closed:
            return
        delay = max(min(self._due.values()) - time.monotonic(), 0.0)
        self._timer = threading.Timer(delay, self._print_due)
        self._timer.daemon = True
        self._timer.start()

    def _print_due(self) -> None:
        parts: list[tuple[list[ReadableSpan], str]] = []
        with self._lock:
            self._timer = None
            if self._closed:
                return
            now = time.monotonic()
            for key, deadline in sorted(self._due.items(), key=lambda item: item[1]):
                if deadline > now:
                    continue
                del self._due[key]
                part = self._take_part(*key)
                if part:
                    parts.append((part, self._header(part)))
            self._arm_timer()
        for part, header in parts:
            self._print(part, header)

    def _take_part(self, trace_id: int, span_id: int) -> list[ReadableSpan]:
        """The span and its descendants, out of the pending trace, unless its parent has shown up since."""
        spans = self._pending.get(trace_id, [])
        by_id = {s.context.span_id: s for s in spans}
        top = by_id.get(span_id)
        if top is None or (top.parent is not None and top.parent.span_id in by_id):
            return []
        children: dict[int, list[ReadableSpan]] = {}
        for span in spans:
            if span.parent is not None:
                children.setdefault(span.parent.span_id, []).append(span)
        part, stack = [], [top]
        while stack:
            span = stack.pop()
            part.append(span)
            stack.extend(children.get(span.context.span_id, []))
        taken = {id(span) for span in part}
        rest = [span for span in spans if id(span) not in taken]
        if rest:
            self._pending[trace_id] = rest
        else:
            self._pending.pop(trace_id, None)
        return part

    def _header(self, spans: list[ReadableSpan]) -> str:
        """``trace <id>``, plus where the rest of the trace is when this is a part of it."""
        trace_id = spans[0].context.trace_id
        header = f"trace {trace_id:032x}"
        ids = {s.context.span_id for s in spans}
        remote = sorted(
            {
                s.parent.span_id
                for s in spans
                if s.parent is not None and s.parent.is_remote and s.parent.span_id not in ids
            }
        )
        notes = []
        if remote:
            more = f" and {len(remote) - 1} more" if len(remote) > 1 else ""
            notes.append(
                f"part of this trace, continued from remote parent span {remote[0]:016x}{more}; "
                "the rest prints where it was recorded"
            )
        if trace_id in self._printed:
            notes.append("more of this trace is printed above")
        else:
            self._printed[trace_id] = None
            while len(self._printed) > _MAX_REMEMBERED_TRACES:
                self._printed.popitem(last=False)
        return f"{header} ({'; '.join(notes)})" if notes else header

    # --- printing ----------------------------------------------------------------------------------------
    def _print(self, spans: list[ReadableSpan], header: str) -> None:
        out = self._out or sys.stderr
        ids = {s.context.span_id for s in spans}
        children: dict[int | None, list[ReadableSpan]] = {}
        for span in spans:
            parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
            children.setdefault(parent, []).append(span)
        for group in children.values():
            group.sort(key=lambda s: s.start_time or 0)
        lines = [header]
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
        f"{k}={attributes[k]!s}" for k in _SHOWN if k in attributes and inherited.get(k) != attributes[k]
    )
    status = " ERROR" if span.status.status_code == StatusCode.ERROR else ""
    links = f" (links {len(span.links)})" if span.links else ""
    scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
    origin = "" if scope == "mcp_otel" else f" <{scope}>"
    return f"{span.name} [{span.kind.name}]{origin} {duration:.1f} ms{status}{links}  {shown}".rstrip()
