"""The open loop every benchmark drives its service with: request i is due at start + i/rate
whatever the answers before it, sent by whichever of the concurrent clients is free, and its
latency runs from when it was due, so a stalled server shows as latency instead of as fewer
requests (no coordinated omission)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

CALL_TIMEOUT_SECONDS = 10.0


@dataclass
class Outcome:
    due: float
    latency: float
    code: grpc.StatusCode


def freeze_prepared() -> None:
    """Move what the benchmark prepared (data, planned requests) out of the collector's sight: a
    full collection walking it in the load generator would show as the server's latency."""
    gc.collect()
    gc.freeze()


async def open_loop(send: Callable[[], Awaitable[grpc.StatusCode]], rate: float, seconds: float,
                    clients: int) -> tuple[list[Outcome], float]:
    """Call `send` rate times a second for `seconds`; returns the outcomes and the start."""
    freeze_prepared()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    outcomes: list[Outcome] = []

    async def client() -> None:
        while (due := await queue.get()) is not None:
            code = await send()
            outcomes.append(Outcome(due, loop.time() - due, code))

    workers = [asyncio.create_task(client()) for _ in range(clients)]
    start = loop.time() + 0.2
    for index in range(int(rate * seconds)):
        due = start + index / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        queue.put_nowait(due)
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return outcomes, start


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


async def health_floor(address: str, service: str, rate: float, warmup: float, seconds: float,
                       clients: int) -> tuple[dict, float]:
    """The floor under a gRPC benchmark: the same server, rate and clients (each with its own
    connection), asking only for its health check, which touches no database, token, validation
    or log line. Its figures over the measured period, and the load generator's CPU share."""
    channels = [grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(clients)]
    stubs = itertools.cycle([health_pb2_grpc.HealthStub(channel) for channel in channels])
    request = health_pb2.HealthCheckRequest(service=service)

    async def send() -> grpc.StatusCode:
        try:
            await next(stubs).Check(request, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    try:
        for _ in range(clients):
            await send()  # every connection open before the clock starts
        cpu_before, wall_before = time.process_time(), time.monotonic()
        outcomes, start = await open_loop(send, rate, warmup + seconds, clients)
        client_cpu = (time.process_time() - cpu_before) / (time.monotonic() - wall_before)
    finally:
        for channel in channels:
            await channel.close()
    measured = [o for o in outcomes if o.due >= start + warmup]
    latencies = sorted(o.latency * 1000 for o in measured)
    return {"requests": len(measured), "p50_ms": round(percentile(latencies, 0.5), 2),
            "p99_ms": round(percentile(latencies, 0.99), 2), "max_ms": round(latencies[-1], 2),
            "errors": sum(o.code != grpc.StatusCode.OK for o in measured)}, client_cpu
