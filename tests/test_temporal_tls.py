"""The suite's Temporal clients dial a cluster's frontend with mutual TLS when IPSS_TEMPORAL_TLS_DIR
names a mounted Secret (ca.crt, tls.crt, tls.key): a gRPC server on loopback that requires a
client certificate signed by its CA, standing in for the frontend (it answers GetSystemInfo, the
call a client makes when it connects), sees the suite's client certificate; without the
directory the client speaks plaintext and the TLS frontend never lets it in."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import pytest
from temporalio.api.workflowservice.v1 import request_response_pb2, service_pb2_grpc

from suite import config, tls
from suite.workflow_client import connect

SERVER_NAME = "localhost"


class Frontend(service_pb2_grpc.WorkflowServiceServicer):
    """Only what connecting asks; it remembers who called."""

    def __init__(self) -> None:
        self.callers: list[str] = []

    async def GetSystemInfo(self, request, context):
        certificate = context.auth_context().get("x509_common_name", [b""])[0]
        self.callers.append(certificate.decode())
        return request_response_pb2.GetSystemInfoResponse(server_version="1.31.2")


@pytest.fixture
async def frontend(tmp_path: Path):
    authority = tls.make_authority(tls.authority_pair(tmp_path / "ca"))
    server_pair = tls.issue_server(authority, tls.server_pair(tmp_path / "server"))
    servicer = Frontend()
    server = grpc.aio.server()
    service_pb2_grpc.add_WorkflowServiceServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", tls.server_credentials(authority, server_pair))
    await server.start()
    try:
        yield f"127.0.0.1:{port}", authority, servicer
    finally:
        await server.stop(0)


def mounted_secret(directory: Path, authority: tls.KeyPair, client: tls.KeyPair) -> Path:
    """The files as a kubernetes.io/tls Secret with its CA is mounted."""
    directory.mkdir()
    shutil.copy(authority.certificate, directory / "ca.crt")
    shutil.copy(client.certificate, directory / "tls.crt")
    shutil.copy(client.key, directory / "tls.key")
    return directory


async def test_a_client_given_the_mounted_secret_connects_with_its_certificate(frontend, tmp_path):
    address, authority, servicer = frontend
    client = tls.issue_client(authority, tls.KeyPair(tmp_path / "worker.crt", tmp_path / "worker.key"), "ipss-worker")
    settings = config.TemporalSettings(address, "ipss", "ipss", tls_dir=mounted_secret(tmp_path / "secret",
                                                                                      authority, client),
                                       tls_server_name=SERVER_NAME)
    await connect(settings)
    assert servicer.callers == ["ipss-worker"]


async def test_without_the_secret_the_client_is_not_let_in(frontend):
    address, _, servicer = frontend
    with pytest.raises(RuntimeError):
        await connect(config.TemporalSettings(address, "ipss", "ipss"))
    assert servicer.callers == []


def test_the_settings_read_the_directory_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("IPSS_TEMPORAL_TLS_DIR", str(tmp_path))
    monkeypatch.setenv("IPSS_TEMPORAL_TLS_SERVER_NAME", "temporal-frontend")
    settings = config.temporal()
    assert (settings.tls_dir, settings.tls_server_name) == (tmp_path, "temporal-frontend")
    monkeypatch.delenv("IPSS_TEMPORAL_TLS_DIR")
    assert config.temporal().tls_dir is None
