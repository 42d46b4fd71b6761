"""`ipss up`: the whole suite on one machine — the Temporal dev server (with its Web UI), the
migrations, the three services, the worker and the web console as separate processes — healthy
or not at all, and stopped together on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from console import settings as console_settings
from contracts import search_attributes
from suite import codec_server, config, migrate, telemetry
from suite.config import TEMPORAL_SQLITE_PRAGMAS
from suite.probes import healthy, http_ready, temporal_ready

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 60


@dataclass
class Child:
    name: str
    argv: list[str]
    address: str  # what to health-check; empty for the worker
    process: subprocess.Popen | None = None


def temporal_ports() -> tuple[int, int]:
    return int(os.environ.get("IPSS_TEMPORAL_PORT", 7233)), int(os.environ.get("IPSS_TEMPORAL_UI_PORT", 8233))


def children() -> list[Child]:
    grpc_port, ui_port = temporal_ports()
    temporal = Child("temporal", [
        str(BIN / "temporal"), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(grpc_port),
        "--ui-port", str(ui_port), "--db-filename", str(config.var_dir() / "temporal.db"),
        "--namespace", config.temporal().namespace, "--log-level", "warn", *TEMPORAL_SQLITE_PRAGMAS,
        "--ui-codec-endpoint", codec_server.url(), *search_attributes.dev_server_flags()], f"127.0.0.1:{grpc_port}")
    services = [Child(name, [sys.executable, "-m", f"services.{name}"], config.service_address(name))
                for name in config.SERVICES]
    # The association linkage endpoint is checked on its health-only port: it asks for a certificate.
    linkage = Child("linkage", [sys.executable, "-m", "services.linkage"],
                    f"127.0.0.1:{config.linkage_health_port()}")
    worker = Child("worker", [sys.executable, "-m", "workflows.worker"], "")
    # Opens the sealed payloads for the Web UI (suite.codec_server), beside the worker.
    codec = Child("codec", [sys.executable, "-m", "suite.codec_server"], codec_server.url().removeprefix("http://"))
    # The development user picker is on: `ipss up` is the suite on a developer's machine.
    console = Child("console", [sys.executable, "-m", "console", "--dev-signin"], console_settings.address())
    return [temporal, *services, linkage, worker, codec, console]


class Suite:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.children = children()

    def start(self, child: Child, env: dict[str, str]) -> None:
        log = open(self.log_dir / f"{child.name}.log", "ab")
        child.process = subprocess.Popen(child.argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         cwd=config.REPO_ROOT, start_new_session=True)

    async def wait_ready(self, child: Child) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        check = {"temporal": temporal_ready, "console": http_ready, "codec": http_ready}.get(child.name, healthy)
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited with {child.process.returncode}; see "
                                   f"{self.log_dir / (child.name + '.log')}")
            if not child.address or await check(child.address):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{child.name} did not become healthy in {STARTUP_SECONDS} s")

    def stop(self) -> None:
        running = [c for c in reversed(self.children) if c.process and c.process.poll() is None]
        for child in running:
            child.process.send_signal(signal.SIGTERM)
        for child in running:
            try:
                child.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()


def environment() -> dict[str, str]:
    grpc_port, _ = temporal_ports()
    env = dict(os.environ)
    env.setdefault("IPSS_TEMPORAL_ADDRESS", f"127.0.0.1:{grpc_port}")
    # The development keys are made here, once, before the processes that read them start.
    config.machine_public_key()
    config.signin_public_key()
    env["IPSS_VAR_DIR"] = str(config.var_dir())
    # The development keys, made in var/ before any process reads them there.
    config.reporter_key()
    config.temporal_payload_key()
    return env


DEMO_AGENCIES, DEMO_PRACTITIONERS = 2_000, 10_000


def load_demo() -> str:
    """A realistic registry to look around in; loaded once, kept across restarts."""
    from sqlalchemy import create_engine, func, select

    from services.registry import seed, store
    from suite import db

    url = config.database_url("registry")
    engine = create_engine(db.sync_url(url))
    with engine.connect() as connection:
        present = connection.scalar(select(func.count()).select_from(store.Agency.__table__))
    engine.dispose()
    if present:
        return f"demo: the registry already holds {present} agencies"
    counts = seed.seed(url, DEMO_AGENCIES, DEMO_PRACTITIONERS)
    return f"demo: loaded {counts}"


async def demo_certificates() -> str:
    """A client certificate for every demo association, registered: the linkage endpoint's callers."""
    from services.linkage import enrolment

    issued = await enrolment.issue_certificates([], days=365)
    return (f"demo: {len(issued)} association certificates in {config.var_dir() / 'certs' / 'associations'} "
            f"(ipss association watch --association {issued[0][0]})" if issued else "demo: no associations")


def metrics_rows(suite: Suite) -> list[tuple[str, str]]:
    """Where Prometheus scrapes each process (suite.telemetry) and where the traces go."""
    rows = [(f"{c.name} metrics", telemetry.metrics_address(c.name)) for c in suite.children
            if c.name in config.DEFAULT_METRICS_PORTS]
    rows.append(("console metrics", f"http://{console_settings.address()}/metrics"))
    where = config.traces()
    rows.append(("traces", {"otlp": f"OTLP to {config.otlp_endpoint()}", "off": "off (IPSS_TRACES)"}.get(
        where, f"{telemetry.traces_dir()} (JSON lines, a file per process)")))
    return rows


def address_table(suite: Suite) -> str:
    _, ui_port = temporal_ports()
    rows = [("Temporal Web UI", f"http://127.0.0.1:{ui_port}")]
    rows += [(c.name, c.address or "(polls task queue " + config.temporal().task_queue + ")") for c in suite.children
             if c.name not in ("console", "linkage")]
    rows.append(("linkage (mutual TLS)", f"127.0.0.1:{config.listen_port('linkage')} (health "
                                         f"127.0.0.1:{config.linkage_health_port()})"))
    rows.append(("console (web)", f"http://{console_settings.address()}"))
    rows += metrics_rows(suite)
    rows.append(("logs", str(suite.log_dir)))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {where}" for name, where in rows)


async def up(demo: bool = False) -> int:
    env = environment()
    os.environ.update({k: env[k] for k in ("IPSS_TEMPORAL_ADDRESS", "IPSS_VAR_DIR")})
    log_dir = config.var_dir() / "logs"
    log_dir.mkdir(exist_ok=True)
    suite = Suite(log_dir)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        temporal, *services, linkage, worker, codec, console = suite.children
        suite.start(temporal, env)
        for service in config.SERVICES:
            migrate.upgrade(service)
        if demo:
            print(load_demo(), flush=True)
        for child in (*services, linkage, console):
            suite.start(child, env)
        await suite.wait_ready(temporal)
        suite.start(worker, env)
        suite.start(codec, env)
        for child in (*services, linkage, worker, codec, console):
            await suite.wait_ready(child)
        if demo:
            print(await demo_certificates(), flush=True)
        print("ipss is up:\n" + address_table(suite) + "\nCtrl-C stops everything.", flush=True)
        while not stopping.is_set():
            dead = [c for c in suite.children if c.process.poll() is not None]
            if dead:
                print(f"{dead[0].name} exited with {dead[0].process.returncode}; stopping the suite", flush=True)
                return 1
            try:
                await asyncio.wait_for(stopping.wait(), timeout=1)
            except TimeoutError:
                pass
        return 0
    except RuntimeError as error:
        print(f"ipss up failed: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        suite.stop()
        print("ipss stopped.", flush=True)
