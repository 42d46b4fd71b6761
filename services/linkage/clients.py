"""The services the linkage endpoint asks on an association's behalf, over gRPC: the registry
and the complaints service, called *as the association* (a short-lived token naming it, so that
each service scopes the answer itself), and the registry as the suite's machine caller for the one thing an
association cannot ask about itself: which association a certificate names. Also the Temporal
client that starts the association-discipline workflow."""

from __future__ import annotations

import asyncio

import grpc
import structlog

from contracts.discipline import DISCIPLINE_WORKFLOW, VIEW_QUERY, DisciplineReport, DisciplineView, workflow_id
from ipss.complaints.v1 import complaints_pb2_grpc
from ipss.registry.v1 import registry_pb2 as registry_pb
from ipss.registry.v1 import registry_pb2_grpc
from suite import auth, config
from suite.errors import FailedPrecondition, Unauthenticated, Unavailable
from suite.service_caller import ServiceCaller
from suite.workflow_client import NOT_ANSWERING, RETRY_LATER, WorkflowClient, answered

SUBJECT = "ipss-linkage"
CALL_SECONDS = 10
# How long a report waits for its workflow to plan the publicity period.
PLAN_WAIT_SECONDS = 10.0
# The stages of the discipline workflow after the registry recorded the measure.
ON_THE_RECORD = ("public", "ended")


class AssociationTokens:
    """One short-lived token per association (suite.auth.MachineToken, signed with the machine key,
    which may sign an association's role: the endpoint speaks for the association whose client
    certificate it checked), renewed before it expires."""

    def __init__(self):
        self._tokens = {}

    def metadata(self, association_id: str) -> tuple:
        token = self._tokens.get(association_id)
        if token is None:
            token = self._tokens[association_id] = auth.MachineToken(
                f"{SUBJECT}:{association_id}", "association", association_id=association_id)
        metadata = [("authorization", f"Bearer {token}")]
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id:
            metadata.append(("x-request-id", request_id))
        return tuple(metadata)


class OnBehalf:
    """The registry and complaints stubs, each call carrying the association's token."""

    def __init__(self, registry_address: str | None, complaints_address: str | None):
        self._tokens = AssociationTokens()
        self._channels = [grpc.aio.insecure_channel(registry_address or config.service_address("registry")),
                          grpc.aio.insecure_channel(complaints_address or config.service_address("complaints"))]
        self.registry = registry_pb2_grpc.RegistryServiceStub(self._channels[0])
        self.complaints = complaints_pb2_grpc.ComplaintsServiceStub(self._channels[1])

    async def ask(self, rpc, request, association_id: str):
        """The answer to `rpc(request)` asked as the association; a refusal is relayed as is."""
        return await rpc(request, metadata=self._tokens.metadata(association_id), timeout=CALL_SECONDS)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


class CertificateRecords(ServiceCaller):
    """The registry's record of association certificates, asked as the suite's machine caller."""

    def __init__(self, address: str | None = None):
        super().__init__("registry", SUBJECT, registry_pb2_grpc.RegistryServiceStub, address, CALL_SECONDS)

    async def association_of(self, fingerprint: str) -> str:
        """The association the certificate names; UNAUTHENTICATED when the registry knows no such
        certificate, or it is revoked or expired."""
        try:
            answer = await self._ask(self._stub.ResolveAssociationCertificate,
                                     registry_pb.ResolveAssociationCertificateRequest(fingerprint_sha256=fingerprint))
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise Unauthenticated("CERTIFICATE_UNKNOWN", "the client certificate is not registered to an "
                                      "association", fingerprint=fingerprint) from None
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise Unauthenticated("CERTIFICATE_NOT_VALID", f"the client certificate is refused: {error.details()}",
                                      fingerprint=fingerprint) from None
            raise
        return answer.certificate.association_id


class DisciplineWorkflows(WorkflowClient):
    """The association-discipline workflow, one per decision document."""

    async def report(self, report: DisciplineReport) -> DisciplineView:
        """Start it (or find it, for a number reported before) and answer its view once the
        measure is on the credit record, its publicity planned."""
        key = workflow_id(report.association_id, report.document_number)
        await self.start_or_attach(DISCIPLINE_WORKFLOW, report, key)
        handle = (await self.client()).get_workflow_handle(key)
        waited = 0.0
        while waited < PLAN_WAIT_SECONDS:
            view = await answered(lambda: handle.query(VIEW_QUERY, result_type=DisciplineView), key)
            if view.stage == "refused":
                raise FailedPrecondition("DISCIPLINE_REFUSED", view.refused_because, subject=key, workflow_id=key)
            if view.stage in ON_THE_RECORD:
                return view
            await asyncio.sleep(0.1)
            waited += 0.1
        raise Unavailable(NOT_ANSWERING, RETRY_LATER)
