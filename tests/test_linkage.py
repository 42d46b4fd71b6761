"""The association linkage endpoint through real mutual TLS on loopback, against the real registry
(SQLite and PostgreSQL): who a certificate names and which ones are refused, scoping to the
association's own members, its quota, and the member events feed — resumed across a restart of
the endpoint in the middle of a stream, too old a position, and never a reporter's identity."""

from __future__ import annotations

import asyncio
import datetime
import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ipss.linkage.v1 import linkage_pb2 as pb
from ipss.linkage.v1 import linkage_pb2_grpc as pb_grpc
from ipss.registry.v1 import registry_pb2 as rpb
from ipss.registry.v1 import registry_pb2_grpc as rpb_grpc
from launcher import association as association_cli
from services.linkage import enrolment
from services.linkage.server import build
from suite import clock, config, testdata, tls
from tests.conftest import BACKENDS, metadata, running_registry

OPERATOR = metadata("operator")
MACHINE = metadata("machine")  # the worker's and the services' own calls
TODAY = clock.today()  # China's date, as the services count days
GENEROUS = config.LinkageQuota(calls_per_second=10_000, burst=10_000, watches=50)


@dataclass
class Link:
    """A linkage endpoint on a loopback port, its certificates in a directory of its own."""

    address: str
    certs: Path
    linkage: object

    def channel(self, association_id: str) -> grpc.aio.Channel:
        return self.channel_with(tls.association_pair(association_id, self.certs))

    def channel_with(self, pair: tls.KeyPair) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(self.address, tls.client_credentials(tls.authority_pair(self.certs).certificate,
                                                                            pair))

    def stub(self, association_id: str) -> pb_grpc.AssociationLinkServiceStub:
        return pb_grpc.AssociationLinkServiceStub(self.channel(association_id))


async def start_link(registry, certs: Path, quota: config.LinkageQuota = GENEROUS, port: int = 0,
                     **services) -> Link:
    """The endpoint in front of the registry (and of `services`: complaints_address, temporal_client
    and temporal_settings, when a test needs them), trusting no certificate for longer than a call."""
    linkage = build(registry_address=registry.address, certs_dir=certs, quota=quota, trust_seconds=0.0,
                    **{"complaints_address": registry.address} | services)
    bound = await linkage.server.start(f"127.0.0.1:{port}")
    return Link(f"127.0.0.1:{bound}", certs, linkage)


async def stop_link(link: Link) -> None:
    await link.linkage.server.stop(0)
    await link.linkage.close()


@pytest.fixture
async def link(registry) -> AsyncIterator[Link]:
    with tempfile.TemporaryDirectory(prefix="ipss-certs-") as directory:
        running = await start_link(registry, Path(directory))
        try:
            yield running
        finally:
            await stop_link(running)


async def new_association(registry, link: Link, name: str = "") -> rpb.Association:
    stub = rpb_grpc.RegistryServiceStub(registry.channel)
    code = testdata.credit_code("110000")
    answer = await stub.CreateAssociation(rpb.CreateAssociationRequest(
        idempotency_key=uuid.uuid4().hex, name=name or f"知识产权服务业协会{code[-6:]}", credit_code=code,
        region_code="110000", kinds=[rpb.AGENCY_KIND_PATENT, rpb.AGENCY_KIND_TRADEMARK]), metadata=OPERATOR)
    await enrolment.issue_certificates([answer.association.id], days=30, registry_address=registry.address,
                                             directory=link.certs)
    return answer.association


