"""The libraries this instrumentation applies to (read by ``opentelemetry-instrument``)."""

from __future__ import annotations

import functools
import importlib.metadata
import re

_instruments = ("mcp >= 1.12.4",)


@functools.cache  # the start-up hook asks for mcp's twice (the dependency check, the adapter choice)
def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (None when it is not installed), read from the header of
    its metadata only.

    ``importlib.metadata.version()`` parses the whole METADATA file with the ``email`` package (mcp's holds its
    README): its first call costs 20-70 ms, paid by every instrumented process at ``import mcp``.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for name in ("METADATA", "PKG-INFO"):
        text = dist.read_text(name)
        if not text:
            continue
        for line in text.split("\n\n", 1)[0].splitlines():  # not the README that follows
            if not line.strip():
                break  # the end of the headers
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return str(dist.version)


# "name >= X.Y.Z", the form of every entry in _instruments; anything else is left to packaging.
_AT_LEAST = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*(\d+(?:\.\d+)*)\s*")
# PEP 440: [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local], the release segment and what follows it.
_RELEASE = re.compile(r"\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)(.*)", re.IGNORECASE)
_BEFORE_RELEASE = ("a", "b", "c", "rc", "pre", "preview", "alpha", "beta", "dev")


def requirement_met(spec: str) -> tuple[str | None, bool]:
    """(installed version, whether it satisfies ``spec``), pre-releases allowed (as opentelemetry-instrument
    checks them).

    ``name >= X.Y.Z`` is compared here: ``packaging`` costs ~25 ms to import, which the start-up hook would
    add to every instrumented process; any other form of requirement goes to ``packaging``.
    """
    simple = _AT_LEAST.fullmatch(spec)
    if simple is None:
        from packaging.requirements import Requirement

        requirement = Requirement(spec)
        found = installed_version(requirement.name)
        return found, found is not None and requirement.specifier.contains(found, prereleases=True)
    found = installed_version(simple.group(1))
    if found is None:
        return None, False
    minimum = tuple(int(part) for part in simple.group(2).split("."))
    return found, at_least(found, minimum)


def at_least(version: str, minimum: tuple[int, ...]) -> bool:
    """``version >= minimum`` by PEP 440 (pre-releases allowed); an unparseable version is not."""
    parsed = _RELEASE.fullmatch(version)
    if parsed is None:
        return False
    epoch, release_text, rest = parsed.groups()
    if epoch and int(epoch):
        return True
    release = tuple(int(part) for part in release_text.split("."))
    width = max(len(release), len(minimum))
    padded = release + (0,) * (width - len(release))
    wanted = minimum + (0,) * (width - len(minimum))
    if padded != wanted:
        return padded > wanted
    # the same release: its pre-releases and dev releases sort before it, post-releases and local after
    return not rest.lower().lstrip(".-_").startswith(_BEFORE_RELEASE)
