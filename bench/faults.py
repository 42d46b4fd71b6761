"""Intake through faults: reports filed at a steady rate for a minute while the worker is killed
(SIGKILL) and started again, the Temporal server is stopped and started again, and the complaints
database is cut off and back, one after another (bench.stack runs the suite as processes on
ports of its own). A reporter's client retries with the same idempotency key while the suite
answers UNAVAILABLE, as the API asks.

Afterwards every accepted report must be a case whose workflow runs: `lost` counts those that are
not; `duplicated_side_effects` counts workflow runs beyond one per case, reports beyond one per
idempotency key, and cases whose record says `received` more than once. Latencies (one attempt
each) are split by whether a fault was on. The last line is JSON:
{"bench": "faults", "accepted", "cases_running", "lost", "duplicated_side_effects", "p99_ms_calm",
"p99_ms_during_faults", ...}. Targets: lost 0, duplicated_side_effects 0."""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from bench.intake import register_agencies
from bench.load import percentile
from bench.registry_lookup import fresh_database
from bench.stack import DatabaseGate, Stack, running
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from services.complaints import store
from suite import db

BENCH = "faults"
RETRY_SECONDS = 0.5
# Where each fault falls in the minute, as shares of it: on, then off.
SCHEDULE = (("worker killed", 0.15, 0.25), ("temporal stopped", 0.4, 0.52), ("database cut", 0.68, 0.78))
SETTLE_SECONDS = 2.0  # after a fault ends, the calm starts again only this much later


@dataclass
class Intake:
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> case id
    refused: int = 0
    calm_ms: list[float] = field(default_factory=list)
    faulted_ms: list[float] = field(default_factory=list)
    # When each fault was on: [since, until], until open (infinite) while it lasts.
    windows: list[list[float]] = field(default_factory=list)

    def faulted(self, started: float, ended: float) -> bool:
        return any(started < until + SETTLE_SECONDS and ended > since for since, until in self.windows)


def report(credit_code: str) -> cpb.FileReportRequest:
    return cpb.FileReportRequest(
        idempotency_key=uuid.uuid4().hex, source=cpb.REPORT_SOURCE_PUBLIC,
        # a real-name reporter: the answer to an anonymous filing names no case (issue 15 item 3)
        reporter=cpb.Reporter(real_name=True, name="张三", phone="13800138000"),
        agency=cpb.ReportedAgency(credit_code=credit_code), category=cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING,
        description="该机构以“保证授权”为名招揽业务并收取高额费用。")


async def file_until_accepted(stub, request: cpb.FileReportRequest, intake: Intake, give_up_at: float) -> None:
    while True:
        started = time.monotonic()
        try:
            answer = await stub.FileReport(request, timeout=30)
        except grpc.aio.AioRpcError as error:
            _timed(intake, started)
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) \
                    or time.monotonic() > give_up_at:
                intake.refused += 1
                return
            await asyncio.sleep(RETRY_SECONDS)
            continue
        _timed(intake, started)
        intake.accepted[request.idempotency_key] = answer.case_id
        return


def _timed(intake: Intake, started: float) -> None:
    ended = time.monotonic()
    (intake.faulted_ms if intake.faulted(started, ended) else intake.calm_ms).append((ended - started) * 1000)


async def faults(stack: Stack, gate: DatabaseGate, seconds: float, began: float, intake: Intake) -> None:
    async def at(share: float) -> None:
        await asyncio.sleep(max(0.0, began + share * seconds - time.monotonic()))

    for name, on, off in SCHEDULE:
        await at(on)
        window = [time.monotonic(), float("inf")]
        intake.windows.append(window)
        if name == "worker killed":
            stack.kill("worker")
        elif name == "temporal stopped":
            stack.stop("temporal")
        else:
            await gate.shut()
        await at(off)
        if name == "worker killed":
            await stack.start("worker")
        elif name == "temporal stopped":
            await stack.start("temporal")
        else:
            await gate.open()
        window[1] = time.monotonic()
        print(f"{name}: {window[1] - window[0]:.1f} s", flush=True)


