"""Industry associations in the registry (ipss.registry.v1.RegistryService, issue 14) over loopback
gRPC with real tokens, once on SQLite and once on PostgreSQL: associations and their members over
time; an association's caller sees its own association and members only, and another's as if
they did not exist; disciplinary measures on the credit record; association certificates; the
member events feed, its routing, idempotency, positions in commit order under concurrent writers,
acknowledgements and pruning.

The registry and its feed are shared by the session (and pruned by some tests), so every test
makes its own associations and agencies and reads the feed after the position it stood at when
the test began."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, time

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select

from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from services.registry import domain, store
from suite import clock, testdata
from tests.conftest import metadata
from tests.grpc_checks import error_info, invalid, refused
from tests.test_registry_api import count, create_agency, day, key, nothing_stored_changes

Code = grpc.StatusCode
OPERATOR = metadata("operator")
MACHINE = metadata("machine")  # the worker's and the services' own calls
HANDLER = metadata("handler")
GRADING = domain.GradingRules.load()


@pytest.fixture
def api(registry) -> pb_grpc.RegistryServiceStub:
    return pb_grpc.RegistryServiceStub(registry.channel)


def as_association(association: pb.Association | str) -> tuple:
    association_id = association if isinstance(association, str) else association.id
    return metadata("association", subject=f"assoc-{association_id}", association_id=association_id)


async def new_association(api, region_code: str = "110000",
                          kinds=(pb.AGENCY_KIND_PATENT, pb.AGENCY_KIND_TRADEMARK), **fields) -> pb.Association:
    code = testdata.credit_code(region_code)
    values = dict(idempotency_key=key(), name=f"测试知识产权服务业协会{code[-8:]}", credit_code=code,
                  region_code=region_code, kinds=list(kinds))
    values.update(fields)
    return (await api.CreateAssociation(pb.CreateAssociationRequest(**values), metadata=OPERATOR)).association


async def admit(api, association: pb.Association, agency_id: str, joined_on: str) -> pb.Membership:
    return (await api.AdmitMember(pb.AdmitMemberRequest(
        idempotency_key=key(), association_id=association.id, agency_id=agency_id, joined_on=joined_on),
        metadata=OPERATOR)).membership


async def end(api, association: pb.Association, agency_id: str, left_on: str,
              ended_by=pb.MEMBERSHIP_END_LEFT) -> pb.Membership:
    return (await api.EndMembership(pb.EndMembershipRequest(
        idempotency_key=key(), association_id=association.id, agency_id=agency_id, left_on=left_on,
        ended_by=ended_by, reference="理事会决议2026-01"), metadata=OPERATOR)).membership


async def new_member(api, association: pb.Association, joined_on: str | None = None, **fields) -> pb.Agency:
    agency = await create_agency(api, **fields)
    await admit(api, association, agency.id, joined_on or day(-30))
    return agency


async def feed_head(registry) -> int:
    """The feed's last position now: a test reads what it appends after it."""
    return (await registry.store.feed_state())[0]


async def read_all(api, association: pb.Association, after: int, caller=None) -> list[pb.MemberEvent]:
    events = []
    while True:
        page = await api.ReadMemberEvents(pb.ReadMemberEventsRequest(after_position=after, limit=100),
                                          metadata=caller or as_association(association))
        events.extend(page.events)
        if not page.events:
            return events
        after = page.last_position


def at(on: str, hour: int = 12) -> Timestamp:
    """A moment of a day, China time."""
    stamp = Timestamp()
    stamp.FromDatetime(datetime.combine(datetime.fromisoformat(on).date(), time(hour), tzinfo=clock.CHINA))
    return stamp


def draft(agency: pb.Agency, tag: str, on: str | None = None, association_id: str = "",
          kind=pb.MEMBER_EVENT_KIND_CASE_OPENED) -> pb.MemberEventDraft:
    return pb.MemberEventDraft(source_key=f"test:{tag}", kind=kind, agency_id=agency.id,
                               occurred_at=at(on or day(0)), subject_id=f"case-{tag}",
                               facts={"on": on or day(0)}, association_id=association_id)


async def append(api, *drafts: pb.MemberEventDraft) -> int:
    return (await api.AppendMemberEvents(pb.AppendMemberEventsRequest(events=list(drafts)),
                                         metadata=MACHINE)).appended


def discipline(association: pb.Association, agency_id: str, measure=pb.DISCIPLINE_MEASURE_PUBLIC_CENSURE,
               document_number: str = "", decided_on: str | None = None, publicity_ends_on: str | None = None
               ) -> pb.RecordAssociationDisciplineRequest:
    return pb.RecordAssociationDisciplineRequest(
        association_id=association.id, agency_id=agency_id, measure=measure,
        document_number=document_number or f"京知协处字〔2026〕{uuid.uuid4().hex[:6]}号",
        decided_on=decided_on or day(-2), publicity_ends_on=publicity_ends_on or day(180))


def not_found_shape(error: grpc.aio.AioRpcError) -> tuple:
    """What a NOT_FOUND says, its key aside: the same for every agency it refuses."""
    info = error_info(error)
    key_value = info.metadata["key"]
    return error.code(), info.reason, error.details().replace(key_value, "<key>"), tuple(sorted(info.metadata))


