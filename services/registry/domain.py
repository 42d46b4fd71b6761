"""Registry rules: how an agency's status may move, when a practitioner may file practice,
which annual reports are acceptable, how credit events grade an agency, and what the public
may see. Pure functions over plain values; no I/O."""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

import yaml

from rules import Rules
from suite.codes import credit_code_problem
from suite.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument, NotFound, OutOfRange

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
    "abnormal_operation_list_removal": "移出经营异常名录 removed from the abnormal operations list",
    "serious_violation_list_removal": "移出严重违法失信名单 removed from the serious-violation list",
}


# Measures some kinds of event are taken as (their words, with how they are named).
MEASURES_OF_KIND = {"association_discipline": {
    "warning": "警告 warning", "circulated_criticism": "通报批评 circulated criticism",
    "public_censure": "公开谴责 public censure", "membership_revoked": "取消会员资格 membership revoked"}}


def event_label(event: CreditEventView) -> str:
    measure = MEASURES_OF_KIND.get(event.kind, {}).get(event.measure)
    return f"{EVENT_LABELS[event.kind]}: {measure}" if measure else EVENT_LABELS[event.kind]


@dataclass(frozen=True)
class GradingRules:
    version: str
    base_score: int
    points: dict[str, int]
    grade_d_kinds: frozenset[str]
    grade_floors: dict[str, int]
    # Kinds that count by the measure taken (an association's discipline by its severity): points
    # per measure; the kind's own points count for an event recorded without its measure.
    measure_points: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = RULES_DIR / "credit-grading.yaml") -> GradingRules:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = cls(version=str(raw["version"]), base_score=int(raw["base_score"]),
                    points={k: int(v) for k, v in raw["points"].items()},
                    grade_d_kinds=frozenset(raw["grade_d_kinds"]),
                    grade_floors={k: int(v) for k, v in raw["grade_floors"].items()},
                    measure_points={kind: {m: int(p) for m, p in measures.items()}
                                    for kind, measures in (raw.get("measure_points") or {}).items()})
        rules.validate()
        return rules

    def validate(self) -> None:
        unknown = (set(self.points) | self.grade_d_kinds | set(self.measure_points)) - set(EVENT_LABELS)
        missing = set(EVENT_LABELS) - set(self.points)
        if unknown or missing:
            raise ValueError(f"credit grading rules: unknown kinds {sorted(unknown)}, missing {sorted(missing)}")
        floors = [self.grade_floors[g] for g in GRADES[:-1]]
        every_points = list(self.points.values()) + [p for m in self.measure_points.values() for p in m.values()]
        if floors != sorted(floors, reverse=True) or any(p < 0 for p in every_points):
            raise ValueError("credit grading rules: floors must fall from A to C and points be >= 0")
        for kind, measures in self.measure_points.items():
            known = MEASURES_OF_KIND.get(kind, {})
            if set(measures) != set(known):
                raise ValueError(f"credit grading rules: {kind} counts by measure: points for exactly "
                                 f"{sorted(known)}, not {sorted(measures)}")

    def points_of(self, event: CreditEventView) -> int:
        return self.measure_points.get(event.kind, {}).get(event.measure, self.points[event.kind])


