"""Every refusal names its reason (google.rpc.ErrorInfo in the domain "ipss") and carries the values
its words need, beside the English message, so that a client words it without reading the
English: the server kit's (no token, a role that may not call), a service's (an unknown case;
bad fields, each with its own reason and values) and a workflow's (its refusal's details carried
through the service as the suite's error). tests/grpc_checks.refused checks the reason of every
refusal the services' tests meet; the case procedure's tests, a workflow's over a real worker."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2
from temporalio.exceptions import ApplicationError

from contracts.refusals import refuse
from ipss.complaints.v1 import complaints_pb2 as pb
from suite import grpc_server, workflow_client
from suite.errors import FailedPrecondition, InvalidArgument
from tests.conftest import metadata
from tests.grpc_checks import error_info, field_reasons, refused
# api and registry_api are fixtures: imported, they serve this module too.
from tests.test_complaints_intake import CITIZEN, api, new_agency, real_name, registry_api, report  # noqa: F401


async def test_an_unknown_case_is_refused_by_its_reason_with_its_key(api):
    error = await refused(api.GetCase(pb.GetCaseRequest(case_id="case-2026-999999"), metadata=metadata("handler")),
                          grpc.StatusCode.NOT_FOUND)
    info = error_info(error)
    assert (info.reason, dict(info.metadata)) == ("CASE_NOT_FOUND", {"key": "case-2026-999999"})


async def test_each_bad_field_names_its_reason_and_carries_its_values(api, registry_api):
    agency = await new_agency(registry_api)
    error = await refused(api.FileReport(report(agency, real_name(phone="12345"), description="太短"),
                                         metadata=CITIZEN), grpc.StatusCode.INVALID_ARGUMENT)
    assert field_reasons(error) == {"description": "FIELD_TOO_SHORT", "reporter.phone": "PHONE_FORMAT"}
    info = error_info(error)
    assert info.reason == InvalidArgument.REASON and info.metadata["fields"] == ", ".join(field_reasons(error))
    index = list(field_reasons(error)).index("description")
    assert info.metadata[f"field_violations.{index}.min_len"] == "10"


async def test_the_server_kit_names_why_it_refuses_a_caller(api):
    anonymous = error_info(await refused(api.ListCases(pb.ListCasesRequest()), grpc.StatusCode.UNAUTHENTICATED))
    assert (anonymous.reason, anonymous.metadata["method"]) == (
        "TOKEN_REQUIRED", "/ipss.complaints.v1.ComplaintsService/ListCases")
    citizen = error_info(await refused(api.ListCases(pb.ListCasesRequest(), metadata=CITIZEN),
                                       grpc.StatusCode.PERMISSION_DENIED))
    assert (citizen.reason, citizen.metadata["role"]) == ("ROLE_NOT_ALLOWED", "citizen")


def status_details(error) -> tuple[error_details_pb2.ErrorInfo, list]:
    """What the server kit sends for `error`: its ErrorInfo and its BadRequest's violations."""
    (_, serialized), = grpc_server.rich_status(error).trailing_metadata
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    for detail in status_pb2.Status.FromString(serialized).details:
        if not detail.Unpack(info):
            detail.Unpack(bad)
    return info, list(bad.field_violations)


def test_a_workflows_refusal_is_the_suites_error_with_its_reason_and_values():
    precondition = workflow_client.refusal(refuse(
        "STATEMENT_WINDOW_OPEN", "the party may still make a statement until 2026-04-09", due_on="2026-04-09"),
        "case-2026-000001")
    assert isinstance(precondition, FailedPrecondition)
    assert (precondition.reason, precondition.metadata, precondition.subject) == (
        "STATEMENT_WINDOW_OPEN", {"due_on": "2026-04-09"}, "case-2026-000001")
    info, _ = status_details(precondition)
    assert (info.reason, info.domain, dict(info.metadata)) == ("STATEMENT_WINDOW_OPEN", "ipss",
                                                               {"due_on": "2026-04-09"})
    invalid = workflow_client.refusal(
        refuse("PAYMENT_SHORT", "24800 CNY is owed", field="amount_cny", owed_cny=24800), "case-2026-000001")
    info, violations = status_details(invalid)
    assert [(v.field, v.reason) for v in violations] == [("amount_cny", "PAYMENT_SHORT")]
    assert info.metadata["field_violations.0.owed_cny"] == "24800"


def test_a_refusal_recorded_before_reasons_is_read_with_its_status_for_reason():
    """An update retried with its first id is answered from history, as it was refused then."""
    old = workflow_client.refusal(
        ApplicationError("a payment needs its amount", "amount_cny", type="INVALID_ARGUMENT"), "case-2026-000001")
    assert [(v.field, v.reason) for v in old.violations] == [("amount_cny", "INVALID_ARGUMENT")]
