"""The deployment artefacts carry the same security as the services' defaults (issue #18):

- Kubernetes (each overlay, rendered by kustomize): every workload container with Kafka settings
  logs in with SASL_SSL + SCRAM as a named principal, its password and the CA as files of a
  mounted Secret; every database connection is TLS verify-full with a password file; no Secret
  value is an environment value; a default-deny NetworkPolicy and an allow policy for each
  flow of each workload; the Ingress has TLS.
- Docker Compose: the same settings on the services, credentials as Compose secrets, Kafka
  listening only on SASL_SSL, and make-secrets.sh producing every file compose.yaml mounts.

Each check is also run on a deliberately weakened copy and must fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy.test_deploy_artifacts import (
    COMPOSE_DIR,
    K8S_DIR,
    OVERLAYS,
    ROOT,
    TOOLS,
    kubeconform,
    render,
    run,
    tool,
)

pytestmark = pytest.mark.deploy

Doc = dict[str, Any]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
SERVICES = ("registry", "interventions", "reporting")
YAML_TO_JSON = (
    "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d]))"
)


def render_docs(overlay: Path) -> list[Doc]:
    """kustomize build, parsed with the deploy tools' PyYAML (kubernetes-validate's)."""
    result = run(tool("kustomize"), "build", overlay)
    assert result.returncode == 0, result.stderr
    parsed = run(
        TOOLS / "venv" / "bin" / "python",
        "-c",
        YAML_TO_JSON,
        stdin=result.stdout,
    )
    assert parsed.returncode == 0, parsed.stderr
    docs: list[Doc] = json.loads(parsed.stdout)
    return docs


def pod_spec(doc: Doc) -> Doc:
    if doc["kind"] == "CronJob":
        spec: Doc = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    template: Doc = doc["spec"]["template"]
    return template["spec"]  # type: ignore[no-any-return]


def pod_labels(doc: Doc) -> dict[str, str]:
    template = (
        doc["spec"]["jobTemplate"]["spec"]["template"]
        if doc["kind"] == "CronJob"
        else doc["spec"]["template"]
    )
    return dict(template.get("metadata", {}).get("labels", {}))


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def secret_values(docs: list[Doc]) -> set[str]:
    values: set[str] = set()
    for doc in docs:
        if doc["kind"] == "Secret":
            values.update(str(v) for v in doc.get("stringData", {}).values())
            values.update(str(v) for v in doc.get("data", {}).values())
    return values


def secret_mount_dirs(spec: Doc, container: Doc) -> list[PurePosixPath]:
    """Where the container sees files of Secrets (secret or projected-secret volumes)."""
    secret_volumes = set()
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            secret_volumes.add(volume["name"])
        projected = volume.get("projected", {}).get("sources", [])
        if projected and all("secret" in source for source in projected):
            secret_volumes.add(volume["name"])
    return [
        PurePosixPath(mount["mountPath"])
        for mount in container.get("volumeMounts", [])
        if mount["name"] in secret_volumes
    ]


def resolved_env(container: Doc, docs: list[Doc]) -> dict[str, str | None]:
    """The container's environment as the kubelet makes it: envFrom first, env wins. A value
    taken from a Secret reads as None."""
    config_maps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]])
        if "secretRef" in source:
            env["<secretRef>"] = None
    for var in container.get("env", []):
        env[var["name"]] = var.get("value") if "valueFrom" not in var else None
    return env


def under(path: str | None, dirs: list[PurePosixPath]) -> bool:
    return path is not None and any(PurePosixPath(path).is_relative_to(d) for d in dirs)


def kafka_problems(where: str, env: dict[str, str | None], files: list[PurePosixPath]) -> list[str]:
    problems = []
    protocol = env.get("GAYARI_KAFKA_SECURITY_PROTOCOL")
    if protocol != "SASL_SSL":
        problems.append(f"{where}: GAYARI_KAFKA_SECURITY_PROTOCOL is {protocol!r}, not SASL_SSL")
    if not str(env.get("GAYARI_KAFKA_SASL_MECHANISM", "")).startswith("SCRAM-"):
        problems.append(f"{where}: no SCRAM GAYARI_KAFKA_SASL_MECHANISM")
    if not env.get("GAYARI_KAFKA_SASL_USERNAME"):
        problems.append(f"{where}: no GAYARI_KAFKA_SASL_USERNAME (its principal)")
    if "GAYARI_KAFKA_SASL_PASSWORD" in env:
        problems.append(f"{where}: GAYARI_KAFKA_SASL_PASSWORD in the environment")
    for key in ("GAYARI_KAFKA_SASL_PASSWORD_FILE", "GAYARI_KAFKA_SSL_CAFILE"):
        if not under(env.get(key), files):
            problems.append(f"{where}: {key} not in a mounted Secret")
    return problems


def database_problems(
    where: str, env: dict[str, str | None], files: list[PurePosixPath]
) -> list[str]:
    problems = []
    for service in SERVICES:
        prefix = f"GAYARI_{service.upper()}_DATABASE"
        if f"{prefix}_URL" not in env:
            continue
        url = env[f"{prefix}_URL"]
        if url is None or urlsplit(url).password is not None:
            problems.append(f"{where}: {prefix}_URL from a Secret or with a password")
        if env.get(f"{prefix}_SSLMODE") != "verify-full":
            problems.append(f"{where}: {prefix}_SSLMODE is not verify-full")
        if f"{prefix}_PASSWORD" in env:
            problems.append(f"{where}: {prefix}_PASSWORD in the environment")
        for key in (f"{prefix}_PASSWORD_FILE", f"{prefix}_SSLROOTCERT"):
            if not under(env.get(key), files):
                problems.append(f"{where}: {key} not in a mounted Secret")
    return problems


def k8s_credential_problems(docs: list[Doc]) -> list[str]:
    """What is wrong with the Kafka and database settings of every workload container."""
    problems: list[str] = []
    secrets = secret_values(docs)
    checked = 0
    for doc in workloads(docs):
        spec = pod_spec(doc)
        for container in spec["containers"] + spec.get("initContainers", []):
            where = f"{doc['kind']} {doc['metadata']['name']} / {container['name']}"
            env = resolved_env(container, docs)
            files = secret_mount_dirs(spec, container)
            for var in container.get("env", []):
                if "secretKeyRef" in var.get("valueFrom", {}):
                    problems.append(f"{where}: {var['name']} is a Secret in the environment")
                if var.get("value") in secrets:
                    problems.append(f"{where}: {var['name']} holds a Secret's value")
            if "<secretRef>" in env:
                problems.append(f"{where}: a whole Secret in the environment (envFrom)")
            if any(key.startswith("GAYARI_KAFKA_") for key in env):
                checked += 1
                problems += kafka_problems(where, env, files)
            problems += database_problems(where, env, files)
    if checked == 0:
        problems.append("no workload with Kafka settings at all")
    return problems


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        op = expr["operator"]
        if (
            (op == "In" and value not in expr["values"])
            or (op == "NotIn" and value in expr["values"])
            or (op == "Exists" and value is None)
            or (op == "DoesNotExist" and value is not None)
        ):
            return False
    return True


def ports(rule: Doc) -> set[int | str]:
    return {p.get("port") for p in rule.get("ports", [])}


def network_policy_problems(docs: list[Doc]) -> list[str]:
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    problems: list[str] = []
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    if not deny:
        problems.append("no default-deny NetworkPolicy (all pods, Ingress and Egress, no rule)")
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", [{}]):
                # A peer without a namespace (or address) selects pods of this namespace: the
                # services never need to reach one another.
                if "namespaceSelector" not in peer and "ipBlock" not in peer:
                    problems.append(f"{policy['metadata']['name']}: ingress from this namespace")

    def allowed(labels: dict[str, str], direction: str, port: int | str) -> bool:
        return any(
            selects(p["spec"]["podSelector"], labels)
            and any(port in ports(rule) for rule in p["spec"].get(direction, []))
            for p in policies
        )

    for doc in workloads(docs):
        name, labels = doc["metadata"]["name"], pod_labels(doc)
        if not allowed(labels, "egress", 53):
            problems.append(f"{name}: no DNS egress")
        if not allowed(labels, "egress", 9092):
            problems.append(f"{name}: no allow policy for Kafka (egress 9092)")
        if doc["kind"] != "Deployment":
            continue
        if not allowed(labels, "egress", 5432):
            problems.append(f"{name}: no allow policy for PostgreSQL (egress 5432)")
        if not allowed(labels, "ingress", "http"):
            problems.append(f"{name}: no allow policy for its HTTP port (metrics, API)")
    return problems


def ingress_problems(docs: list[Doc]) -> list[str]:
    ingresses = [d for d in docs if d["kind"] == "Ingress"]
    if not ingresses:
        return ["no Ingress"]
    problems: list[str] = []
    backends: set[str] = set()
    for ingress in ingresses:
        name = ingress["metadata"]["name"]
        tls = ingress["spec"].get("tls", [])
        tls_hosts = {host for entry in tls if entry.get("secretName") for host in entry["hosts"]}
        for rule in ingress["spec"].get("rules", []):
            if rule.get("host") not in tls_hosts:
                problems.append(f"Ingress {name}: host {rule.get('host')} without TLS")
            backends.update(path["backend"]["service"]["name"] for path in rule["http"]["paths"])
    missing = {f"gayari-{s}" for s in SERVICES} - backends
    if missing:
        problems.append(f"no Ingress route to {sorted(missing)}")
    return problems


# --- Kubernetes -----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay_docs(request: pytest.FixtureRequest) -> list[Doc]:
    return render_docs(K8S_DIR / "overlays" / request.param)


def test_every_kafka_client_logs_in_with_sasl_ssl_and_files(overlay_docs: list[Doc]) -> None:
    assert k8s_credential_problems(overlay_docs) == []
    # Every workload is a Kafka client (the topics Job too), each as its own principal.
    users = {
        container["name"]: resolved_env(container, overlay_docs)["GAYARI_KAFKA_SASL_USERNAME"]
        for doc in workloads(overlay_docs)
        for container in pod_spec(doc)["containers"]
    }
    assert users["topics"] == "provisioner"
    for service in SERVICES:
        assert users[service] == f"service-{service}"


def test_network_policies_deny_by_default_and_allow_each_flow(overlay_docs: list[Doc]) -> None:
    assert network_policy_problems(overlay_docs) == []


def test_the_ingress_has_tls_for_every_host(overlay_docs: list[Doc]) -> None:
    assert ingress_problems(overlay_docs) == []


def _overlay_copy(tmp_path: Path, overlay: str, patch: str) -> Path:
    shutil.copytree(K8S_DIR, tmp_path / "k8s")
    kustomization = tmp_path / "k8s" / "overlays" / overlay / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + patch)
    return kustomization.parent


def test_a_deployment_on_plaintext_kafka_is_refused(tmp_path: Path) -> None:
    # The reporting Deployment overrides the ConfigMap's SASL_SSL, and the registry takes its
    # database password from the environment.
    overlay = _overlay_copy(
        tmp_path,
        "national",
        """  - target: {kind: Deployment, name: gayari-reporting}
    patch: |-
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value: {name: GAYARI_KAFKA_SECURITY_PROTOCOL, value: PLAINTEXT}
  - target: {kind: Deployment, name: gayari-registry}
    patch: |-
      - op: add
        path: /spec/template/spec/containers/0/env/-
        value:
          name: GAYARI_REGISTRY_DATABASE_PASSWORD
          valueFrom: {secretKeyRef: {name: gayari-db-registry, key: password}}
