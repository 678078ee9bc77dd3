"""Structural checks of the Collector, Jaeger and docker-compose configuration.

No OpenTelemetry Collector or Jaeger binary can be installed on our machines, so the Collector-format
configs (otel-collector.yaml, and jaeger-config.yaml, which Jaeger v2 reads with the same schema) are
checked here: every component a pipeline uses is declared, every declared component is used, the
spanmetrics connector joins the traces and metrics pipelines, and its dimensions are the low-cardinality
ones the rules expect. docker-compose.yaml is validated by `docker-compose config -q`.
"""

import os
import re
from pathlib import Path
from typing import Any

import pytest
from collector_helpers import CONFIG_DIR, RULE_FILES, all_rules, find_tool, load_yaml, run

pytestmark = pytest.mark.skipif(
    os.environ.get("MCP_OTEL_TEST_ENV", "v1") != "v1",
    reason="collector tests run once, in the v1 environment",
)

COLLECTOR = CONFIG_DIR / "otel-collector.yaml"
JAEGER = CONFIG_DIR / "jaeger-config.yaml"
COMPOSE = CONFIG_DIR / "docker-compose.yaml"
ADVISORY_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]
SPANMETRICS_DIMENSIONS = ["mcp.method.name", "gen_ai.tool.name", "error.type"]
KINDS = ("receivers", "processors", "exporters", "connectors", "extensions")


def component_problems(config: dict[str, Any]) -> list[str]:
    """Collector-config wiring errors: undeclared or unused components, misplaced connectors."""
    declared = {kind: set(config.get(kind) or {}) for kind in KINDS}
    service = config["service"]
    problems = []
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    connector_as = {"exporter": set(), "receiver": set()}
    for ext in service.get("extensions", []):
        used["extensions"].add(ext)
        if ext not in declared["extensions"]:
            problems.append(f"service.extensions: {ext} is not declared")
    for name, pipeline in service["pipelines"].items():
        if name.split("/")[0] not in {"traces", "metrics", "logs"}:
            problems.append(f"pipeline {name}: unknown signal")
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            problems.append(f"pipeline {name}: needs receivers and exporters")
        for role, kind in (
            ("receivers", "receivers"),
            ("processors", "processors"),
            ("exporters", "exporters"),
        ):
            for comp in pipeline.get(role, []):
                if kind != "processors" and comp in declared["connectors"]:
                    used["connectors"].add(comp)
                    connector_as["exporter" if role == "exporters" else "receiver"].add(comp)
                elif comp in declared[kind]:
                    used[kind].add(comp)
                else:
                    problems.append(f"pipeline {name}: {role[:-1]} {comp} is not declared")
        if "memory_limiter" in declared["processors"] and pipeline.get("processors", ["memory_limiter"])[
            0
        ] != ("memory_limiter"):
            problems.append(f"pipeline {name}: memory_limiter must be the first processor")
    for kind in KINDS:
        for comp in sorted(declared[kind] - used[kind]):
            problems.append(f"{kind}: {comp} is declared but not used in any pipeline")
    for conn in declared["connectors"]:
        if conn not in connector_as["exporter"] or conn not in connector_as["receiver"]:
            problems.append(f"connector {conn} must be an exporter of one pipeline and a receiver of another")
    return problems


def pipelines_with(config: dict[str, Any], role: str, component: str) -> set[str]:
    return {
        name.split("/")[0]
        for name, p in config["service"]["pipelines"].items()
        if component in p.get(role, [])
    }


