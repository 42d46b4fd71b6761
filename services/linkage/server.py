"""Wires the association linkage endpoint: mutual TLS on its port (the caller is the association
its client certificate names, as the registry records it), each association's quota, the
services asked on its behalf, and a plaintext port that answers health checks only."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from temporalio.client import Client

from ipss.linkage.v1 import linkage_pb2, linkage_pb2_grpc
from services.linkage.api import LinkageApi
from services.linkage.clients import CertificateRecords, DisciplineWorkflows, OnBehalf
from services.linkage.domain import Quotas, TrustedCertificates
from suite import auth, config, tls
from suite.errors import Unauthenticated
from suite.grpc_server import ServiceBinding, SuiteServer

SERVICE_NAME = linkage_pb2.DESCRIPTOR.services_by_name["AssociationLinkService"].full_name


class CertificateCaller:
    """Names the caller of a linkage RPC by its client certificate, then takes one call of its
    association's quota. A bearer token it sends is not read: a claim is not an identity."""

    def __init__(self, records: CertificateRecords, trusted: TrustedCertificates, quotas: Quotas):
        self._records, self._trusted, self._quotas = records, trusted, quotas

    async def __call__(self, metadata: dict[str, str], context: grpc.aio.ServicerContext) -> auth.Principal:
        presented = context.auth_context().get("x509_pem_cert")
        if not presented:
            raise Unauthenticated("CLIENT_CERTIFICATE_REQUIRED", "the linkage endpoint needs the association's "
                                  "client certificate")
        fingerprint = tls.fingerprint(presented[0])
        association_id = self._trusted.association_of(fingerprint)
        if association_id is None:
            association_id = await self._records.association_of(fingerprint)
            self._trusted.remember(fingerprint, association_id)
        self._quotas.take_call(association_id)
        return auth.Principal(subject=f"association:{association_id}", role="association",
                              association_id=association_id)


@dataclass
class Linkage:
    """The running endpoint: its TLS server, its health-only server and what to close on stop."""

    server: SuiteServer
    health: SuiteServer
    api: LinkageApi
    services: OnBehalf
    records: CertificateRecords

    async def close(self) -> None:
        await self.health.stop(grace=1)
        await self.services.close()
        await self.records.close()


def build(registry_address: str | None = None,
          complaints_address: str | None = None, temporal_client: Client | None = None,
          temporal_settings: config.TemporalSettings | None = None, certs_dir: Path | None = None,
          quota: config.LinkageQuota | None = None, trust_seconds: float | None = None) -> Linkage:
    mounted = None if certs_dir else config.linkage_tls_dir()
    authority, server_keys = tls.mounted_server(mounted) if mounted else tls.ensure_server(certs_dir)
    quotas = Quotas(quota or config.linkage_quota(), time.monotonic)
    records = CertificateRecords(registry_address)
    trusted = TrustedCertificates(time.monotonic, *(() if trust_seconds is None else (trust_seconds,)))
    services = OnBehalf(registry_address, complaints_address)
    api = LinkageApi(services, DisciplineWorkflows(temporal_client, temporal_settings), quotas)
    server = SuiteServer("linkage", [ServiceBinding(SERVICE_NAME, linkage_pb2_grpc.add_AssociationLinkServiceServicer_to_server,
                                                    api)],
                         authenticate=CertificateCaller(records, trusted, quotas),
                         credentials=tls.server_credentials(authority, server_keys))
    health = SuiteServer("linkage-health", [])
    return Linkage(server, health, api, services, records)
