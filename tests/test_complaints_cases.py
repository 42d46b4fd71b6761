"""The case record in the complaints service over loopback gRPC, on SQLite and PostgreSQL: the
queue (order, filters, pages, region scope), GetCase (and who sees reporters), the record the case
workflow writes (RecordCaseProgress, NotifyReporters) with its provisional (暂定) dates, the
late-payment surcharge as owed on the day the record is read, and the handler and supervisor
actions up to the workflow: their input checks, region scope and unknown cases. No worker runs
here; the actions' effects are tested end to end with the case workflow."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from sqlalchemy import update

from ipss.complaints.v1 import complaints_pb2 as pb
from services.complaints import domain, store
from suite import clock, testdata
from tests.conftest import COMPLAINTS_TRACKING_KEY, metadata
# api and registry_api are fixtures: imported, they serve this module too.
from tests.test_complaints_intake import (ANONYMOUS, CITIZEN, HANDLER, MACHINE, OPERATOR, PDF, api, case_of, day, file,  # noqa: F401
                                          invalid, key, new_agency, new_county, nothing_stored_changes,
                                          real_name, refused, registry_api, replica_without_temporal, report,
                                          rows, uid)
from workflows.activities.complaints import ProgressRecord, progress_request
from contracts.case import AgencyRef, CaseView, DeadlineView

Code = grpc.StatusCode
SUPERVISOR = metadata("supervisor")


async def inspection(api, agency, category=pb.VIOLATION_CATEGORY_FALSE_ADVERTISING) -> str:
    """A case from an inspection finding (no reporter, so no join waits for a worker)."""
    answer = await file(api, report(agency, None, source=pb.REPORT_SOURCE_INSPECTION,
                                    source_reference=f"检查-{uid()}", category=category), OPERATOR)
    return answer.case_id


def progress(case_id: str, region_code: str, revision: int, stage=pb.CASE_STAGE_VERIFICATION, next_deadline="",
             entries=(), **summary) -> pb.RecordCaseProgressRequest:
    return pb.RecordCaseProgressRequest(
        case_id=case_id, revision=revision,
        summary=pb.CaseSummary(case_id=case_id, stage=stage, status=summary.pop("status", "verifying"),
                               region_code=region_code, next_deadline=next_deadline,
                               next_deadline_period="verify_and_open" if next_deadline else "", **summary),
        deadlines=[pb.Deadline(period_id="verify_and_open", due_on=next_deadline or day(20), warn_on=day(15),
                               legal_source="市场监督管理行政处罚程序规定 第十八条", description="核查并决定是否立案",
                               state="running")],
        new_entries=list(entries), allowed_actions=["assign", "open", "decline"])


async def record(api, request: pb.RecordCaseProgressRequest) -> bool:
    return (await api.RecordCaseProgress(request, metadata=MACHINE)).applied


async def queue(api, caller=HANDLER, page_size: int = 500, **filters) -> list[str]:
    """Every case the queue shows, page after page."""
    found, token = [], ""
    while True:
        answer = await api.ListCases(pb.ListCasesRequest(page_size=page_size, page_token=token, **filters),
                                     metadata=caller)
        found += [c.case_id for c in answer.cases]
        token = answer.next_page_token
        if not token:
            return found


# ---- the queue ---------------------------------------------------------------------------------------

async def test_the_queue_puts_the_nearest_deadline_first_and_pages_through_it(api, registry_api, complaints):
    county = new_county("33")
    agency = await new_agency(registry_api, county)
    ids = [await inspection(api, agency, category) for category in (
        pb.VIOLATION_CATEGORY_FALSE_ADVERTISING, pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING,
        pb.VIOLATION_CATEGORY_LOW_PRICE_COMPETITION, pb.VIOLATION_CATEGORY_CLIENT_SECRET_LEAK,
        pb.VIOLATION_CATEGORY_FALSE_MATERIAL)]
    later, soon, none, soon_too, closed = ids
    await record(api, progress(later, county, 1, next_deadline=day(10)))
    await record(api, progress(soon, county, 1, next_deadline=day(3)))
    await record(api, progress(soon_too, county, 1, next_deadline=day(3)))
    await record(api, progress(closed, county, 1, stage=pb.CASE_STAGE_CLOSED, next_deadline=day(1)))

    expected = [*sorted([soon, soon_too]), later, none]
    assert await queue(api, region_code=county) == expected
    assert await queue(api, region_code=county, page_size=1) == expected
    assert await queue(api, region_code=county, include_closed=True) == [closed, *expected]

    first = await api.ListCases(pb.ListCasesRequest(region_code=county, page_size=2), metadata=HANDLER)
    assert [c.case_id for c in first.cases] == expected[:2]
    earlier = await inspection(api, agency, pb.VIOLATION_CATEGORY_ABNORMAL_PATENT_FILING)
    await record(api, progress(earlier, county, 1, next_deadline=day(2)))
    rest = await api.ListCases(pb.ListCasesRequest(region_code=county, page_size=2, page_token=first.next_page_token),
                               metadata=HANDLER)
    assert [c.case_id for c in rest.cases] == expected[2:]  # a token goes on where its page ended

    [summary] = [c for c in first.cases if c.case_id == soon]
    assert (summary.stage, summary.status, summary.next_deadline, summary.next_deadline_period,
            summary.agency_credit_code, summary.region_code, summary.source) == (
        pb.CASE_STAGE_VERIFICATION, "verifying", day(3), "verify_and_open", agency.credit_code, county,
        pb.REPORT_SOURCE_INSPECTION)


async def test_the_queue_filters(api, registry_api, complaints):
    county = new_county("34")
    agency, other_agency = await new_agency(registry_api, county), await new_agency(registry_api, county)
    advertising = await inspection(api, agency)
    lending = await inspection(api, agency, pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING)
    investigated = await inspection(api, other_agency)
    late = await inspection(api, other_agency, pb.VIOLATION_CATEGORY_FALSE_MATERIAL)
    missed = await inspection(api, other_agency, pb.VIOLATION_CATEGORY_LOW_PRICE_COMPETITION)
    await record(api, progress(advertising, county, 1, next_deadline=day(5), assignee="handler-wang"))
    await record(api, progress(investigated, county, 1, stage=pb.CASE_STAGE_INVESTIGATION, next_deadline=day(80),
                               assignee="handler-wang"))
    await record(api, progress(late, county, 1, next_deadline=day(-1)))
    await record(api, progress(missed, county, 1, overdue=True))

    async def ids(**filters) -> set[str]:
        return set(await queue(api, region_code=county, **filters))

    assert await ids() == {advertising, lending, investigated, late, missed}
    assert await ids(stages=[pb.CASE_STAGE_INVESTIGATION]) == {investigated}
    assert await ids(categories=[pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING,
                                 pb.VIOLATION_CATEGORY_FALSE_MATERIAL]) == {lending, late}
    assert await ids(agency_credit_code=agency.credit_code) == {advertising, lending}
    assert await ids(assignee="handler-wang") == {advertising, investigated}
    assert await ids(overdue_only=True) == {late, missed}
    assert await ids(overdue_only=True, agency_credit_code=other_agency.credit_code,
                     stages=[pb.CASE_STAGE_VERIFICATION]) == {late, missed}
    answer = await api.ListCases(pb.ListCasesRequest(region_code=county, overdue_only=True), metadata=HANDLER)
    assert all(c.overdue for c in answer.cases)


async def test_the_queue_keeps_to_the_callers_region(api, registry_api, complaints):
    county = new_county("35")
    city = county[:4] + "00"
    here = await inspection(api, await new_agency(registry_api, county))
    elsewhere = await inspection(api, await new_agency(registry_api, new_county("36")))

    for scope in (county, city, "350000"):
        shown = await queue(api, metadata("handler", region=scope))
        assert here in shown and elsewhere not in shown
    assert {here, elsewhere} <= set(await queue(api, metadata("supervisor")))
    await refused(api.ListCases(pb.ListCasesRequest(region_code="360000"), metadata=metadata("handler", region=city)),
                  Code.PERMISSION_DENIED)


async def test_list_cases_refusals(api, complaints):
    await invalid(api.ListCases(pb.ListCasesRequest(page_size=501, region_code="99", agency_credit_code="X",
                                                    stages=[99]), metadata=HANDLER),
                  "page_size", "region_code", "agency_credit_code", "stages")
    await invalid(api.ListCases(pb.ListCasesRequest(page_token="not a token"), metadata=HANDLER), "page_token")
    await refused(api.ListCases(pb.ListCasesRequest(), metadata=CITIZEN), Code.PERMISSION_DENIED)
    await refused(api.ListCases(pb.ListCasesRequest(), metadata=metadata("inspector")), Code.PERMISSION_DENIED)
    await refused(api.ListCases(pb.ListCasesRequest()), Code.UNAUTHENTICATED)


# ---- one case ---------------------------------------------------------------------------------------

async def test_get_case_shows_the_record_and_reporters_only_to_handlers_and_supervisors(api, registry_api,
                                                                                      complaints):
    county = new_county("37")
    agency = await new_agency(registry_api, county)
    evidence = await api.UploadAttachment(pb.UploadAttachmentRequest(
        filename="合同.pdf", content_type="application/pdf", content=PDF + uid().encode()), metadata=CITIZEN)
    who = real_name()
    first = await file(api, report(agency, who, attachment_ids=[evidence.attachment_id]))
    joining = report(agency, ANONYMOUS, description="我也遇到同样的虚假宣传问题。")
    joined = await file(api, joining)  # the join is signalled to the workflow; no worker needs to run
    # The anonymous joiner is not told it joined (nor which case): the record says so, to staff.
    assert (joined.joined_existing_case, joined.case_id) == (False, "")
    assert await case_of(complaints, joined) == first.case_id
    entries = [pb.TimelineEntry(revision=1, actor="system", action="received", data={"on": day(0)}, internal=False),
               pb.TimelineEntry(revision=1, actor="handler-li", action="note", detail="内部备注", internal=True)]
    await record(api, progress(first.case_id, county, 1, next_deadline=day(20), entries=entries))

    seen = (await api.GetCase(pb.GetCaseRequest(case_id=first.case_id),
                              metadata=metadata("handler", region=county[:2] + "0000"))).case
    assert seen.summary.case_id == first.case_id and seen.summary.reporter_count == 2
    assert seen.description.startswith(report(agency).description[:10])
    assert f"【并案举报 {clock.today().isoformat()}】我也遇到同样的虚假宣传问题。" in seen.description
    assert list(seen.attachment_ids) == [evidence.attachment_id]
    assert [(d.period_id, d.due_on, d.legal_source) for d in seen.deadlines] == [
        ("verify_and_open", day(20), "市场监督管理行政处罚程序规定 第十八条")]
    assert [(e.action, e.internal, dict(e.data), e.detail) for e in seen.timeline] == [
        ("received", False, {"on": day(0)}, ""), ("note", True, {}, "内部备注")]  # the second as recorded before data
    assert list(seen.allowed_actions) == ["assign", "open", "decline"]
    assert seen.workflow_id == first.case_id and seen.rules_version
    assert [(r.real_name, r.name, r.phone, r.resident_id) for r in seen.reporters] == [
        (True, who.name, who.phone, who.resident_id), (False, "", "", "")]
    assert len((await api.GetCase(pb.GetCaseRequest(case_id=first.case_id), metadata=SUPERVISOR)).case.reporters) == 2

    for role in ("operator", "admin"):
        shown = (await api.GetCase(pb.GetCaseRequest(case_id=first.case_id), metadata=metadata(role))).case
        assert shown.summary.reporter_count == 2 and list(shown.reporters) == []
        assert who.name not in str(shown) and who.phone not in str(shown)


async def test_get_case_refusals(api, registry_api, complaints):
    case_id = await inspection(api, await new_agency(registry_api, new_county("41")))
    await refused(api.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=metadata("handler", region="420000")),
                  Code.PERMISSION_DENIED)
    await refused(api.GetCase(pb.GetCaseRequest(case_id="case-2026-110000-999999"), metadata=HANDLER),
                  Code.NOT_FOUND)
    await refused(api.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=CITIZEN), Code.PERMISSION_DENIED)
    await invalid(api.GetCase(pb.GetCaseRequest(), metadata=HANDLER), "case_id")


# ---- written by the workflow ---------------------------------------------------------------------------

async def test_record_case_progress_applies_newer_revisions_and_appends_entries_once(api, registry_api, complaints):
    county = new_county("42")
    case_id = await inspection(api, await new_agency(registry_api, county))

    def entry(action: str, revision: int) -> pb.TimelineEntry:
        return pb.TimelineEntry(revision=revision, actor="system", action=action, detail=action, internal=False)

    second = progress(case_id, county, 2, stage=pb.CASE_STAGE_INVESTIGATION, next_deadline=day(90),
                      status="opened", assignee="handler-wang", entries=[entry("opened", 2)],
                      outcome=pb.CASE_OUTCOME_UNSPECIFIED)
    second.fine_cny, second.surcharge_cny = 30000, 900
    assert await record(api, second)
    assert not await record(api, second)  # a retried write
    assert not await record(api, progress(case_id, county, 1, next_deadline=day(15), entries=[entry("received", 1)]))

    [case] = await rows(complaints, store.Case, store.Case.id == case_id)
    assert (case.revision, case.stage, case.status, case.assignee, case.next_deadline.isoformat(), case.fine_cny,
            case.surcharge_cny) == (2, "investigation", "opened", "handler-wang", day(90), 30000, 900)
    timeline = (await api.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=HANDLER)).case.timeline
    assert [(e.revision, e.action) for e in timeline] == [(1, "received"), (2, "opened")]

    closing = progress(case_id, county, 3, stage=pb.CASE_STAGE_CLOSED, status="closed",
                       outcome=pb.CASE_OUTCOME_WARNING, entries=[entry("closed", 3)])
    assert await record(api, closing)
    [case] = await rows(complaints, store.Case, store.Case.id == case_id)
    assert (case.stage, case.outcome, case.next_deadline) == ("closed", "warning", None)
    assert case_id not in await queue(api, region_code=county)


async def test_record_case_progress_refusals(api, registry_api, complaints):
    county = new_county("43")
    case_id = await inspection(api, await new_agency(registry_api, county))
    async with nothing_stored_changes(complaints):
        await refused(api.RecordCaseProgress(progress("case-2026-430000-999999", county, 1), metadata=MACHINE),
                      Code.NOT_FOUND)
        await invalid(api.RecordCaseProgress(pb.RecordCaseProgressRequest(), metadata=MACHINE),
                      "case_id", "revision", "summary")
        mismatched = progress(case_id, county, 1, next_deadline="2026-13-01")
        mismatched.summary.case_id = "case-2026-430000-000001x"
        mismatched.summary.stage = pb.CASE_STAGE_UNSPECIFIED
        mismatched.summary.region_code = "999999"
        await invalid(api.RecordCaseProgress(mismatched, metadata=MACHINE),
                      "summary.case_id", "summary.stage", "summary.region_code", "summary.next_deadline")
        for role in ("handler", "supervisor", "admin"):
            await refused(api.RecordCaseProgress(progress(case_id, county, 1), metadata=metadata(role)),
                          Code.PERMISSION_DENIED)


async def test_notify_reporters_once_per_key(api, registry_api, complaints):
    agency = await new_agency(registry_api)
    anonymous = await file(api, report(agency, ANONYMOUS))
    named = await file(api, report(agency, real_name()))
    assert named.joined_existing_case
    case_id = named.case_id
    [named_report] = await rows(complaints, store.Report, store.Report.case_id == case_id,
                                store.Report.joined_existing_case.is_(True))

    async def notify(notice_key: str, code: str, real_name_only: bool, **data: str) -> int:
        return (await api.NotifyReporters(pb.NotifyReportersRequest(
            case_id=case_id, notice_key=notice_key, code=code, data=data, real_name_only=real_name_only),
            metadata=MACHINE)).notified

    assert await notify("opening-decision", "opened", True) == 1
    assert await notify("opening-decision", "declined", True, reason="一次") == 1  # the key was used: nothing sent
    assert await notify("second-notice", "declined", False, reason="证据不足") == 2
    assert [r.data for r in await rows(complaints, store.CaseNotice, store.CaseNotice.case_id == case_id,
                                       store.CaseNotice.notice_key == "second-notice")] == [{"reason": "证据不足"}]

    async def page(code: str, secret: str) -> list[tuple[str, dict, str]]:
        """Each message as its code and data, and the Chinese the service words them in."""
        status = await api.GetReportStatus(pb.GetReportStatusRequest(tracking_code=code, tracking_secret=secret),
                                           metadata=CITIZEN)
        assert not any(m.action for m in status.messages)
        return [(m.notice, dict(m.data), m.text) for m in status.messages]

    named_secret = domain.tracking_secret(COMPLAINTS_TRACKING_KEY, named_report.tracking_code)
    # The record keeps the handler's reason; a reporter's page shows none of it (issue 15 item 3).
    declined = ("declined", {}, "您举报的问题经核查不予立案")
    assert await page(named_report.tracking_code, named_secret) == [
        ("joined", {}, "您举报的机构和违法行为已有案件正在办理，您的举报已并入该案件一并处理。"),
        ("opened", {}, "您举报的问题已立案调查"), declined]
    assert await page(anonymous.tracking_code, anonymous.tracking_secret) == [declined]
    assert len(await rows(complaints, store.CaseNotice, store.CaseNotice.case_id == case_id)) == 2


async def test_notify_reporters_refusals(api, registry_api, complaints):
    case_id = await inspection(api, await new_agency(registry_api))
    async with nothing_stored_changes(complaints):
        await refused(api.NotifyReporters(pb.NotifyReportersRequest(
            case_id="case-2026-110000-999999", notice_key="k", code="opened"), metadata=MACHINE), Code.NOT_FOUND)
        await invalid(api.NotifyReporters(pb.NotifyReportersRequest(), metadata=MACHINE),
                      "case_id", "notice_key", "code")
        await refused(api.NotifyReporters(pb.NotifyReportersRequest(case_id=case_id, notice_key="k", code="opened"),
                                          metadata=HANDLER), Code.PERMISSION_DENIED)


# ---- provisional dates (暂定) and the surcharge of the day --------------------------------------------

FINE = 50_000
PAY_SOURCE = "中华人民共和国行政处罚法 第六十七条"
NEXT_YEAR = clock.today().year + 1


def deadline_view(period_id: str, due_on: str, state: str = "running", **flags) -> DeadlineView:
    return DeadlineView(period_id=period_id, started_on=day(-40), due_on=due_on, warn_on="",
                              legal_source=PAY_SOURCE, description=period_id, state=state, **flags)


def decided(case_id: str, region_code: str, revision: int, deadlines: list[DeadlineView],
            **fields) -> pb.RecordCaseProgressRequest:
    """A decided case's view with a fine, as the case workflow's activity writes it."""
    view = CaseView(
        case_id=case_id, revision=revision, stage="decided", status="served", outcome="fine", region_code=region_code,
        agency=AgencyRef("agency", "某知识产权代理有限公司", "", region_code, "patent"), category="false_advertising",
        source="inspection", received_on=day(-90), rules_version="", deadlines=deadlines, fine_cny=FINE,
        penalty_kind="fine", **fields)
    return progress_request(ProgressRecord(view, []))


async def test_provisional_dates_and_the_surcharge_facts_are_written_and_read_back(api, registry_api, complaints):
    county = new_county("46")
    case_id = await inspection(api, await new_agency(registry_api, county))
    window = f"{NEXT_YEAR}-01-04"
    provisional = decided(case_id, county, 1, [
        deadline_view("pay_fine", day(-10), provisional=True, awaiting_schedule=True),
        deadline_view("reconsideration_window", window, provisional=True),
        deadline_view("litigation_window", f"{NEXT_YEAR}-06-01")],
        next_deadline=window, next_deadline_period="reconsideration_window", next_deadline_provisional=True,
        provisional_years=[NEXT_YEAR], surcharge_paused=[[day(-2), ""]])
    assert await record(api, provisional)

    case = (await api.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=HANDLER)).case
    assert [(d.period_id, d.provisional, d.awaiting_schedule) for d in case.deadlines] == [
        ("pay_fine", True, True), ("reconsideration_window", True, False), ("litigation_window", False, False)]
    assert (case.summary.next_deadline, case.summary.next_deadline_provisional) == (window, True)
    assert (case.paid_on, [(r.filed_on, r.concluded_on) for r in case.surcharge_paused]) == ("", [(day(-2), "")])
    assert case.surcharge_cny == 0  # nothing adverse to the party rests on a provisional day
    [listed] = (await api.ListCases(pb.ListCasesRequest(region_code=county), metadata=HANDLER)).cases
    [exported] = (await api.ExportCases(pb.ExportCasesRequest(region_code=county), metadata=HANDLER)).cases
    assert listed.next_deadline_provisional and exported.summary.next_deadline_provisional
    [stored] = await rows(complaints, store.Case, store.Case.id == case_id)
    assert stored.next_deadline_provisional and stored.deadlines[0]["awaiting_schedule"]

    # The schedule is published: the same days are final. Paid today, ten days late less the two
    # of the review from day(-2) to day(-1).
    final = decided(case_id, county, 2, [
        deadline_view("pay_fine", day(-10), state="met"), deadline_view("reconsideration_window", window)],
        next_deadline=window, next_deadline_period="reconsideration_window", paid_on=day(0),
        surcharge_paused=[[day(-2), day(-1)]])
    assert await record(api, final)
    case = (await api.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=HANDLER)).case
    assert [(d.provisional, d.awaiting_schedule) for d in case.deadlines] == [(False, False), (False, False)]
    assert not case.summary.next_deadline_provisional
    assert (case.paid_on, [(r.filed_on, r.concluded_on) for r in case.surcharge_paused]) == (
        day(0), [(day(-2), day(-1))])
    assert case.surcharge_cny == FINE * 8 * 3 // 100


async def test_the_surcharge_is_the_one_owed_on_the_day_the_record_is_read(api, registry_api, complaints):
    """The workflow wrote its figure the day after the payment deadline (1 day, 3 %) and has not
    woken since: 25 days later the record answers 25 days' surcharge, not the figure it holds."""
    county = new_county("50")
    case_id = await inspection(api, await new_agency(registry_api, county))
    late = decided(case_id, county, 1, [deadline_view("pay_fine", day(-25))], next_deadline="",
                   surcharge_cny=FINE * 3 // 100)
    assert await record(api, late)
    [stored] = await rows(complaints, store.Case, store.Case.id == case_id)
    assert stored.surcharge_cny == 1_500

    case = (await api.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=HANDLER)).case
    assert case.surcharge_cny == 37_500  # 25 days x 3 % of 50,000
    [exported] = (await api.ExportCases(pb.ExportCasesRequest(region_code=county), metadata=HANDLER)).cases
    assert exported.surcharge_cny == 37_500

    # A review pending since day(-9) stops it for ten days; 40 days late is capped at the fine.
    assert await record(api, decided(case_id, county, 2, [deadline_view("pay_fine", day(-25))],
                                     surcharge_paused=[[day(-9), ""]]))
    assert (await api.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=HANDLER)).case.surcharge_cny == 22_500
    assert await record(api, decided(case_id, county, 3, [deadline_view("pay_fine", day(-40))]))
    assert (await api.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=HANDLER)).case.surcharge_cny == FINE