""",
    )
    problems = k8s_credential_problems(render_docs(overlay))
    assert any("gayari-reporting" in p and "'PLAINTEXT', not SASL_SSL" in p for p in problems), (
        problems
    )
    assert any("gayari-registry" in p and "Secret in the environment" in p for p in problems)
    assert not any("gayari-interventions " in p for p in problems), problems


def test_plaintext_in_the_config_map_fails_every_workload(overlay_docs: list[Doc]) -> None:
    weakened = json.loads(json.dumps(overlay_docs))
    for doc in weakened:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "gayari-config":
            doc["data"]["GAYARI_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
            del doc["data"]["GAYARI_KAFKA_SSL_CAFILE"]
    problems = k8s_credential_problems(weakened)
    for doc in workloads(weakened):
        assert any(doc["metadata"]["name"] in p and "PLAINTEXT" in p for p in problems)
        assert any(doc["metadata"]["name"] in p and "CAFILE" in p for p in problems)


def test_weakened_network_policies_and_ingress_are_refused(overlay_docs: list[Doc]) -> None:
    weakened = json.loads(json.dumps(overlay_docs))
    weakened = [d for d in weakened if d["metadata"]["name"] != "gayari-default-deny"]
    for doc in weakened:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "gayari-reporting":
            del doc["spec"]["template"]["metadata"]["labels"]["gayari/kafka-client"]
        if doc["metadata"]["name"] == "gayari-allow-metrics-scrape":
            doc["spec"]["ingress"][0]["from"].append({"podSelector": {}})
        if doc["kind"] == "Ingress":
            doc["spec"]["tls"] = []
    problems = network_policy_problems(weakened)
    assert any("default-deny" in p for p in problems), problems
    assert "gayari-reporting: no allow policy for Kafka (egress 9092)" in problems
    assert "gayari-allow-metrics-scrape: ingress from this namespace" in problems
    assert any("without TLS" in p for p in ingress_problems(weakened))


def test_kubeconform_validates_network_policies_and_ingress() -> None:
    """The schemas cover the new kinds: a wrong field in each is an error."""
    manifests = render(K8S_DIR / "overlays" / "lamandau")
    for broken in (
        manifests.replace("policyTypes:", "policyTypez:", 1),
        manifests.replace("secretName: gayari-lamandau-tls", "secretNam: gayari-lamandau-tls"),
    ):
        assert broken != manifests
        result = kubeconform(broken)
        assert result.returncode != 0, result.stdout
        assert "Invalid: 1," in result.stdout


# --- Docker Compose -------------------------------------------------------------------------


def compose_json(env: dict[str, str] | None = None) -> Doc:
    result = subprocess.run(
        [str(tool("docker-compose")), "-f", str(COMPOSE_DIR / "compose.yaml"),
         "--profile", "observability", "config", "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config: Doc = json.loads(result.stdout)
    return config


def mounted_secrets(service: Doc) -> dict[str, str]:
    """Container path -> secret name."""
    mounted = {}
    for entry in service.get("secrets", []):
        target = entry.get("target") or entry["source"]
        path = target if target.startswith("/") else f"/run/secrets/{target}"
        mounted[path] = entry["source"]
    return mounted


def compose_service_problems(name: str, service: Doc) -> list[str]:
    env = service.get("environment") or {}
    secrets = mounted_secrets(service)
    files = [PurePosixPath(path) for path in secrets]
    problems = [
        f"{name}: {key} holds a secret in the environment"
        for key, value in env.items()
        if re.search(r"(PASSWORD|SECRET)$", key) and value
    ]
    if "GAYARI_KAFKA_SECURITY_PROTOCOL" in env:
        problems += kafka_problems(name, env, files)
    return problems + database_problems(name, env, files)


def compose_problems(config: Doc) -> list[str]:
    problems: list[str] = []
    for name, service in config["services"].items():
        problems += compose_service_problems(name, service)
    kafka_clients = [
        name
        for name, service in config["services"].items()
        if "GAYARI_KAFKA_SECURITY_PROTOCOL" in (service.get("environment") or {})
    ]
    if not kafka_clients:
        problems.append("no service with Kafka settings")
    return problems


def test_compose_services_log_in_as_their_principals_over_tls() -> None:
    config = compose_json()
    assert compose_problems(config) == []
    services = config["services"]
    for name in SERVICES:
        assert services[name]["environment"]["GAYARI_KAFKA_SASL_USERNAME"] == f"service-{name}"
        assert services[name]["depends_on"]["kafka-init"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["topics"]["environment"]["GAYARI_KAFKA_SASL_USERNAME"] == "provisioner"

    weakened = json.loads(json.dumps(config))
    weakened["services"]["reporting"]["environment"]["GAYARI_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
    weakened["services"]["registry"]["environment"]["GAYARI_REGISTRY_DATABASE_SSLMODE"] = "require"
    weakened["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] = "admin"
    problems = compose_problems(weakened)
    assert "reporting: GAYARI_KAFKA_SECURITY_PROTOCOL is 'PLAINTEXT', not SASL_SSL" in problems
    assert "registry: GAYARI_REGISTRY_DATABASE_SSLMODE is not verify-full" in problems
    assert "grafana: GF_SECURITY_ADMIN_PASSWORD holds a secret in the environment" in problems


def _properties(script: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in script.read_text().splitlines()
        if re.match(r"^[a-z][a-z0-9.-]+=", line)
    )


def test_compose_kafka_listens_only_on_sasl_ssl_with_acls() -> None:
    props = _properties(COMPOSE_DIR / "kafka" / "start.sh")
    protocols = dict(pair.split(":") for pair in props["listener.security.protocol.map"].split(","))
    listeners = [entry.split("://")[0] for entry in props["listeners"].split(",")]
    assert set(listeners) == set(protocols)
    assert set(protocols.values()) == {"SASL_SSL"}
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["ssl.endpoint.identification.algorithm"] == "https"


def _secret_files(tmp: Path) -> Iterator[Path]:
    config = compose_json({"GAYARI_COMPOSE_SECRETS_DIR": str(tmp)})
    for secret in config["secrets"].values():
        yield Path(secret["file"])


def test_make_secrets_makes_what_compose_mounts(tmp_path: Path) -> None:
    out = tmp_path / "secrets"
    script = COMPOSE_DIR / "make-secrets.sh"
    env = {**os.environ, "GAYARI_COMPOSE_SECRETS_DIR": str(out)}
    first = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env,
                           timeout=120, check=False)  # fmt: skip
    assert first.returncode == 0, first.stderr
    files = list(_secret_files(out))
    assert files and all(f.is_relative_to(out) for f in files)
    missing = [f for f in files if not f.is_file() or f.stat().st_size == 0]
    assert missing == []
    assert (out.stat().st_mode & 0o777) == 0o700
    assert ((out / "ca.key").stat().st_mode & 0o777) == 0o600
    for principal in ("admin", "provisioner", "service-registry", "agency-distakan"):
        assert (out / "kafka" / f"{principal}.password").is_file()
    for server in ("kafka", "postgres"):
        cert = out / server / "server.crt"
        verify = run("openssl", "verify", "-CAfile", out / "ca.pem", cert)
        assert verify.returncode == 0, verify.stderr
        san = run("openssl", "x509", "-in", cert, "-noout", "-ext", "subjectAltName")
        assert f"DNS:{server}" in san.stdout and "IP Address:127.0.0.1" in san.stdout
    keystore = (out / "kafka" / "keystore.pem").read_text()
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as Kafka wants
    assert "BEGIN CERTIFICATE" in keystore

    # Again: passwords are kept, nothing is made.
    password = (out / "kafka" / "service-reporting.password").read_text()
    again = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env,
                           timeout=120, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "made" not in again.stdout
    assert (out / "kafka" / "service-reporting.password").read_text() == password
