"""The production compose file, checked without a Docker engine.

It parses, sets only LINKGUARD_ variables that are real settings, runs only
commands the CLI has, and its Prometheus rules and Grafana dashboard query only
metrics that linkguard/ops/metrics.py really exports. With a Docker engine and the
compose plugin, ``docker compose config`` validates it too.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

from linkguard.cli.root import app
from linkguard.ops.metrics import LagCollector, build_registry, metric_names
from sinks import make_engine
from streams.settings import KafkaSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
PACKAGES = ("streams", "sinks", "linkguard")
#: commands other branches bring; their help is checked once they are merged
#: metrics Prometheus itself makes about every target
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())


def settings_classes() -> list[type[BaseSettings]]:
    """Every pydantic-settings class in the packages (found, not listed: new ones count too)."""
    found: dict[str, type[BaseSettings]] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}.", onerror=lambda name: None):
            if info.name.endswith("__main__"):  # running it would start the CLI
                continue
            try:
                mod = importlib.import_module(info.name)
            except ImportError:
                continue
            for value in vars(mod).values():
                if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings:
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def setting_names() -> set[str]:
    names = set()
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        names.update((prefix + name).upper() for name in cls.model_fields)
    return names


def linkguard_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("command", [None])[0] == "linkguard"}


def test_compose_shape(compose):
    services = compose["services"]
    kafka = [services[f"kafka{i}"] for i in (1, 2, 3)]
    assert {s["image"].split(":")[0] for s in kafka} == {"apache/kafka"}
    for node in kafka:
        env = node["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka1:9093,2@kafka2:9093,3@kafka3:9093"
        assert (env["KAFKA_DEFAULT_REPLICATION_FACTOR"], env["KAFKA_MIN_INSYNC_REPLICAS"]) == (3, 2)
        assert "SASL_SSL" in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert sorted(n["environment"]["KAFKA_NODE_ID"] for n in kafka) == [1, 2, 3]
    assert {"postgres", "guard", "sink", "web", "metrics", "prometheus", "grafana"} <= set(services)
    assert services["guard"]["deploy"]["replicas"]  # scalable
    for name, service in linkguard_services(compose).items():
        env = service["environment"]
        assert env["LINKGUARD_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["LINKGUARD_TOPIC_REPLICATION"] == 3, name
        assert env["LINKGUARD_DATABASE_URL"].startswith("postgresql+psycopg://"), name


def test_every_linkguard_variable_is_a_real_setting(compose):
    known = setting_names()
    assert {"LINKGUARD_KAFKA_BOOTSTRAP", "LINKGUARD_DATABASE_URL", "LINKGUARD_METRICS_PORT"} <= known
    used = set()
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("LINKGUARD_"):
                used.add(variable)
                assert variable in known, f"{name} sets {variable}, which no settings class reads"
    env_example = (COMPOSE / ".env.example").read_text()
    for line in env_example.splitlines():
        variable = line.split("=", 1)[0].strip()
        if variable.startswith("LINKGUARD_") and variable != "LINKGUARD_IMAGE":
            assert variable in known, f".env.example sets {variable}, which no settings class reads"
    assert len(used) >= 10


def test_settings_in_compose_are_valid_values(compose, monkeypatch):
    """The values (interpolated from .env.example's defaults) load into the settings classes."""
    env = linkguard_services(compose)["guard"]["environment"]
    for key, value in env.items():
        value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
        value = re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "secret", value)
        monkeypatch.setenv(key, value)
    settings = KafkaSettings()
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512" and settings.topic_replication == 3
    assert settings.kafka_sasl_password.get_secret_value() == "secret"


def test_every_variable_compose_interpolates_is_in_env_example(compose):
    text = (COMPOSE / "docker-compose.yml").read_text()
    referenced = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    documented = {line.split("=", 1)[0] for line in (COMPOSE / ".env.example").read_text().splitlines()
                  if line and not line.startswith("#")}
    assert referenced - documented == set()