def seconds(duration: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(ms|s|m)", duration).groups()
    return float(value) * {"ms": 0.001, "s": 1, "m": 60}[unit]


@pytest.mark.parametrize("path", [COLLECTOR, JAEGER], ids=lambda p: p.name)
def test_every_component_declared_and_used(path: Path) -> None:
    assert component_problems(load_yaml(path)) == []


def test_component_checker_catches_mistakes() -> None:
    config = load_yaml(COLLECTOR)
    config["exporters"]["debug"] = {}
    config["service"]["pipelines"]["traces"]["processors"].append("attributes/missing")
    problems = component_problems(config)
    assert any("debug is declared but not used" in p for p in problems)
    assert any("attributes/missing is not declared" in p for p in problems)


def test_otlp_in_jaeger_and_prometheus_out() -> None:
    config = load_yaml(COLLECTOR)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    assert {"memory_limiter", "batch"} <= set(config["processors"])
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["processors"][-1] == "batch"
    # Traces go to Jaeger v2 over OTLP gRPC, on the port jaeger-config.yaml listens on.
    (jaeger_exporter,) = [e for e in config["exporters"] if e.split("/")[0] in {"otlp", "otlp_grpc"}]
    assert config["exporters"][jaeger_exporter]["endpoint"] == "jaeger:4317"
    assert "traces" in pipelines_with(config, "exporters", jaeger_exporter)
    assert load_yaml(JAEGER)["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    # One Prometheus exporter on 8889 gets both the application's OTLP metrics and the spanmetrics.
    assert config["exporters"]["prometheus"]["endpoint"].endswith(":8889")
    assert config["exporters"]["prometheus"].get(
        "translation_strategy", "UnderscoreEscapingWithSuffixes"
    ) == ("UnderscoreEscapingWithSuffixes"), "the rules use the suffixed, underscore-escaped names"
    metrics_from = {
        r
        for p in config["service"]["pipelines"].values()
        if "prometheus" in p["exporters"]
        for r in p["receivers"]
    }
    assert {"otlp", "spanmetrics"} <= metrics_from


def test_spanmetrics_connector() -> None:
    config = load_yaml(COLLECTOR)
    spanmetrics = config["connectors"]["spanmetrics"]
    assert pipelines_with(config, "exporters", "spanmetrics") == {"traces"}
    assert pipelines_with(config, "receivers", "spanmetrics") == {"metrics"}
    dimensions = [d["name"] for d in spanmetrics["dimensions"]]
    assert dimensions == SPANMETRICS_DIMENSIONS
    forbidden = ("session", "request.id", "resource.uri", "arguments", "result", "client.port", "pid")
    assert not [d for d in dimensions if any(f in d for f in forbidden)], "high-cardinality dimension"
    assert [seconds(b) for b in spanmetrics["histogram"]["explicit"]["buckets"]] == pytest.approx(
        ADVISORY_BUCKETS
    )
    # Metric names the rules and Jaeger's Monitor tab expect: traces_span_metrics_* in milliseconds.
    assert spanmetrics.get("namespace", "traces.span.metrics") == "traces.span.metrics"
    assert spanmetrics["histogram"].get("unit", "ms") == "ms"
    jaeger_prom = load_yaml(JAEGER)["extensions"]["jaeger_storage"]["metric_backends"]
    (backend,) = jaeger_prom.values()
    assert backend["prometheus"]["metric_namespace"] == "traces_span_metrics"
    assert backend["prometheus"]["latency_unit"] == "ms"
    assert backend["prometheus"]["normalize_calls"] and backend["prometheus"]["normalize_duration"]


def test_spanmetrics_rules_use_only_connector_labels() -> None:
    """The spanmetrics rules select and group only by labels the connector produces."""
    dims = {d.replace(".", "_") for d in SPANMETRICS_DIMENSIONS}
    allowed = {"service_name", "span_name", "span_kind", "status_code", "le", "job", "instance", *dims}
    used = set()
    for rule in all_rules():
        if "traces_span_metrics" not in rule["expr"]:
            continue
        for matchers in re.findall(r"traces_span_metrics_\w+\{([^}]*)\}", rule["expr"]):
            used |= set(re.findall(r"(\w+)\s*[!=]~?", matchers))
        for grouping in re.findall(r"\bby\s*\(([^)]*)\)", rule["expr"]):
            used |= {g.strip() for g in grouping.split(",") if g.strip()}
    assert used, "no spanmetrics rules found"
    assert used <= allowed, sorted(used - allowed)


def test_docker_compose_config() -> None:
    compose = load_yaml(COMPOSE)
    services = compose["services"]
    assert set(services) == {"otel-collector", "jaeger", "prometheus", "alertmanager", "grafana"}
    images = {name: s["image"] for name, s in services.items()}
    assert images["jaeger"].startswith("jaegertracing/jaeger:2.")
    assert images["otel-collector"].startswith("otel/opentelemetry-collector-contrib:")
    assert images["prometheus"].startswith("prom/prometheus:")
    assert images["alertmanager"].startswith("prom/alertmanager:")
    assert images["grafana"].startswith("grafana/grafana:")
    for name, image in images.items():
        tag = image.rpartition(":")[2]
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: pin an exact version, not {tag!r}"
    # Every file a service mounts from this directory exists.
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (CONFIG_DIR / source).exists(), f"{name} mounts missing {source}"
    ports = {p.split(":")[0] for s in services.values() for p in s.get("ports", [])}
    assert {"4317", "4318", "16686", "9090", "9093", "8889", "3000"} <= ports
    # The Prometheus container sees rules/ next to prometheus.yml, as rule_files expects.
    prom_volumes = services["prometheus"]["volumes"]
    assert "./rules:/etc/prometheus/rules:ro" in prom_volumes
    assert any(v.startswith("./prometheus.yml:/etc/prometheus/prometheus.yml") for v in prom_volumes)
    assert all((CONFIG_DIR / f).parent == CONFIG_DIR / "rules" for f in RULE_FILES)

    docker_compose = find_tool("docker-compose")
    result = run([docker_compose, "-f", str(COMPOSE), "config", "-q"], cwd=CONFIG_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_config_rejects_mistakes(tmp_path: Path) -> None:
    """`docker-compose config -q` really validates: an unknown key fails."""
    docker_compose = find_tool("docker-compose")
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(
        COMPOSE.read_text().replace("    restart: unless-stopped", "    restrat: unless-stopped", 1)
    )
    result = run([docker_compose, "-f", str(broken), "config", "-q"], cwd=tmp_path)
    assert result.returncode != 0
