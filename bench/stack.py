"""The suite as separate processes on ports of its own, for the fault tests and `bench.faults`: a
Temporal dev server keeping its state in a file (so it can be stopped and started again), the
registry and complaints services, and the worker, each a child process that can be killed
(SIGKILL) or stopped and started again; and a TCP gate in front of the complaints database that
can be shut, so that PostgreSQL is unreachable for the service while it runs on for everyone else."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.processes import free_port, token_keys
from contracts import search_attributes
from suite import config, migrate
from suite.config import TEMPORAL_SQLITE_PRAGMAS
from suite.probes import healthy, temporal_ready

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 60
NAMESPACE = "default"
TASK_QUEUE = "ipss"


class DatabaseGate:
    """A TCP relay to a database that can be shut: shut, it closes every connection it carries
    and refuses new ones (the database is unreachable); opened, it relays again on the same port."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def shut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, server_writer))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        pipes = {asyncio.ensure_future(pipe(client_reader, server_writer)),
                 asyncio.ensure_future(pipe(server_reader, client_writer))}
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)
        self._writers.difference_update((client_writer, server_writer))

    def url(self, database_url: str) -> str:
        """The database's URL through the gate."""
        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)


@dataclass
class Stack:
    """The suite's processes on free ports, their logs and files in `workdir`."""

    workdir: Path
    registry_url: str
    complaints_url: str
    # The complaints database not through its gate (for reading it while the gate is shut).
    direct_complaints_url: str
    temporal_port: int = field(default_factory=free_port)
    ports: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in ("registry", "complaints")})
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(IPSS_VAR_DIR=str(self.workdir), **token_keys(),
                   IPSS_TEMPORAL_ADDRESS=self.temporal_address, IPSS_TEMPORAL_NAMESPACE=NAMESPACE,
                   IPSS_TEMPORAL_TASK_QUEUE=TASK_QUEUE, IPSS_REGISTRY_DATABASE_URL=self.registry_url,
                   IPSS_COMPLAINTS_DATABASE_URL=self.complaints_url, IPSS_CALENDAR_WATCH_SECONDS="3600")
        for service, port in self.ports.items():
            env[f"IPSS_{service.upper()}_PORT"] = str(port)
            env[f"IPSS_{service.upper()}_ADDR"] = self.address(service)
        # Metrics would take the fixed ports a running `ipss up` serves them on.
        for component in (*self.ports, "worker"):
            env[f"IPSS_{component.upper()}_METRICS_PORT"] = "off"
        return env

    def argv(self, name: str) -> list[str]:
        if name == "temporal":
            return [str(BIN / "temporal"), "server", "start-dev", "--ip", "127.0.0.1",
                    "--port", str(self.temporal_port), "--headless", "--db-filename", str(self.workdir / "temporal.db"),
                    "--namespace", NAMESPACE, "--log-level", "error", *TEMPORAL_SQLITE_PRAGMAS,
                    *search_attributes.dev_server_flags()]
        if name == "worker":
            return [sys.executable, "-m", "workflows.worker"]
        return [sys.executable, "-m", f"services.{name}"]

    # -- processes --

    async def start(self, name: str) -> None:
        """Start the process and wait until it serves."""
        log = open(self.workdir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(self.argv(name), stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                                                cwd=config.REPO_ROOT, start_new_session=True)
        log.close()
        await self._ready(name)

    async def _ready(self, name: str) -> None:
        if name == "worker":
            return
        probe = (lambda: temporal_ready(self.temporal_address)) if name == "temporal" else \
            (lambda: healthy(self.address(name)))
        deadline = asyncio.get_running_loop().time() + STARTUP_SECONDS
        while not await probe():
            child = self.processes[name]
            if child.poll() is not None:
                raise RuntimeError(f"{name} exited with {child.returncode}: see {self.workdir / name}.log")
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{name} did not serve within {STARTUP_SECONDS} s")
            await asyncio.sleep(0.2)

    def kill(self, name: str) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        child = self.processes.pop(name)
        child.send_signal(signal.SIGKILL)
        child.wait()

    def stop(self, name: str, timeout: float = 20) -> None:
        child = self.processes.pop(name)
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)


@contextlib.asynccontextmanager
async def running(workdir: Path, registry_url: str, complaints_url: str, direct_complaints_url: str | None = None
                  ) -> AsyncIterator[Stack]:
    """Temporal, the registry, the complaints service and the worker, migrated and serving."""
    migrate.upgrade("registry", database_url=registry_url)
    migrate.upgrade("complaints", database_url=direct_complaints_url or complaints_url)
    stack = Stack(workdir, registry_url, complaints_url, direct_complaints_url or complaints_url)
    try:
        await stack.start("temporal")
        for name in ("registry", "complaints", "worker"):
            await stack.start(name)
        yield stack
    finally:
        stack.stop_all()
