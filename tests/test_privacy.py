"""Privacy: no tool content unless opted in (then bounded), credentials scrubbed, no headers, no stdout."""

from __future__ import annotations

import pytest

from mcp_otel import scrub
from support.capture import instrumented
from support.inproc import build_server, open_session

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://bob:s3cr3t@host:8000/mcp", "http://host:8000/mcp"),
        ("for url 'https://h/mcp?token=abc&x=1'", "for url 'https://h/mcp?token=REDACTED&x=REDACTED'"),
        ("GET /mcp?jwt=e.y.j&code=1#frag failed", "GET /mcp?jwt=REDACTED&code=REDACTED failed"),
        ("res://x?api_key=zz&session_id=q", "res://x?api_key=REDACTED&session_id=REDACTED"),
        ("file:///etc/hosts", "file:///etc/hosts"),
        ("plain message", "plain message"),
    ],
)
def test_scrub_text(text: str, expected: str) -> None:
    assert scrub.text(text) == expected


def _all_attribute_keys(cap) -> set[str]:
    return {key for span in cap.spans(None) for key in (span.attributes or {})}


async def test_no_content_without_opt_in(capsys: pytest.CaptureFixture[str]) -> None:
    with instrumented() as cap:
        async with open_session(build_server()) as s:
            await s.call_tool("add", {"a": 1, "b": 2})
            with pytest.raises(Exception):  # noqa: B017
                await s.read_resource("res://user:pw@files/secret?token=abc")
    keys = _all_attribute_keys(cap)
    assert not {k for k in keys if k.startswith("gen_ai.tool.call.")}
    assert not {k for k in keys if "header" in k}
    uris = [
        s.attributes["mcp.resource.uri"]
        for s in cap.spans(None)
        if "mcp.resource.uri" in (s.attributes or {})
    ]
    assert uris and all("pw" not in u and "abc" not in u for u in uris)
    descriptions = " ".join(s.status.description or "" for s in cap.spans(None))
    assert "abc" not in descriptions and ":pw@" not in descriptions
    assert capsys.readouterr().out == ""  # nothing written to stdout (stdio servers own it)


async def test_content_opt_in_is_bounded() -> None:
    with instrumented(capture_content=True, max_attribute_length=64) as cap:
        async with open_session(build_server()) as s:
            await s.call_tool("add", {"a": 1, "b": 2})
            await s.call_tool("slow", {"seconds": 0.0, "padding": "x" * 10_000})
    client_args = [
        s.attributes["gen_ai.tool.call.arguments"]
        for s in cap.named("tools/call slow")
        if "gen_ai.tool.call.arguments" in s.attributes
    ]
    assert client_args and all(len(v) <= 64 for v in client_args)
    for span in cap.spans(None):
        for value in (span.attributes or {}).values():
            assert not isinstance(value, str) or len(value) <= 64