@dataclass(frozen=True)
class CreditEventView:
    id: str
    kind: str
    occurred_on: date
    publicity_ends_on: date
    # The measure taken, for the kinds that count by it (MEASURES_OF_KIND); empty otherwise.
    measure: str = ""


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
    reasons = [Reason(e.id, e.kind, rules.points_of(e), e.publicity_ends_on,
                      f"{event_label(e)} on {e.occurred_on}: -{rules.points_of(e)} points "
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


# ---- industry associations (行业协会, seed (十七)) ---------------------------------------------

ASSOCIATION_ROLE = "association"

# Disciplinary measures of an association (行业自律惩戒措施), as DisciplineMeasure's words, with
# the words a credit event's summary names them by.
DISCIPLINE_MEASURES = {"warning": "警告", "circulated_criticism": "通报批评", "public_censure": "公开谴责",
                       "membership_revoked": "取消会员资格"}


class MembershipEnd(enum.StrEnum):
    LEFT = "left"  # 退会
    EXPELLED = "expelled"  # 取消会员资格
    AGENCY_CLOSED = "agency_closed"  # 机构注销、吊销


def scoped_association(role: str, own_association_id: str, requested: str, field_name: str = "association_id"
                       ) -> str:
    """The association a request is about. An association's caller asks about its own only:
    naming another is answered as if it did not exist (NOT_FOUND, the same as an unknown id), so
    nothing tells it which associations there are. Staff name the association."""
    if role == ASSOCIATION_ROLE:
        if not own_association_id or (requested and requested != own_association_id):
            raise NotFound("association", requested or own_association_id)
        return own_association_id
    if not requested:
        raise InvalidArgument(FieldViolation(field_name, "FIELD_REQUIRED",
                                             "is required unless the caller is an association"))
    return requested


class PastMembership(Protocol):
    joined_on: date
    left_on: date | None


def member_on(membership: PastMembership, day: date) -> bool:
    """A membership runs from the day the agency joined to the day it left, that day excluded."""
    return membership.joined_on <= day and (membership.left_on is None or day < membership.left_on)


def member_not_found(agency_id: str) -> NotFound:
    """The one answer for an agency that is not the association's member on the day, whether it
    is another association's member, a member on other days, or no agency at all."""
    return NotFound("member", agency_id)


def check_admission(memberships: Sequence[PastMembership], joined_on: date, today: date, agency_status: AgencyStatus,
                    agency_kind: str, established_on: date, association_kinds: Sequence[str]) -> None:
    """An agency joins an association it is of a kind the association serves, on a day it exists,
    while no other membership of it in the association runs (one at a time)."""
    if joined_on > today:
        raise InvalidArgument(FieldViolation("joined_on", "DATE_IN_FUTURE", "must not be in the future"))
    if joined_on < established_on:
        raise InvalidArgument(FieldViolation("joined_on", "JOINED_BEFORE_ESTABLISHMENT",
                                             f"is before the agency was established ({established_on})",
                                             {"established_on": established_on}))
    if agency_status in (AgencyStatus.REVOKED, AgencyStatus.DEREGISTERED):
        raise FailedPrecondition("AGENCY_CLOSED_TO_MEMBERSHIP", f"the agency is {agency_status}; it cannot join",
                                 subject="agency.status", agency_status=agency_status)
    if agency_kind not in association_kinds:
        raise FailedPrecondition("AGENCY_KIND_NOT_SERVED",
                                 f"the association serves {', '.join(association_kinds)} agencies, not {agency_kind}",
                                 subject="association.kinds", agency_kind=agency_kind,
                                 kinds=",".join(association_kinds))
    for membership in memberships:
        if membership.left_on is None or membership.left_on > joined_on:
            left = membership.left_on.isoformat() if membership.left_on else ""
            raise AlreadyExists("MEMBERSHIP_OVERLAPS",
                                f"the agency is a member from {membership.joined_on}"
                                + (f" until {left}" if left else "") + f", which {joined_on} overlaps",
                                joined_on=membership.joined_on, left_on=left)


def check_membership_end(membership: PastMembership | None, left_on: date, today: date) -> None:
    if membership is None:
        raise FailedPrecondition("NOT_A_MEMBER", "the agency holds no open membership of the association",
                                 subject="membership")
    if left_on > today:
        raise InvalidArgument(FieldViolation("left_on", "DATE_IN_FUTURE", "must not be in the future"))
    if left_on <= membership.joined_on:
        raise InvalidArgument(FieldViolation("left_on", "LEFT_ON_NOT_AFTER_JOINED_ON",
                                             f"must be after the day the agency joined ({membership.joined_on})",
                                             {"joined_on": membership.joined_on}))


def discipline_summary(association_name: str, measure: str, document_number: str) -> str:
    """How the credit record words an association's measure (public while it is published)."""
    return f"{association_name}给予{DISCIPLINE_MEASURES[measure]}处分（{document_number}）"


def check_discipline_repeat(agency_id: str, measure: str, first_agency_id: str, first_measure: str,
                            document_number: str) -> None:
    """A decision document records one measure against one member: the same again is a repeat,
    another under the same number a conflict."""
    if (agency_id, measure) != (first_agency_id, first_measure):
        raise AlreadyExists("DISCIPLINE_DOCUMENT_ALREADY_RECORDED",
                            f"decision {document_number} already recorded another measure or member",
                            document_number=document_number)


# ---- association certificates ---------------------------------------------------------------

def check_certificate(revoked_on: date | None, not_after: date, today: date, fingerprint: str) -> None:
    """A certificate names its association until it is revoked or expires."""
    if revoked_on is not None:
        raise FailedPrecondition("CERTIFICATE_REVOKED", f"the certificate was revoked on {revoked_on}",
                                 subject="certificate.revoked_on", fingerprint_sha256=fingerprint,
                                 revoked_on=revoked_on)
    if not_after < today:
        raise FailedPrecondition("CERTIFICATE_EXPIRED", f"the certificate expired after {not_after}",
                                 subject="certificate.not_after", fingerprint_sha256=fingerprint,
                                 not_after=not_after)


# ---- the member events feed -----------------------------------------------------------------

DEFAULT_FEED_LIMIT = 500


def check_feed_position(after_position: int, pruned_through: int) -> None:
    """A read goes on from a position the feed still holds everything after."""
    if after_position < pruned_through:
        raise OutOfRange("FEED_POSITION_TOO_OLD",
                         f"events up to position {pruned_through} were dropped; the oldest position kept is "
                         f"{pruned_through + 1}: read after {pruned_through} or later",
                         oldest_position=pruned_through + 1, after_position=after_position)


def check_acknowledgement(position: int, last_position: int) -> None:
    if position > last_position:
        raise OutOfRange("FEED_POSITION_NOT_REACHED",
                         f"position {position} is beyond the feed's last position {last_position}",
                         position=position, last_position=last_position)


# ---- the credit lists (经营异常名录, 严重违法失信名单) ------------------------------------------------

ABNORMAL_LIST, SERIOUS_LIST = "abnormal_operation", "serious_violation"
LIST_EVENT_KINDS = {ABNORMAL_LIST: "abnormal_operation_list", SERIOUS_LIST: "serious_violation_list"}
REPORT_MISSING = "annual_report_missing"  # 未按规定报送年度报告
MOVED_FROM_ABNORMAL = "moved_from_abnormal_list"  # 列入经营异常名录届满三年
# Why an entry ended.
REPORT_FILED = "annual_report_filed"  # 补报年度报告后申请移出
EARLY_REMOVAL = "early_removal"  # 列入满一年后申请提前移出
MOVED_TO_SERIOUS = "moved_to_serious_violation_list"
# Only patent agencies file annual reports (专利代理管理办法 第三十五条); an agency that no longer
# practises has nothing to report.
REPORTING_KINDS = ("patent",)
REPORTING_STATUSES = (AgencyStatus.ACTIVE.value, AgencyStatus.SUSPENDED.value)


@dataclass(frozen=True)
class ListDates:
    """The days of a list entry, planned from the day it is listed on the rules file's periods."""

    publicity_ends_on: date  # the entry event's last public day, unless removed before
    moves_to_serious_on: date | None = None  # the abnormal list: the day after its three years
    early_removal_from: date | None = None  # the serious-violation list: from a year on


def check_listing_day(report_year: int, listed_on: date, expected: date) -> None:
    """Non-filers are listed on the day after the window in which they should have filed."""
    if listed_on != expected:
        raise InvalidArgument(FieldViolation(
            "listed_on", "NOT_THE_LISTING_DAY",
            f"non-filers of {report_year} are listed on {expected.isoformat()}, the day after the window closes",
            {"listing_day": expected.isoformat()}))


def check_removal(entries: Sequence, filed_years: set[int], today: date) -> None:
    """An agency comes off a list once the cause is cured: every report whose absence listed it is
    filed; off the serious-violation list, not before the early-removal day either."""
    if not entries:
        raise FailedPrecondition("NOT_ON_LIST", "the agency is not on this list", subject="list")
    missing = sorted({e.report_year for e in entries if e.report_year not in filed_years})
    if missing:
        raise FailedPrecondition("ANNUAL_REPORT_STILL_MISSING",
                                 f"the annual report for {missing[0]} is still not filed: file it first",
                                 subject="annual_report", report_year=str(missing[0]))
    earliest = max((e.early_removal_from for e in entries if e.early_removal_from), default=None)
    if earliest is not None and today < earliest:
        raise FailedPrecondition("EARLY_REMOVAL_NOT_YET",
                                 f"early removal may be asked for from {earliest.isoformat()}",
                                 subject="early_removal_from", early_removal_from=earliest.isoformat())


def removal_reason(list_name: str) -> str:
    return EARLY_REMOVAL if list_name == SERIOUS_LIST else REPORT_FILED


def list_dates(list_name: str, listed_on: date, period_end: Callable[[str, date], date]) -> ListDates:
    """`period_end(period_id, started_on)`: the last day of a rules period started on a day."""
    if list_name == ABNORMAL_LIST:
        ends = period_end("abnormal_list_to_serious", listed_on)
        return ListDates(ends, moves_to_serious_on=ends + timedelta(days=1))
    return ListDates(period_end("serious_violation_list", listed_on),
                     early_removal_from=period_end("serious_violation_early_removal", listed_on) + timedelta(days=1))


REMOVAL_SUMMARIES = {REPORT_FILED: "已补报年度报告，申请移出经营异常名录",
                     EARLY_REMOVAL: "列入满一年且已履行相关义务，申请提前移出严重违法失信名单"}


# ---- credit repair (信用修复, 市场监督管理信用修复管理办法) -------------------------------------

# Where an application stands (CreditRepairStage's words).
REPAIR_AWAITING_CHECK, REPAIR_AWAITING_DECISION = "awaiting_check", "awaiting_decision"
REPAIR_GRANTED, REPAIR_REFUSED, REPAIR_LAPSED = "granted", "refused", "lapsed"
OPEN_REPAIR_STAGES = (REPAIR_AWAITING_CHECK, REPAIR_AWAITING_DECISION)
# The steps its workflow records (CreditRepairStep's words), from the stage each is taken in to
# the stage it leaves the application in.
REPAIR_STEPS = {"checked": (REPAIR_AWAITING_CHECK, REPAIR_AWAITING_DECISION),
                "refused_at_check": (REPAIR_AWAITING_CHECK, REPAIR_REFUSED),
                "granted": (REPAIR_AWAITING_DECISION, REPAIR_GRANTED),
                "refused": (REPAIR_AWAITING_DECISION, REPAIR_REFUSED),
                "lapsed": (OPEN_REPAIR_STAGES, REPAIR_LAPSED)}
# The wait after the penalty's publicity began (第六条: 公示期满六个月).
REPAIR_PERIOD = "credit_repair_after"
# The measures of the rules file (处罚种类) a penalty on the credit record is; the kinds of
# bad-faith conduct and the lists are not penalties (the lists have their own removal).
PENALTY_MEASURES = {"warning": ("warning",), "fine": ("fine",), "suspension": ("stop_business",),
                    "revocation": ("licence_revocation",)}
MAX_EVENT_ID = 64


@dataclass(frozen=True)
class RepairCandidate:
    """A credit event an application names, with what decides whether it may be repaired."""

    id: str
    kind: str
    occurred_on: date
    publicity_ends_on: date
    fine_cny: int
    withdrawn_on: date | None
    repaired_on: date | None
    # An application still open that names it.
    open_repair_id: str | None


def check_event_ids(event_ids: Sequence[str]) -> None:
    bad = [FieldViolation(f"credit_event_ids[{i}]", "FIELD_TOO_LONG", f"must be at most {MAX_EVENT_ID} characters",
                          {"max_len": MAX_EVENT_ID})
           for i, event_id in enumerate(event_ids) if len(event_id) > MAX_EVENT_ID]
    bad += [FieldViolation(f"credit_event_ids[{i}]", "NAMED_TWICE", "is named twice")
            for i, event_id in enumerate(event_ids) if event_id in event_ids[:i]]
    if bad:
        raise InvalidArgument(bad)


def repair_eligible_from(event: RepairCandidate, period_end: Callable[[str, date], date]) -> date:
    """The first day a repair of the event may be asked for: the day after credit_repair_after of
    publicity has run from the decision (publicity begins with it)."""
    return period_end(REPAIR_PERIOD, event.occurred_on) + timedelta(days=1)


def check_repair_application(events: Sequence[RepairCandidate], lists_on: Sequence[str], today: date,
                             rules: Rules, period_end: Callable[[str, date], date]) -> date:
    """May these penalties be repaired today (第六条)? Each a penalty whose measures the rules allow
    repair of, not a light one whose publicity is short and ends by itself (警告、通报批评、较低数额
    罚款), not withdrawn or repaired already, nor named by an open application; still public; public
    for credit_repair_after; the agency on no credit list. The first day all may be: the
    application's eligible_from. Compliance is the handler's to confirm, with its evidence."""
    if lists_on:
        raise FailedPrecondition("AGENCY_ON_CREDIT_LIST", f"the agency is on the {lists_on[0]} list: no credit "
                                 "repair while it is", subject="agency.credit_lists", list=lists_on[0])
    eligible_from = None
    for event in events:
        measures = PENALTY_MEASURES.get(event.kind)
        facts = {"credit_event_id": event.id}
        if event.withdrawn_on is not None:
            raise FailedPrecondition("CREDIT_EVENT_WITHDRAWN", f"credit event {event.id} was withdrawn on "
                                     f"{event.withdrawn_on}", subject="credit_event.withdrawn_on",
                                     withdrawn_on=event.withdrawn_on, **facts)
        if event.repaired_on is not None:
            raise FailedPrecondition("CREDIT_EVENT_ALREADY_REPAIRED", f"credit event {event.id} was repaired on "
                                     f"{event.repaired_on}", subject="credit_event.repaired_on",
                                     repaired_on=event.repaired_on, **facts)
        if measures is None or not rules.credit_repair_allowed(measures):
            raise FailedPrecondition("CREDIT_REPAIR_NOT_FOR_KIND", f"a {event.kind} is not repaired (第六条)",
                                     subject="credit_event.kind", event_kind=event.kind, **facts)
        if _light(rules, measures, event.fine_cny):
            raise FailedPrecondition("CREDIT_REPAIR_NOT_FOR_LIGHT_PENALTY",
                                     f"credit event {event.id} is a light penalty whose publicity ends by itself",
                                     subject="credit_event.kind", event_kind=event.kind, **facts)
        if event.publicity_ends_on < today:
            raise FailedPrecondition("PUBLICITY_ALREADY_ENDED", f"the publicity of {event.id} ended on "
                                     f"{event.publicity_ends_on}", subject="credit_event.publicity_ends_on",
                                     publicity_ends_on=event.publicity_ends_on, **facts)
        if event.open_repair_id:
            raise FailedPrecondition("CREDIT_REPAIR_ALREADY_OPEN", f"application {event.open_repair_id} for "
                                     f"{event.id} is still open", subject="credit_repair",
                                     repair_id=event.open_repair_id, **facts)
        starts = repair_eligible_from(event, period_end)
        if today < starts:
            raise FailedPrecondition("CREDIT_REPAIR_NOT_YET", f"a repair of {event.id} may be asked for from "
                                     f"{starts}", subject="credit_event.occurred_on", eligible_from=starts, **facts)
        eligible_from = max(eligible_from or starts, starts)
    return eligible_from


def _light(rules: Rules, measures: Sequence[str], fine_cny: int) -> bool:
    """A penalty published for the short period, or not at all (第六条: 仅受到警告、通报批评和较低数额
    罚款的除外). A fine recorded without its amount is taken at its record's word: not light."""
    if "fine" in measures and fine_cny <= 0:
        return False
    return rules.publicity.period_id(measures, fine_cny * 100) != rules.publicity.standard_period


def check_repair_check(outcome: str, compliance_evidence: str, reason: str) -> None:
    """A handler puts an application to a supervisor with what proves compliance, or refuses it
    saying why."""
    if outcome == "for_decision" and not compliance_evidence:
        raise InvalidArgument(FieldViolation("compliance_evidence", "COMPLIANCE_EVIDENCE_REQUIRED",
                                             "is required to put the application to a supervisor"))
    if outcome == "refuse" and not reason:
        raise InvalidArgument(FieldViolation("reason", "REFUSAL_REASON_REQUIRED", "is required to refuse"))


def check_repair_open(stage: str, step: str) -> None:
    """A decided or lapsed application takes no more steps (its workflow has ended)."""
    if stage not in OPEN_REPAIR_STAGES:
        raise FailedPrecondition("CREDIT_REPAIR_NOT_IN_STAGE", f"{step} is not possible while the application is "
                                 f"{stage}", subject="credit_repair.stage", repair_step=step, repair_stage=stage)


def check_repair_decision(decision: str, reason: str) -> None:
    if decision == "refuse" and not reason:
        raise InvalidArgument(FieldViolation("reason", "REFUSAL_REASON_REQUIRED", "is required to refuse"))


def repair_step(stage: str, last_step: str, step: str) -> str | None:
    """The stage a step leaves an application in; None for the step recorded last (its workflow's
    retry changes nothing twice). Any other step out of order is refused."""
    if step == last_step:
        return None
    taken_in, leaves_in = REPAIR_STEPS[step]
    if stage not in (taken_in if isinstance(taken_in, tuple) else (taken_in,)):
        raise FailedPrecondition("CREDIT_REPAIR_STEP_OUT_OF_ORDER", f"{step} cannot follow an application "
                                 f"that is {stage}", subject="credit_repair.stage", step=step, repair_stage=stage)
    return leaves_in


def lapse_day(events: Sequence[RepairCandidate]) -> date:
    """The day after the last public day of every penalty named: nothing is left to repair then."""
    return max(e.publicity_ends_on for e in events) + timedelta(days=1)


def publicly_repaired(repaired_on: date | None, shown_until: date | None, today: date) -> bool:
    """A repaired penalty is said to be repaired (已信用修复) for as long as it would have been public."""
    return repaired_on is not None and shown_until is not None and repaired_on <= today <= shown_until


# ---- joint punishment (联合惩戒, seed (十六)) ---------------------------------------------------

# The measures partner departments apply (JointPunishmentKind's words), as the export names them.
JOINT_PUNISHMENT_KINDS = {
    "procurement_restriction": "限制参与政府采购活动",
    "honours_restriction": "限制参与评优评先、授予荣誉称号",
    "funding_restriction": "限制申请财政资金项目支持",
    "preferential_policy_restriction": "限制享受税收优惠等政策",
    "higher_inspection_ratio": "列为重点监管对象，提高抽查比例和频次",
}
HIGHER_INSPECTION_RATIO = "higher_inspection_ratio"
# Short codes in a measure's id (jp-<code>-<basis id>): a serious-violation entry's measures are
# made in bulk, their ids computed by the statement.
KIND_CODES = {"procurement_restriction": "pr", "honours_restriction": "ho", "funding_restriction": "fu",
              "preferential_policy_restriction": "pp", "higher_inspection_ratio": "ir"}
SERIOUS_LIST_BASIS, BAD_FAITH_BASIS = "serious_violation_list", "bad_faith_conduct"
# Every measure follows the serious-violation list (市场监督管理严重违法失信名单管理办法 第十二条; the
# partner departments' joint-punishment memoranda).
SERIOUS_LIST_MEASURES = tuple(JOINT_PUNISHMENT_KINDS)
# Bad-faith conduct that measures may follow (国家知识产权局知识产权信用管理规定 第六条).
BAD_FAITH_KINDS = ("abnormal_patent_filing", "bad_faith_trademark_filing", "false_material", "broken_commitment",
                   "refused_penalty")
# Why a measure ended before its planned last day.
BASIS_REMOVED, REPAIRED, WITHDRAWN = "basis_removed", "repaired", "withdrawn"


def measure_id(kind: str, basis_id: str) -> str:
    return f"jp-{KIND_CODES[kind]}-{basis_id}"


def joint_punishment_dates(event_kind: str, occurred_on: date, publicity_ends_on: date, withdrawn_on: date | None,
                           today: date) -> tuple[date, date]:
    """A measure for named bad-faith conduct runs from the day it is decided while the conduct is
    public, and no longer."""
    if event_kind not in BAD_FAITH_KINDS:
        raise FailedPrecondition("JOINT_PUNISHMENT_NOT_FOR_KIND", f"a {event_kind} is not bad-faith conduct that "
                                 "joint punishment follows", subject="credit_event.kind", event_kind=event_kind)
    if withdrawn_on is not None:
        raise FailedPrecondition("CREDIT_EVENT_WITHDRAWN", f"the credit event was withdrawn on {withdrawn_on}",
                                 subject="credit_event.withdrawn_on", withdrawn_on=withdrawn_on)
    if publicity_ends_on < today:
        raise FailedPrecondition("PUBLICITY_ALREADY_ENDED", f"the conduct's publicity ended on {publicity_ends_on}",
                                 subject="credit_event.publicity_ends_on", publicity_ends_on=publicity_ends_on)
    return max(today, occurred_on), publicity_ends_on


def in_force(starts_on: date, ends_on: date, day: date) -> bool:
    return starts_on <= day <= ends_on


# The list partner departments are given (联合惩戒名单): the measures in force on a day.
EXPORT_FORMAT = "ipss-joint-punishments/1"
EXPORT_COLUMNS = ("credit_code", "agency_name", "region_code", "measure", "measure_name", "basis", "basis_id",
                  "starts_on", "ends_on", "decision_reference")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def export_document(rows: Sequence[dict[str, str]], on: date, region_code: str, fmt: str) -> bytes:
    """The list as CSV (RFC 4180, a header row, CRLF) or JSON (keys sorted, UTF-8 as written):
    bytes that are signed and checked as they are, so the same list is always the same bytes."""
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode()
    document = {"format": EXPORT_FORMAT, "on": on.isoformat(), "region_code": region_code, "measures": list(rows)}
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
