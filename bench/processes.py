"""The suite's own processes as the benchmarks run them: each with its log in the work directory
and stopped with SIGTERM, ready when its health check (or page) answers, and the CPU it used."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from suite import config

STARTUP_SECONDS = 60
TOKEN_KEY_VARIABLES = ("IPSS_MACHINE_KEY", "IPSS_MACHINE_PUBLIC_KEY", "IPSS_SIGNIN_KEY", "IPSS_SIGNIN_PUBLIC_KEY")


def token_keys() -> dict[str, str]:
    """The token keys this process uses (suite.config: the machine key, the development sign-in
    key, from its environment or its var directory) as PEMs in the variables every process reads:
    the processes a benchmark starts and the calls it makes itself trust the same keys."""
    keys = {}
    for name, key in (("MACHINE", config.machine_key()), ("SIGNIN", config.signin_key())):
        keys[f"IPSS_{name}_KEY"] = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        keys[f"IPSS_{name}_PUBLIC_KEY"] = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return keys


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def process(name: str, argv: list[str], env: dict[str, str], workdir: Path,
            stop_seconds: float = 20) -> Iterator[subprocess.Popen]:
    with open(workdir / f"{name}.log", "wb") as log:
        child = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=config.REPO_ROOT)
        try:
            yield child
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=stop_seconds)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


async def wait_ready(name: str, child: subprocess.Popen, ready: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not await ready():
        if child.poll() is not None:
            raise RuntimeError(f"{name} exited with {child.returncode} before serving")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not become ready in {STARTUP_SECONDS} s")
        await asyncio.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process and its children (serving processes) have used so far
    (Linux /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for each in [pid, *map(int, children)]:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def dev_server_pid() -> int:
    """The `temporal server start-dev` this process started."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"start-dev" in (entry / "cmdline").read_bytes() and \
                        int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    return int(entry.name)
            except OSError:
                continue
    raise RuntimeError("the Temporal dev server's process was not found")


# How `ipss up` starts each process (launcher.up.children), as its command line shows it.
SUITE_COMMANDS = {"temporal": b"start-dev", "worker": b"workflows.worker", "registry": b"services.registry",
                  "complaints": b"services.complaints"}


def suite_pids() -> dict[str, int]:
    """The processes of the `ipss up` running on this var directory (another benchmark's suite runs
    on a directory of its own), by name, found by their command lines."""
    found: dict[str, int] = {}
    var_dir = str(config.var_dir())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = dict(item.split("=", 1) for item in (entry / "environ").read_text(errors="replace").split("\0")
                           if "=" in item)
        except OSError:
            continue
        if environ.get("IPSS_VAR_DIR", str(config.REPO_ROOT / "var")) != var_dir:
            continue
        for name, mark in SUITE_COMMANDS.items():
            if mark in cmdline and name not in found:
                found[name] = int(entry.name)
    missing = sorted(set(SUITE_COMMANDS) - set(found))
    if missing:
        raise RuntimeError(f"no running {', '.join(missing)} of ipss up was found")
    return found


async def settled(pid: int, idle_share: float = 0.05, longest: float = 60) -> None:
    """Wait until a process uses less than `idle_share` of a core (its backlog is done)."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(1)
        if cpu_seconds(pid) - before < idle_share:
            return
