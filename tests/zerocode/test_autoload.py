"""The MCP_OTEL_AUTO_INSTRUMENT start-up hook in fresh interpreters: installed, inert and import-free when
unset, cheap until ``mcp`` is imported, instruments once, configures the SDK only when the application has
not, never writes to stdout; plus the defaults it computes (exporters, service name)."""

from __future__ import annotations

import json
import site
import sys
import textwrap
from pathlib import Path

import pytest

from mcp_otel import autoload
from support.env import MCP_MAJOR
from support.zerocode import run_python, zerocode_env

PTH = "mcp_otel_autoload.pth"


def _run(code: str, **extra: str | None) -> tuple[str, str]:
    env = zerocode_env(None, None, extra=extra)
    proc = run_python(["-c", textwrap.dedent(code)], env, timeout=60)
    return proc.stdout, proc.stderr


def _probe(code: str, **extra: str | None) -> dict:
    """Run ``code`` (which assigns ``result``) and return ``result``, passed back on stderr as JSON."""
    program = (
        textwrap.dedent(code) + "\nimport json, sys\nprint('RESULT' + json.dumps(result), file=sys.stderr)\n"
    )
    stdout, stderr = _run(program, **extra)
    assert stdout == ""
    line = next(line for line in stderr.splitlines() if line.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_pth_is_installed_at_site_packages_root() -> None:
    roots = [Path(p) for p in site.getsitepackages()]
    assert any((root / PTH).is_file() for root in roots), roots


def test_unset_variable_imports_nothing() -> None:
    result = _probe(
        "result = sorted(m for m in __import__('sys').modules if m.startswith(('mcp_otel', 'opentelemetry')))",
        MCP_OTEL_AUTO_INSTRUMENT=None,
    )
    assert result == []


def test_set_variable_is_cheap_until_mcp_is_imported() -> None:
    result = _probe(
        """
        import sys
        from mcp_otel import autoload
        result = {
            "active": autoload.is_active(),
            "heavy": sorted(
                m for m in sys.modules
                if m.split(".")[0] in ("opentelemetry", "wrapt", "mcp") or m == "mcp_otel.instrumentor"
            ),
        }
        """
    )
    assert result == {"active": True, "heavy": []}


def test_instruments_at_mcp_import_and_configures_sdk_at_first_span() -> None:
    result = _probe(
        """
        import importlib.util
        importlib.util.find_spec("mcp")  # finding is not importing (fastmcp 4 does this): the hook waits
        import mcp
        from opentelemetry import trace
        from mcp_otel import McpInstrumentor
        from mcp_otel import autoload
        inst = McpInstrumentor()
        before = type(trace.get_tracer_provider()).__name__
        span = trace.get_tracer("probe").start_span("probe")
        span.end()
        provider = trace.get_tracer_provider()
        from opentelemetry.sdk.trace import TracerProvider
        result = {
            "instrumented": inst.is_instrumented_by_opentelemetry,
            "by_autoload": inst.by_autoload,
            "before": before,
            "after": isinstance(provider, TracerProvider),
            "service": provider.resource.attributes.get("service.name"),
            "trigger_removed": trace.ProxyTracer.start_span.__module__ == "opentelemetry.trace",
        }
        """,
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
    )
    assert result == {
        "instrumented": True,
        "by_autoload": True,
        "before": "ProxyTracerProvider",
        "after": True,  # the SDK's TracerProvider (mcp-otel's subclass remembers the tracers it gives)
        "service": "python",  # -c: no program name
        "trigger_removed": True,
    }


def test_application_providers_and_explicit_instrument_win() -> None:
    stdout, stderr = _run(
        """
        import mcp  # the hook instruments here
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from mcp_otel import McpInstrumentor
        app_provider = TracerProvider()
        trace.set_tracer_provider(app_provider)  # set after mcp was imported: still the application's
        trace.get_tracer("probe").start_span("probe").end()
        assert trace.get_tracer_provider() is app_provider
        inst = McpInstrumentor()
        inst.instrument()  # no options: the hook's instrumentation stays, silently
        assert inst.by_autoload
        own = TracerProvider()
        inst.instrument(tracer_provider=own)  # options: replaces the hook's instrumentation
        assert inst.is_instrumented_by_opentelemetry and not inst.by_autoload
        """
    )
    assert stdout == ""
    assert "Overriding" not in stderr and "already instrumented" not in stderr, stderr


def test_embedded_default_prints_the_tree_on_stderr_only() -> None:
    stdout, stderr = _run(
        """
        from mcp_otel import autoload
        autoload.ensure_sdk()  # what the first span after `import mcp` does (the examples' tests do it all)
        from opentelemetry import trace
        tracer = trace.get_tracer("probe")
        with tracer.start_as_current_span("outer"):
            tracer.start_span("inner").end()
        """
    )
    assert stdout == ""
    assert "trace " in stderr and "└── outer [INTERNAL]" in stderr and "inner [INTERNAL]" in stderr, stderr


def test_console_exporter_writes_to_stderr_not_stdout() -> None:
    stdout, stderr = _run(
        """
        from mcp_otel import autoload
        autoload.ensure_sdk()
        from opentelemetry import trace
        trace.get_tracer("probe").start_span("console-span").end()
        """,
        OTEL_TRACES_EXPORTER="console",
    )
    assert stdout == ""
    assert '"name": "console-span"' in stderr


def test_disabled_instrumentations_switch() -> None:
    result = _probe(
        """
        import mcp, sys
        from mcp_otel import autoload
        result = {"active": autoload.is_active(), "instrumentor": "mcp_otel.instrumentor" in sys.modules}
        """,
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="flask,mcp_otel",
    )
    assert result == {"active": False, "instrumentor": False}


def test_parent_context_from_environment_and_idempotence() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    result = _probe(
        """
        import sys
        from opentelemetry import trace
        from mcp_otel import autoload
        autoload.activate()
        exec(open([p for p in sys.path if p.endswith("site-packages")][0] + "/mcp_otel_autoload.pth").read())
        ctx = trace.get_current_span().get_span_context()
        finders = [f for f in sys.meta_path if type(f).__name__ == "_PostImportFinder"]
        result = {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}", "finders": len(finders)}
        """,
        TRACEPARENT=traceparent,
    )
    assert result == {
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
        "finders": 1,
    }


def test_default_exporters(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in __import__("os").environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    assert autoload.default_exporter_names("traces") == ["mcp_otel_tree"]
    assert autoload.default_exporter_names("metrics") == []
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    assert autoload.default_exporter_names("traces") == ["otlp_proto_grpc"]
    assert autoload.default_exporter_names("metrics") == ["otlp_proto_grpc"]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert autoload.default_exporter_names("metrics") == ["otlp_proto_http"]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert autoload.default_exporter_names("traces") == []  # the SDK reads the variable itself
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://127.0.0.1:4318/v1/metrics")
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")
    assert autoload.default_exporter_names("traces") == []  # an exporter is configured: no tree
    assert autoload.default_exporter_names("metrics") == ["otlp_proto_http"]


def test_default_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    monkeypatch.setattr(sys, "argv", ["/srv/agents/weather_server.py", "--port", "1"])
    monkeypatch.setitem(sys.modules, "__main__", type(sys)("__main__"))
    assert autoload.default_resource_attributes() == {"service.name": "weather_server"}
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=mine")
    assert autoload.default_resource_attributes() == {}
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "agent")
    assert autoload.default_resource_attributes() == {}


def test_names_match_semconv() -> None:
    from mcp_otel import semconv

    assert autoload.ENV_AUTO_INSTRUMENT == semconv.ENV_AUTO_INSTRUMENT
    assert autoload.ENV_DISABLED == semconv.ENV_DISABLED_INSTRUMENTATIONS
    assert autoload.ENTRY_POINT_NAME == semconv.SCOPE_NAME


def test_configure_from_code() -> None:
    """``mcp_otel.configure()``: the same set-up as the variable, for one line of code."""
    stdout, stderr = _run(
        """
        import mcp_otel
        mcp_otel.configure(excluded_methods=["ping"])
        from opentelemetry import trace
        from mcp_otel import McpInstrumentor
        inst = McpInstrumentor()
        assert inst.is_instrumented_by_opentelemetry and not inst.by_autoload
        assert inst._telemetry.config.excluded_methods == frozenset({"ping"})
        trace.get_tracer("probe").start_span("configured").end()
        """,
        MCP_OTEL_AUTO_INSTRUMENT=None,
    )
    assert stdout == ""
    assert "configured [INTERNAL]" in stderr, stderr


# What the start-up hook must not import (issue 14: every instrumented process pays it at `import mcp`):
# BaseInstrumentor's machinery (opentelemetry.instrumentation.instrumentor imports packaging, ~40 ms), the
# SDK and the exporters (configured at the first span, the exporter built in a background thread).
_NOT_AT_IMPORT = (
    "packaging",
    "opentelemetry.instrumentation",  # BaseInstrumentor, and utils (which imports opentelemetry.propagate)
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "grpc",
    "google.protobuf",
    "mcp_otel.instrumentor",
) + (("opentelemetry.propagate",) if MCP_MAJOR < 2 else ())  # mcp 2.x imports it itself


def test_hook_instruments_at_import_without_the_instrumentor_machinery() -> None:
    """After ``import mcp`` nothing of _NOT_AT_IMPORT is loaded, yet the first call is traced, and the
    contrib API sees the hook's instrumentation: instrument() leaves it in place, uninstrument() removes
    it, instrument() applies it again."""
    result = _probe(
        f"""
        import sys
        import mcp
        loaded = sorted(
            m for m in sys.modules if any(m == n or m.startswith(n + ".") for n in {_NOT_AT_IMPORT!r})
        )
        # @dataclass compiles generated code for each class (~0.6 ms a class): none on the start-up path
        dataclasses = sorted(
            f"{{name}}.{{attr}}"
            for name, module in list(sys.modules.items()) if name.startswith("mcp_otel")
            for attr, value in vars(module).items()
            if isinstance(value, type) and value.__module__ == name and "__dataclass_fields__" in vars(value)
        )
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        import anyio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from support.inproc import build_server, open_session

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)  # the application's, set after `import mcp`

        def ours():
            async def call():
                async with open_session(build_server()) as session:
                    await session.call_tool("add", {{"a": 1, "b": 2}})

            exporter.clear()
            anyio.run(call)
            return sorted(
                s.name for s in exporter.get_finished_spans()
                if s.instrumentation_scope.name == "mcp_otel" and s.name.startswith("tools/call")
            )

        first = ours()
        from mcp_otel import McpInstrumentor
        inst = McpInstrumentor()
        hooked = [inst.is_instrumented_by_opentelemetry, inst.by_autoload]
        patcher = inst._patcher
        inst.instrument()  # no options: the hook's instrumentation stays (not applied twice)
        kept = inst._patcher is patcher and inst.by_autoload
        inst.uninstrument()
        removed = [inst.is_instrumented_by_opentelemetry, ours()]
        inst.instrument()
        again = [inst.is_instrumented_by_opentelemetry, inst.by_autoload, ours()]
        result = dict(
            loaded=loaded, dataclasses=dataclasses, first=first, hooked=hooked, kept=kept, removed=removed, again=again
        )
        """,
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
    )
    traced = ["tools/call add", "tools/call add"]  # the client's span and the server's
    assert result == {
        "loaded": [],
        "dataclasses": [],
        "first": traced,
        "hooked": [True, True],
        "kept": True,
        "removed": [False, []],
        "again": [True, False, traced],
    }


@pytest.mark.parametrize(
    "version",
    ["1.12.4", "1.12.5", "1.13", "1.30.0", "2.3.0", "2.0.0rc1", "1.13.0.dev1", "1.12.4.post1", "1.12.4+local",
     "1!0.1", "1.12.3", "1.12.4rc1", "1.12.4.dev0", "1.12.4a1", "1.12", "0.9", "1.2.40", "v1.12.4"],
)  # fmt: skip
def test_dependency_check_without_packaging_agrees_with_packaging(version: str) -> None:
    """The start-up hook compares ``mcp >= 1.12.4`` itself (no packaging import); the same answer."""
    from packaging.specifiers import SpecifierSet

    from mcp_otel.package import _instruments, at_least

    (spec,) = _instruments
    expected = SpecifierSet(spec.split("mcp", 1)[1]).contains(version, prereleases=True)
    assert at_least(version, (1, 12, 4)) is expected
