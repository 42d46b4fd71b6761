"""Transfers (移送). To an authority outside the suite, the case ends here. To another office of
the suite, a round trip like a referral: the case waits for that office (移送待接收), the sending
office's clock standing still, and the receiving office accepts it (接收) or returns it (退回).

Accepted, the clock rules are kept: a case still in verification gets the receiving office's own
verification period, counted from the day it received the case (市场监督管理行政处罚程序规定 art.
18: 自收到材料之日起); an opened case's decision period runs on from the day of acceptance, the
days in transit not counted. Returned, the case is back with the office that sent it, in the stage
and with the handler it had, its clock running on from where it stopped.

Cases transferred before the acceptance step existed (their histories without its patch marker)
moved to the other office at once, their clock running on."""

from __future__ import annotations

from temporalio import workflow

from contracts.case import OPENING_PERIOD, CaseAction
from contracts.case_actions import AWAITING_ACCEPTANCE, VERIFICATION
from contracts.refusals import refuse
from workflows.case import clock
from workflows.case.actions.registry import close_case, handles
from workflows.case.context import Case
from workflows.case.state import Transfer

TRANSFER_ACCEPTANCE_PATCH = "transfer-awaits-acceptance"
ACCEPTED, RETURNED = "accepted", "returned"


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
    previous = state.region_code
    if workflow.patched(TRANSFER_ACCEPTANCE_PATCH):
        period = state.office_period()
        paused = ""
        if period is not None and period.state == "running":
            period.state, period.paused_on = "paused", on
            paused = period.period_id
        state.transfer = Transfer(from_region=previous, to_region=action.target_region_code, sent_on=on,
                                  from_stage=state.stage, from_status=state.status, from_assignee=state.assignee,
                                  paused_period=paused)
        state.stage, state.status = AWAITING_ACCEPTANCE, "awaiting_acceptance"
    state.region_code, state.assignee = action.target_region_code, ""
    case.note(action.actor, "transferred", internal=False, on=on, to=state.region_code, competent_office=True)
    case.note(action.actor, "transfer_grounds", reason=action.reason, previous_region=previous)


@handles("accept_transfer")
async def accept_transfer(case: Case, action: CaseAction, on: str) -> None:
    """The receiving office takes the case on the day it received it (签收)."""
    state, sent = case.state, case.state.transfer
    sent.answer, sent.answered_on = ACCEPTED, on
    state.stage, state.status = sent.from_stage, "transfer_accepted"
    if sent.from_stage == VERIFICATION:
        # The sending office's period stays on the record as it ended (cancelled by the transfer,
        # or missed before it); the receiving office's runs from the day of receipt.
        before = state.periods.pop(OPENING_PERIOD, None)
        if before is not None:
            if before.state in ("running", "paused"):
                before.state = "cancelled"
            state.periods[f"{OPENING_PERIOD}:sent:{sent.sent_on}"] = before
        period = await clock.start_period(case, OPENING_PERIOD, on)
        case.note("system", "clock_started", period_id=OPENING_PERIOD, on=on, due_on=period.due_on,
                  provisional=bool(period.provisional_years))
    else:
        period = state.periods.get(sent.paused_period)
        if period is not None and period.state == "paused":
            await clock.resume(case, period, on)
            case.note("system", "clock_resumed", period_id=period.period_id, on=on, due_on=period.plan.due_on,
                      provisional=period.provisional)
    case.note(action.actor, "transfer_accepted", internal=False, on=on)
    if action.reason:
        case.note(action.actor, "transfer_acceptance_notes", reason=action.reason)


def _gives_the_reason(case: Case, action: CaseAction) -> None:
    if not action.reason:
        raise refuse("TRANSFER_RETURN_REASON_REQUIRED", "returning a transferred case needs the reason",
                     field="reason")


@handles("return_transfer", check=_gives_the_reason)
async def return_transfer(case: Case, action: CaseAction, on: str) -> None:
    """Back to the sending office, as the case was there."""
    state, sent = case.state, case.state.transfer
    sent.answer, sent.answered_on = RETURNED, on
    state.region_code, state.assignee = sent.from_region, sent.from_assignee
    state.stage, state.status = sent.from_stage, sent.from_status
    case.note(action.actor, "transfer_returned", on=on, to=sent.from_region, reason=action.reason)
    period = state.periods.get(sent.paused_period)
    if period is not None and period.state == "paused":
        await clock.resume(case, period, on)
        case.note("system", "clock_resumed", period_id=period.period_id, on=on, due_on=period.plan.due_on,
                  provisional=period.provisional)
