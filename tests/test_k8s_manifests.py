"""Static checks of the Kubernetes manifests in deploy/k8s and the Dockerfile.

Offline: the manifests are only parsed with PyYAML, nothing talks to a cluster.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S_DIR = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "Dockerfile"

NAMESPACE = "ipss"
IMAGE = "ipss:latest"
APP_UID = 10001

# service name -> (gRPC port, python module)
SERVICES: dict[str, tuple[int, str]] = {
    "registry": (50051, "services.registry"),
    "complaints": (50052, "services.complaints"),
    "inspections": (50053, "services.inspections"),
}
WORKER = "worker"
WORKER_MODULE = "workflows.worker"
CONSOLE = "console"
CONSOLE_PORT = 8080
# The association linkage endpoint: mutual TLS on one port, health in plaintext on the other.
LINKAGE, LINKAGE_PORT, LINKAGE_HEALTH_PORT = "linkage", 50054, 50055
LINKAGE_TLS_SECRET, LINKAGE_TLS_DIR = "ipss-linkage-tls", "/etc/ipss/linkage-tls"
DEPLOYMENTS = [*SERVICES, WORKER, CONSOLE, LINKAGE]
REPLICAS = {"registry": 2, "complaints": 2, "inspections": 2, WORKER: 1, CONSOLE: 2, LINKAGE: 2}

DB_SECRET = "ipss-database"
AUTH_SECRET = "ipss-auth"
CONFIGMAP = "ipss-config"


def db_env_name(service: str) -> str:
    return f"IPSS_{service.upper()}_DATABASE_URL"


ALL_DB_ENV_NAMES = {db_env_name(s) for s in SERVICES}

CONFIG_KEYS = {
    "IPSS_TEMPORAL_ADDRESS",
    "IPSS_TEMPORAL_NAMESPACE",
    "IPSS_REGISTRY_ADDR",
    "IPSS_COMPLAINTS_ADDR",
    "IPSS_INSPECTIONS_ADDR",
    "IPSS_LOG_LEVEL",
}

# Env var / ConfigMap key names that must never carry a literal value.
SENSITIVE_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|DATABASE_URL|DSN|API_KEY|PRIVATE", re.I)


# --------------------------------------------------------------------------- #
# loading helpers
# --------------------------------------------------------------------------- #


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.iterdir() if p.suffix in {".yaml", ".yml"})


def load_docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def kustomization() -> dict[str, Any]:
    (doc,) = load_docs(K8S_DIR / "kustomization.yaml")
    return doc


def all_objects() -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    for path in manifest_files():
        if path.name == "kustomization.yaml":
            continue
        objs.extend(load_docs(path))
    return objs


def get(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in all_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(deploy: dict[str, Any]) -> dict[str, Any]:
    return deploy["spec"]["template"]["spec"]


def main_container(deploy: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(deploy)["containers"]
    assert len(containers) == 1, f"{deploy['metadata']['name']}: expected one container"
    return containers[0]


def all_containers(deploy: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(deploy)
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_map(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    env = container.get("env", [])
    names = [e["name"] for e in env]
    assert len(names) == len(set(names)), f"{container['name']}: duplicate env vars {names}"
    return {e["name"]: e for e in env}


def visible_env_names(container: dict[str, Any]) -> set[str]:
    """Env var names a container sees: explicit env plus envFrom ConfigMaps."""
    names = set(env_map(container))
    for source in container.get("envFrom", []):
        assert "secretRef" not in source, (
            f"{container['name']}: envFrom secretRef would expose every key of the secret"
        )
        cm_name = source["configMapRef"]["name"]
        prefix = source.get("prefix", "")
        names |= {prefix + k for k in get("ConfigMap", cm_name)["data"]}
    return names


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


# --------------------------------------------------------------------------- #
# files & kustomization
# --------------------------------------------------------------------------- #


def test_expected_files_exist() -> None:
    for name in [
        "namespace.yaml",
        "config.yaml",
        *(f"{s}.yaml" for s in SERVICES),
        "worker.yaml",
        "console.yaml",
        "linkage.yaml",
        "kustomization.yaml",
        "README.md",
    ]:
        assert (K8S_DIR / name).is_file(), name


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_every_manifest_parses_into_k8s_objects(path: Path) -> None:
    docs = load_docs(path)
    assert docs, f"{path.name} is empty"
    for doc in docs:
        assert isinstance(doc, dict)
        assert doc.get("apiVersion") and doc.get("kind"), path.name
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], path.name


def test_kustomization_lists_exactly_the_manifests() -> None:
    kust = kustomization()
    resources = kust["resources"]
    assert len(resources) == len(set(resources)), "duplicate resources in kustomization"
    on_disk = {p.name for p in manifest_files()} - {"kustomization.yaml"}
    assert set(resources) == on_disk
    assert resources[0] == "namespace.yaml"
    assert kust["namespace"] == NAMESPACE


def test_namespace() -> None:
    ns = get("Namespace", NAMESPACE)
    assert ns["apiVersion"] == "v1"
    for obj in all_objects():
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace", NAMESPACE) == NAMESPACE


def test_all_objects_have_recommended_labels() -> None:
    for obj in all_objects():
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "ipss", obj["metadata"]["name"]
        if obj["kind"] != "Namespace":
            assert labels.get("app.kubernetes.io/name"), obj["metadata"]["name"]


def test_only_expected_workloads() -> None:
    deployments = sorted(o["metadata"]["name"] for o in all_objects() if o["kind"] == "Deployment")
    services = sorted(o["metadata"]["name"] for o in all_objects() if o["kind"] == "Service")
    assert deployments == sorted(DEPLOYMENTS)
    assert services == sorted([*SERVICES, CONSOLE, LINKAGE])  # the worker has no Service


# --------------------------------------------------------------------------- #
# deployments, services, probes
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_deployment_basics(name: str) -> None:
    deploy = get("Deployment", name)
    assert deploy["apiVersion"] == "apps/v1"
    assert deploy["spec"]["replicas"] == REPLICAS[name]
    selector = deploy["spec"]["selector"]["matchLabels"]
    template_labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert selector["app.kubernetes.io/name"] == name
    assert selector.items() <= template_labels.items(), "selector does not match pod labels"
    assert deploy["metadata"]["labels"]["app.kubernetes.io/name"] == name

    module = SERVICES[name][1] if name in SERVICES else {WORKER: WORKER_MODULE, CONSOLE: "console",
                                                          LINKAGE: "services.linkage"}[name]
    assert main_container(deploy)["command"] == ["python", "-m", module]


@pytest.mark.parametrize("name", list(SERVICES))
def test_service_matches_deployment(name: str) -> None:
    port, _ = SERVICES[name]
    deploy = get("Deployment", name)
    svc = get("Service", name)
    container = main_container(deploy)

    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    # Service selector must select exactly this Deployment's pods.
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    template_labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= template_labels.items()
    for other in SERVICES.keys() - {name}:
        other_labels = get("Deployment", other)["spec"]["template"]["metadata"]["labels"]
        assert not svc["spec"]["selector"].items() <= other_labels.items()

    (svc_port,) = svc["spec"]["ports"]
    assert svc_port["port"] == port
    container_ports = [p["containerPort"] for p in container["ports"]]
    assert container_ports == [port]
    assert resolve_target_port(container, svc_port.get("targetPort", svc_port["port"])) == port


@pytest.mark.parametrize("name", list(SERVICES))
def test_grpc_probes_on_service_port(name: str) -> None:
    port, _ = SERVICES[name]
    container = main_container(get("Deployment", name))
    container_port = container["ports"][0]["containerPort"]
    for probe_kind in ("readinessProbe", "livenessProbe"):
        probe = container[probe_kind]
        assert "grpc" in probe, f"{name} {probe_kind} must be a native grpc probe"
        assert probe["grpc"]["port"] == container_port == port
        assert not {"httpGet", "tcpSocket", "exec"} & probe.keys()


@pytest.mark.parametrize("name", list(SERVICES))
def test_bind_address(name: str) -> None:
    env = env_map(main_container(get("Deployment", name)))
    assert env["IPSS_BIND"]["value"] == "0.0.0.0"


@pytest.mark.parametrize("name", list(SERVICES))
def test_pod_disruption_budget(name: str) -> None:
    pdb = get("PodDisruptionBudget", name)
    deploy = get("Deployment", name)
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["selector"]["matchLabels"] == deploy["spec"]["selector"]["matchLabels"]
    min_available = pdb["spec"].get("minAvailable")
    assert min_available is not None and 0 < min_available < deploy["spec"]["replicas"]


# --------------------------------------------------------------------------- #
# migrations
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", list(SERVICES))
def test_migration_init_container(name: str) -> None:
    deploy = get("Deployment", name)
    (init,) = pod_spec(deploy)["initContainers"]
    assert init["command"] == ["ipss", "migrate", name]
    assert "args" not in init
    assert init["image"] == main_container(deploy)["image"]
    # Migrations need the same database as the service itself.
    assert secret_ref(env_map(init)[db_env_name(name)]) == (DB_SECRET, f"{name}-url")


def test_worker_has_no_init_container_or_ports() -> None:
    deploy = get("Deployment", WORKER)
    assert not pod_spec(deploy).get("initContainers")
    assert not main_container(deploy).get("ports")


# --------------------------------------------------------------------------- #
# configuration & secrets
# --------------------------------------------------------------------------- #


def test_configmap_contents() -> None:
    cm = get("ConfigMap", CONFIGMAP)
    data = cm["data"]
    assert CONFIG_KEYS <= data.keys()
    assert all(isinstance(v, str) for v in data.values())
    assert data["IPSS_TEMPORAL_NAMESPACE"] == "ipss"
    assert data["IPSS_LOG_LEVEL"] == "info"
    assert re.fullmatch(r"[a-z0-9.-]+:\d+", data["IPSS_TEMPORAL_ADDRESS"])
    # The ADDR entries point at the Services defined here.
    for name, (port, _) in SERVICES.items():
        assert data[f"IPSS_{name.upper()}_ADDR"] == f"{name}:{port}"
        assert get("Service", name)["spec"]["ports"][0]["port"] == port
    # Nothing sensitive in the ConfigMap (it is loaded with envFrom everywhere).
    assert not [k for k in data if SENSITIVE_NAME.search(k)]


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_every_container_loads_configmap(name: str) -> None:
    for container in all_containers(get("Deployment", name)):
        refs = [s["configMapRef"]["name"] for s in container.get("envFrom", [])]
        assert refs == [CONFIGMAP], container["name"]
        assert CONFIG_KEYS <= visible_env_names(container)


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_each_service_sees_only_its_own_database_url(name: str) -> None:
    for container in all_containers(get("Deployment", name)):
        seen = visible_env_names(container) & ALL_DB_ENV_NAMES
        if name in (WORKER, CONSOLE, LINKAGE):
            assert seen == set(), f"{name} must not get database URLs: {seen}"
            continue
        assert seen == {db_env_name(name)}, f"{name}/{container['name']} sees {seen}"
        assert secret_ref(env_map(container)[db_env_name(name)]) == (DB_SECRET, f"{name}-url")
        # No other key of the database secret may be mounted under any name.
        for entry in env_map(container).values():
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["name"] == DB_SECRET:
                assert ref["key"] == f"{name}-url"


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_token_secret_from_auth_secret(name: str) -> None:
    env = env_map(main_container(get("Deployment", name)))
    assert secret_ref(env["IPSS_TOKEN_SECRET"]) == (AUTH_SECRET, "token-secret")


def test_no_secret_objects_committed() -> None:
    kinds = {o["kind"] for o in all_objects()}
    assert "Secret" not in kinds
    assert "secretGenerator" not in kustomization()


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_sensitive_env_vars_come_from_secrets(name: str) -> None:
    for container in all_containers(get("Deployment", name)):
        for env_name, entry in env_map(container).items():
            if SENSITIVE_NAME.search(env_name):
                secret_ref(entry)  # asserts: no literal value, secretKeyRef present


# URL with user:password@ where the password is not an obvious placeholder.
CREDENTIAL_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@\"']+:(?!\$|<)[^@\s\"']+@", re.I)
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


@pytest.mark.parametrize("path", [*manifest_files(), K8S_DIR / "README.md"], ids=lambda p: p.name)
def test_no_literal_secret_values_in_text(path: Path) -> None:
    # Checks comments too: example commands must only use placeholders.
    text = path.read_text(encoding="utf-8")
    assert not CREDENTIAL_URL.findall(text), f"{path.name} contains credentials in a URL"
    assert not PRIVATE_KEY.search(text)
    assert not re.search(r"token-secret=(?![\"']?\$)", text), f"{path.name}: literal token secret"


def test_credential_detector_works() -> None:
    assert CREDENTIAL_URL.search("postgresql+asyncpg://ipss:hunter2@postgres:5432/ipss_registry")
    assert not CREDENTIAL_URL.search("postgresql+asyncpg://ipss:${PW}@postgres:5432/ipss_registry")
    assert not CREDENTIAL_URL.search("postgresql+asyncpg://ipss:<password>@postgres/ipss")


# --------------------------------------------------------------------------- #
# image, security, resources
# --------------------------------------------------------------------------- #


def test_single_consistent_image() -> None:
    images = {
        c["image"]
        for o in all_objects()
        if o["kind"] == "Deployment"
        for c in all_containers(o)
    }
    assert images == {IMAGE}
    # The kustomize image override refers to the same image name.
    names = {i["name"] for i in kustomization().get("images", [])}
    assert names <= {IMAGE.split(":")[0]}


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_security_context(name: str) -> None:
    spec = pod_spec(get("Deployment", name))
    pod_sc = spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc.get("runAsUser", APP_UID) != 0
    assert spec.get("automountServiceAccountToken") is False
    tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    for container in all_containers(get("Deployment", name)):
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, container["name"]
        assert sc["allowPrivilegeEscalation"] is False, container["name"]
        assert "ALL" in sc["capabilities"]["drop"]
        assert sc.get("runAsNonRoot", True) is True
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts.get("/tmp") in tmp_volumes, f"{container['name']}: /tmp emptyDir missing"


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_resources(name: str) -> None:
    for container in all_containers(get("Deployment", name)):
        res = container["resources"]
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= res[section].keys(), f"{container['name']} {section}"


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
    for name in DEPLOYMENTS:
        assert pod_spec(get("Deployment", name))["securityContext"]["runAsUser"] == APP_UID
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


def test_complaints_replicas_share_the_tracking_key() -> None:
    env = env_map(main_container(get("Deployment", "complaints")))
    assert secret_ref(env["IPSS_COMPLAINTS_TRACKING_KEY"]) == (AUTH_SECRET, "complaints-tracking-key")


@pytest.mark.parametrize("name", ["complaints", WORKER])
def test_operator_calendar_is_mounted_where_the_calendar_looks(name: str) -> None:
    deploy = get("Deployment", name)
    container = main_container(deploy)
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    directory = env_map(container)["IPSS_CALENDAR_DIR"]["value"]
    assert mounts["calendar"]["mountPath"] == directory and mounts["calendar"]["readOnly"]
    volume = next(v for v in pod_spec(deploy)["volumes"] if v["name"] == "calendar")
    assert volume["configMap"] == {"name": "ipss-calendar", "optional": True}


def test_console_serves_http_behind_its_service() -> None:
    deploy = get("Deployment", CONSOLE)
    container = main_container(deploy)
    assert not pod_spec(deploy).get("initContainers")
    assert [p["containerPort"] for p in container["ports"]] == [CONSOLE_PORT]
    assert container["args"] == ["--host", "0.0.0.0", "--port", str(CONSOLE_PORT)]
    for probe_kind in ("readinessProbe", "livenessProbe"):
        assert container[probe_kind]["httpGet"] == {"path": "/healthz", "port": CONSOLE_PORT}
    svc = get("Service", CONSOLE)
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"][0]["port"] == CONSOLE_PORT
    assert "--dev-signin" not in container["args"]


# --------------------------------------------------------------------------- #
# the association linkage endpoint
# --------------------------------------------------------------------------- #


def test_linkage_serves_mutual_tls_behind_its_service_and_is_probed_on_its_health_port() -> None:
    deploy = get("Deployment", LINKAGE)
    container = main_container(deploy)
    assert not pod_spec(deploy).get("initContainers")  # no database of its own
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpcs": LINKAGE_PORT, "health": LINKAGE_HEALTH_PORT}
    for probe_kind in ("readinessProbe", "livenessProbe"):
        assert container[probe_kind]["grpc"] == {"port": LINKAGE_HEALTH_PORT}
    env = env_map(container)
    assert env["IPSS_BIND"]["value"] == "0.0.0.0"
    svc = get("Service", LINKAGE)
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    (svc_port,) = svc["spec"]["ports"]  # the health port is for the kubelet only
    assert svc_port["port"] == LINKAGE_PORT
    assert resolve_target_port(container, svc_port["targetPort"]) == LINKAGE_PORT
    pdb = get("PodDisruptionBudget", LINKAGE)
    assert pdb["spec"]["selector"]["matchLabels"] == deploy["spec"]["selector"]["matchLabels"]


def test_linkage_reads_its_certificates_from_a_secret_mounted_read_only() -> None:
    deploy = get("Deployment", LINKAGE)
    container = main_container(deploy)
    assert env_map(container)["IPSS_LINKAGE_TLS_DIR"]["value"] == LINKAGE_TLS_DIR
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == LINKAGE_TLS_DIR]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod_spec(deploy)["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == LINKAGE_TLS_SECRET
    assert volume["secret"]["defaultMode"] == 0o400


def test_linkage_ingress_passes_tls_through_to_the_endpoint() -> None:
    ingress = get("Ingress", LINKAGE)
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    annotations = ingress["metadata"]["annotations"]
    # Terminating TLS at the ingress would hide the association's certificate from the endpoint.
    assert annotations["nginx.ingress.kubernetes.io/ssl-passthrough"] == "true"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] in ingress["spec"]["tls"][0]["hosts"]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    assert backend["name"] == LINKAGE
    svc_port = get("Service", LINKAGE)["spec"]["ports"][0]
    assert backend["port"] in ({"name": svc_port["name"]}, {"number": svc_port["port"]})
    # Only the linkage is reachable from outside: no other Ingress.
    assert [o["metadata"]["name"] for o in all_objects() if o["kind"] == "Ingress"] == [LINKAGE]
