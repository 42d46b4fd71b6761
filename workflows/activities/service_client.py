"""The worker's side of a service's gRPC API: one channel, the worker's machine token, the
workflow id as request id on every call, and the statuses a retry cannot change turned into
non-retryable errors the workflow decides about."""

from __future__ import annotations

import string
from urllib.parse import quote

import grpc
from temporalio import activity
from temporalio.exceptions import ApplicationError

from suite import auth, config

# Answers that a retry cannot change: the workflow must decide what to do about them.
FINAL_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
               grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.ALREADY_EXISTS}


class ServiceClient:
    service: str
    stub_type: type

    def __init__(self, address: str | None = None, token: str | None = None):
        self._channel = grpc.aio.insecure_channel(address or config.service_address(self.service))
        self._stub = self.stub_type(self._channel)
        # A short-lived token renewed as it runs (tests give one of their own).
        self._token = token or auth.MachineToken("ipss-worker")

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, rpc, request):
        metadata = (("authorization", f"Bearer {self._token}"), ("x-request-id", request_id(activity.info().workflow_id)))
        try:
            return await rpc(request, metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as error:
            if error.code() in FINAL_CODES:
                raise ApplicationError(error.details() or "", type=error.code().name, non_retryable=True) from None
            raise


def request_id(workflow_id: str) -> str:
    """A workflow id may carry an association's decision document number (京知协惩字〔2026〕12号),
    which a gRPC header value cannot: such an id goes percent-encoded (UTF-8)."""
    return workflow_id if workflow_id.isascii() else quote(workflow_id, safe=string.punctuation)
