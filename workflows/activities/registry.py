"""Activities that change the registry, through its gRPC API, as the suite's worker."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from suite.protos import enum_value, enum_word
from workflows.activities.service_client import ServiceClient


@dataclass
class StatusChangeOrder:
    idempotency_key: str
    agency_id: str
    to_status: str  # active, suspended, revoked, deregistered
    effective_on: str
    suspended_until: str
    reason: str
    decision_reference: str


@dataclass
class CreditEventOrder:
    """A penalty or other credit event on an agency's record (信用记录), or on a practitioner's
    (agency_id empty, practitioner_id given)."""

    idempotency_key: str
    agency_id: str
    kind: str  # warning, fine, suspension, revocation, ...
    source_reference: str
    occurred_on: str
    publicity_ends_on: str
    summary: str
    fine_cny: int = 0
    source: str = "case"
    practitioner_id: str = ""


@dataclass
class WithdrawalOrder:
    """Take a credit event off the public register and out of the grade (撤回公示)."""

    idempotency_key: str
    event_id: str
    withdrawn_on: str
    reason: str


@dataclass
class ReinstatementOrder:
    """Undo a licence revocation that a review revoked (撤销吊销决定后恢复)."""
    idempotency_key: str
    agency_id: str
    revocation_reference: str
    effective_on: str
    reason: str


@dataclass
class DisciplineOrder:
    """An industry association's disciplinary measure against its member, for the credit record
    (行业自律惩戒); the registry records one per decision document number."""

    association_id: str
    agency_id: str
    measure: str  # warning, circulated_criticism, public_censure, membership_revoked
    document_number: str
    decided_on: str
    publicity_ends_on: str


@dataclass
class AgencySnapshot:
    agency_id: str
    name: str
    credit_code: str
    region_code: str
    status: str
    suspended_until: str


@dataclass
class ListingOrder:
    """List the non-filers of a report year on its listing day (经营异常名录)."""

    report_year: int
    listed_on: str


@dataclass
class MovedToSerious:
    moved: int
    next_move_on: str  # "" when no agency on the abnormal list is due to move


@dataclass
class RepairStepOrder:
    """A step of a credit repair application (信用修复) for the registry's record."""

    repair_id: str
    step: str  # checked, refused_at_check, granted, refused, lapsed
    on: str
    actor: str
    compliance_evidence: str = ""
    reason: str = ""
    # The idempotency key of the request that asked for it (empty for a lapse).
    request_id: str = ""


class RegistryActivities(ServiceClient):
    service = "registry"
    stub_type = pb_grpc.RegistryServiceStub

    @activity.defn(name="registry.change_agency_status")
    async def change_agency_status(self, order: StatusChangeOrder) -> AgencySnapshot:
        response = await self._call(self._stub.ChangeAgencyStatus, pb.ChangeAgencyStatusRequest(
            idempotency_key=order.idempotency_key, agency_id=order.agency_id,
            to_status=enum_value(pb.AgencyStatus.DESCRIPTOR, order.to_status),
            effective_on=order.effective_on, suspended_until=order.suspended_until, reason=order.reason,
            decision_reference=order.decision_reference))
        return snapshot(response.agency)

    @activity.defn(name="registry.reinstate_agency")
    async def reinstate_agency(self, order: ReinstatementOrder) -> AgencySnapshot:
        response = await self._call(self._stub.ReinstateAgency, pb.ReinstateAgencyRequest(
            idempotency_key=order.idempotency_key, agency_id=order.agency_id,
            revocation_reference=order.revocation_reference, effective_on=order.effective_on, reason=order.reason))
        return snapshot(response.agency)

    @activity.defn(name="registry.record_credit_event")
    async def record_credit_event(self, order: CreditEventOrder) -> str:
        response = await self._call(self._stub.RecordCreditEvent, pb.RecordCreditEventRequest(
            idempotency_key=order.idempotency_key, agency_id=order.agency_id, practitioner_id=order.practitioner_id,
            kind=enum_value(pb.CreditEventKind.DESCRIPTOR, order.kind),
            source=enum_value(pb.CreditEventSource.DESCRIPTOR, order.source),
            source_reference=order.source_reference, occurred_on=order.occurred_on,
            publicity_ends_on=order.publicity_ends_on, summary=order.summary, fine_cny=order.fine_cny))
        return response.event.id

    @activity.defn(name="registry.withdraw_credit_event")
    async def withdraw_credit_event(self, order: WithdrawalOrder) -> str:
        response = await self._call(self._stub.WithdrawCreditEvent, pb.WithdrawCreditEventRequest(
            idempotency_key=order.idempotency_key, event_id=order.event_id, withdrawn_on=order.withdrawn_on,
            reason=order.reason))
        return response.event.withdrawn_on

    @activity.defn(name="registry.get_agency")
    async def get_agency(self, agency_id: str) -> AgencySnapshot:
        """The agency as the register shows it now (what an operator finds a workflow by)."""
        response = await self._call(self._stub.GetAgency, pb.GetAgencyRequest(id=agency_id))
        return snapshot(response.agency)

    @activity.defn(name="registry.record_association_discipline")
    async def record_association_discipline(self, order: DisciplineOrder) -> str:
        """The credit event's id; the same document number answers the same event."""
        response = await self._call(self._stub.RecordAssociationDiscipline, pb.RecordAssociationDisciplineRequest(
            association_id=order.association_id, agency_id=order.agency_id,
            measure=enum_value(pb.DisciplineMeasure.DESCRIPTOR, order.measure),
            document_number=order.document_number, decided_on=order.decided_on,
            publicity_ends_on=order.publicity_ends_on))
        return response.event.id

    @activity.defn(name="registry.record_publicity_ended")
    async def record_publicity_ended(self, event_id: str) -> None:
        """公示期届满, said on the member events feed; idempotent by the event."""
        await self._call(self._stub.RecordPublicityEnded, pb.RecordPublicityEndedRequest(event_id=event_id))


    @activity.defn(name="registry.list_non_filers")
    async def list_non_filers(self, order: ListingOrder) -> int:
        """The agencies listed; a retry lists nobody twice."""
        response = await self._call(self._stub.ListAnnualReportNonFilers, pb.ListAnnualReportNonFilersRequest(
            report_year=order.report_year, listed_on=order.listed_on))
        return response.listed

    @activity.defn(name="registry.move_to_serious_list")
    async def move_to_serious_list(self, on: str) -> MovedToSerious:
        response = await self._call(self._stub.EscalateAbnormalListings, pb.EscalateAbnormalListingsRequest(on=on))
        return MovedToSerious(response.moved, response.next_move_on)

    @activity.defn(name="registry.record_repair_step")
    async def record_repair_step(self, order: RepairStepOrder) -> str:
        """The application's stage after the step; the step recorded last again changes nothing."""
        response = await self._call(self._stub.RecordCreditRepairStep, pb.RecordCreditRepairStepRequest(
            repair_id=order.repair_id, step=enum_value(pb.CreditRepairStep.DESCRIPTOR, order.step), on=order.on,
            actor=order.actor, compliance_evidence=order.compliance_evidence, reason=order.reason,
            request_id=order.request_id))
        return enum_word(pb.CreditRepairStage.DESCRIPTOR, response.repair.stage)


def snapshot(agency: pb.Agency) -> AgencySnapshot:
    return AgencySnapshot(agency_id=agency.id, name=agency.name, credit_code=agency.credit_code,
                          region_code=agency.region_code,
                          status=enum_word(pb.AgencyStatus.DESCRIPTOR, agency.status),
                          suspended_until=agency.suspended_until)
