"""Who a report is about and which case it is, in the complaints service over loopback gRPC, on
SQLite and PostgreSQL: reports on entities the registry does not know (未登记主体) and on
practitioners (从业人员), matched at intake when the registry knows them; the subject a workflow
matched later, as its record write says; a merger (并案) as the two workflows' record writes
bring it (the reports and reporters moved, every reporter told, once); and what the service
refuses before asking any workflow. No worker runs here: the walk through the real workflows is
tests/test_case_doors.py's. Every test makes its own agencies in counties of its own."""

from __future__ import annotations

import json

import grpc
import pytest

from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.registry.v1 import registry_pb2 as rpb
from services.complaints import store
from suite import testdata
from tests.conftest import metadata
from tests.grpc_checks import error_info, field_reasons, invalid, refused
# api and registry_api are fixtures: imported, they serve this module too.
from tests.test_complaints_intake import case_of as filed_case
from tests.test_complaints_intake import (CITIZEN, HANDLER, MACHINE, OPERATOR, api, file, key, new_agency,  # noqa: F401
                                          new_county, nothing_stored_changes, real_name, registry_api, report,
                                          rows, uid, workflow_input)

Code = grpc.StatusCode
PROVINCE = "13"
SUPERVISOR = metadata("supervisor")


def entity_report(name: str, region_code: str, credit_code: str = "", reporter: pb.Reporter | None = None,
                  **fields) -> pb.FileReportRequest:
    request = pb.FileReportRequest(
        idempotency_key=key(), source=pb.REPORT_SOURCE_PUBLIC,
        entity=pb.ReportedEntity(name=name, credit_code=credit_code, region_code=region_code,
                                 address=fields.pop("address", "")),
        category=fields.pop("category", pb.VIOLATION_CATEGORY_UNLICENSED_PRACTICE),
        description=f"该公司未取得专利代理资质，以代理名义收费 {uid()}", **fields)
    request.reporter.CopyFrom(reporter or real_name())
    return request


def practitioner_report(name: str, certificate_number: str = "", region_code: str = "",
                        reporter: pb.Reporter | None = None) -> pb.FileReportRequest:
    request = pb.FileReportRequest(
        idempotency_key=key(), source=pb.REPORT_SOURCE_PUBLIC,
        practitioner=pb.ReportedPractitioner(name=name, certificate_number=certificate_number,
                                             region_code=region_code),
        category=pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING, description=f"该代理师出借执业证书 {uid()}")
    request.reporter.CopyFrom(reporter or real_name())
    return request


async def case_of(api, case_id: str, caller=HANDLER) -> pb.Case:
    return (await api.GetCase(pb.GetCaseRequest(case_id=case_id), metadata=caller)).case


async def record(api, case_id: str, region: str, revision: int, *entries: pb.TimelineEntry,
                 stage=pb.CASE_STAGE_VERIFICATION, **summary) -> bool:
    """A record write as the case workflow makes it."""
    return (await api.RecordCaseProgress(pb.RecordCaseProgressRequest(
        case_id=case_id, revision=revision, summary=pb.CaseSummary(
            case_id=case_id, stage=stage, status=summary.pop("status", "verifying"), region_code=region, **summary),
        new_entries=list(entries)), metadata=MACHINE)).applied


def entry(action: str, actor: str = "supervisor-zhao", internal: bool = True, **data: str) -> pb.TimelineEntry:
    return pb.TimelineEntry(actor=actor, action=action, data=data, internal=internal)


async def status(api, filed: pb.FileReportResponse) -> pb.GetReportStatusResponse:
    return await api.GetReportStatus(pb.GetReportStatusRequest(
        tracking_code=filed.tracking_code, tracking_secret=filed.tracking_secret))


# ---- entities the registry does not know (未登记主体) ----------------------------------------------------

