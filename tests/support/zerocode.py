"""Run programs the zero-code way: only environment variables (MCP_OTEL_AUTO_INSTRUMENT, OTEL_*) or
``opentelemetry-instrument``, never instrumentation code; and read their traces from an `OtlpReceiver`."""

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from support.otlp import OtlpReceiver, SpanRecord

ZEROCODE_APPS = Path(__file__).resolve().parent.parent / "zerocode" / "apps"
EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


def clean_environ() -> dict[str, str]:
    """This process's environment without any OpenTelemetry or mcp-otel setting (and no trace context)."""
    drop = ("OTEL_", "MCP_OTEL_")
    context = {"TRACEPARENT", "TRACESTATE", "BAGGAGE"}
    return {k: v for k, v in os.environ.items() if not k.startswith(drop) and k not in context}


def zerocode_env(
    receiver: OtlpReceiver | None,
    service: str | None,
    *,
    protocol: str = "grpc",
    auto: bool = True,
    extra: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """A complete environment: clean, plus the exporter settings for `receiver` and the service name."""
    env = clean_environ()
    env["PYTHONUNBUFFERED"] = "1"
    if receiver is not None:
        env.update(receiver.exporter_env(protocol))
    if service is not None:
        env["OTEL_SERVICE_NAME"] = service
    if auto:
        env["MCP_OTEL_AUTO_INSTRUMENT"] = "true"
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def otel_instrument() -> str:
    """The `opentelemetry-instrument` launcher of this environment."""
    found = Path(sys.executable).with_name("opentelemetry-instrument")
    return str(found) if found.exists() else (shutil.which("opentelemetry-instrument") or "")


def has_distro() -> bool:
    import importlib.util

    return importlib.util.find_spec("opentelemetry.distro") is not None


def run_python(
    args: Sequence[str], env: Mapping[str, str], *, timeout: float = 60.0, launcher: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``[launcher...] python args...`` to completion; AssertionError (with its output) if it fails."""
    argv = [*launcher, sys.executable, *args]
    proc = subprocess.run(argv, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited with {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def service_spans(receiver: OtlpReceiver, service: str, **filters: Any) -> list[SpanRecord]:
    return [s for s in receiver.spans(**filters) if s.service_name == service]


def wait_service_spans(
    receiver: OtlpReceiver, service: str, name: str, *, timeout: float = 10.0, **filters: Any
) -> list[SpanRecord]:
    return receiver.wait_for(lambda: service_spans(receiver, service, name=name, **filters), timeout)


def one(spans: list[SpanRecord], name: str | None = None) -> SpanRecord:
    found = [s for s in spans if name is None or s.name == name]
    assert len(found) == 1, f"expected one {name!r} span, got {[(s.name, s.scope) for s in spans]}"
    return found[0]


def by_id(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    return {s.span_id: s for s in spans}