async def steady_intake(stack: Stack, gate: DatabaseGate, codes: list[str], rate: float, seconds: float) -> Intake:
    intake = Intake()
    async with grpc.aio.insecure_channel(stack.address("complaints")) as channel:
        stub = cpb_grpc.ComplaintsServiceStub(channel)
        began = time.monotonic()
        breaking = asyncio.create_task(faults(stack, gate, seconds, began, intake))
        filings = []
        for index, code in enumerate(codes):
            await asyncio.sleep(max(0.0, began + index / rate - time.monotonic()))
            filings.append(asyncio.create_task(file_until_accepted(stub, report(code), intake, began + seconds + 60)))
        await breaking
        await asyncio.gather(*filings)
    return intake


async def running_cases(client: Client, case_ids: set[str], wait_seconds: float) -> set[str]:
    """The cases whose workflow runs (or has ended), once all do or the wait is over."""
    deadline = time.monotonic() + wait_seconds
    found: set[str] = set()
    while True:
        for case_id in case_ids - found:
            try:
                status = (await client.get_workflow_handle(case_id).describe()).status
            except RPCError:
                continue
            if status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
                found.add(case_id)
        if found == case_ids or time.monotonic() > deadline:
            return found
        await asyncio.sleep(1)


async def duplicated(stack: Stack, client: Client, intake: Intake) -> int:
    runs = (await client.count_workflows("WorkflowType = 'Case'")).count
    extra_runs = max(0, runs - len(set(intake.accepted.values())))
    engine = db.create_engine(stack.direct_complaints_url)
    try:
        async with db.sessionmaker(engine)() as session:
            reports = await session.scalar(select(func.count()).select_from(store.Report))
            received_twice = await session.scalar(select(func.count()).select_from(
                select(store.TimelineEntry.case_id).where(store.TimelineEntry.action == "received")
                .group_by(store.TimelineEntry.case_id)
                .having(func.count(func.distinct(store.TimelineEntry.revision)) > 1).subquery()))
    finally:
        await engine.dispose()
    return extra_runs + max(0, reports - len(intake.accepted)) + received_twice


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="ipss-bench-faults-"))
    count = int(args.rate * args.seconds)
    with fresh_database("sqlite", workdir) as registry_url, fresh_database("postgresql", workdir) as complaints_url:
        parsed = make_url(complaints_url)
        gate = DatabaseGate(parsed.host, parsed.port or 5432)
        await gate.open()
        try:
            async with running(workdir, registry_url, gate.url(complaints_url), complaints_url) as stack:
                codes = await register_agencies(count, 32, stack.address("registry"))
                intake = await steady_intake(stack, gate, codes, args.rate, args.seconds)
                client = await Client.connect(stack.temporal_address)
                cases = set(intake.accepted.values())
                running_now = await running_cases(client, cases, args.settle)
                duplicates = await duplicated(stack, client, intake)
        finally:
            await gate.shut()
    return dict(bench=BENCH, rate_per_s=args.rate, seconds=args.seconds, offered=count,
                accepted=len(intake.accepted), refused=intake.refused, cases_running=len(running_now),
                lost=len(cases - running_now), duplicated_side_effects=duplicates,
                p99_ms_calm=round(percentile(sorted(intake.calm_ms), 0.99), 1),
                p99_ms_during_faults=round(percentile(sorted(intake.faulted_ms), 0.99), 1),
                faults=[name for name, _, _ in SCHEDULE], workdir=str(workdir))


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n")[0])
    options.add_argument("--rate", type=float, default=10.0, help="reports a second (default 10)")
    options.add_argument("--seconds", type=float, default=60.0, help="how long intake runs (default 60)")
    options.add_argument("--settle", type=float, default=120.0,
                         help="how long to wait for every accepted case to run (default 120)")
    return options


def main(argv: list[str] | None = None) -> int:
    result = asyncio.run(run(parser().parse_args(argv)))
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if result["lost"] == 0 and result["duplicated_side_effects"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
