"""Activities that change the registry, through its gRPC API, as the suite's worker."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from suite import auth, config

# Answers that a retry cannot change: the workflow must decide what to do about them.
FINAL_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
               grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.ALREADY_EXISTS}


@dataclass
class StatusChangeOrder:
    idempotency_key: str
    agency_id: str
    to_status: str  # active, suspended, revoked, deregistered
    effective_on: str
    suspended_until: str
    reason: str
    decision_reference: str


@dataclass
class AgencySnapshot:
    agency_id: str
    name: str
    credit_code: str
    region_code: str
    status: str
    suspended_until: str


class RegistryActivities:
    """Holds one channel and the worker's operator token for all registry calls."""

    def __init__(self, address: str | None = None, token: str | None = None):
        self._channel = grpc.aio.insecure_channel(address or config.service_address("registry"))
        self._stub = pb_grpc.RegistryServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token or auth.mint('operator', 'ipss-worker', ttl_seconds=10 * 365 * 86400)}"),)

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, rpc, request):
        metadata = self._metadata + (("x-request-id", activity.info().workflow_id),)
        try:
            return await rpc(request, metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as error:
            if error.code() in FINAL_CODES:
                raise ApplicationError(error.details() or "", type=error.code().name, non_retryable=True) from None
            raise

    @activity.defn(name="registry.change_agency_status")
    async def change_agency_status(self, order: StatusChangeOrder) -> AgencySnapshot:
        response = await self._call(self._stub.ChangeAgencyStatus, pb.ChangeAgencyStatusRequest(
            idempotency_key=order.idempotency_key, agency_id=order.agency_id,
            to_status=pb.AgencyStatus.Value(f"AGENCY_STATUS_{order.to_status.upper()}"),
            effective_on=order.effective_on, suspended_until=order.suspended_until, reason=order.reason,
            decision_reference=order.decision_reference))
        return snapshot(response.agency)


def snapshot(agency: pb.Agency) -> AgencySnapshot:
    return AgencySnapshot(agency_id=agency.id, name=agency.name, credit_code=agency.credit_code,
                          region_code=agency.region_code,
                          status=pb.AgencyStatus.Name(agency.status).removeprefix("AGENCY_STATUS_").lower(),
                          suspended_until=agency.suspended_until)
