"""Statistics and exports of the complaints service (GetCaseStatistics, ExportCases) and the
supervisor's inbox filter of the queue, over loopback gRPC on SQLite and PostgreSQL. The case
records are written the way the case workflow writes them (RecordCaseProgress); no worker runs,
so every figure comes from the records alone. Province 64 is this module's own: no other test
files cases there, so counts over the province are exact."""

from __future__ import annotations

from datetime import datetime, timedelta

import grpc
import pytest

from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.registry.v1 import registry_pb2 as reg_pb
from suite import clock
from tests.conftest import metadata
# api and registry_api are fixtures: imported, they serve this module too.
from tests.test_complaints_intake import (CITIZEN, HANDLER, MACHINE, OPERATOR, api, day, file, invalid,  # noqa: F401
                                          new_agency, new_county, real_name, registry_api, report, uid)

Code = grpc.StatusCode
PROVINCE = "64"
SOURCE = "市场监督管理行政处罚程序规定 第十八条"


def deadline(period_id: str, state: str, due_in: int = 10) -> pb.Deadline:
    return pb.Deadline(period_id=period_id, due_on=day(due_in), warn_on=day(due_in - 2), state=state,
                       legal_source=SOURCE if period_id == "verify_and_open" else "中华人民共和国行政处罚法",
                       description=f"{period_id} 的期限")


async def inspection(api, agency, category=pb.VIOLATION_CATEGORY_FALSE_ADVERTISING) -> str:
    """A case from an inspection finding (no reporter, so no update waits for a worker)."""
    answer = await file(api, report(agency, None, source=pb.REPORT_SOURCE_INSPECTION,
                                    source_reference=f"检查-{uid()}", category=category), OPERATOR)
    return answer.case_id


async def progress(api, case_id: str, region_code: str, revision: int, stage: int, deadlines=(), outcome=0,
                   actions=(), at: datetime | None = None, status: str = "step") -> bool:
    """Write a revision of the record as the workflow would, with one timeline entry at `at`."""
    entry = pb.TimelineEntry(actor="handler-wang", action=f"step-{revision}", internal=True)
    entry.at.FromDatetime(at or clock.now())
    answer = await api.RecordCaseProgress(pb.RecordCaseProgressRequest(
        case_id=case_id, revision=revision, summary=pb.CaseSummary(
            case_id=case_id, stage=stage, status=status, outcome=outcome, region_code=region_code),
        deadlines=list(deadlines), new_entries=[entry], allowed_actions=list(actions)), metadata=MACHINE)
    return answer.applied


async def statistics(api, caller=HANDLER, **fields) -> pb.GetCaseStatisticsResponse:
    return await api.GetCaseStatistics(pb.GetCaseStatisticsRequest(**fields), metadata=caller)


async def test_statistics_count_stages_categories_regions_outcomes_and_periods(api, registry_api):
    counties = [new_county(PROVINCE) for _ in range(3)]
    agencies = [await new_agency(registry_api, county) for county in counties]
    investigating = await inspection(api, agencies[0])
    fined = await inspection(api, agencies[1], pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING)
    declined_late = await inspection(api, agencies[2], pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING)
    await inspection(api, agencies[2], pb.VIOLATION_CATEGORY_FALSE_MATERIAL)  # still in verification
    await progress(api, investigating, counties[0], 1, pb.CASE_STAGE_INVESTIGATION, [
        deadline("verify_and_open", "met"), deadline("decide_ordinary_case", "running")])
    await progress(api, fined, counties[1], 1, pb.CASE_STAGE_CLOSED, [
        deadline("verify_and_open", "met"), deadline("decide_ordinary_case", "met"),
        deadline("statement_and_defence", "ended"), deadline("publish_penalty", "met")],
        outcome=pb.CASE_OUTCOME_FINE)
    await progress(api, declined_late, counties[2], 1, pb.CASE_STAGE_CLOSED, [deadline("verify_and_open", "missed")],
                   outcome=pb.CASE_OUTCOME_NOT_OPENED)

    figures = await statistics(api, region_code=PROVINCE + "0000")
    assert figures.region_code == PROVINCE + "0000" and figures.total_cases == 4
    assert {s.stage: s.cases for s in figures.by_stage} == {
        pb.CASE_STAGE_VERIFICATION: 1, pb.CASE_STAGE_INVESTIGATION: 1, pb.CASE_STAGE_CLOSED: 2}
    assert [(c.category, c.cases) for c in figures.by_category][0] == (pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING, 2)
    assert {o.outcome: o.cases for o in figures.by_outcome} == {
        pb.CASE_OUTCOME_UNSPECIFIED: 2, pb.CASE_OUTCOME_FINE: 1, pb.CASE_OUTCOME_NOT_OPENED: 1}
    # A province's figures count by city (the first four digits of the county codes).
    cities = {}
    for county, n in zip(counties, (1, 1, 2)):
        cities[county[:4] + "00"] = cities.get(county[:4] + "00", 0) + n
    assert {r.region_code: r.cases for r in figures.by_region} == cities
    periods = {p.period_id: p for p in figures.periods}
    verify = periods["verify_and_open"]
    assert (verify.met, verify.missed, verify.running, verify.legal_source) == (2, 1, 0, SOURCE)
    assert verify.share_met == pytest.approx(2 / 3)
    decide = periods["decide_ordinary_case"]
    assert (decide.met, decide.running, decide.share_met) == (1, 1, 1.0)
    assert (periods["statement_and_defence"].lapsed, periods["statement_and_defence"].share_met) == (1, 0.0)
    assert (figures.closed_cases, figures.closed_within_periods) == (2, 1)

    # A county's figures count that county alone.
    county = await statistics(api, region_code=counties[2])
    assert county.total_cases == 2 and [(r.region_code, r.cases) for r in county.by_region] == [(counties[2], 2)]