# ---- associations ----------------------------------------------------------------------------

async def test_create_list_and_get_associations(api, registry):
    request = pb.CreateAssociationRequest(
        idempotency_key=key(), name=f"北京市知识产权服务业协会{uuid.uuid4().hex[:6]}",
        credit_code=testdata.credit_code("110000"), region_code="110000",
        kinds=[pb.AGENCY_KIND_PATENT, pb.AGENCY_KIND_TRADEMARK, pb.AGENCY_KIND_PATENT])
    created = (await api.CreateAssociation(request, metadata=OPERATOR)).association
    assert created.id and created.name == request.name and created.region_code == "110000"
    assert list(created.kinds) == [pb.AGENCY_KIND_PATENT, pb.AGENCY_KIND_TRADEMARK]
    assert (await api.CreateAssociation(request, metadata=OPERATOR)).association == created  # a retry
    async with nothing_stored_changes(registry):
        again = pb.CreateAssociationRequest(**{**{f.name: v for f, v in request.ListFields()},
                                               "idempotency_key": key()})
        error = await refused(api.CreateAssociation(again, metadata=OPERATOR), Code.ALREADY_EXISTS)
        assert error_info(error).reason == "ASSOCIATION_ALREADY_REGISTERED"
        await invalid(api.CreateAssociation(pb.CreateAssociationRequest(), metadata=OPERATOR),
                      "idempotency_key", "name", "credit_code", "region_code", "kinds")

    city = await new_association(api, region_code="110100", kinds=[pb.AGENCY_KIND_TRADEMARK])
    shanghai = await new_association(api, region_code="310000")
    in_district = {a.id for a in (await api.ListAssociations(pb.ListAssociationsRequest(region_code="110108"),
                                                             metadata=HANDLER)).associations}
    assert {created.id, city.id} <= in_district and shanghai.id not in in_district
    beijing_handler = metadata("handler", region="110000")
    in_scope = {a.id for a in (await api.ListAssociations(pb.ListAssociationsRequest(),
                                                          metadata=beijing_handler)).associations}
    assert {created.id, city.id} <= in_scope and shanghai.id not in in_scope
    listed = (await api.ListAssociations(pb.ListAssociationsRequest(), metadata=OPERATOR)).associations
    assert {created.id, city.id, shanghai.id} <= {a.id for a in listed}
    assert [(a.name, a.id) for a in listed] == sorted((a.name, a.id) for a in listed)

    assert (await api.GetAssociation(pb.GetAssociationRequest(id=created.id), metadata=HANDLER)).association == created
    own = (await api.GetAssociation(pb.GetAssociationRequest(id=created.id), metadata=as_association(created)))
    assert own.association == created
    # Another association's record is answered as one that does not exist.
    other = await refused(api.GetAssociation(pb.GetAssociationRequest(id=shanghai.id),
                                             metadata=as_association(created)), Code.NOT_FOUND)
    unknown = await refused(api.GetAssociation(pb.GetAssociationRequest(id="as-nosuchassociation"),
                                               metadata=as_association(created)), Code.NOT_FOUND)
    assert not_found_shape(other) == not_found_shape(unknown)
    assert error_info(other).reason == "ASSOCIATION_NOT_FOUND"
    await refused(api.ListAssociations(pb.ListAssociationsRequest(), metadata=as_association(created)),
                  Code.PERMISSION_DENIED)


# ---- memberships -----------------------------------------------------------------------------

