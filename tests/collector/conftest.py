"""The collector-config tests run once, in the v1 environment (see collector_helpers.py)."""

import os

import pytest
from collector_helpers import COLLECTOR_TEST_ENV


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Each module also sets pytestmark; this catches any test added here without it.
    if os.environ.get("MCP_OTEL_TEST_ENV", COLLECTOR_TEST_ENV) == COLLECTOR_TEST_ENV:
        return
    here = os.path.dirname(__file__)
    marker = pytest.mark.skip(reason=f"collector tests run once, in the {COLLECTOR_TEST_ENV} environment")
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(marker)