async def test_the_reporters_page_says_when_the_next_deadline_is_provisional(api, registry_api, complaints):
    county = new_county("52")
    filed = await file(api, report(await new_agency(registry_api, county)))
    status = pb.GetReportStatusRequest(tracking_code=filed.tracking_code, tracking_secret=filed.tracking_secret)
    due = f"{NEXT_YEAR}-02-22"
    case_id = await case_of(complaints, filed)
    assert await record(api, progress(case_id, county, 1, next_deadline=due, next_deadline_provisional=True))
    page = await api.GetReportStatus(status, metadata=CITIZEN)
    assert (page.next_deadline, page.next_deadline_provisional, page.next_deadline_note) == (
        due, True, f"暂定：{NEXT_YEAR}年放假安排尚未发布，日期可能调整")

    assert await record(api, progress(case_id, county, 2, next_deadline=due))
    page = await api.GetReportStatus(status, metadata=CITIZEN)
    assert (page.next_deadline, page.next_deadline_provisional, page.next_deadline_note) == (due, False, "")


# ---- handler and supervisor actions: checks before the workflow ----------------------------------------

PENALTY = pb.Penalty(kind=pb.PENALTY_KIND_FINE, fine_cny=50_000)
ATTACHMENT = "0" * 64
# RPC: (the request's own valid fields, the fields that must be given besides idempotency_key and case_id)
ACTIONS = {
    "AssignCase": (dict(assignee="handler-wang"), {"assignee"}),
    "RecordVerification": (dict(reason="核查属实"), {"reason"}),
    "OpenCase": (dict(reason="予以立案"), set()),
    "DeclineCase": (dict(reason="证据不足"), {"reason"}),
    "RequestExtension": (dict(reason="需要补充调查"), {"reason"}),
    "ApproveExtension": (dict(reason="同意"), set()),
    "RefuseExtension": (dict(reason="不同意"), {"reason"}),
    "SuspendClock": (dict(cause="appraisal", reason="委托鉴定"), {"cause", "reason"}),
    "ResumeClock": (dict(reason="鉴定完成"), set()),
    "AddEvidence": (dict(attachment_id=ATTACHMENT, reason="合同"), {"attachment_id"}),
    "ProposePenalty": (dict(penalty=PENALTY, reason="虚假宣传"), {"penalty", "reason"}),
    "RecordStatement": (dict(reason="当事人陈述"), {"reason"}),
    "RequestHearing": (dict(hearing_on=day(30)), {"hearing_on"}),
    "RecordHearing": (dict(reason="听证笔录"), {"reason"}),
    "SubmitDecision": (dict(penalty=PENALTY, reason="拟处罚"), {"penalty", "reason"}),
    "ApproveDecision": (dict(reason="同意"), set()),
    "RecordService": (dict(party_present=True), set()),
    "RecordPayment": (dict(amount_cny=50_000), {"amount_cny"}),
    "RecordReview": (dict(kind=pb.REVIEW_KIND_RECONSIDERATION, pending=True), {"kind"}),
    "TransferCase": (dict(target_authority="某市公安局", reason="涉嫌犯罪"), {"reason"}),
    "ReferToAssociation": (dict(association_id="as-1", reason="行业自律"), {"association_id", "reason"}),
    "CloseCase": (dict(reason="结案"), set()),
    "ReassignCase": (dict(assignee="handler-li", reason="原承办人休假"), {"assignee", "reason"}),
    "MatchCaseSubject": (dict(agency=pb.ReportedAgency(credit_code=testdata.credit_code()), reason="经核实为该机构"),
                         {"reason"}),
    "MergeCases": (dict(into_case_id="case-2026-440000-999998", reason="同一违法行为"), {"into_case_id", "reason"}),
    "AcceptTransfer": (dict(reason="已签收"), set()),
    "ReturnTransfer": (dict(reason="不属本机关管辖"), {"reason"}),
}
SUPERVISOR_ONLY = {"ApproveExtension", "RefuseExtension", "ApproveDecision", "ReassignCase", "MergeCases"}