async def test_admit_and_end_membership_idempotently_one_open_membership_at_a_time(api, registry):
    association = await new_association(api)
    agency = await create_agency(api)
    request = pb.AdmitMemberRequest(idempotency_key=key(), association_id=association.id, agency_id=agency.id,
                                    joined_on=day(-400))
    membership = (await api.AdmitMember(request, metadata=OPERATOR)).membership
    assert (membership.association_id, membership.agency_id, membership.joined_on, membership.left_on) == (
        association.id, agency.id, day(-400), "")
    assert (await api.AdmitMember(request, metadata=OPERATOR)).membership == membership  # a retry
    assert await count(registry, select(func.count()).select_from(store.Membership).where(
        store.Membership.agency_id == agency.id)) == 1

    copyright_agency = await create_agency(api, kind=pb.AGENCY_KIND_COPYRIGHT)
    async with nothing_stored_changes(registry):
        overlapping = await refused(api.AdmitMember(pb.AdmitMemberRequest(
            idempotency_key=key(), association_id=association.id, agency_id=agency.id, joined_on=day(-10)),
            metadata=OPERATOR), Code.ALREADY_EXISTS)
        assert error_info(overlapping).reason == "MEMBERSHIP_OVERLAPS"
        await invalid(api.EndMembership(pb.EndMembershipRequest(
            idempotency_key=key(), association_id=association.id, agency_id=agency.id, left_on=day(-400),
            ended_by=pb.MEMBERSHIP_END_LEFT), metadata=OPERATOR), "left_on")
        await invalid(api.AdmitMember(pb.AdmitMemberRequest(
            idempotency_key=key(), association_id=association.id, agency_id=agency.id, joined_on=day(1)),
            metadata=OPERATOR), "joined_on")
        await refused(api.AdmitMember(pb.AdmitMemberRequest(
            idempotency_key=key(), association_id="as-nosuchassociation", agency_id=agency.id, joined_on=day(-1)),
            metadata=OPERATOR), Code.NOT_FOUND)
        served = await refused(admit(api, association, copyright_agency.id, day(-1)), Code.FAILED_PRECONDITION)
        assert error_info(served).reason == "AGENCY_KIND_NOT_SERVED"
        denied = await refused(api.AdmitMember(pb.AdmitMemberRequest(
            idempotency_key=key(), association_id=association.id, agency_id=agency.id, joined_on=day(-1)),
            metadata=as_association(association)), Code.PERMISSION_DENIED)
        assert error_info(denied).reason == "ROLE_NOT_ALLOWED"

    ending = pb.EndMembershipRequest(idempotency_key=key(), association_id=association.id, agency_id=agency.id,
                                     left_on=day(-100), ended_by=pb.MEMBERSHIP_END_LEFT, reference="退会申请")
    ended = (await api.EndMembership(ending, metadata=OPERATOR)).membership
    assert (ended.id, ended.left_on, ended.ended_by, ended.reference) == (
        membership.id, day(-100), pb.MEMBERSHIP_END_LEFT, "退会申请")
    assert (await api.EndMembership(ending, metadata=OPERATOR)).membership == ended  # a retry
    not_open = await refused(end(api, association, agency.id, day(-50)), Code.FAILED_PRECONDITION)
    assert error_info(not_open).reason == "NOT_A_MEMBER"
    # Back again after leaving, not before.
    await refused(admit(api, association, agency.id, day(-101)), Code.ALREADY_EXISTS)
    again = await admit(api, association, agency.id, day(-100))
    assert again.id != membership.id and again.left_on == ""


async def test_an_association_sees_its_own_members_only_as_they_are_on_the_day(api, registry):
    ours, theirs = await new_association(api), await new_association(api)
    members = [await new_member(api, ours, joined_on=day(-300), name=f"测试{i}{uuid.uuid4().hex[:6]}专利代理有限公司")
               for i in range(5)]
    leaver = members[4]
    await end(api, ours, leaver.id, day(-10))
    late = await new_member(api, ours, joined_on=day(-5))
    stranger = await new_member(api, theirs)
    caller = as_association(ours)

    async def listed(on: str = "", page_size: int = 2, who=caller, association_id: str = "") -> list[pb.Member]:
        found, token = [], ""
        while True:
            page = await api.ListMembers(pb.ListMembersRequest(association_id=association_id, on=on,
                                                               page_size=page_size, page_token=token), metadata=who)
            assert page.on == (on or day(0))
            found.extend(page.members)
            token = page.next_page_token
            if not token:
                return found

    now = await listed()
    assert [m.agency_id for m in now] == [a.id for a in sorted(members[:4] + [late], key=lambda a: (a.name, a.id))]
    assert stranger.id not in [m.agency_id for m in now]
    first = now[0]
    assert first.agency.credit_code == next(a.credit_code for a in members + [late] if a.id == first.agency_id)
    assert first.agency.credit_grade == pb.CREDIT_GRADE_A and first.membership.association_id == ours.id
    assert [m.agency_id for m in await listed(on=day(-20))] == [
        a.id for a in sorted(members, key=lambda a: (a.name, a.id))]
    assert await listed(on=day(-301)) == []
    assert [m.agency_id for m in await listed(who=OPERATOR, association_id=ours.id, page_size=50)] == [
        m.agency_id for m in now]

    # Another association, by name, is NOT_FOUND as an unknown one, its members and their count unsaid.
    for association_id in (theirs.id, "as-nosuchassociation"):
        error = await refused(api.ListMembers(pb.ListMembersRequest(association_id=association_id), metadata=caller),
                              Code.NOT_FOUND)
        assert error_info(error).reason == "ASSOCIATION_NOT_FOUND" and theirs.name not in error.details()
    await invalid(api.ListMembers(pb.ListMembersRequest(), metadata=HANDLER), "association_id")
    await invalid(api.GetMember(pb.GetMemberRequest(agency_id=first.agency_id), metadata=HANDLER), "association_id")

    got = await api.GetMember(pb.GetMemberRequest(agency_id=first.agency_id), metadata=caller)
    assert got.member == first
    assert (got.credit.agency_id, got.credit.as_of, got.credit.grade, got.credit.score) == (
        first.agency_id, day(0), pb.CREDIT_GRADE_A, GRADING.base_score)
    assert (await api.GetMember(pb.GetMemberRequest(agency_id=leaver.id, on=day(-11)), metadata=caller)
            ).member.membership.left_on == day(-10)

    refusals = []
    for agency_id, on in ((stranger.id, ""), ("ag-nosuchagency", ""), (late.id, day(-6)), (leaver.id, day(-10)),
                          (leaver.id, "")):
        refusals.append(not_found_shape(await refused(
            api.GetMember(pb.GetMemberRequest(agency_id=agency_id, on=on), metadata=caller), Code.NOT_FOUND)))
    assert len(set(refusals)) == 1 and refusals[0][1] == "MEMBER_NOT_FOUND"
    other = await refused(api.GetMember(pb.GetMemberRequest(association_id=theirs.id, agency_id=stranger.id),
                                        metadata=caller), Code.NOT_FOUND)
    assert error_info(other).reason == "ASSOCIATION_NOT_FOUND"
    # Staff read any association's member within their region scope.
    assert (await api.GetMember(pb.GetMemberRequest(association_id=theirs.id, agency_id=stranger.id),
                                metadata=HANDLER)).member.agency_id == stranger.id
    await refused(api.GetMember(pb.GetMemberRequest(association_id=theirs.id, agency_id=stranger.id),
                                metadata=metadata("handler", region="310000")), Code.PERMISSION_DENIED)


