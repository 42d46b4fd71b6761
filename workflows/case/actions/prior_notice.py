"""The prior notice of a proposed penalty (行政处罚告知), the party's statement and defence
(陈述申辩) within its window, and a hearing (听证) where the penalty allows one; the decision's
clock does not count the days of a hearing (处罚程序规定 art. 64)."""

from __future__ import annotations


from temporalio.exceptions import ApplicationError

from contracts.case import CaseAction
from contracts.case_actions import HEARING, PRIOR_NOTICE
from contracts.refusals import refuse
from workflows.case import clock
from workflows.case.actions.registry import handles
from workflows.case.procedure import (check_penalty, check_subject, describe, hearing_available, penalty_data,
                                     penalty_of)
from workflows.case.state import Decision
from workflows.case.context import Case



def _a_penalty_to_propose(case: Case, action: CaseAction) -> None:
    check_penalty(penalty_of(action), proposing=True)
    check_subject(penalty_of(action), case.state.in_registry(), case.state.practitioner is not None)


@handles("propose_penalty", check=_a_penalty_to_propose)
async def propose_penalty(case: Case, action: CaseAction, on: str) -> None:
    state = case.state
    state.proposal = Decision(penalty_of(action), action.actor)
    state.stage, state.status = PRIOR_NOTICE, "prior_notice_served"
    state.statement_recorded = False
    await clock.start_period(case, "statement_and_defence", on)
    penalty = state.proposal.penalty
    case.note(action.actor, "prior_notice_served", on=on, hearing=hearing_available(case.rules, penalty),
              reason=action.reason, **penalty_data(penalty))


@handles("record_statement")
async def record_statement(case: Case, action: CaseAction, on: str) -> None:
    case.state.statement_recorded = True
    case.note(action.actor, "statement_recorded", reason=action.reason)


def _hearing_possible(case: Case) -> ApplicationError | None:
    proposal = case.state.proposal
    if proposal is None or not hearing_available(case.rules, proposal.penalty):
        return refuse("NO_HEARING_FOR_PENALTY",
                      f"no hearing for {describe(proposal.penalty) if proposal else 'no penalty'} (听证办法 art. 5)",
                      penalty_kind=proposal.penalty.kind if proposal else "none")
    window = case.state.periods.get("statement_and_defence")
    if window is None or window.state != "running":
        return refuse("HEARING_REQUEST_PERIOD_ENDED", "the period to ask for a hearing has ended")
    return None


def _names_the_day(case: Case, action: CaseAction) -> None:
    if not action.hearing_on:
        raise refuse("HEARING_DATE_REQUIRED", "a hearing needs its date", field="hearing_on")


@handles("request_hearing", when=_hearing_possible, check=_names_the_day)
async def request_hearing(case: Case, action: CaseAction, on: str) -> None:
    notice = await clock.plan(case, "hearing_notice", action.hearing_on)
    if on > notice.due_on:
        raise refuse("HEARING_NOTICE_TOO_LATE", f"the party must be notified {notice.length} working days before the "
                     f"hearing: a hearing on {action.hearing_on} needed notice by {notice.due_on}", field="hearing_on",
                     days=notice.length, hearing_on=action.hearing_on, notice_by=notice.due_on)
    clock.meet(case, "statement_and_defence")
    decide = case.state.periods["decide_ordinary_case"]
    if decide.state == "running":
        decide.state, decide.paused_on = "paused", on  # a hearing is not counted (处罚程序规定 art. 64)
    case.state.stage, case.state.status = HEARING, "hearing_scheduled"
    case.note(action.actor, "hearing_requested", hearing_on=action.hearing_on, on=on)


@handles("record_hearing")
async def record_hearing(case: Case, action: CaseAction, on: str) -> None:
    decide = case.state.periods["decide_ordinary_case"]
    if decide.state == "paused":
        await clock.resume(case, decide, on)
    case.state.stage, case.state.status = PRIOR_NOTICE, "heard"
    case.state.statement_recorded = True
    case.note(action.actor, "hearing_held", reason=action.reason)