async def test_a_report_on_an_entity_the_registry_does_not_know_opens_a_case_on_it(api, registry_api, complaints):
    county = new_county(PROVINCE)
    code = testdata.credit_code(county[:2] + "0000")
    name = f"冀东知识产权咨询有限公司{uid()}"
    who = real_name()
    request = entity_report(name, county, code, who, address="石家庄市某路2号")
    filed = await file(api, request)
    assert filed == await file(api, request)  # a retry files once

    [case] = await rows(complaints, store.Case, store.Case.id == filed.case_id)
    assert (case.subject_kind, case.agency_id, case.agency_name, case.agency_credit_code, case.agency_kind,
            case.region_code, case.subject_address, case.subject_key) == (
        "unregistered_entity", "", name, code, "", county, "石家庄市某路2号", f"entity:{code}")
    assert case.id.startswith(f"case-{case.received_on.year}-{county[:2]}0000-")
    summary = (await case_of(api, filed.case_id)).summary
    assert (summary.subject_kind, summary.agency_name, summary.agency_id, summary.subject_address) == (
        pb.SUBJECT_KIND_UNREGISTERED_ENTITY, name, "", "石家庄市某路2号")
    start = await workflow_input(complaints, filed.case_id)
    assert (start["subject_kind"], start["agency"]["agency_id"], start["agency"]["name"], start["practitioner"]) == (
        "unregistered_entity", "", name, None)
    payload = json.dumps(start, ensure_ascii=False)
    for identity in (who.name, who.phone, who.resident_id):
        assert identity not in payload  # the workflow knows the reporter by reference only
    assert (await status(api, filed)).agency_name == name

    # The same entity by its credit code joins the case; by name alone, in its region too.
    again = await file(api, entity_report(name + "分公司", county, code))
    assert again.joined_existing_case and again.case_id == filed.case_id
    plain_name = f"无照代理工作室{uid()}"
    plain = await file(api, entity_report(plain_name, county))
    same = await file(api, entity_report(plain_name, county))
    assert same.joined_existing_case and same.case_id == plain.case_id
    elsewhere = await file(api, entity_report(plain_name, new_county(PROVINCE)))
    assert not elsewhere.joined_existing_case


async def test_an_entity_the_registry_knows_is_its_agency_from_intake(api, registry_api, complaints):
    county = new_county(PROVINCE)
    agency = await new_agency(registry_api, county, kind=rpb.AGENCY_KIND_TRADEMARK)
    by_code = await file(api, entity_report("举报人所写的名称", new_county(PROVINCE), agency.credit_code,
                                            address="某地"))
    by_name = await file(api, entity_report(agency.name, county, category=pb.VIOLATION_CATEGORY_FALSE_ADVERTISING))
    for filed in (by_code, by_name):
        [case] = await rows(complaints, store.Case, store.Case.id == filed.case_id)
        assert (case.subject_kind, case.agency_id, case.agency_name, case.agency_kind, case.region_code,
                case.subject_key) == ("agency", agency.id, agency.name, "trademark", county, f"agency:{agency.id}")
    # Two agencies of the name: the report cannot say which, so it is on the entity as named.
    twin_name = f"同名{uid()}商标事务所"
    await new_agency(registry_api, county, name=twin_name)
    await new_agency(registry_api, county, name=twin_name)
    twin = await file(api, entity_report(twin_name, county))
    assert (await rows(complaints, store.Case, store.Case.id == twin.case_id))[0].agency_id == ""


# ---- practitioners (从业人员) -------------------------------------------------------------------------------

async def test_a_practitioner_is_found_by_certificate_and_placed_with_the_agency_they_practise_at(
        api, registry_api, complaints):
    county = new_county(PROVINCE)
    agency = await new_agency(registry_api, county)
    certificate = f"C{uid().upper()}"
    person = (await registry_api.RegisterPractitioner(rpb.RegisterPractitionerRequest(
        idempotency_key=key(), name=f"赵{uid()}", kind=rpb.PRACTITIONER_KIND_PATENT_ATTORNEY,
        resident_id=testdata.resident_id(), certificate_number=certificate), metadata=OPERATOR)).practitioner
    await registry_api.FilePractice(rpb.FilePracticeRequest(
        idempotency_key=key(), practitioner_id=person.id, agency_id=agency.id, filing_number=f"F{uid()}",
        started_on="2025-01-02"), metadata=OPERATOR)

    filed = await file(api, practitioner_report("举报人所写的姓名", certificate))
    [case] = await rows(complaints, store.Case, store.Case.id == filed.case_id)
    assert (case.subject_kind, case.practitioner_id, case.practitioner_name, case.practitioner_certificate,
            case.region_code, case.agency_id, case.subject_key) == (
        "practitioner", person.id, person.name, certificate, county, "", f"practitioner:{person.id}")
    start = await workflow_input(complaints, filed.case_id)
    assert start["practitioner"] == {"practitioner_id": person.id, "name": person.name,
                                     "certificate_number": certificate}
    assert person.resident_id not in json.dumps(start)
    summary = (await case_of(api, filed.case_id)).summary
    assert (summary.subject_kind, summary.practitioner_id, summary.practitioner_name) == (
        pb.SUBJECT_KIND_PRACTITIONER, person.id, person.name)
    assert (await status(api, filed)).agency_name == person.name

    # Not in the registry: placed by the region the reporter gives, which is then required.
    async with nothing_stored_changes(complaints):
        error = await refused(file(api, practitioner_report("钱某", "NOSUCH-1")), Code.INVALID_ARGUMENT)
        assert field_reasons(error) == {"practitioner.region_code": "PRACTITIONER_REGION_REQUIRED"}
    unknown = await file(api, practitioner_report("钱某", region_code=county))
    [case] = await rows(complaints, store.Case, store.Case.id == unknown.case_id)
    assert (case.subject_kind, case.practitioner_id, case.practitioner_name, case.region_code) == (
        "practitioner", "", "钱某", county)


