"""Faults survived, on the real parts: the suite runs as separate processes (bench.stack) — a
Temporal dev server keeping its state in a file, the registry, the complaints service on
PostgreSQL behind a gate that can be shut, and the worker — and each test breaks one of them in
the middle of the work:

- the worker killed (SIGKILL) with 200 cases in flight, and another started: every case ends, and
  no side effect (the reporter's notice, the timeline entry) happens twice;
- the Temporal server stopped during intake and started again: every report accepted meanwhile
  becomes a running case, and the cases' durable timers are still set for their day;
- PostgreSQL unreachable during intake: UNAVAILABLE, nothing half-written, and a retry with the
  same idempotency key makes exactly one case;
- the complaints service killed in the middle of handlers' updates and started again: every
  retried action is applied once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from bench.stack import DatabaseGate, Stack, running
from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.complaints.v1 import complaints_pb2_grpc as pb_grpc
from ipss.registry.v1 import registry_pb2_grpc as reg_grpc
from services.complaints import store
from suite import db
from tests.conftest import fresh_database, metadata
from tests.grpc_checks import error_info, eventually
from tests.test_complaints_intake import key, new_agency, real_name, report

pytestmark = pytest.mark.slow

CITIZEN, HANDLER = metadata("citizen"), metadata("handler")
DECLINED_NOTICE = "opening-decision"


@asynccontextmanager
async def suite_processes(tmp_path: Path, gated: bool = False) -> AsyncIterator[tuple[Stack, DatabaseGate | None]]:
    """The suite's processes, the complaints database on PostgreSQL (behind a gate when asked)."""
    with fresh_database("sqlite") as registry_url, fresh_database("postgresql") as complaints_url:
        gate = None
        if gated:
            parsed = make_url(complaints_url)
            gate = DatabaseGate(parsed.host, parsed.port or 5432)
            await gate.open()
        try:
            async with running(tmp_path, registry_url, gate.url(complaints_url) if gate else complaints_url,
                               direct_complaints_url=complaints_url) as stack:
                yield stack, gate
        finally:
            if gate is not None:
                await gate.shut()


@asynccontextmanager
async def stubs(stack: Stack):
    async with grpc.aio.insecure_channel(stack.address("registry")) as registry, \
            grpc.aio.insecure_channel(stack.address("complaints")) as complaints:
        yield reg_grpc.RegistryServiceStub(registry), pb_grpc.ComplaintsServiceStub(complaints)


async def complaints_rows(stack: Stack, statement):
    engine = db.create_engine(stack.direct_complaints_url)
    try:
        async with db.sessionmaker(engine)() as session:
            return list((await session.execute(statement)).all())
    finally:
        await engine.dispose()


async def file_reports(registry, complaints, count: int, concurrency: int = 16) -> list[pb.FileReportResponse]:
    """`count` real-name reports, each on an agency of its own (so none joins another's case)."""
    limit = asyncio.Semaphore(concurrency)

    async def one() -> pb.FileReportResponse:
        async with limit:
            agency = await new_agency(registry)
            return await complaints.FileReport(report(agency, real_name()), metadata=CITIZEN)
    return list(await asyncio.gather(*(one() for _ in range(count))))