@pytest.mark.parametrize("service", ["guard", "sink", "web", "metrics"])
def test_every_service_command_exists_in_the_cli(compose, service):
    command = compose["services"][service]["command"]
    assert command[0] == "linkguard"
    result = CliRunner().invoke(app, [command[1], "--help"])
    assert result.exit_code == 0, result.output
    for option in command[2:]:
        if option.startswith("--"):
            assert option in result.output, f"{service}: {option} is not an option of {command[1]}"


def test_kafka_init_creates_every_topic_the_guard_uses():
    from streams.topics import TopicNames

    script = (COMPOSE / "kafka" / "init.sh").read_text()
    for topic in TopicNames("").all():
        assert f'"{topic}"' in script.replace('${P}', ""), topic
    assert "cleanup.policy=compact" in script


# ---------------------------------------------------------------- Prometheus and Grafana


@pytest.fixture(scope="module")
def exported() -> set[str]:
    """The sample names the exporter and the sink worker can export, from their collectors."""
    settings = KafkaSettings(kafka_bootstrap="unused:9092")
    registry, _ = build_registry(engine=make_engine("sqlite://"), lag=LagCollector(settings), sink=True)
    return metric_names(registry) | {s.name for f in registry.collect() for s in f.samples
                                     if s.name.startswith("process_")}


def selectors(expr: str) -> set[str]:
    """Metric names an expression selects (parsing it: a syntax error fails)."""
    names: set[str] = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def test_prometheus_config_and_alert_rules(exported):
    config = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["linkguard-exporter"]["static_configs"][0]["targets"] == ["metrics:9464"]
    assert jobs["linkguard-sink"]["dns_sd_configs"][0]["port"] == 9465
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]

    rules = yaml.safe_load((COMPOSE / "prometheus" / "alerts.yml").read_text())
    alerts = [r for group in rules["groups"] for r in group["rules"]]
    used = set()
    for rule in alerts:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        names = selectors(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported | PROMETHEUS_OWN, f"{rule['alert']} queries {names - exported}"
        used |= names
    assert {"linkguard_consumergroup_max_lag_seconds", "linkguard_dead_letters_total"} <= used


def test_grafana_provisioning_and_dashboard(exported):
    datasource = yaml.safe_load((COMPOSE / "grafana/provisioning/datasources/prometheus.yml").read_text())
    [ds] = datasource["datasources"]
    assert (ds["type"], ds["url"]) == ("prometheus", "http://prometheus:9090")
    provider = yaml.safe_load((COMPOSE / "grafana/provisioning/dashboards/linkguard.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"

    dashboard = json.loads((COMPOSE / "grafana/dashboards/linkguard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    used = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == ds["uid"]
        for target in panel["targets"]:
            names = selectors(target["expr"])
            assert names and names <= exported | PROMETHEUS_OWN, f"{panel['title']}: {names - exported}"
            used |= names
    for needed in ("linkguard_consumergroup_lag", "linkguard_records_checked_total",
                   "linkguard_review_queue_depth", "linkguard_dead_letters_total",
                   "linkguard_end_to_end_latency_seconds_bucket"):
        assert needed in used


def test_selectors_catch_a_misspelt_metric():
    assert selectors('sum(rate(linkguard_record_checked_total{system="x"}[5m]))') == \
        {"linkguard_record_checked_total"}
    with pytest.raises(Exception):
        selectors("sum(rate(linkguard_records_checked_total[5m])")


def test_docker_compose_config():
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("`docker compose` (the Compose plugin) is not installed on this machine")
    env = (COMPOSE / ".env.example").read_text()
    filled = "\n".join(line + "x" if line.endswith("=") else line for line in env.splitlines())
    env_file = COMPOSE / ".env.test"
    env_file.write_text(filled)
    try:
        result = subprocess.run([docker, "compose", "--env-file", str(env_file), "-f",
                                 str(COMPOSE / "docker-compose.yml"), "config", "--quiet"],
                                capture_output=True, text=True)
    finally:
        env_file.unlink()
    assert result.returncode == 0, result.stderr
