"""Everything a case's actions may change, in one value (`CaseState`): an action that fails
half-way puts the value it started from back, whole. The periods it runs on (`RunningPeriod`),
an extension waiting for approval, and a proposed or decided penalty are parts of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.case import AGENCY, AgencyRef, DeadlineView, PractitionerRef, ReferralView, TimelineItem
from contracts.case_actions import VERIFICATION
from contracts.periods import PeriodPlan
from workflows.case.procedure import Penalty, ReviewSpan


@dataclass
class RunningPeriod:
    """One statutory period of the rules file as the case runs it (法定期限)."""

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
    def period_id(self) -> str:
        return self.plan.period_id

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
    """A penalty proposed (告知) or decided (处罚决定), and what followed from it."""

    penalty: Penalty
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


@dataclass
class Referral:
    """A referral to an industry association (移交行业自律): whom, when and why; where the case
    was and whether its office clock was stopped for it (so a declined referral puts both back);
    the association's answer."""

    association_id: str
    sent_on: str
    grounds: str
    from_stage: str
    from_status: str
    # The office period the referral stopped (paused_on = sent_on); empty when none was running.
    paused_period: str = ""
    answer: str = ""  # accepted, measure_taken, declined
    answered_on: str = ""
    measure: str = ""
    answer_reason: str = ""

    def view(self) -> ReferralView:
        return ReferralView(association_id=self.association_id, sent_on=self.sent_on, grounds=self.grounds,
                            answer=self.answer, answered_on=self.answered_on, measure=self.measure,
                            answer_reason=self.answer_reason)


@dataclass
class Transfer:
    """A transfer to another office of the suite (移送), waiting for it to accept the case or
    return it: where the case was (office, stage, status, handler), the office clock it stopped,
    and the answer."""

    from_region: str
    to_region: str
    sent_on: str
    from_stage: str
    from_status: str
    from_assignee: str = ""
    # The office period the transfer stopped (paused_on = sent_on); empty when none was running.
    paused_period: str = ""
    answer: str = ""  # accepted, returned
    answered_on: str = ""


@dataclass
class CaseState:
    region_code: str
    last_effective_on: str
    stage: str = VERIFICATION
    status: str = "received"
    outcome: str = ""
    assignee: str = ""
    periods: dict[str, RunningPeriod] = field(default_factory=dict)
    timeline: list[TimelineItem] = field(default_factory=list)
    pending_extension: PendingExtension | None = None
    proposal: Decision | None = None
    decision: Decision | None = None
    reviews: list[ReviewSpan] = field(default_factory=list)
    statement_recorded: bool = False
    referral: Referral | None = None
    # Who the case is about: the start's subject until it is matched to a registry entry (主体认定).
    agency: AgencyRef | None = None
    practitioner: PractitionerRef | None = None
    subject_kind: str = AGENCY
    # The case this one was merged into (并案).
    merged_into: str = ""
    transfer: Transfer | None = None

    def in_registry(self) -> bool:
        """Whether the subject is a registry entry, on whose credit record a penalty can land."""
        if self.practitioner is not None:
            return bool(self.practitioner.practitioner_id)
        return bool(self.agency and self.agency.agency_id)

    def office_period(self) -> RunningPeriod | None:
        """The office's own running clock: verification (核查) before opening, decision after."""
        for period_id in ("verify_and_open", "decide_ordinary_case"):
            period = self.periods.get(period_id)
            if period and period.state in ("running", "paused"):
                return period
        return None