# ---- discipline ------------------------------------------------------------------------------

async def test_a_disciplinary_measure_lands_on_the_credit_record_by_its_severity(api, registry):
    association = await new_association(api)
    censured, warned = await new_member(api, association), await new_member(api, association)
    caller = as_association(association)
    request = discipline(association, censured.id, pb.DISCIPLINE_MEASURE_PUBLIC_CENSURE)

    event = (await api.RecordAssociationDiscipline(request, metadata=MACHINE)).event
    assert (event.agency_id, event.kind, event.source, event.source_reference, event.occurred_on,
            event.publicity_ends_on) == (censured.id, pb.CREDIT_EVENT_KIND_ASSOCIATION_DISCIPLINE,
                                         pb.CREDIT_EVENT_SOURCE_ASSOCIATION, request.document_number, day(-2),
                                         day(180))
    assert "公开谴责" in event.summary and association.name in event.summary
    # A repeat (the workflow's activity retried) answers the first event and records nothing.
    async with nothing_stored_changes(registry):
        assert (await api.RecordAssociationDiscipline(request, metadata=MACHINE)).event == event
        conflict = pb.RecordAssociationDisciplineRequest()
        conflict.CopyFrom(request)
        conflict.measure = pb.DISCIPLINE_MEASURE_WARNING
        error = await refused(api.RecordAssociationDiscipline(conflict, metadata=MACHINE), Code.ALREADY_EXISTS)
        assert error_info(error).reason == "DISCIPLINE_DOCUMENT_ALREADY_RECORDED"

    await api.RecordAssociationDiscipline(discipline(association, warned.id, pb.DISCIPLINE_MEASURE_WARNING),
                                          metadata=MACHINE)
    points = GRADING.measure_points["association_discipline"]
    assert points["warning"] < points["public_censure"]
    for agency, measure in ((censured, "public_censure"), (warned, "warning")):
        credit = (await api.GetMember(pb.GetMemberRequest(agency_id=agency.id), metadata=caller)).credit
        assert credit.score == GRADING.base_score - points[measure]
        assert [(r.kind, r.points) for r in credit.reasons] == [
            (pb.CREDIT_EVENT_KIND_ASSOCIATION_DISCIPLINE, points[measure])]
        profile = (await api.GetCreditProfile(pb.GetCreditProfileRequest(agency_id=agency.id),
                                              metadata=HANDLER)).profile
        assert (profile.score, profile.rules_version) == (credit.score, GRADING.version)
        # The day before the decision it did not count.
        before = (await api.GetMember(pb.GetMemberRequest(agency_id=agency.id, on=day(-3)), metadata=caller)).credit
        assert before.score == GRADING.base_score and before.grade == pb.CREDIT_GRADE_A
    censure_grade = (await api.GetMember(pb.GetMemberRequest(agency_id=censured.id), metadata=caller)).credit.grade
    assert censure_grade == pb.CREDIT_GRADE_B

    public = (await api.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query=censured.credit_code))).agencies
    assert [(p.kind, p.decided_on, p.publicity_ends_on, p.summary) for p in public[0].penalties] == [
        (pb.CREDIT_EVENT_KIND_ASSOCIATION_DISCIPLINE, day(-2), day(180), event.summary)]
    assert public[0].credit_grade == pb.CREDIT_GRADE_B
    listed = (await api.ListMembers(pb.ListMembersRequest(page_size=50), metadata=caller)).members
    assert next(m for m in listed if m.agency_id == censured.id).agency == public[0]

    # Only a member on the day of the decision; the same refusal as for any agency not a member.
    stranger = await create_agency(api)
    late = await new_member(api, association, joined_on=day(-1))
    async with nothing_stored_changes(registry):
        for agency_id in (stranger.id, late.id, "ag-nosuchagency"):
            error = await refused(api.RecordAssociationDiscipline(discipline(association, agency_id),
                                                                  metadata=MACHINE), Code.NOT_FOUND)
            assert error_info(error).reason == "MEMBER_NOT_FOUND"
        await invalid(api.RecordAssociationDiscipline(discipline(association, warned.id, decided_on=day(-1),
                                                                 publicity_ends_on=day(-2)), metadata=MACHINE),
                      "publicity_ends_on")
        await refused(api.RecordAssociationDiscipline(discipline(association, warned.id), metadata=caller),
                      Code.PERMISSION_DENIED)


