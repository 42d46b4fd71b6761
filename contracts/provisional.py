"""Deadlines on provisional years (暂定): what the calendar watcher and the workflows whose dates
rest on a year without the State Council's holiday schedule say to each other.

A workflow lists those years in its `ProvisionalYears` search attribute; when a year's schedule
is loaded, the watcher (`workflows.calendar_watch`) finds the workflows that list it and signals
each `SchedulePublished`; the workflow computes its dates again, moves its timers and notes every
date that changed."""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEDULE_PUBLISHED_SIGNAL = "holiday_schedule_published"


@dataclass
class SchedulePublished:
    years: list[int] = field(default_factory=list)
