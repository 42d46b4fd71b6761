"""What crosses the case workflow's boundary: how a case starts, the actions handlers and
supervisors take (Temporal updates), and the view of its state (the `state` query and every
update's answer). The complaints service and the workflow share these; they are plain
dataclasses so Temporal's JSON converter carries them, and they hold no reporter identity:
only opaque references."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.periods import PeriodPlan

WORKFLOW_NAME = "Case"
ACT_UPDATE = "act"
# Another case on the same conduct merged into this one (并案): its reporters join.
MERGE_IN_UPDATE = "merge_in"
JOIN_SIGNAL = "join"
STATE_QUERY = "state"
# A case's first period, running from the day the report was received (核查立案期限).
OPENING_PERIOD = "verify_and_open"


@dataclass
class ReporterRef:
    """A reporter as the workflow knows them: an opaque reference kept by the complaints service."""

    reference: str
    real_name: bool


@dataclass
class AgencyRef:
    """The agency a case is about; for an entity the registry does not know (未登记主体), its name
    and credit code as reported, no agency_id and no kind."""

    agency_id: str
    name: str
    credit_code: str
    region_code: str
    kind: str


# Who a case is about (被举报对象): a registered agency, an entity not (yet) in the registry, or an
# individual practitioner (SubjectKind, lower case).
AGENCY, UNREGISTERED_ENTITY, PRACTITIONER = "agency", "unregistered_entity", "practitioner"


@dataclass
class PractitionerRef:
    """A practitioner a case is about (从业人员): no practitioner_id while the registry knows none."""

    practitioner_id: str
    name: str
    certificate_number: str = ""


@dataclass
class CaseStart:
    case_id: str
    region_code: str
    agency: AgencyRef
    category: str
    source: str
    received_on: str
    occurred_on: str
    rules_version: str
    reporters: list[ReporterRef] = field(default_factory=list)
    # Days between the legal calendar and the workflow's clock: zero in production; a replay of a
    # procedure on past dates (tests, training) sets it so that legal dates keep their meaning.
    calendar_offset_days: int = 0
    # Verification (verify_and_open) placed on the calendar by the service that received the
    # report (None in the starts of cases opened before it did).
    opening_plan: PeriodPlan | None = None
    # Who the case is about; `agency` holds an unregistered entity as reported, and nothing but the
    # region for a practitioner.
    subject_kind: str = AGENCY
    practitioner: PractitionerRef | None = None


@dataclass
class CaseAction:
    """One handler or supervisor action. `action` names it (see contracts.case_actions); the other
    fields are its arguments, empty when the action takes none."""

    action: str
    actor: str
    actor_role: str
    request_id: str
    effective_on: str = ""
    reason: str = ""
    assignee: str = ""
    cause: str = ""
    attachment_id: str = ""
    penalty_kind: str = ""
    fine_cny: int = 0
    suspension_months: int = 0
    hearing_on: str = ""
    party_present: bool = False
    amount_cny: int = 0
    review_kind: str = ""
    review_pending: bool = False
    review_upheld: bool = False
    target_region_code: str = ""
    target_authority: str = ""
    association_id: str = ""
    # An association's answer to a referral: accepted, measure_taken or declined (and the measure).
    referral_answer: str = ""
    measure: str = ""
    # The case this one is merged into (并案).
    into_case_id: str = ""
    # The registry entry the subject turned out to be (主体认定), as the service found it there.
    matched_agency: AgencyRef | None = None
    matched_practitioner: PractitionerRef | None = None


@dataclass
class CaseMerger:
    """Another open case on the same conduct merged into this one (并案), by a supervisor: its
    reporters (references only) join this case, which goes on with its own clock."""

    merged_case_id: str
    actor: str
    actor_role: str
    request_id: str
    reason: str
    reporters: list[ReporterRef] = field(default_factory=list)
    effective_on: str = ""


@dataclass
class ReferralView:
    """A referral to an industry association for self-regulation (移交行业自律) and its answer."""

    association_id: str
    sent_on: str
    # The office's grounds, as its letter to the association says them.
    grounds: str = ""
    # accepted, measure_taken, declined; empty while the association has not answered.
    answer: str = ""
    answered_on: str = ""
    measure: str = ""
    answer_reason: str = ""


@dataclass
class DeadlineView:
    period_id: str
    started_on: str
    due_on: str
    warn_on: str
    legal_source: str
    description: str
    state: str  # running, paused, met, missed, ended, cancelled
    extended: int = 0
    # The due day rests on a year whose holiday schedule the State Council has not published yet
    # (暂定): it may still move, and moves by itself when the schedule is loaded.
    provisional: bool = False
    # A party's window whose provisional last day has passed: what follows for the party (waiver,
    # lateness, a closed review window) waits until the year's schedule confirms the day.
    awaiting_schedule: bool = False


@dataclass
class TimelineItem:
    """One entry of the case's timeline: what happened as a code (`action`) and the values its
    words need (`data`: dates, amounts, a period, a penalty, what a person typed as `reason`),
    never prose. Readers word it in their own language, and rewording it changes no history."""

    revision: int
    at: str
    actor: str
    action: str
    internal: bool
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class CaseView:
    case_id: str
    revision: int
    stage: str
    status: str
    outcome: str
    region_code: str
    agency: AgencyRef
    category: str
    source: str
    received_on: str
    rules_version: str
    assignee: str = ""
    deadlines: list[DeadlineView] = field(default_factory=list)
    timeline: list[TimelineItem] = field(default_factory=list)
    allowed_actions: list[str] = field(default_factory=list)
    next_deadline: str = ""
    next_deadline_period: str = ""
    overdue: bool = False
    due_soon: bool = False
    reporter_count: int = 0
    fine_cny: int = 0
    # As of the view's day; the service recomputes it for the day it is read (Surcharge.owed_on),
    # from the pay_fine deadline, paid_on and the review spans below.
    surcharge_cny: int = 0
    penalty_kind: str = ""
    next_deadline_provisional: bool = False
    # The years without a published holiday schedule that some running deadline rests on.
    provisional_years: list[int] = field(default_factory=list)
    paid_on: str = ""
    # Reviews (复议/诉讼) filed, [filed_on, concluded_on or ""]: no surcharge accrues meanwhile.
    surcharge_paused: list[list[str]] = field(default_factory=list)
    # The latest referral to an industry association, once one was sent.
    referral: ReferralView | None = None
    subject_kind: str = AGENCY
    practitioner: PractitionerRef | None = None
    # The case this one was merged into (并案).
    merged_into: str = ""
    # The office that transferred the case here (移送), once one did.
    transferred_from: str = ""
