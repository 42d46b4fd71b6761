"""Configuration from the environment (IPSS_*), with embedded defaults for one machine."""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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


# ---- keys that sign bearer tokens (suite.auth) ----------------------------------------------------
# Each is a PEM, given in its variable either as the PEM itself (a Secret's key as an environment
# variable) or as the path of a file holding it (a mounted Secret). Without it, in development,
# a key pair is made once under var/keys/ (private half 0600) and kept.

def _pem(variable: str) -> bytes | None:
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    return value.encode() if value.startswith("-----BEGIN") else Path(value).read_bytes()


def _development_pair(name: str) -> tuple[Path, Path]:
    """var/keys/<name>.pem and <name>.pub.pem, made once. Processes started together may race to
    make it: the private half is linked into place only if none is there, the public half written
    from whichever private half won."""
    directory = var_dir() / "keys"
    directory.mkdir(mode=0o700, exist_ok=True)
    private, public = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    if not private.exists():
        draft = directory / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        draft.write_bytes(Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        draft.chmod(0o600)
        try:
            os.link(draft, private)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    if not public.exists():
        key = serialization.load_pem_private_key(private.read_bytes(), password=None)
        draft = directory / f".{name}.pub.{os.getpid()}.{secrets.token_hex(4)}"
        draft.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
        os.replace(draft, public)
    return private, public


def _private_key(variable: str, name: str) -> Ed25519PrivateKey:
    pem = _pem(variable) or _development_pair(name)[0].read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{variable}: an Ed25519 private key is needed")
    return key


def _public_key(variable: str, name: str) -> Ed25519PublicKey:
    pem = _pem(variable) or _development_pair(name)[1].read_bytes()
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{variable}: an Ed25519 public key is needed")
    return key


def machine_key() -> Ed25519PrivateKey:
    """The machine key (IPSS_MACHINE_KEY): the services', the linkage endpoint's and the worker's,
    never the console's. It signs the suite's own calls only (suite.auth)."""
    return _private_key("IPSS_MACHINE_KEY", "machine")


def machine_public_key() -> Ed25519PublicKey:
    """Its public half (IPSS_MACHINE_PUBLIC_KEY), with which the services check the suite's calls."""
    return _public_key("IPSS_MACHINE_PUBLIC_KEY", "machine")


def signin_key() -> Ed25519PrivateKey:
    """The sign-in key (IPSS_SIGNIN_KEY) that signs people's tokens: in development, `ipss token`'s
    and the console's user picker's. Production has none: people sign in with the office's
    OpenID provider (oidc())."""
    return _private_key("IPSS_SIGNIN_KEY", "signin")


def signin_public_key() -> Ed25519PublicKey:
    """The sign-in key's public half (IPSS_SIGNIN_PUBLIC_KEY)."""
    return _public_key("IPSS_SIGNIN_PUBLIC_KEY", "signin")


def signin_public_key_given() -> bool:
    """Whether IPSS_SIGNIN_PUBLIC_KEY is set: under an OpenID provider, the sign-in key is
    trusted only then (suite.auth.people_issuers)."""
    return _pem("IPSS_SIGNIN_PUBLIC_KEY") is not None


def human_token_minutes() -> int:
    """How long a person's token from the sign-in key lives (IPSS_HUMAN_TOKEN_MINUTES, 15)."""
    return int(os.environ.get("IPSS_HUMAN_TOKEN_MINUTES", "15"))


@dataclass(frozen=True)
class OidcSettings:
    """The office's OpenID Connect provider people sign in with in production."""

    issuer: str  # its issuer URL; /.well-known/openid-configuration below it says the rest
    client_id: str  # the console's client
    client_secret: str
    audience: str  # the resource indicator the suite's access tokens are for
    role_claim: str
    region_claim: str
    association_claim: str
    scope: str

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def jwks_uri(self) -> str:
        return str(_discovery(self.discovery_url)["jwks_uri"])

    def endpoint(self, name: str) -> str:
        """authorization_endpoint, token_endpoint, revocation_endpoint, ... from the discovery document."""
        return str(_discovery(self.discovery_url)[name])


@lru_cache(maxsize=4)
def _discovery(url: str) -> dict:
    """The provider's discovery document, read once per process."""
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - an https URL of the configuration
        return json.load(answer)


def oidc() -> OidcSettings | None:
    """IPSS_OIDC_ISSUER set: people sign in with that provider (the console's client id and secret
    IPSS_OIDC_CLIENT_ID, IPSS_OIDC_CLIENT_SECRET; its access tokens for IPSS_OIDC_AUDIENCE; the
    claims naming role, region and association IPSS_OIDC_ROLE_CLAIM, _REGION_CLAIM,
    _ASSOCIATION_CLAIM). Unset: development sign-in."""
    issuer = os.environ.get("IPSS_OIDC_ISSUER", "").strip()
    if not issuer:
        return None
    return OidcSettings(issuer=issuer, client_id=os.environ.get("IPSS_OIDC_CLIENT_ID", ""),
                        client_secret=os.environ.get("IPSS_OIDC_CLIENT_SECRET", ""),
                        audience=os.environ.get("IPSS_OIDC_AUDIENCE", "ipss"),
                        role_claim=os.environ.get("IPSS_OIDC_ROLE_CLAIM", "ipss_role"),
                        region_claim=os.environ.get("IPSS_OIDC_REGION_CLAIM", "ipss_region"),
                        association_claim=os.environ.get("IPSS_OIDC_ASSOCIATION_CLAIM", "ipss_association"),
                        scope=os.environ.get("IPSS_OIDC_SCOPE", "openid"))


def registry_signing_key() -> bytes:
    """The registry's Ed25519 private key (32 raw bytes) that signs the lists it gives partner
    departments (suite.signing): IPSS_REGISTRY_SIGNING_KEY (base64) in production; in development
    made once and kept in var/, as the development token keys are."""
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