async def test_membership_revoked_ends_the_membership_on_the_day_of_the_decision(api, registry):
    association = await new_association(api)
    agency = await new_member(api, association, joined_on=day(-200))
    after = await feed_head(registry)
    request = discipline(association, agency.id, pb.DISCIPLINE_MEASURE_MEMBERSHIP_REVOKED, decided_on=day(-3))
    event = (await api.RecordAssociationDiscipline(request, metadata=MACHINE)).event
    assert "取消会员资格" in event.summary

    caller = as_association(association)
    member = (await api.GetMember(pb.GetMemberRequest(agency_id=agency.id, on=day(-4)), metadata=caller)).member
    assert (member.membership.left_on, member.membership.ended_by, member.membership.reference) == (
        day(-3), pb.MEMBERSHIP_END_EXPELLED, request.document_number)
    await refused(api.GetMember(pb.GetMemberRequest(agency_id=agency.id, on=day(-3)), metadata=caller),
                  Code.NOT_FOUND)
    assert agency.id not in [m.agency_id for m in (await api.ListMembers(pb.ListMembersRequest(),
                                                                         metadata=caller)).members]
    # A repeat after the membership ended still answers the first event.
    assert (await api.RecordAssociationDiscipline(request, metadata=MACHINE)).event == event

    events = await read_all(api, association, after)
    assert [e.kind for e in events] == [pb.MEMBER_EVENT_KIND_DISCIPLINE_RECORDED, pb.MEMBER_EVENT_KIND_PUBLICATION,
                                        pb.MEMBER_EVENT_KIND_MEMBERSHIP_CHANGED]
    assert dict(events[2].facts) == {"joined_on": day(-200), "left_on": day(-3), "ended_by": "expelled"}
    assert events[2].subject_id == member.membership.id


# ---- the member events feed: what the registry writes itself ----------------------------------

async def test_the_registry_says_on_the_feed_what_it_changes_in_the_same_transaction(api, registry):
    association, other = await new_association(api), await new_association(api)
    after = await feed_head(registry)
    agency = await create_agency(api)
    membership = await admit(api, association, agency.id, day(-60))
    await admit(api, other, agency.id, day(-60))
    request = discipline(association, agency.id, pb.DISCIPLINE_MEASURE_CIRCULATED_CRITICISM)
    event = (await api.RecordAssociationDiscipline(request, metadata=MACHINE)).event
    await end(api, association, agency.id, day(0))

    ours = await read_all(api, association, after)
    assert [(e.kind, e.subject_id) for e in ours] == [
        (pb.MEMBER_EVENT_KIND_MEMBERSHIP_CHANGED, membership.id),
        (pb.MEMBER_EVENT_KIND_DISCIPLINE_RECORDED, event.id), (pb.MEMBER_EVENT_KIND_PUBLICATION, event.id),
        (pb.MEMBER_EVENT_KIND_MEMBERSHIP_CHANGED, membership.id)]
    assert all((e.agency_id, e.agency_name, e.agency_credit_code) == (agency.id, agency.name, agency.credit_code)
               for e in ours)
    assert dict(ours[0].facts) == {"joined_on": day(-60)}
    facts = {"measure": "circulated_criticism", "document_number": request.document_number,
             "decided_on": day(-2), "until": day(180)}
    assert dict(ours[1].facts) == facts and dict(ours[2].facts) == facts
    assert dict(ours[3].facts) == {"joined_on": day(-60), "left_on": day(0), "ended_by": "left"}
    positions = [e.position for e in ours]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    # The other association the agency belongs to hears of the publication, not of the rest.
    theirs = await read_all(api, other, after)
    assert [(e.kind, e.subject_id) for e in theirs if e.kind != pb.MEMBER_EVENT_KIND_MEMBERSHIP_CHANGED] == [
        (pb.MEMBER_EVENT_KIND_PUBLICATION, event.id)]

    # The end of publicity, once however often it is said, to the members' associations on its last day.
    head = await feed_head(registry)
    await api.RecordPublicityEnded(pb.RecordPublicityEndedRequest(event_id=event.id), metadata=MACHINE)
    await api.RecordPublicityEnded(pb.RecordPublicityEndedRequest(event_id=event.id), metadata=MACHINE)
    ended = await read_all(api, association, head)
    assert [(e.kind, e.subject_id, dict(e.facts)) for e in ended] == [
        (pb.MEMBER_EVENT_KIND_PUBLICATION_ENDED, event.id,
         {"until": day(180), "kind": "association_discipline", "measure": "circulated_criticism"})]
    assert [e.kind for e in await read_all(api, other, head)] == [pb.MEMBER_EVENT_KIND_PUBLICATION_ENDED]
    await refused(api.RecordPublicityEnded(pb.RecordPublicityEndedRequest(event_id="ce-nosuchevent"),
                                           metadata=MACHINE), Code.NOT_FOUND)


# ---- the member events feed: relayed events ----------------------------------------------------

