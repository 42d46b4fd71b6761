"""Configuration from the environment (IPSS_*), with embedded defaults for one machine."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

SERVICES = ("registry", "complaints", "inspections")
# The association linkage endpoint (50054, mutual TLS) keeps no database: it is not in SERVICES.
DEFAULT_PORTS = {"registry": 50051, "complaints": 50052, "inspections": 50053, "linkage": 50054}
REPO_ROOT = Path(__file__).resolve().parent.parent
# Write-ahead logging, synced at checkpoints: the dev server's file survives a crash of the suite
# and takes workflow starts about twice as fast as with its default rollback journal.
TEMPORAL_SQLITE_PRAGMAS = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")


def var_dir() -> Path:
    path = Path(os.environ.get("IPSS_VAR_DIR", REPO_ROOT / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url(service: str) -> str:
    """Each service owns its database; SQLite in var/ unless IPSS_<SERVICE>_DATABASE_URL says otherwise."""
    explicit = os.environ.get(f"IPSS_{service.upper()}_DATABASE_URL")
    return explicit or f"sqlite+aiosqlite:///{var_dir() / f'{service}.db'}"


def listen_port(service: str) -> int:
    return int(os.environ.get(f"IPSS_{service.upper()}_PORT", DEFAULT_PORTS[service]))


def server_processes(service: str) -> int:
    """How many processes serve a service on its one port (the kernel spreads connections over
    them); more than one only for a service whose work is mostly reads, such as the registry."""
    return max(1, int(os.environ.get(f"IPSS_{service.upper()}_PROCESSES", "1")))


def bind_host() -> str:
    return os.environ.get("IPSS_BIND", "127.0.0.1")


def service_address(service: str) -> str:
    """Where other processes reach a service (host:port)."""
    return os.environ.get(f"IPSS_{service.upper()}_ADDR", f"127.0.0.1:{listen_port(service)}")


def token_secret() -> str:
    """The HMAC key that signs bearer tokens. In development it is made once and kept in var/."""
    explicit = os.environ.get("IPSS_TOKEN_SECRET")
    if explicit:
        return explicit
    path = var_dir() / "token-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def registry_signing_key() -> bytes:
    """The registry's Ed25519 private key (32 raw bytes) that signs the lists it gives partner
    departments (suite.signing): IPSS_REGISTRY_SIGNING_KEY (base64) in production; in development
    made once and kept in var/, as the token secret is."""
    return _key_bytes("IPSS_REGISTRY_SIGNING_KEY", "registry-signing-key")


def reporter_key() -> bytes:
    """The AES-256 key reporters' identities are sealed under in the complaints database
    (services.complaints.identities): IPSS_COMPLAINTS_REPORTER_KEY (base64 of 32 bytes, a cluster
    secret the service and its migration share); in development made once and kept in var/."""
    return _key_bytes("IPSS_COMPLAINTS_REPORTER_KEY", "complaints-reporter-key")


def temporal_payload_key() -> bytes:
    """The AES-256 key every Temporal payload of the suite is sealed under (suite.payload_codec):
    IPSS_TEMPORAL_PAYLOAD_KEY (base64 of 32 bytes), the same for every process that talks to
    Temporal and for the codec server the Web UI asks; in development made once and kept in var/."""
    return _key_bytes("IPSS_TEMPORAL_PAYLOAD_KEY", "temporal-payload-key")


def _key_bytes(variable: str, development_file: str) -> bytes:
    """32 random bytes from the environment (base64), or from a file of var/ made once: written
    aside and linked into place, which fails if another process got there first, so processes
    starting together agree on one key and none reads a half-written file."""
    explicit = os.environ.get(variable, "").strip()
    if explicit:
        return base64.b64decode(explicit, validate=True)
    path = var_dir() / development_file
    if not path.exists():
        aside = path.with_name(f".{development_file}.{os.getpid()}")
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(base64.b64encode(secrets.token_bytes(32)).decode())
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    return base64.b64decode(path.read_text().strip(), validate=True)


@dataclass(frozen=True)
class TemporalSettings:
    address: str
    namespace: str
    task_queue: str
    # A frontend that asks for mutual TLS (a cluster's): the directory of a mounted Secret with
    # ca.crt, tls.crt and tls.key, and the name its certificate is for. None: plaintext (the dev
    # server on this machine).
    tls_dir: Path | None = None
    tls_server_name: str = ""


def temporal() -> TemporalSettings:
    tls_dir = os.environ.get("IPSS_TEMPORAL_TLS_DIR", "").strip()
    return TemporalSettings(
        address=os.environ.get("IPSS_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
        namespace=os.environ.get("IPSS_TEMPORAL_NAMESPACE", "default"),
        task_queue=os.environ.get("IPSS_TEMPORAL_TASK_QUEUE", "ipss"),
        tls_dir=Path(tls_dir) if tls_dir else None,
        tls_server_name=os.environ.get("IPSS_TEMPORAL_TLS_SERVER_NAME", ""),
    )


def log_level() -> str:
    return os.environ.get("IPSS_LOG_LEVEL", "info")


def calendar_watch_seconds() -> float:
    """How often the worker reads the holiday schedules again and re-times what they confirm."""
    return float(os.environ.get("IPSS_CALENDAR_WATCH_SECONDS", "10"))


def legal_offset_days() -> int:
    """Days the legal calendar runs behind the wall clock (suite.clock.LegalClock; negative: ahead).
    Zero in production; training environments and benchmarks set it to run procedures on another
    legal day, e.g. one whose deadlines reach into a year without the State Council's schedule."""
    return int(os.environ.get("IPSS_LEGAL_OFFSET_DAYS", "0"))


