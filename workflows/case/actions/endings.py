"""A referral to an industry association for self-regulation (移交行业自律), a round trip: the case
waits for the association's answer with the office's clock stopped; a measure taken (已采取自律措施)
ends it, a refusal (不予受理) returns it to the stage it left with the days its period had left.
Transfers (移送) are `transfers.py`'s."""

from __future__ import annotations


from contracts.case import CaseAction
from contracts.case_actions import REFERRED
from contracts.refusals import refuse
from workflows.case import clock
from workflows.case.actions.registry import close_case, handles
from workflows.case.context import Case
from workflows.case.state import Referral

ACCEPTED, MEASURE_TAKEN, DECLINED = "accepted", "measure_taken", "declined"
ANSWERS = (ACCEPTED, MEASURE_TAKEN, DECLINED)


def _names_the_association(case: Case, action: CaseAction) -> None:
    if not action.association_id:
        raise refuse("REFERRAL_ASSOCIATION_REQUIRED", "a referral names the association", field="association_id")


@handles("refer_to_association", check=_names_the_association)
async def refer_to_association(case: Case, action: CaseAction, on: str) -> None:
    """The case waits for the association; the office's running clock stands still meanwhile
    (like a suspension, 期限中止), from the day of the referral."""
    state = case.state
    period = state.office_period()
    paused = ""
    if period is not None and period.state == "running":
        period.state, period.paused_on = "paused", on
        paused = period.period_id
    state.referral = Referral(association_id=action.association_id, sent_on=on, grounds=action.reason,
                              from_stage=state.stage, from_status=state.status, paused_period=paused)
    state.stage, state.status = REFERRED, "awaiting_association"
    case.note(action.actor, "referred", internal=False, on=on)
    case.note(action.actor, "referral_grounds", association_id=action.association_id, reason=action.reason)


def _the_referred_association_answers(case: Case, action: CaseAction) -> None:
    referral = case.state.referral
    if referral is None or action.association_id != referral.association_id:
        # Another association does not learn that the case exists.
        raise refuse("CASE_NOT_FOUND", f"case {case.start.case_id!r} not found", key=case.start.case_id)
    if action.referral_answer not in ANSWERS:
        raise refuse("REFERRAL_ANSWER_REQUIRED", "the answer is accepted, measure_taken or declined",
                     field="answer")
    if action.referral_answer == ACCEPTED and referral.answer == ACCEPTED:
        raise refuse("REFERRAL_ALREADY_ACCEPTED", "the referral was accepted already; the measure or a refusal "
                     "follows", answered_on=referral.answered_on)
    if action.referral_answer == MEASURE_TAKEN and not action.measure:
        raise refuse("REFERRAL_MEASURE_REQUIRED", "a measure taken names the measure", field="measure")
    if action.referral_answer == DECLINED and not action.reason:
        raise refuse("REFERRAL_DECLINE_REASON_REQUIRED", "a referral declined gives the reason", field="reason")


@handles("answer_referral", check=_the_referred_association_answers)
async def answer_referral(case: Case, action: CaseAction, on: str) -> None:
    state, referral = case.state, case.state.referral
    actor = action.association_id
    referral.answer, referral.answered_on = action.referral_answer, on
    if action.referral_answer == ACCEPTED:
        state.status = "accepted_by_association"
        case.note(actor, "referral_accepted", internal=False, on=on)
        return
    if action.referral_answer == MEASURE_TAKEN:
        referral.measure = action.measure
        clock.cancel_running(case)
        close_case(case, "referred_to_association", "measure_taken")
        case.note(actor, "referral_measure_taken", internal=False, on=on, measure=action.measure)
        return
    referral.answer_reason = action.reason
    state.stage, state.status = referral.from_stage, referral.from_status
    case.note(actor, "referral_declined", on=on, reason=action.reason)
    period = state.periods.get(referral.paused_period)
    if period is not None and period.state == "paused":
        await clock.resume(case, period, on)
        case.note("system", "clock_resumed", period_id=period.period_id, on=on, due_on=period.plan.due_on,
                  provisional=period.provisional)
