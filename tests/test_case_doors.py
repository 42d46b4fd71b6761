"""The procedure's remaining doors (issue 17, item 5) end to end on the time-skipping Temporal
server, with the real complaints service, registry and worker (tests/test_case_procedure.py's
Court): a case transferred to another office waits for it to accept (its verification period then
counts from the day of receipt) or return it; two open cases on the same conduct merged by a
supervisor (the reporters of both on one case, every one of them told, its clock running on, the
other closed as merged); a report on an entity the registry does not know, matched to the
registry entry the office then makes, the penalty landing on that entry's credit record. Dates on
the 2026 calendar, counted by hand in the comments (no holiday falls in March 2026)."""

from __future__ import annotations

import uuid

import grpc
import pytest
from sqlalchemy import select
from temporalio.worker import Replayer

from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.registry.v1 import registry_pb2 as rpb
from services.registry import store as registry_store
from suite import testdata
from tests.conftest import metadata
from tests.grpc_checks import error_info, field_reasons
from tests.test_case_procedure import HANDLER, OFFICE, SUPERVISOR, Court, convened, deadline
from workflows.worker import WORKFLOWS

SHANGHAI = "310000"
SHANGHAI_HANDLER = "handler-sh-chen"


class Doors(Court):
    async def act_at(self, office: str, rpc: str, case_id: str, actor: str = SHANGHAI_HANDLER, **fields) -> cpb.Case:
        """An action by an officer of another office than the court's."""
        role = "supervisor" if actor.startswith("supervisor") else "handler"
        request = getattr(cpb, f"{rpc}Request")(idempotency_key=uuid.uuid4().hex, case_id=case_id, **fields)
        return (await getattr(self.complaints, rpc)(request, metadata=metadata(role, office, subject=actor))).case

    async def refused_at(self, office: str, rpc: str, case_id: str, actor: str = SHANGHAI_HANDLER,
                         **fields) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as refusal:
            await self.act_at(office, rpc, case_id, actor, **fields)
        error_info(refusal.value)
        return refusal.value

    async def status_of(self, filed: cpb.FileReportResponse) -> cpb.GetReportStatusResponse:
        return await self.complaints.GetReportStatus(cpb.GetReportStatusRequest(
            tracking_code=filed.tracking_code, tracking_secret=filed.tracking_secret))

    async def merge(self, case_id: str, into_case_id: str, key: str = "", actor: str = SUPERVISOR
                    ) -> cpb.MergeCasesResponse:
        role = "supervisor" if actor.startswith("supervisor") else "handler"
        return await self.complaints.MergeCases(cpb.MergeCasesRequest(
            idempotency_key=key or uuid.uuid4().hex, case_id=case_id, into_case_id=into_case_id,
            reason="同一机构同一虚假宣传行为，合并办理"), metadata=metadata(role, OFFICE, subject=actor))


@pytest.fixture(scope="module")
async def court(registry):
    async with convened(registry, Doors) as court:
        yield court


def running(case: cpb.Case, period_id: str) -> cpb.Deadline:
    """The period as it runs now (a transferred case keeps the sending office's, ended, beside it)."""
    [found] = [d for d in case.deadlines if d.period_id == period_id and d.state in ("running", "paused")]
    return found


# ---- transfers: accepted (the clock from receipt) or returned -------------------------------------------

