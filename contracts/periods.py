"""A statutory period placed on the calendar (期限计算): the question asked of the working-day
calendar and its answer, as the workflows, their activities and the complaints service exchange
them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PeriodQuestion:
    rules_version: str
    period_id: str
    started_on: str
    # Extension length granted so far, in the period's unit (Period.extension_length).
    extra: int = 0
    # Stops of the clock so far: [stopped_on, resumed_on] pairs.
    pauses: list[list[str]] = field(default_factory=list)


@dataclass
class PeriodPlan:
    period_id: str
    started_on: str
    due_on: str
    # Empty for a period that counts back from an event (it has no elapsed share).
    warn_on: str
    length: int
    unit: str
    legal_source: str
    description: str
    suspended_by: list[str]
    # Years without the State Council's schedule that due_on and warn_on rest on (暂定).
    provisional_years: list[int] = field(default_factory=list)
