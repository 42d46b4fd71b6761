"""Credit repair (信用修复): the registry's applications over loopback gRPC, once per database, and
each application's CreditRepair workflow on Temporal's time-skipping server with the suite's worker.

A scenario's legal calendar is in the past (tests.legal_time), so that the public register, which
answers on the wall clock's day, shows what a grant made of a penalty. The penalty is a fine of
2025-03-10, public until 2028-03-10: a repair may be asked for after six months of publicity
(credit_repair_after), from 2025-09-11, and is refused the day before; a grant on 2025-09-15 ends the
publicity on 2025-09-14. A refusal carries its reason; whoever checked never decides; an
application undecided when the publicity would have ended lapses the day after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta

import grpc
import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from contracts import search_attributes
from contracts.credit_repair import VIEW_QUERY, CreditRepairView
from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from rules import Rules, WorkingDayCalendar
from services.registry import store as registry_store
from services.registry.server import build
from suite import config, migrate, testdata
from tests.conftest import BACKENDS, fresh_database, metadata, token
from tests.grpc_checks import error_info, eventually, field_reasons, refused
from tests.legal_time import ScenarioClock, goto, start_on
from tests.test_agency_suspension_workflow import TEST_SERVER, WORKER_SUBJECT
from workflows.worker import WORKFLOWS, Activities, build_worker

OPERATOR, PUBLIC = metadata("operator"), metadata("public")
MACHINE = metadata("machine")  # the worker's and the services' own calls
HANDLER = metadata("handler", "110000", subject="handler-wang")
SUPERVISOR = metadata("supervisor", "110000", subject="supervisor-li")
OTHER_SUPERVISOR = metadata("supervisor", "110000", subject="supervisor-zhao")
DECIDED_ON, PUBLIC_UNTIL = date(2025, 3, 10), date(2028, 3, 10)
ELIGIBLE_FROM = date(2025, 9, 11)
FAILED, INVALID, DENIED = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT,
                           grpc.StatusCode.PERMISSION_DENIED)


def key() -> str:
    return uuid.uuid4().hex


def eligible_from(decided_on: date) -> date:
    """The day after credit_repair_after of publicity, from the rules file and the calendar."""
    return WorkingDayCalendar.load().deadline(decided_on, Rules.load().periods["credit_repair_after"]) + \
        timedelta(days=1)


@pytest.fixture(params=BACKENDS)
def database(request) -> str:
    with fresh_database(request.param) as url:
        migrate.upgrade("registry", database_url=url)
        yield url


@pytest.fixture
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    assert TEST_SERVER, "temporal-test-server is not installed next to the interpreter"
    async with await WorkflowEnvironment.start_time_skipping(test_server_existing_path=TEST_SERVER) as env:
        await search_attributes.register(env.client)
        yield env


@asynccontextmanager
async def registry_on(database_url: str, legal: ScenarioClock, temporal: WorkflowEnvironment | None = None
                      ) -> AsyncIterator[tuple[pb_grpc.RegistryServiceStub, str, str, registry_store.RegistryStore]]:
    """The registry on the database, answering on the scenario's legal day, starting its workflows
    on the time-skipping server's task queue (a stub, its address, the queue and its store); with
    no server, on a Temporal address nothing answers."""
    queue = f"credit-repair-{key()[:8]}"
    settings = config.TemporalSettings(address="127.0.0.1:9", namespace="default", task_queue=queue)
    server, store = build(database_url=database_url, legal_clock=legal, temporal_settings=settings,
                          temporal_client=temporal.client if temporal else None, update_wait_seconds=10)
    address = f"127.0.0.1:{await server.start('127.0.0.1:0')}"
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            yield pb_grpc.RegistryServiceStub(channel), address, queue, store
    finally:
        await server.stop(0)
        await store.close()


@asynccontextmanager
async def worker(temporal: WorkflowEnvironment, address: str, queue: str) -> AsyncIterator[None]:
    activities = Activities.connect(registry_address=address, token=token("machine", subject=WORKER_SUBJECT))
    try:
        async with build_worker(temporal.client, activities, queue):
            yield
    finally:
        await activities.close()


async def new_agency(api) -> pb.Agency:
    return (await api.CreateAgency(testdata.agency_request("110108", established_on="2016-03-01"),
                                   metadata=OPERATOR)).agency


async def penalty(api, agency_id: str, kind=pb.CREDIT_EVENT_KIND_FINE, fine_cny: int = 50_000,
                  decided_on: date = DECIDED_ON, public_until: date = PUBLIC_UNTIL) -> pb.CreditEvent:
    return (await api.RecordCreditEvent(pb.RecordCreditEventRequest(
        idempotency_key=key(), agency_id=agency_id, kind=kind, source=pb.CREDIT_EVENT_SOURCE_CASE,
        source_reference=f"case-2025-110000-{key()[:6]}", occurred_on=decided_on.isoformat(),
        publicity_ends_on=public_until.isoformat(), summary="以不正当手段招揽业务，罚款五万元", fine_cny=fine_cny),
        metadata=OPERATOR)).event


def application(agency_id: str, *event_ids: str, idempotency_key: str = "") -> pb.ApplyForCreditRepairRequest:
    return pb.ApplyForCreditRepairRequest(
        idempotency_key=idempotency_key or key(), agency_id=agency_id, credit_event_ids=list(event_ids),
        statement="本机构已整改到位，申请提前停止公示，并承诺守法诚信经营", compliance="罚款已于2025-03-20缴清")


async def apply(api, agency_id: str, *event_ids: str, caller=HANDLER) -> pb.CreditRepair:
    return (await api.ApplyForCreditRepair(application(agency_id, *event_ids), metadata=caller)).repair


async def check(api, repair_id: str, caller=HANDLER, outcome=pb.CREDIT_REPAIR_CHECK_OUTCOME_FOR_DECISION,
                evidence: str = "罚没款缴款书 No.1100250320", reason: str = "", idempotency_key: str = ""):
    return (await api.CheckCreditRepair(pb.CheckCreditRepairRequest(
        idempotency_key=idempotency_key or key(), repair_id=repair_id, outcome=outcome, compliance_evidence=evidence,
        reason=reason), metadata=caller)).repair


async def decide(api, repair_id: str, caller=OTHER_SUPERVISOR, decision=pb.CREDIT_REPAIR_DECISION_GRANT,
                 reason: str = "", idempotency_key: str = ""):
    return (await api.DecideCreditRepair(pb.DecideCreditRepairRequest(
        idempotency_key=idempotency_key or key(), repair_id=repair_id, decision=decision, reason=reason),
        metadata=caller)).repair


async def public_entry(api, agency: pb.Agency) -> pb.PublicAgency:
    (entry,) = (await api.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query=agency.credit_code),
                                             metadata=PUBLIC)).agencies
    return entry


async def counted(api, agency_id: str, as_of: date) -> list[int]:
    profile = (await api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id=agency_id, as_of=as_of.isoformat()),
                                          metadata=HANDLER)).profile
    return [reason.kind for reason in profile.reasons]


def reason_of(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    info = error_info(error)
    return info.reason, dict(info.metadata)


# ---- who may ask, and when ---------------------------------------------------------------------

async def test_only_penalties_the_rules_allow_are_repaired_and_only_from_their_day(database):
    assert eligible_from(DECIDED_ON) == ELIGIBLE_FROM
    legal = ScenarioClock(ELIGIBLE_FROM - timedelta(days=1))
    async with registry_on(database, legal) as (api, _, _, store):
        agency, stranger = await new_agency(api), await new_agency(api)
        fine = await penalty(api, agency.id)
        low_fine = await penalty(api, agency.id, fine_cny=5_000, public_until=date(2025, 6, 10))
        warning = await penalty(api, agency.id, kind=pb.CREDIT_EVENT_KIND_WARNING, fine_cny=0)
        suspension = await penalty(api, agency.id, kind=pb.CREDIT_EVENT_KIND_SUSPENSION, fine_cny=0)
        filing = await penalty(api, agency.id, kind=pb.CREDIT_EVENT_KIND_ABNORMAL_PATENT_FILING, fine_cny=0)
        ended = await penalty(api, agency.id, public_until=date(2025, 9, 1))
        withdrawn = await penalty(api, agency.id)
        await api.WithdrawCreditEvent(pb.WithdrawCreditEventRequest(
            idempotency_key=key(), event_id=withdrawn.id, withdrawn_on="2025-08-01", reason="复议撤销"),
            metadata=OPERATOR)

        # The day before: not yet, and the refusal names the first day.
        error = await refused(api.ApplyForCreditRepair(application(agency.id, fine.id), metadata=HANDLER), FAILED)
        assert reason_of(error) == ("CREDIT_REPAIR_NOT_YET", {"eligible_from": "2025-09-11",
                                                              "credit_event_id": fine.id})
        legal.day = ELIGIBLE_FROM
        for event, expected in ((low_fine, "CREDIT_REPAIR_NOT_FOR_LIGHT_PENALTY"), (warning, "CREDIT_REPAIR_NOT_FOR_LIGHT_PENALTY"),
                                (suspension, "CREDIT_REPAIR_NOT_FOR_KIND"), (filing, "CREDIT_REPAIR_NOT_FOR_KIND"),
                                (ended, "PUBLICITY_ALREADY_ENDED"), (withdrawn, "CREDIT_EVENT_WITHDRAWN")):
            error = await refused(api.ApplyForCreditRepair(application(agency.id, event.id), metadata=HANDLER),
                                  FAILED)
            assert reason_of(error)[0] == expected, event.kind
        light = await penalty(api, agency.id, fine_cny=5_000)  # public for longer than it should, still light
        error = await refused(api.ApplyForCreditRepair(application(agency.id, light.id), metadata=HANDLER), FAILED)
        assert reason_of(error) == ("CREDIT_REPAIR_NOT_FOR_LIGHT_PENALTY", {"event_kind": "fine",
                                                                            "credit_event_id": light.id})
        # Another agency's penalty, one that does not exist, one named twice.
        error = await refused(api.ApplyForCreditRepair(application(stranger.id, fine.id), metadata=HANDLER),
                              grpc.StatusCode.NOT_FOUND)
        assert reason_of(error) == ("CREDIT_EVENT_NOT_FOUND", {"key": fine.id})
        error = await refused(api.ApplyForCreditRepair(application(agency.id, fine.id, fine.id), metadata=HANDLER),
                              INVALID)
        assert field_reasons(error) == {"credit_event_ids[1]": "NAMED_TWICE"}
        # Outside the caller's region.
        await refused(api.ApplyForCreditRepair(application(agency.id, fine.id),
                                               metadata=metadata("handler", "310000")), DENIED)
        assert await outbox_rows(store) == 0

        # On its day it is filed, once for a retried request; while it is open, no second one.
        request = application(agency.id, fine.id)
        first = (await api.ApplyForCreditRepair(request, metadata=HANDLER)).repair
        again = (await api.ApplyForCreditRepair(request, metadata=HANDLER)).repair
        assert first == again
        assert (first.stage, first.applied_on, first.eligible_from, first.applicant) == (
            pb.CREDIT_REPAIR_STAGE_AWAITING_CHECK, "2025-09-11", "2025-09-11", "handler-wang")
        assert [(e.credit_event_id, e.publicity_ends_on) for e in first.events] == [(fine.id, "2028-03-10")]
        error = await refused(api.ApplyForCreditRepair(application(agency.id, fine.id), metadata=HANDLER), FAILED)
        assert reason_of(error) == ("CREDIT_REPAIR_ALREADY_OPEN", {"repair_id": first.id, "credit_event_id": fine.id})
        # Temporal is away: the application is on record, its workflow's start waits in the outbox,
        # and a step cannot be taken yet.
        assert await outbox_rows(store) == 1
        error = await refused(check(api, first.id), grpc.StatusCode.UNAVAILABLE)
        assert reason_of(error)[0] == "WORKFLOW_NOT_ANSWERING"
        listed = (await api.ListCreditRepairs(pb.ListCreditRepairsRequest(open_only=True), metadata=HANDLER)).repairs
        assert [r.id for r in listed] == [first.id]
        assert not (await api.ListCreditRepairs(pb.ListCreditRepairsRequest(open_only=True),
                                                metadata=metadata("handler", "310000"))).repairs
        # Two penalties at once: the application may be made from the later of their days.
        other = await new_agency(api)
        later, earlier = await penalty(api, other.id), await penalty(api, other.id, decided_on=date(2025, 2, 1))
        both = await apply(api, other.id, later.id, earlier.id)
        assert (both.eligible_from, [e.credit_event_id for e in both.events]) == ("2025-09-11", [later.id, earlier.id])


async def test_an_association_applies_for_its_members_and_nobody_while_on_a_credit_list(database):
    legal = ScenarioClock(ELIGIBLE_FROM)
    async with registry_on(database, legal) as (api, _, _, _):
        member, listed = await new_agency(api), await new_agency(api)
        association = (await api.CreateAssociation(pb.CreateAssociationRequest(
            idempotency_key=key(), name=f"专利代理师协会{key()[:6]}", credit_code=testdata.credit_code("110000"),
            region_code="110000", kinds=[pb.AGENCY_KIND_PATENT]), metadata=OPERATOR)).association
        await api.AdmitMember(pb.AdmitMemberRequest(idempotency_key=key(), association_id=association.id,
                                                    agency_id=member.id, joined_on="2020-01-01"), metadata=OPERATOR)
        for agency in (member, listed):
            await api.FileAnnualReport(pb.FileAnnualReportRequest(
                idempotency_key=key(), agency_id=agency.id, year=2023, filed_on="2024-03-10", employees=5,
                practitioners=2, revenue_cny=1_000_000), metadata=OPERATOR)
        await api.FileAnnualReport(pb.FileAnnualReportRequest(
            idempotency_key=key(), agency_id=member.id, year=2024, filed_on="2025-03-10", employees=5,
            practitioners=2, revenue_cny=1_000_000), metadata=OPERATOR)
        await api.ListAnnualReportNonFilers(pb.ListAnnualReportNonFilersRequest(report_year=2024,
                                                                                listed_on="2025-04-01"),
                                            metadata=MACHINE)
        caller = metadata("association", association_id=association.id)
        on_list = await penalty(api, listed.id)
        error = await refused(api.ApplyForCreditRepair(application(listed.id, on_list.id), metadata=HANDLER), FAILED)
        assert reason_of(error) == ("AGENCY_ON_CREDIT_LIST", {"list": "abnormal_operation"})
        await refused(api.ApplyForCreditRepair(application(listed.id, on_list.id), metadata=caller),
                      grpc.StatusCode.NOT_FOUND)

        repair = await apply(api, member.id, (await penalty(api, member.id)).id, caller=caller)
        assert (repair.association_id, repair.applicant) == (association.id, "test-association")
        seen = (await api.GetCreditRepair(pb.GetCreditRepairRequest(id=repair.id), metadata=caller)).repair
        assert seen.id == repair.id
        other = metadata("association", association_id="as-another")
        await refused(api.GetCreditRepair(pb.GetCreditRepairRequest(id=repair.id), metadata=other),
                      grpc.StatusCode.NOT_FOUND)
        # An association takes no step of the office's.
        await refused(check(api, repair.id, caller=caller), DENIED)


async def outbox_rows(store: registry_store.RegistryStore) -> int:
    async with store.sessions() as session:
        return await session.scalar(select(func.count()).select_from(registry_store.WorkflowOutbox))


# ---- the workflow's steps and clock ------------------------------------------------------------

async def test_a_grant_ends_the_publicity_the_day_before_and_the_register_says_it_was_repaired(temporal, database):
    legal = ScenarioClock(ELIGIBLE_FROM)
    async with registry_on(database, legal, temporal) as (api, address, queue, store):
        async with worker(temporal, address, queue):
            await start_on(temporal, legal, (ELIGIBLE_FROM - timedelta(days=1)).isoformat())
            agency = await new_agency(api)
            fine = await penalty(api, agency.id)
            error = await refused(api.ApplyForCreditRepair(application(agency.id, fine.id), metadata=HANDLER), FAILED)
            assert reason_of(error)[0] == "CREDIT_REPAIR_NOT_YET"

            await goto(temporal, legal, ELIGIBLE_FROM.isoformat())
            repair = await apply(api, agency.id, fine.id)
            handle = temporal.client.get_workflow_handle(repair.workflow_id, result_type=CreditRepairView)
            view = await eventually(lambda: _view(handle))
            assert (view.stage, view.lapses_on) == ("awaiting_check", "2028-03-11")
            # The application is not decided before it is checked, nor by a handler at all.
            error = await refused(decide(api, repair.id), FAILED)
            assert reason_of(error) == ("CREDIT_REPAIR_NOT_IN_STAGE", {"repair_step": "decide",
                                                                       "repair_stage": "awaiting_check"})
            await refused(decide(api, repair.id, caller=HANDLER), DENIED)
            error = await refused(check(api, repair.id, evidence=""), INVALID)
            assert field_reasons(error) == {"compliance_evidence": "COMPLIANCE_EVIDENCE_REQUIRED"}

            checking = key()
            checked = await check(api, repair.id, idempotency_key=checking)
            assert (checked.stage, checked.checked_by, checked.checked_on, checked.compliance_evidence) == (
                pb.CREDIT_REPAIR_STAGE_AWAITING_DECISION, "handler-wang", "2025-09-11", "罚没款缴款书 No.1100250320")
            assert await check(api, repair.id, idempotency_key=checking) == checked  # a retry changes nothing

            await goto(temporal, legal, "2025-09-15")
            assert await counted(api, agency.id, date(2025, 9, 15)) == [pb.CREDIT_EVENT_KIND_FINE]
            deciding = key()
            granted = await decide(api, repair.id, idempotency_key=deciding)
            assert await decide(api, repair.id, idempotency_key=deciding) == granted  # a retry changes nothing
            assert (granted.stage, granted.decided_by, granted.decided_on) == (
                pb.CREDIT_REPAIR_STAGE_GRANTED, "supervisor-zhao", "2025-09-15")
            # Public until the day before the grant, no longer counted from it.
            assert [e.publicity_ends_on for e in granted.events] == ["2025-09-14"]
            assert await counted(api, agency.id, date(2025, 9, 14)) == [pb.CREDIT_EVENT_KIND_FINE]
            assert await counted(api, agency.id, date(2025, 9, 15)) == []
            # The register (today, after the grant) shows no penalty, and says it was repaired.
            entry = await public_entry(api, agency)
            assert not entry.penalties
            assert [(r.kind, r.decided_on, r.repaired_on) for r in entry.repairs] == [
                (pb.CREDIT_EVENT_KIND_FINE, "2025-03-10", "2025-09-15")]
            outcome = await handle.result()
            assert (outcome.stage, outcome.checked_on, outcome.decided_on) == ("granted", "2025-09-11", "2025-09-15")
            # Repaired once: the penalty cannot be asked for again.
            error = await refused(api.ApplyForCreditRepair(application(agency.id, fine.id), metadata=HANDLER), FAILED)
            assert reason_of(error) == ("CREDIT_EVENT_ALREADY_REPAIRED", {"repaired_on": "2025-09-15",
                                                                          "credit_event_id": fine.id})
    await Replayer(workflows=WORKFLOWS).replay_workflow(await handle.fetch_history())


async def _view(handle) -> CreditRepairView:
    return await handle.query(VIEW_QUERY, result_type=CreditRepairView)


async def test_a_refusal_carries_its_reason_and_whoever_checked_never_decides(temporal, database):
    legal = ScenarioClock(ELIGIBLE_FROM)
    async with registry_on(database, legal, temporal) as (api, address, queue, _):
        async with worker(temporal, address, queue):
            await start_on(temporal, legal, ELIGIBLE_FROM.isoformat())
            agency = await new_agency(api)
            fine = await penalty(api, agency.id)
            repair = await apply(api, agency.id, fine.id)
            await eventually(lambda: _view(temporal.client.get_workflow_handle(repair.workflow_id, result_type=CreditRepairView)))
            # A supervisor may check, but then another supervisor decides (four eyes).
            await check(api, repair.id, caller=SUPERVISOR)
            error = await refused(decide(api, repair.id, caller=SUPERVISOR), FAILED)
            assert reason_of(error) == ("FOUR_EYES_CREDIT_REPAIR", {"checked_by": "supervisor-li"})
            error = await refused(decide(api, repair.id, decision=pb.CREDIT_REPAIR_DECISION_REFUSE), INVALID)
            assert field_reasons(error) == {"reason": "REFUSAL_REASON_REQUIRED"}

            await goto(temporal, legal, "2025-09-16")
            because = "当事人因同一类违法行为于2025年7月再次受到行政处罚（第六条第三项）"
            refusal = await decide(api, repair.id, decision=pb.CREDIT_REPAIR_DECISION_REFUSE, reason=because)
            assert (refusal.stage, refusal.decided_by, refusal.decided_on, refusal.refusal_reason) == (
                pb.CREDIT_REPAIR_STAGE_REFUSED, "supervisor-zhao", "2025-09-16", because)
            # Nothing changed of the penalty: still public until its day, still on the register.
            assert [e.publicity_ends_on for e in refusal.events] == ["2028-03-10"]
            entry = await public_entry(api, agency)
            assert [p.decided_on for p in entry.penalties] == ["2025-03-10"] and not entry.repairs
            error = await refused(check(api, repair.id), FAILED)
            assert reason_of(error)[0] == "CREDIT_REPAIR_NOT_IN_STAGE"

            # A new application may be made; a handler refuses it at the check, saying why.
            second = await apply(api, agency.id, fine.id)
            await eventually(lambda: _view(temporal.client.get_workflow_handle(second.workflow_id, result_type=CreditRepairView)))
            refused_at_check = await check(api, second.id, outcome=pb.CREDIT_REPAIR_CHECK_OUTCOME_REFUSE,
                                           evidence="", reason="未提供罚款缴纳凭证")
            assert (refused_at_check.stage, refused_at_check.checked_on, refused_at_check.refusal_reason,
                    refused_at_check.decided_on) == (pb.CREDIT_REPAIR_STAGE_REFUSED, "2025-09-16",
                                                     "未提供罚款缴纳凭证", "")
            outcome = await temporal.client.get_workflow_handle(second.workflow_id, result_type=CreditRepairView).result()
            assert (outcome.stage, outcome.refusal_reason) == ("refused", "未提供罚款缴纳凭证")


async def test_an_application_undecided_when_the_publicity_would_end_lapses_the_day_after(temporal, database):
    legal = ScenarioClock(ELIGIBLE_FROM)
    async with registry_on(database, legal, temporal) as (api, address, queue, _):
        async with worker(temporal, address, queue):
            await start_on(temporal, legal, "2025-12-01")
            agency = await new_agency(api)
            fine = await penalty(api, agency.id, public_until=date(2025, 12, 31))
            repair = await apply(api, agency.id, fine.id)
            handle = temporal.client.get_workflow_handle(repair.workflow_id, result_type=CreditRepairView)
            assert (await eventually(lambda: _view(handle))).lapses_on == "2026-01-01"
            await check(api, repair.id)
            await goto(temporal, legal, "2026-01-02")
            outcome = await handle.result()
            assert (outcome.stage, outcome.decided_on) == ("lapsed", "2026-01-01")
            lapsed = (await api.GetCreditRepair(pb.GetCreditRepairRequest(id=repair.id), metadata=HANDLER)).repair
            assert (lapsed.stage, lapsed.decided_on, lapsed.decided_by) == (pb.CREDIT_REPAIR_STAGE_LAPSED,
                                                                            "2026-01-01", "")
            assert [e.publicity_ends_on for e in lapsed.events] == ["2025-12-31"]
