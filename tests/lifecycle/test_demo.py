"""``make demo`` (examples/demo.py) shows progress and a server log in its tree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.env import MCP_VERSION_TUPLE

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


@pytest.mark.skipif(
    MCP_VERSION_TUPLE < (1, 13),
    reason="the demo uses streamable_http_client (mcp 1.13+); make demo runs on v1",
)
def test_demo_tree_shows_progress_and_server_log() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=60, env=env, check=True
    )
    tree = done.stderr
    assert "tools/call weekly_report [CLIENT]" in tree
    assert tree.count("• mcp_otel.progress value=3.0 total=3.0") == 2  # client and server spans
    assert "• mcp_otel.log level=warning" in tree
    assert "no station data" not in tree.split("trace ", 1)[1]  # the log text stays out (capture off)