def action_request(rpc: str, case_id: str, **overrides):
    fields, _ = ACTIONS[rpc]
    return getattr(pb, f"{rpc}Request")(**{"idempotency_key": key(), "case_id": case_id, **fields, **overrides})


def test_every_action_rpc_is_covered():
    service = pb.DESCRIPTOR.services_by_name["ComplaintsService"]
    actions = {m.name for m in service.methods} - {
        "UploadAttachment", "FileReport", "GetReportStatus", "ListCases", "GetCase", "RecordCaseProgress",
        "NotifyReporters", "GetCaseStatistics", "ExportCases",
        "ListReferrals", "AnswerReferral",  # an association's calls: tests/test_case_referral.py
        "ListEscalations", "AcknowledgeEscalation", "ListEscalationEvents", "ListNotifications",
        "MarkNotificationRead"}  # the inbox and notifications: tests/test_complaints_escalations.py
    assert actions == set(ACTIONS)


@pytest.mark.parametrize("rpc", sorted(ACTIONS))
async def test_action_input_scope_and_unknown_cases(api, registry_api, complaints, rpc):
    county = new_county("44")
    case_id = await inspection(api, await new_agency(registry_api, county))
    call = getattr(api, rpc)
    caller = SUPERVISOR
    _, required = ACTIONS[rpc]
    async with nothing_stored_changes(complaints):
        await invalid(call(getattr(pb, f"{rpc}Request")(), metadata=caller), "idempotency_key", "case_id", *required)
        await invalid(call(action_request(rpc, case_id, idempotency_key="short", effective_on="2026-02-30"),
                           metadata=caller), "idempotency_key", "effective_on")
        await refused(call(action_request(rpc, "case-2026-440000-999999"), metadata=caller), Code.NOT_FOUND)
        await refused(call(action_request(rpc, case_id), metadata=metadata("supervisor", region="450000")),
                      Code.PERMISSION_DENIED)
        for role in ("operator", "admin", "citizen", "inspector") + (("handler",) if rpc in SUPERVISOR_ONLY else ()):
            await refused(call(action_request(rpc, case_id), metadata=metadata(role)), Code.PERMISSION_DENIED)


