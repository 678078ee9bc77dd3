"""The one scrubber for every URL, URI and message mcp-otel records (DESIGN trust rule 4), and the clip.

* :func:`url` scrubs one URL or URI: userinfo removed, **every** query value replaced by ``REDACTED`` (the
  names are kept; a query part without ``=`` counts as a value), the fragment dropped. Working from a list
  of secret-looking names (``token``, ``key``...) let ``?jwt=``, ``?code=``, ``?access=`` through.
* :func:`text` scrubs every URL inside free text (httpx quotes the whole request URL in its errors:
  ``Client error '401 Unauthorized' for url 'http://...?jwt=...'``), and query strings of bare paths.
* :func:`clip` bounds a string (DESIGN trust rule 5: a peer must not blow up a span).

Pure string work (no ``urllib``: ``urlsplit`` raises on some malformed input) that never raises.
"""

from __future__ import annotations

import re

from mcp_otel.semconv import REDACTED

# Patterns, not compiled: re compiles (and caches) them at first use, not on every instrumented start-up.
# A URL with a scheme and an authority inside free text: up to whitespace, a quote or an angle bracket.
_URL_IN_TEXT = r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]*"
# A bare path with a query (``GET /mcp?session_id=abc``): a slash-led token holding a ``?``.
_PATH_QUERY_IN_TEXT = r"(?<![^\s'\"(<=\[])/[^\s'\"<>`?#]*\?[^\s'\"<>`]*"
_QUERY_SEPARATORS = r"([&;])"


def clip(value: str, limit: int, *, keep_end: bool = False) -> str:
    """``value`` bounded to ``limit`` characters (an ellipsis marks the cut); ``keep_end`` keeps the last
    characters instead of the first (a Python stack trace ends with where it was raised and the message)."""
    if len(value) <= limit:
        return value
    if keep_end:
        return "..." + value[len(value) - max(limit - 3, 0) :]
    return value[: max(limit - 3, 0)] + "..."


def url(value: str) -> str:
    """One URL or URI, scrubbed: no userinfo, every query value ``REDACTED``, no fragment."""
    value = value.split("#", 1)[0]
    base, has_query, query = value.partition("?")
    base = _without_userinfo(base)
    if not has_query:
        return base
    return f"{base}?{_redacted_query(query)}"


def text(value: str) -> str:
    """Free text with every URL in it scrubbed as :func:`url` does."""
    if "://" in value:
        value = re.sub(_URL_IN_TEXT, lambda m: url(m.group(0)), value)
    if "?" in value and "/" in value:
        value = re.sub(_PATH_QUERY_IN_TEXT, lambda m: url(m.group(0)), value)
    return value


def _without_userinfo(base: str) -> str:
    marker = base.find("://")
    if marker >= 0:
        start = marker + 3
    elif base.startswith("//"):  # a network-path reference
        start = 2
    else:
        return base
    end = base.find("/", start)
    if end < 0:
        end = len(base)
    at = base.rfind("@", start, end)
    if at < 0:
        return base
    return base[:start] + base[at + 1 :]


def _redacted_query(query: str) -> str:
    out = []
    for part in re.split(_QUERY_SEPARATORS, query):
        if not part or part in "&;":
            out.append(part)
            continue
        name, has_value, _ = part.partition("=")
        out.append(f"{name}={REDACTED}" if has_value else REDACTED)
    return "".join(out)
