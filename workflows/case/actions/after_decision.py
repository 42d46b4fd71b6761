"""After the decision (处罚决定): its service (送达), the fine's payment with the late surcharge
(加处罚款), reconsideration or litigation (复议/诉讼) — which may revoke the decision and undo what
followed from it — and closing the case (结案) once the review windows have run."""

from __future__ import annotations

from datetime import date

from temporalio import workflow

from temporalio.exceptions import ApplicationError

from contracts.case import CaseAction
from contracts.refusals import refuse
from workflows.activities.registry import RegistryActivities, ReinstatementOrder, WithdrawalOrder
from workflows.agency_suspension import AgencySuspensionWorkflow, EarlyEnd
from workflows.case import clock
from workflows.case.actions.registry import close_case, handles
from workflows.case.activity_options import ACTIVITY_TIMEOUT, SERVICE_RETRY
from workflows.case.procedure import ReviewSpan
from workflows.case.context import Case


# Cases decided before reinstatement on review existed replay without it.
REINSTATEMENT_PATCH = "reinstate-agency-on-review"
REVIEW_WINDOWS = ("reconsideration_window", "litigation_window")


def _not_served(case: Case) -> ApplicationError | None:
    served_on = case.state.decision.served_on
    if served_on:
        return refuse("DECISION_ALREADY_SERVED", "the decision was already served", served_on=served_on)
    return None


@handles("record_service", when=_not_served)
async def record_service(case: Case, action: CaseAction, on: str) -> None:
    decision = case.state.decision
    decision.served_on = on
    clock.meet(case, "serve_absent_party")
    case.state.status = "served"
    case.note(action.actor, "served", on=on, party_absent=not action.party_present)
    if decision.penalty.fine_cny:
        await clock.start_period(case, "pay_fine", on)
    await clock.start_period(case, "reconsideration_window", on)
    await clock.start_period(case, "litigation_window", on)


def _payable(case: Case) -> ApplicationError | None:
    decision = case.state.decision
    if not decision.penalty.fine_cny:
        return refuse("DECISION_WITHOUT_FINE", "the decision carries no fine")
    if not decision.served_on:
        return refuse("DECISION_NOT_SERVED", "the decision has not been served yet")
    if decision.paid_on:
        return refuse("FINE_ALREADY_PAID", "the fine is already paid", paid_on=decision.paid_on)
    return None


def _names_the_amount(case: Case, action: CaseAction) -> None:
    if action.amount_cny <= 0:
        raise refuse("PAYMENT_AMOUNT_REQUIRED", "a payment needs its amount", field="amount_cny")


@handles("record_payment", when=_payable, check=_names_the_amount)
async def record_payment(case: Case, action: CaseAction, on: str) -> None:
    decision = case.state.decision
    fine = decision.penalty.fine_cny
    owed = fine + clock.surcharge(case, date.fromisoformat(on))
    if action.amount_cny < owed:
        raise refuse("PAYMENT_SHORT",
                     f"{owed} CNY is owed on {on} (fine and late surcharge); {action.amount_cny} is short",
                     field="amount_cny", owed_cny=owed, on=on, paid_cny=action.amount_cny)
    decision.paid_on = on
    period = case.state.periods.get("pay_fine")
    if period and period.state == "running":
        clock.meet(case, "pay_fine")
    case.state.status = "paid"
    case.note(action.actor, "paid", amount_cny=action.amount_cny, on=on, surcharge_cny=owed - fine)


def _a_review_change(case: Case, action: CaseAction) -> None:
    if action.review_kind not in ("reconsideration", "litigation"):
        raise refuse("REVIEW_KIND_UNKNOWN", "review kind must be reconsideration or litigation", field="kind")
    pending = bool(case.state.reviews) and case.state.reviews[-1].end is None
    if action.review_pending and pending:
        raise refuse("REVIEW_ALREADY_PENDING", "a review is already pending")
    if not action.review_pending and not pending:
        raise refuse("NO_REVIEW_PENDING", "no review is pending")


