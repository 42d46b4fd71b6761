"""What crosses the inspection workflows' boundaries: how a task and a campaign start, the
actions inspectors and supervisors take (Temporal updates), what a task tells its campaign
(signals), and the views of their state. Plain dataclasses, carried by Temporal's JSON converter."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.case_actions import ActionSpec

TASK_WORKFLOW = "InspectionTask"
CAMPAIGN_WORKFLOW = "InspectionCampaign"
ACT_UPDATE = "act"
STATE_QUERY = "state"
TASK_EVENT_SIGNAL = "task_event"
CLOSE_UPDATE = "close"
EXTEND_UPDATE = "extend"
ADD_TARGETS_UPDATE = "add_targets"
PROGRESS_QUERY = "progress"

# Task stages (TaskStage in the proto, lower case).
ASSIGNED, RECTIFYING, CONCLUDED, CLOSED = "assigned", "rectifying", "concluded", "closed"
# Who may take each action on a task, and in which stages (the task workflow enforces it).
INSPECTOR, SUPERVISOR = frozenset({"inspector"}), frozenset({"supervisor"})
TASK_ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in (
    ActionSpec("check", "RecordCheck", INSPECTOR, (ASSIGNED,), ("outcome", "category", "findings")),
    ActionSpec("recheck", "RecordRecheck", INSPECTOR, (RECTIFYING,), ("rectified", "findings")),
    ActionSpec("publish", "PublishResult", SUPERVISOR, (RECTIFYING, CONCLUDED), ()),
)}


def allowed_actions(stage: str, published_on: str) -> list[str]:
    """The actions a task allows in a stage: what its record keeps and the console offers."""
    return [name for name, spec in TASK_ACTIONS.items()
            if stage in spec.stages and not (name == "publish" and published_on)]


# Check outcomes.
NO_PROBLEM, PROBLEM, VIOLATION = "no_problem", "problem", "violation"
OUTCOMES = (NO_PROBLEM, PROBLEM, VIOLATION)


@dataclass
class TaskStart:
    """What a task needs to run, and no more: a campaign starts thousands of them, each input
    stored in two histories. Everything else about the target is in the service's record."""

    task_id: str
    campaign_id: str
    credit_code: str
    inspectors: list[str]
    rules_version: str
    # Days between the legal calendar and the workflow clock: zero in production (see
    # contracts.case.CaseStart).
    calendar_offset_days: int = 0


@dataclass
class TaskAction:
    """An inspector's check or re-check, or a supervisor's publication. `action` names it."""

    action: str  # check, recheck, publish
    actor: str
    actor_role: str
    request_id: str
    effective_on: str = ""
    outcome: str = ""  # for a check: no_problem, problem, violation
    category: str = ""  # a violation category word, for a problem or a violation
    findings: str = ""
    rectified: bool = False  # for a re-check


@dataclass
class TaskView:
    task_id: str
    revision: int
    stage: str
    outcome: str = ""
    category: str = ""
    findings: str = ""
    checked_on: str = ""
    rectify_due_on: str = ""
    rechecked_on: str = ""
    rectified: bool = False
    case_id: str = ""
    publish_due_on: str = ""
    published_on: str = ""
    overdue: bool = False
    # Due days that rest on a year without a published holiday schedule (暂定).
    publish_due_provisional: bool = False
    rectify_due_provisional: bool = False
    allowed_actions: list[str] = field(default_factory=list)


@dataclass
class TaskEvent:
    """What a task tells its campaign, once each: checked_no_problem, checked_problem,
    checked_violation, rectified, not_rectified, case_opened, published, overdue."""

    task_id: str
    kind: str


@dataclass
class Figures:
    targets: int = 0
    started: int = 0
    checked: int = 0
    no_problem: int = 0
    problems: int = 0
    rectified: int = 0
    violations: int = 0
    cases_opened: int = 0
    overdue: int = 0
    published: int = 0
    not_started: int = 0

    def count(self, kind: str) -> None:
        if kind.startswith("checked_"):
            self.checked += 1
        if kind == "checked_no_problem":
            self.no_problem += 1
        elif kind == "checked_problem":
            self.problems += 1
        elif kind in ("checked_violation", "not_rectified"):
            self.violations += 1
        elif kind == "rectified":
            self.rectified += 1
        elif kind == "case_opened":
            self.cases_opened += 1
        elif kind == "published":
            self.published += 1
        elif kind == "overdue":
            self.overdue += 1


@dataclass
class CampaignReport:
    ending: str  # ended, closed_early
    closed_on: str
    reason: str
    figures: Figures


@dataclass
class CampaignStart:
    campaign_id: str
    starts_on: str
    ends_on: str
    target_count: int
    rules_version: str
    calendar_offset_days: int = 0
    # Children started at once, the least time between two writes of the progress record, and
    # the history length past which the campaign continues as new.
    batch_size: int = 200
    progress_interval_seconds: int = 30
    history_limit: int = 3000


@dataclass
class CloseOrder:
    actor: str
    request_id: str
    reason: str


@dataclass
class ExtendOrder:
    actor: str
    request_id: str
    ends_on: str


@dataclass
class AddTargetsOrder:
    request_id: str
    target_count: int


@dataclass
class CampaignState:
    """A campaign's run state: its input, and what each continue-as-new hands on."""

    start: CampaignStart
    figures: Figures
    revision: int = 0
    runs: int = 1


@dataclass
class CampaignProgressView:
    campaign_id: str
    status: str  # scheduled, running, ended, closed_early
    ends_on: str
    figures: Figures
    runs: int
    history_length: int
