"""The decision (处罚决定): a handler submits it, another approves it (four eyes). An approved
penalty lands on the agency's credit record and is published for its period (信息公示规定 art.
2, 13); a suspension from new business runs as a workflow of its own; a revocation changes the
agency's status in the registry."""

from __future__ import annotations


from temporalio import workflow
from temporalio.exceptions import ApplicationError

from contracts.case import CaseAction
from contracts.case_actions import DECIDED, DECISION_APPROVAL, INVESTIGATION, PRIOR_NOTICE
from contracts.refusals import refuse
from workflows.activities.registry import CreditEventOrder, RegistryActivities, StatusChangeOrder
from workflows.activities.periods import MonthsQuestion, PeriodActivities
from workflows.agency_suspension import AgencySuspensionWorkflow, SuspensionDecision
from workflows.agency_suspension import workflow_id as suspension_workflow_id
from workflows.case import clock, procedure
from workflows.case.actions.registry import close_case, handles
from workflows.case.activity_options import ACTIVITY_TIMEOUT, SERVICE_RETRY
from workflows.case.procedure import check_penalty, check_subject, describe, heavier, penalty_data, penalty_of
from workflows.case.state import Decision
from workflows.case.context import Case



def _decidable(case: Case) -> ApplicationError | None:
    state = case.state
    window = state.periods.get("statement_and_defence")
    if state.stage == PRIOR_NOTICE and window.state == "running" and not state.statement_recorded:
        return refuse("STATEMENT_WINDOW_OPEN", f"the party may still make a statement until {window.plan.due_on}"
                      + clock.provisional_mark(window), due_on=window.plan.due_on, provisional=window.provisional)
    decide = state.periods.get("decide_ordinary_case")
    if decide and decide.state == "paused":
        return refuse("DECISION_CLOCK_SUSPENDED", "the decision clock is suspended; resume it first")
    return None


def _a_penalty_to_decide(case: Case, action: CaseAction) -> None:
    penalty = penalty_of(action)
    check_penalty(penalty, proposing=False)
    check_subject(penalty, case.state.in_registry(), case.state.practitioner is not None)
    if case.state.stage == INVESTIGATION and penalty.kind != "none":
        raise refuse("PENALTY_BEFORE_PRIOR_NOTICE",
                     "a penalty is decided only after the prior notice (告知); propose it first")
    if case.state.stage == PRIOR_NOTICE and heavier(penalty, case.state.proposal.penalty):
        raise refuse("DECISION_HEAVIER_THAN_NOTICE",
                     "the decision may not be heavier than the penalty told to the party without a new prior notice",
                     field="penalty")


@handles("submit_decision", when=_decidable, check=_a_penalty_to_decide)
async def submit_decision(case: Case, action: CaseAction, on: str) -> None:
    clock.meet(case, "statement_and_defence")
    case.state.proposal = Decision(penalty_of(action), action.actor)
    case.state.stage, case.state.status = DECISION_APPROVAL, "awaiting_approval"
    case.note(action.actor, "decision_submitted", reason=action.reason, **penalty_data(case.state.proposal.penalty))


def _four_eyes(case: Case, action: CaseAction) -> None:
    if case.state.proposal.proposed_by == action.actor:
        raise refuse("FOUR_EYES_DECISION", "four eyes: the proposer cannot approve their own decision")


@handles("approve_decision", check=_four_eyes)
async def approve_decision(case: Case, action: CaseAction, on: str) -> None:
    state = case.state
    decision = state.proposal
    decision.decided_on = on
    state.decision, state.proposal = decision, None
    clock.meet(case, "decide_ordinary_case")
    penalty = decision.penalty
    state.outcome = procedure.OUTCOME_OF_PENALTY[penalty.kind]
    case.note(action.actor, "decided", internal=False, on=on, **penalty_data(penalty))
    if penalty.kind == "none":
        close_case(case, "no_penalty", "closed without penalty")
        return
    state.stage, state.status = DECIDED, "decided"
    await clock.start_period(case, "serve_absent_party", on)
    await _put_on_credit_record(case, decision)
    if penalty.kind == "suspension":
        await _suspend_agency(case, decision)
    elif penalty.kind == "revocation":
        await _revoke_agency(case, decision)


async def _put_on_credit_record(case: Case, decision: Decision) -> None:
    start, penalty, rules = case.start, decision.penalty, case.rules
    practitioner = case.state.practitioner
    publicity_period = rules.publicity.period_id(procedure.measures(penalty), penalty.fine_cny * 100)
    published = publicity_period is not None
    if published:
        await clock.start_period(case, "publish_penalty", decision.decided_on)
        decision.publicity_period = publicity_period
        publicity = await clock.start_period(case, publicity_period, decision.decided_on)
    else:
        # Not public, yet it counts on the credit grade for as long as a short publicity would.
        publicity = await clock.plan(case, rules.publicity.short_period, decision.decided_on)
    decision.credit_event_id = await workflow.execute_activity_method(
        RegistryActivities.record_credit_event,
        CreditEventOrder(idempotency_key=f"{start.case_id}:decision",
                         agency_id="" if practitioner else case.state.agency.agency_id,
                         practitioner_id=practitioner.practitioner_id if practitioner else "",
                         kind=procedure.CREDIT_EVENT_OF_PENALTY[penalty.kind], source_reference=start.case_id,
                         occurred_on=decision.decided_on, publicity_ends_on=publicity.due_on,
                         summary=f"{start.category}: {describe(penalty)}", fine_cny=penalty.fine_cny),
        start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
    if published:
        clock.meet(case, "publish_penalty")
        case.note("system", "published", internal=False, until=publicity.due_on)
    if published and rules.credit_repair.allowed_after(procedure.measures(penalty)):
        await clock.start_period(case, "credit_repair_after", decision.decided_on)


async def _suspend_agency(case: Case, decision: Decision) -> None:
    start = case.start
    until = await clock.compute(case, PeriodActivities.last_day_of_months,
                                MonthsQuestion(decision.decided_on, decision.penalty.suspension_months))
    order = SuspensionDecision(agency_id=case.state.agency.agency_id, effective_on=decision.decided_on,
                               suspended_until=until, reason=start.category, decision_reference=start.case_id,
                               calendar_offset_days=start.calendar_offset_days)
    decision.suspension_workflow_id, decision.suspended_until = suspension_workflow_id(order), until
    await workflow.start_child_workflow(AgencySuspensionWorkflow.run, order, id=decision.suspension_workflow_id,
                                        parent_close_policy=workflow.ParentClosePolicy.ABANDON)
    case.note("system", "agency_suspended", internal=False, until=until)


async def _revoke_agency(case: Case, decision: Decision) -> None:
    start = case.start
    await workflow.execute_activity_method(
        RegistryActivities.change_agency_status,
        StatusChangeOrder(idempotency_key=f"{start.case_id}:revocation", agency_id=case.state.agency.agency_id,
                          to_status="revoked", effective_on=decision.decided_on, suspended_until="",
                          reason=start.category, decision_reference=start.case_id),
        start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
    case.note("system", "licence_revoked")