async def test_appending_is_idempotent_and_routed_by_membership_on_the_day_the_event_occurred(api, registry):
    first, second, named = await new_association(api), await new_association(api), await new_association(api)
    agency = await create_agency(api)
    await admit(api, first, agency.id, day(-20))
    await end(api, first, agency.id, day(-5))
    await admit(api, second, agency.id, day(-8))
    outsider = await create_agency(api)
    after = await feed_head(registry)
    tag = uuid.uuid4().hex[:8]

    drafts = [draft(agency, f"{tag}:1", on=day(-10)),  # the first association only
              draft(agency, f"{tag}:2", on=day(-6)),  # both
              draft(agency, f"{tag}:3", on=day(-1)),  # the second only
              draft(agency, f"{tag}:4", on=day(-30)),  # no association: dropped
              draft(outsider, f"{tag}:5"),  # not a member anywhere: dropped
              draft(outsider, f"{tag}:6", association_id=named.id,
                    kind=pb.MEMBER_EVENT_KIND_REFERRAL_SENT),  # to the association named, member or not
              draft(agency, f"{tag}:7", association_id="as-nosuchassociation")]  # nowhere to go: dropped
    assert await append(api, *drafts) == 4
    assert await append(api, *drafts) == 0  # relayed again: nothing new
    assert await append(api, drafts[1], drafts[1]) == 0

    def keys(events):
        return [e.subject_id.removeprefix(f"case-{tag}:") for e in events]
    assert keys(await read_all(api, first, after)) == ["1", "2"]
    assert keys(await read_all(api, second, after)) == ["2", "3"]
    routed = await read_all(api, named, after)
    assert keys(routed) == ["6"] and routed[0].kind == pb.MEMBER_EVENT_KIND_REFERRAL_SENT
    assert (routed[0].agency_name, routed[0].agency_credit_code) == (outsider.name, outsider.credit_code)
    assert dict(routed[0].facts) == {"on": day(0)} and routed[0].occurred_at == at(day(0))
    assert await count(registry, select(func.count()).select_from(store.MemberEvent).where(
        store.MemberEvent.source_key.like(f"test:{tag}:%"))) == 5

    await invalid(api.AppendMemberEvents(pb.AppendMemberEventsRequest(events=[pb.MemberEventDraft()]),
                                         metadata=MACHINE),
                  "events[0].source_key", "events[0].kind", "events[0].agency_id", "events[0].occurred_at",
                  "events[0].subject_id")
    await refused(api.AppendMemberEvents(pb.AppendMemberEventsRequest(events=drafts[:1]),
                                         metadata=as_association(first)), Code.PERMISSION_DENIED)


async def test_reads_go_on_after_a_position_and_from_the_acknowledged_one(api, registry):
    association = await new_association(api)
    agency = await new_member(api, association)
    caller = as_association(association)
    start = await feed_head(registry)
    tag = uuid.uuid4().hex[:8]
    assert await append(api, *[draft(agency, f"{tag}:{i}") for i in range(7)]) == 7

    page = await api.ReadMemberEvents(pb.ReadMemberEventsRequest(after_position=start, limit=3), metadata=caller)
    assert [e.subject_id for e in page.events] == [f"case-{tag}:{i}" for i in range(3)]
    assert page.last_position == page.events[-1].position
    rest = await api.ReadMemberEvents(pb.ReadMemberEventsRequest(after_position=page.last_position), metadata=caller)
    assert [e.subject_id for e in rest.events] == [f"case-{tag}:{i}" for i in range(3, 7)]
    empty = await api.ReadMemberEvents(pb.ReadMemberEventsRequest(after_position=rest.last_position),
                                       metadata=caller)
    assert list(empty.events) == [] and empty.last_position == rest.last_position
    staff = await api.ReadMemberEvents(pb.ReadMemberEventsRequest(association_id=association.id,
                                                                  after_position=start), metadata=OPERATOR)
    assert list(staff.events) == list(page.events) + list(rest.events)
    await invalid(api.ReadMemberEvents(pb.ReadMemberEventsRequest(after_position=start), metadata=OPERATOR),
                  "association_id")
    other = await new_association(api)
    await refused(api.ReadMemberEvents(pb.ReadMemberEventsRequest(association_id=other.id), metadata=caller),
                  Code.NOT_FOUND)

    acknowledged = await api.AcknowledgeMemberEvents(pb.AcknowledgeMemberEventsRequest(
        position=page.last_position), metadata=caller)
    assert acknowledged.acknowledged_position == page.last_position
    resumed = await api.ReadMemberEvents(pb.ReadMemberEventsRequest(from_acknowledged=True), metadata=caller)
    assert list(resumed.events) == list(rest.events)
    # Never backwards; never beyond the feed.
    back = await api.AcknowledgeMemberEvents(pb.AcknowledgeMemberEventsRequest(position=start + 1), metadata=caller)
    assert back.acknowledged_position == page.last_position
    ahead = await refused(api.AcknowledgeMemberEvents(pb.AcknowledgeMemberEventsRequest(
        position=await feed_head(registry) + 1000), metadata=caller), Code.OUT_OF_RANGE)
    assert error_info(ahead).reason == "FEED_POSITION_NOT_REACHED"
    await refused(api.AcknowledgeMemberEvents(pb.AcknowledgeMemberEventsRequest(
        association_id=other.id, position=start + 1), metadata=caller), Code.NOT_FOUND)
    assert (await api.ReadMemberEvents(pb.ReadMemberEventsRequest(association_id=other.id, from_acknowledged=True),
                                       metadata=OPERATOR)).events == []