async def test_what_a_report_must_say_of_its_subject(api, registry_api, complaints):
    county = new_county(PROVINCE)
    async with nothing_stored_changes(complaints):
        await invalid(file(api, entity_report("", "")), "entity.name", "entity.region_code")
        await invalid(file(api, entity_report("某公司", "990000", "91110000ABCDEFGH12")),
                      "entity.region_code", "entity.credit_code")
        await invalid(file(api, practitioner_report("", "bad number!", county)),
                      "practitioner.name", "practitioner.certificate_number")
        nobody = entity_report("某公司", county)
        nobody.ClearField("entity")
        error = await refused(file(api, nobody), Code.INVALID_ARGUMENT)
        assert field_reasons(error) == {"agency": "REPORT_SUBJECT_REQUIRED"}


# ---- what the workflow's record writes say ----------------------------------------------------------------

async def test_the_record_takes_the_subject_the_workflow_matched(api, registry_api, complaints):
    county = new_county(PROVINCE)
    filed = await file(api, entity_report(f"待认定公司{uid()}", county))
    agency = await new_agency(registry_api, county)
    # A writer that says nothing of the subject leaves the intake facts as they are.
    assert await record(api, filed.case_id, county, 1)
    assert (await rows(complaints, store.Case, store.Case.id == filed.case_id))[0].subject_kind == \
        "unregistered_entity"
    assert await record(api, filed.case_id, county, 2, entry("subject_matched", "handler-wang", on="2026-03-02",
                                                              agency_id=agency.id, reason="核实"),
                        subject_kind=pb.SUBJECT_KIND_AGENCY, agency_id=agency.id, agency_name=agency.name,
                        agency_credit_code=agency.credit_code, agency_kind="patent")
    [case] = await rows(complaints, store.Case, store.Case.id == filed.case_id)
    assert (case.subject_kind, case.agency_id, case.agency_name, case.agency_kind, case.subject_key) == (
        "agency", agency.id, agency.name, "patent", f"agency:{agency.id}")
    # Reports naming the agency now join the case.
    joined = await file(api, report(agency, real_name(), category=pb.VIOLATION_CATEGORY_UNLICENSED_PRACTICE))
    assert joined.joined_existing_case and joined.case_id == filed.case_id


async def test_a_case_about_no_registered_agency_tells_no_association(api, registry_api, complaints):
    county = new_county(PROVINCE)
    filed = await file(api, entity_report(f"无照公司{uid()}", county))
    assert await record(api, filed.case_id, county, 1, entry("opened", internal=False, on="2026-03-05"),
                        stage=pb.CASE_STAGE_INVESTIGATION)
    assert await rows(complaints, store.MemberEventOutbox, store.MemberEventOutbox.subject_id == filed.case_id) == []


