"""The case's clock (办案期限): the statutory periods of the rules file it runs on, placed on
legal dates by the calendar activities, and what happens when their days come.

Dates are legal dates (China time). The workflow's own clock may run ahead of the legal calendar
by `CaseStart.calendar_offset_days` (tests and training replay procedures on past dates). A
period's warning day and the day after its last day wake the case; the office's duties are
escalated when missed; a party's window (statement, payment, review) never closes on a
provisional day (暂定): it waits for the State Council's schedule, and `retime` moves every date
that rested on a year whose schedule has come out."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from contracts.case import OPENING_PERIOD
from contracts.case_actions import PRIOR_NOTICE
from contracts.periods import PeriodPlan, PeriodQuestion
from contracts.refusals import refuse
from contracts.timeline import listed
from rules import Rules
from suite.clock import CHINA
from suite.periods import rules_of
from workflows.activities.periods import PeriodActivities
from workflows.case import procedure
from workflows.case.state import RunningPeriod
from workflows.case.context import Case


# On its own clock a case retries its calendar arithmetic (hourly at most) until it can count.
CALENDAR_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=4,
                             maximum_interval=timedelta(hours=1))
PERIOD_TIMEOUT = timedelta(seconds=10)
# Periods that bind the office (法定办案期限): missing one escalates to the supervisor. The
# others bind the party (statement, payment, review windows) or only measure time (publicity).
OFFICE_DUTIES = frozenset({"verify_and_open", "notify_reporter_of_opening", "decide_ordinary_case",
                           "serve_absent_party", "publish_penalty", "withdraw_publication"})
# The party's windows (当事人的期限): their end is adverse to the party (a statement waived, a fine
# late, a review window closed), so it never rests on a provisional day.
PARTY_WINDOWS = frozenset({"statement_and_defence", "pay_fine", "reconsideration_window", "litigation_window"})
# Periods whose dates are shown and so re-timed when provisional: all but the cancelled (a met or
# ended period keeps its last day on the record, and it must not stay 暂定 once the year is known).
DATED_STATES = ("running", "paused", "missed", "met", "ended")


def today(case: Case) -> date:
    return (workflow.now().astimezone(CHINA) - timedelta(days=case.start.calendar_offset_days)).date()


def instant(case: Case, legal_day: str) -> datetime:
    """The first moment of a legal day, on the workflow's clock."""
    day = date.fromisoformat(legal_day) + timedelta(days=case.start.calendar_offset_days)
    return datetime.combine(day, time(0), tzinfo=CHINA)


async def compute(case: Case, activity, question):
    """Calendar arithmetic. Within a handler's action it runs once, so that a failure refuses the
    action at once in words a handler can act on (the failure itself goes to the worker's log)."""
    if not case.acting:
        return await workflow.execute_local_activity_method(
            activity, question, start_to_close_timeout=PERIOD_TIMEOUT, retry_policy=CALENDAR_RETRY)
    try:
        return await workflow.execute_local_activity_method(
            activity, question, start_to_close_timeout=PERIOD_TIMEOUT, retry_policy=RetryPolicy(maximum_attempts=1))
    except ActivityError as failure:
        workflow.logger.warning("period not computed for %s: %s", case.start.case_id, failure.cause)
        raise refuse("PERIOD_NOT_COMPUTED",
                     "期限暂时无法计算（工作日历或期限规则不可用），本次操作未生效，请稍后重试或联系运维人员") from None


async def open_case(case: Case) -> None:
    """The rules the case runs on and its first period, verification (核查立案期限). The complaints
    service places that period at intake, so that a new case's first workflow task asks no
    activity: its rules are the kept version's (rules/history/README.md: a version never changes
    once a case runs on it). A period resting on a provisional year is placed again on the
    worker's calendar, which re-times it when the schedule comes out. A case started before the
    service placed its first period asks for both, as its history recorded."""
    start = case.start
    if start.opening_plan is None:
        case.rules = Rules.from_data(await compute(case, PeriodActivities.rules, start.rules_version))
        await start_period(case, OPENING_PERIOD, start.received_on)
        return
    case.rules = rules_of(start.rules_version)
    if start.opening_plan.provisional_years:
        await start_period(case, OPENING_PERIOD, start.received_on)
    else:
        case.state.periods[OPENING_PERIOD] = RunningPeriod(start.opening_plan)


async def plan(case: Case, period_id: str, start_on: str, extra: int = 0,
               pauses: list[list[str]] | None = None) -> PeriodPlan:
    return await compute(case, PeriodActivities.plan_period, PeriodQuestion(
        case.start.rules_version, period_id, start_on, extra, pauses or []))


async def start_period(case: Case, period_id: str, start_on: str) -> PeriodPlan:
    planned = await plan(case, period_id, start_on)
    case.state.periods[period_id] = RunningPeriod(planned)
    return planned


async def replan(case: Case, period: RunningPeriod) -> None:
    """The due and warning days again, after an extension or a stop of the clock."""
    period.plan = await plan(case, period.period_id, period.plan.started_on, period.extra, period.pauses)
    period.warned = False


async def resume(case: Case, period: RunningPeriod, on: str) -> None:
    period.pauses.append([period.paused_on, on])
    period.state, period.paused_on = "running", ""
    await replan(case, period)


