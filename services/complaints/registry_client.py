"""The registry (名录库) as intake asks it, over gRPC: which registered agency a report names.

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

    def __init__(self, address: str | None = None, token_secret: str | None = None):
        super().__init__("registry", SUBJECT, pb_grpc.RegistryServiceStub, address, token_secret, CALL_SECONDS)

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

    async def _search(self, query: str) -> list[pb.Agency]:
        answer = await self._ask(self._stub.SearchAgencies,
                                 pb.SearchAgenciesRequest(query=query, page_size=NAME_CANDIDATES))
        return list(answer.agencies)


def agency_of_record(agency: pb.Agency) -> domain.Agency:
    return domain.Agency(agency_id=agency.id, name=agency.name, credit_code=agency.credit_code,
                         region_code=agency.region_code, kind=enum_word(pb.AgencyKind.DESCRIPTOR, agency.kind))