async def test_a_merger_moves_the_reports_and_tells_every_reporter_once(api, registry_api, complaints):
    county = new_county(PROVINCE)
    agency = await new_agency(registry_api, county)
    kept = await file(api, report(agency, real_name()))
    merged = await file(api, report(agency, real_name(), category=pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING))
    anonymous = await file(api, report(agency, category=pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING))
    assert await filed_case(complaints, anonymous) == merged.case_id  # joined the case merged below

    # The case left takes the other in (its workflow's entry), ...
    taken_in = entry("case_merged_in", merged_case_id=merged.case_id, on="2026-03-10", reason="同一违法行为",
                     reporters="2")
    assert await record(api, kept.case_id, county, 2, taken_in)
    assert not await record(api, kept.case_id, county, 2, taken_in)  # a retried write
    # ... and the merged case closes, naming it.
    assert await record(api, merged.case_id, county, 2, entry("merged", internal=False, on="2026-03-10"),
                        entry("merge_grounds", into_case_id=kept.case_id, reason="同一违法行为"),
                        stage=pb.CASE_STAGE_CLOSED, status="merged", outcome=pb.CASE_OUTCOME_MERGED,
                        merged_into_case_id=kept.case_id)

    into, gone = await case_of(api, kept.case_id, SUPERVISOR), await case_of(api, merged.case_id, SUPERVISOR)
    assert (into.summary.reporter_count, len(into.reporters), gone.summary.reporter_count, list(gone.reporters)) == (
        3, 3, 0, [])
    assert (gone.summary.stage, gone.summary.outcome, gone.summary.merged_into_case_id) == (
        pb.CASE_STAGE_CLOSED, pb.CASE_OUTCOME_MERGED, kept.case_id)
    # The case left tells all three accounts; the merged case keeps its own two.
    assert into.description.count("【并案举报") == 2 and gone.description.count("【并案举报") == 1
    reports = await rows(complaints, store.Report, store.Report.merged_from == merged.case_id)
    assert {r.case_id for r in reports} == {kept.case_id} and len(reports) == 2
    for filed in (kept, merged):
        page = await status(api, filed)
        assert [m.notice for m in page.messages].count("merged") == 1, filed
        assert page.messages[-1].text.startswith("同一违法行为的举报已合并为一个案件办理")
    # The anonymous report joined an open case: its page tells only its own filing, not the
    # merger of cases it was never told of (domain.sees_case_progress).
    assert [m.action or m.notice for m in (await status(api, anonymous)).messages] == ["received"]
    # A notice later goes to every reporter of the case left, the merged case's among them.
    told = await api.NotifyReporters(pb.NotifyReportersRequest(case_id=kept.case_id, notice_key="opening-decision",
                                                               code="opened", real_name_only=True), metadata=MACHINE)
    assert told.notified == 2


# ---- refused before any workflow is asked ----------------------------------------------------------------

async def test_a_merger_is_checked_before_either_workflow_is_asked(api, registry_api, complaints):
    county = new_county(PROVINCE)
    agency, other = await new_agency(registry_api, county), await new_agency(registry_api, county)
    # Real-name reporters: their answers name the case (an anonymous filing's does not).
    first = await file(api, report(agency, real_name()))
    second = await file(api, report(agency, real_name(), category=pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING))
    stranger = await file(api, report(other, real_name()))
    closed = await file(api, report(agency, real_name(), category=pb.VIOLATION_CATEGORY_FALSE_MATERIAL))
    assert await record(api, closed.case_id, county, 1, stage=pb.CASE_STAGE_CLOSED, status="not opened",
                        outcome=pb.CASE_OUTCOME_NOT_OPENED)
    far = await file(api, report(await new_agency(registry_api, new_county("14")), real_name()))

    def merge(case_id: str, into_case_id: str, caller=SUPERVISOR):
        return api.MergeCases(pb.MergeCasesRequest(idempotency_key=key(), case_id=case_id, into_case_id=into_case_id,
                                                   reason="同一违法行为"), metadata=caller)
    async with nothing_stored_changes(complaints):
        error = await refused(merge(second.case_id, second.case_id), Code.INVALID_ARGUMENT)
        assert field_reasons(error) == {"into_case_id": "MERGE_INTO_ITSELF"}
        error = await refused(merge(second.case_id, stranger.case_id), Code.INVALID_ARGUMENT)
        assert field_reasons(error) == {"into_case_id": "MERGE_OTHER_SUBJECT"}
        error = await refused(merge(closed.case_id, first.case_id), Code.FAILED_PRECONDITION)
        assert (error_info(error).reason, error_info(error).metadata["stage"]) == ("MERGE_CASE_STAGE", "closed")
        error = await refused(merge(second.case_id, "case-2026-130000-999999"), Code.NOT_FOUND)
        assert error_info(error).reason == "CASE_NOT_FOUND"
        await refused(merge(second.case_id, far.case_id, metadata("supervisor", region=county)),
                      Code.PERMISSION_DENIED)
        for role in ("handler", "operator", "admin", "citizen", "inspector", "association"):
            await refused(merge(second.case_id, first.case_id, metadata(role)), Code.PERMISSION_DENIED)
        # Both checked, the workflows are asked; none polls here, so the service says to retry.
        await refused(merge(second.case_id, first.case_id), Code.UNAVAILABLE)