async def test_concurrent_appends_are_read_in_commit_order_without_gaps(api, registry):
    association = await new_association(api)
    agency = await new_member(api, association)
    caller = as_association(association)
    start = await feed_head(registry)
    tag = uuid.uuid4().hex[:8]
    writers, batches, size = 20, 4, 5
    done = asyncio.Event()

    async def write(writer: int) -> None:
        for batch in range(batches):
            await append(api, *[draft(agency, f"{tag}:{writer}:{batch}:{i}") for i in range(size)])

    async def read() -> list[list[int]]:
        """Every read's positions, reading on from the last one returned, until all are in."""
        reads, after = [], start
        while True:
            finished = done.is_set()
            page = await api.ReadMemberEvents(pb.ReadMemberEventsRequest(after_position=after, limit=37),
                                              metadata=caller)
            reads.append([e.position for e in page.events])
            after = page.last_position
            if finished and not page.events:
                return reads

    readers = [asyncio.create_task(read()) for _ in range(4)]
    await asyncio.gather(*(write(w) for w in range(writers)))
    done.set()
    seen_by_readers = await asyncio.gather(*readers)

    everything = [e.position for e in await read_all(api, association, start)]
    assert len(everything) == writers * batches * size == len(set(everything))
    assert everything == sorted(everything)
    # Nothing else went to this association, and an append's rows are given consecutive positions
    # under the feed's lock: its positions leave no gap.
    assert everything == list(range(everything[0], everything[0] + len(everything)))
    for reads in seen_by_readers:
        # A reader never meets a position below one it was already given: what it read, in order,
        # is the whole feed, each position once.
        assert [p for page in reads for p in page] == everything


async def test_pruned_positions_are_out_of_range_with_the_oldest_kept(api, registry):
    association = await new_association(api)
    agency = await new_member(api, association)
    caller = as_association(association)
    start = await feed_head(registry)
    tag = uuid.uuid4().hex[:8]
    await append(api, *[draft(agency, f"{tag}:{i}") for i in range(3)])

    # Recorded today: dropping what was recorded before today keeps them.
    kept = await api.PruneMemberEvents(pb.PruneMemberEventsRequest(before=day(0)), metadata=OPERATOR)
    assert len(await read_all(api, association, start)) == 3 and kept.oldest_position <= start + 1
    pruned = await api.PruneMemberEvents(pb.PruneMemberEventsRequest(before=day(1)), metadata=OPERATOR)
    assert pruned.pruned >= 3 and pruned.oldest_position == 0
    last, through = await registry.store.feed_state()
    assert through == last >= start + 3

    for after in (0, start, through - 1):
        error = await refused(api.ReadMemberEvents(pb.ReadMemberEventsRequest(after_position=after),
                                                   metadata=caller), Code.OUT_OF_RANGE)
        info = error_info(error)
        assert (info.reason, info.metadata["oldest_position"]) == ("FEED_POSITION_TOO_OLD", str(through + 1))
        assert f"oldest position kept is {through + 1}" in error.details()
    # Going on from the oldest kept works, and an association that never acknowledged starts there.
    assert list((await api.ReadMemberEvents(pb.ReadMemberEventsRequest(after_position=through),
                                            metadata=caller)).events) == []
    fresh = await api.ReadMemberEvents(pb.ReadMemberEventsRequest(from_acknowledged=True), metadata=caller)
    assert fresh.last_position == through
    assert await append(api, draft(agency, f"{tag}:after")) == 1
    again = await api.ReadMemberEvents(pb.ReadMemberEventsRequest(after_position=through), metadata=caller)
    assert [e.subject_id for e in again.events] == [f"case-{tag}:after"]
    await refused(api.PruneMemberEvents(pb.PruneMemberEventsRequest(before=day(1)), metadata=caller),
                  Code.PERMISSION_DENIED)


# ---- association certificates ------------------------------------------------------------------

def fingerprint() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