async def test_a_transferred_case_waits_and_the_receiving_office_counts_from_receipt(court: Doors):
    await court.start_on("2026-03-02")
    filed = await court.report(await court.agency())
    late_entry = await court.report(await court.agency())
    await court.goto("2026-03-04")
    case = await court.act("TransferCase", filed.case_id, target_region_code=SHANGHAI, reason="机构实际经营地在上海")
    await court.act("TransferCase", late_entry.case_id, target_region_code=SHANGHAI, reason="机构实际经营地在上海")
    assert (case.summary.stage, case.summary.status, case.summary.region_code,
            case.summary.transferred_from_region_code) == (
        cpb.CASE_STAGE_AWAITING_ACCEPTANCE, "awaiting_acceptance", SHANGHAI, "110108")
    assert deadline(case, "verify_and_open").state == "paused"  # no office's clock runs meanwhile
    assert sorted(case.allowed_actions) == ["accept_transfer", "return_transfer"]
    refusal = await court.refused("AcceptTransfer", filed.case_id)  # Beijing no longer reaches it
    assert refusal.code() == grpc.StatusCode.PERMISSION_DENIED
    refusal = await court.refused_at(SHANGHAI, "OpenCase", filed.case_id)
    assert (refusal.code(), error_info(refusal).reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                             "ACTION_NOT_IN_STAGE")
    queue = await court.complaints.ListCases(cpb.ListCasesRequest(
        region_code=SHANGHAI, stages=[cpb.CASE_STAGE_AWAITING_ACCEPTANCE], page_size=500),
        metadata=metadata("handler", SHANGHAI))
    assert {filed.case_id, late_entry.case_id} <= {c.case_id for c in queue.cases}

    # Received and accepted on Monday 03-09: 15 working days from it, 03-10..03-13, 03-16..03-20,
    # 03-23..03-27, 03-30; the warning at 12 of them, 03-25.
    await court.goto("2026-03-09")
    case = await court.act_at(SHANGHAI, "AcceptTransfer", filed.case_id, reason="已签收移送材料")
    assert (case.summary.stage, case.summary.status, case.summary.region_code) == (
        cpb.CASE_STAGE_VERIFICATION, "transfer_accepted", SHANGHAI)
    verify = running(case, "verify_and_open")
    assert (verify.due_on, verify.warn_on, verify.state) == ("2026-03-30", "2026-03-25", "running")
    # The sending office's period stays on the record, cancelled by the transfer, not missed.
    assert [(d.due_on, d.state) for d in case.deadlines if d.period_id == "verify_and_open" and d.state != "running"] \
        == [("2026-03-23", "cancelled")]
    assert any(e.action == "transfer_accepted" and e.data["on"] == "2026-03-09" and not e.internal
               for e in case.timeline)

    # The other was received on Friday 03-06 and entered on 03-11: its period counts from 03-06,
    # 03-09..03-13, 03-16..03-20, 03-23..03-27.
    await court.goto("2026-03-11")
    case = await court.act_at(SHANGHAI, "AcceptTransfer", late_entry.case_id, effective_on="2026-03-06")
    assert running(case, "verify_and_open").due_on == "2026-03-27"
    refusal = await court.refused_at(SHANGHAI, "AcceptTransfer", late_entry.case_id)
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION  # accepted once
    case = await court.act_at(SHANGHAI, "OpenCase", late_entry.case_id, reason="核查属实")
    assert case.summary.stage == cpb.CASE_STAGE_INVESTIGATION
    history = await court.env.client.get_workflow_handle(filed.case_id).fetch_history()
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def test_a_returned_transfer_goes_back_with_its_clock_and_an_opened_case_keeps_its_decision_period(
        court: Doors):
    await court.start_on("2026-03-02")
    returned = await court.report(await court.agency())
    opened = await court.report(await court.agency())
    await court.act("AssignCase", returned.case_id, assignee=HANDLER)
    await court.goto("2026-03-04")
    await court.act("TransferCase", returned.case_id, target_region_code=SHANGHAI, reason="机构实际经营地在上海")
    await court.goto("2026-03-05")
    await court.act("OpenCase", opened.case_id, reason="核查属实")

    await court.goto("2026-03-06")
    refusal = await court.refused_at(SHANGHAI, "ReturnTransfer", returned.case_id, actor="supervisor-sh")
    assert refusal.code() == grpc.StatusCode.INVALID_ARGUMENT  # the reason is required
    await court.act_at(SHANGHAI, "ReturnTransfer", returned.case_id, actor="supervisor-sh",
                       reason="经查机构注册及经营地均在北京，不属本局管辖")
    case = await court.act("AssignCase", returned.case_id, assignee=HANDLER)  # Beijing's again
    assert (case.summary.stage, case.summary.status, case.summary.region_code,
            case.summary.transferred_from_region_code) == (cpb.CASE_STAGE_VERIFICATION, "received", "110108", "")
    # 15 working days from 03-02 without 03-05 and 03-06 (in transit): 03-03, 03-04, 03-09..03-13,
    # 03-16..03-20, 03-23..03-25.
    assert running(case, "verify_and_open").due_on == "2026-03-25"
    [back] = [e for e in case.timeline if e.action == "transfer_returned"]
    assert (back.actor, back.internal, dict(back.data)) == ("supervisor-sh", True, {
        "on": "2026-03-06", "to": "110108", "reason": "经查机构注册及经营地均在北京，不属本局管辖"})

    # Opened on 03-05: 90 calendar days, 06-03. In transit from 03-10 to 03-16 (6 days not counted).
    await court.goto("2026-03-10")
    case = await court.act("TransferCase", opened.case_id, target_region_code=SHANGHAI, reason="机构实际经营地在上海")
    assert deadline(case, "decide_ordinary_case").state == "paused"
    await court.goto("2026-03-16")
    accept = cpb.AcceptTransferRequest(idempotency_key="accept-" + uuid.uuid4().hex, case_id=opened.case_id)
    first = await court.complaints.AcceptTransfer(accept, metadata=metadata("handler", SHANGHAI))
    case = (await court.complaints.AcceptTransfer(accept, metadata=metadata("handler", SHANGHAI))).case
    assert case == first.case and [e.action for e in case.timeline].count("transfer_accepted") == 1  # once
    assert case.summary.stage == cpb.CASE_STAGE_INVESTIGATION
    assert (running(case, "decide_ordinary_case").due_on, deadline(case, "verify_and_open").state) == (
        "2026-06-09", "met")


