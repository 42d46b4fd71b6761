"""One case, from the report to the archive (案件办理): the stage it is in, every statutory
period it runs on, and what handlers and supervisors may do next.

Handler and supervisor actions arrive as the `act` update: the validator refuses what the
stage or the role forbids before anything is written; the handler applies the action, writes
the case record to the complaints service and answers with the new state. Each period of the
rules file runs as a durable deadline: a warning when most of it has elapsed, escalation when
an office duty is missed. Dates are legal dates (China time); the calendar arithmetic happens
in activities, so a rules or calendar change never alters a recorded history.

The workflow runs outside the workflow sandbox: re-importing this module into a fresh sandbox
for every case cost the worker more than all else it does to open one. Its code does only
deterministic things (no I/O, no clock but workflow.now(), no randomness), and a test replays a
whole case's history against it."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from suite.clock import CHINA
    from contracts import search_attributes
    from workflows.activities.complaints import ComplaintsActivities, Notice, ProgressRecord
    from rules.statutes import ExtensionRefused, Rules
    from workflows.activities.registry import (CreditEventOrder, RegistryActivities, ReinstatementOrder,
                                               StatusChangeOrder, WithdrawalOrder)
    from workflows.activities.statutes import MonthsQuestion, PeriodPlan, PeriodQuestion, StatuteActivities
    from workflows.agency_suspension import AgencySuspensionWorkflow, EarlyEnd, SuspensionDecision
    from workflows.agency_suspension import workflow_id as suspension_workflow_id
    from workflows.case import procedure as p
    from contracts.case import (ACT_UPDATE, JOIN_UPDATE, STATE_QUERY, WORKFLOW_NAME, CaseAction, CaseStart, CaseView,
                                DeadlineView, ReporterRef, TimelineItem)
    from contracts.provisional import SCHEDULE_PUBLISHED_SIGNAL, SchedulePublished, retimed_note

# A calendar year the operator has not loaded yet fails its activity with a clear message; it
# is retried hourly until the schedule is there, never guessed.
CALENDAR_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=4,
                             maximum_interval=timedelta(hours=1))
SERVICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
ACTIVITY_TIMEOUT = timedelta(seconds=30)
RECORD_TIMEOUT = timedelta(seconds=10)
# Cases decided before reinstatement on review existed replay without it.
REINSTATEMENT_PATCH = "reinstate-agency-on-review"

# Periods that bind the office (法定办案期限): missing one escalates to the supervisor. The
# others bind the party (statement, payment, review windows) or only measure time (publicity).
OFFICE_DUTIES = frozenset({"verify_and_open", "notify_reporter_of_opening", "decide_ordinary_case",
                           "serve_absent_party", "publish_penalty", "withdraw_publication"})
# The party's windows (当事人的期限): their end is adverse to the party (a statement waived, a fine
# late, a review window closed), so it never rests on a provisional day (暂定): the case waits
# for the year's schedule before it draws the consequence.
PARTY_WINDOWS = frozenset({"statement_and_defence", "pay_fine", "reconsideration_window", "litigation_window"})
# Periods whose dates are shown and so re-timed when provisional: all but the cancelled (a met or
# ended period keeps its last day on the record, and it must not stay 暂定 once the year is known).
DATED_STATES = ("running", "paused", "missed", "met", "ended")


@dataclass
class RunningPeriod:
    plan: PeriodPlan
    state: str = "running"  # running, paused, met, missed, ended, cancelled
    paused_on: str = ""
    warned: bool = False
    # Stops of the clock, [stopped_on, resumed_on]; extensions granted (by whom) and their length.
    pauses: list[list[str]] = field(default_factory=list)
    granted: list[str] = field(default_factory=list)
    extra: int = 0
    # A party's window past its provisional last day, waiting for the year's schedule.
    awaiting_schedule: bool = False

    @property
    def extended(self) -> int:
        return len(self.granted)

    @property
    def provisional(self) -> bool:
        return bool(self.plan.provisional_years)

    def view(self) -> DeadlineView:
        return DeadlineView(period_id=self.plan.period_id, started_on=self.plan.started_on, due_on=self.plan.due_on,
                            warn_on=self.plan.warn_on, legal_source=self.plan.legal_source,
                            description=self.plan.description, state=self.state, extended=self.extended,
                            provisional=self.provisional, awaiting_schedule=self.awaiting_schedule)


@dataclass
class PendingExtension:
    period_id: str
    requested_by: str
    reason: str


@dataclass
class Decision:
    penalty: p.Penalty
    proposed_by: str
    decided_on: str = ""
    served_on: str = ""
    paid_on: str = ""
    publicity_period: str = ""
    # The registry's record of the penalty and the suspension's workflow, to undo should a review
    # revoke the decision.
    credit_event_id: str = ""
    suspension_workflow_id: str = ""
    suspended_until: str = ""


@workflow.defn(name=WORKFLOW_NAME, sandboxed=False)
class CaseWorkflow:
    # What an action may change, restored when it is refused half-way.
    CASE_STATE = ("stage", "status", "outcome", "assignee", "region_code", "periods", "timeline", "pending_extension",
                  "proposal", "decision", "reviews", "statement_recorded")

    def __init__(self) -> None:
        self.case: CaseStart | None = None
        self.rules: Rules | None = None
        self.stage = p.VERIFICATION
        self.status = "received"
        self.outcome = ""
        self.assignee = ""
        self.region_code = ""
        self.periods: dict[str, RunningPeriod] = {}
        self.timeline: list[TimelineItem] = []
        self.recorded_entries = 0
        self.revision = 0
        self.reporters: list[ReporterRef] = []
        self.pending_extension: PendingExtension | None = None
        self.proposal: Decision | None = None
        self.decision: Decision | None = None
        self.reviews: list[p.ReviewSpan] = []
        self.statement_recorded = False
        self.last_effective_on = ""
        self.handled_requests: set[str] = set()
        self.published_years: set[int] = set()
        self.lock = asyncio.Lock()
        self.acting = False
        self.woken = False
        self.finished = False

    # ---- the run: start, then sleep until the next date that matters ------------------------

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        self.case = start
        self.region_code = start.region_code
        self.reporters = list(start.reporters)
        self.last_effective_on = start.received_on
        async with self.lock:
            self.rules = Rules.from_data(await self._statute(StatuteActivities.rules, start.rules_version))
            await self._start_period("verify_and_open", start.received_on)
            self._note("system", "received", f"{start.received_on} 收到举报 report received", internal=False)
            await self._record()
        while not self.finished:
            wake_at = self._next_wake()
            self.woken = False
            try:
                await workflow.wait_condition(lambda: self.woken or self.finished,
                                              timeout=None if wake_at is None else
                                              max(timedelta(0), wake_at - workflow.now()))
            except asyncio.TimeoutError:
                async with self.lock:
                    await self._on_dates_passed()
            if self.published_years:
                async with self.lock:
                    await self._retime()
        return self.view()

    def _next_wake(self) -> datetime | None:
        moments = []
        for period in self.periods.values():
            if period.state != "running" or period.awaiting_schedule:
                continue
            if not period.warned and period.plan.warn_on:
                moments.append(self._instant(period.plan.warn_on))
            moments.append(self._instant(period.plan.due_on) + timedelta(days=1))
        return min(moments, default=None)

    async def _on_dates_passed(self) -> None:
        today = self.today()
        changed = False
        for period in list(self.periods.values()):
            if period.state != "running" or period.awaiting_schedule:
                continue
            if not period.warned and period.plan.warn_on and period.plan.warn_on <= today.isoformat():
                period.warned = True
                changed = True
                if period.plan.period_id in OFFICE_DUTIES:
                    self._note("system", "due_soon", f"{period.plan.period_id} falls due on {period.plan.due_on}"
                               + self._provisional_mark(period))
            if period.plan.due_on < today.isoformat():
                changed = True
                if period.plan.period_id in PARTY_WINDOWS and period.provisional:
                    self._await_schedule(period)
                else:
                    await self._period_expired(period)
        if changed:
            await self._record()
        self._finish_if_done()

    def _await_schedule(self, period: RunningPeriod) -> None:
        period.awaiting_schedule = True
        years = "、".join(f"{year}年" for year in period.plan.provisional_years)
        self._note("system", "awaiting_schedule",
                   f"{period.plan.description}的最后一天 {period.plan.due_on} 为暂定日期：{years}放假安排发布前不认定届满"
                   f" (the last day is provisional; nothing follows for the party until the schedule is out)")

    @staticmethod
    def _provisional_mark(period: RunningPeriod) -> str:
        return "（暂定 provisional）" if period.provisional else ""

    async def _period_expired(self, period: RunningPeriod) -> None:
        period_id = period.plan.period_id
        if period_id in OFFICE_DUTIES:
            period.state = "missed"
            self._note("system", "deadline_missed",
                       f"{period_id} was due on {period.plan.due_on}{self._provisional_mark(period)}; "
                       f"escalated to the supervisor")
            return
        period.state = "ended"
        if period_id == "statement_and_defence" and self.stage == p.PRIOR_NOTICE:
            self._note("system", "statement_period_ended",
                       "the party made no further statement in time; the right is waived (逾期视为放弃)")
        elif period_id == "pay_fine" and self.decision and not self.decision.paid_on:
            self._note("system", "payment_overdue", "the fine is unpaid; the late surcharge accrues (加处罚款)")
        elif period_id.startswith("publicity"):
            self._note("system", "publicity_ended", "处罚信息公示期届满 the publicity period ended", internal=False)
        elif period_id == "credit_repair_after" and self._credit_repair_open():
            self._note("system", "credit_repair_open", "可申请信用修复 the agency may apply for credit repair",
                       internal=False)

    def _credit_repair_open(self) -> bool:
        decision = self.decision
        complied = decision is not None and (decision.penalty.kind != "fine" or bool(decision.paid_on))
        return complied and self.rules.credit_repair.allowed_after(p.measures(decision.penalty))

    def _finish_if_done(self) -> None:
        if self.stage == p.CLOSED and not any(x.state == "running" for x in self.periods.values()):
            self.finished = True

    # ---- updates and queries --------------------------------------------------------------

    @workflow.query(name=STATE_QUERY)
    def state(self) -> CaseView:
        return self.view()

    @workflow.signal(name=SCHEDULE_PUBLISHED_SIGNAL)
    def schedule_published(self, published: SchedulePublished) -> None:
        self.published_years.update(published.years)
        self.woken = True

    async def _retime(self) -> None:
        """The State Council's schedule for some years is out: every date that rested on them is
        computed again; a changed one moves its timer and is noted (截止日期调整), an unchanged one
        only loses its 暂定 mark."""
        years, self.published_years = sorted(self.published_years), set()
        retimed = [x for x in self.periods.values()
                   if x.state in DATED_STATES and set(x.plan.provisional_years) & set(years)]
        for period in retimed:
            await self._retime_period(period, years)
        if retimed:
            await self._record()

    async def _retime_period(self, period: RunningPeriod, years: list[int]) -> None:
        before = period.plan
        period.plan = await self._plan(before.period_id, before.started_on, period.extra, period.pauses)
        if period.plan.warn_on != before.warn_on:
            period.warned = period.warned and period.plan.warn_on <= self.today().isoformat()
        if period.plan.due_on != before.due_on:
            self._note("system", "deadline_retimed",
                       f"{period.plan.description}：{retimed_note(before.due_on, period.plan.due_on, years)}")
            if period.state == "missed" and period.plan.due_on >= self.today().isoformat():
                period.state = "running"
        period.awaiting_schedule = False

    @workflow.update(name=JOIN_UPDATE)
    async def join(self, reporter: ReporterRef) -> CaseView:
        async with self.lock:
            if all(r.reference != reporter.reference for r in self.reporters):
                self.reporters.append(reporter)
                self._note("system", "reporter_joined", "another report on the same conduct joined the case")
                await self._record()
        return self.view()

    @join.validator
    def _validate_join(self, reporter: ReporterRef) -> None:
        if self.stage == p.CLOSED:
            raise p.refuse("the case is closed; a new report opens a new case")

    @workflow.update(name=ACT_UPDATE)
    async def act(self, action: CaseAction) -> CaseView:
        async with self.lock:
            if action.request_id in self.handled_requests:
                return self.view()
            self._check(action)  # again: another update may have moved the case meanwhile
            on = self._effective_on(action)
            before = copy.deepcopy({name: getattr(self, name) for name in self.CASE_STATE})
            self.acting = True
            try:
                await getattr(self, f"_do_{action.action}")(action, on)
            except FailureError as failure:
                # A refusal found half-way (a date, the calendar, a service) leaves the case as it was.
                for name, value in before.items():
                    setattr(self, name, value)
                if isinstance(failure, ApplicationError):
                    raise
                workflow.logger.warning("%s of %s failed: %s", action.action, self.case.case_id, failure.cause)
                raise p.refuse(f"操作未生效，案件保持原状：相关服务未能完成本次处理，请稍后重试；如仍不成功请联系运维人员"
                               f"（请求号 {action.request_id}）") from None
            finally:
                self.acting = False
            self.handled_requests.add(action.request_id)
            self.last_effective_on = max(self.last_effective_on, on)
            await self._record()
            self._finish_if_done()
            self.woken = True
        return self.view()

    @act.validator
    def _validate_act(self, action: CaseAction) -> None:
        if action.request_id in self.handled_requests:
            return
        self._check(action)

    def _check(self, action: CaseAction) -> None:
        p.check_allowed(action.action, action.actor_role, self.stage)
        self._effective_on(action)
        check = getattr(self, f"_check_{action.action}", None)
        if check is not None:
            check(action)

    def _effective_on(self, action: CaseAction) -> str:
        today = self.today().isoformat()
        on = action.effective_on or today
        if on > today:
            raise p.refuse("effective_on must not be in the future", "effective_on")
        if on < self.last_effective_on:
            raise p.refuse(f"effective_on must not be before the case's last step ({self.last_effective_on})",
                           "effective_on")
        return on

    # ---- verification (核查) and the decision to open (立案) --------------------------------

    async def _do_assign(self, action: CaseAction, on: str) -> None:
        if not action.assignee:
            raise p.refuse("assign needs the assignee", "assignee")
        self.assignee = action.assignee
        self._note(action.actor, "assigned", f"assigned to {action.assignee}")

    async def _do_record_verification(self, action: CaseAction, on: str) -> None:
        self.status = "verifying"
        self._note(action.actor, "verification_recorded", action.reason)

    async def _do_add_evidence(self, action: CaseAction, on: str) -> None:
        self._note(action.actor, "evidence_added", f"attachment {action.attachment_id}: {action.reason}")

    def _check_open(self, action: CaseAction) -> None:
        if self.periods["verify_and_open"].state == "paused":
            raise p.refuse("the verification clock is suspended; resume it first")

    async def _do_open(self, action: CaseAction, on: str) -> None:
        if self.case.occurred_on:
            limit = await self._plan("limitation_period", self.case.occurred_on)
            if on > limit.due_on:
                raise p.refuse(f"the conduct ended on {self.case.occurred_on}; the limitation period ran out on "
                               f"{limit.due_on} (行政处罚法 art. 36)")
        self._meet("verify_and_open")
        self.stage, self.status = p.INVESTIGATION, "opened"
        await self._start_period("decide_ordinary_case", on)
        self._note(action.actor, "opened", f"{on} 立案调查 case opened", internal=False)
        if action.reason:
            self._note(action.actor, "opening_grounds", action.reason)
        await self._tell_reporters_about_opening(on, "立案调查 a case was opened")

    def _check_decline(self, action: CaseAction) -> None:
        if not action.reason:
            raise p.refuse("declining needs the reason", "reason")

    async def _do_decline(self, action: CaseAction, on: str) -> None:
        self._meet("verify_and_open")
        self._close("not_opened", "not opened")
        self._note(action.actor, "declined", f"{on} 不予立案 not opened: {action.reason}", internal=False)
        await self._tell_reporters_about_opening(on, f"不予立案 no case was opened: {action.reason}")

    async def _tell_reporters_about_opening(self, decided_on: str, text: str) -> None:
        """A real-name reporter is told whether a case was opened (投诉举报处理暂行办法 art. 31)."""
        if not any(r.real_name for r in self.reporters):
            return
        await self._start_period("notify_reporter_of_opening", decided_on)
        await workflow.execute_activity_method(
            ComplaintsActivities.notify_reporters,
            Notice(case_id=self.case.case_id, notice_key="opening-decision", text=text, real_name_only=True),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
        self._meet("notify_reporter_of_opening")
        self._note("system", "reporters_told", "real-name reporters were told whether a case was opened")

    # ---- the clock: extensions and suspensions ----------------------------------------------

    def _running_office_period(self) -> RunningPeriod:
        for period_id in ("verify_and_open", "decide_ordinary_case"):
            period = self.periods.get(period_id)
            if period and period.state in ("running", "paused"):
                return period
        raise p.refuse("no statutory period of the office runs now")

    def _check_request_extension(self, action: CaseAction) -> None:
        period = self._running_office_period()
        if self.pending_extension is not None:
            raise p.refuse("an extension is already waiting for approval")
        try:
            self.rules.periods[period.plan.period_id].extension_length("supervisor", period.granted)
        except ExtensionRefused as refused:
            raise p.refuse(str(refused)) from None
        if not action.reason:
            raise p.refuse("an extension needs its reason", "reason")

    async def _do_request_extension(self, action: CaseAction, on: str) -> None:
        period = self._running_office_period()
        self.pending_extension = PendingExtension(period.plan.period_id, action.actor, action.reason)
        self._note(action.actor, "extension_requested", f"{period.plan.period_id}: {action.reason}")

    def _check_approve_extension(self, action: CaseAction) -> None:
        if self.pending_extension is None:
            raise p.refuse("no extension is waiting for approval")
        if self.pending_extension.requested_by == action.actor:
            raise p.refuse("four eyes: the requester cannot approve their own extension")

    _check_refuse_extension = _check_approve_extension

    async def _do_approve_extension(self, action: CaseAction, on: str) -> None:
        period = self.periods[self.pending_extension.period_id]
        period.extra += self.rules.periods[period.plan.period_id].extension_length("supervisor", period.granted)
        period.granted.append("supervisor")
        await self._replan(period)
        self.pending_extension = None
        self._note(action.actor, "extension_approved", f"{period.plan.period_id} now due on {period.plan.due_on}")

    async def _do_refuse_extension(self, action: CaseAction, on: str) -> None:
        self._note(action.actor, "extension_refused", f"{self.pending_extension.period_id}: {action.reason}")
        self.pending_extension = None

    def _check_suspend_clock(self, action: CaseAction) -> None:
        period = self._running_office_period()
        if period.state == "paused":
            raise p.refuse("the clock is already suspended")
        if action.cause not in period.plan.suspended_by:
            raise p.refuse(f"{action.cause or 'nothing'} does not stop {period.plan.period_id}; "
                           f"it stops for: {', '.join(period.plan.suspended_by)}", "cause")

    async def _do_suspend_clock(self, action: CaseAction, on: str) -> None:
        period = self._running_office_period()
        period.state, period.paused_on = "paused", on
        self.status = f"suspended:{action.cause}"
        self._note(action.actor, "clock_suspended", f"{period.plan.period_id} stopped on {on} ({action.cause}): "
                                                    f"{action.reason}")

    def _check_resume_clock(self, action: CaseAction) -> None:
        if self._running_office_period().state != "paused":
            raise p.refuse("the clock is not suspended")

    async def _do_resume_clock(self, action: CaseAction, on: str) -> None:
        period = self._running_office_period()
        await self._resume(period, on)
        self.status = "opened" if self.stage != p.VERIFICATION else "verifying"
        self._note(action.actor, "clock_resumed", f"{period.plan.period_id} runs again from {on}, "
                                                  f"due on {period.plan.due_on}")

    async def _resume(self, period: RunningPeriod, on: str) -> None:
        period.pauses.append([period.paused_on, on])
        period.state, period.paused_on = "running", ""
        await self._replan(period)

    # ---- prior notice (告知), statement (陈述申辩) and hearing (听证) ----------------------

    def _check_propose_penalty(self, action: CaseAction) -> None:
        p.check_penalty(self._penalty(action), proposing=True)

    async def _do_propose_penalty(self, action: CaseAction, on: str) -> None:
        self.proposal = Decision(self._penalty(action), action.actor)
        self.stage, self.status = p.PRIOR_NOTICE, "prior_notice_served"
        self.statement_recorded = False
        await self._start_period("statement_and_defence", on)
        hearing = ("; the party may ask for a hearing" if self._hearing_available(self.proposal.penalty) else "")
        self._note(action.actor, "prior_notice_served",
                   f"proposed {self._describe(self.proposal.penalty)} served on {on}{hearing}. {action.reason}")

    def _hearing_available(self, penalty: p.Penalty) -> bool:
        return self.rules.hearing.available(p.PARTY_KIND, p.measures(penalty), penalty.fine_cny * 100)

    async def _do_record_statement(self, action: CaseAction, on: str) -> None:
        self.statement_recorded = True
        self._note(action.actor, "statement_recorded", action.reason)

    def _check_request_hearing(self, action: CaseAction) -> None:
        if not self._hearing_available(self.proposal.penalty):
            raise p.refuse(f"no hearing for {self._describe(self.proposal.penalty)} (听证办法 art. 5)")
        if self.periods["statement_and_defence"].state != "running":
            raise p.refuse("the period to ask for a hearing has ended")
        if not action.hearing_on:
            raise p.refuse("a hearing needs its date", "hearing_on")

    async def _do_request_hearing(self, action: CaseAction, on: str) -> None:
        notice = await self._plan("hearing_notice", action.hearing_on)
        if on > notice.due_on:
            raise p.refuse(f"the party must be notified {notice.length} working days before the hearing: "
                           f"a hearing on {action.hearing_on} needed notice by {notice.due_on}", "hearing_on")
        self._meet("statement_and_defence")
        decide = self.periods["decide_ordinary_case"]
        if decide.state == "running":
            decide.state, decide.paused_on = "paused", on  # a hearing is not counted (处罚程序规定 art. 64)
        self.stage, self.status = p.HEARING, "hearing_scheduled"
        self._note(action.actor, "hearing_requested", f"hearing on {action.hearing_on}, notified on {on}")

    async def _do_record_hearing(self, action: CaseAction, on: str) -> None:
        decide = self.periods["decide_ordinary_case"]
        if decide.state == "paused":
            await self._resume(decide, on)
        self.stage, self.status = p.PRIOR_NOTICE, "heard"
        self.statement_recorded = True
        self._note(action.actor, "hearing_held", action.reason)

    # ---- decision (处罚决定) ------------------------------------------------------------------

    def _check_submit_decision(self, action: CaseAction) -> None:
        penalty = self._penalty(action)
        p.check_penalty(penalty, proposing=False)
        if self.stage == p.INVESTIGATION and penalty.kind != "none":
            raise p.refuse("a penalty is decided only after the prior notice (告知); propose it first")
        if self.stage == p.PRIOR_NOTICE:
            window = self.periods["statement_and_defence"]
            if window.state == "running" and not self.statement_recorded:
                raise p.refuse(f"the party may still make a statement until {window.plan.due_on}"
                               + self._provisional_mark(window))
            if self._heavier(penalty, self.proposal.penalty):
                raise p.refuse("the decision may not be heavier than the penalty told to the party "
                               "without a new prior notice", "penalty")
        if self.periods.get("decide_ordinary_case") and self.periods["decide_ordinary_case"].state == "paused":
            raise p.refuse("the decision clock is suspended; resume it first")

    @staticmethod
    def _heavier(decided: p.Penalty, proposed: p.Penalty) -> bool:
        order = p.PENALTY_KINDS
        return (order.index(decided.kind) > order.index(proposed.kind)
                or decided.fine_cny > proposed.fine_cny
                or decided.suspension_months > proposed.suspension_months)

    async def _do_submit_decision(self, action: CaseAction, on: str) -> None:
        self._meet("statement_and_defence")
        self.proposal = Decision(self._penalty(action), action.actor)
        self.stage, self.status = p.DECISION_APPROVAL, "awaiting_approval"
        self._note(action.actor, "decision_submitted", f"{self._describe(self.proposal.penalty)}: {action.reason}")

    def _check_approve_decision(self, action: CaseAction) -> None:
        if self.proposal.proposed_by == action.actor:
            raise p.refuse("four eyes: the proposer cannot approve their own decision")

    async def _do_approve_decision(self, action: CaseAction, on: str) -> None:
        decision = self.proposal
        decision.decided_on = on
        self.decision, self.proposal = decision, None
        self._meet("decide_ordinary_case")
        penalty = decision.penalty
        self.outcome = p.OUTCOME_OF_PENALTY[penalty.kind]
        self._note(action.actor, "decided", f"{on} 作出处理决定 decided: {self._describe(penalty)}", internal=False)
        if penalty.kind == "none":
            self._close("no_penalty", "closed without penalty")
            return
        self.stage, self.status = p.DECIDED, "decided"
        await self._start_period("serve_absent_party", on)
        await self._put_on_credit_record(decision)
        if penalty.kind == "suspension":
            await self._suspend_agency(decision)
        elif penalty.kind == "revocation":
            await self._revoke_agency(decision)

    async def _put_on_credit_record(self, decision: Decision) -> None:
        """The penalty lands on the agency's credit record; a published one is public from now until
        its publicity period ends (信息公示规定 art. 2, 13)."""
        penalty = decision.penalty
        publicity_period = self.rules.publicity.period_id(p.measures(penalty), penalty.fine_cny * 100)
        published = publicity_period is not None
        if published:
            await self._start_period("publish_penalty", decision.decided_on)
            decision.publicity_period = publicity_period
            publicity = await self._start_period(publicity_period, decision.decided_on)
        else:
            # Not public, yet it counts on the credit grade for as long as a short publicity would.
            publicity = await self._plan(self.rules.publicity.short_period, decision.decided_on)
        decision.credit_event_id = await workflow.execute_activity_method(
            RegistryActivities.record_credit_event,
            CreditEventOrder(idempotency_key=f"{self.case.case_id}:decision", agency_id=self.case.agency.agency_id,
                             kind=p.CREDIT_EVENT_OF_PENALTY[penalty.kind], source_reference=self.case.case_id,
                             occurred_on=decision.decided_on, publicity_ends_on=publicity.due_on,
                             summary=f"{self.case.category}: {self._describe(penalty)}", fine_cny=penalty.fine_cny),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
        if published:
            self._meet("publish_penalty")
            self._note("system", "published", f"处罚信息公示至 {publicity.due_on} published until then",
                       internal=False)
        if published and self.rules.credit_repair.allowed_after(p.measures(penalty)):
            await self._start_period("credit_repair_after", decision.decided_on)

    async def _suspend_agency(self, decision: Decision) -> None:
        until = await self._statute(StatuteActivities.last_day_of_months,
                                    MonthsQuestion(decision.decided_on, decision.penalty.suspension_months))
        order = SuspensionDecision(agency_id=self.case.agency.agency_id, effective_on=decision.decided_on,
                                   suspended_until=until, reason=self.case.category,
                                   decision_reference=self.case.case_id,
                                   calendar_offset_days=self.case.calendar_offset_days)
        decision.suspension_workflow_id, decision.suspended_until = suspension_workflow_id(order), until
        await workflow.start_child_workflow(
            AgencySuspensionWorkflow.run, order, id=decision.suspension_workflow_id,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        self._note("system", "agency_suspended", f"停止承接新业务至 {until} no new business until then",
                   internal=False)

    async def _revoke_agency(self, decision: Decision) -> None:
        await workflow.execute_activity_method(
            RegistryActivities.change_agency_status,
            StatusChangeOrder(idempotency_key=f"{self.case.case_id}:revocation", agency_id=self.case.agency.agency_id,
                              to_status="revoked", effective_on=decision.decided_on, suspended_until="",
                              reason=self.case.category, decision_reference=self.case.case_id),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
        self._note("system", "licence_revoked", "the agency's licence is revoked")

    async def _reinstate_agency(self, review_kind: str, on: str) -> None:
        """The revocation never had effect: the agency returns to the status it had before it."""
        agency = await workflow.execute_activity_method(
            RegistryActivities.reinstate_agency,
            ReinstatementOrder(idempotency_key=f"{self.case.case_id}:reinstatement",
                               agency_id=self.case.agency.agency_id, revocation_reference=self.case.case_id,
                               effective_on=on, reason=f"{review_kind} revoked the decision of "
                                                       f"{self.decision.decided_on} ({self.case.case_id})"),
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
        self._note("system", "licence_reinstated", f"吊销决定已撤销 the licence is restored; the agency is "
                                                   f"{agency.status} from {on}", internal=False)

    # ---- after the decision: service (送达), payment, review ---------------------------------

    def _check_record_service(self, action: CaseAction) -> None:
        if self.decision.served_on:
            raise p.refuse("the decision was already served")

    async def _do_record_service(self, action: CaseAction, on: str) -> None:
        self.decision.served_on = on
        self._meet("serve_absent_party")
        self.status = "served"
        self._note(action.actor, "served", f"decision served on {on}" + ("" if action.party_present
                                                                        else " (party absent)"))
        if self.decision.penalty.fine_cny:
            await self._start_period("pay_fine", on)
        await self._start_period("reconsideration_window", on)
        await self._start_period("litigation_window", on)

    def _check_record_payment(self, action: CaseAction) -> None:
        if not self.decision.penalty.fine_cny:
            raise p.refuse("the decision carries no fine")
        if not self.decision.served_on:
            raise p.refuse("the decision has not been served yet")
        if self.decision.paid_on:
            raise p.refuse("the fine is already paid")
        if action.amount_cny <= 0:
            raise p.refuse("a payment needs its amount", "amount_cny")

    async def _do_record_payment(self, action: CaseAction, on: str) -> None:
        owed = self.decision.penalty.fine_cny + self._surcharge(date.fromisoformat(on))
        if action.amount_cny < owed:
            raise p.refuse(f"{owed} CNY is owed on {on} (fine and late surcharge); {action.amount_cny} is short",
                           "amount_cny")
        self.decision.paid_on = on
        period = self.periods.get("pay_fine")
        if period and period.state == "running":
            self._meet("pay_fine")
        self.status = "paid"
        self._note(action.actor, "paid", f"{action.amount_cny} CNY paid on {on}"
                   + (f" including {owed - self.decision.penalty.fine_cny} CNY surcharge" if owed >
                      self.decision.penalty.fine_cny else ""))

    def _surcharge(self, until: date) -> int:
        """Nothing accrues on a provisional payment deadline (暂定): lateness is never decided on one;
        nor on a decision revoked on review (its payment period cancelled)."""
        decision = self.decision
        period = self.periods.get("pay_fine")
        if decision is None or period is None or period.provisional or period.state == "cancelled":
            return 0
        paid_or_until = date.fromisoformat(decision.paid_on) if decision.paid_on else until
        return self.rules.surcharge.owed_on(decision.penalty.fine_cny * 100, date.fromisoformat(period.plan.due_on),
                                            paid_or_until, [(r.start, r.end) for r in self.reviews]) // 100

    def _check_record_review(self, action: CaseAction) -> None:
        if action.review_kind not in ("reconsideration", "litigation"):
            raise p.refuse("review kind must be reconsideration or litigation", "kind")
        pending = bool(self.reviews) and self.reviews[-1].end is None
        if action.review_pending == pending:
            raise p.refuse("a review is already pending" if pending else "no review is pending")

    async def _do_record_review(self, action: CaseAction, on: str) -> None:
        if action.review_pending:
            self.reviews.append(p.ReviewSpan(date.fromisoformat(on), None))
            self.status = f"{action.review_kind}_pending"
            self._note(action.actor, "review_filed", f"{action.review_kind} filed on {on}; no surcharge accrues")
            return
        self.reviews[-1] = p.ReviewSpan(self.reviews[-1].start, date.fromisoformat(on))
        if action.review_upheld:
            self.status = "upheld"
            self._note(action.actor, "review_concluded", f"{action.review_kind}: the decision is upheld")
            return
        self.status = "revoked_on_review"
        for period in self.periods.values():
            if period.state == "running":
                period.state = "cancelled"
        self._note(action.actor, "review_concluded", f"{action.review_kind}: the decision is revoked",
                   internal=False)
        if self.decision.credit_event_id:
            await self._start_period("withdraw_publication", on)
            await workflow.execute_activity_method(
                RegistryActivities.withdraw_credit_event,
                WithdrawalOrder(idempotency_key=f"{self.case.case_id}:withdrawal",
                                event_id=self.decision.credit_event_id, withdrawn_on=on,
                                reason=f"{action.review_kind} revoked the decision of {self.decision.decided_on} "
                                       f"({self.case.case_id})"),
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=SERVICE_RETRY)
            self._meet("withdraw_publication")
            self._note("system", "publication_withdrawn", "处罚信息已撤回 the penalty is off the public register "
                                                          "and no longer counts in the credit grade", internal=False)
        if self.decision.penalty.kind == "revocation" and workflow.patched(REINSTATEMENT_PATCH):
            await self._reinstate_agency(action.review_kind, on)
        if self.decision.suspension_workflow_id and on <= self.decision.suspended_until:
            await workflow.get_external_workflow_handle(self.decision.suspension_workflow_id).signal(
                AgencySuspensionWorkflow.end_early,
                EarlyEnd(on=on, reason=f"{action.review_kind} revoked the decision ({self.case.case_id})"))
            self._note("system", "suspension_lifted", f"停止承接新业务自 {on} 解除 the suspension ends on review",
                       internal=False)

    def _check_close(self, action: CaseAction) -> None:
        decision = self.decision
        if not decision.served_on and self.status != "revoked_on_review":
            raise p.refuse("the decision has not been served")
        if decision.penalty.fine_cny and not decision.paid_on and self.status != "revoked_on_review":
            raise p.refuse("the fine is unpaid")

    async def _do_close(self, action: CaseAction, on: str) -> None:
        for period_id in ("reconsideration_window", "litigation_window"):
            period = self.periods.get(period_id)
            if period and period.state == "running" and period.awaiting_schedule:
                raise p.refuse(f"{period.plan.description}的最后一天 {period.plan.due_on} 为暂定日期，放假安排发布后方可结案 "
                               f"(the {period_id.replace('_', ' ')} may not have ended: its last day is provisional)")
            if period and period.state == "running" and period.plan.due_on >= on:
                raise p.refuse(f"the {period_id.replace('_', ' ')} runs until {period.plan.due_on}"
                               + self._provisional_mark(period))
        self._meet("withdraw_publication")
        self._close(self.outcome, "closed")
        self._note(action.actor, "closed", f"{on} 结案 closed", internal=False)

    # ---- endings outside the penalty procedure -----------------------------------------------

    def _check_transfer(self, action: CaseAction) -> None:
        if not (action.target_region_code or action.target_authority):
            raise p.refuse("a transfer names the office or the authority", "target_authority")
        if action.target_region_code == self.region_code and not action.target_authority:
            raise p.refuse("the case is already with that office", "target_region_code")
        if not action.reason:
            raise p.refuse("a transfer needs its reason", "reason")

    async def _do_transfer(self, action: CaseAction, on: str) -> None:
        """Another office of the suite takes the case over, its clock running on (管辖移送); an
        authority outside the suite ends it here (移送)."""
        if action.target_authority:
            self._cancel_running()
            self._close("transferred", "transferred")
            self._note(action.actor, "transferred", f"{on} 移送{action.target_authority} transferred",
                       internal=False)
            self._note(action.actor, "transfer_grounds", action.reason)
            return
        previous, self.region_code, self.assignee = self.region_code, action.target_region_code, ""
        self._note(action.actor, "transferred", f"{on} 移送有管辖权的机关 ({self.region_code}) transferred to the "
                                                "competent office", internal=False)
        self._note(action.actor, "transfer_grounds", f"from {previous}: {action.reason}")

    def _check_refer_to_association(self, action: CaseAction) -> None:
        if not action.association_id:
            raise p.refuse("a referral names the association", "association_id")

    async def _do_refer_to_association(self, action: CaseAction, on: str) -> None:
        self._cancel_running()
        self._close("referred_to_association", "referred")
        self._note(action.actor, "referred", f"{on} 转行业协会自律处理 referred to the industry association",
                   internal=False)
        self._note(action.actor, "referral_grounds", f"{action.association_id}: {action.reason}")

    # ---- helpers -----------------------------------------------------------------------------

    def today(self) -> date:
        return (workflow.now().astimezone(CHINA) - timedelta(days=self.case.calendar_offset_days)).date()

    def _instant(self, legal_day: str) -> datetime:
        """The first moment of a legal day, on the workflow's clock."""
        day = date.fromisoformat(legal_day) + timedelta(days=self.case.calendar_offset_days)
        return datetime.combine(day, time(0), tzinfo=CHINA)

    async def _statute(self, activity, question):
        """Calendar arithmetic. On its own clock the case retries (hourly at most) until it can
        count; a handler's action is refused at once instead, in words a handler can act on (the
        failure itself goes to the worker's log)."""
        if not self.acting:
            return await workflow.execute_local_activity_method(
                activity, question, start_to_close_timeout=timedelta(seconds=10), retry_policy=CALENDAR_RETRY)
        try:
            return await workflow.execute_local_activity_method(
                activity, question, start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=1))
        except ActivityError as failure:
            workflow.logger.warning("period not computed for %s: %s", self.case.case_id, failure.cause)
            raise p.refuse("期限暂时无法计算（工作日历或期限规则不可用），本次操作未生效，请稍后重试或联系运维人员") from None

    async def _plan(self, period_id: str, start_on: str, extra: int = 0,
                    pauses: list[list[str]] | None = None) -> PeriodPlan:
        return await self._statute(StatuteActivities.plan_period, PeriodQuestion(
            self.case.rules_version, period_id, start_on, extra, pauses or []))

    async def _start_period(self, period_id: str, start_on: str) -> PeriodPlan:
        plan = await self._plan(period_id, start_on)
        self.periods[period_id] = RunningPeriod(plan)
        return plan

    async def _replan(self, period: RunningPeriod) -> None:
        """The due and warning days again, after an extension or a stop of the clock."""
        period.plan = await self._plan(period.plan.period_id, period.plan.started_on, period.extra, period.pauses)
        period.warned = False

    def _meet(self, period_id: str) -> None:
        period = self.periods.get(period_id)
        if period and period.state in ("running", "paused"):
            period.state = "met"

    def _cancel_running(self) -> None:
        for period in self.periods.values():
            if period.state in ("running", "paused"):
                period.state = "cancelled"

    def _close(self, outcome: str, status: str) -> None:
        self.stage, self.status, self.outcome = p.CLOSED, status, outcome
        for period in self.periods.values():
            if period.state in ("running", "paused") and period.plan.period_id in OFFICE_DUTIES:
                period.state = "cancelled"

    @staticmethod
    def _penalty(action: CaseAction) -> p.Penalty:
        return p.Penalty(action.penalty_kind, action.fine_cny, action.suspension_months)

    @staticmethod
    def _describe(penalty: p.Penalty) -> str:
        if penalty.kind == "fine":
            return f"fine of {penalty.fine_cny} CNY"
        if penalty.kind == "suspension":
            fine = f" and a fine of {penalty.fine_cny} CNY" if penalty.fine_cny else ""
            return f"suspension from new business for {penalty.suspension_months} months{fine}"
        return {"none": "no penalty", "warning": "warning", "revocation": "licence revocation"}[penalty.kind]

    def _note(self, actor: str, action: str, detail: str, internal: bool = True) -> None:
        self.timeline.append(TimelineItem(revision=self.revision + 1, at=workflow.now().isoformat(), actor=actor,
                                          action=action, detail=detail, internal=internal))

    def _next_deadline(self) -> RunningPeriod | None:
        running = [x for x in self.periods.values() if x.state == "running"
                   and not x.plan.period_id.startswith(("publicity", "credit_repair"))]
        return min(running, key=lambda x: x.plan.due_on, default=None)

    def view(self) -> CaseView:
        case = self.case
        today = self.today().isoformat()
        upcoming = self._next_deadline()
        overdue = any(x.state == "missed" for x in self.periods.values()) and self.stage != p.CLOSED
        return CaseView(
            case_id=case.case_id, revision=self.revision, stage=self.stage, status=self.status,
            outcome=self.outcome, region_code=self.region_code, agency=case.agency, category=case.category,
            source=case.source, received_on=case.received_on, rules_version=case.rules_version,
            assignee=self.assignee, deadlines=[x.view() for x in self.periods.values()],
            timeline=list(self.timeline), allowed_actions=self._allowed_now(),
            next_deadline=upcoming.plan.due_on if upcoming else "",
            next_deadline_period=upcoming.plan.period_id if upcoming else "",
            overdue=overdue, due_soon=bool(upcoming and upcoming.plan.warn_on and upcoming.plan.warn_on <= today),
            reporter_count=len(self.reporters),
            fine_cny=self.decision.penalty.fine_cny if self.decision else 0,
            surcharge_cny=self._surcharge(self.today()),
            penalty_kind=self.decision.penalty.kind if self.decision else "",
            next_deadline_provisional=bool(upcoming and upcoming.provisional),
            provisional_years=self._provisional_years(),
            paid_on=self.decision.paid_on if self.decision else "",
            surcharge_paused=[[r.start.isoformat(), r.end.isoformat() if r.end else ""] for r in self.reviews])

    def _provisional_years(self) -> list[int]:
        return sorted({year for x in self.periods.values() if x.state in DATED_STATES
                       for year in x.plan.provisional_years})

    def _allowed_now(self) -> list[str]:
        """The actions the console offers now: the stage's, less those the case's state rules out."""
        return [name for name in p.allowed_actions(self.stage) if self._state_allows(name)]

    def _state_allows(self, name: str) -> bool:
        office = self._office_period_state()
        decision = self.decision
        window = self.periods.get("statement_and_defence")
        conditions = {
            "open": lambda: office != "paused",
            "request_extension": lambda: self.pending_extension is None and self._extensible(),
            "approve_extension": lambda: self.pending_extension is not None,
            "refuse_extension": lambda: self.pending_extension is not None,
            "suspend_clock": lambda: office == "running",
            "resume_clock": lambda: office == "paused",
            "request_hearing": lambda: (self.proposal is not None and window is not None
                                        and window.state == "running"
                                        and self._hearing_available(self.proposal.penalty)),
            "submit_decision": lambda: (self.stage != p.PRIOR_NOTICE or self.statement_recorded
                                        or (window is not None and window.state != "running")),
            "record_service": lambda: decision is not None and not decision.served_on,
            "record_payment": lambda: (decision is not None and bool(decision.penalty.fine_cny)
                                       and bool(decision.served_on) and not decision.paid_on),
            "close": lambda: decision is not None and (bool(decision.served_on) and (
                not decision.penalty.fine_cny or bool(decision.paid_on)) or self.status == "revoked_on_review"),
        }
        return conditions.get(name, lambda: True)()

    def _office_period_state(self) -> str:
        try:
            return self._running_office_period().state
        except ApplicationError:
            return ""

    def _extensible(self) -> bool:
        try:
            period = self._running_office_period()
            self.rules.periods[period.plan.period_id].extension_length("supervisor", period.granted)
        except (ApplicationError, ExtensionRefused):
            return False
        return True

    async def _record(self) -> None:
        """Write the case record (queues, search, the reporter's page read it) and the search
        attributes an operator filters by in the Temporal UI."""
        self.revision += 1
        new_entries = self.timeline[self.recorded_entries:]
        view = self.view()
        # A local activity: the write happens inside the workflow task that decided it, with no
        # activity task to schedule, dispatch and report on the server, and its input (the whole
        # view) is not copied into the history. The service applies a revision once, whatever the
        # retries.
        await workflow.execute_local_activity_method(
            ComplaintsActivities.record_progress, ProgressRecord(view=view, new_entries=new_entries),
            start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SERVICE_RETRY)
        self.recorded_entries = len(self.timeline)
        upcoming = self._next_deadline()
        workflow.upsert_search_attributes([
            search_attributes.CASE_STAGE.value_set(self.stage), search_attributes.CASE_STATUS.value_set(self.status),
            search_attributes.REGION_CODE.value_set(self.region_code),
            search_attributes.AGENCY_CREDIT_CODE.value_set(self.case.agency.credit_code),
            search_attributes.VIOLATION_CATEGORY.value_set(self.case.category), search_attributes.OVERDUE.value_set(view.overdue),
            search_attributes.PROVISIONAL_YEARS.value_set([str(year) for year in view.provisional_years]) if view.provisional_years
            else search_attributes.PROVISIONAL_YEARS.value_unset(),
            search_attributes.NEXT_DEADLINE.value_set(self._instant(upcoming.plan.due_on) + timedelta(days=1)) if upcoming
            else search_attributes.NEXT_DEADLINE.value_unset()])
