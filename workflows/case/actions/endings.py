"""Endings outside the penalty procedure: a transfer (移送) to another office of the suite, whose
clock runs on, or to an authority outside it, which ends the case here; a referral to an
industry association for self-regulation (转行业协会自律处理)."""

from __future__ import annotations


from contracts.case import CaseAction
from contracts.refusals import refuse
from workflows.case import clock
from workflows.case.actions.registry import close_case, handles
from workflows.case.context import Case



def _names_where_and_why(case: Case, action: CaseAction) -> None:
    if not (action.target_region_code or action.target_authority):
        raise refuse("TRANSFER_TARGET_REQUIRED", "a transfer names the office or the authority",
                     field="target_authority")
    if action.target_region_code == case.state.region_code and not action.target_authority:
        raise refuse("TRANSFER_TO_SAME_OFFICE", "the case is already with that office", field="target_region_code",
                     region_code=action.target_region_code)
    if not action.reason:
        raise refuse("TRANSFER_REASON_REQUIRED", "a transfer needs its reason", field="reason")


@handles("transfer", check=_names_where_and_why)
async def transfer(case: Case, action: CaseAction, on: str) -> None:
    state = case.state
    if action.target_authority:
        clock.cancel_running(case)
        close_case(case, "transferred", "transferred")
        case.note(action.actor, "transferred", internal=False, on=on, to=action.target_authority)
        case.note(action.actor, "transfer_grounds", reason=action.reason)
        return
    previous, state.region_code, state.assignee = state.region_code, action.target_region_code, ""
    case.note(action.actor, "transferred", internal=False, on=on, to=state.region_code, competent_office=True)
    case.note(action.actor, "transfer_grounds", reason=action.reason, previous_region=previous)


def _names_the_association(case: Case, action: CaseAction) -> None:
    if not action.association_id:
        raise refuse("REFERRAL_ASSOCIATION_REQUIRED", "a referral names the association", field="association_id")


@handles("refer_to_association", check=_names_the_association)
async def refer_to_association(case: Case, action: CaseAction, on: str) -> None:
    clock.cancel_running(case)
    close_case(case, "referred_to_association", "referred")
    case.note(action.actor, "referred", internal=False, on=on)
    case.note(action.actor, "referral_grounds", association_id=action.association_id, reason=action.reason)
