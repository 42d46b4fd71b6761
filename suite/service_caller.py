"""One suite service calling another over gRPC: as the suite's machine caller (a short-lived token
signed with the machine key, renewed before it expires, nationwide so that it may ask across regions), carrying the request id of the call
it is serving, and with an unreachable service turned into UNAVAILABLE for its own caller."""

from __future__ import annotations

import grpc
import structlog

from suite import auth, config
from suite.errors import Unavailable


class ServiceCaller:
    def __init__(self, service: str, subject: str, stub_type, address: str | None = None,
                 call_seconds: float = 10):
        self._service, self._seconds = service, call_seconds
        self._token = auth.MachineToken(subject)
        self._channel = grpc.aio.insecure_channel(address or config.service_address(service))
        self._stub = stub_type(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    def _metadata(self) -> tuple:
        metadata = [("authorization", f"Bearer {self._token}")]
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id:
            metadata.append(("x-request-id", request_id))
        return tuple(metadata)

    async def _ask(self, rpc, request):
        try:
            return await rpc(request, metadata=self._metadata(), timeout=self._seconds)
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("SERVICE_UNAVAILABLE", f"the {self._service} did not answer; retry with the same "
                                  "idempotency key", service=self._service) from None
            raise
