"""Options: one table (``OPTIONS``) read from ``instrument()`` keyword arguments and the environment.

Every option is a row of ``OPTIONS``: its ``instrument()`` keyword (also the ``Config`` field), its
environment variable, its default, the parser for the variable's text and the check for a keyword value.
All validation lives here:

* an environment value that does not parse is ignored with one warning on the ``mcp_otel`` logger naming
  the variable, the value and what is used instead (with no logging configured, Python's last-resort
  handler prints warnings on stderr);
* a keyword argument that is unknown, of the wrong type or out of range raises ``TypeError`` /
  ``ValueError`` from ``instrument()``: code is fixed once, before it ships;
* a name in ``excluded_methods`` that is not an MCP method (``tools/cal``) is kept, with a warning.

``None`` for a keyword means "not set here": the environment variable (or the default) applies.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mcp_otel import semconv

_logger = logging.getLogger("mcp_otel")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

ResultErrorDetector = Callable[[Mapping[str, Any]], object]
"""``detector(result)`` gets a ``tools/call`` result in its wire form and returns something truthy (or the
error description) for a failure the tool reported in its payload."""


class Config:
    """Everything a wrapper needs to know about the user's choices (one field per row of ``OPTIONS``).

    Attributes:
        capture_content: record tool arguments and results (``gen_ai.tool.call.*``), size-bounded.
        excluded_methods: MCP methods that get no span and no metric (e.g. ``ping``).
        propagate: inject the trace context into ``params._meta`` of outgoing requests.
        max_attribute_length: longest string value written to an attribute.
        stdio_propagation: pass OTEL_*/MCP_OTEL_* settings and the trace context (TRACEPARENT, ...) into
            the environment of stdio servers the client spawns.
        stdio_propagation_extra: names of further variables passed into stdio servers' environment
            (``MCP_OTEL_STDIO_PROPAGATION_EXTRA``), for servers the user trusts with them.
        retry_window: seconds within which a repeat of a failed request counts as a retry (0: off).
        track_streams: attribute anyio memory-object streams to sessions and report leaks.
        capture_leak_origin: record where each leaked stream was created (a frame walk per stream).
        result_error_detector: client and server, mark ``tools/call`` results that report a failure in their
            payload (``{"success": false, "error": ...}``) as ``error.type=tool_error``: True for the built-in
            detector, or a callable ``detector(result: dict) -> bool | str`` given the wire-form result.
        max_span_events: most lifecycle events (progress, server logs, list changes, reconnects) one span
            records (never above half the SDK's per-span event limit); later ones are counted in
            ``mcp_otel.events.dropped``. 0 records none.
    """

    __slots__ = (
        "capture_content",
        "capture_leak_origin",
        "excluded_methods",
        "max_attribute_length",
        "max_span_events",
        "propagate",
        "result_error_detector",
        "retry_window",
        "stdio_propagation",
        "stdio_propagation_extra",
        "track_streams",
    )

    def __init__(
        self,
        capture_content: bool = False,
        excluded_methods: frozenset[str] = frozenset(),
        propagate: bool = True,
        max_attribute_length: int = 1024,
        stdio_propagation: bool = True,
        stdio_propagation_extra: frozenset[str] = frozenset(),
        retry_window: float = 30.0,
        track_streams: bool = True,
        capture_leak_origin: bool = False,
        result_error_detector: bool | ResultErrorDetector | None = None,
        max_span_events: int = 64,
    ) -> None:
        self.capture_content = capture_content
        self.excluded_methods = excluded_methods
        self.propagate = propagate
        self.max_attribute_length = max_attribute_length
        self.stdio_propagation = stdio_propagation
        self.stdio_propagation_extra = stdio_propagation_extra
        self.retry_window = retry_window
        self.track_streams = track_streams
        self.capture_leak_origin = capture_leak_origin
        self.result_error_detector = result_error_detector
        self.max_span_events = max_span_events

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None) -> Config:
        """The environment (each invalid value warned about once), then ``instrument()`` keyword arguments
        (checked: ``TypeError``/``ValueError``); keys that are not options (providers, ...) are ignored."""
        values: dict[str, Any] = {}
        for option in OPTIONS:
            value = (overrides or {}).get(option.name)
            if value is not None and option.keyword:
                values[option.name] = option.check(option.name, value)
            else:
                values[option.name] = env_value(option.name)
        return cls(**values)


# --- parsers (environment text -> value; ValueError says what was expected) ---------------------------
def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true or false")


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError("expected a number of seconds, 0 or more")
    return value


def parse_methods(text: str) -> frozenset[str]:
    """Comma-separated MCP method names (the environment variable, and a ``str`` given as keyword)."""
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def parse_count(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("expected a whole number, 0 or more") from None
    if value < 0:
        raise ValueError("expected a whole number, 0 or more")
    return value


def _parse_detector(text: str) -> bool | None:
    return parse_bool(text) or None  # from the environment: only the built-in detector, on or off


# --- checks (instrument() keyword value -> value; TypeError / ValueError) ------------------------------
def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"instrument(): {name} must be True or False, not {value!r}")
    return value


def check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"instrument(): {name} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"instrument(): {name} must be 0 or more seconds, not {value!r}")
    return float(value)


def check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"instrument(): {name} must be an int, not {value!r}")
    if value < 1:
        raise ValueError(f"instrument(): {name} must be 1 or more, not {value!r}")
    return value


def check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"instrument(): {name} must be an int, not {value!r}")
    if value < 0:
        raise ValueError(f"instrument(): {name} must be 0 or more, not {value!r}")
    return value


def check_methods(name: str, value: object) -> frozenset[str]:
    """A collection of method names; a single ``str`` is read like the environment variable
    (comma-separated), so ``"tools/list"`` excludes ``tools/list`` (not its characters)."""
    if isinstance(value, str):
        methods = parse_methods(value)
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        items = list(value)
        wrong = [item for item in items if not isinstance(item, str)]
        if wrong:
            raise TypeError(f"instrument(): {name} must hold method names (str), not {wrong[0]!r}")
        methods = frozenset(item.strip() for item in items if item.strip())
    else:
        raise TypeError(f"instrument(): {name} must be a collection of MCP method names, not {value!r}")
    warn_unknown_methods(f"instrument({name}=...)", methods)
    return methods


def check_names(name: str, value: object) -> frozenset[str]:
    """A collection of environment-variable names; a single ``str`` is read like the variable."""
    if isinstance(value, str):
        return parse_methods(value)
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        items = list(value)
        wrong = [item for item in items if not isinstance(item, str)]
        if wrong:
            raise TypeError(f"instrument(): {name} must hold variable names (str), not {wrong[0]!r}")
        return frozenset(item.strip() for item in items if item.strip())
    raise TypeError(f"instrument(): {name} must be a collection of variable names, not {value!r}")


def _check_detector(name: str, value: object) -> bool | ResultErrorDetector | None:
    if isinstance(value, bool):
        return value or None
    if callable(value):
        return value  # a callable of the user's: its signature is documented
    raise TypeError(f"instrument(): {name} must be True, False or a callable, not {value!r}")


def _env_methods(text: str) -> frozenset[str]:
    methods = parse_methods(text)
    warn_unknown_methods(semconv.ENV_EXCLUDED_METHODS, methods)
    return methods


class Option:
    """One row of ``OPTIONS``."""

    __slots__ = ("check", "default", "env", "keyword", "name", "parse")

    def __init__(
        self,
        name: str,
        env: str | None,
        default: Any,
        parse: Callable[[str], Any],
        check: Callable[[str, Any], Any],
        keyword: bool = True,
    ) -> None:
        self.name = name  # the Config field and the instrument() keyword
        self.env = env  # its environment variable (None: keyword only)
        self.default = default
        self.parse = parse  # the variable's text -> value (ValueError: invalid)
        self.check = check  # (keyword, value) -> value (TypeError / ValueError: invalid)
        self.keyword = keyword  # False: environment only (instrument() rejects it as a keyword)


def _no_env(text: str) -> Any:
    raise AssertionError("keyword-only option")  # pragma: no cover - never called: env is None


OPTIONS: tuple[Option, ...] = (
    Option("capture_content", semconv.ENV_CAPTURE_CONTENT, False, parse_bool, check_bool),
    Option("excluded_methods", semconv.ENV_EXCLUDED_METHODS, frozenset(), _env_methods, check_methods),
    Option("propagate", semconv.ENV_PROPAGATE, True, parse_bool, check_bool),
    Option("max_attribute_length", None, 1024, _no_env, check_positive_int),
    Option("stdio_propagation", semconv.ENV_STDIO_PROPAGATION, True, parse_bool, check_bool),
    Option(
        "stdio_propagation_extra",
        semconv.ENV_STDIO_PROPAGATION_EXTRA,
        frozenset(),
        parse_methods,
        check_names,
    ),
    Option("retry_window", semconv.ENV_RETRY_WINDOW, 30.0, parse_seconds, check_seconds),
    Option("track_streams", semconv.ENV_TRACK_STREAMS, True, parse_bool, check_bool),
    Option("capture_leak_origin", semconv.ENV_CAPTURE_LEAK_ORIGIN, False, parse_bool, check_bool),
    Option("result_error_detector", semconv.ENV_DETECT_RESULT_ERRORS, None, _parse_detector, _check_detector),
    Option("max_span_events", semconv.ENV_MAX_SPAN_EVENTS, 64, parse_count, check_count),
)
_BY_NAME = {option.name: option for option in OPTIONS}


# instrument() keywords that are not OPTIONS rows
_OTHER_KEYWORDS = ("tracer_provider", "meter_provider", "skip_dep_check", "raise_exception_on_conflict")
_PROVIDER_METHODS = {"tracer_provider": "get_tracer", "meter_provider": "get_meter"}


def keywords() -> list[str]:
    """Every public keyword ``instrument()`` accepts."""
    return [option.name for option in OPTIONS if option.keyword] + list(_OTHER_KEYWORDS)


def check_instrument_kwargs(kwargs: Mapping[str, Any]) -> None:
    """Raise ``TypeError``/``ValueError`` for an unknown keyword or an invalid value (``instrument()``)."""
    known = keywords()
    for name, value in kwargs.items():
        if name not in known:
            import difflib  # only for a mistake: not on every start-up

            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"instrument() got an unexpected keyword argument {name!r}{hint}")
        if value is None:
            continue
        if name in _PROVIDER_METHODS and not callable(getattr(value, _PROVIDER_METHODS[name], None)):
            raise TypeError(f"instrument(): {name} must be a {name.title().replace('_', '')}, not {value!r}")
        option = _BY_NAME.get(name)
        if option is not None:
            option.check(name, value)


# --- the environment ------------------------------------------------------------------------------------
_warned: set[tuple[str, str]] = set()


def warn_invalid(variable: str, raw: str, reason: str, used: object) -> None:
    """One warning per variable and value per process."""
    if (variable, raw) in _warned:
        return
    _warned.add((variable, raw))
    _logger.warning("mcp-otel: ignoring %s=%r (%s); using %s", variable, raw, reason, _show(used))


def _show(value: object) -> str:
    if isinstance(value, frozenset):
        return ",".join(sorted(value)) or "none"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "false"}[value]
    return repr(value)


def warn_unknown_methods(source: str, methods: Iterable[str]) -> None:
    """A name that is not an MCP method (a typo) is kept as given, with one warning."""
    for method in sorted(set(methods) - semconv.MCP_METHODS):
        if (source, method) in _warned:
            continue
        _warned.add((source, method))
        import difflib

        close = difflib.get_close_matches(method, sorted(semconv.MCP_METHODS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        _logger.warning(
            "mcp-otel: %s: %r is not an MCP method name%s; excluded as given", source, method, hint
        )


def env_value(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """The value of option ``name`` from its environment variable: the default when unset, empty or
    invalid (invalid: one warning naming the variable, the value and the default used instead)."""
    option = _BY_NAME[name]
    if option.env is None:
        return option.default
    raw = (environ if environ is not None else os.environ).get(option.env)
    if raw is None or not raw.strip():
        return option.default
    try:
        return option.parse(raw)
    except ValueError as exc:
        warn_invalid(option.env, raw, str(exc), option.default)
        return option.default


def env_flag(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """A boolean environment variable that is not an ``OPTIONS`` row: ``default`` when unset or invalid
    (invalid: one warning)."""
    raw = (environ if environ is not None else os.environ).get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return parse_bool(raw)
    except ValueError as exc:
        warn_invalid(name, raw, str(exc), default)
        return default
