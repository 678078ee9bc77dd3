"""Helpers shared by the collector-config tests (Prometheus rules, Alertmanager, Collector configs).

These tests exercise real tools (promtool, amtool, prometheus, prometheus-alertmanager, docker-compose),
which `.ci/run` installs from Debian. A missing tool skips the test locally and fails it in CI
(CI=true) or when MCP_OTEL_REQUIRE_ALL=1.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "collector-config"
RULES_DIR = CONFIG_DIR / "rules"
RULE_TESTS_DIR = Path(__file__).resolve().parent / "rules"

# The collector tests do not depend on the mcp line, so they run once, in this environment.
COLLECTOR_TEST_ENV = "v1"


def collector_env_skip() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        os.environ.get("MCP_OTEL_TEST_ENV", COLLECTOR_TEST_ENV) != COLLECTOR_TEST_ENV,
        reason=f"collector tests run once, in the {COLLECTOR_TEST_ENV} environment",
    )


def require_all() -> bool:
    """True under CI=true or MCP_OTEL_REQUIRE_ALL=1: a missing tool fails the test instead of skipping it."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("MCP_OTEL_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    if require_all():
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


def find_tool(*names: str) -> str:
    """The path of the first of `names` on PATH; skips (locally) or fails (CI) when none is installed."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    skip_or_fail(
        f"{' / '.join(names)} not installed "
        "(apt-get install prometheus prometheus-alertmanager docker-compose)"
    )
    raise AssertionError("unreachable")


def run(cmd: list[str], cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


# --- Prometheus rule files ---------------------------------------------------------------------------

RULE_FILES = sorted(RULES_DIR.glob("*.yaml"))
_LABEL_TEMPLATE = re.compile(r"\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def load_yaml(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def all_rules() -> list[dict[str, Any]]:
    """Every rule of every shipped rule file, each with a `_file` key naming its file."""
    rules = []
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                rules.append({**rule, "_file": path.name, "_group": group["name"]})
    return rules


def alert_rules() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in all_rules() if "alert" in r}


def render_labels_template(template: str, labels: dict[str, str]) -> str:
    """Render the only template form the rules use, {{ $labels.name }} (a missing label renders as "")."""
    return _LABEL_TEMPLATE.sub(lambda m: labels.get(m.group(1), ""), template)


def template_leftovers(template: str) -> list[str]:
    """Template actions other than {{ $labels.name }}; the rules must not use any."""
    return re.findall(r"\{\{.*?\}\}", _LABEL_TEMPLATE.sub("", template))


_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "inf", "nan",
}  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels and durations removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _PROMQL_WORDS:
            continue
        names.add(word)
    return names


# --- the Grafana dashboard (collector-config/grafana) ------------------------------------------------
DASHBOARD = CONFIG_DIR / "grafana" / "dashboards" / "mcp-otel.json"


def dashboard_targets() -> list[tuple[str, str]]:
    """(panel title, PromQL as written) for every query of every panel of the dashboard."""
    import json

    doc = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in doc["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def grafana_to_promql(expr: str, job: str, window: str) -> str:
    """A panel's query as Grafana sends it for one service: `$job` and `$__rate_interval` filled in."""
    return expr.replace("$__rate_interval", window).replace("$job", job)
