"""What a case is about and which case it is: the subject matched to its registry entry (主体认定)
once the registry has one, and the case merged into another on the same conduct (并案).

A report about an entity the registry did not know (未登记主体, e.g. 无资质从事专利代理) or about a
practitioner (从业人员) names the subject by what the reporter knew. When the registry has the
entry (the office entered the entity, or the practitioner's certificate is found), a handler
matches the case to it: a penalty then lands on that entry's credit record. Until then no penalty
beyond none can be proposed or decided (actions/decision.py, prior_notice.py).

Merging is a supervisor's act on the case merged away (B), after the case it goes into (A) took
B's reporters in (merging.py): B closes as merged, naming A, its office duties cancelled; A's
clock runs on."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from contracts.case import AGENCY, AgencyRef, CaseAction, PractitionerRef
from contracts.refusals import refuse
from workflows.case.actions.registry import close_case, handles
from workflows.case.context import Case


def _not_in_the_registry_yet(case: Case) -> ApplicationError | None:
    if case.state.in_registry():
        return refuse("SUBJECT_IN_REGISTRY", "the case's subject is a registry entry already")
    return None


def _an_entry_of_the_subjects_kind(case: Case, action: CaseAction) -> None:
    if case.state.practitioner is not None:
        if action.matched_practitioner is None or not action.matched_practitioner.practitioner_id:
            raise refuse("MATCH_PRACTITIONER_REQUIRED", "a practitioner is matched to a registered practitioner",
                         field="practitioner_certificate_number")
    elif action.matched_agency is None or not action.matched_agency.agency_id:
        raise refuse("MATCH_AGENCY_REQUIRED", "an entity is matched to a registered agency", field="agency")
    if not action.reason:
        raise refuse("MATCH_REASON_REQUIRED", "matching the subject needs how it was identified", field="reason")


@handles("match_subject", when=_not_in_the_registry_yet, check=_an_entry_of_the_subjects_kind)
async def match_subject(case: Case, action: CaseAction, on: str) -> None:
    state = case.state
    if state.practitioner is not None:
        found = action.matched_practitioner
        state.practitioner = PractitionerRef(found.practitioner_id, found.name, found.certificate_number)
        case.note(action.actor, "practitioner_matched", on=on, practitioner_id=found.practitioner_id,
                  practitioner_name=found.name, certificate_number=found.certificate_number, reason=action.reason)
        return
    found = action.matched_agency
    reported = state.agency
    state.agency = AgencyRef(found.agency_id, found.name, found.credit_code, found.region_code, found.kind)
    state.subject_kind = AGENCY
    case.note(action.actor, "subject_matched", on=on, agency_id=found.agency_id, agency_name=found.name,
              credit_code=found.credit_code, reported_name=reported.name if reported else "", reason=action.reason)


def _names_another_case(case: Case, action: CaseAction) -> None:
    if not action.into_case_id:
        raise refuse("MERGE_TARGET_REQUIRED", "a merger names the case it goes into", field="into_case_id")
    if action.into_case_id == case.start.case_id:
        raise refuse("MERGE_INTO_ITSELF", "a case is not merged into itself", field="into_case_id")
    if not action.reason:
        raise refuse("MERGE_REASON_REQUIRED", "merging needs the reason", field="reason")


@handles("merge", check=_names_another_case)
async def merge(case: Case, action: CaseAction, on: str) -> None:
    """The case ends here: its reporters are the other case's now (the service moved their reports
    when that case took them in), and only the record says where it went."""
    case.state.merged_into = action.into_case_id
    case.reporters.clear()
    close_case(case, "merged", "merged")
    case.note(action.actor, "merged", internal=False, on=on)
    case.note(action.actor, "merge_grounds", into_case_id=action.into_case_id, reason=action.reason)


