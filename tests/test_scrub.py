"""The one URL/URI scrubber (DESIGN trust rule 4): userinfo removed, every query value ``REDACTED`` (names
kept), fragment dropped -- over generated URL shapes, alone and quoted inside messages."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_otel import scrub

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MARK = "zq9SECRETzq9"

_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
_SUB_DELIMS = "!$'()*+,="  # minus '&' and ';' (query separators) -- quotes excluded for messages below
schemes = st.sampled_from(["http", "https", "res", "file", "s3", "git+ssh", "custom.scheme", "ws"])
hosts = st.sampled_from(["example.com", "127.0.0.1", "[::1]", "h", "", "files"])
ports = st.one_of(st.none(), st.integers(1, 65535))
segments = st.text(_UNRESERVED + "%:@", max_size=12)
paths = st.lists(segments, max_size=4).map(lambda parts: "".join("/" + p for p in parts))
names = st.text(_UNRESERVED, min_size=1, max_size=10)


def _secret(chars: str) -> st.SearchStrategy[str]:
    return st.tuples(st.text(chars, max_size=6), st.text(chars, max_size=6)).map(
        lambda t: f"{t[0]}{MARK}{t[1]}"
    )


userinfo = st.one_of(
    _secret(_UNRESERVED + "%!$*+,;="),
    st.tuples(st.text(_UNRESERVED, max_size=5), _secret(_UNRESERVED + "%:")).map(lambda t: f"{t[0]}:{t[1]}"),
)
query_values = _secret(_UNRESERVED + "%/?:@!$*+,()")
queries = st.lists(st.tuples(names, st.one_of(st.none(), query_values)), min_size=1, max_size=5)
fragments = _secret(_UNRESERVED + "%/?:@&=;")


@st.composite
def urls(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A URL with secrets in userinfo, every query value and the fragment; and its query names."""
    url = f"{draw(schemes)}://"
    if draw(st.booleans()):
        url += draw(userinfo) + "@"
    url += draw(hosts)
    port = draw(ports)
    if port is not None:
        url += f":{port}"
    url += draw(paths)
    pairs = draw(queries)
    kept = []
    parts = []
    for name, value in pairs:
        if value is None:  # a bare value: no name to keep
            parts.append(MARK)
        else:
            parts.append(f"{name}={value}")
            kept.append(name)
    url += "?" + draw(st.sampled_from(["&", ";"])).join(parts)
    if draw(st.booleans()):
        url += "#" + draw(fragments)
    return url, kept


@SETTINGS
@given(urls())
def test_url_keeps_no_secret(case: tuple[str, list[str]]) -> None:
    url, kept = case
    scrubbed = scrub.url(url)
    assert MARK not in scrubbed
    assert "#" not in scrubbed
    for name in kept:
        assert f"{name}=REDACTED" in scrubbed
    assert scrub.url(scrubbed) == scrubbed  # idempotent


@SETTINGS
@given(urls(), st.sampled_from(["for url '{}'", 'url="{}" failed', "GET {} 401", "<{}>", "{}"]))
def test_urls_inside_messages(case: tuple[str, list[str]], template: str) -> None:
    url, _ = case
    message = template.format(url)
    scrubbed = scrub.text(message)
    assert MARK not in scrubbed
    assert scrub.text(scrubbed) == scrubbed


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_is_safe_and_stable(text: str) -> None:
    once = scrub.text(text)
    assert scrub.text(once) == once
    assert isinstance(scrub.url(text), str)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://bob:pw@host:8000/mcp?jwt=a.b.c&code=1&access=x#f",
            "http://host:8000/mcp?jwt=REDACTED&code=REDACTED&access=REDACTED",
        ),
        ("res://files/x", "res://files/x"),
        ("file:///etc/hosts#L1", "file:///etc/hosts"),
        ("res://x?flag&a=", "res://x?REDACTED&a=REDACTED"),
        ("users://{id}/profile", "users://{id}/profile"),
        ("//user:pw@host/p?q=1", "//host/p?q=REDACTED"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
    ],
)
def test_url_examples(url: str, expected: str) -> None:
    assert scrub.url(url) == expected


def test_httpx_status_message() -> None:
    message = (
        "Client error '401 Unauthorized' for url 'http://127.0.0.1:9/mcp?jwt=eyJ.x.y&code=c0de'\n"
        "For more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/401"
    )
    assert scrub.text(message) == (
        "Client error '401 Unauthorized' for url 'http://127.0.0.1:9/mcp?jwt=REDACTED&code=REDACTED'\n"
        "For more information check: https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/401"
    )
