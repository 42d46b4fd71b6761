"""The inspections service (ipss.inspections.v1.InspectionsService) over loopback gRPC, once on
SQLite and once on PostgreSQL, with a real registry seeded with realistic agencies, the real
worker and Temporal's time-skipping server: the inspector directory and its exclusions, plans
whose snapshot and draw match the registry and can be verified by anyone (`ipss draw verify`),
campaigns that give each inspector their own tasks, task records that keep whether their due
days are provisional (暂定), and bad input refused for every RPC with
nothing stored. The servers and databases are shared by the module, so tests keep to their own
provinces where the inspector pool matters."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
from datetime import timedelta

import grpc
import pytest
from sqlalchemy import func, select

from ipss.inspections.v1 import inspections_pb2 as pb
from ipss.registry.v1 import registry_pb2 as rpb
from services.inspections import draw_check, store
from services.inspections.domain import draw
from tests.conftest import BACKENDS, metadata
from tests.grpc_checks import bad_fields, precondition_subjects, refused
from tests.inspections_world import (SEED_SOURCE, SUPERVISOR_MD, campaign_of, default_ratios, drawn_plan, key,
                                     province_codes, register_inspectors, world)
from workflows.activities.inspections import task_progress_request
from contracts.inspections import TaskView

Code = grpc.StatusCode
PUBLIC = metadata("public")
OPERATOR = metadata("operator")
MACHINE = metadata("machine")  # the worker's and the services' own calls
HANDLER = metadata("handler")


@pytest.fixture(scope="module", params=BACKENDS)
async def w(request):
    async with world(request.param, agencies=400) as running:
        await running.start_on("2026-03-02")
        yield running


def inspector(subject: str):
    return metadata("inspector", subject=subject)


# ---- the registry's graded listing (the snapshot's source) -------------------------------------

async def test_the_registry_lists_agencies_with_their_grades_in_credit_code_pages(w):
    expected = w.agencies_in("440000")
    pages, token = [], ""
    while True:
        page = await w.registry.ListAgencyCreditGrades(rpb.ListAgencyCreditGradesRequest(
            region_code="440000", statuses=[rpb.AGENCY_STATUS_ACTIVE, rpb.AGENCY_STATUS_SUSPENDED], page_size=7,
            page_token=token, as_of="2026-03-02"), metadata=metadata("inspector"))
        pages.append(page)
        token = page.next_page_token
        if not token:
            break
    listed = [a for page in pages for a in page.agencies]
    assert [a.credit_code for a in listed] == [row.credit_code for row in expected]
    assert len(pages) == -(-len(expected) // 7) and pages[0].as_of == "2026-03-02" and pages[0].rules_version
    for agency in listed[:12]:
        profile = await w.registry.GetCreditProfile(rpb.GetCreditProfileRequest(
            agency_id=agency.agency_id, as_of="2026-03-02"), metadata=HANDLER)
        assert agency.grade == profile.profile.grade
    # A handler of Guangdong sees nothing of Beijing.
    await refused(w.registry.ListAgencyCreditGrades(rpb.ListAgencyCreditGradesRequest(region_code="110000"),
                                                    metadata=metadata("handler", region="440000")),
                  Code.PERMISSION_DENIED)
    await refused(w.registry.ListAgencyCreditGrades(rpb.ListAgencyCreditGradesRequest(page_size=5001),
                                                    metadata=HANDLER), Code.INVALID_ARGUMENT)


# ---- the inspector directory ------------------------------------------------------------------------

async def test_inspectors_and_their_exclusions(w):
    agency = w.agencies_in("320000")[0]
    request = pb.RegisterInspectorRequest(idempotency_key=key(), id="JS-0001", name="李检", office="江苏省知识产权局执法处",
                                          region_code="320000")
    first = await w.inspections.RegisterInspector(request, metadata=SUPERVISOR_MD)
    assert await w.inspections.RegisterInspector(request, metadata=SUPERVISOR_MD) == first  # a retry
    request.idempotency_key = key()
    await refused(w.inspections.RegisterInspector(request, metadata=SUPERVISOR_MD), Code.ALREADY_EXISTS)
    request.id, request.region_code = "JS-0002", "110000"
    await refused(w.inspections.RegisterInspector(request, metadata=metadata("supervisor", region="320000")),
                  Code.PERMISSION_DENIED)

    employer = await w.inspections.AddExclusion(pb.AddExclusionRequest(
        idempotency_key=key(), inspector_id="JS-0001", reason=pb.EXCLUSION_REASON_FORMER_EMPLOYER,
        agency_credit_code=agency.credit_code, note="2019-2022年在该所任职"), metadata=SUPERVISOR_MD)
    origin = await w.inspections.AddExclusion(pb.AddExclusionRequest(
        idempotency_key=key(), inspector_id="JS-0001", reason=pb.EXCLUSION_REASON_REGION_OF_ORIGIN,
        region_code="320500", note="原籍苏州"), metadata=SUPERVISOR_MD)
    assert [(e.reason, e.agency_credit_code, e.region_code) for e in origin.inspector.exclusions] == [
        (pb.EXCLUSION_REASON_FORMER_EMPLOYER, agency.credit_code, ""),
        (pb.EXCLUSION_REASON_REGION_OF_ORIGIN, "", "320500")]
    await refused(w.inspections.AddExclusion(pb.AddExclusionRequest(
        idempotency_key=key(), inspector_id="JS-0001", reason=pb.EXCLUSION_REASON_RELATIVE,
        agency_credit_code=agency.credit_code), metadata=SUPERVISOR_MD), Code.ALREADY_EXISTS)
    for reason, fields, bad in [
            (pb.EXCLUSION_REASON_REGION_OF_ORIGIN, dict(agency_credit_code=agency.credit_code),
             {"region_code", "agency_credit_code"}),
            (pb.EXCLUSION_REASON_RELATIVE, dict(region_code="320500"), {"agency_credit_code", "region_code"})]:
        error = await refused(w.inspections.AddExclusion(pb.AddExclusionRequest(
            idempotency_key=key(), inspector_id="JS-0001", reason=reason, **fields), metadata=SUPERVISOR_MD),
            Code.INVALID_ARGUMENT)
        assert bad_fields(error) == bad

    # The inspector reads their own entry, not a colleague's.
    own = await w.inspections.GetInspector(pb.GetInspectorRequest(id="JS-0001"), metadata=inspector("JS-0001"))
    assert len(own.inspector.exclusions) == 2
    await refused(w.inspections.GetInspector(pb.GetInspectorRequest(id="JS-0001"), metadata=inspector("JS-0009")),
                  Code.PERMISSION_DENIED)

    removed = await w.inspections.RemoveExclusion(pb.RemoveExclusionRequest(
        idempotency_key=key(), inspector_id="JS-0001", exclusion_id=employer.inspector.exclusions[0].id,
        reason="该所已注销"), metadata=SUPERVISOR_MD)
    assert [e.reason for e in removed.inspector.exclusions] == [pb.EXCLUSION_REASON_REGION_OF_ORIGIN]
    await refused(w.inspections.RemoveExclusion(pb.RemoveExclusionRequest(
        idempotency_key=key(), inspector_id="JS-0001", exclusion_id=employer.inspector.exclusions[0].id,
        reason="again"), metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)
    await refused(w.inspections.RemoveExclusion(pb.RemoveExclusionRequest(
        idempotency_key=key(), inspector_id="JS-0001", exclusion_id=999999, reason="none"), metadata=SUPERVISOR_MD),
        Code.NOT_FOUND)
    await refused(w.inspections.GetInspector(pb.GetInspectorRequest(id="JS-9999"), metadata=SUPERVISOR_MD),
                  Code.NOT_FOUND)


async def test_inspectors_are_listed_by_region_in_pages(w):
    ids = await register_inspectors(w.inspections, "370000", 5, "SD-")
    await register_inspectors(w.inspections, "410000", 2, "HN-")
    seen, token = [], ""
    while True:
        page = await w.inspections.ListInspectors(pb.ListInspectorsRequest(region_code="370000", page_size=2,
                                                                           page_token=token), metadata=SUPERVISOR_MD)
        seen += [i.id for i in page.inspectors]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids
    scoped = await w.inspections.ListInspectors(pb.ListInspectorsRequest(page_size=500),
                                                metadata=metadata("supervisor", region="410000"))
    assert [i.id for i in scoped.inspectors] == ["HN-000", "HN-001"]
    error = await refused(w.inspections.ListInspectors(pb.ListInspectorsRequest(page_token="bm90LWEtdG9rZW4="),
                                                       metadata=SUPERVISOR_MD), Code.INVALID_ARGUMENT)
    assert bad_fields(error) == {"page_token"}


# ---- plans, snapshots, draws, re-checks -----------------------------------------------------------

async def test_a_plan_is_snapshotted_drawn_published_and_verified(w, tmp_path):
    await register_inspectors(w.inspections, "310000", 8, "SH-")
    plan = (await w.inspections.CreatePlan(pb.CreatePlanRequest(
        idempotency_key=key(), name="上海市2026年专利代理机构双随机抽查", region_codes=["310000"],
        ratios=default_ratios(), inspectors_per_target=2), metadata=SUPERVISOR_MD)).plan
    assert plan.id.startswith("plan-2026-") and plan.status == pb.PLAN_STATUS_DRAFT
    # No seed before the snapshot's hash is published.
    await refused(w.inspections.Draw(pb.DrawRequest(idempotency_key=key(), plan_id=plan.id, seed_value="1 2 3",
                                                    seed_source="x"), metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)
    source = "上海证券交易所网站 上证综合指数 2026-03-02 收盘价"
    # A seed source whose value is already out is no commitment.
    error = await refused(w.inspections.TakeSnapshot(pb.TakeSnapshotRequest(
        idempotency_key=key(), plan_id=plan.id, seed_source=source, seed_available_on="2026-03-01"),
        metadata=SUPERVISOR_MD), Code.INVALID_ARGUMENT)
    assert bad_fields(error) == {"seed_available_on"}
    snapshot_request = pb.TakeSnapshotRequest(idempotency_key=key(), plan_id=plan.id, seed_source=source,
                                              seed_available_on="2026-03-02")
    taken = (await w.inspections.TakeSnapshot(snapshot_request, metadata=SUPERVISOR_MD)).plan
    expected = w.agencies_in("310000")
    assert taken.status == pb.PLAN_STATUS_SNAPSHOT_TAKEN and taken.snapshot.agency_count == len(expected)
    assert taken.snapshot.as_of == "2026-03-02" and len(taken.snapshot.content_hash) == 64
    assert (taken.snapshot.seed_source, taken.snapshot.seed_available_on) == (source, "2026-03-02")
    assert taken.snapshot.algorithm_version == draw.ALGORITHM_VERSION and len(taken.snapshot.pool_hash) == 64
    assert len(taken.snapshot.commitment_sha256) == 64
    assert (await w.inspections.TakeSnapshot(snapshot_request, metadata=SUPERVISOR_MD)).plan == taken  # a retry
    # A second commitment (another source) is refused: the first one stands.
    await refused(w.inspections.TakeSnapshot(pb.TakeSnapshotRequest(
        idempotency_key=key(), plan_id=plan.id, seed_source="深圳证券交易所 深证成指 2026-03-02 收盘价",
        seed_available_on="2026-03-02"), metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)
    # A seed from any other source than the committed one is refused.
    error = await refused(w.inspections.Draw(pb.DrawRequest(
        idempotency_key=key(), plan_id=plan.id, seed_value="深证成指 10123.45", seed_source="深圳证券交易所 收盘行情"),
        metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)
    assert precondition_subjects(error) == {"seed_source"}

    draw_request = pb.DrawRequest(idempotency_key=key(), plan_id=plan.id, seed_value="上证综指 2026-03-02 收盘 3351.24",
                                  seed_source=source)
    record = (await w.inspections.Draw(draw_request, metadata=SUPERVISOR_MD)).record
    assert record.commitment_sha256 == taken.snapshot.commitment_sha256 and record.pool_hash == taken.snapshot.pool_hash
    assert not record.pairings_published
    assert (await w.inspections.Draw(draw_request, metadata=SUPERVISOR_MD)).record == record  # a retry
    await refused(w.inspections.Draw(pb.DrawRequest(idempotency_key=key(), plan_id=plan.id, seed_value="another",
                                                    seed_source="x"), metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)
    assert record.algorithm_version == draw.ALGORITHM_VERSION and record.snapshot_hash == taken.snapshot.content_hash
    assert record.population == len(expected) and record.inspector_count >= 8
    assert sum(s.population for s in record.strata) == len(expected)
    assert len(record.targets) == sum(s.drawn for s in record.strata) > 0
    names = {row.credit_code: row.name for row in expected}
    assert all(names[t.credit_code] == t.agency_name and len(set(t.inspector_ids)) == 2 for t in record.targets)

    # Published at once: the targets, to anyone, who recomputes them; the pairings and the pool's
    # exclusion lists not until the results are published (the staff in scope see them).
    public = (await w.inspections.GetDrawRecord(pb.GetDrawRecordRequest(plan_id=plan.id), metadata=PUBLIC)).record
    assert [t.credit_code for t in public.targets] == [t.credit_code for t in record.targets]
    assert not any(t.inspector_ids for t in public.targets) and public.result_hash == record.result_hash
    for caller in (PUBLIC, inspector("SH-001"), metadata("supervisor", region="110000")):
        withheld = await w.inspections.ExportDrawRecord(pb.ExportDrawRecordRequest(plan_id=plan.id), metadata=caller)
        withheld_document = json.loads(gzip.decompress(withheld.document))
        assert withheld_document["pairings_withheld"] and withheld_document["pool"]["entries"] is None
        assert not any(target[4] for target in withheld_document["result"]["targets"])
    early = io.StringIO()
    assert await asyncio.to_thread(draw_check.run, plan.id, w.inspections_address, early) == 0
    assert "the targets alone were recomputed" in early.getvalue()
    assert (await w.inspections.GetDrawRecord(pb.GetDrawRecordRequest(plan_id=plan.id), metadata=SUPERVISOR_MD)
            ).record == record
    exported = await w.inspections.ExportDrawRecord(pb.ExportDrawRecordRequest(plan_id=plan.id),
                                                    metadata=SUPERVISOR_MD)
    content = gzip.decompress(exported.document)
    assert hashlib.sha256(content).hexdigest() == exported.document_sha256
    document = json.loads(content)
    assert document["result_hash"] == record.result_hash and document["seed"]["value"] == draw_request.seed_value
    assert not any("reason" in json.dumps(entry) for entry in document["pool"]["entries"])

    address = w.inspections_address
    assert document["format"] == draw.RECORD_FORMAT and document["commitment"]["seed_source"] == source
    assert document["commitment_sha256"] == record.commitment_sha256 and document["drawn_on"] == "2026-03-02"

    def recommitted(doc, **changes):
        doc["commitment"].update(changes)
        doc["commitment_sha256"] = draw.sha256_hex(doc["commitment"])

    for name, tamper in [("seed", lambda doc: doc["seed"].update(value="上证综指 2026-03-02 收盘 3351.25")),
                         ("snapshot", lambda doc: doc["snapshot"]["entries"][3].__setitem__(1, "别的名字")),
                         ("commitment", lambda doc: doc["commitment"].update(seed_source="别的来源")),
                         ("source", lambda doc: (recommitted(doc, seed_source="别的来源"),
                                                 doc["seed"].update(source="另一个来源"))),
                         ("late commitment", lambda doc: recommitted(doc, committed_at=doc["drawn_at"])),
                         ("early draw", lambda doc: recommitted(doc, seed_available_on="2026-03-03")),
                         ("pool", lambda doc: recommitted(doc, pool_hash="0" * 64))]:
        changed = json.loads(content)
        tamper(changed)
        path = tmp_path / f"{name}.json.gz"
        path.write_bytes(gzip.compress(json.dumps(changed, ensure_ascii=False).encode()))
        out = io.StringIO()
        assert await asyncio.to_thread(draw_check.run, str(path), None, out) == 1, name
        assert out.getvalue().startswith("DOES NOT MATCH")
    untouched = tmp_path / "record.json"
    untouched.write_bytes(content)
    assert await asyncio.to_thread(draw_check.run, str(untouched), None, io.StringIO()) == 0
    assert await asyncio.to_thread(draw_check.run, "plan-2026-9999", address, io.StringIO()) == 2

    # The same scope, ratios and seed over the same registry draw the same, byte for byte.
    again = await drawn_plan(w.inspections, ["310000"], seed_value=draw_request.seed_value)
    assert (again.snapshot_hash, again.result_hash) == (record.snapshot_hash, record.result_hash)
    assert list(again.targets) == list(record.targets)


async def test_a_draw_waits_for_its_committed_source_and_publishes_its_pairings_with_the_results(w):
    await register_inspectors(w.inspections, "320000", 6, "JS-")
    created = [(await w.inspections.CreatePlan(pb.CreatePlanRequest(
        idempotency_key=key(), name=f"江苏抽查 {n}", region_codes=["320000"], ratios=default_ratios(),
        inspectors_per_target=2), metadata=SUPERVISOR_MD)).plan for n in range(3)]
    # Plan ids are not numbered: 80 random bits each, nothing to count on.
    suffixes = [p.id.removeprefix("plan-2026-") for p in created]
    assert all(len(x) == 16 and not x.isdigit() for x in suffixes) and len(set(suffixes)) == 3
    plan = created[0]
    source = "中国福利彩票双色球 第2026025期 开奖号码"
    await w.inspections.TakeSnapshot(pb.TakeSnapshotRequest(idempotency_key=key(), plan_id=plan.id, seed_source=source,
                                                            seed_available_on="2026-03-03"), metadata=SUPERVISOR_MD)
    draw_request = pb.DrawRequest(idempotency_key=key(), plan_id=plan.id, seed_value="03 08 12 19 27 31 + 09",
                                  seed_source=source)
    error = await refused(w.inspections.Draw(draw_request, metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)
    assert precondition_subjects(error) == {"seed_available_on"} and "2026-03-03" in error.details()
    # The commitment is public before the draw, and its hash is the draw record's.
    commitment = (await w.inspections.GetDrawCommitment(pb.GetDrawCommitmentRequest(plan_id=plan.id),
                                                        metadata=PUBLIC)).commitment
    assert (commitment.seed_source, commitment.seed_available_on, commitment.drawn) == (source, "2026-03-03", False)
    assert hashlib.sha256(commitment.document).hexdigest() == commitment.commitment_sha256
    await refused(w.inspections.GetDrawCommitment(pb.GetDrawCommitmentRequest(plan_id=created[1].id),
                                                  metadata=PUBLIC), Code.NOT_FOUND)
    w.legal.day += timedelta(days=1)  # the legal day alone: the workflows' clock is not needed here
    try:
        record = (await w.inspections.Draw(draw_request, metadata=SUPERVISOR_MD)).record
    finally:
        w.legal.day -= timedelta(days=1)
    assert all(len(t.inspector_ids) == 2 for t in record.targets)
    assert record.commitment_sha256 == commitment.commitment_sha256

    def public_record():
        return w.inspections.GetDrawRecord(pb.GetDrawRecordRequest(plan_id=plan.id), metadata=PUBLIC)
    assert not any(t.inspector_ids for t in (await public_record()).record.targets)
    campaign = await campaign_of(w.inspections, record, "2026-03-02", "2026-06-30")
    assert not any(t.inspector_ids for t in (await public_record()).record.targets)  # running: not yet
    final = pb.CampaignProgress(targets=len(record.targets), not_started=len(record.targets))
    await w.inspections.RecordCampaignProgress(pb.RecordCampaignProgressRequest(
        campaign_id=campaign.id, revision=10**6, status=pb.CAMPAIGN_STATUS_ENDED, progress=final,
        report=pb.CampaignReport(ending=pb.CAMPAIGN_STATUS_ENDED, closed_on="2026-06-30", figures=final)),
        metadata=MACHINE)
    shown = (await public_record()).record
    assert shown.pairings_published and list(shown.targets) == list(record.targets)
    exported = await w.inspections.ExportDrawRecord(pb.ExportDrawRecordRequest(plan_id=plan.id), metadata=PUBLIC)
    document = json.loads(gzip.decompress(exported.document))
    assert "pairings_withheld" not in document and document["pool"]["entries"]
    assert document["commitment"]["seed_available_on"] == "2026-03-03" and document["drawn_on"] == "2026-03-03"
    out = io.StringIO()
    assert await asyncio.to_thread(draw_check.run, plan.id, w.inspections_address, out) == 0
    assert out.getvalue().startswith(f"MATCHES: plan {plan.id}, {len(record.targets)} targets")
    assert f"to seed source {source!r}" in out.getvalue() and "targets alone" not in out.getvalue()


async def test_a_plan_that_cannot_be_staffed_draws_nothing(w):
    agencies = w.agencies_in("510000")
    await register_inspectors(w.inspections, "510000", 2, "SC-")
    blocked = agencies[0].credit_code
    await w.inspections.AddExclusion(pb.AddExclusionRequest(
        idempotency_key=key(), inspector_id="SC-001", reason=pb.EXCLUSION_REASON_RELATIVE, agency_credit_code=blocked,
        note="配偶任该所合伙人"), metadata=SUPERVISOR_MD)
    plan = (await w.inspections.CreatePlan(pb.CreatePlanRequest(
        idempotency_key=key(), name="四川全部在册机构", region_codes=["510000"], all_in_scope=True,
        inspectors_per_target=2), metadata=SUPERVISOR_MD)).plan
    await w.inspections.TakeSnapshot(pb.TakeSnapshotRequest(idempotency_key=key(), plan_id=plan.id,
                                                            seed_source="体彩排列3", seed_available_on="2026-03-02"),
                                     metadata=SUPERVISOR_MD)
    error = await refused(w.inspections.Draw(pb.DrawRequest(idempotency_key=key(), plan_id=plan.id,
                                                            seed_value="07 13 21", seed_source="体彩排列3"),
                                             metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)
    assert blocked in error.details() and precondition_subjects(error) == {blocked}
    assert (await w.inspections.GetPlan(pb.GetPlanRequest(plan_id=plan.id), metadata=SUPERVISOR_MD)).plan.status \
        == pb.PLAN_STATUS_SNAPSHOT_TAKEN
    await refused(w.inspections.GetDrawRecord(pb.GetDrawRecordRequest(plan_id=plan.id)), Code.NOT_FOUND)
    # A third inspector staffs a new plan (the pool was committed with the first one's snapshot),
    # and the excluded one never meets that agency.
    await register_inspectors(w.inspections, "510100", 1, "CD-")
    await refused(w.inspections.Draw(pb.DrawRequest(idempotency_key=key(), plan_id=plan.id, seed_value="07 13 21",
                                                    seed_source="体彩排列3"), metadata=SUPERVISOR_MD),
                  Code.FAILED_PRECONDITION)
    record = await drawn_plan(w.inspections, ["510000"], seed_value="07 13 21", all_in_scope=True)
    assert len(record.targets) == len(agencies)
    team = next(t.inspector_ids for t in record.targets if t.credit_code == blocked)
    assert sorted(team) == ["CD-000", "SC-000"]


async def test_an_inspector_who_left_is_not_drawn_again(w):
    agencies = w.agencies_in("420000")
    assert len(agencies) >= 2
    ids = await register_inspectors(w.inspections, "420000", 4, "HB-")
    today = w.legal.today()
    leaving = pb.RecordInspectorDepartureRequest(idempotency_key=key(), inspector_id=ids[0], left_on=today.isoformat(),
                                                 reason="调任省局办公室，不再从事执法检查")
    left = (await w.inspections.RecordInspectorDeparture(leaving, metadata=SUPERVISOR_MD)).inspector
    assert (left.left_on, left.leaving_reason) == (today.isoformat(), "调任省局办公室，不再从事执法检查")
    assert (await w.inspections.RecordInspectorDeparture(leaving, metadata=SUPERVISOR_MD)).inspector == left
    # Leaving tomorrow: still in today's draw.
    await w.inspections.RecordInspectorDeparture(pb.RecordInspectorDepartureRequest(
        idempotency_key=key(), inspector_id=ids[1], left_on=(today + timedelta(days=1)).isoformat(), reason="退休"),
        metadata=SUPERVISOR_MD)
    before = await row_counts(w)
    await refused(w.inspections.RecordInspectorDeparture(pb.RecordInspectorDepartureRequest(
        idempotency_key=key(), inspector_id=ids[0], left_on=today.isoformat(), reason="again"),
        metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)
    await refused(w.inspections.RecordInspectorDeparture(pb.RecordInspectorDepartureRequest(
        idempotency_key=key(), inspector_id="HB-999", left_on=today.isoformat(), reason="none"),
        metadata=SUPERVISOR_MD), Code.NOT_FOUND)
    await refused(w.inspections.RecordInspectorDeparture(pb.RecordInspectorDepartureRequest(
        idempotency_key=key(), inspector_id=ids[2], left_on=today.isoformat(), reason="退休"),
        metadata=metadata("supervisor", region="110000")), Code.PERMISSION_DENIED)
    assert await row_counts(w) == before

    record = await drawn_plan(w.inspections, ["420000"], all_in_scope=True)
    assert record.inspector_count == 3
    drawn = {inspector for target in record.targets for inspector in target.inspector_ids}
    assert ids[0] not in drawn and drawn <= set(ids[1:])
    listed = (await w.inspections.ListInspectors(pb.ListInspectorsRequest(region_code="420000"),
                                                 metadata=SUPERVISOR_MD)).inspectors
    assert [(i.id, i.left_on) for i in listed] == [(ids[0], today.isoformat()),
                                                  (ids[1], (today + timedelta(days=1)).isoformat()),
                                                  (ids[2], ""), (ids[3], "")]


# ---- campaigns and tasks -----------------------------------------------------------------------------

async def test_inspectors_see_only_their_own_tasks(w):
    ids = await register_inspectors(w.inspections, "330000", 4, "ZJ-")
    record = await drawn_plan(w.inspections, ["330000"], ratios=default_ratios(3000, 4000, 5000, 10000))
    refusal = await refused(w.inspections.CreateCampaign(pb.CreateCampaignRequest(
        idempotency_key=key(), name="无主题专项整治", kind=pb.CAMPAIGN_KIND_SPECIAL_RECTIFICATION, plan_id=record.plan_id,
        starts_on="2026-03-02", ends_on="2026-06-30"), metadata=SUPERVISOR_MD), Code.INVALID_ARGUMENT)
    assert bad_fields(refusal) == {"theme"}
    campaign = await campaign_of(w.inspections, record, "2026-03-02", "2026-06-30")
    assert campaign.status == pb.CAMPAIGN_STATUS_RUNNING and campaign.progress.targets == len(record.targets)
    await refused(w.inspections.CreateCampaign(pb.CreateCampaignRequest(
        idempotency_key=key(), name="重复", kind=pb.CAMPAIGN_KIND_RANDOM_INSPECTION, plan_id=record.plan_id,
        starts_on="2026-03-02", ends_on="2026-06-30"), metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)

    every = (await w.inspections.ListTasks(pb.ListTasksRequest(campaign_id=campaign.id, page_size=500),
                                           metadata=SUPERVISOR_MD)).tasks
    assert sorted(t.agency.credit_code for t in every) == sorted(t.credit_code for t in record.targets)
    for inspector_id in ids:
        mine = (await w.inspections.ListTasks(pb.ListTasksRequest(page_size=500), metadata=inspector(inspector_id))).tasks
        assert {t.id for t in mine} == {t.id for t in every if inspector_id in t.inspector_ids}
        assert all(t.due_on == "2026-06-30" for t in mine)
    await refused(w.inspections.ListTasks(pb.ListTasksRequest(inspector_id=ids[1]), metadata=inspector(ids[0])),
                  Code.PERMISSION_DENIED)
    staff_view = (await w.inspections.ListTasks(pb.ListTasksRequest(inspector_id=ids[1], page_size=500),
                                                metadata=SUPERVISOR_MD)).tasks
    assert all(ids[1] in t.inspector_ids for t in staff_view) and staff_view
    stranger = next(t for t in every if ids[0] not in t.inspector_ids)
    await refused(w.inspections.GetTask(pb.GetTaskRequest(task_id=stranger.id), metadata=inspector(ids[0])),
                  Code.PERMISSION_DENIED)
    await refused(w.inspections.RecordCheck(pb.RecordCheckRequest(
        idempotency_key=key(), task_id=stranger.id, outcome=pb.CHECK_OUTCOME_NO_PROBLEM, findings="未发现问题"),
        metadata=inspector(ids[0])), Code.PERMISSION_DENIED)
    await refused(w.inspections.GetTask(pb.GetTaskRequest(task_id=stranger.id),
                                        metadata=metadata("handler", region="110000")), Code.PERMISSION_DENIED)
    listed = (await w.inspections.ListCampaigns(pb.ListCampaignsRequest(), metadata=SUPERVISOR_MD)).campaigns
    assert campaign.id in [c.id for c in listed]
    elsewhere = (await w.inspections.ListCampaigns(pb.ListCampaignsRequest(),
                                                   metadata=metadata("supervisor", region="110000"))).campaigns
    assert campaign.id not in [c.id for c in elsewhere]


async def test_a_regional_supervisor_pages_through_only_their_campaigns(w):
    """Campaigns of other provinces in between do not leave short pages behind them."""
    here, elsewhere = province_codes(w.registry_url)[:2]
    for province in (here, elsewhere, elsewhere, here, elsewhere):
        await register_inspectors(w.inspections, province, 6, f"PG{province[:2]}-{key()[4:12]}-")
        record = await drawn_plan(w.inspections, [province], all_in_scope=True)
        await campaign_of(w.inspections, record, "2026-03-02", "2026-06-30")
    everyone = (await w.inspections.ListCampaigns(pb.ListCampaignsRequest(page_size=200),
                                                  metadata=SUPERVISOR_MD)).campaigns
    theirs = [c.id for c in everyone if all(r.startswith(here[:2]) for r in c.region_codes)]
    assert len(theirs) >= 2

    regional, token, pages = metadata("supervisor", region=here), "", []
    while True:
        page = await w.inspections.ListCampaigns(pb.ListCampaignsRequest(page_size=1, page_token=token),
                                                 metadata=regional)
        pages.append([c.id for c in page.campaigns])
        token = page.next_page_token
        if not token:
            break
    assert all(len(ids) == 1 for ids in pages)
    assert [i for ids in pages for i in ids] == theirs


async def test_a_task_record_keeps_whether_its_due_days_are_provisional(w):
    """The task workflow's view as its activity writes it, read back: due days counted on 2027,
    whose holiday schedule no source knows, are marked until the workflow writes them final."""
    here = province_codes(w.registry_url)[-1]
    await register_inspectors(w.inspections, here, 4, f"PV{key()[4:10]}-")
    record = await drawn_plan(w.inspections, [here], all_in_scope=True)
    campaign = await campaign_of(w.inspections, record, "2026-03-02", "2026-06-30")
    task_id = (await w.inspections.ListTasks(pb.ListTasksRequest(campaign_id=campaign.id, page_size=1),
                                             metadata=SUPERVISOR_MD)).tasks[0].id
    # Far ahead of anything the task's own workflow writes, so that its records do not replace these.
    view = TaskView(task_id=task_id, revision=1000, stage="rectifying", outcome="problem", category="false_advertising",
                    findings="宣传用语不规范", checked_on="2026-12-28", rectify_due_on="2027-01-27",
                    publish_due_on="2027-02-01", rectify_due_provisional=True, publish_due_provisional=True)

    async def written(view: TaskView) -> pb.Task:
        assert (await w.inspections.RecordTaskProgress(task_progress_request(view), metadata=MACHINE)).applied
        return (await w.inspections.GetTask(pb.GetTaskRequest(task_id=task_id), metadata=SUPERVISOR_MD)).task

    task = await written(view)
    assert (task.rectify_due_on, task.rectify_due_provisional, task.publish_due_on, task.publish_due_provisional) == (
        "2027-01-27", True, "2027-02-01", True)
    view.revision, view.rectify_due_provisional = 1001, False
    task = await written(view)
    assert (task.rectify_due_provisional, task.publish_due_provisional) == (False, True)
    view.revision, view.publish_due_provisional = 1002, False
    task = await written(view)
    assert (task.rectify_due_provisional, task.publish_due_provisional) == (False, False)
    async with w.inspections_store.sessions() as session:
        stored = await session.get(store.Task, task_id)
    assert (stored.rectify_due_provisional, stored.publish_due_provisional) == (False, False)


async def test_unknown_things_are_not_found(w):
    for call in (w.inspections.GetPlan(pb.GetPlanRequest(plan_id="plan-2026-9999"), metadata=SUPERVISOR_MD),
                 w.inspections.GetCampaign(pb.GetCampaignRequest(campaign_id="campaign-2026-9999"),
                                           metadata=SUPERVISOR_MD),
                 w.inspections.GetTask(pb.GetTaskRequest(task_id="inspection-x"), metadata=SUPERVISOR_MD),
                 w.inspections.ExportDrawRecord(pb.ExportDrawRecordRequest(plan_id="plan-2026-9999")),
                 w.inspections.TakeSnapshot(pb.TakeSnapshotRequest(idempotency_key=key(), plan_id="plan-2026-9999",
                                                                   seed_source=SEED_SOURCE,
                                                                   seed_available_on="2026-03-02"),
                                            metadata=SUPERVISOR_MD)):
        await refused(call, Code.NOT_FOUND)


# ---- bad input, for every RPC ----------------------------------------------------------------------

K = "key-12345678"
BAD_INPUT = [
    ("RegisterInspector", pb.RegisterInspectorRequest(idempotency_key=K, id="a b", name="x", office="y",
                                                      region_code="990000"), SUPERVISOR_MD, {"id", "region_code"}),
    ("GetInspector", pb.GetInspectorRequest(), SUPERVISOR_MD, {"id"}),
    ("ListInspectors", pb.ListInspectorsRequest(page_size=501), SUPERVISOR_MD, {"page_size"}),
    ("AddExclusion", pb.AddExclusionRequest(idempotency_key=K, inspector_id="x", agency_credit_code="91110000X"),
     SUPERVISOR_MD, {"reason", "agency_credit_code"}),
    ("RemoveExclusion", pb.RemoveExclusionRequest(idempotency_key="short", inspector_id="x", reason="r"),
     SUPERVISOR_MD, {"idempotency_key", "exclusion_id"}),
    ("RecordInspectorDeparture", pb.RecordInspectorDepartureRequest(idempotency_key=K, inspector_id="x",
                                                                    left_on="2026-02-30"),
     SUPERVISOR_MD, {"left_on", "reason"}),
    ("CreatePlan", pb.CreatePlanRequest(idempotency_key=K, name="p", region_codes=["110000"], inspectors_per_target=1,
                                        ratios=[pb.SamplingRatio(basis_points=20000)]), SUPERVISOR_MD,
     {"inspectors_per_target", "ratios[0].risk_class", "ratios[0].basis_points"}),
    ("GetPlan", pb.GetPlanRequest(plan_id="p" * 65), SUPERVISOR_MD, {"plan_id"}),
    ("TakeSnapshot", pb.TakeSnapshotRequest(idempotency_key=K, seed_available_on="2026-02-30"), SUPERVISOR_MD,
     {"plan_id", "seed_source", "seed_available_on"}),
    ("Draw", pb.DrawRequest(idempotency_key=K, plan_id="plan-2026-0001", seed_value="s" * 201), SUPERVISOR_MD,
     {"seed_value", "seed_source"}),
    ("GetDrawRecord", pb.GetDrawRecordRequest(), PUBLIC, {"plan_id"}),
    ("ExportDrawRecord", pb.ExportDrawRecordRequest(), PUBLIC, {"plan_id"}),
    ("GetDrawCommitment", pb.GetDrawCommitmentRequest(plan_id="p" * 65), PUBLIC, {"plan_id"}),
    ("CreateCampaign", pb.CreateCampaignRequest(idempotency_key=K, name="c", kind=pb.CAMPAIGN_KIND_RANDOM_INSPECTION,
                                                plan_id="plan-2026-0001", starts_on="2026-02-30", ends_on="2026-03-01"),
     SUPERVISOR_MD, {"starts_on"}),
    ("GetCampaign", pb.GetCampaignRequest(), SUPERVISOR_MD, {"campaign_id"}),
    ("ListCampaigns", pb.ListCampaignsRequest(statuses=[9]), SUPERVISOR_MD, {"statuses"}),
    ("AddCampaignTargets", pb.AddCampaignTargetsRequest(idempotency_key=K, campaign_id="c", reason="r",
                                                        agencies=[pb.TargetAgency(credit_code="911100000000000000")]),
     SUPERVISOR_MD, {"agencies[0].credit_code"}),
    ("ExtendCampaign", pb.ExtendCampaignRequest(idempotency_key=K, campaign_id="c", ends_on="soon", reason="r"),
     SUPERVISOR_MD, {"ends_on"}),
    ("CloseCampaign", pb.CloseCampaignRequest(idempotency_key=K, campaign_id="c"), SUPERVISOR_MD, {"reason"}),
    ("ListTasks", pb.ListTasksRequest(stages=[42]), SUPERVISOR_MD, {"stages"}),
    ("GetTask", pb.GetTaskRequest(), SUPERVISOR_MD, {"task_id"}),
    ("RecordCheck", pb.RecordCheckRequest(idempotency_key=K, task_id="t", findings="ok"), inspector("x"),
     {"outcome", "findings"}),
    ("RecordRecheck", pb.RecordRecheckRequest(idempotency_key=K, task_id="t", effective_on="2026-13-01",
                                              findings="已整改完毕"), inspector("x"), {"effective_on"}),
    ("PublishResult", pb.PublishResultRequest(idempotency_key=K), SUPERVISOR_MD, {"task_id"}),
    ("ListPublishedResults", pb.ListPublishedResultsRequest(credit_code="123"), PUBLIC, {"credit_code"}),
    ("GetCampaignTargets", pb.GetCampaignTargetsRequest(campaign_id="c", limit=1001), MACHINE, {"limit"}),
    ("RecordCampaignProgress", pb.RecordCampaignProgressRequest(campaign_id="c", revision=1), MACHINE,
     {"progress", "status"}),
    ("RecordTaskProgress", pb.RecordTaskProgressRequest(task_id="t", stage=pb.TASK_STAGE_CONCLUDED,
                                                        checked_on="yesterday"), MACHINE, {"revision", "checked_on"}),
]


def test_the_table_covers_every_rpc():
    assert {name for name, *_ in BAD_INPUT} == set(pb.DESCRIPTOR.services_by_name["InspectionsService"]
                                                   .methods_by_name)


@pytest.mark.parametrize("rpc, request_message, caller, fields", BAD_INPUT, ids=[row[0] for row in BAD_INPUT])
async def test_bad_input_is_refused_naming_the_fields(w, rpc, request_message, caller, fields):
    before = await row_counts(w)
    error = await refused(getattr(w.inspections, rpc)(request_message, metadata=caller), Code.INVALID_ARGUMENT)
    assert bad_fields(error) == fields, error.details()
    assert await row_counts(w) == before


async def row_counts(w) -> dict:
    """Row counts of every table of the inspections service: the campaigns of earlier tests keep
    writing their progress meanwhile, so the rows themselves may change, their number may not."""
    async with w.inspections_store.sessions() as session:
        return {table.name: await session.scalar(select(func.count()).select_from(table))
                for table in store.Base.metadata.sorted_tables}


@pytest.mark.parametrize("rpc, request_message, caller, code", [
    ("CreatePlan", pb.CreatePlanRequest(), PUBLIC, Code.UNAUTHENTICATED),
    ("CreatePlan", pb.CreatePlanRequest(), inspector("x"), Code.PERMISSION_DENIED),
    ("RecordCheck", pb.RecordCheckRequest(), SUPERVISOR_MD, Code.PERMISSION_DENIED),
    ("PublishResult", pb.PublishResultRequest(), inspector("x"), Code.PERMISSION_DENIED),
    ("RecordTaskProgress", pb.RecordTaskProgressRequest(), SUPERVISOR_MD, Code.PERMISSION_DENIED),
    ("RegisterInspector", pb.RegisterInspectorRequest(), HANDLER, Code.PERMISSION_DENIED),
])
async def test_roles_are_checked_before_the_request(w, rpc, request_message, caller, code):
    await refused(getattr(w.inspections, rpc)(request_message, metadata=caller), code)


async def test_a_plan_outside_the_callers_scope_is_refused(w):
    error = await refused(w.inspections.CreatePlan(pb.CreatePlanRequest(
        idempotency_key=key(), name="越权计划", region_codes=["110000"], ratios=default_ratios(),
        inspectors_per_target=2), metadata=metadata("supervisor", region="310000")), Code.PERMISSION_DENIED)
    assert "110000" in error.details()
    error = await refused(w.inspections.CreatePlan(pb.CreatePlanRequest(
        idempotency_key=key(), name="比例倒挂", region_codes=["110000"], ratios=default_ratios(5000, 100, 100, 100),
        inspectors_per_target=2), metadata=SUPERVISOR_MD), Code.INVALID_ARGUMENT)
    assert bad_fields(error) == {"ratios"}


async def test_a_seed_with_control_characters_is_refused(w):
    record_plan = (await w.inspections.CreatePlan(pb.CreatePlanRequest(
        idempotency_key=key(), name="种子检查", region_codes=["650000"], all_in_scope=True, inspectors_per_target=2),
        metadata=SUPERVISOR_MD)).plan
    error = await refused(w.inspections.Draw(pb.DrawRequest(idempotency_key=key(), plan_id=record_plan.id,
                                                            seed_value="1\t2", seed_source="s"),
                                             metadata=SUPERVISOR_MD), Code.INVALID_ARGUMENT)
    assert bad_fields(error) == {"seed_value"}
