"""The registry (名录库) as the inspections service reads it, over gRPC: the agencies in a plan's
scope with their credit grades (the inspection-target directory's snapshot), and single agencies
named by credit code. The service calls as an operator of its own (subject `ipss-inspections`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from suite.errors import FieldViolation, InvalidArgument
from suite.protos import enum_value, enum_word
from suite.service_caller import ServiceCaller

SUBJECT = "ipss-inspections"
CALL_SECONDS = 30
PAGE_SIZE = 5000
# Agencies that can be inspected: those that still practise, suspended ones included.
INSPECTABLE = (pb.AGENCY_STATUS_ACTIVE, pb.AGENCY_STATUS_SUSPENDED)
LOOKUPS_AT_ONCE = 16
# The snapshot's word for an agency under the measure raising its inspection ratio (draw.RAISED).
RAISED = "higher_inspection_ratio"


@dataclass(frozen=True)
class RegisteredAgency:
    credit_code: str
    name: str
    region_code: str
    kind: str
    status: str


class InspectionTargets(ServiceCaller):
    """The agencies an inspection may target, read from the registry: a plan's scope with their
    credit grades, and the agencies a campaign names by credit code."""

    def __init__(self, address: str | None = None):
        super().__init__("registry", SUBJECT, pb_grpc.RegistryServiceStub, address, CALL_SECONDS)

    async def graded_agencies(self, regions: Sequence[str], kinds: Sequence[str], as_of: str) -> list[list[str]]:
        """[credit_code, name, region_code, kind, grade, raised] for every inspectable agency of the
        regions: `raised` names the joint punishment measure that puts it in the draw's high risk
        class (draw.RAISED) when it is under it on the day, else it is empty."""
        kind_values = [enum_value(pb.AgencyKind.DESCRIPTOR, k) for k in kinds]
        entries = []
        for region in regions:
            token = ""
            while True:
                page = await self._ask(self._stub.ListAgencyCreditGrades, pb.ListAgencyCreditGradesRequest(
                    region_code=region, kinds=kind_values, statuses=INSPECTABLE, as_of=as_of, page_size=PAGE_SIZE,
                    page_token=token))
                entries.extend([a.credit_code, a.name, a.region_code, enum_word(pb.AgencyKind.DESCRIPTOR, a.kind),
                                enum_word(pb.CreditGrade.DESCRIPTOR, a.grade).upper(),
                                RAISED if a.higher_inspection_ratio else ""] for a in page.agencies)
                token = page.next_page_token
                if not token:
                    break
        return entries

    async def agencies(self, credit_codes: Sequence[str], field: str) -> list[RegisteredAgency]:
        """The registered agencies with these credit codes, in order; an unknown one is bad input
        on `field`[i]."""
        gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)

        async def one(code: str) -> pb.Agency | None:
            async with gate:
                found = await self._ask(self._stub.SearchAgencies, pb.SearchAgenciesRequest(query=code, page_size=1))
            return next((a for a in found.agencies if a.credit_code == code), None)
        found = await asyncio.gather(*(one(code) for code in credit_codes))
        unknown = [FieldViolation(f"{field}[{i}].credit_code", "AGENCY_NOT_IN_REGISTRY",
                                  "names no agency in the registry")
                   for i, agency in enumerate(found) if agency is None]
        if unknown:
            raise InvalidArgument(unknown)
        return [RegisteredAgency(a.credit_code, a.name, a.region_code, enum_word(pb.AgencyKind.DESCRIPTOR, a.kind),
                                 enum_word(pb.AgencyStatus.DESCRIPTOR, a.status)) for a in found]
