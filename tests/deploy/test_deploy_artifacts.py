"""The deployment artefacts, checked by real validators (`make deploy-check` installs them):

- deploy/compose/compose.yaml: the Docker Compose v2 binary's `config --quiet` (with and
  without the `observability` profile);
- Dockerfile (one for the three services, SERVICE as a build argument): hadolint;
- deploy/k8s overlays: `kustomize build`, validated by kubeconform (strict, offline schemas
  made from the kubernetes-validate package) and by kubernetes-validate itself.

Each check is also run on a deliberately broken copy, to show that it can fail. A missing tool
fails the test (never a skip).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("GAYARI_DEPLOY_TOOLS_DIR", ROOT / ".cache" / "tools" / "deploy"))
COMPOSE_DIR = ROOT / "deploy" / "compose"
K8S_DIR = ROOT / "deploy" / "k8s"
SERVICES = ("registry", "interventions", "reporting")
OVERLAYS = ("lamandau", "national")
METRICS = (
    "gayari_http_request_duration_seconds",
    "gayari_events_published_total",
    "gayari_events_consumed_total",
    "gayari_consumer_lag",
    "gayari_outbox_pending",
    "gayari_dead_letters_total",
)


def tool(name: str) -> Path:
    path = TOOLS / "bin" / name
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"{name} is not installed at {path}: run `make deploy-check`, which installs the "
            "deploy tools (deploy/tools/install.sh) and runs these tests",
            pytrace=False,
        )
    return path


def run(*args: str | Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )


def kubernetes_version() -> str:
    schemas = sorted((TOOLS / "schemas").glob("v*-standalone-strict"))
    if not schemas:
        pytest.fail(f"no Kubernetes schemas in {TOOLS / 'schemas'}: run `make deploy-check`")
    return schemas[-1].name.removeprefix("v").removesuffix("-standalone-strict")


def kubeconform(manifests: str) -> subprocess.CompletedProcess[str]:
    location = str(TOOLS / "schemas") + (
        "/{{.NormalizedKubernetesVersion}}-standalone{{.StrictSuffix}}"
        "/{{.ResourceKind}}{{.KindSuffix}}.json"
    )
    return run(
        tool("kubeconform"),
        "-strict",
        "-summary",
        "-kubernetes-version",
        kubernetes_version(),
        "-schema-location",
        location,
        "-",
        stdin=manifests,
    )


def render(overlay: Path) -> str:
    result = run(tool("kustomize"), "build", overlay)
    assert result.returncode == 0, result.stderr
    return result.stdout


def compose_config(compose_file: Path, *profiles: str) -> subprocess.CompletedProcess[str]:
    profile_args = [arg for p in profiles for arg in ("--profile", p)]
    return run(tool("docker-compose"), "-f", compose_file, *profile_args, "config", "--quiet")


def compose_services() -> dict[str, Any]:
    """The services of compose.yaml as Compose resolves them (anchors and defaults applied)."""
    result = run(
        tool("docker-compose"), "-f", COMPOSE_DIR / "compose.yaml", "config", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    return services


# --- Docker Compose -------------------------------------------------------------------------


@pytest.mark.parametrize("profiles", [(), ("observability",)], ids=["default", "observability"])
def test_compose_file_is_valid(profiles: tuple[str, ...]) -> None:
    result = compose_config(COMPOSE_DIR / "compose.yaml", *profiles)
    assert result.returncode == 0, result.stderr


def test_compose_config_rejects_a_broken_file(tmp_path: Path) -> None:
    shutil.copytree(COMPOSE_DIR, tmp_path / "compose")
    broken = tmp_path / "compose" / "compose.yaml"
    text = broken.read_text()
    # A dependency on a service that does not exist, and a key Compose does not know.
    text = text.replace(
        "    topics: {condition: service_completed_successfully}",
        "    topicz: {condition: service_completed_successfully}",
    )
    assert "topicz" in text
    broken.write_text(text)
    result = compose_config(broken)
    assert result.returncode != 0
    assert "topicz" in result.stderr

    broken.write_text(text.replace("    read_only: true\n", "    read_onyl: true\n", 1))
    assert compose_config(broken).returncode != 0


def test_compose_services_wait_for_healthy_infrastructure() -> None:
    services = compose_services()
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["kafka"]["condition"] == "service_healthy"
        assert depends["topics"]["condition"] == "service_completed_successfully"
        env = services[name]["environment"]
        assert env["GAYARI_HTTP_HOST"] == "0.0.0.0"
        assert env["GAYARI_API_KEYS_FILE"].startswith("/var/lib/gayari/auth/")
    assert services["topics"]["command"] == ["python", "-m", "gayari_shared.kafka.topics"]
    assert "prometheus" not in services  # only with --profile observability


def test_grafana_dashboard_reads_the_documented_metrics() -> None:
    dashboard = json.loads((COMPOSE_DIR / "grafana" / "dashboards" / "gayari.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    readme = (ROOT / "deploy" / "README.md").read_text()
    for metric in METRICS:
        assert metric in exprs, metric
        assert f"`{metric}`" in readme, metric


# --- Dockerfiles ----------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    dockerfile = ROOT / "Dockerfile"
    result = run(tool("hadolint"), "--no-color", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert '--package "gayari-${SERVICE}" --no-default-groups --no-dev' in text
    assert "COPY services/${SERVICE} services/${SERVICE}" in text
    assert "USER 10001" in text
    assert "/health/live" in text
    assert not list((ROOT / "services").glob("*/Dockerfile"))  # no copy per service


def test_compose_builds_each_service_with_its_name_and_port() -> None:
    services = compose_services()
    for name in SERVICES:
        build = services[name]["build"]
        assert Path(build["context"]) == ROOT
        assert build["dockerfile"] == "Dockerfile"
        assert build["args"]["SERVICE"] == name
        # The image's default port is the one the service listens on without configuration.
        port = services[name]["environment"][f"GAYARI_{name.upper()}_HTTP_PORT"]
        assert build["args"]["HTTP_PORT"] == str(port), name
        settings = ROOT / "services" / name / "src" / f"gayari_{name}" / "settings.py"
        assert f"    http_port: int = {port}\n" in settings.read_text(), name


def test_hadolint_rejects_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN sudo pip install uv\nCMD python app.py\n")
    result = run(tool("hadolint"), "--no-color", bad)
    assert result.returncode != 0
    assert "DL3004" in result.stdout  # sudo


# --- Kubernetes -----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates(overlay: str) -> None:
    manifests = render(K8S_DIR / "overlays" / overlay)
    result = kubeconform(manifests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Valid: [1-9]\d*, Invalid: 0, Errors: 0, Skipped: 0", result.stdout)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_kubernetes_validate(overlay: str, tmp_path: Path) -> None:
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(render(K8S_DIR / "overlays" / overlay))
    result = run(
        tool("kubernetes-validate"), "--strict", "-k", kubernetes_version(), "--quiet", rendered
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubeconform_rejects_an_invalid_manifest() -> None:
    manifests = render(K8S_DIR / "overlays" / "lamandau")
    broken = manifests.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: yes-please")
    broken = broken.replace("timeoutSeconds: 3", "timeoutSecondz: 3", 1)
    assert broken != manifests
    result = kubeconform(broken)
    assert result.returncode != 0
    assert "Invalid: 0" not in result.stdout


def test_kustomize_rejects_a_broken_overlay(tmp_path: Path) -> None:
    shutil.copytree(K8S_DIR, tmp_path / "k8s")
    kustomization = tmp_path / "k8s" / "overlays" / "national" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("../../base", "../../nowhere"))
    result = run(tool("kustomize"), "build", kustomization.parent)
    assert result.returncode != 0


def _documents(manifests: str) -> list[str]:
    return [doc for doc in re.split(r"^---$", manifests, flags=re.MULTILINE) if doc.strip()]


def _field(doc: str, name: str) -> str:
    match = re.search(rf"^\s*{name}: \"?([^\"\n]+)\"?$", doc, flags=re.MULTILINE)
    assert match, name
    return match.group(1)


@pytest.mark.parametrize(
    ("overlay", "partitions", "replication"), [("lamandau", 6, 1), ("national", 48, 3)]
)
def test_reporting_replicas_never_exceed_partitions(
    overlay: str, partitions: int, replication: int
) -> None:
    docs = _documents(render(K8S_DIR / "overlays" / overlay))
    config = next(d for d in docs if "kind: ConfigMap" in d and "name: gayari-config" in d)
    assert int(_field(config, "GAYARI_KAFKA_TOPIC_PARTITIONS")) == partitions
    assert int(_field(config, "GAYARI_KAFKA_REPLICATION_FACTOR")) == replication
    hpas = {
        _field(d, "name"): int(_field(d, "maxReplicas"))
        for d in docs
        if "kind: HorizontalPodAutoscaler" in d
    }
    assert set(hpas) == {"gayari-interventions", "gayari-reporting"}
    assert hpas["gayari-reporting"] <= partitions
    assert hpas["gayari-interventions"] <= partitions


@pytest.mark.parametrize(("overlay", "separate"), [("lamandau", False), ("national", True)])
def test_every_writer_has_its_relay_in_exactly_one_place(overlay: str, separate: bool) -> None:
    """In its API pods (lamandau), or in a relay Deployment of its own with the API pods set to
    leave publishing to it (national): never both, never neither (events would stay in the
    outbox)."""
    docs = _documents(render(K8S_DIR / "overlays" / overlay))
    deployments = [d for d in docs if "kind: Deployment" in d]
    for service in ("registry", "interventions"):
        api = next(d for d in deployments if re.search(rf"name: gayari-{service}$", d, re.M))
        relays = [d for d in deployments if f"name: gayari-{service}-relay" in d]
        set_apart = re.search(
            rf"name: GAYARI_{service.upper()}_OUTBOX_RELAY\n\s+value: separate", api
        )
        assert bool(set_apart) == separate
        assert len(relays) == (1 if separate else 0)
        if separate:
            assert f"- gayari-{service}-relay" in relays[0]
            # Its service's database and Kafka credentials (as files, see test_deploy_security).
            assert f"name: gayari-db-{service}" in relays[0]
            assert f"name: gayari-kafka-{service}" in relays[0]


def test_compose_services_start_after_their_schema_migrations() -> None:
    """Each service waits for its one-shot migrate service (`gayari-<service>-migrate up`, its
    own image, its database role and TLS) to succeed."""
    services = compose_services()
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends[f"{name}-migrate"]["condition"] == "service_completed_successfully"
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == [f"gayari-{name}-migrate", "up"]
        assert migrate["image"] == services[name]["image"]
        assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
        database = {k: v for k, v in services[name]["environment"].items() if "_DATABASE_" in k}
        assert database and {k: migrate["environment"][k] for k in database} == database


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_migrates_its_schema_before_it_starts(overlay: str) -> None:
    """Every Deployment of a service or a relay runs `gayari-<service>-migrate up` from its own
    image as an init container: the service's container starts only once it succeeded, and
    no startup probe waits on a migration."""
    from tests.deploy.test_deploy_security import pod_spec, render_docs  # noqa: PLC0415

    deployments = [
        d for d in render_docs(K8S_DIR / "overlays" / overlay) if d["kind"] == "Deployment"
    ]
    assert deployments
    for doc in deployments:
        service = doc["metadata"]["name"].removeprefix("gayari-").removesuffix("-relay")
        spec = pod_spec(doc)
        (migrate,) = spec.get("initContainers", [None])
        assert migrate is not None, doc["metadata"]["name"]
        assert migrate["command"] == [f"gayari-{service}-migrate", "up"]
        assert migrate["image"] == spec["containers"][0]["image"]
        assert "startupProbe" not in migrate
