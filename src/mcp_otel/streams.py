"""Leak tracker for anyio memory-object streams, attributed to the MCP session that created them.

``ResourceWarning: Unclosed <MemoryObjectReceiveStream …>`` fires long after the fact, from an unrelated
place, with no allocation traceback (tracemalloc cannot see these dataclasses). So we hook stream
creation (``__post_init__`` of both stream classes: it also sees ``create_memory_object_stream[T](n)`` and
``clone()``, which a wrapper of the factory function misses) and ``__del__``, and attribute each stream to
the session whose code created it via the ``STREAM_OWNER`` ContextVar (set while a session layer opens,
inherited by the tasks it spawns, and set around each request). After the session's cleanup its streams
that are still open are counted as leaked, and so are streams garbage-collected unclosed during it.

Nothing here keeps a stream or a session alive: streams are held by weak references, owners too.
"""

from __future__ import annotations

import sys
import weakref
from contextvars import ContextVar
from types import FrameType
from typing import Any, Protocol

from mcp_otel.telemetry import report_internal_error


class StreamOwner(Protocol):
    """A session that can be charged with streams (client and server session records)."""

    stream_ledger: StreamLedger

    def on_stream_leaked(self, stream: TrackedStream) -> None: ...


STREAM_OWNER: ContextVar[StreamOwner | None] = ContextVar("mcp_otel_stream_owner", default=None)

# Library code whose frames are skipped when looking for where a leaked stream was created.
_LIBRARY_PARTS = ("/anyio/", "/mcp/", "/mcp_otel/", "/wrapt/", "/contextlib.py", "/asyncio/", "/fastmcp/")


class TrackedStream:
    """One stream charged to an owner; counted as leaked at most once."""

    __slots__ = ("counted", "kind", "origin", "ref")

    def __init__(self, ref: weakref.ref[Any], kind: str, origin: tuple[str, int, str] | None = None) -> None:
        self.ref = ref
        self.kind = kind
        self.origin = origin  # (file, line, function) of the first frame outside libraries
        self.counted = False


class StreamLedger:
    """The streams of one session (weakly), and how many leaked."""

    __slots__ = ("closed", "leaked", "streams")

    def __init__(self) -> None:
        # id(stream) -> its entry, for the streams not yet collected: a stream is dropped when it is
        # collected (StreamTracker), so a session holds O(its live streams) entries and no dead ones to sweep.
        self.streams: dict[int, TrackedStream] = {}
        self.leaked = 0
        self.closed = False

    def finish(self, owner: StreamOwner) -> int:
        """At the owner's end: charge the streams still open, stop tracking, return the leaked count."""
        for tracked in self.still_open():
            tracked.counted = True
            owner.on_stream_leaked(tracked)
        self.closed = True
        self.streams.clear()
        return self.leaked

    def still_open(self) -> list[TrackedStream]:
        """Streams alive and unclosed now (``_closed`` is an anyio dataclass field in 4.4 to 4.16)."""
        out = []
        for tracked in list(self.streams.values()):
            stream = tracked.ref()
            if stream is not None and not tracked.counted and getattr(stream, "_closed", True) is False:
                out.append(tracked)
        return out


class StreamTracker:
    """Installs the anyio hooks and charges streams to the current owner.

    The hooks are plain functions rather than wrapt wrappers: they run for every memory stream in the
    process, MCP or not, so the path without an owner is kept to one ContextVar read.
    """

    def __init__(self, capture_origin: bool) -> None:
        self.capture_origin = capture_origin
        # id(stream) -> (TrackedStream, weakref to owner); removed by the stream's __del__ (anyio >= 4.4)
        # or, on older anyio, by a weakref callback.
        self._live: dict[int, tuple[TrackedStream, weakref.ref[Any]]] = {}
        self._has_del = True

    def apply(self, patcher: Any) -> None:
        from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

        for cls in (MemoryObjectSendStream, MemoryObjectReceiveStream):
            self._has_del = self._has_del and "__del__" in cls.__dict__
        for cls in (MemoryObjectSendStream, MemoryObjectReceiveStream):
            patcher.replace(cls, "__post_init__", self._post_init_hook(cls.__post_init__, patcher))
            if self._has_del:
                patcher.replace(cls, "__del__", self._del_hook(cls.__dict__["__del__"], patcher))

    def _post_init_hook(self, original: Any, patcher: Any) -> Any:
        track = self._track

        def __post_init__(stream: Any) -> None:
            original(stream)
            owner = STREAM_OWNER.get()
            if owner is not None and patcher.active:
                try:
                    track(stream, owner)
                except Exception:
                    report_internal_error("StreamTracker.track")

        return __post_init__

    def _del_hook(self, original: Any, patcher: Any) -> Any:
        live = self._live
        collected = self._collected

        def __del__(stream: Any) -> None:
            if live:
                entry = live.pop(id(stream), None)
                if entry is not None:
                    collected(stream, entry)
            original(stream)

        return __del__

    def _track(self, stream: Any, owner: StreamOwner) -> None:
        ledger = owner.stream_ledger
        if ledger.closed:
            return
        key = id(stream)
        if self._has_del:
            ref = weakref.ref(stream)
        else:
            live = self._live

            def gone(_ref: Any) -> None:
                entry = live.pop(key, None)
                if entry is not None:
                    _forget(key, entry)

            ref = weakref.ref(stream, gone)
        tracked = TrackedStream(ref, type(stream).__name__, _origin() if self.capture_origin else None)
        ledger.streams[key] = tracked
        self._live[key] = (tracked, weakref.ref(owner))

    def _collected(self, stream: Any, entry: tuple[TrackedStream, weakref.ref[Any]]) -> None:
        """A tracked stream is being collected: charged as leaked if unclosed, and dropped from its ledger."""
        try:
            tracked, owner_ref = entry
            if getattr(stream, "_closed", True) is False and not tracked.counted:
                owner = owner_ref()
                if owner is not None:
                    tracked.counted = True
                    owner.on_stream_leaked(tracked)
            _forget(id(stream), entry)
        except Exception:
            report_internal_error("StreamTracker._collected")


def _forget(key: int, entry: tuple[TrackedStream, weakref.ref[Any]]) -> None:
    """Drop a collected stream from its owner's ledger (only that entry: the id may be reused since)."""
    tracked, owner_ref = entry
    owner = owner_ref()
    if owner is not None:
        streams = owner.stream_ledger.streams
        if streams.get(key) is tracked:
            del streams[key]


def _origin() -> tuple[str, int, str] | None:
    frame: FrameType | None = sys._getframe(2)
    depth = 0
    while frame is not None and depth < 64:
        filename = frame.f_code.co_filename.replace("\\", "/")
        # "<string>": code generated by exec (dataclass __init__, wrapt); not a place a user can fix
        if not filename.startswith("<") and not any(part in filename for part in _LIBRARY_PARTS):
            return filename, frame.f_lineno, frame.f_code.co_name
        frame = frame.f_back
        depth += 1
    return None