async def test_a_subject_is_matched_only_to_a_registry_entry_of_its_kind(api, registry_api, complaints):
    county = new_county(PROVINCE)
    entity = await file(api, entity_report(f"待认定公司{uid()}", county))
    person = await file(api, practitioner_report("孙某", region_code=county))

    def match(case_id: str, **fields):
        return api.MatchCaseSubject(pb.MatchCaseSubjectRequest(idempotency_key=key(), case_id=case_id,
                                                               reason="核实", **fields), metadata=HANDLER)
    async with nothing_stored_changes(complaints):
        error = await refused(match(entity.case_id), Code.INVALID_ARGUMENT)
        assert field_reasons(error) == {"agency": "MATCH_AGENCY_REQUIRED"}
        error = await refused(match(entity.case_id, agency=pb.ReportedAgency(
            credit_code=testdata.credit_code())), Code.INVALID_ARGUMENT)
        assert field_reasons(error) == {"agency": "AGENCY_NOT_IN_REGISTRY"}
        error = await refused(match(person.case_id, practitioner_certificate_number=f"N{uid()}"),
                              Code.INVALID_ARGUMENT)
        assert field_reasons(error) == {"practitioner_certificate_number": "PRACTITIONER_NOT_IN_REGISTRY"}
        error = await refused(match(person.case_id), Code.INVALID_ARGUMENT)
        assert field_reasons(error) == {"practitioner_certificate_number": "PRACTITIONER_NOT_IN_REGISTRY"}
        agency = await new_agency(registry_api, county)
        # Found in the registry, the workflow is asked (none polls here: retry later).
        await refused(match(entity.case_id, agency=pb.ReportedAgency(credit_code=agency.credit_code)),
                      Code.UNAVAILABLE)


@pytest.mark.parametrize("rpc", ["AcceptTransfer", "ReturnTransfer", "MatchCaseSubject", "MergeCases"])
async def test_the_new_actions_are_for_officers_of_the_cases_region(api, registry_api, complaints, rpc):
    county = new_county(PROVINCE)
    case_id = (await file(api, entity_report(f"某公司{uid()}", county))).case_id
    fields = {"MergeCases": dict(into_case_id=case_id + "x", reason="并案"), "ReturnTransfer": dict(reason="退回"),
              "MatchCaseSubject": dict(reason="核实"), "AcceptTransfer": {}}[rpc]
    request = getattr(pb, f"{rpc}Request")(idempotency_key=key(), case_id=case_id, **fields)
    call = getattr(api, rpc)
    async with nothing_stored_changes(complaints):
        await refused(call(request, metadata=metadata("supervisor", region=new_county("14"))), Code.PERMISSION_DENIED)
        await refused(call(request), Code.UNAUTHENTICATED)
        await refused(call(request, metadata=metadata("citizen")), Code.PERMISSION_DENIED)


def test_a_subject_key_is_one_per_subject():
    from services.complaints import domain

    assert domain.subject_key("agency", "130102", "ag-1", "名称", "9113", "", "", "") == "agency:ag-1"
    assert domain.subject_key("unregistered_entity", "130102", "", "名称", "91130000abc", "", "", "") == \
        "entity:91130000ABC"
    assert domain.subject_key("unregistered_entity", "130102", "", "名称", "", "", "", "") == "entity:130102:名称"
    assert domain.subject_key("practitioner", "130102", "", "", "", "", "王五", "c-1") == "practitioner:certificate:C-1"
    assert domain.subject_key("practitioner", "130102", "", "", "", "p-1", "王五", "c-1") == "practitioner:p-1"
    assert len(domain.subject_key("unregistered_entity", "130102", "", "名" * 400, "", "", "", "")) == 300
