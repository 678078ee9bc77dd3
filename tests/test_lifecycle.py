"""The instrumentation's own lifecycle: entry point, instrument/uninstrument cycles, unknown versions."""

from __future__ import annotations

import gc
import importlib.metadata
import logging
import sys
import tracemalloc
from typing import Any

import pytest

from mcp_otel import McpInstrumentor
from support.capture import new_capture

PATCHED_PREFIXES = ("mcp", "fastmcp", "anyio.streams.memory", "abi_core")


def _snapshot() -> dict[tuple[str, str, str], int]:
    """id() of every attribute of every loaded mcp/fastmcp/anyio-stream module and of their classes."""
    import mcp.client.session
    import mcp.client.stdio
    import mcp.client.streamable_http  # noqa: F401

    seen: dict[tuple[str, str, str], int] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(PATCHED_PREFIXES):
            continue
        for attribute, value in list(vars(module).items()):
            seen[(name, "", attribute)] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                for member, member_value in list(vars(value).items()):
                    seen[(name, attribute, member)] = id(member_value)
    return seen


_CAPTURE = new_capture()  # one pair of providers: the SDK registers at-fork hooks per provider, forever


def _cycle(times: int) -> None:
    instrumentor = McpInstrumentor()
    for _ in range(times):
        instrumentor.instrument(
            tracer_provider=_CAPTURE.tracer_provider, meter_provider=_CAPTURE.meter_provider
        )
        instrumentor.uninstrument()


def test_entry_point_is_registered() -> None:
    points = importlib.metadata.entry_points(group="opentelemetry_instrumentor")
    ours = [p for p in points if p.name == "mcp_otel"]
    assert len(ours) == 1
    assert ours[0].load() is McpInstrumentor


def test_instrumentation_dependencies() -> None:
    assert McpInstrumentor().instrumentation_dependencies() == ("mcp >= 1.12.4",)


def test_instrument_uninstrument_100_times_leaves_nothing_behind() -> None:
    _cycle(2)  # load every adapter module once
    before = _snapshot()
    gc.collect()
    tracemalloc.start()
    _cycle(10)
    gc.collect()
    first = tracemalloc.take_snapshot()
    _cycle(90)
    gc.collect()
    last = tracemalloc.take_snapshot()
    tracemalloc.stop()
    after = _snapshot()
    changed = {key for key in before if after.get(key) != before[key]}
    assert not changed, sorted(changed)[:20]
    from wrapt import ObjectProxy

    leftovers = [
        (name, attribute)
        for name, module in list(sys.modules.items())
        if module is not None and name.startswith(PATCHED_PREFIXES)
        for attribute, value in list(vars(module).items())
        if isinstance(value, ObjectProxy)
    ]
    assert leftovers == []
    growth = sum(stat.size_diff for stat in last.compare_to(first, "filename"))
    # 90 more cycles: no per-cycle growth beyond noise (a leak of one wrapper table per cycle is ~50 KiB)
    assert growth < 200_000, growth


def test_unknown_mcp_version_warns_and_patches_nothing(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    import mcp_otel._instrumentation as instrumentation_module

    real = instrumentation_module._major
    monkeypatch.setattr(instrumentation_module, "_major", lambda dist: 3 if dist == "mcp" else real(dist))
    from mcp.client.session import ClientSession

    before = ClientSession.__dict__.get("__aenter__")
    instrumentor = McpInstrumentor()
    capture = new_capture()
    with caplog.at_level(logging.WARNING, logger="mcp_otel"):
        instrumentor.instrument(
            tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider
        )
    try:
        assert ClientSession.__dict__.get("__aenter__") is before
        assert any("not a supported version" in r.getMessage() for r in caplog.records)
    finally:
        instrumentor.uninstrument()


def test_instrument_twice_is_idempotent() -> None:
    from mcp.client.session import ClientSession

    instrumentor = McpInstrumentor()
    capture = new_capture()
    instrumentor.instrument(tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider)
    try:
        once = ClientSession.__dict__.get("__aenter__")
        instrumentor.instrument(
            tracer_provider=capture.tracer_provider, meter_provider=capture.meter_provider
        )
        assert ClientSession.__dict__.get("__aenter__") is once
    finally:
        instrumentor.uninstrument()
