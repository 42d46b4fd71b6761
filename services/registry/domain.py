"""Registry rules: how an agency's status may move, when a practitioner may file practice,
which annual reports are acceptable, how credit events grade an agency, and what the public
may see. Pure functions over plain values; no I/O."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

import yaml

from suite.codes import credit_code_problem
from suite.errors import FailedPrecondition, FieldViolation, InvalidArgument

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


class AgencyStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # 停止承接新业务
    REVOKED = "revoked"  # 吊销
    DEREGISTERED = "deregistered"  # 注销


# Where an agency may go from each status. A suspension may be replaced by a new one (a
# further decision), revocation ends practice, deregistration ends the entry.
STATUS_MOVES: dict[AgencyStatus, frozenset[AgencyStatus]] = {
    AgencyStatus.ACTIVE: frozenset({AgencyStatus.SUSPENDED, AgencyStatus.REVOKED, AgencyStatus.DEREGISTERED}),
    AgencyStatus.SUSPENDED: frozenset({AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED, AgencyStatus.REVOKED,
                                       AgencyStatus.DEREGISTERED}),
    AgencyStatus.REVOKED: frozenset({AgencyStatus.DEREGISTERED}),
    AgencyStatus.DEREGISTERED: frozenset(),
}


@dataclass(frozen=True)
class StatusChange:
    to_status: AgencyStatus
    effective_on: date
    suspended_until: date | None
    reason: str
    decision_reference: str


def check_status_change(current: AgencyStatus, last_effective_on: date | None, change: StatusChange) -> None:
    if change.to_status not in STATUS_MOVES[current]:
        raise FailedPrecondition("AGENCY_STATUS_MOVE_FORBIDDEN",
                                 f"an agency that is {current} cannot become {change.to_status}",
                                 subject="agency.status", from_status=current, to_status=change.to_status)
    _check_not_before(last_effective_on, change.effective_on)
    if change.to_status is AgencyStatus.SUSPENDED:
        if change.suspended_until is None:
            raise InvalidArgument(FieldViolation("suspended_until", "SUSPENDED_UNTIL_REQUIRED",
                                                 "is required when suspending"))
        if change.suspended_until <= change.effective_on:
            raise InvalidArgument(FieldViolation("suspended_until", "SUSPENDED_UNTIL_NOT_AFTER_EFFECTIVE_ON",
                                                 "must be after effective_on", {"effective_on": change.effective_on}))
    elif change.suspended_until is not None:
        raise InvalidArgument(FieldViolation("suspended_until", "SUSPENDED_UNTIL_ONLY_FOR_SUSPENSION",
                                             "is only for a suspension"))


def _check_not_before(last_effective_on: date | None, effective_on: date) -> None:
    if last_effective_on is not None and effective_on < last_effective_on:
        raise FailedPrecondition(
            "EFFECTIVE_ON_BEFORE_LAST_STATUS_CHANGE",
            f"effective_on {effective_on} is before the last status change ({last_effective_on})",
            subject="agency.status_history", effective_on=effective_on, last_effective_on=last_effective_on)


class PastStatusChange(Protocol):
    from_status: str
    to_status: str
    effective_on: date
    suspended_until: date | None
    decision_reference: str


def reinstatement(history: Sequence[PastStatusChange], revocation_reference: str, effective_on: date,
                  reason: str) -> StatusChange:
    """The change that undoes a licence revocation a review has revoked (撤销吊销决定后恢复): the
    revocation never had effect, so the agency returns to the status it had before it, as that
    stands on `effective_on`; a suspension whose last day has passed by then is over. Only the
    latest change can be undone this way, and only by naming the decision that made it."""
    revocation = history[-1] if history else None
    if revocation is None or revocation.to_status != AgencyStatus.REVOKED:
        raise FailedPrecondition("AGENCY_NOT_REVOKED", "only a revoked agency can be reinstated",
                                 subject="agency.status")
    if revocation.decision_reference != revocation_reference:
        revoked_by = revocation.decision_reference or "no named decision"
        raise FailedPrecondition("REVOKED_BY_ANOTHER_DECISION",
                                 f"the agency's licence was revoked by {revoked_by}, not by {revocation_reference}",
                                 subject="agency.status_history", revoked_by=revocation.decision_reference,
                                 revocation_reference=revocation_reference)
    _check_not_before(revocation.effective_on, effective_on)
    before = history[-2] if len(history) > 1 else None
    if (revocation.from_status == AgencyStatus.SUSPENDED and before is not None and before.suspended_until
            and before.suspended_until >= effective_on):
        return StatusChange(AgencyStatus.SUSPENDED, effective_on, before.suspended_until, reason, revocation_reference)
    return StatusChange(AgencyStatus.ACTIVE, effective_on, None, reason, revocation_reference)


def check_new_agency(established_on: date, today: date, parent_status: AgencyStatus | None,
                     has_parent: bool) -> None:
    if established_on > today:
        raise InvalidArgument(FieldViolation("established_on", "DATE_IN_FUTURE", "must not be in the future"))
    if has_parent and parent_status is None:
        raise InvalidArgument(FieldViolation("parent_agency_id", "AGENCY_NOT_IN_REGISTRY",
                                             "names no agency in the registry"))
    if parent_status in (AgencyStatus.REVOKED, AgencyStatus.DEREGISTERED):
        raise FailedPrecondition("HEAD_OFFICE_CLOSED", f"the head office is {parent_status}; it cannot open a branch",
                                 subject="parent_agency.status", agency_status=parent_status)


@dataclass(frozen=True)
class CurrentFiling:
    agency_id: str
    started_on: date


def check_practice_filing(current: CurrentFiling | None, agency_id: str, agency_status: AgencyStatus,
                          started_on: date, transfer: bool) -> None:
    """A practitioner practises at exactly one agency at a time (执业备案)."""
    if agency_status in (AgencyStatus.REVOKED, AgencyStatus.DEREGISTERED):
        raise FailedPrecondition("AGENCY_CLOSED_TO_PRACTICE",
                                 f"the agency is {agency_status}; nobody can file practice with it",
                                 subject="agency.status", agency_status=agency_status)
    if current is None:
        if transfer:
            raise FailedPrecondition("PRACTITIONER_NOT_FILED",
                                     "transfer asked, but the practitioner is not filed with any agency",
                                     subject="practitioner.current_agency")
        return
    if current.agency_id == agency_id:
        raise FailedPrecondition("PRACTITIONER_ALREADY_AT_AGENCY", "the practitioner already practises at this agency",
                                 subject="practitioner.current_agency")
    if not transfer:
        raise FailedPrecondition(
            "PRACTITIONER_AT_ANOTHER_AGENCY",
            "the practitioner practises at another agency; end that filing or ask for a transfer",
            subject="practitioner.current_agency")
    if started_on <= current.started_on:
        raise InvalidArgument(FieldViolation("started_on", "FILING_START_NOT_AFTER_CURRENT",
                                             "must be after the start of the current filing",
                                             {"current_started_on": current.started_on}))


def check_end_practice(current: CurrentFiling | None, ended_on: date) -> None:
    if current is None:
        raise FailedPrecondition("PRACTITIONER_NOT_FILED", "the practitioner is not filed with any agency",
                                 subject="practitioner.current_agency")
    if ended_on < current.started_on:
        raise InvalidArgument(FieldViolation("ended_on", "FILING_END_BEFORE_START", "must not be before the filing "
                                             "started", {"started_on": current.started_on}))


def check_annual_report(year: int, filed_on: date, established_on: date) -> None:
    """An annual report covers a finished year the agency existed in (专利代理管理办法 art. 35)."""
    if year >= filed_on.year:
        raise InvalidArgument(FieldViolation("year", "REPORT_YEAR_NOT_ENDED",
                                             "must be a year that ended before filed_on", {"filed_on": filed_on}))
    if year < established_on.year:
        raise InvalidArgument(FieldViolation("year", "REPORT_YEAR_BEFORE_ESTABLISHMENT",
                                             f"is before the agency was established ({established_on})",
                                             {"established_on": established_on}))


def check_credit_event(occurred_on: date, publicity_ends_on: date, today: date) -> None:
    if occurred_on > today:
        raise InvalidArgument(FieldViolation("occurred_on", "DATE_IN_FUTURE", "must not be in the future"))
    if publicity_ends_on < occurred_on:
        raise InvalidArgument(FieldViolation("publicity_ends_on", "PUBLICITY_ENDS_BEFORE_EVENT",
                                             "must not be before occurred_on", {"occurred_on": occurred_on}))


def check_withdrawal(occurred_on: date, already_withdrawn_on: date | None, withdrawn_on: date, today: date) -> None:
    if already_withdrawn_on is not None:
        raise FailedPrecondition("CREDIT_EVENT_ALREADY_WITHDRAWN",
                                 f"the credit event was already withdrawn on {already_withdrawn_on.isoformat()}",
                                 subject="event.withdrawn_on", withdrawn_on=already_withdrawn_on.isoformat())
    if withdrawn_on > today:
        raise InvalidArgument(FieldViolation("withdrawn_on", "DATE_IN_FUTURE", "must not be in the future"))
    if withdrawn_on < occurred_on:
        raise InvalidArgument(FieldViolation("withdrawn_on", "WITHDRAWAL_BEFORE_EVENT",
                                             "must not be before the event occurred", {"occurred_on": occurred_on}))


# ---- credit grading (信用分级分类) ------------------------------------------------------------

GRADES = ("A", "B", "C", "D")
EVENT_LABELS = {
    "warning": "警告 warning", "fine": "罚款 fine", "suspension": "停止承接新业务 suspension",
    "revocation": "吊销 revocation", "abnormal_operation_list": "经营异常名录 abnormal operations list",
    "serious_violation_list": "严重违法失信名单 serious-violation list",
    "abnormal_patent_filing": "非正常专利申请 abnormal patent filing",
    "bad_faith_trademark_filing": "恶意商标申请 bad-faith trademark filing",
    "false_material": "虚假材料 false material", "broken_commitment": "违反信用承诺 broken commitment",
    "refused_penalty": "拒不履行处罚 refused penalty", "association_discipline": "行业惩戒 association discipline",
}


@dataclass(frozen=True)
class GradingRules:
    version: str
    base_score: int
    points: dict[str, int]
    grade_d_kinds: frozenset[str]
    grade_floors: dict[str, int]

    @classmethod
    def load(cls, path: Path = RULES_DIR / "credit-grading.yaml") -> GradingRules:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = cls(version=str(raw["version"]), base_score=int(raw["base_score"]),
                    points={k: int(v) for k, v in raw["points"].items()},
                    grade_d_kinds=frozenset(raw["grade_d_kinds"]),
                    grade_floors={k: int(v) for k, v in raw["grade_floors"].items()})
        rules.validate()
        return rules

    def validate(self) -> None:
        unknown = (set(self.points) | self.grade_d_kinds) - set(EVENT_LABELS)
        missing = set(EVENT_LABELS) - set(self.points)
        if unknown or missing:
            raise ValueError(f"credit grading rules: unknown kinds {sorted(unknown)}, missing {sorted(missing)}")
        floors = [self.grade_floors[g] for g in GRADES[:-1]]
        if floors != sorted(floors, reverse=True) or any(p < 0 for p in self.points.values()):
            raise ValueError("credit grading rules: floors must fall from A to C and points be >= 0")


@dataclass(frozen=True)
class CreditEventView:
    id: str
    kind: str
    occurred_on: date
    publicity_ends_on: date


@dataclass(frozen=True)
class Reason:
    event_id: str
    kind: str
    points: int
    counts_until: date
    explanation: str


@dataclass(frozen=True)
class CreditProfile:
    as_of: date
    grade: str
    score: int
    reasons: list[Reason] = field(default_factory=list)
    rules_version: str = ""


def counts_on(event: CreditEventView, day: date) -> bool:
    return event.occurred_on <= day <= event.publicity_ends_on


def grade(events: list[CreditEventView], as_of: date, rules: GradingRules) -> CreditProfile:
    counting = sorted((e for e in events if counts_on(e, as_of)), key=lambda e: (e.occurred_on, e.id))
    reasons = [Reason(e.id, e.kind, rules.points[e.kind], e.publicity_ends_on,
                      f"{EVENT_LABELS[e.kind]} on {e.occurred_on}: -{rules.points[e.kind]} points "
                      f"until {e.publicity_ends_on}") for e in counting]
    score = max(0, rules.base_score - sum(r.points for r in reasons))
    letter = next((g for g in GRADES[:-1] if score >= rules.grade_floors[g]), "D")
    forcing = [r for r in reasons if r.kind in rules.grade_d_kinds]
    if forcing:
        letter = "D"
        reasons = reasons + [Reason(r.event_id, r.kind, 0, r.counts_until,
                                    f"{EVENT_LABELS[r.kind]} puts the agency in grade D while it counts")
                             for r in forcing]
    return CreditProfile(as_of=as_of, grade=letter, score=score, reasons=reasons, rules_version=rules.version)


# ---- the public register (信息公开) ----------------------------------------------------------

# Penalties and list entries the public sees while their publicity period runs. Warnings
# alone are not published (市场监督管理行政处罚信息公示规定 art. 2).
PUBLISHED_KINDS = frozenset(EVENT_LABELS) - {"warning"}


def publicly_visible(event: CreditEventView, today: date) -> bool:
    return event.kind in PUBLISHED_KINDS and counts_on(event, today)


def classify_query(query: str) -> str:
    """What a search text is: a credit code, an identifying number, or the beginning of a name."""
    if credit_code_problem(query) is None:
        return "credit_code"
    if query.replace("-", "").isascii() and query.replace("-", "").isalnum() and any(c.isdigit() for c in query):
        return "number"
    return "name"


def mask_resident_id(number: str) -> str:
    """Identity numbers are never published (信息公开): only the first and last character show."""
    return number[:1] + "*" * (len(number) - 2) + number[-1:] if len(number) > 2 else "*" * len(number)
