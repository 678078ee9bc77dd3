"""The shipped Prometheus and Alertmanager configuration passes promtool/amtool; every alert is unit-tested.

The alert unit tests live in tests/collector/rules/*.test.yaml in promtool's format, listing for each
expected alert only the labels its expression produces. Before handing a file to `promtool test rules`,
this module adds to every expected alert the labels its rule sets (severity, source, signal, service)
and its annotations, rendered from those labels the way Prometheus does, and evaluates the rule groups
in file order (group_eval_order) so that alerts see the recording rules of the same step. That keeps
the test files short and still makes promtool check the full label set and the rendered summary and
description of every alert.
"""

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from collector_helpers import (
    CONFIG_DIR,
    RULE_FILES,
    RULE_TESTS_DIR,
    alert_rules,
    all_rules,
    find_tool,
    load_yaml,
    render_labels_template,
    run,
    template_leftovers,
)

pytestmark = pytest.mark.skipif(
    os.environ.get("MCP_OTEL_TEST_ENV", "v1") != "v1",
    reason="collector tests run once, in the v1 environment",
)

RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*.test.yaml"))
SEVERITIES = {"page", "ticket"}
SIGNALS = {
    "error_ratio",
    "error_budget_1h",
    "error_budget_6h",
    "error_budget_3d",
    "latency",
    "timeouts",
    "session_terminations",
    "retries",
    "leaked_streams",
    "session_growth",
}


def test_promtool_check_rules() -> None:
    promtool = find_tool("promtool")
    result = run([promtool, "check", "rules", *map(str, RULE_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config() -> None:
    promtool = find_tool("promtool")
    # From inside collector-config/, as a user would: rule_files are relative to prometheus.yml.
    result = run([promtool, "check", "config", "prometheus.yml"], cwd=CONFIG_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout, result.stdout
    listed = {CONFIG_DIR / p for p in load_yaml(CONFIG_DIR / "prometheus.yml")["rule_files"]}
    assert listed == set(RULE_FILES), "prometheus.yml must load every file in rules/"


def test_amtool_check_config() -> None:
    amtool = find_tool("amtool")
    result = run([amtool, "check-config", str(CONFIG_DIR / "alertmanager.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_routes_by_severity() -> None:
    config = load_yaml(CONFIG_DIR / "alertmanager.yml")
    routes = {tuple(r["matchers"]): r["receiver"] for r in config["route"]["routes"]}
    assert routes[('severity="page"',)] != routes[('severity="ticket"',)]
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(routes.values()) <= set(receivers)
    assert all(r.get("webhook_configs") for r in receivers.values())


def test_rule_hygiene() -> None:
    rules = all_rules()
    names = [r.get("record") or r.get("alert") for r in rules]
    alerts = [r for r in rules if "alert" in r]
    assert len({r["alert"] for r in alerts}) == len(alerts), "alert names must be unique"
    recorded = {r["record"] for r in rules if "record" in r}
    assert len(recorded) == len([r for r in rules if "record" in r]), "recording rules must be unique"
    assert all(":" in r["record"] for r in rules if "record" in r), "recording rules follow level:metric:op"
    problems = []
    for rule in alerts:
        name, labels, annotations = rule["alert"], rule.get("labels", {}), rule.get("annotations", {})
        if labels.get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity must be one of {SEVERITIES}")
        if labels.get("source") not in {"metrics", "spanmetrics"}:
            problems.append(f"{name}: source must be metrics or spanmetrics")
        if labels.get("signal") not in SIGNALS:
            problems.append(f"{name}: signal must be one of {sorted(SIGNALS)}")
        if "service" not in labels:
            problems.append(f"{name}: no service label")
        if set(annotations) != {"summary", "description"}:
            problems.append(f"{name}: annotations must be summary and description")
        if len(annotations.get("description", "")) < 150:
            problems.append(f"{name}: the description should say what to check and what to do")
        for text in [*labels.values(), *annotations.values()]:
            if template_leftovers(str(text)):
                problems.append(
                    f"{name}: only {{{{ $labels.x }}}} templates, found {template_leftovers(text)}"
                )
        if "for" not in rule:
            problems.append(f"{name}: no `for`")
    assert not problems, "\n".join(problems)
    assert names


def _expected_alert(rule: dict[str, Any], exp: dict[str, Any]) -> dict[str, Any]:
    expr_labels = {k: str(v) for k, v in (exp.get("exp_labels") or {}).items()}
    labels = dict(expr_labels)
    for key, value in rule.get("labels", {}).items():
        labels.setdefault(key, render_labels_template(str(value), expr_labels))
    annotations = {
        k: render_labels_template(str(v), expr_labels) for k, v in rule.get("annotations", {}).items()
    }
    return {"exp_labels": labels, "exp_annotations": {**annotations, **(exp.get("exp_annotations") or {})}}


def complete_rule_test(path: Path) -> dict[str, Any]:
    """The promtool test file at `path` with absolute rule_files and full expected labels/annotations."""
    doc = load_yaml(path)
    rules = alert_rules()
    doc["rule_files"] = [str((path.parent / f).resolve()) for f in doc["rule_files"]]
    # promtool evaluates groups in random order unless told; the alert groups read the recording rules
    # of the same evaluation step, so evaluate the groups in file order (recording files come first).
    doc.setdefault(
        "group_eval_order", [g["name"] for f in doc["rule_files"] for g in load_yaml(Path(f))["groups"]]
    )
    for test in doc["tests"]:
        for case in test.get("alert_rule_test", []):
            assert case["alertname"] in rules, f"{path.name}: unknown alert {case['alertname']}"
            rule = rules[case["alertname"]]
            case["exp_alerts"] = [_expected_alert(rule, exp) for exp in case.get("exp_alerts") or []]
    return doc


@pytest.mark.parametrize("path", RULE_TEST_FILES, ids=[p.name for p in RULE_TEST_FILES])
def test_promtool_alert_unit_tests(path: Path, tmp_path: Path) -> None:
    promtool = find_tool("promtool")
    completed = tmp_path / path.name
    completed.write_text(yaml.safe_dump(complete_rule_test(path), sort_keys=False), encoding="utf-8")
    result = run([promtool, "test", "rules", str(completed)], timeout=90)
    assert result.returncode == 0, f"{path.name}:\n{result.stdout}\n{result.stderr}"


def test_every_alert_has_firing_and_silent_unit_tests() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TEST_FILES:
        for test in load_yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    alerts = set(alert_rules())
    assert not alerts - fires, f"alerts without a test where they fire: {sorted(alerts - fires)}"
    assert not alerts - silent, f"alerts without a test where they stay silent: {sorted(alerts - silent)}"
