"""`python -m services.registry` served by several processes on one port (IPSS_REGISTRY_PROCESSES):
each process listens and callers are answered, SIGTERM stops them all, and a port another program holds is refused
rather than silently shared."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from suite import config, migrate
from suite.probes import healthy
from tests.conftest import fresh_database

SERVICE = pb.DESCRIPTOR.services_by_name["RegistryService"].full_name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_registry(url: str, port: int, processes: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, IPSS_REGISTRY_DATABASE_URL=url, IPSS_REGISTRY_PORT=str(port), IPSS_BIND="127.0.0.1",
               IPSS_REGISTRY_PROCESSES=str(processes))
    with open(log, "wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "services.registry"], env=env, stdout=sink,
                                stderr=subprocess.STDOUT, cwd=config.REPO_ROOT)


def serving_children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def wait_healthy(process: subprocess.Popen, address: str, listening: int, log: Path) -> None:
    for _ in range(150):
        assert process.poll() is None, log.read_text()
        if await healthy(address, SERVICE) and log.read_text().count('"event": "listening"') == listening:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"the registry did not come up: {log.read_text()}")


@pytest.fixture
def registry_database(tmp_path) -> str:
    with fresh_database("sqlite") as url:
        migrate.upgrade("registry", database_url=url)
        yield url


async def test_processes_share_the_port_and_stop_together(registry_database, tmp_path):
    port, log = free_port(), tmp_path / "registry.log"
    process = start_registry(registry_database, port, 2, log)
    try:
        await wait_healthy(process, f"127.0.0.1:{port}", 2, log)
        children = serving_children(process.pid)
        assert len(children) == 2
        # Separate connections, as separate callers make them: the kernel spreads them over both.
        for _ in range(8):
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}",
                                                 options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                answer = await pb_grpc.RegistryServiceStub(channel).LookupAgencyPublic(
                    pb.LookupAgencyPublicRequest(query="无此机构"), timeout=10)
                assert list(answer.agencies) == []
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, log.read_text()
    assert all(not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text()
               for child in children)
    assert log.read_text().count('"event": "stopping"') == 2


async def test_a_port_held_by_another_program_is_refused(registry_database, tmp_path):
    log = tmp_path / "registry.log"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        process = start_registry(registry_database, holder.getsockname()[1], 2, log)
        assert process.wait(timeout=30) != 0
    assert "Address already in use" in log.read_text()
