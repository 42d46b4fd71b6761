"""python -m workflows.worker: the suite's Temporal worker."""

from __future__ import annotations

import asyncio
import signal

from temporalio.client import Client
from temporalio.worker import Worker

from suite import config
from suite import logging as suite_logging
from workflows.activities.registry import RegistryActivities
from workflows.agency_suspension import AgencySuspensionWorkflow

WORKFLOWS = [AgencySuspensionWorkflow]


def activities(registry: RegistryActivities) -> list:
    return [registry.change_agency_status]


def build_worker(client: Client, registry: RegistryActivities, task_queue: str) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities(registry))


async def main() -> None:
    suite_logging.configure("worker")
    log = suite_logging.get("worker")
    settings = config.temporal()
    client = await Client.connect(settings.address, namespace=settings.namespace)
    registry = RegistryActivities()
    worker = build_worker(client, registry, settings.task_queue)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with worker:
        log.info("polling", task_queue=settings.task_queue, temporal=settings.address)
        await stopping.wait()
    await registry.close()
    log.info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