async def test_evidence_must_be_uploaded_first(api, registry_api, complaints):
    case_id = await inspection(api, await new_agency(registry_api))
    async with nothing_stored_changes(complaints):
        await invalid(api.AddEvidence(action_request("AddEvidence", case_id, attachment_id="f" * 64),
                                      metadata=HANDLER), "attachment_id")


async def test_penalties_and_review_kinds_are_checked_before_the_workflow(api, registry_api, complaints):
    case_id = await inspection(api, await new_agency(registry_api))
    async with nothing_stored_changes(complaints):
        await invalid(api.ProposePenalty(action_request("ProposePenalty", case_id, penalty=pb.Penalty(
            kind=pb.PENALTY_KIND_UNSPECIFIED, fine_cny=-1, suspension_months=40)), metadata=HANDLER),
            "penalty.kind", "penalty.fine_cny", "penalty.suspension_months")
        await invalid(api.RecordReview(action_request("RecordReview", case_id, kind=7), metadata=HANDLER), "kind")


async def test_an_action_waits_for_the_workflow_and_then_answers_unavailable(api, registry_api, complaints):
    """Without a worker no update is taken: the service stops waiting and says to retry."""
    case_id = await inspection(api, await new_agency(registry_api))
    async with nothing_stored_changes(complaints):
        await refused(api.AssignCase(action_request("AssignCase", case_id), metadata=HANDLER), Code.UNAVAILABLE)


async def test_an_action_on_a_case_without_a_workflow_fails_its_precondition(api, registry, registry_api, complaints,
                                                                             monkeypatch):
    """A case recorded while Temporal was unreachable has no workflow while its start waits in the
    workflow outbox (held back here, as for a Temporal that stays away)."""
    agency = await new_agency(registry_api)
    async with replica_without_temporal(complaints, registry, monkeypatch) as broken:
        await broken.FileReport(report(agency), metadata=CITIZEN)
    [case] = await rows(complaints, store.Case, store.Case.agency_id == agency.id)
    async with complaints.store.sessions() as session, session.begin():
        await session.execute(update(store.WorkflowOutbox).where(store.WorkflowOutbox.workflow_id == case.id)
                              .values(due_at=clock.now() + timedelta(hours=1)))
    async with nothing_stored_changes(complaints):
        await refused(api.OpenCase(action_request("OpenCase", case.id), metadata=HANDLER), Code.FAILED_PRECONDITION)