async def test_statistics_count_kinds_of_subject_sources_and_compliance_month_by_month(api, registry_api):
    """What the annual report asks beside (统计调查, seed (二十三)): who the cases are about (the
    registry's kind of agency, or a subject not in it), where they came from, and how the periods
    that fell due in each month fared."""
    county = new_county(PROVINCE)
    patent = await new_agency(registry_api, county)
    trademark = await new_agency(registry_api, county, kind=reg_pb.AGENCY_KIND_TRADEMARK)
    inspected = await inspection(api, patent)
    reported = (await file(api, report(trademark, real_name()))).case_id
    entity = (await file(api, pb.FileReportRequest(
        idempotency_key=uid() + "-entity", source=pb.REPORT_SOURCE_PUBLIC, reporter=real_name(),
        entity=pb.ReportedEntity(name=f"无照公司{uid()}", region_code=county),
        category=pb.VIOLATION_CATEGORY_UNLICENSED_PRACTICE, description="无资质从事专利代理业务，收费后失联。"),
        CITIZEN)).case_id
    person = (await file(api, pb.FileReportRequest(
        idempotency_key=uid() + "-person", source=pb.REPORT_SOURCE_PUBLIC, reporter=real_name(),
        practitioner=pb.ReportedPractitioner(name="周某", region_code=county),
        category=pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING, description="该代理师出借执业证书给他人挂证。"),
        CITIZEN)).case_id

    def due(period_id: str, state: str, on: str) -> pb.Deadline:
        return pb.Deadline(period_id=period_id, due_on=on, warn_on=on, state=state, legal_source=SOURCE)
    await progress(api, inspected, county, 1, pb.CASE_STAGE_INVESTIGATION, [
        due("verify_and_open", "met", "2026-03-23"), due("decide_ordinary_case", "running", "2026-06-03")])
    await progress(api, reported, county, 1, pb.CASE_STAGE_CLOSED, [
        due("verify_and_open", "missed", "2026-03-20"), due("notify_reporter_of_opening", "met", "2026-04-02")],
        outcome=pb.CASE_OUTCOME_NOT_OPENED)
    await progress(api, entity, county, 1, pb.CASE_STAGE_INVESTIGATION, [
        due("verify_and_open", "met", "2026-04-07"), due("statement_and_defence", "ended", "2026-04-20")])

    figures = await statistics(api, region_code=county)
    assert figures.total_cases == 4
    assert {(k.subject_kind, k.agency_kind): k.cases for k in figures.by_agency_kind} == {
        (pb.SUBJECT_KIND_AGENCY, "patent"): 1, (pb.SUBJECT_KIND_AGENCY, "trademark"): 1,
        (pb.SUBJECT_KIND_UNREGISTERED_ENTITY, ""): 1, (pb.SUBJECT_KIND_PRACTITIONER, ""): 1}
    assert {s.source: s.cases for s in figures.by_source} == {pb.REPORT_SOURCE_INSPECTION: 1,
                                                               pb.REPORT_SOURCE_PUBLIC: 3}
    # Met or missed, by the month of the last day; a lapsed party's window and a running period not.
    assert [(m.month, m.met, m.missed, m.share_met) for m in figures.compliance_by_month] == [
        ("2026-03", 1, 1, 0.5), ("2026-04", 2, 0, 1.0)]
    assert figures.closed_cases == 1 and figures.closed_within_periods == 0
    assert person


