"""Enrolment of associations on the linkage endpoint (协会接入): the development CA, the
endpoint's server certificate, and a client certificate per association registered with the
registry by fingerprint, so the endpoint knows whom a certificate names; and revocation."""

from __future__ import annotations

from pathlib import Path

import os

import grpc

from ipss.registry.v1 import registry_pb2 as registry_pb
from ipss.registry.v1 import registry_pb2_grpc
from suite import auth, clock, config, tls


def _operator_metadata() -> tuple:
    """An operator's token: IPSS_TOKEN, the signed-in operator's own (production, where nobody
    holds a key that signs people's roles), or else one of the development sign-in key's."""
    token = os.environ.get("IPSS_TOKEN", "").strip() or auth.mint("operator", "ipss-certs", ttl_seconds=300)
    return (("authorization", f"Bearer {token}"),)


async def issue_certificates(association_ids: list[str], days: int, registry_address: str | None = None,
                             directory: Path | None = None) -> list[tuple[str, Path]]:
    """A client certificate for each association named (every one the registry holds when none
    is), made and registered with the registry. An association's existing certificate is kept."""
    authority, _ = tls.ensure_server(directory)
    async with grpc.aio.insecure_channel(registry_address or config.service_address("registry")) as channel:
        registry = registry_pb2_grpc.RegistryServiceStub(channel)
        if not association_ids:
            listed = await registry.ListAssociations(registry_pb.ListAssociationsRequest(),
                                                     metadata=_operator_metadata())
            association_ids = [a.id for a in listed.associations]
        issued = []
        for association_id in association_ids:
            pair = tls.association_pair(association_id, directory)
            if not pair.certificate.exists():
                tls.issue_client(authority, pair, association_id, days=days)
            pem = pair.certificate.read_bytes()
            await registry.RegisterAssociationCertificate(registry_pb.RegisterAssociationCertificateRequest(
                association_id=association_id, fingerprint_sha256=tls.fingerprint(pem),
                not_after=tls.not_after(pem).isoformat()), metadata=_operator_metadata())
            issued.append((association_id, pair.certificate))
        return issued


async def revoke_certificate(association_id: str, registry_address: str | None = None,
                             directory: Path | None = None) -> str:
    pem = tls.association_pair(association_id, directory).certificate.read_bytes()
    fingerprint = tls.fingerprint(pem)
    async with grpc.aio.insecure_channel(registry_address or config.service_address("registry")) as channel:
        await registry_pb2_grpc.RegistryServiceStub(channel).RevokeAssociationCertificate(
            registry_pb.RevokeAssociationCertificateRequest(
                fingerprint_sha256=fingerprint, revoked_on=clock.today().isoformat()),
            metadata=_operator_metadata())
    return fingerprint
