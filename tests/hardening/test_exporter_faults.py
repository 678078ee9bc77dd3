"""An exporter that is down or hangs: the application's calls still work and the process still exits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.env import ENV_NAME
from support.servers import free_port

APP = Path(__file__).resolve().parent / "apps" / "exporter_app.py"
pytestmark = pytest.mark.skipif(
    ENV_NAME not in ("", "v1"), reason="exporter behaviour is the SDK's: checked once, in the v1 environment"
)


@pytest.fixture
def hanging_endpoint() -> Iterator[str]:
    """A TCP port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("fault", ["down", "hangs"])
def test_calls_work_and_exit_is_bounded(protocol: str, fault: str, hanging_endpoint: str) -> None:
    endpoint = hanging_endpoint if fault == "hangs" else f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        # the SDK's own bounds on export at shutdown (defaults: 10 s per export, 30 s per flush)
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2",
        "OTEL_BSP_EXPORT_TIMEOUT": "2000",
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(APP), endpoint, protocol], env=env, capture_output=True, text=True, timeout=90
    )
    elapsed = time.monotonic() - started
    assert "calls ok" in proc.stderr, proc.stderr[-2000:]
    assert proc.stdout == ""
    assert elapsed < 45, f"exit took {elapsed:.1f} s"