# ---- mergers (并案) -------------------------------------------------------------------------------------------

async def test_a_supervisor_merges_two_cases_and_every_reporter_follows_the_one_left(court: Doors):
    await court.start_on("2026-03-02")
    agency = await court.agency()
    first = await court.report(agency)
    await court.goto("2026-03-04")
    # The same agency, reported for lending certificates: not joined by intake (another category).
    second = await court.report(agency, category=cpb.VIOLATION_CATEGORY_CERTIFICATE_LENDING)
    elsewhere = await court.report(await court.agency())
    assert second.case_id != first.case_id
    await court.goto("2026-03-10")

    refusal = await court.refused("MergeCases", second.case_id, into_case_id=first.case_id, reason="并案")
    assert refusal.code() == grpc.StatusCode.PERMISSION_DENIED  # a supervisor's act
    with pytest.raises(grpc.aio.AioRpcError) as other_subject:
        await court.merge(second.case_id, elsewhere.case_id)
    assert field_reasons(other_subject.value) == {"into_case_id": "MERGE_OTHER_SUBJECT"}

    key = "merge-" + uuid.uuid4().hex
    answer = await court.merge(second.case_id, first.case_id, key)
    merged, into = answer.case, answer.into_case
    assert (merged.summary.stage, merged.summary.outcome, merged.summary.merged_into_case_id) == (
        cpb.CASE_STAGE_CLOSED, cpb.CASE_OUTCOME_MERGED, first.case_id)
    assert deadline(merged, "verify_and_open").state == "cancelled"
    # The case left runs on its own clock (15 working days from 03-02: 03-23), with both reporters.
    assert (deadline(into, "verify_and_open").due_on, deadline(into, "verify_and_open").state) == (
        "2026-03-23", "running")
    assert into.summary.reporter_count == 2 and len(into.reporters) == 2
    assert "【并案举报 2026-03-04】" in into.description
    [entry] = [e for e in into.timeline if e.action == "case_merged_in"]
    assert (entry.actor, entry.data["merged_case_id"], entry.data["on"], entry.data["reporters"]) == (
        SUPERVISOR, second.case_id, "2026-03-10", "1")

    again = await court.merge(second.case_id, first.case_id, key)  # a retry merges nothing twice
    assert again.into_case.summary.reporter_count == 2
    assert [e.action for e in again.into_case.timeline].count("case_merged_in") == 1
    # Merged, it is merged nowhere else.
    refusal = await court.refused("MergeCases", second.case_id, actor=SUPERVISOR, into_case_id=elsewhere.case_id,
                                  reason="再次并案")
    assert (refusal.code(), error_info(refusal).reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MERGE_CASE_STAGE")

    # Both reporters follow the case left, and each was told of the merger.
    for filed in (first, second):
        status = await court.status_of(filed)
        assert (status.stage, status.next_deadline) == (cpb.CASE_STAGE_VERIFICATION, "2026-03-23")
        assert [m.notice for m in status.messages].count("merged") == 1
    history = await court.env.client.get_workflow_handle(second.case_id).fetch_history()
    assert history.events[-1].HasField("workflow_execution_completed_event_attributes")  # nothing left to run

    # The case left decides for both: each real-name reporter is told it was not opened.
    await court.act("DeclineCase", first.case_id, reason="经核查举报内容不属实")
    for filed in (first, second):
        assert any(m.notice == "declined" for m in (await court.status_of(filed)).messages)


# ---- a subject the registry does not know (未登记主体), matched later ---------------------------------------

async def test_an_unregistered_entity_is_matched_and_the_penalty_lands_on_its_registry_entry(court: Doors):
    await court.start_on("2026-03-02")
    code = testdata.credit_code("110105")
    entity = cpb.ReportedEntity(name=f"京华知识产权咨询有限公司{code[-6:]}", credit_code=code, region_code="110105",
                                address="北京市朝阳区某路1号")

    async def report(subject: dict, category=cpb.VIOLATION_CATEGORY_UNLICENSED_PRACTICE) -> cpb.FileReportResponse:
        return await court.complaints.FileReport(cpb.FileReportRequest(
            idempotency_key=uuid.uuid4().hex, source=cpb.REPORT_SOURCE_PUBLIC,
            reporter=cpb.Reporter(real_name=True, name="李四", phone="13900139000"), category=category,
            description="该公司未取得专利代理机构执业许可证，以专利代理名义招揽业务。", occurred_on="2026-02-10",
            **subject), metadata=metadata("citizen"))

    filed = await report(dict(entity=entity))
    case = (await court.complaints.GetCase(cpb.GetCaseRequest(case_id=filed.case_id),
                                           metadata=metadata("handler", OFFICE))).case
    assert (case.summary.subject_kind, case.summary.agency_id, case.summary.agency_name,
            case.summary.agency_credit_code, case.summary.region_code, case.summary.subject_address) == (
        cpb.SUBJECT_KIND_UNREGISTERED_ENTITY, "", entity.name, code, "110105", entity.address)
    assert deadline(await court.state(filed.case_id), "verify_and_open").due_on == "2026-03-23"
    joined = await report(dict(entity=cpb.ReportedEntity(name=entity.name + "（朝阳）", credit_code=code,
                                                         region_code="110105")))
    assert joined.joined_existing_case and joined.case_id == filed.case_id

    await court.goto("2026-03-05")
    await court.act("OpenCase", filed.case_id, reason="初步核实存在无资质代理")
    await court.goto("2026-04-01")
    fine = cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=30000)
    refusal = await court.refused("ProposePenalty", filed.case_id, penalty=fine, reason="无资质从事专利代理")
    assert (refusal.code(), error_info(refusal).reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                             "SUBJECT_NOT_IN_REGISTRY")
    refusal = await court.refused("MatchCaseSubject", filed.case_id, agency=cpb.ReportedAgency(credit_code=code),
                                  reason="市场主体登记信息")
    assert field_reasons(refusal) == {"agency": "AGENCY_NOT_IN_REGISTRY"}  # not entered yet

    # The office enters the entity in the register; the handler matches the case to it.
    registered = (await court.registry.CreateAgency(testdata.agency_request(
        "110105", credit_code=code, name=entity.name, kind=rpb.AGENCY_KIND_CONSULTING),
        metadata=metadata("operator"))).agency
    match = cpb.MatchCaseSubjectRequest(idempotency_key="match-" + uuid.uuid4().hex, case_id=filed.case_id,
                                        agency=cpb.ReportedAgency(credit_code=code), reason="经市场主体登记信息核实")
    first = await court.complaints.MatchCaseSubject(match, metadata=metadata("handler", OFFICE, subject=HANDLER))
    case = (await court.complaints.MatchCaseSubject(match, metadata=metadata("handler", OFFICE, subject=HANDLER))
            ).case  # a retry is answered as the first was, not refused as matched already
    assert case == first.case
    assert (case.summary.subject_kind, case.summary.agency_id, case.summary.agency_kind) == (
        cpb.SUBJECT_KIND_AGENCY, registered.id, "consulting")
    [matched] = [e for e in case.timeline if e.action == "subject_matched"]
    assert (matched.data["agency_id"], matched.data["on"], matched.internal) == (registered.id, "2026-04-01", True)
    refusal = await court.refused("MatchCaseSubject", filed.case_id, agency=cpb.ReportedAgency(credit_code=code),
                                  reason="再次认定")
    assert error_info(refusal).reason == "SUBJECT_IN_REGISTRY"
    # A report naming the registered agency now joins the same case.
    by_agency = await report(dict(agency=cpb.ReportedAgency(credit_code=code)))
    assert by_agency.joined_existing_case and by_agency.case_id == filed.case_id

    # The penalty lands on the registry entry's credit record.
    await court.act("ProposePenalty", filed.case_id, penalty=fine, reason="无资质从事专利代理")
    await court.goto("2026-04-10")  # the statement window (04-02..04-09) ran out
    await court.act("SubmitDecision", filed.case_id, penalty=fine, reason="无资质从事专利代理，罚款")
    case = await court.act("ApproveDecision", filed.case_id, actor=SUPERVISOR)
    assert case.summary.outcome == cpb.CASE_OUTCOME_FINE
    profile = await court.registry.GetCreditProfile(rpb.GetCreditProfileRequest(
        agency_id=registered.id, as_of="2026-04-11"), metadata=metadata("handler"))
    assert [r.kind for r in profile.profile.reasons] == [rpb.CREDIT_EVENT_KIND_FINE]
    history = await court.env.client.get_workflow_handle(filed.case_id).fetch_history()
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def test_a_practitioner_is_matched_and_warned_but_not_suspended(court: Doors, registry):
    await court.start_on("2026-03-02")
    certificate = f"CERT{uuid.uuid4().hex[:10].upper()}"
    filed = await court.complaints.FileReport(cpb.FileReportRequest(
        idempotency_key=uuid.uuid4().hex, source=cpb.REPORT_SOURCE_PUBLIC,
        reporter=cpb.Reporter(real_name=True, name="张三", phone="13800138000"),  # its answer names the case
        practitioner=cpb.ReportedPractitioner(name="王五", certificate_number=certificate, region_code="110108"),
        category=cpb.VIOLATION_CATEGORY_CERTIFICATE_LENDING, description="该专利代理师将执业证出借给他人挂证。"),
        metadata=metadata("citizen"))
    case_id = filed.case_id
    view = await court.state(case_id)
    assert (view.subject_kind, view.practitioner.practitioner_id, view.practitioner.name, view.region_code) == (
        "practitioner", "", "王五", "110108")
    person = (await court.registry.RegisterPractitioner(rpb.RegisterPractitionerRequest(
        idempotency_key=uuid.uuid4().hex, name="王五", kind=rpb.PRACTITIONER_KIND_PATENT_ATTORNEY,
        resident_id=testdata.resident_id(), certificate_number=certificate), metadata=metadata("operator"))
              ).practitioner
    await court.goto("2026-03-05")
    await court.act("OpenCase", case_id, reason="核查属实")
    refusal = await court.refused("MatchCaseSubject", case_id, practitioner_certificate_number="NOSUCH1",
                                  reason="资格证书")
    assert field_reasons(refusal) == {"practitioner_certificate_number": "PRACTITIONER_NOT_IN_REGISTRY"}
    case = await court.act("MatchCaseSubject", case_id, practitioner_certificate_number=certificate,
                           reason="经资格证书编号核实")
    assert (case.summary.subject_kind, case.summary.practitioner_id, case.summary.practitioner_certificate_number) \
        == (cpb.SUBJECT_KIND_PRACTITIONER, person.id, certificate)
    refusal = await court.refused("ProposePenalty", case_id, reason="挂证", penalty=cpb.Penalty(
        kind=cpb.PENALTY_KIND_SUSPENSION, suspension_months=6))
    assert field_reasons(refusal) == {"penalty.kind": "PENALTY_NOT_FOR_PRACTITIONER"}
    warning = cpb.Penalty(kind=cpb.PENALTY_KIND_WARNING)
    await court.act("ProposePenalty", case_id, penalty=warning, reason="挂证")
    await court.goto("2026-03-13")  # the statement window (03-06..03-12) ran out
    await court.act("SubmitDecision", case_id, penalty=warning, reason="警告")
    await court.act("ApproveDecision", case_id, actor=SUPERVISOR)
    # On the practitioner's credit record (the registry answers no practitioner's profile over gRPC).
    async with registry.store.sessions() as session:
        events = list((await session.execute(select(registry_store.CreditEvent).where(
            registry_store.CreditEvent.practitioner_id == person.id))).scalars())
    assert [(e.kind, e.agency_id, e.source_reference) for e in events] == [("warning", None, case_id)]