async def until_answered(call, request, caller, seconds: float = 120) -> object:
    """The call's answer, retried with the same request (and idempotency key) while the suite says
    UNAVAILABLE or DEADLINE_EXCEEDED."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            return await call(request, metadata=caller, timeout=35)
        except grpc.aio.AioRpcError as error:
            if error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) \
                    or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


def decline(case_id: str) -> pb.DeclineCaseRequest:
    return pb.DeclineCaseRequest(idempotency_key=key(), case_id=case_id, reason="线索不实，不予立案")


async def workflow_statuses(client: Client, case_ids: list[str]) -> Counter:
    async def status(case_id: str):
        try:
            return (await client.get_workflow_handle(case_id).describe()).status
        except RPCError:
            return None
    return Counter(await asyncio.gather(*(status(c) for c in case_ids)))


async def declined_once_each(stack: Stack, case_ids: list[str]) -> None:
    """Every case closed as not opened, with one `declined` entry and one notice to its reporter."""
    cases = dict(await complaints_rows(stack, select(store.Case.id, store.Case.outcome)
                                       .where(store.Case.id.in_(case_ids))))
    assert Counter(cases.values()) == {"not_opened": len(case_ids)}
    declined = Counter(dict(await complaints_rows(stack, select(
        store.TimelineEntry.case_id, func.count(func.distinct(store.TimelineEntry.revision)))
        .where(store.TimelineEntry.case_id.in_(case_ids), store.TimelineEntry.action == "declined")
        .group_by(store.TimelineEntry.case_id))))
    assert declined == Counter({case_id: 1 for case_id in case_ids})
    notices = Counter(dict(await complaints_rows(stack, select(store.Report.case_id, func.count())
                                                 .join(store.ReporterMessage,
                                                       store.ReporterMessage.report_id == store.Report.id)
                                                 .where(store.Report.case_id.in_(case_ids),
                                                        store.ReporterMessage.notice_key == DECLINED_NOTICE)
                                                 .group_by(store.Report.case_id))))
    assert notices == Counter({case_id: 1 for case_id in case_ids})


async def test_a_worker_killed_with_200_cases_in_flight_leaves_every_case_to_the_next(tmp_path):
    async with suite_processes(tmp_path) as (stack, _), stubs(stack) as (registry, complaints):
        client = await Client.connect(stack.temporal_address)
        filed = await file_reports(registry, complaints, 200)
        case_ids = [f.case_id for f in filed]
        assert len(set(case_ids)) == 200

        limit = asyncio.Semaphore(50)

        async def declined(case_id: str):
            async with limit:
                return await until_answered(complaints.DeclineCase, decline(case_id), HANDLER)
        actions = [asyncio.ensure_future(declined(c)) for c in case_ids]
        await eventually(lambda: _some_done(actions, 20), seconds=60)
        stack.kill("worker")
        assert not all(a.done() for a in actions), "every action ran before the kill: nothing was in flight"
        await stack.start("worker")
        answers = await asyncio.gather(*actions)

        assert {a.case.summary.stage for a in answers} == {pb.CASE_STAGE_CLOSED}
        statuses = await eventually(lambda: _all_completed(client, case_ids), seconds=120)
        assert statuses == Counter({WorkflowExecutionStatus.COMPLETED: 200})
        await declined_once_each(stack, case_ids)


async def _some_done(tasks, count: int) -> bool:
    return sum(t.done() for t in tasks) >= count


async def _all_completed(client: Client, case_ids: list[str]) -> Counter | None:
    statuses = await workflow_statuses(client, case_ids)
    return statuses if statuses == Counter({WorkflowExecutionStatus.COMPLETED: len(case_ids)}) else None


async def test_reports_accepted_while_temporal_is_stopped_become_running_cases(tmp_path):
    async with suite_processes(tmp_path) as (stack, _), stubs(stack) as (registry, complaints):
        client = await Client.connect(stack.temporal_address)
        before = await file_reports(registry, complaints, 5)
        timers = {f.case_id: await _pending_timers(client, f.case_id) for f in before}
        assert all(timers.values()), "each opened case sleeps until its next deadline"

        stack.stop("temporal")
        during = await file_reports(registry, complaints, 20)
        assert all(f.tracking_code and f.tracking_secret for f in during)
        await stack.start("temporal")
        after = await file_reports(registry, complaints, 5)

        client = await Client.connect(stack.temporal_address)
        case_ids = [f.case_id for f in (*before, *during, *after)]
        assert len(set(case_ids)) == 30
        statuses = await eventually(lambda: _all_running(client, case_ids), seconds=90)
        assert statuses == Counter({WorkflowExecutionStatus.RUNNING: 30})
        for case_id, pending in timers.items():
            assert await _pending_timers(client, case_id) == pending  # the same timers, for the same day
        unsent = await complaints_rows(stack, select(func.count()).select_from(store.WorkflowOutbox)
                                       .where(store.WorkflowOutbox.sent_at.is_(None)))
        assert unsent == [(0,)]


async def _all_running(client: Client, case_ids: list[str]) -> Counter | None:
    statuses = await workflow_statuses(client, case_ids)
    return statuses if statuses == Counter({WorkflowExecutionStatus.RUNNING: len(case_ids)}) else None


async def _pending_timers(client: Client, case_id: str) -> dict[str, object]:
    """The workflow's timers not yet fired or cancelled: their ids and the moment each fires."""
    history = await eventually(lambda: _history_with_timer(client, case_id), seconds=30)
    started, ended = {}, set()
    for event in history.events:
        if event.HasField("timer_started_event_attributes"):
            attributes = event.timer_started_event_attributes
            started[attributes.timer_id] = (event.event_time.ToDatetime()
                                            + attributes.start_to_fire_timeout.ToTimedelta())
        for name in ("timer_fired_event_attributes", "timer_canceled_event_attributes"):
            if event.HasField(name):
                ended.add(getattr(event, name).timer_id)
    return {timer: fires for timer, fires in started.items() if timer not in ended}