# Where each process serves its Prometheus metrics (http://<host>:<port>/metrics); the console
# serves its own at /metrics on its port. IPSS_<COMPONENT>_METRICS_PORT, 0 or "off": none.
DEFAULT_METRICS_PORTS = {"registry": 9151, "complaints": 9152, "inspections": 9153, "linkage": 9154, "worker": 9155}


def metrics_port(component: str) -> int | None:
    """The component's metrics port; None when its metrics are off."""
    value = os.environ.get(f"IPSS_{component.upper()}_METRICS_PORT", "").strip().lower()
    if not value:
        return DEFAULT_METRICS_PORTS.get(component)
    return None if value in ("0", "off") else int(value)


def otlp_endpoint() -> str:
    """An OpenTelemetry collector's OTLP/gRPC endpoint (http://collector:4317) the processes send
    their traces to; empty: each writes them to a file of its own (traces())."""
    return os.environ.get("IPSS_OTLP_ENDPOINT", "").strip()


def traces() -> str:
    """Where traces go: "otlp" (IPSS_OTLP_ENDPOINT set), "file" (the embedded default: JSON lines
    under var/traces/) or "off" (IPSS_TRACES=off: no spans at all)."""
    if os.environ.get("IPSS_TRACES", "").strip().lower() == "off":
        return "off"
    return "otlp" if otlp_endpoint() else "file"


def trace_sample_ratio() -> float:
    """The share of new traces kept (IPSS_TRACE_SAMPLE_RATIO, 1 by default); a call whose caller's
    trace was kept is always kept."""
    return min(1.0, max(0.0, float(os.environ.get("IPSS_TRACE_SAMPLE_RATIO", "1"))))


def linkage_health_port() -> int:
    """The linkage endpoint's plaintext health port (gRPC health only): probes cannot present an
    association's certificate."""
    return int(os.environ.get("IPSS_LINKAGE_HEALTH_PORT", "50055"))


def linkage_tls_dir() -> Path | None:
    """Where a production linkage endpoint finds its CA certificate and server pair, mounted from
    a Secret (ca.pem, linkage-server.pem, linkage-server.key); unset, a development CA is made
    under the var directory (ipss certs)."""
    directory = os.environ.get("IPSS_LINKAGE_TLS_DIR")
    return Path(directory) if directory else None


@dataclass(frozen=True)
class LinkageQuota:
    """What one association may ask of the linkage endpoint: calls per second (a token bucket
    holding `burst`) and watches open at once."""

    calls_per_second: float
    burst: int
    watches: int


def linkage_quota() -> LinkageQuota:
    return LinkageQuota(calls_per_second=float(os.environ.get("IPSS_LINKAGE_CALLS_PER_SECOND", "50")),
                        burst=int(os.environ.get("IPSS_LINKAGE_BURST", "100")),
                        watches=int(os.environ.get("IPSS_LINKAGE_WATCHES", "4")))
