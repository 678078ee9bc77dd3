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
from dataclasses import dataclass, field
from typing import Any, Protocol

from mcp_otel.telemetry import report_internal_error


class StreamOwner(Protocol):
    """A session that can be charged with streams (client and server session records)."""

    stream_ledger: StreamLedger

    def on_stream_leaked(self, stream: TrackedStream) -> None: ...


STREAM_OWNER: ContextVar[StreamOwner | None] = ContextVar("mcp_otel_stream_owner", default=None)

# Library code whose frames are skipped when looking for where a leaked stream was created.
_LIBRARY_PARTS = ("/anyio/", "/mcp/", "/mcp_otel/", "/wrapt/", "/contextlib.py", "/asyncio/", "/fastmcp/")


@dataclass(eq=False)
class TrackedStream:
    """One stream charged to an owner; counted as leaked at most once."""

    ref: weakref.ref[Any]
    kind: str
    origin: tuple[str, int, str] | None = None  # (file, line, function) of the first frame outside libraries
    counted: bool = False


@dataclass(eq=False)
class StreamLedger:
    """The streams of one session (weakly), and how many leaked."""

    streams: list[TrackedStream] = field(default_factory=list)
    leaked: int = 0
    closed: bool = False

    def still_open(self) -> list[TrackedStream]:
        """Streams alive and unclosed now (``_closed`` is an anyio dataclass field in 4.4 to 4.16)."""
        out = []
        for tracked in self.streams:
            stream = tracked.ref()
            if stream is not None and not tracked.counted and getattr(stream, "_closed", True) is False:
                out.append(tracked)
        return out


class StreamTracker:
    """Installs the anyio hooks and charges streams to the current owner."""

    def __init__(self, capture_origin: bool) -> None:
        self.capture_origin = capture_origin
        # id(stream) -> (TrackedStream, weakref to owner); entries leave when the stream is collected.
        self._live: dict[int, tuple[TrackedStream, weakref.ref[Any]]] = {}

    def apply(self, patcher: Any) -> None:
        from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

        for cls in (MemoryObjectSendStream, MemoryObjectReceiveStream):
            patcher.wrap(cls, "__post_init__", self._created)
            if "__del__" in cls.__dict__:  # anyio >= 4.4
                patcher.wrap(cls, "__del__", self._deleted)

    def _created(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        owner = STREAM_OWNER.get()
        if owner is not None:
            try:
                self._track(instance, owner)
            except Exception:
                report_internal_error("StreamTracker._created")
        return result

    def _track(self, stream: Any, owner: StreamOwner) -> None:
        ledger = owner.stream_ledger
        if ledger.closed:
            return
        key = id(stream)
        live = self._live

        def gone(_ref: Any, key: int = key) -> None:
            live.pop(key, None)

        tracked = TrackedStream(weakref.ref(stream, gone), type(stream).__name__)
        if self.capture_origin:
            tracked.origin = _origin()
        ledger.streams.append(tracked)
        if len(ledger.streams) > 4096:  # bounded: keep only streams that may still leak
            ledger.streams[:] = [t for t in ledger.streams if t.ref() is not None]
        live[key] = (tracked, weakref.ref(owner))

    def _deleted(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            entry = self._live.pop(id(instance), None)
            if entry is not None and getattr(instance, "_closed", True) is False:
                tracked, owner_ref = entry
                owner = owner_ref()
                if owner is not None and not tracked.counted:
                    tracked.counted = True
                    owner.on_stream_leaked(tracked)
        except Exception:
            report_internal_error("StreamTracker._deleted")
        return wrapped(*args, **kwargs)


def _origin() -> tuple[str, int, str] | None:
    frame = sys._getframe(2)
    depth = 0
    while frame is not None and depth < 64:
        filename = frame.f_code.co_filename.replace("\\", "/")
        # "<string>": code generated by exec (dataclass __init__, wrapt); not a place a user can fix
        if not filename.startswith("<") and not any(part in filename for part in _LIBRARY_PARTS):
            return filename, frame.f_lineno, frame.f_code.co_name
        frame = frame.f_back
        depth += 1
    return None