async def _history_with_timer(client: Client, case_id: str):
    history = await client.get_workflow_handle(case_id).fetch_history()
    return history if any(e.HasField("timer_started_event_attributes") for e in history.events) else None


async def test_a_database_cut_during_intake_answers_unavailable_and_a_retry_files_once(tmp_path):
    async with suite_processes(tmp_path, gated=True) as (stack, gate), stubs(stack) as (registry, complaints):
        await file_reports(registry, complaints, 3)
        agency = await new_agency(registry)
        request = report(agency, real_name())
        counted = [store.Case, store.Report, store.Reporter, store.WorkflowOutbox, store.IdempotencyRecord]
        before = [await _count(stack, model) for model in counted]

        await gate.shut()
        for _ in range(2):
            with pytest.raises(grpc.aio.AioRpcError) as refusal:
                await complaints.FileReport(request, metadata=CITIZEN, timeout=30)
            assert refusal.value.code() == grpc.StatusCode.UNAVAILABLE
            assert error_info(refusal.value).reason == "DATABASE_UNAVAILABLE"
        assert [await _count(stack, model) for model in counted] == before

        await gate.open()
        answer = await until_answered(complaints.FileReport, request, CITIZEN)
        again = await complaints.FileReport(request, metadata=CITIZEN)
        assert again == answer
        assert [await _count(stack, model) for model in counted] == [n + 1 for n in before]
        client = await Client.connect(stack.temporal_address)
        assert (await client.get_workflow_handle(answer.case_id).describe()).status == WorkflowExecutionStatus.RUNNING


async def _count(stack: Stack, model) -> int:
    [(count,)] = await complaints_rows(stack, select(func.count()).select_from(model))
    return count


async def test_the_complaints_service_killed_during_updates_applies_each_retried_action_once(tmp_path):
    async with suite_processes(tmp_path) as (stack, _):
        async with stubs(stack) as (registry, complaints):
            case_ids = [f.case_id for f in await file_reports(registry, complaints, 40)]
            requests = [decline(c) for c in case_ids]
            calls = [asyncio.ensure_future(complaints.DeclineCase(r, metadata=HANDLER, timeout=35))
                     for r in requests]
            await eventually(lambda: _some_done(calls, 5), seconds=60)
            stack.kill("complaints")
            await asyncio.gather(*calls, return_exceptions=True)
        await stack.start("complaints")
        async with stubs(stack) as (_, complaints):
            answers = await asyncio.gather(*(until_answered(complaints.DeclineCase, r, HANDLER) for r in requests))
        assert {a.case.summary.stage for a in answers} == {pb.CASE_STAGE_CLOSED}
        await declined_once_each(stack, case_ids)
