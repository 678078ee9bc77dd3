"""Many sessions in one process: what mcp-otel keeps per session stays bounded, and nothing outlives them.

Timings are benchmarks/scale.py's business; this asserts only on live objects.
"""

from __future__ import annotations

import gc
from contextlib import AsyncExitStack
from typing import Any

import pytest

from mcp_otel.server import ServerCall, ServerSessionRecord
from mcp_otel.session import ClientSessionRecord, Operation
from mcp_otel.streams import TrackedStream
from support.capture import instrumented
from support.inproc import build_server, open_session

pytestmark = pytest.mark.anyio

SESSIONS = 10
REQUESTS_PER_SESSION = 100


def _alive(kind: type) -> list[Any]:
    gc.collect()
    return [obj for obj in gc.get_objects() if type(obj) is kind]


async def test_session_state_is_bounded_and_released() -> None:
    # Measured inside, asserted outside: an assertion raised under SESSIONS nested task groups would be
    # buried in as many exception groups.
    with instrumented() as cap:
        server = build_server("scale")
        async with AsyncExitStack() as stack:
            sessions = [await stack.enter_async_context(open_session(server)) for _ in range(SESSIONS)]
            for n in range(REQUESTS_PER_SESSION):
                for session in sessions:
                    await session.call_tool("add", {"a": n, "b": 1})
            records = _alive(ClientSessionRecord) + _alive(ServerSessionRecord)
            open_records = len(records)
            longest = max(len(record.stream_ledger.streams) for record in records)
            gc.collect()
            dead = sum(
                tracked.ref() is None
                for record in records
                for tracked in record.stream_ledger.streams.values()
            )
            operations, calls = len(_alive(Operation)), len(_alive(ServerCall))
            del records, sessions
    assert open_records == 2 * SESSIONS
    # Every request creates (and closes) memory streams charged to its session. A stream is dropped from
    # its session's ledger when it is collected: no dead entries wait for a sweep, and a session holds
    # about as many entries as it has live streams, not one per stream ever created.
    assert dead == 0, dead
    assert longest <= 8, longest
    # Nothing per request is kept: at most the last call of each server session (mcp 1.x's receive loop
    # holds its last responder, to which the call is bound weakly).
    assert operations <= SESSIONS and calls <= SESSIONS, (operations, calls)
    assert len(cap.named("mcp.session", side=None)) == 2 * SESSIONS
    assert len(cap.named("tools/call add", side=None)) == 2 * SESSIONS * REQUESTS_PER_SESSION
    for kind in (ClientSessionRecord, ServerSessionRecord, Operation, ServerCall, TrackedStream):
        assert _alive(kind) == [], kind.__name__


def test_identity_map_entries_are_one_tracked_object_each_and_leave_with_their_key() -> None:
    """The maps hold an entry per session layer, stream and (mcp 1.x server) request: one object each, so
    that many open sessions give the cycle collector as little as possible to walk (issue 14, goal 5)."""
    from mcp_otel._weak import IdentityWeakMap

    class Key:
        pass

    keys = [Key() for _ in range(200)]
    weak_map: IdentityWeakMap[int] = IdentityWeakMap()
    gc.collect()
    before = len(gc.get_objects())
    for n, key in enumerate(keys):
        weak_map.set(key, n)
    grown = len(gc.get_objects()) - before
    assert grown <= len(keys) + 2, grown
    assert [weak_map.get(key) for key in keys[:3]] == [0, 1, 2]
    del keys[:100]
    assert len(weak_map) == 100
    assert weak_map.pop(keys[0]) == 100 and weak_map.get(keys[0]) is None and len(weak_map) == 99
