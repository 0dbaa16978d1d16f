"""The compose files (deploy/compose/compose.yaml: 2 replicas, nginx, PostgreSQL, Redis; and
the root compose.yaml) against the Compose Specification's JSON schema (tests/data, with its
source and licence), since no Docker daemon is here to run `docker compose config`."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.server import PROJECT_ROOT

SCHEMA = json.loads((PROJECT_ROOT / "tests" / "data" / "compose-spec.json").read_text())
GROWN_UP = PROJECT_ROOT / "deploy" / "compose" / "compose.yaml"
NGINX_CONF = PROJECT_ROOT / "deploy" / "compose" / "nginx.conf"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())  # merge keys (<<) resolved
    return data


def errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.mark.parametrize(
    "path", [GROWN_UP, PROJECT_ROOT / "compose.yaml"], ids=["grown-up", "root"]
)
def test_compose_files_match_the_compose_specification(path: Path) -> None:
    assert errors(load(path)) == []


def test_the_schema_catches_a_misspelt_key() -> None:
    """The check above can fail: `replica` for `replicas` is refused."""
    broken = copy.deepcopy(load(GROWN_UP))
    broken["services"]["doable"]["deploy"] = {"replica": 2}
    assert any("replica" in e for e in errors(broken))


def test_the_grown_up_deployment() -> None:
    compose = load(GROWN_UP)
    services = compose["services"]
    assert set(services) == {"migrate", "doable", "nginx", "postgres", "redis"}
    app = services["doable"]
    assert app["deploy"]["replicas"] == 2
    assert app["command"][:3] == ["doable", "serve", "--no-migrate"]
    port = app["command"][app["command"].index("--port") + 1]
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["command"] == ["doable", "migrate"]
    assert "ports" not in app  # replicas are reached through nginx only
    env = app["environment"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["DATABASE_URL"].startswith("postgresql://doable:${POSTGRES_PASSWORD")
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # required, never a default
    # Only nginx may say who the client is.
    nginx = services["nginx"]
    assert env["FORWARDED_ALLOW_IPS"] == nginx["networks"]["backend"]["ipv4_address"]
    assert nginx["ports"] == ["8080:80"]
    conf = NGINX_CONF.read_text()
    assert re.search(rf"server doable:{port}\b", conf)
    assert "proxy_next_upstream error timeout http_502 http_503;" in conf
    assert "non_idempotent" not in conf  # a POST is never replayed by nginx
