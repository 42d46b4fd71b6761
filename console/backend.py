"""The services as the console reaches them: one gRPC channel each, opened on first use in the
serving event loop, every call made with the signed-in user's token, and a refusal turned into
what a page can show (the status, the message, each field's violation)."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ipss.complaints.v1 import complaints_pb2_grpc
from ipss.inspections.v1 import inspections_pb2_grpc
from ipss.registry.v1 import registry_pb2_grpc

CALL_SECONDS = 20.0
# Attachments go through the console to UploadAttachment (10 MiB and the request around them).
MAX_MESSAGE_BYTES = 11 * 1024 * 1024
# A published draw record carries its whole snapshot: the inspections service sends up to this.
MAX_DRAW_RECORD_BYTES = 64 * 1024 * 1024


@dataclass
class ServiceError(Exception):
    """A service's refusal: its status code, message, and the details it named."""

    code: grpc.StatusCode
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    preconditions: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


def refusal(error: grpc.aio.AioRpcError) -> ServiceError:
    """The google.rpc details of a status: BadRequest field violations and PreconditionFailure."""
    fields: dict[str, str] = {}
    preconditions: list[str] = []
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        bad_request = error_details_pb2.BadRequest()
        precondition = error_details_pb2.PreconditionFailure()
        if detail.Unpack(bad_request):
            for violation in bad_request.field_violations:
                fields[violation.field] = "; ".join(filter(None, (fields.get(violation.field), violation.description)))
        elif detail.Unpack(precondition):
            preconditions += [v.description for v in precondition.violations]
    return ServiceError(error.code(), error.details() or "", fields, preconditions)


class Backend:
    def __init__(self, registry_address: str, complaints_address: str, inspections_address: str):
        self._addresses = {"registry": registry_address, "complaints": complaints_address,
                           "inspections": inspections_address}
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, service: str) -> grpc.aio.Channel:
        if service not in self._channels:
            receive = MAX_DRAW_RECORD_BYTES if service == "inspections" else MAX_MESSAGE_BYTES
            self._channels[service] = grpc.aio.insecure_channel(self._addresses[service], options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", receive)])
        return self._channels[service]

    @property
    def registry(self) -> registry_pb2_grpc.RegistryServiceStub:
        return registry_pb2_grpc.RegistryServiceStub(self._channel("registry"))

    @property
    def complaints(self) -> complaints_pb2_grpc.ComplaintsServiceStub:
        return complaints_pb2_grpc.ComplaintsServiceStub(self._channel("complaints"))

    @property
    def inspections(self) -> inspections_pb2_grpc.InspectionsServiceStub:
        return inspections_pb2_grpc.InspectionsServiceStub(self._channel("inspections"))

    async def call(self, method, request, token: str = "", request_id: str = ""):
        """Call an RPC as the token's holder (the public without one); a refusal as ServiceError."""
        metadata = []
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        if request_id:
            metadata.append(("x-request-id", request_id))
        try:
            return await method(request, metadata=tuple(metadata), timeout=CALL_SECONDS)
        except grpc.aio.AioRpcError as error:
            raise refusal(error) from None

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
