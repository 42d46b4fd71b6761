"""Case statistics (统计, the annual report's figures of seed (二十三)) without I/O: counts by stage,
violation category, region, agency kind, source and outcome, and how the cases fared against each
statutory period and, month by month, against the periods that fell due, from the case records
the workflows wrote (their deadlines carry the state each period ended in)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

CLOSED = "closed"
# The states a deadline of the record ends up in (see the case workflow's deadlines).
MET, MISSED, ENDED, RUNNING, PAUSED, CANCELLED = "met", "missed", "ended", "running", "paused", "cancelled"


@dataclass(frozen=True)
class CaseFacts:
    """What statistics read of one case record."""

    stage: str
    category: str
    outcome: str
    region_code: str
    deadlines: list[dict]
    source: str = ""
    subject_kind: str = "agency"
    # The registry's kind of the agency; empty for a subject not in the registry or a practitioner.
    agency_kind: str = ""


@dataclass
class PeriodTally:
    period_id: str
    legal_source: str = ""
    description: str = ""
    met: int = 0
    missed: int = 0
    lapsed: int = 0
    running: int = 0
    cancelled: int = 0

    def count(self, state: str) -> None:
        if state == MET:
            self.met += 1
        elif state == MISSED:
            self.missed += 1
        elif state == ENDED:
            self.lapsed += 1
        elif state in (RUNNING, PAUSED):
            self.running += 1
        elif state == CANCELLED:
            self.cancelled += 1

    @property
    def share_met(self) -> float:
        """The share done within the period where the office had to act (met or missed)."""
        decided = self.met + self.missed
        return self.met / decided if decided else 0.0


@dataclass
class CaseStatistics:
    total: int = 0
    by_stage: Counter = field(default_factory=Counter)
    by_category: Counter = field(default_factory=Counter)
    by_region: Counter = field(default_factory=Counter)
    by_outcome: Counter = field(default_factory=Counter)
    # By (subject kind, agency kind): who the cases are about.
    by_agency_kind: Counter = field(default_factory=Counter)
    by_source: Counter = field(default_factory=Counter)
    periods: dict[str, PeriodTally] = field(default_factory=dict)
    # By the month (YYYY-MM) the periods fell due in: met and missed only.
    by_month: dict[str, PeriodTally] = field(default_factory=dict)
    closed: int = 0
    closed_within_periods: int = 0


def region_level_below(scope_prefix: str, region_code: str) -> str:
    """The division one level below a scope that holds `region_code`: the province of a case for
    the whole country, its city for a province, its county below that."""
    digits = 2 if len(scope_prefix) < 2 else 4 if len(scope_prefix) < 4 else 6
    return region_code[:digits].ljust(6, "0")


def tally(cases: list[CaseFacts], scope_prefix: str) -> CaseStatistics:
    result = CaseStatistics()
    for case in cases:
        result.total += 1
        result.by_stage[case.stage] += 1
        result.by_category[case.category] += 1
        result.by_region[region_level_below(scope_prefix, case.region_code)] += 1
        result.by_outcome[case.outcome] += 1
        result.by_agency_kind[(case.subject_kind, case.agency_kind)] += 1
        result.by_source[case.source] += 1
        missed_any = False
        for deadline in case.deadlines:
            period = result.periods.get(deadline["period_id"])
            if period is None:
                period = result.periods[deadline["period_id"]] = PeriodTally(
                    deadline["period_id"], deadline.get("legal_source", ""), deadline.get("description", ""))
            period.count(deadline["state"])
            missed_any = missed_any or deadline["state"] == MISSED
            if deadline["state"] in (MET, MISSED) and deadline.get("due_on"):
                month = deadline["due_on"][:7]
                result.by_month.setdefault(month, PeriodTally(month)).count(deadline["state"])
        if case.stage == CLOSED:
            result.closed += 1
            result.closed_within_periods += not missed_any
    return result
