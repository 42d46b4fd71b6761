"""The services as the console reaches them: one gRPC channel each, opened on first use in the
serving event loop, every call made with the signed-in user's token, and a refusal turned into
what a page words (the status, the reason and its metadata, each field's violations with theirs)."""

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


# google.rpc.ErrorInfo.domain of the suite's services (suite.grpc_server.ERROR_DOMAIN).
ERROR_DOMAIN = "ipss"
# Where a field violation's metadata rides in the ErrorInfo: field_violations.<index>.<key>.
FIELD_METADATA = "field_violations."


@dataclass(frozen=True)
class Violation:
    """What a service said is wrong with one field: the reason, its values, and the English."""

    reason: str
    description: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class ServiceError(Exception):
    """A service's refusal: its status code, its reason (empty where no service refused: a
    connection that failed) with the values its text needs, the message in English, and each
    field's violations."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    fields: dict[str, list[Violation]] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code.name} {self.reason}: {self.message}"


def refusal(error: grpc.aio.AioRpcError) -> ServiceError:
    """The google.rpc details of a status: the ErrorInfo and the BadRequest's field violations."""
    status = rpc_status.from_call(error)
    details = list(status.details) if status else []
    info = _error_info(details)
    metadata, by_violation = _split_metadata(dict(info.metadata))
    fields: dict[str, list[Violation]] = {}
    for detail in details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            for index, violation in enumerate(bad_request.field_violations):
                fields.setdefault(violation.field, []).append(Violation(
                    violation.reason, violation.description, by_violation.get(str(index), {})))
    return ServiceError(error.code(), error.details() or "", info.reason, metadata, fields)


def _error_info(details) -> error_details_pb2.ErrorInfo:
    """The suite's ErrorInfo among the details; an empty one (no reason) where there is none."""
    for detail in details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            return info
    return error_details_pb2.ErrorInfo()


def _split_metadata(metadata: dict[str, str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The refusal's own metadata, and each field violation's by its index."""
    own: dict[str, str] = {}
    by_violation: dict[str, dict[str, str]] = {}
    for key, value in metadata.items():
        if key.startswith(FIELD_METADATA):
            index, _, name = key.removeprefix(FIELD_METADATA).partition(".")
            by_violation.setdefault(index, {})[name] = value
        else:
            own[key] = value
    return own, by_violation


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

    async def call(self, method, request, token: str = "", request_id: str = "", client_address: str = ""):
        """Call an RPC as the token's holder (the public without one); a refusal as ServiceError.
        `client_address` names the visitor's own address (the services count the public's uploads
        by it: the console is one peer for all its visitors)."""
        metadata = []
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        if client_address:
            metadata.append(("x-ipss-client-address", client_address))
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