async def new_member(registry, association: rpb.Association, joined_on: datetime.date = TODAY) -> rpb.Agency:
    stub = rpb_grpc.RegistryServiceStub(registry.channel)
    agency = (await stub.CreateAgency(testdata.agency_request(), metadata=OPERATOR)).agency
    await stub.AdmitMember(rpb.AdmitMemberRequest(idempotency_key=uuid.uuid4().hex, association_id=association.id,
                                                  agency_id=agency.id, joined_on=joined_on.isoformat()),
                           metadata=OPERATOR)
    return agency


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    for detail in rpc_status.from_call(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError(f"no ErrorInfo in {error}")


# ---- who the caller is -----------------------------------------------------------------------

async def test_the_certificate_names_the_association_not_a_claim_it_sends(registry, link):
    ours, theirs = await new_association(registry, link), await new_association(registry, link)
    claim = metadata("association", association_id=theirs.id)
    answer = await link.stub(ours.id).GetAssociation(pb.GetAssociationRequest(), metadata=claim)
    assert answer.association.id == ours.id


async def test_a_certificate_from_another_authority_or_expired_fails_the_handshake(registry, link):
    association = await new_association(registry, link)
    with tempfile.TemporaryDirectory() as other:
        stranger_ca = tls.make_authority(tls.authority_pair(Path(other)))
        stranger = tls.issue_client(stranger_ca, tls.association_pair(association.id, Path(other)), association.id)
        async with link.channel_with(stranger) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await pb_grpc.AssociationLinkServiceStub(channel).GetAssociation(pb.GetAssociationRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    expired = tls.issue_client(tls.authority_pair(link.certs), tls.association_pair("expired", link.certs),
                               association.id, days=1,
                               valid_from=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=10))
    async with link.channel_with(expired) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.AssociationLinkServiceStub(channel).GetAssociation(pb.GetAssociationRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_an_unregistered_or_revoked_certificate_is_unauthenticated(registry, link):
    association = await new_association(registry, link)
    unregistered = tls.issue_client(tls.authority_pair(link.certs), tls.association_pair("unregistered", link.certs),
                                    association.id)
    async with link.channel_with(unregistered) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.AssociationLinkServiceStub(channel).GetAssociation(pb.GetAssociationRequest())
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_info(refused.value).reason == "CERTIFICATE_UNKNOWN"

    stub = link.stub(association.id)
    await stub.GetAssociation(pb.GetAssociationRequest())
    await enrolment.revoke_certificate(association.id, registry.address, link.certs)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetAssociation(pb.GetAssociationRequest())
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_info(refused.value).reason == "CERTIFICATE_NOT_VALID"


# ---- what it sees ----------------------------------------------------------------------------

async def test_an_association_sees_its_own_members_only_as_they_are_on_the_day(registry, link):
    ours, theirs = await new_association(registry, link), await new_association(registry, link)
    member = await new_member(registry, ours, joined_on=TODAY - datetime.timedelta(days=30))
    stranger = await new_member(registry, theirs)
    stub = link.stub(ours.id)

    listed = await stub.ListMembers(pb.ListMembersRequest(page_size=50))
    assert [m.agency_id for m in listed.members] == [member.id]
    profile = await stub.GetMember(pb.GetMemberRequest(agency_id=member.id))
    assert profile.member.agency.credit_code == member.credit_code and profile.credit.agency_id == member.id

    refusals = []
    for agency_id, on in ((stranger.id, ""), ("no-such-agency", ""),
                          (member.id, (TODAY - datetime.timedelta(days=31)).isoformat())):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetMember(pb.GetMemberRequest(agency_id=agency_id, on=on))
        refusals.append((refused.value.code(), error_info(refused.value).reason))
    # Another association's member, an agency that does not exist and one not yet a member are
    # refused alike: nothing says which is which.
    assert len(set(refusals)) == 1 and refusals[0][0] == grpc.StatusCode.NOT_FOUND
    before = await stub.ListMembers(pb.ListMembersRequest(on=(TODAY - datetime.timedelta(days=31)).isoformat()))
    assert list(before.members) == []


async def test_an_association_applies_for_credit_repair_for_its_members_only(registry, link):
    """Through the endpoint as through the registry (tests/test_credit_repair.py walks an
    application through): a member's fine of today may be repaired six months on, and the refusal
    says from which day; another association's member is not found."""
    ours, theirs = await new_association(registry, link), await new_association(registry, link)
    member, stranger = await new_member(registry, ours), await new_member(registry, theirs)
    stub, registry_stub = link.stub(ours.id), rpb_grpc.RegistryServiceStub(registry.channel)
    fines = [(await registry_stub.RecordCreditEvent(rpb.RecordCreditEventRequest(
        idempotency_key=uuid.uuid4().hex, agency_id=agency.id, kind=rpb.CREDIT_EVENT_KIND_FINE,
        source=rpb.CREDIT_EVENT_SOURCE_CASE, source_reference="case-2026-110000-000001", occurred_on=TODAY.isoformat(),
        publicity_ends_on=(TODAY + datetime.timedelta(days=1100)).isoformat(), summary="罚款", fine_cny=50_000),
        metadata=OPERATOR)).event for agency in (member, stranger)]
    asked = []
    for agency, fine in zip((member, stranger), fines):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ApplyForCreditRepair(pb.ApplyForCreditRepairRequest(
                idempotency_key=uuid.uuid4().hex, agency_id=agency.id, credit_event_ids=[fine.id],
                statement="申请信用修复", compliance="罚款已缴清"))
        asked.append((refused.value.code(), error_info(refused.value).reason, dict(error_info(refused.value).metadata)))
    (code, reason, facts), (stranger_code, _, _) = asked
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CREDIT_REPAIR_NOT_YET")
    assert facts["eligible_from"] > (TODAY + datetime.timedelta(days=180)).isoformat()
    assert stranger_code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetCreditRepair(pb.GetCreditRepairRequest(id="cr-nosuchrepair"))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_each_association_has_a_quota_answered_with_retry_info(registry):
    with tempfile.TemporaryDirectory(prefix="ipss-certs-") as directory:
        link = await start_link(registry, Path(directory), config.LinkageQuota(calls_per_second=2, burst=3,
                                                                               watches=1))
        try:
            limited, other = await new_association(registry, link), await new_association(registry, link)
            stub = link.stub(limited.id)
            for _ in range(3):
                await stub.GetAssociation(pb.GetAssociationRequest())
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetAssociation(pb.GetAssociationRequest())
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            retry = error_details_pb2.RetryInfo()
            assert any(d.Unpack(retry) for d in rpc_status.from_call(refused.value).details)
            assert 0 < retry.retry_delay.ToTimedelta().total_seconds() <= 0.5
            # Another association's quota is its own.
            await link.stub(other.id).GetAssociation(pb.GetAssociationRequest())
            await asyncio.sleep(retry.retry_delay.ToTimedelta().total_seconds())
            await stub.GetAssociation(pb.GetAssociationRequest())
        finally:
            await stop_link(link)


# ---- the member events feed ------------------------------------------------------------------

def drafts(agency: rpb.Agency, count: int, tag: str) -> list[rpb.MemberEventDraft]:
    at = Timestamp()
    at.GetCurrentTime()
    return [rpb.MemberEventDraft(source_key=f"test:{tag}:{i}", kind=rpb.MEMBER_EVENT_KIND_CASE_OPENED,
                                 agency_id=agency.id, occurred_at=at, subject_id=f"case-{tag}-{i}",
                                 facts={"on": TODAY.isoformat()}) for i in range(count)]


async def append(registry, events: list[rpb.MemberEventDraft]) -> None:
    stub = rpb_grpc.RegistryServiceStub(registry.channel)
    for start in range(0, len(events), 200):
        await stub.AppendMemberEvents(rpb.AppendMemberEventsRequest(events=events[start:start + 200]),
                                      metadata=MACHINE)


async def collect(stub, received: list[rpb.MemberEvent]) -> None:
    async for answer in stub.WatchMemberEvents(pb.WatchMemberEventsRequest(after_position=0)):
        received.extend(answer.events)


async def test_a_watch_resumed_across_a_restart_of_the_endpoint_loses_nothing_and_keeps_order(registry):
    with tempfile.TemporaryDirectory(prefix="ipss-certs-") as directory:
        link = await start_link(registry, Path(directory))
        association = await new_association(registry, link)
        member = await new_member(registry, association)
        tag = uuid.uuid4().hex[:8]
        events = drafts(member, 600, tag)
        received: list[rpb.MemberEvent] = []
        await append(registry, events[:200])
        watching = asyncio.create_task(collect(link.stub(association.id), received))
        writing = asyncio.create_task(append(registry, events[200:400]))
        while len(received) < 250:
            await asyncio.sleep(0.01)
        # The endpoint stops in the middle of the stream; a new one starts on the same port.
        port = int(link.address.rpartition(":")[2])
        await stop_link(link)
        with pytest.raises(grpc.aio.AioRpcError):
            await watching
        await writing
        await append(registry, events[400:])
        link = await start_link(registry, Path(directory), port=port)
        try:
            await resume(link.stub(association.id), received, events[-1].subject_id)
        finally:
            await stop_link(link)
    ours = [e for e in received if e.subject_id.startswith(f"case-{tag}-")]
    assert [e.subject_id for e in ours] == [d.subject_id for d in events]  # every one, once, in order
    positions = [e.position for e in received]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


async def resume(stub, received: list, last_subject: str) -> None:
    """Watch again after the last position received, until the event `last_subject` came."""
    request = pb.WatchMemberEventsRequest(after_position=received[-1].position)
    async with asyncio.timeout(10):
        async for answer in stub.WatchMemberEvents(request):
            received.extend(answer.events)
            if received[-1].subject_id == last_subject:
                return


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_position_older_than_the_feed_keeps_is_out_of_range_with_the_oldest_kept(backend, tmp_path):
    # A registry of its own: the feed's other readers in the session read from its beginning.
    async with running_registry(backend) as registry:
        link = await start_link(registry, tmp_path)
        try:
            await _pruned_position_is_out_of_range(registry, link)
        finally:
            await stop_link(link)


async def _pruned_position_is_out_of_range(registry, link: Link) -> None:
    association = await new_association(registry, link)
    member = await new_member(registry, association)
    await append(registry, drafts(member, 3, uuid.uuid4().hex[:8]))
    registry_stub = rpb_grpc.RegistryServiceStub(registry.channel)
    pruned = await registry_stub.PruneMemberEvents(rpb.PruneMemberEventsRequest(
        before=(TODAY + datetime.timedelta(days=1)).isoformat()), metadata=OPERATOR)
    assert pruned.pruned >= 3
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in link.stub(association.id).WatchMemberEvents(pb.WatchMemberEventsRequest(after_position=0)):
            pass
    assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE
    info = error_info(refused.value)
    assert info.reason == "FEED_POSITION_TOO_OLD" and int(info.metadata["oldest_position"]) > 1


async def test_the_watch_command_prints_json_lines_and_resumes_from_its_state_file(registry, link, tmp_path):
    association = await new_association(registry, link)
    member = await new_member(registry, association)
    tag = uuid.uuid4().hex[:8]
    await append(registry, drafts(member, 5, tag))
    pair = tls.association_pair(association.id, link.certs)
    spec = association_cli.Watch(address=link.address, authority=tls.authority_pair(link.certs).certificate,
                                 client=pair, state=tmp_path / "position", idle_exit_seconds=1.0)

    class Lines(list):
        def write(self, text: str) -> None:
            self.extend(line for line in text.splitlines() if line)

        def flush(self) -> None:
            pass

    first = Lines()
    assert await association_cli.watch(spec, out=first) == 0
    await append(registry, drafts(member, 5, tag + "b"))
    second = Lines()
    assert await association_cli.watch(spec, out=second) == 0
    printed = [json.loads(line) for line in first + second]
    # The member's admission is an event of its own, before the cases appended for it.
    assert printed[0]["kind"] == "MEMBER_EVENT_KIND_MEMBERSHIP_CHANGED"
    subjects = [event["subject_id"] for event in printed[1:]]
    assert subjects == [f"case-{tag}-{i}" for i in range(5)] + [f"case-{tag}b-{i}" for i in range(5)]
    assert int((tmp_path / "position").read_text()) == json.loads(second[-1])["position"]


async def test_in_production_the_endpoint_uses_the_mounted_certificates_and_makes_none(registry, tmp_path,
                                                                                         monkeypatch):
    mounted = tmp_path / "linkage-tls"
    mounted.mkdir()
    tls.make_authority(tls.authority_pair(mounted))
    monkeypatch.setenv("IPSS_LINKAGE_TLS_DIR", str(mounted))
    with pytest.raises(FileNotFoundError, match="linkage-server.pem"):
        build(registry_address=registry.address)
    tls.issue_server(tls.authority_pair(mounted), tls.server_pair(mounted))
    tls.authority_pair(mounted).key.unlink()  # the CA's key stays with the office, not the pod
    linkage = build(registry_address=registry.address, complaints_address=registry.address)
    await linkage.close()
    assert sorted(p.name for p in mounted.iterdir()) == ["ca.pem", "linkage-server.key", "linkage-server.pem"]
