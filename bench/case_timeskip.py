"""Wall time of whole cases on the time-skipping Temporal server.

    python -m bench.case_timeskip [--cases 5]

Each case is a citizen's report run through the real registry and complaints services (SQLite in
a temporary directory) and the suite's worker: opened after 3 days, a fine proposed and decided,
served, paid, and closed after its review windows: about 230 legal days, of which the 90-day
decision period is one part. The clock is the time-skipping server's; the legal calendar runs on
2026 (its working-day schedule is known). The last line is one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import grpc
from temporalio.testing import WorkflowEnvironment

from bench.load import percentile
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from ipss.registry.v1 import registry_pb2_grpc as rpb_grpc
from suite import auth, clock, config, migrate, testdata
from contracts import search_attributes
from workflows.worker import Activities, build_worker

BENCH = "case_timeskip"
QUEUE = "bench-case-timeskip"
# (legal day, action, fields): a fine case from report to archive.
PROCEDURE = [
    ("2026-03-05", "OpenCase", {"reason": "线索属实"}),
    ("2026-04-01", "ProposePenalty", {"penalty": cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=50000),
                                      "reason": "虚假宣传"}),
    ("2026-04-15", "SubmitDecision", {"penalty": cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=50000),
                                      "reason": "维持"}),
    ("2026-04-15", "ApproveDecision", {}),
    ("2026-04-16", "RecordService", {"party_present": True}),
    ("2026-05-06", "RecordPayment", {"amount_cny": 50000}),
    ("2026-10-19", "CloseCase", {}),
]
FIRST_DAY = date(2026, 3, 2)


class ScenarioClock(clock.LegalClock):
    def __init__(self) -> None:
        super().__init__()
        self.day = FIRST_DAY

    def today(self) -> date:
        return self.day


def token(role: str, subject: str) -> tuple:
    return (("authorization", f"Bearer {auth.mint(role, subject)}"),)


async def one_case(env, legal: ScenarioClock, registry, complaints) -> float:
    now = (await env.get_current_time()).astimezone(clock.CHINA)
    six = datetime.combine(now.date() + timedelta(days=1), clock_time(6), tzinfo=clock.CHINA)
    await env.sleep(six - now)
    legal.day, legal.offset_days = FIRST_DAY, (six.date() - FIRST_DAY).days
    started = time.perf_counter()
    agency = testdata.agency_request("110108")
    await registry.CreateAgency(agency, metadata=token("operator", "bench"))
    filed = await complaints.FileReport(cpb.FileReportRequest(
        idempotency_key=uuid.uuid4().hex, source=cpb.REPORT_SOURCE_PUBLIC,
        # a real-name reporter: the answer to an anonymous filing names no case (issue 15 item 3)
        reporter=cpb.Reporter(real_name=True, name="张三", phone="13800138000"),
        agency=cpb.ReportedAgency(credit_code=agency.credit_code), category=cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING,
        description="承诺授权率百分之百，与事实不符。"), metadata=token("citizen", "bench-citizen"))
    for day, rpc, fields in PROCEDURE:
        target = date.fromisoformat(day)
        await env.sleep(timedelta(days=(target - legal.day).days))
        legal.day = target
        actor = ("supervisor", "bench-supervisor") if rpc == "ApproveDecision" else ("handler", "bench-handler")
        request = getattr(cpb, f"{rpc}Request")(idempotency_key=uuid.uuid4().hex, case_id=filed.case_id, **fields)
        case = (await getattr(complaints, rpc)(request, metadata=token(*actor))).case
    assert case.summary.stage == cpb.CASE_STAGE_CLOSED, case.summary
    return time.perf_counter() - started


async def run(cases: int) -> dict:
    from services.complaints.server import build as build_complaints
    from services.registry.server import build as build_registry

    work = Path(tempfile.mkdtemp(prefix="ipss-bench-timeskip-"))
    urls = {name: f"sqlite+aiosqlite:///{work / name}.db" for name in ("registry", "complaints")}
    for name, url in urls.items():
        migrate.upgrade(name, database_url=url)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"))
    await search_attributes.register(env.client)
    legal = ScenarioClock()
    registry_server, registry_store = build_registry(database_url=urls["registry"])
    registry_port = await registry_server.start("127.0.0.1:0")
    complaints_server, complaints_parts = build_complaints(
        database_url=urls["complaints"], registry_address=f"127.0.0.1:{registry_port}", temporal_client=env.client,
        temporal_settings=config.TemporalSettings("", "default", QUEUE), legal_clock=legal, key=b"bench")
    complaints_port = await complaints_server.start("127.0.0.1:0")
    activities = Activities.connect(f"127.0.0.1:{registry_port}", f"127.0.0.1:{complaints_port}")
    walls = []
    try:
        async with build_worker(env.client, activities, QUEUE), \
                grpc.aio.insecure_channel(f"127.0.0.1:{registry_port}") as r, \
                grpc.aio.insecure_channel(f"127.0.0.1:{complaints_port}") as c:
            for _ in range(cases):
                walls.append(await one_case(env, legal, rpb_grpc.RegistryServiceStub(r),
                                            cpb_grpc.ComplaintsServiceStub(c)))
    finally:
        await activities.close()
        await complaints_server.stop(0)
        await complaints_parts.close()
        await registry_server.stop(0)
        await registry_store.engine.dispose()
        await env.shutdown()
    walls.sort()
    legal_days = (date.fromisoformat(PROCEDURE[-1][0]) - FIRST_DAY).days
    return {"bench": BENCH, "cases": cases, "legal_days": legal_days,
            "wall_s_p50": round(percentile(walls, 0.5), 3), "wall_s_max": round(walls[-1], 3)}


def main(argv: list[str] | None = None) -> int:
    root = argparse.ArgumentParser(prog="python -m bench.case_timeskip", description=__doc__.split("\n\n")[0])
    root.add_argument("--cases", type=int, default=5)
    result = asyncio.run(run(root.parse_args(argv).cases))
    print(f"{result['cases']} cases of {result['legal_days']} legal days: {result['wall_s_p50']} s wall "
          f"(median), {result['wall_s_max']} s at most")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