@handles("record_review", check=_a_review_change)
async def record_review(case: Case, action: CaseAction, on: str) -> None:
    state, kind = case.state, action.review_kind
    if action.review_pending:
        state.reviews.append(ReviewSpan(date.fromisoformat(on), None))
        state.status = f"{kind}_pending"
        case.note(action.actor, "review_filed", review_kind=kind, on=on)
        return
    state.reviews[-1] = ReviewSpan(state.reviews[-1].start, date.fromisoformat(on))
    if action.review_upheld:
        state.status = "upheld"
        case.note(action.actor, "review_concluded", review_kind=kind, result="upheld")
        return
    await _revoked_on_review(case, action, on)


async def _revoked_on_review(case: Case, action: CaseAction, on: str) -> None:
    """The decision never had effect: what followed from it is undone."""
    state, kind, decision, start = case.state, action.review_kind, case.state.decision, case.start
    state.status = "revoked_on_review"
    for period in state.periods.values():
        if period.state == "running":
            period.state = "cancelled"
    case.note(action.actor, "review_concluded", internal=False, review_kind=kind, result="revoked")
    if decision.credit_event_id:
        await clock.start_period(case, "withdraw_publication", on)
        await workflow.execute_activity_method(
            RegistryActivities.withdraw_credit_event,
            WithdrawalOrder(idempotency_key=f"{start.case_id}:withdrawal", event_id=decision.credit_event_id,
                            withdrawn_on=on,
                            reason=f"{kind} revoked the decision of {decision.decided_on} ({start.case_id})"),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
        clock.meet(case, "withdraw_publication")
        case.note("system", "publication_withdrawn", internal=False)
    if decision.penalty.kind == "revocation" and workflow.patched(REINSTATEMENT_PATCH):
        await _reinstate_agency(case, kind, on)
    if decision.suspension_workflow_id and on <= decision.suspended_until:
        await workflow.get_external_workflow_handle(decision.suspension_workflow_id).signal(
            AgencySuspensionWorkflow.end_early, EarlyEnd(on=on, reason=f"{kind} revoked the decision ({start.case_id})"))
        case.note("system", "suspension_lifted", internal=False, on=on)


async def _reinstate_agency(case: Case, review_kind: str, on: str) -> None:
    """The revocation never had effect: the agency returns to the status it had before it."""
    start = case.start
    agency = await workflow.execute_activity_method(
        RegistryActivities.reinstate_agency,
        ReinstatementOrder(idempotency_key=f"{start.case_id}:reinstatement", agency_id=case.state.agency.agency_id,
                           revocation_reference=start.case_id, effective_on=on,
                           reason=f"{review_kind} revoked the decision of {case.state.decision.decided_on} "
                                  f"({start.case_id})"),
        start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
    case.note("system", "licence_reinstated", internal=False, agency_status=agency.status, on=on)


def _complied_with(case: Case) -> ApplicationError | None:
    state = case.state
    revoked = state.status == "revoked_on_review"
    if not state.decision.served_on and not revoked:
        return refuse("DECISION_NOT_SERVED", "the decision has not been served")
    if state.decision.penalty.fine_cny and not state.decision.paid_on and not revoked:
        return refuse("FINE_UNPAID", "the fine is unpaid")
    return None


@handles("close", when=_complied_with)
async def close(case: Case, action: CaseAction, on: str) -> None:
    for period_id in REVIEW_WINDOWS:
        period = case.state.periods.get(period_id)
        if period and period.state == "running" and period.awaiting_schedule:
            raise refuse("REVIEW_WINDOW_AWAITS_SCHEDULE",
                         f"{period.plan.description}的最后一天 {period.plan.due_on} 为暂定日期，放假安排发布后方可结案 "
                         f"(the {period_id.replace('_', ' ')} may not have ended: its last day is provisional)",
                         period_id=period_id, due_on=period.plan.due_on)
        if period and period.state == "running" and period.plan.due_on >= on:
            raise refuse("REVIEW_WINDOW_OPEN", f"the {period_id.replace('_', ' ')} runs until {period.plan.due_on}"
                         + clock.provisional_mark(period), period_id=period_id, due_on=period.plan.due_on,
                         provisional=period.provisional)
    clock.meet(case, "withdraw_publication")
    close_case(case, case.state.outcome, "closed")
    case.note(action.actor, "closed", internal=False, on=on)
