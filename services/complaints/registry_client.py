"""The registry (名录库) as intake asks it, over gRPC: which registered agency a report names, and
whether an entity or a practitioner it names is in the registry (matched at intake, or later by a
handler).

The complaints service calls as an operator of its own (subject `ipss-complaints`), so that a
citizen's report can name any agency in the country."""

from __future__ import annotations

from ipss.complaints.v1 import complaints_pb2 as complaints_pb
from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from services.complaints import domain
from suite.errors import FieldViolation, InvalidArgument
from suite.protos import enum_word
from suite.service_caller import ServiceCaller

SUBJECT = "ipss-complaints"
CALL_SECONDS = 10
# An exact name is found among the agencies whose names start with it, which sort first.
NAME_CANDIDATES = 20


class ReportedAgencyLookup(ServiceCaller):
    """Which registered agency a report names, asked of the registry."""

    def __init__(self, address: str | None = None):
        super().__init__("registry", SUBJECT, pb_grpc.RegistryServiceStub, address, CALL_SECONDS)

    async def find_agency(self, reported: complaints_pb.ReportedAgency) -> domain.Agency:
        """The agency by credit code, else licence number, else exact name: the first of the
        identifiers given that the registry knows. One it does not know at all is bad input
        (INVALID_ARGUMENT on `agency`): a report must name a supervised agency."""
        searches = [(reported.credit_code, lambda a: a.credit_code == reported.credit_code),
                    (reported.licence_number, lambda a: a.licence_number == reported.licence_number),
                    (reported.name, lambda a: a.name == reported.name)]
        for query, same in searches:
            if not query:
                continue
            found = [a for a in await self._search(query) if same(a)]
            if len(found) > 1:
                raise InvalidArgument(FieldViolation("agency.name", "AGENCY_NAME_AMBIGUOUS",
                                                     f"{len(found)} registered agencies have this name; give the "
                                                     "credit code or licence number", {"count": len(found)}))
            if found:
                return agency_of_record(found[0])
        raise InvalidArgument(FieldViolation("agency", "AGENCY_NOT_IN_REGISTRY", "names no agency in the registry "
                                             "(by credit code, licence number or exact name)"))

    async def find_subject(self, request: complaints_pb.FileReportRequest) -> domain.Subject:
        """Who the report is about: a registered agency it names; an entity, the registry's agency
        when the registry knows it by credit code (or, one alone, by exact name), else as named; a
        practitioner, the registry's when it knows the certificate number, else as named."""
        which = request.WhichOneof("subject")
        domain.check_report_subject(which)
        if which == "agency":
            return domain.agency_subject(await self.find_agency(request.agency))
        if which == "entity":
            entity = request.entity
            return domain.entity_subject(entity.name, entity.credit_code, entity.region_code, entity.address,
                                         await self._known_entity(entity))
        reported = request.practitioner
        found = await self.find_practitioner(reported.certificate_number) if reported.certificate_number else None
        return domain.practitioner_subject(reported.name, reported.certificate_number, reported.region_code, found)

    async def _known_entity(self, entity: complaints_pb.ReportedEntity) -> domain.Agency | None:
        if entity.credit_code:
            found = [a for a in await self._search(entity.credit_code) if a.credit_code == entity.credit_code.upper()]
            if found:
                return agency_of_record(found[0])
        named = [a for a in await self._search(entity.name) if a.name == entity.name]
        return agency_of_record(named[0]) if len(named) == 1 else None

    async def find_practitioner(self, certificate_number: str) -> domain.Practitioner | None:
        """The registered practitioner with this qualification certificate number, and the region of
        the agency they practise at; None when the registry knows no such certificate."""
        answer = await self._ask(self._stub.SearchPractitioners, pb.SearchPractitionersRequest(
            query=certificate_number, page_size=NAME_CANDIDATES))
        found = [p for p in answer.practitioners if p.certificate_number.upper() == certificate_number.upper()]
        if not found:
            return None
        person = found[0]
        region = ""
        if person.current_agency_id:
            agency = (await self._ask(self._stub.GetAgency, pb.GetAgencyRequest(id=person.current_agency_id))).agency
            region = agency.region_code
        return domain.Practitioner(person.id, person.name, person.certificate_number, region)

    async def _search(self, query: str) -> list[pb.Agency]:
        answer = await self._ask(self._stub.SearchAgencies,
                                 pb.SearchAgenciesRequest(query=query, page_size=NAME_CANDIDATES))
        return list(answer.agencies)


def agency_of_record(agency: pb.Agency) -> domain.Agency:
    return domain.Agency(agency_id=agency.id, name=agency.name, credit_code=agency.credit_code,
                         region_code=agency.region_code, kind=enum_word(pb.AgencyKind.DESCRIPTOR, agency.kind))