async def test_statistics_keep_to_the_callers_scope_and_the_days_asked(api, registry_api):
    county = new_county(PROVINCE)
    await inspection(api, await new_agency(registry_api, county))
    own = metadata("supervisor", region=county)
    assert (await statistics(api, own)).total_cases == 1
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await statistics(api, metadata("handler", region="110000"), region_code=county)
    assert refusal.value.code() == Code.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await statistics(api, metadata("citizen"))
    assert refusal.value.code() == Code.PERMISSION_DENIED
    assert (await statistics(api, own, received_from=day(1))).total_cases == 0
    assert (await statistics(api, own, received_from=day(0), received_to=day(0))).total_cases == 1
    await invalid(statistics(api, own, received_from=day(1), received_to=day(0)), "received_to")


async def test_export_gives_every_stage_and_status_change_with_its_moment(api, registry_api):
    county = new_county(PROVINCE)
    agency = await new_agency(registry_api, county)
    moved, waiting = await inspection(api, agency), await inspection(api, agency, pb.VIOLATION_CATEGORY_FALSE_MATERIAL)
    start = clock.now().replace(microsecond=0)
    steps = [(1, pb.CASE_STAGE_VERIFICATION, "verifying"), (2, pb.CASE_STAGE_VERIFICATION, "verifying"),
             (3, pb.CASE_STAGE_INVESTIGATION, "opened"), (4, pb.CASE_STAGE_INVESTIGATION, "transfer_accepted"),
             (5, pb.CASE_STAGE_PRIOR_NOTICE, "prior_notice_served"), (6, pb.CASE_STAGE_HEARING, "hearing_requested"),
             (7, pb.CASE_STAGE_PRIOR_NOTICE, "hearing_held"), (8, pb.CASE_STAGE_DECISION_APPROVAL, "awaiting_approval")]
    for revision, stage, status in steps:
        assert await progress(api, moved, county, revision, stage, at=start + timedelta(days=revision), status=status)
    # A retried older revision changes no history.
    assert not await progress(api, moved, county, 3, pb.CASE_STAGE_PRIOR_NOTICE, at=start)

    exported, token = [], ""
    while True:
        page = await api.ExportCases(pb.ExportCasesRequest(region_code=county, page_size=1, page_token=token),
                                     metadata=metadata("supervisor", region=county))
        exported += page.cases
        token = page.next_page_token
        if not token:
            break
    assert [c.summary.case_id for c in exported] == sorted([moved, waiting])
    by_id = {c.summary.case_id: c for c in exported}
    history = [(s.stage, s.status, s.revision, s.entered_at.ToDatetime(clock.CHINA))
               for s in by_id[moved].stage_changes]
    # Received, then every revision whose stage or status differs from the one before (not revision 2).
    changed = [step for step in steps if step[0] != 2]
    assert [(stage, status, revision) for stage, status, revision, _ in history] == [
        (pb.CASE_STAGE_VERIFICATION, "received", 0), *((stage, status, r) for r, stage, status in changed)]
    assert [at for *_, at in history[1:]] == [start + timedelta(days=r) for r, *_ in changed]
    assert [s.stage for s in by_id[waiting].stage_changes] == [pb.CASE_STAGE_VERIFICATION]
    assert by_id[moved].summary.stage == pb.CASE_STAGE_DECISION_APPROVAL

    await invalid(api.ExportCases(pb.ExportCasesRequest(page_token="bm90LWEtdG9rZW4="), metadata=HANDLER),
                  "page_token")


async def test_the_inbox_lists_what_waits_for_a_supervisor(api, registry_api):
    county = new_county(PROVINCE)
    agency = await new_agency(registry_api, county)
    decision, extension, other = [await inspection(api, agency, category) for category in (
        pb.VIOLATION_CATEGORY_FALSE_ADVERTISING, pb.VIOLATION_CATEGORY_FALSE_MATERIAL,
        pb.VIOLATION_CATEGORY_CLIENT_SECRET_LEAK)]
    await progress(api, decision, county, 1, pb.CASE_STAGE_DECISION_APPROVAL, actions=["assign", "approve_decision"])
    await progress(api, extension, county, 1, pb.CASE_STAGE_INVESTIGATION,
                   actions=["assign", "approve_extension", "refuse_extension"])
    await progress(api, other, county, 1, pb.CASE_STAGE_INVESTIGATION, actions=["assign", "request_extension"])
    inbox = await api.ListCases(pb.ListCasesRequest(region_code=county, awaiting_approval=True),
                                metadata=metadata("supervisor"))
    assert sorted(c.case_id for c in inbox.cases) == sorted([decision, extension])