def meet(case: Case, period_id: str) -> None:
    """The period's duty is done: met in time; done late, the period stays missed (the record of
    compliance keeps it) and the timeline says the duty was done, which settles its escalation."""
    period = case.state.periods.get(period_id)
    if period and period.state in ("running", "paused"):
        period.state = "met"
    elif period and period.state == "missed":
        case.note("system", "overdue_duty_done", period_id=period_id, due_on=period.plan.due_on,
                  on=today(case).isoformat())


def cancel_running(case: Case) -> None:
    for period in case.state.periods.values():
        if period.state in ("running", "paused"):
            period.state = "cancelled"


def cancel_office_duties(case: Case) -> None:
    for period in case.state.periods.values():
        if period.state in ("running", "paused") and period.period_id in OFFICE_DUTIES:
            period.state = "cancelled"


def provisional_mark(period: RunningPeriod) -> str:
    return "（暂定 provisional）" if period.provisional else ""


def next_wake(case: Case) -> datetime | None:
    moments = []
    for period in case.state.periods.values():
        if period.state != "running" or period.awaiting_schedule:
            continue
        if not period.warned and period.plan.warn_on:
            moments.append(instant(case, period.plan.warn_on))
        moments.append(instant(case, period.plan.due_on) + timedelta(days=1))
    return min(moments, default=None)


async def on_dates_passed(case: Case) -> bool:
    """Warn, escalate and close what the day has reached; answers whether anything changed.

    The warning and the escalation are timeline entries with the legal day they were raised on
    (`on`): the complaints service, which keeps the record, turns a warning into a notification
    to the assigned handler and a missed period into an escalation in the supervisors' inbox when
    the record is written, in the same transaction, so the inbox never disagrees with the record
    and the workflow's history gains no command for them."""
    day = today(case).isoformat()
    changed = False
    for period in list(case.state.periods.values()):
        if period.state != "running" or period.awaiting_schedule:
            continue
        if not period.warned and period.plan.warn_on and period.plan.warn_on <= day:
            period.warned = changed = True
            if period.period_id in OFFICE_DUTIES:
                case.note("system", "due_soon", period_id=period.period_id, due_on=period.plan.due_on,
                          warn_on=period.plan.warn_on, on=day, provisional=period.provisional)
        if period.plan.due_on < day:
            changed = True
            if period.period_id in PARTY_WINDOWS and period.provisional:
                _await_schedule(case, period)
            else:
                _expire(case, period, day)
    return changed


def _await_schedule(case: Case, period: RunningPeriod) -> None:
    period.awaiting_schedule = True
    case.note("system", "awaiting_schedule", period_id=period.period_id, due_on=period.plan.due_on,
              years=listed(period.plan.provisional_years))


def _expire(case: Case, period: RunningPeriod, day: str) -> None:
    period_id, state = period.period_id, case.state
    if period_id in OFFICE_DUTIES:
        period.state = "missed"
        case.note("system", "deadline_missed", period_id=period_id, due_on=period.plan.due_on, on=day,
                  provisional=period.provisional)
        return
    period.state = "ended"
    if period_id == "statement_and_defence" and state.stage == PRIOR_NOTICE:
        case.note("system", "statement_period_ended")
    elif period_id == "pay_fine" and state.decision and not state.decision.paid_on:
        case.note("system", "payment_overdue")
    elif period_id.startswith("publicity"):
        case.note("system", "publicity_ended", internal=False)
    elif period_id == "credit_repair_after" and _credit_repair_open(case):
        case.note("system", "credit_repair_open", internal=False)


def _credit_repair_open(case: Case) -> bool:
    decision = case.state.decision
    complied = decision is not None and (decision.penalty.kind != "fine" or bool(decision.paid_on))
    return complied and case.rules.credit_repair.allowed_after(procedure.measures(decision.penalty))


def surcharge(case: Case, until: date) -> int:
    """The late-payment surcharge (加处罚款) on `until`, in yuan. Nothing accrues on a provisional
    payment deadline (暂定): lateness is never decided on one; nor on a decision revoked on
    review (its payment period cancelled)."""
    decision = case.state.decision
    period = case.state.periods.get("pay_fine")
    if decision is None or period is None or period.provisional or period.state == "cancelled":
        return 0
    paid_or_until = date.fromisoformat(decision.paid_on) if decision.paid_on else until
    return case.rules.surcharge.owed_on(decision.penalty.fine_cny * 100, date.fromisoformat(period.plan.due_on),
                                        paid_or_until, [(r.start, r.end) for r in case.state.reviews]) // 100


async def retime(case: Case, years: list[int]) -> bool:
    """The State Council's schedule for `years` is out: every date that rested on them is computed
    again; a changed one moves its timer and is noted (截止日期调整), an unchanged one only loses its
    暂定 mark. Answers whether any period was re-timed."""
    stale = [x for x in case.state.periods.values()
             if x.state in DATED_STATES and set(x.plan.provisional_years) & set(years)]
    for period in stale:
        await _retime_period(case, period, years)
    return bool(stale)


async def _retime_period(case: Case, period: RunningPeriod, years: list[int]) -> None:
    before = period.plan
    period.plan = await plan(case, before.period_id, before.started_on, period.extra, period.pauses)
    day = today(case).isoformat()
    if period.plan.warn_on != before.warn_on:
        period.warned = period.warned and period.plan.warn_on <= day
    if period.plan.due_on != before.due_on:
        case.note("system", "deadline_retimed", period_id=period.period_id, before=before.due_on,
                  after=period.plan.due_on, years=listed(years))
        if period.state == "missed" and period.plan.due_on >= day:
            period.state = "running"
    period.awaiting_schedule = False