async def test_certificates_name_their_association_until_revoked_or_expired(api, registry):
    association, other = await new_association(api), await new_association(api)
    print_ = fingerprint()
    register = pb.RegisterAssociationCertificateRequest(association_id=association.id, fingerprint_sha256=print_,
                                                        not_after=day(365))
    certificate = (await api.RegisterAssociationCertificate(register, metadata=OPERATOR)).certificate
    assert (certificate.fingerprint_sha256, certificate.association_id, certificate.not_after,
            certificate.revoked_on) == (print_, association.id, day(365), "")
    async with nothing_stored_changes(registry):
        assert (await api.RegisterAssociationCertificate(register, metadata=OPERATOR)).certificate == certificate
        taken = await refused(api.RegisterAssociationCertificate(pb.RegisterAssociationCertificateRequest(
            association_id=other.id, fingerprint_sha256=print_, not_after=day(365)), metadata=OPERATOR),
            Code.ALREADY_EXISTS)
        assert error_info(taken).reason == "CERTIFICATE_OF_ANOTHER_ASSOCIATION"
        await refused(api.RegisterAssociationCertificate(pb.RegisterAssociationCertificateRequest(
            association_id="as-nosuchassociation", fingerprint_sha256=fingerprint(), not_after=day(365)),
            metadata=OPERATOR), Code.NOT_FOUND)
        await invalid(api.RegisterAssociationCertificate(pb.RegisterAssociationCertificateRequest(
            association_id=association.id, fingerprint_sha256="AB" * 32, not_after="2026-13-01"),
            metadata=OPERATOR), "fingerprint_sha256", "not_after")

    resolved = await api.ResolveAssociationCertificate(pb.ResolveAssociationCertificateRequest(
        fingerprint_sha256=print_), metadata=MACHINE)
    assert resolved.certificate == certificate
    unknown = await refused(api.ResolveAssociationCertificate(pb.ResolveAssociationCertificateRequest(
        fingerprint_sha256=fingerprint()), metadata=MACHINE), Code.NOT_FOUND)
    assert error_info(unknown).reason == "CERTIFICATE_NOT_FOUND"
    await refused(api.ResolveAssociationCertificate(pb.ResolveAssociationCertificateRequest(
        fingerprint_sha256=print_), metadata=as_association(association)), Code.PERMISSION_DENIED)

    revoked = (await api.RevokeAssociationCertificate(pb.RevokeAssociationCertificateRequest(
        fingerprint_sha256=print_, revoked_on=day(0)), metadata=OPERATOR)).certificate
    assert revoked.revoked_on == day(0)
    assert (await api.RevokeAssociationCertificate(pb.RevokeAssociationCertificateRequest(
        fingerprint_sha256=print_, revoked_on=day(1)), metadata=OPERATOR)).certificate == revoked
    error = await refused(api.ResolveAssociationCertificate(pb.ResolveAssociationCertificateRequest(
        fingerprint_sha256=print_), metadata=MACHINE), Code.FAILED_PRECONDITION)
    assert error_info(error).reason == "CERTIFICATE_REVOKED"
    await refused(api.RevokeAssociationCertificate(pb.RevokeAssociationCertificateRequest(
        fingerprint_sha256=fingerprint(), revoked_on=day(0)), metadata=OPERATOR), Code.NOT_FOUND)

    expired = fingerprint()
    await api.RegisterAssociationCertificate(pb.RegisterAssociationCertificateRequest(
        association_id=association.id, fingerprint_sha256=expired, not_after=day(-1)), metadata=OPERATOR)
    error = await refused(api.ResolveAssociationCertificate(pb.ResolveAssociationCertificateRequest(
        fingerprint_sha256=expired), metadata=MACHINE), Code.FAILED_PRECONDITION)
    assert error_info(error).reason == "CERTIFICATE_EXPIRED"
    last_day = fingerprint()
    await api.RegisterAssociationCertificate(pb.RegisterAssociationCertificateRequest(
        association_id=association.id, fingerprint_sha256=last_day, not_after=day(0)), metadata=OPERATOR)
    assert (await api.ResolveAssociationCertificate(pb.ResolveAssociationCertificateRequest(
        fingerprint_sha256=last_day), metadata=MACHINE)).certificate.association_id == association.id


# ---- the seed ----------------------------------------------------------------------------------

async def test_the_seed_makes_associations_with_members_the_registry_serves(database_url):
    from services.registry import seed
    from services.registry.server import build
    from suite import codes, migrate

    migrate.upgrade("registry", database_url=database_url)
    counts = seed.seed(database_url, 300, 300, rng_seed=7, as_of=clock.today())
    assert counts["associations"] == len(seed.ASSOCIATIONS) and counts["memberships"] > 0
    server, running = build(database_url=database_url)
    port = await server.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RegistryServiceStub(channel)
            associations = (await stub.ListAssociations(pb.ListAssociationsRequest(), metadata=OPERATOR)).associations
            assert sorted(a.name for a in associations) == sorted(a.name for a in seed.ASSOCIATIONS)
            members_now = 0
            for association in associations:
                assert codes.credit_code_problem(association.credit_code) is None
                assert association.credit_code[2:8] == association.region_code
                async with running.sessions() as session:
                    memberships = list((await session.execute(select(store.Membership).where(
                        store.Membership.association_id == association.id))).scalars())
                    agencies = {a.id: a for a in (await session.execute(select(store.Agency).where(
                        store.Agency.id.in_({m.agency_id for m in memberships})))).scalars()}
                by_agency: dict[str, list] = {}
                for membership in memberships:
                    agency = agencies[membership.agency_id]
                    assert agency.region_code[:2] == association.region_code[:2]
                    assert pb.AgencyKind.Value(f"AGENCY_KIND_{agency.kind.upper()}") in association.kinds
                    assert agency.established_on <= membership.joined_on < (membership.left_on or date.max)
                    assert (membership.left_on is None) == (membership.ended_by == "")
                    if agency.status in ("revoked", "deregistered"):
                        assert membership.left_on is not None
                    by_agency.setdefault(agency.id, []).append(membership)
                assert all(len(held) == 1 for held in by_agency.values())
                listed = (await stub.ListMembers(pb.ListMembersRequest(association_id=association.id, page_size=500),
                                                 metadata=OPERATOR)).members
                assert sorted(m.agency_id for m in listed) == sorted(
                    m.agency_id for m in memberships if domain.member_on(m, clock.today()))
                members_now += len(listed)
            assert members_now > 0
    finally:
        await server.stop(0)
        await running.close()
