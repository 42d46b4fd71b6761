"""Complaint intake against a running suite (`ipss up`), beside bare Temporal workflow starts.

    python -m bench.intake [--rate 100] [--seconds 20] [--warmup 3] [--clients 32]

First it registers agencies in the registry (one report per agency and category, so that every
report opens a case rather than joining one). Then, at a fixed rate in an open loop, citizens
file reports (FileReport: registry lookup, the case record, the case workflow's start); each
latency runs from when the report was due, so a stalled service shows as latency. Last, with the
same number of concurrent clients flat out, it measures how many reports per second the service
accepts, how many bare workflow starts per second the same Temporal server takes (a workflow
type no worker polls, each timing out after a minute): `ratio` is the first over the second; and
how many starts whose first workflow task a worker runs (the ceiling an intake that starts a case
can reach): `ratio_to_ceiling`.
Over the flat-out intake, until the worker has caught up, it counts the CPU each process of the
suite spent per case: the worker's and the services' against the Temporal server's own.
The last line is one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import timedelta

import grpc
from temporalio.client import Client
from temporalio.worker import Worker

from bench.load import open_loop, percentile
from bench.processes import cpu_seconds, settled, suite_pids
from bench.temporal_cost import WaitingWorkflow
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from ipss.registry.v1 import registry_pb2 as rpb
from ipss.registry.v1 import registry_pb2_grpc as rpb_grpc
from suite import auth, config, testdata

BENCH = "intake"
CATEGORIES = [value.number for value in cpb.ViolationCategory.DESCRIPTOR.values if value.number]
BARE_QUEUE = "bench-bare-starts"
CEILING_QUEUE = "bench-start-and-first-task"
FLAT_OUT_CEILING = 800


async def register_agencies(count: int, concurrency: int = 64, address: str | None = None) -> list[str]:
    operator = (("authorization", f"Bearer {auth.mint('operator', 'bench-intake')}"),)
    # Bounded: a burst of thousands of concurrent streams on one channel gets them cancelled.
    gate = asyncio.Semaphore(concurrency)
    async with grpc.aio.insecure_channel(address or config.service_address("registry")) as channel:
        stub = rpb_grpc.RegistryServiceStub(channel)

        async def create(index: int) -> str:
            async with gate:
                answer = await stub.CreateAgency(testdata.agency_request(
                    "110105", name=f"北京测评知识产权代理有限公司{index:05d}{uuid.uuid4().hex[:4]}",
                    kind=rpb.AGENCY_KIND_TRADEMARK, legal_form=rpb.LEGAL_FORM_LIMITED_COMPANY,
                    established_on="2018-03-01"), metadata=operator)
            return answer.agency.credit_code
        return await asyncio.gather(*(create(index) for index in range(count)))


def reports(agency_codes: list[str]):
    """One report per agency and category, never the same pair twice."""
    for category in CATEGORIES:
        for code in agency_codes:
            yield cpb.FileReportRequest(
                idempotency_key=uuid.uuid4().hex, source=cpb.REPORT_SOURCE_PUBLIC,
                reporter=cpb.Reporter(real_name=False), agency=cpb.ReportedAgency(credit_code=code),
                category=category, description="该机构以“保证授权”为名招揽业务并收取高额费用。")


async def file_report(stub, request) -> grpc.StatusCode:
    try:
        await stub.FileReport(request, timeout=10)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def flat_out(clients: int, seconds: float, attempt) -> tuple[int, int]:
    """(accepted, failed) with `clients` callers sending back to back for `seconds`."""
    stop = time.monotonic() + seconds
    counts = [0, 0]

    async def caller() -> None:
        while time.monotonic() < stop:
            counts[0 if await attempt() else 1] += 1
    await asyncio.gather(*(caller() for _ in range(clients)))
    return counts[0], counts[1]


async def run(args: argparse.Namespace) -> dict:
    # Enough fresh pairs for the open loop and for a flat-out phase of up to FLAT_OUT_CEILING a second.
    needed = int(args.rate * (args.seconds + args.warmup) + FLAT_OUT_CEILING * args.seconds)
    agencies = await register_agencies(max(50, needed // len(CATEGORIES) + 1))
    pending = reports(agencies)
    async with grpc.aio.insecure_channel(config.service_address("complaints")) as channel:
        stub = cpb_grpc.ComplaintsServiceStub(channel)
        outcomes, start = await open_loop(
            lambda: file_report(stub, next(pending)), args.rate, args.seconds + args.warmup, args.clients)
        measured = [o for o in outcomes if o.due >= start + args.warmup]
        latencies = sorted(o.latency * 1000 for o in measured)
        errors = sum(o.code != grpc.StatusCode.OK for o in measured)

        async def intake_once() -> bool:
            return await file_report(stub, next(pending)) == grpc.StatusCode.OK
        pids = suite_pids()
        await settled(pids["worker"])  # the open loop's backlog is not this phase's
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        accepted, failed = await flat_out(args.clients, args.seconds, intake_once)
        await settled(pids["worker"])
        cpu_ms = {name: 1000 * (cpu_seconds(pid) - cpu_before[name]) / max(accepted, 1) for name, pid in pids.items()}

    settings = config.temporal()
    client = await Client.connect(settings.address, namespace=settings.namespace)

    async def bare_start() -> bool:
        await client.start_workflow("BenchBareStart", id=f"bench-bare-{uuid.uuid4().hex}", task_queue=BARE_QUEUE,
                                    execution_timeout=timedelta(minutes=1))
        return True
    started, _ = await flat_out(args.clients, args.seconds, bare_start)
    # The ceiling: a start whose first workflow task a worker runs (a workflow that only waits,
    # as a new case does), on the same server, flat out from as many clients.
    async with Worker(client, task_queue=CEILING_QUEUE, workflows=[WaitingWorkflow]):
        async def start_and_first_task() -> bool:
            await client.start_workflow(WaitingWorkflow.run, id=f"bench-ceiling-{uuid.uuid4().hex}",
                                        task_queue=CEILING_QUEUE, execution_timeout=timedelta(minutes=1))
            return True
        ceiling, _ = await flat_out(args.clients, args.seconds, start_and_first_task)
    accepted_per_s, bare_per_s = accepted / args.seconds, started / args.seconds
    ceiling_per_s = ceiling / args.seconds
    return {"bench": BENCH, "rate": args.rate, "requests": len(measured),
            "p50_ms": round(percentile(latencies, 0.5), 2), "p99_ms": round(percentile(latencies, 0.99), 2),
            "accepted_per_s": round(accepted_per_s, 1), "bare_starts_per_s": round(bare_per_s, 1),
            "ratio": round(accepted_per_s / bare_per_s, 3) if bare_per_s else None,
            "start_and_first_task_per_s": round(ceiling_per_s, 1),
            "ratio_to_ceiling": round(accepted_per_s / ceiling_per_s, 3) if ceiling_per_s else None,
            "errors": errors + failed,
            **{f"{name}_cpu_ms_per_case": round(ms, 2) for name, ms in cpu_ms.items()},
            "worker_over_temporal": round(cpu_ms["worker"] / cpu_ms["temporal"], 2),
            "suite_over_temporal": round((cpu_ms["worker"] + cpu_ms["complaints"] + cpu_ms["registry"])
                                         / cpu_ms["temporal"], 2)}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__.split("\n\n")[0])
    root.add_argument("--rate", type=float, default=100, help="reports per second in the open loop")
    root.add_argument("--seconds", type=float, default=20, help="measured seconds of each phase")
    root.add_argument("--warmup", type=float, default=3)
    root.add_argument("--clients", type=int, default=32)
    return root


def main(argv: list[str] | None = None) -> int:
    result = asyncio.run(run(parser().parse_args(argv)))
    print(f"intake at {result['rate']:g}/s: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; flat out "
          f"{result['accepted_per_s']} reports/s against {result['bare_starts_per_s']} bare starts/s "
          f"(ratio {result['ratio']}), {result['errors']} errors")
    print(f"ceiling (starts whose first task a worker runs, same server): {result['start_and_first_task_per_s']}/s; "
          f"intake at {result['ratio_to_ceiling']} of it (target 0.9)")
    print(f"CPU per case: worker {result['worker_cpu_ms_per_case']} ms, complaints "
          f"{result['complaints_cpu_ms_per_case']} ms, registry {result['registry_cpu_ms_per_case']} ms, Temporal "
          f"server {result['temporal_cpu_ms_per_case']} ms (worker/Temporal {result['worker_over_temporal']}, "
          f"suite/Temporal {result['suite_over_temporal']}, target at most 1)")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

