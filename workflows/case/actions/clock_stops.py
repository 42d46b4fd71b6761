"""The office's clock stretched or stopped: an extension a supervisor approves (延长期限, four
eyes), and a suspension for appraisal, testing, a hearing and the like (期限中止), which the
period counts no days of until the clock is resumed."""

from __future__ import annotations


from temporalio.exceptions import ApplicationError

from contracts.case import CaseAction
from contracts.case_actions import VERIFICATION
from contracts.refusals import refuse
from rules.statutes import ExtensionRefused
from workflows.case import clock
from workflows.case.actions.registry import handles
from workflows.case.state import PendingExtension
from workflows.case.context import Case




def _no_office_period() -> ApplicationError:
    return refuse("NO_OFFICE_PERIOD", "no statutory period of the office runs now")


def _extensible(case: Case) -> ApplicationError | None:
    period = case.state.office_period()
    if period is None:
        return _no_office_period()
    if case.state.pending_extension is not None:
        return refuse("EXTENSION_ALREADY_WAITING", "an extension is already waiting for approval")
    try:
        case.rules.periods[period.period_id].extension_length("supervisor", period.granted)
    except ExtensionRefused as refused:
        return refuse("EXTENSION_NOT_AVAILABLE", str(refused), period_id=period.period_id)
    return None


def _gives_the_reason(case: Case, action: CaseAction) -> None:
    if not action.reason:
        raise refuse("EXTENSION_REASON_REQUIRED", "an extension needs its reason", field="reason")


@handles("request_extension", when=_extensible, check=_gives_the_reason)
async def request_extension(case: Case, action: CaseAction, on: str) -> None:
    period = case.state.office_period()
    case.state.pending_extension = PendingExtension(period.period_id, action.actor, action.reason)
    case.note(action.actor, "extension_requested", period_id=period.period_id, reason=action.reason)


def _extension_waits(case: Case) -> ApplicationError | None:
    if case.state.pending_extension is None:
        return refuse("NO_EXTENSION_WAITING", "no extension is waiting for approval")
    return None


def _four_eyes(case: Case, action: CaseAction) -> None:
    if case.state.pending_extension.requested_by == action.actor:
        raise refuse("FOUR_EYES_EXTENSION", "four eyes: the requester cannot approve their own extension")


@handles("approve_extension", when=_extension_waits, check=_four_eyes)
async def approve_extension(case: Case, action: CaseAction, on: str) -> None:
    period = case.state.periods[case.state.pending_extension.period_id]
    period.extra += case.rules.periods[period.period_id].extension_length("supervisor", period.granted)
    period.granted.append("supervisor")
    await clock.replan(case, period)
    case.state.pending_extension = None
    case.note(action.actor, "extension_approved", period_id=period.period_id, due_on=period.plan.due_on,
              provisional=period.provisional)


@handles("refuse_extension", when=_extension_waits, check=_four_eyes)
async def refuse_extension(case: Case, action: CaseAction, on: str) -> None:
    case.note(action.actor, "extension_refused", period_id=case.state.pending_extension.period_id,
              reason=action.reason)
    case.state.pending_extension = None


def _clock_runs(case: Case) -> ApplicationError | None:
    period = case.state.office_period()
    if period is None:
        return _no_office_period()
    if period.state == "paused":
        return refuse("CLOCK_ALREADY_SUSPENDED", "the clock is already suspended", period_id=period.period_id)
    return None


def _stops_this_period(case: Case, action: CaseAction) -> None:
    period = case.state.office_period()
    if action.cause not in period.plan.suspended_by:
        raise refuse("CAUSE_DOES_NOT_STOP_PERIOD", f"{action.cause or 'nothing'} does not stop {period.period_id}; "
                     f"it stops for: {', '.join(period.plan.suspended_by)}", field="cause", cause=action.cause,
                     period_id=period.period_id, causes=", ".join(period.plan.suspended_by))


@handles("suspend_clock", when=_clock_runs, check=_stops_this_period)
async def suspend_clock(case: Case, action: CaseAction, on: str) -> None:
    period = case.state.office_period()
    period.state, period.paused_on = "paused", on
    case.state.status = f"suspended:{action.cause}"
    case.note(action.actor, "clock_suspended", period_id=period.period_id, on=on, cause=action.cause,
              reason=action.reason)


def _clock_stopped(case: Case) -> ApplicationError | None:
    period = case.state.office_period()
    if period is None:
        return _no_office_period()
    if period.state != "paused":
        return refuse("CLOCK_NOT_SUSPENDED", "the clock is not suspended", period_id=period.period_id)
    return None


@handles("resume_clock", when=_clock_stopped)
async def resume_clock(case: Case, action: CaseAction, on: str) -> None:
    period = case.state.office_period()
    await clock.resume(case, period, on)
    case.state.status = "opened" if case.state.stage != VERIFICATION else "verifying"
    case.note(action.actor, "clock_resumed", period_id=period.period_id, on=on, due_on=period.plan.due_on,
              provisional=period.provisional)
