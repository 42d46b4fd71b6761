"""An association's whole day through the linkage endpoint, on the real date: a citizen's
real-name report on its member becomes a case (the real Temporal dev server and the suite's
worker), the office refers it to the association, the association lists and answers the referral
through mutual TLS and the case moves on; the office opens the case; the association reports its own measure on the member,
which its workflow puts on the credit record; the feed tells all of it, and the reporter's name,
phone and identity number, the handler's grounds and the answer's reason appear in no event."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import tempfile
import uuid
from pathlib import Path

from google.protobuf.json_format import MessageToDict

from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.linkage.v1 import linkage_pb2 as pb
from ipss.registry.v1 import registry_pb2 as rpb
from suite import clock, config
from tests.conftest import metadata
from tests.test_complaints_intake import file, new_agency, real_name, registry_api, replica_with_worker, report, uid
from tests.grpc_checks import eventually
from tests.test_linkage import Link, new_association, start_link, stop_link

__all__ = ["registry_api"]  # the fixture, used by name

GROUNDS = f"情节轻微，转行业自律处理（承办人意见 {uuid.uuid4().hex[:6]}）"
DECLINE_REASON = f"协会内部意见 {uuid.uuid4().hex[:6]}"


async def feed_until(link: Link, association_id: str, kinds: set[int]) -> list[rpb.MemberEvent]:
    """The association's feed from its beginning until every kind in `kinds` came (or 20 s passed)."""
    received: list[rpb.MemberEvent] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(20):
            async for answer in link.stub(association_id).WatchMemberEvents(
                    pb.WatchMemberEventsRequest(after_position=0)):
                received.extend(answer.events)
                if kinds <= {e.kind for e in received}:
                    break
    assert {e.kind for e in received} >= kinds, [rpb.MemberEventKind.Name(e.kind) for e in received]
    return received


async def test_referral_discipline_and_the_feed_through_the_linkage_with_no_reporter_in_any_event(
        registry, registry_api, complaints):
    agency = await new_agency(registry_api)
    staff = metadata("handler", subject="handler-li")
    with tempfile.TemporaryDirectory(prefix="ipss-certs-") as certs:
        queue = f"linkage-{uid()}"
        async with replica_with_worker(registry, complaints, queue) as (complaints_address, complaints_api):
            link = await start_link(registry, Path(certs), complaints_address=complaints_address,
                                    temporal_client=complaints.temporal,
                                    temporal_settings=config.TemporalSettings("", "", queue))
            try:
                association = await new_association(registry, link)
                await registry_api.AdmitMember(rpb.AdmitMemberRequest(
                    idempotency_key=uuid.uuid4().hex, association_id=association.id, agency_id=agency.id,
                    joined_on=(clock.today() - datetime.timedelta(days=400)).isoformat()), metadata=metadata("operator"))
                reporter = real_name()
                filed = await file(complaints_api, report(agency, reporter))
                await eventually(lambda: _stage(complaints_api, filed.case_id, staff, cpb.CASE_STAGE_VERIFICATION))
                await complaints_api.ReferToAssociation(cpb.ReferToAssociationRequest(
                    idempotency_key=uuid.uuid4().hex, case_id=filed.case_id, association_id=association.id,
                    reason=GROUNDS), metadata=staff)
                stub = link.stub(association.id)

                listed = await stub.ListReferrals(pb.ListReferralsRequest(open_only=True))
                assert [r.case_id for r in listed.referrals] == [filed.case_id]
                assert listed.referrals[0].grounds == GROUNDS  # the office's letter is the association's to read
                answered = await stub.AnswerReferral(pb.AnswerReferralRequest(
                    idempotency_key=uuid.uuid4().hex, case_id=filed.case_id, answer=cpb.REFERRAL_ANSWER_DECLINED,
                    reason=DECLINE_REASON))
                assert answered.referral.answer == cpb.REFERRAL_ANSWER_DECLINED
                # Declined: the case is back with the office, in the stage it was referred from.
                assert await eventually(lambda: _stage(complaints_api, filed.case_id, staff,
                                                       cpb.CASE_STAGE_VERIFICATION))
                await complaints_api.OpenCase(cpb.OpenCaseRequest(
                    idempotency_key=uuid.uuid4().hex, case_id=filed.case_id, reason=GROUNDS), metadata=staff)

                document = f"京知协惩字〔{clock.today().year}〕{uid()}号"
                reported = await stub.ReportDiscipline(pb.ReportDisciplineRequest(
                    agency_id=agency.id, measure=rpb.DISCIPLINE_MEASURE_PUBLIC_CENSURE, document_number=document,
                    decided_on=clock.today().isoformat()))
                assert reported.workflow_id and reported.publicity_ends_on > clock.today().isoformat()
                profile = await stub.GetMember(pb.GetMemberRequest(agency_id=agency.id))
                [censure] = [r for r in profile.credit.reasons if "public censure" in r.explanation]
                assert censure.kind == rpb.CREDIT_EVENT_KIND_ASSOCIATION_DISCIPLINE and profile.credit.score == 100 - censure.points

                events = await feed_until(link, association.id, {
                    rpb.MEMBER_EVENT_KIND_MEMBERSHIP_CHANGED, rpb.MEMBER_EVENT_KIND_REFERRAL_SENT,
                    rpb.MEMBER_EVENT_KIND_CASE_OPENED, rpb.MEMBER_EVENT_KIND_DISCIPLINE_RECORDED})
            finally:
                await stop_link(link)
    assert {e.agency_id for e in events} == {agency.id}
    printed = json.dumps([MessageToDict(e) for e in events], ensure_ascii=False)
    for secret in (reporter.name, reporter.phone, reporter.resident_id, GROUNDS, DECLINE_REASON):
        assert secret not in printed


async def _stage(api, case_id: str, caller, stage: int) -> bool:
    case = (await api.GetCase(cpb.GetCaseRequest(case_id=case_id), metadata=caller)).case
    return case.summary.stage == stage
