"""docker-compose.yml keeps the production shape the README promises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from event_triggers.config import Settings

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_SERVICES = {
    "postgresql",
    "temporal",
    "temporal-ui",
    "setup",
    "api",
    "worker",
    "prometheus",
    "grafana",
}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(compose["services"])


def readme_production_services() -> set[str]:
    """Service names the README's "Production" section spells in backticks (e.g. `api`)."""
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Production\n(.*?)(?=^## |\Z)", readme, flags=re.MULTILINE | re.DOTALL)
    if section is None:
        return set()
    return set(re.findall(r"`([a-z][a-z0-9-]*)`", section.group(1)))


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in service.get("environment", {}).items()}


def interpolated(value: str) -> str:
    """``value`` as compose would pass it, with a stand-in for each ``${VARIABLE...}``."""
    return re.sub(r"\$\{[^}]*\}", "from-environment", value)


def test_every_service_the_readme_names_exists(services: dict[str, Any]) -> None:
    assert EXPECTED_SERVICES | readme_production_services() <= set(services)


def test_the_readme_names_the_services() -> None:
    assert readme_production_services() >= EXPECTED_SERVICES


def test_the_api_publishes_port_8000(services: dict[str, Any]) -> None:
    published = [str(port).split(":")[-2:] for port in services["api"]["ports"]]
    assert ["8000", "8000"] in published


@pytest.mark.parametrize("name", ["api", "worker", "setup"])
def test_our_processes_run_the_image_against_temporal_and_postgresql(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert "temporal" in service["depends_on"]
    assert service["build"] == "."
    settings = environment(service)
    assert settings["EVENT_TRIGGERS_TEMPORAL_ADDRESS"] == "temporal:7233"
    database = urlsplit(interpolated(settings["EVENT_TRIGGERS_DATABASE_URL"]))
    assert database.scheme == "postgresql+asyncpg"
    assert database.hostname == "postgresql"
    for key in (
        "EVENT_TRIGGERS_SECRET_KEYS",
        "EVENT_TRIGGERS_TOKEN_SIGNING_KEY",
        "EVENT_TRIGGERS_SERVER_KEY",
        "EVENT_TRIGGERS_PUBLIC_BASE_URL",
    ):
        assert ":?" in settings[key], f"{key} must be required: replicas share it"


def test_api_and_worker_wait_for_setup_and_the_database(services: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        depends_on = services[name]["depends_on"]
        assert depends_on["setup"]["condition"] == "service_completed_successfully"
        assert depends_on["postgresql"]["condition"] == "service_healthy"
    assert services["api"]["command"] == ["api"]
    assert services["worker"]["command"] == ["worker"]
    assert "event-triggers setup" in " ".join(services["setup"]["command"])


def test_temporal_persists_in_postgresql_with_its_ui(services: dict[str, Any]) -> None:
    temporal = environment(services["temporal"])
    assert temporal["DB"] == "postgres12"
    assert temporal["POSTGRES_SEEDS"] == "postgresql"
    assert temporal["DEFAULT_NAMESPACE_RETENTION"] == "48h"
    assert environment(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"


def with_defaults(value: str) -> str:
    """``value`` as compose would pass it when no ``${VARIABLE:-default}`` is set."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_the_web_ui_links_and_decodes_through_the_api(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Administration UI links to the Web UI where browsers open it, and the Web UI's codec calls (with
    the session cookie) come from an origin the API allows."""
    web_ui = environment(services["temporal-ui"])
    assert web_ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    for key, value in environment(services["api"]).items():
        monkeypatch.setenv(key, with_defaults(value))
    settings = Settings()  # the environment outranks any .env file
    public_web_ui = with_defaults(web_ui["TEMPORAL_CORS_ORIGINS"])
    assert settings.temporal_ui_url == public_web_ui == "http://localhost:8080"
    assert settings.codec_cors_origins == [public_web_ui]


def test_the_image_builds_from_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["event-triggers"]' in dockerfile
    for package in ("api", "workflows", "activities", "event_triggers"):
        assert (ROOT / package).is_dir()
        assert f"COPY {package} ./{package}" in dockerfile


def test_probes_and_metrics_endpoints(services: dict[str, Any]) -> None:
    """Compose waits on readiness (/ready); Prometheus scrapes the API and the worker port it is given."""
    assert "/ready" in " ".join(services["api"]["healthcheck"]["test"])
    worker_port = environment(services["worker"])["EVENT_TRIGGERS_WORKER_METRICS_PORT"]
    assert environment(services["worker"])["EVENT_TRIGGERS_WORKER_METRICS_HOST"] == "0.0.0.0"
    assert worker_port in [str(port) for port in services["worker"]["expose"]]
    assert "EVENT_TRIGGERS_METRICS_ENABLED" not in environment(services["api"]), "on by default"
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        (name, str(sd["port"]))
        for job in prometheus["scrape_configs"]
        for sd in job["dns_sd_configs"]
        for name in sd["names"]
    }
    assert targets == {("api", "8000"), ("worker", worker_port)}


def test_grafana_is_provisioned_from_the_repository(services: dict[str, Any]) -> None:
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in services["grafana"]["volumes"]}
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboards_dir = mounts["./deploy/grafana/dashboards"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/event-triggers.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] == dashboards_dir
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    assert (ROOT / "deploy/grafana/dashboards/event-triggers.json").is_file()


def test_api_replicas_leave_delivery_to_the_workers(services: dict[str, Any]) -> None:
    assert environment(services["api"])["EVENT_TRIGGERS_EMBEDDED_WORKER"] == "false"
    assert "EVENT_TRIGGERS_EMBEDDED_WORKER" not in environment(services["worker"])
