"""The open loop every benchmark drives its service with: request i is due at start + i/rate
whatever the answers before it, sent by whichever of the concurrent clients is free, and its
latency runs from when it was due, so a stalled server shows as latency instead of as fewer
requests (no coordinated omission)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc


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
