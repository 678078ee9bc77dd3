import sys
from pathlib import Path

import pytest

# Make tests/support importable as `support`.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.fixtures import http_server, otlp_receiver, stdio_params  # noqa: F401


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
