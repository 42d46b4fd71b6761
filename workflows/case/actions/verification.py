"""Verification (核查) and the decision whether to open a case (立案 or 不予立案); a real-name
reporter is told which (投诉举报处理暂行办法 art. 31)."""

from __future__ import annotations


from temporalio import workflow
from temporalio.exceptions import ApplicationError

from contracts.case import CaseAction
from contracts.case_actions import INVESTIGATION
from contracts.refusals import refuse
from workflows.activities.complaints import ComplaintsActivities, Notice
from workflows.case import clock
from workflows.case.actions.registry import close_case, handles
from workflows.case.activity_options import ACTIVITY_TIMEOUT, SERVICE_RETRY
from workflows.case.context import Case



def _names_the_assignee(case: Case, action: CaseAction) -> None:
    if not action.assignee:
        raise refuse("ASSIGNEE_REQUIRED", "assign needs the assignee", field="assignee")


@handles("assign", check=_names_the_assignee)
async def assign(case: Case, action: CaseAction, on: str) -> None:
    case.state.assignee = action.assignee
    case.note(action.actor, "assigned", assignee=action.assignee)


def _names_another_handler_and_why(case: Case, action: CaseAction) -> None:
    if not action.assignee:
        raise refuse("ASSIGNEE_REQUIRED", "reassign needs the assignee", field="assignee")
    if action.assignee == case.state.assignee:
        raise refuse("REASSIGN_TO_SAME_HANDLER", f"the case is assigned to {action.assignee} already",
                     field="assignee", assignee=action.assignee)
    if not action.reason:
        raise refuse("REASSIGN_REASON_REQUIRED", "reassigning needs the reason", field="reason")


@handles("reassign", check=_names_another_handler_and_why)
async def reassign(case: Case, action: CaseAction, on: str) -> None:
    """A supervisor moves the case to another handler (改派). The complaints service reads the
    entry: it settles the case's escalations and tells the new handler."""
    previous, case.state.assignee = case.state.assignee, action.assignee
    case.note(action.actor, "reassigned", assignee=action.assignee, previous_assignee=previous, reason=action.reason)


@handles("record_verification")
async def record_verification(case: Case, action: CaseAction, on: str) -> None:
    case.state.status = "verifying"
    case.note(action.actor, "verification_recorded", reason=action.reason)


@handles("add_evidence")
async def add_evidence(case: Case, action: CaseAction, on: str) -> None:
    case.note(action.actor, "evidence_added", attachment_id=action.attachment_id, reason=action.reason)


def _verification_clock_runs(case: Case) -> ApplicationError | None:
    if case.state.periods["verify_and_open"].state == "paused":
        return refuse("VERIFICATION_CLOCK_SUSPENDED", "the verification clock is suspended; resume it first")
    return None


@handles("open", when=_verification_clock_runs)
async def open_case(case: Case, action: CaseAction, on: str) -> None:
    occurred_on = case.start.occurred_on
    if occurred_on:
        limit = await clock.plan(case, "limitation_period", occurred_on)
        if on > limit.due_on:
            raise refuse("LIMITATION_PERIOD_EXPIRED", f"the conduct ended on {occurred_on}; the limitation period "
                         f"ran out on {limit.due_on} (行政处罚法 art. 36)", occurred_on=occurred_on,
                         expired_on=limit.due_on)
    clock.meet(case, "verify_and_open")
    case.state.stage, case.state.status = INVESTIGATION, "opened"
    await clock.start_period(case, "decide_ordinary_case", on)
    case.note(action.actor, "opened", internal=False, on=on)
    if action.reason:
        case.note(action.actor, "opening_grounds", reason=action.reason)
    await _tell_reporters_about_opening(case, on, "opened")


def _gives_the_reason(case: Case, action: CaseAction) -> None:
    if not action.reason:
        raise refuse("DECLINE_REASON_REQUIRED", "declining needs the reason", field="reason")


@handles("decline", check=_gives_the_reason)
async def decline(case: Case, action: CaseAction, on: str) -> None:
    clock.meet(case, "verify_and_open")
    close_case(case, "not_opened", "not opened")
    case.note(action.actor, "declined", internal=False, on=on, reason=action.reason)
    await _tell_reporters_about_opening(case, on, "declined", reason=action.reason)


async def _tell_reporters_about_opening(case: Case, decided_on: str, code: str, **data: str) -> None:
    """Tell the real-name reporters whether a case was opened (投诉举报处理暂行办法 art. 31): a
    notice by its code and data (`contracts.timeline`), worded by whoever shows it."""
    if not any(r.real_name for r in case.reporters):
        return
    await clock.start_period(case, "notify_reporter_of_opening", decided_on)
    await workflow.execute_activity_method(
        ComplaintsActivities.notify_reporters,
        Notice(case_id=case.start.case_id, notice_key="opening-decision", code=code, data=data,
               real_name_only=True),
        start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
    clock.meet(case, "notify_reporter_of_opening")
    case.note("system", "reporters_told")
