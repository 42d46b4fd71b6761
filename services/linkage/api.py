"""The association linkage servicer: each RPC asked of the registry or the complaints service on
the calling association's behalf (they scope the answer), the discipline report handed to its
workflow, and the member events feed streamed from the registry's positions."""

from __future__ import annotations

import asyncio

from contracts.discipline import DisciplineReport, workflow_id
from ipss.complaints.v1 import complaints_pb2 as complaints_pb
from ipss.linkage.v1 import linkage_pb2 as pb
from ipss.linkage.v1 import linkage_pb2_grpc as pb_grpc
from ipss.registry.v1 import registry_pb2 as registry_pb
from services.linkage.clients import DisciplineWorkflows, OnBehalf
from services.linkage.domain import Quotas
from suite import auth
from suite.protos import enum_word

# Events a watch carries in one message, and how long it waits before asking again when the
# feed had nothing new (longer while it stays quiet).
WATCH_PAGE = 500
WATCH_POLL_SECONDS = (0.05, 0.1, 0.2, 0.5)


class LinkageApi(pb_grpc.AssociationLinkServiceServicer):
    def __init__(self, services: OnBehalf, discipline: DisciplineWorkflows, quotas: Quotas):
        self._services, self._discipline, self._quotas = services, discipline, quotas

    async def _registry(self, rpc: str, request):
        return await self._services.ask(getattr(self._services.registry, rpc), request, _association())

    async def GetAssociation(self, request: pb.GetAssociationRequest, context) -> pb.GetAssociationResponse:
        answer = await self._registry("GetAssociation", registry_pb.GetAssociationRequest(id=_association()))
        return pb.GetAssociationResponse(association=answer.association)

    async def ListMembers(self, request: pb.ListMembersRequest, context) -> pb.ListMembersResponse:
        answer = await self._registry("ListMembers", registry_pb.ListMembersRequest(
            on=request.on, page_size=request.page_size, page_token=request.page_token))
        return pb.ListMembersResponse(members=answer.members, next_page_token=answer.next_page_token, on=answer.on)

    async def GetMember(self, request: pb.GetMemberRequest, context) -> pb.GetMemberResponse:
        answer = await self._registry("GetMember", registry_pb.GetMemberRequest(agency_id=request.agency_id,
                                                                               on=request.on))
        return pb.GetMemberResponse(member=answer.member, credit=answer.credit)

    async def ListReferrals(self, request: pb.ListReferralsRequest, context) -> pb.ListReferralsResponse:
        answer = await self._services.ask(self._services.complaints.ListReferrals, complaints_pb.ListReferralsRequest(
            open_only=request.open_only, page_size=request.page_size, page_token=request.page_token), _association())
        return pb.ListReferralsResponse(referrals=answer.referrals, next_page_token=answer.next_page_token)

    async def AnswerReferral(self, request: pb.AnswerReferralRequest, context) -> pb.AnswerReferralResponse:
        answer = await self._services.ask(self._services.complaints.AnswerReferral, complaints_pb.AnswerReferralRequest(
            idempotency_key=request.idempotency_key, case_id=request.case_id, answer=request.answer,
            measure=request.measure, reason=request.reason, effective_on=request.effective_on), _association())
        return pb.AnswerReferralResponse(referral=answer.referral)

    async def ReportDiscipline(self, request: pb.ReportDisciplineRequest, context) -> pb.ReportDisciplineResponse:
        # Its member on the day of the decision, or NOT_FOUND before anything starts.
        await self._registry("GetMember", registry_pb.GetMemberRequest(agency_id=request.agency_id,
                                                                      on=request.decided_on))
        view = await self._discipline.report(DisciplineReport(
            association_id=_association(), agency_id=request.agency_id,
            measure=enum_word(registry_pb.DisciplineMeasure.DESCRIPTOR, request.measure),
            document_number=request.document_number, decided_on=request.decided_on))
        return pb.ReportDisciplineResponse(workflow_id=workflow_id(_association(), request.document_number),
                                           publicity_ends_on=view.publicity_ends_on,
                                           provisional=view.provisional)

    async def ApplyForCreditRepair(self, request: pb.ApplyForCreditRepairRequest, context
                                   ) -> pb.ApplyForCreditRepairResponse:
        answer = await self._registry("ApplyForCreditRepair", registry_pb.ApplyForCreditRepairRequest(
            idempotency_key=request.idempotency_key, agency_id=request.agency_id,
            credit_event_ids=request.credit_event_ids, statement=request.statement, compliance=request.compliance))
        return pb.ApplyForCreditRepairResponse(repair=answer.repair)

    async def GetCreditRepair(self, request: pb.GetCreditRepairRequest, context) -> pb.GetCreditRepairResponse:
        answer = await self._registry("GetCreditRepair", registry_pb.GetCreditRepairRequest(id=request.id))
        return pb.GetCreditRepairResponse(repair=answer.repair)

    async def AcknowledgeMemberEvents(self, request: pb.AcknowledgeMemberEventsRequest,
                                      context) -> pb.AcknowledgeMemberEventsResponse:
        answer = await self._registry("AcknowledgeMemberEvents",
                                      registry_pb.AcknowledgeMemberEventsRequest(position=request.position))
        return pb.AcknowledgeMemberEventsResponse(acknowledged_position=answer.acknowledged_position)

    async def WatchMemberEvents(self, request: pb.WatchMemberEventsRequest, context):
        """Every event after the position, then each new one as the registry records it. The
        position moves only past events sent, so a client that resumes from the last position
        it received misses nothing; one that received an event twice has it at the same position."""
        association = _association()
        self._quotas.open_watch(association)
        try:
            read = registry_pb.ReadMemberEventsRequest(
                after_position=request.after_position, from_acknowledged=not request.HasField("after_position"),
                limit=WATCH_PAGE)
            quiet = 0
            while True:
                page = await self._registry("ReadMemberEvents", read)
                read = registry_pb.ReadMemberEventsRequest(after_position=page.last_position, limit=WATCH_PAGE)
                if page.events:
                    quiet = 0
                    yield pb.WatchMemberEventsResponse(events=page.events)
                    continue
                await asyncio.sleep(WATCH_POLL_SECONDS[min(quiet, len(WATCH_POLL_SECONDS) - 1)])
                quiet += 1
        finally:
            self._quotas.close_watch(association)


def _association() -> str:
    return auth.current().association_id
