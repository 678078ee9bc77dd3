"""Configuration: one table of options, validated in one place (issue 13, item 4).

Environment values that do not parse warn once on stderr and fall back; keyword arguments that are unknown
or invalid raise at ``instrument()``; a ``str`` for ``excluded_methods`` is read like the variable.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.capture import instrumented
from support.env import skip_or_fail
from support.inproc import build_server, open_session

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_OTEL_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_invalid_environment_values_warn_once_on_stderr_and_use_the_default() -> None:
    """No logging configured (a plain script): one stderr line per bad variable, naming the value used."""
    result = _run(
        """
        from mcp_otel.config import Config
        first, second = Config.from_env(), Config.from_env()
        def _fields(config):
            return [getattr(config, name) for name in Config.__slots__]
        print(first.retry_window, first.track_streams, first.propagate, first.capture_content,
              sorted(first.excluded_methods), _fields(first) == _fields(second))
        """,
        {
            "MCP_OTEL_RETRY_WINDOW": "abc",
            "MCP_OTEL_TRACK_STREAMS": "maybe",
            "MCP_OTEL_PROPAGATE": " OFF ",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "",
            "MCP_OTEL_EXCLUDED_METHODS": "ping, tools/cal,",
        },
    )
    assert result.stdout.split() == ["30.0", "True", "False", "False", "['ping',", "'tools/cal']", "True"]
    lines = sorted(result.stderr.strip().splitlines())
    assert len(lines) == 3, result.stderr
    assert "EXCLUDED_METHODS: 'tools/cal' is not an MCP method name (did you mean 'tools/call'?)" in lines[0]
    assert "MCP_OTEL_RETRY_WINDOW='abc' (expected a number of seconds); using 30.0" in lines[1]
    assert "MCP_OTEL_TRACK_STREAMS='maybe' (expected true or false); using true" in lines[2]


@pytest.mark.parametrize(
    ("variable", "raw", "field", "expected"),
    [
        ("MCP_OTEL_RETRY_WINDOW", "-5", "retry_window", 30.0),
        ("MCP_OTEL_RETRY_WINDOW", "nan", "retry_window", 30.0),
        ("MCP_OTEL_RETRY_WINDOW", "2.5", "retry_window", 2.5),
        ("MCP_OTEL_CAPTURE_LEAK_ORIGIN", "Yes", "capture_leak_origin", True),
        ("MCP_OTEL_DETECT_RESULT_ERRORS", "1", "result_error_detector", True),
        ("MCP_OTEL_DETECT_RESULT_ERRORS", "sometimes", "result_error_detector", None),
        ("MCP_OTEL_STDIO_PROPAGATION", "0", "stdio_propagation", False),
    ],
)
def test_environment_parsing(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    variable: str,
    raw: str,
    field: str,
    expected: object,
) -> None:
    from mcp_otel.config import Config, _warned

    _warned.clear()
    monkeypatch.setenv(variable, raw)
    with caplog.at_level("WARNING", logger="mcp_otel"):
        assert getattr(Config.from_env(), field) == expected
    warned = [r for r in caplog.records if variable in r.getMessage()]
    assert len(warned) == (0 if raw in ("2.5", "Yes", "1", "0") else 1), [r.getMessage() for r in warned]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"capture_contents": True},
            TypeError,
            "unexpected keyword argument 'capture_contents' (did you mean 'capture_content'?)",
        ),
        ({"retry_window": "abc"}, TypeError, "retry_window must be a number of seconds"),
        ({"retry_window": -1}, ValueError, "retry_window must be 0 or more"),
        ({"retry_window": True}, TypeError, "retry_window"),
        ({"track_streams": "yes"}, TypeError, "track_streams must be True or False"),
        ({"max_attribute_length": 0}, ValueError, "max_attribute_length must be 1 or more"),
        ({"max_attribute_length": 10.5}, TypeError, "max_attribute_length must be an int"),
        ({"excluded_methods": 5}, TypeError, "excluded_methods must be a collection"),
        ({"excluded_methods": ["ping", 3]}, TypeError, "must hold method names (str), not 3"),
        (
            {"result_error_detector": "yes"},
            TypeError,
            "result_error_detector must be True, False or a callable",
        ),
        ({"tracer_provider": object()}, TypeError, "tracer_provider must be a TracerProvider"),
    ],
)
def test_invalid_keywords_raise_at_instrument(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    from mcp_otel import McpInstrumentor

    instrumentor = McpInstrumentor()
    with pytest.raises(error) as raised:
        instrumentor.instrument(**kwargs)  # type: ignore[arg-type]
    assert message in str(raised.value)
    assert not instrumentor.is_instrumented_by_opentelemetry


@pytest.mark.anyio
async def test_a_string_for_excluded_methods_is_read_like_the_variable() -> None:
    """``excluded_methods="tools/list"`` used to exclude its characters (nothing); now the method."""
    with instrumented(excluded_methods="tools/list, ping") as cap:
        async with open_session(build_server(), mode="legacy") as s:
            await s.list_tools()
            await s.call_tool("add", {"a": 1, "b": 2})
    assert cap.named("tools/list") == []
    assert len(cap.named("tools/call add")) == 1


@pytest.mark.anyio
async def test_invalid_environment_value_keeps_the_default_working(monkeypatch: pytest.MonkeyPatch) -> None:
    """``MCP_OTEL_RETRY_WINDOW=abc``: the default window applies, so a repeated failure is a detected retry."""
    monkeypatch.setenv("MCP_OTEL_RETRY_WINDOW", "abc")
    with instrumented() as cap:
        async with open_session(build_server(), mode="legacy") as s:
            await s.call_tool("fail_tool", {})
            await s.call_tool("fail_tool", {})
    attempts = [(s.attributes or {}).get("mcp_otel.retry.attempt") for s in cap.named("tools/call fail_tool")]
    assert attempts[-1] == 2, attempts


def test_unknown_excluded_method_keyword_warns(caplog: pytest.LogCaptureFixture) -> None:
    from mcp_otel.config import _warned, check_instrument_kwargs

    _warned.clear()
    with caplog.at_level("WARNING", logger="mcp_otel"):
        check_instrument_kwargs({"excluded_methods": ["tools/cal"]})
    assert any(
        "'tools/cal' is not an MCP method name (did you mean 'tools/call'?)" in r.getMessage()
        for r in caplog.records
    )


def test_one_table_config_typeddict_docs_and_readme_agree() -> None:
    """Adding an option is one row in OPTIONS plus a Config field, a TypedDict key and its documentation."""
    from mcp_otel import McpInstrumentor, semconv
    from mcp_otel.config import _OTHER_KEYWORDS, OPTIONS, Config
    from mcp_otel.instrumentor import InstrumentOptions

    assert list(inspect.signature(Config).parameters) == [o.name for o in OPTIONS]
    typed = set(InstrumentOptions.__annotations__) - set(_OTHER_KEYWORDS)
    assert typed == {o.name for o in OPTIONS if o.keyword}
    defaults = Config()
    readme = (ROOT / "README.md").read_text()
    doc = McpInstrumentor.__doc__ or ""
    for option in OPTIONS:
        assert getattr(defaults, option.name) == option.default, option.name
        if option.keyword:
            assert f"``{option.name}``" in doc, option.name
            assert f"| `{option.name}` |" in readme, option.name
        if option.env:
            assert option.env in readme, option.env
            assert option.env in vars(semconv).values(), option.env
    for name in ("tracer_provider", "meter_provider"):
        assert f"``{name}``" in doc


def test_help_shows_public_names_only() -> None:
    result = _run("import mcp_otel, pydoc; print(pydoc.render_doc(mcp_otel, renderer=pydoc.plaintext))", {})
    text = result.stdout
    functions = text.split("FUNCTIONS", 1)[1].split("DATA", 1)[0]
    for internal in ("__getattr__", "__dir__", "_LazyModule", "importlib", "_EXPORTS"):
        assert internal not in functions and internal not in text.split("PACKAGE CONTENTS", 1)[0], internal
    for public in (
        "call_with_retry",
        "configure",
        "trace_session",
        "retry_attempt",
        "retrying",
        "is_retryable",
    ):
        assert f"    {public}(" in functions or f"    async {public}(" in functions, public
    assert "class McpInstrumentor" in text


def test_unknown_attribute_fails_at_runtime_and_under_mypy(tmp_path: Path) -> None:
    import mcp_otel

    with pytest.raises(AttributeError):
        mcp_otel.anything  # type: ignore[attr-defined]  # noqa: B018
    try:
        from mypy import api
    except ImportError:
        skip_or_fail("mypy is not installed (tests/requirements/base.txt has it)")
    snippet = tmp_path / "use_mcp_otel.py"
    snippet.write_text(
        textwrap.dedent(
            """
            import mcp_otel
            from mcp_otel import McpInstrumentor, retrying

            McpInstrumentor().instrument(capture_contents=True)
            McpInstrumentor().instrument(retry_window="abc")
            McpInstrumentor().instrument(retry_window=3, excluded_methods=["ping"], capture_content=True)
            mcp_otel.anything
            retrying(max_attempt=2)
            """
        )
    )
    out, _err, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", os.devnull, "--config-file", "", str(snippet)]
    )
    assert status == 1, out
    errors = [line.split(": error: ", 1)[1] for line in out.splitlines() if ": error: " in line]
    assert len(errors) == 4, out
    assert 'Unexpected keyword argument "capture_contents"' in errors[0]
    assert (
        'Argument "retry_window" to "instrument" of "McpInstrumentor" has incompatible type "str"'
        in errors[1]
    )
    assert 'Module has no attribute "anything"' in errors[2]
    assert 'Unexpected keyword argument "max_attempt"' in errors[3]


def test_instrumentation_enabled_agrees_with_contribs_check() -> None:
    """mcp_otel reads suppress_instrumentation()'s keys itself (keeps contrib's utils off the start-up path)."""
    from opentelemetry import context
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled, suppress_instrumentation

    from mcp_otel.telemetry import instrumentation_enabled

    assert instrumentation_enabled() is is_instrumentation_enabled() is True
    with suppress_instrumentation():
        assert instrumentation_enabled() is is_instrumentation_enabled() is False
    token = context.attach(
        context.set_value("suppress_instrumentation", True)
    )  # the plain key of old setters
    try:
        assert instrumentation_enabled() is is_instrumentation_enabled() is False
    finally:
        context.detach(token)
    assert instrumentation_enabled() is True
