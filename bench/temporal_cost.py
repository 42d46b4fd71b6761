"""What the Temporal dev server itself spends per workflow, configured as `ipss up` runs it (state
in a file, the same SQLite pragmas): a bare start, whose task queue nobody polls, against a start
whose first workflow task a worker completes (a workflow that only waits, as a new case does).

    python -m bench.temporal_cost [--rate 40] [--seconds 15]

Why it exists: bench.intake's `ratio` divides accepted reports by bare starts on the same
server. Every accepted report starts a case whose first workflow task that server also runs; if an
empty first task already costs the server about as much as the start itself, no intake reaches a
ratio near 1 on a machine whose cores the server shares with the worker and the services, however
little the intake does. `ceiling_ratio` is the bare start's cost over the start-and-first-task
cost; `ceiling_per_s` is how many such workflows a second the machine's cores would take if they
did nothing but serve Temporal. Figures are the server process's CPU time per workflow at a fixed
rate below saturation. The last line is one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.processes import cpu_seconds, dev_server_pid
from suite.config import TEMPORAL_SQLITE_PRAGMAS

BENCH = "temporal_cost"
BIN = Path(sys.executable).parent


@workflow.defn(name="BenchWaitingWorkflow", sandboxed=False)
class WaitingWorkflow:
    """Only waits, as a new case does after its first task: one workflow task and a timer."""

    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(days=30))


async def start_at_rate(client: Client, task_queue: str, rate: float, seconds: float) -> int:
    """Starts WaitingWorkflow on `task_queue` at `rate` a second for `seconds`; how many."""
    started, pending, began = 0, [], time.monotonic()
    while time.monotonic() - began < seconds:
        pending.append(asyncio.create_task(client.start_workflow(
            WaitingWorkflow.run, id=f"bench-{task_queue}-{uuid.uuid4().hex}", task_queue=task_queue,
            execution_timeout=timedelta(minutes=5))))
        started += 1
        await asyncio.sleep(max(0.0, began + started / rate - time.monotonic()))
    await asyncio.gather(*pending)
    return started


async def server_cpu_ms_per_workflow(client: Client, server_pid: int, task_queue: str, args) -> float:
    before = cpu_seconds(server_pid)
    count = await start_at_rate(client, task_queue, args.rate, args.seconds)
    # The server finishes what the last starts set off (their first tasks) before the reading.
    await asyncio.sleep(args.settle)
    return (cpu_seconds(server_pid) - before) * 1000 / count


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="ipss-bench-temporal-") as work:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"), dev_server_database_filename=str(Path(work) / "temporal.db"),
            dev_server_extra_args=list(TEMPORAL_SQLITE_PRAGMAS))
        try:
            server = dev_server_pid()
            bare = await server_cpu_ms_per_workflow(env.client, server, "bench-nobody-polls", args)
            async with Worker(env.client, task_queue="bench-polled", workflows=[WaitingWorkflow]):
                with_task = await server_cpu_ms_per_workflow(env.client, server, "bench-polled", args)
        finally:
            await env.shutdown()
    cores = os.cpu_count() or 1
    return {"bench": BENCH, "rate": args.rate, "seconds": args.seconds, "cores": cores,
            "bare_start_server_cpu_ms": round(bare, 2), "start_and_first_task_server_cpu_ms": round(with_task, 2),
            "ceiling_ratio": round(bare / with_task, 3), "ceiling_per_s": round(cores * 1000 / with_task, 1)}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bench.temporal_cost", description=__doc__.split("\n\n")[0])
    root.add_argument("--rate", type=float, default=40, help="workflow starts per second, below saturation")
    root.add_argument("--seconds", type=float, default=15, help="seconds of starts in each phase")
    root.add_argument("--settle", type=float, default=3, help="seconds to wait after the last start")
    return root


def main(argv: list[str] | None = None) -> int:
    result = asyncio.run(run(parser().parse_args(argv)))
    print(f"Temporal dev server CPU per workflow: bare start {result['bare_start_server_cpu_ms']} ms, "
          f"start and first workflow task {result['start_and_first_task_server_cpu_ms']} ms; ceiling ratio "
          f"{result['ceiling_ratio']}, at most {result['ceiling_per_s']} such workflows/s on {result['cores']} cores")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
