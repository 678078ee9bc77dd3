"""Structural checks of the Grafana dashboard in collector-config/grafana (Grafana cannot run here).

Every panel's PromQL is run against a real Prometheus in test_live_alerting.py
(test_dashboard_queries_return_series); here: the JSON, the provisioning that loads it in
docker-compose, the topics the dashboard must show, and the links from every panel to Jaeger searches.
"""

import json
import re

from collector_helpers import (
    CONFIG_DIR,
    DASHBOARD,
    collector_env_skip,
    dashboard_targets,
    grafana_to_promql,
    load_yaml,
    promql_metric_names,
)

pytestmark = collector_env_skip()

GRAFANA = CONFIG_DIR / "grafana"


def _panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_dashboard_json_is_well_formed() -> None:
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] == "mcp-otel" and doc["title"] and isinstance(doc["schemaVersion"], int)
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)), ids
    cells: set[tuple[int, int]] = set()
    for panel in doc["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        covered = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    assert variables["job"]["allValue"] == ".*" and variables["job"]["includeAll"]
    assert variables["jaeger_url"]["query"] == "http://localhost:16686"
    for panel in _panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            used = set(re.findall(r"\$\{?(\w+)", expr)) - {"__rate_interval"}
            assert used <= set(variables), (panel["title"], used)
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
            assert '{job=~"$job"' in expr.replace(" ", ""), (
                f"{panel['title']}: every selector filters by $job"
            )


def test_every_panel_links_to_a_jaeger_search() -> None:
    for panel in _panels():
        links = panel["fieldConfig"]["defaults"]["links"]
        assert links, panel["title"]
        for link in links:
            url = link["url"]
            assert url.startswith("${jaeger_url}/search?service=${__field.labels.job:percentencode}&"), url
            assert "start=${__from}000&end=${__to}000" in url  # Jaeger takes microseconds
            assert " " not in url and '"' not in url, url
            for label in re.findall(r"__field\.labels\.(\w+)", url + link["title"]):
                # a label the link reads is one every query of the panel keeps
                for target in panel["targets"]:
                    assert label in target["expr"] or label == "job", (panel["title"], label)


def test_dashboard_shows_what_an_sre_asks_for() -> None:
    titles = " | ".join(p["title"].lower() for p in _panels())
    for topic in (
        "active sessions",
        "session ends by reason",
        "request rate",
        "error ratio by error.type",
        "p50 / p95 / p99",
        "timeouts",
        "session terminations",
        "retries",
        "reconnects",
        "leaked streams",
    ):
        assert topic in titles, topic
    names = set().union(
        *(promql_metric_names(grafana_to_promql(e, "x", "1m")) for _, e in dashboard_targets())
    )
    assert {
        "mcp_otel_client_sessions_active",
        "mcp_otel_server_sessions_active",
        "mcp_client_session_duration_seconds_count",
        "mcp_server_session_duration_seconds_count",
        "mcp_client_operation_duration_seconds_count",
        "mcp_client_operation_duration_seconds_bucket",
        "mcp_otel_client_retries_total",
        "mcp_otel_client_reconnects_total",
        "mcp_otel_client_streams_leaked_total",
    } <= names, names


def test_docker_compose_provisions_the_dashboard_and_data_sources() -> None:
    grafana = load_yaml(CONFIG_DIR / "docker-compose.yaml")["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"])
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["./grafana/dashboards"] == "/var/lib/grafana/dashboards"
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml")["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]
    sources = {
        s["uid"]: s
        for s in load_yaml(GRAFANA / "provisioning" / "datasources" / "datasources.yaml")["datasources"]
    }
    assert (
        sources["prometheus"]["type"] == "prometheus"
        and sources["prometheus"]["url"] == "http://prometheus:9090"
    )
    assert sources["jaeger"]["type"] == "jaeger" and sources["jaeger"]["url"] == "http://jaeger:16686"
    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    assert variables["datasource"]["current"]["value"] == "prometheus"  # the provisioned uid
