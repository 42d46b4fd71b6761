"""Whether a process of the suite answers yet: a gRPC service's health check, the console's health
page, the Temporal frontend. `ipss up` waits on them before it says the suite is up, and so do
the benchmarks that start processes of their own."""

from __future__ import annotations

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.client import Client

from suite import config


async def healthy(address: str, service: str = "") -> bool:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1)
        except grpc.aio.AioRpcError:
            return False
    return answer.status == health_pb2.HealthCheckResponse.SERVING


async def http_ready(address: str) -> bool:
    """The console answers its health page."""
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"http://{address}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def temporal_ready(address: str) -> bool:
    """Connecting asks the frontend for its system info, so it succeeds only once Temporal serves."""
    try:
        await Client.connect(address, namespace=config.temporal().namespace)
    except RuntimeError:
        return False
    return True
