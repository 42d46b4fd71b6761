"""The working-day calendar (工作日历): Chinese official working days are Monday–Friday, minus
the State Council's public holidays (法定节假日), plus the make-up working weekends (调休上班).

The schedule of each year is data. It comes from the `chinesecalendar` package, and an
operator's file for a year (`<year>.yaml` in `rules/calendar/` or in the directory named by
$IPSS_CALENDAR_DIR, the latter winning, written by hand or by `ipss calendar import` from the
State Council's notice) replaces the package's data for that year: the State Council publishes
next year's schedule each November, before any package release may carry it.

A year that no source knows yet is provisional (暂定), never an error: its rest days are the
weekends and the statutory holidays the law itself fixes (`rules.holidays`); only the bridging
days and make-up weekends of the coming notice are unknown. `provisional_years` says which
provisional years a deadline rests on, so that it is shown as such and nothing adverse to a party
is decided on it.

Counting (民法典 art. 201–203; 行政处罚法 art. 85):
- the day of the event is not counted: n working days after `start` is the n-th working day
  following it;
- a period in calendar days, months or years whose last day is a rest day ends on the next
  working day (unless the period says `roll_forward: false`);
- months and years end on the corresponding day of the last month, and on that month's last day
  when it has no such day: 2026-01-31 + 1 month = 2026-02-28, 2024-02-29 + 1 year = 2025-02-28.

The calendar is a plain value: `to_data()` / `from_data()` carry it into a Temporal workflow,
which then computes deadlines deterministically without touching files or packages."""

from __future__ import annotations

import calendar as gregorian
import importlib
import importlib.metadata
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import chinese_calendar
import yaml
from chinese_calendar import constants as chinese_calendar_data

from rules.holidays import law_in_force, statutory_holidays
from rules.statutes import Period, load_yaml

ONE_DAY = timedelta(days=1)
CALENDAR_DIR = Path(__file__).parent / "calendar"
CALENDAR_DIR_ENV = "IPSS_CALENDAR_DIR"

_DATE = r"\d{4}-\d{2}-\d{2}"
_RANGE = re.compile(rf"({_DATE})(?:\.\.({_DATE}))?")
_YEAR_FILE = re.compile(r"\d{4}")
_SCHEDULE_FIELDS = ("holidays", "workdays", "source")


class CalendarError(ValueError):
    """A schedule file or calendar data is invalid, or a date cannot be placed."""


class Pause(NamedTuple):
    """A stop of the clock (期限中止): the days after `stopped_on` up to and including
    `resumed_on` are not counted; counting restarts the day after `resumed_on`."""

    stopped_on: date
    resumed_on: date


@dataclass(frozen=True)
class YearSchedule:
    year: int
    holidays: frozenset[date]  # rest days by the State Council's notice, weekdays moved off included
    workdays: frozenset[date]  # weekend days worked instead (调休上班日)
    source: str
    # No notice for the year yet: the statutory holidays alone, bridging days unknown (暂定).
    provisional: bool = False


@dataclass(frozen=True)
class WorkingDayCalendar:
    schedules: dict[int, YearSchedule]

    @classmethod
    def load(cls, directories: Sequence[Path] | None = None) -> WorkingDayCalendar:
        """The package's years, each replaced by an operator's file where one exists. Later
        directories win; the default is `rules/calendar/`, then $IPSS_CALENDAR_DIR if set."""
        schedules = _package_schedules()
        for directory in _default_directories() if directories is None else directories:
            schedules.update(_directory_schedules(Path(directory)))
        return cls(schedules)

    @classmethod
    def from_data(cls, data: Any) -> WorkingDayCalendar:
        if not isinstance(data, Mapping) or set(data) != {"years"} or not isinstance(data["years"], Mapping):
            raise CalendarError("calendar data: expected {'years': {year: schedule}}")
        schedules = {}
        for key, raw in data["years"].items():
            if not _YEAR_FILE.fullmatch(str(key)):
                raise CalendarError(f"calendar data: {key!r} is not a year")
            schedules[int(key)] = _schedule(raw, int(key), f"calendar data for {key}", origin=None)
        return cls(schedules)

    def to_data(self) -> dict[str, Any]:
        return {"years": {str(year): {"holidays": sorted(d.isoformat() for d in s.holidays),
                                      "workdays": sorted(d.isoformat() for d in s.workdays),
                                      "source": s.source}
                          for year, s in sorted(self.schedules.items())}}

    @property
    def years(self) -> list[int]:
        """The years with an official schedule; any other year is provisional."""
        return sorted(self.schedules)

    def is_provisional(self, year: int) -> bool:
        return year not in self.schedules

    def provisional_years(self, start: date, period: Period, due: date) -> tuple[int, ...]:
        """The provisional years whose working days decided `due`, the deadline of `period`
        counted from `start`: every year counted through for working days, the year of the last
        day's roll to a working day for the other units, none where nothing is rolled."""
        start, due = _plain_date(start), _plain_date(due)
        if period.unit == "working_days":
            first, last = min(start, due), max(start, due)
        elif period.roll_forward:
            first = last = due
            while first > start and not self.is_working_day(first - ONE_DAY):
                first -= ONE_DAY  # the rest days the end was rolled over
        else:
            return ()
        return tuple(year for year in range(first.year, last.year + 1) if self.is_provisional(year))

    def covering(self, first_year: int, last_year: int) -> WorkingDayCalendar:
        """The same calendar cut to the years it knows between these two, to keep workflow
        payloads small; the years it leaves out count as provisional."""
        return WorkingDayCalendar({y: s for y, s in self.schedules.items() if first_year <= y <= last_year})

    def is_working_day(self, day: date) -> bool:
        schedule = self._schedule(_plain_date(day).year)
        if day in schedule.workdays:
            return True
        return day.weekday() < 5 and day not in schedule.holidays

    def next_working_day(self, day: date) -> date:
        """`day` itself when it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += ONE_DAY
        return day

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (which is not counted), or for negative n the
        |n|-th working day before it; `start` itself for 0."""
        step = ONE_DAY if n >= 0 else -ONE_DAY
        day, left = _plain_date(start), abs(n)
        while left:
            day += step
            if self.is_working_day(day):
                left -= 1
        return day

    def working_days_between(self, a: date, b: date) -> int:
        """Working days after `a` up to and including `b` (negative when b is before a), so that
        add_working_days(a, working_days_between(a, b)) == b for a working day b."""
        a, b = _plain_date(a), _plain_date(b)
        if b < a:
            return -self.working_days_between(b, a)
        return sum(self.is_working_day(a + ONE_DAY * k) for k in range(1, (b - a).days + 1))

    def calendar_deadline(self, start: date, n: int, roll_forward: bool = True) -> date:
        """`start` + n calendar days; on a rest day, the next working day."""
        if n < 0:
            raise ValueError(f"a period of {n} calendar days runs backwards")
        return self._rolled(_plain_date(start) + ONE_DAY * n, roll_forward)

    def add_months(self, start: date, n: int, roll_forward: bool = True) -> date:
        """The corresponding day n months after `start`, or that month's last day when it has no
        such day (Jan 31 + 1 month = Feb 28/29); on a rest day, the next working day."""
        return self._rolled(_shift_months(_plain_date(start), n), roll_forward)

    def add_years(self, start: date, n: int, roll_forward: bool = True) -> date:
        return self.add_months(start, 12 * n, roll_forward)

    def deadline(self, start: date, period: Period, extra: int = 0, pauses: Iterable[Pause] = ()) -> date:
        """The last day of `period` counted from the event on `start`, lengthened by `extra` of
        its unit (the extensions granted, see Period.extension_length) and by the days of
        `pauses`. A period that counts `before` gives the latest day X ahead of the event on
        `start` such that the period's working days after X end on or before `start`."""
        pauses = _pauses(pauses)
        length = _length(period, extra)
        start = _plain_date(start)
        if period.counts == "before":
            if pauses:
                raise ValueError(f"{period.id} counts back from an event; a pause does not apply to it")
            while not self.is_working_day(start):  # a rest day ends no period: count from the last working day
                start -= ONE_DAY
            return self.add_working_days(start, -length)
        if period.unit == "working_days":
            return self._count(start, length, pauses, self.is_working_day)
        days = _calendar_days(start, period.unit, length)
        return self._rolled(self._count(start, days, pauses, _every_day), period.roll_forward)

    def warning_date(self, start: date, period: Period, percent: int, extra: int = 0,
                     pauses: Iterable[Pause] = ()) -> date:
        """The day on which `percent` of the period's days (rounded down, at least 1) have
        elapsed, counted in the period's unit (months and years as their calendar days). It marks
        elapsed time, so it is not rolled to a working day; it is never after the deadline."""
        if not 0 < percent <= 100:
            raise ValueError(f"a warning at {percent} % of a period is not within (0, 100]")
        if period.counts == "before":
            raise ValueError(f"{period.id} counts back from an event; it has no elapsed share")
        pauses = _pauses(pauses)
        length = _length(period, extra)
        start = _plain_date(start)
        if period.unit == "working_days":
            return self._count(start, max(1, length * percent // 100), pauses, self.is_working_day)
        days = _calendar_days(start, period.unit, length)
        return self._count(start, max(1, days * percent // 100), pauses, _every_day)

    def _schedule(self, year: int) -> YearSchedule:
        return self.schedules.get(year) or provisional_schedule(year)

    def _rolled(self, day: date, roll_forward: bool) -> date:
        return self.next_working_day(day) if roll_forward else day

    @staticmethod
    def _count(start: date, n: int, pauses: Sequence[Pause], counts: Callable[[date], bool]) -> date:
        day = start
        while n:
            day += ONE_DAY
            if not any(p.stopped_on < day <= p.resumed_on for p in pauses) and counts(day):
                n -= 1
        return day


@lru_cache(maxsize=64)
def provisional_schedule(year: int) -> YearSchedule:
    """A year without the State Council's notice: its statutory holidays by law, no make-up days."""
    days = frozenset(day for festival in statutory_holidays(year).values() for day in festival if day.year == year)
    return YearSchedule(year, days, frozenset(), f"暂定：{law_in_force(year).source}，{year}年放假安排尚未发布",
                        provisional=True)


def _every_day(_: date) -> bool:
    return True


def _plain_date(value: date) -> date:
    # A datetime compares unequal to the date it falls on, so it would miss every holiday.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected a date (China time), got {value!r}")
    return value


def _length(period: Period, extra: int) -> int:
    if extra < 0:
        raise ValueError(f"{period.id}: an extension of {extra} shortens the period")
    return period.length + extra


def _pauses(pauses: Iterable[Pause]) -> tuple[Pause, ...]:
    found = tuple(Pause(_plain_date(p[0]), _plain_date(p[1])) for p in pauses)
    for pause in found:
        if pause.resumed_on < pause.stopped_on:
            raise ValueError(f"a pause resumed on {pause.resumed_on} before it stopped on {pause.stopped_on}")
    return found


def _shift_months(start: date, n: int) -> date:
    years, month_index = divmod(start.month - 1 + n, 12)
    year, month = start.year + years, month_index + 1
    return date(year, month, min(start.day, gregorian.monthrange(year, month)[1]))


def _calendar_days(start: date, unit: str, length: int) -> int:
    if unit == "calendar_days":
        return length
    return (_shift_months(start, length * (12 if unit == "years" else 1)) - start).days


def _default_directories() -> list[Path]:
    directories = [CALENDAR_DIR] if CALENDAR_DIR.is_dir() else []
    if os.environ.get(CALENDAR_DIR_ENV):
        directories.append(Path(os.environ[CALENDAR_DIR_ENV]))
    return directories


def _package_schedules() -> dict[int, YearSchedule]:
    """The package's years; a release installed while the suite runs is read at the next load."""
    return dict(_package_release(importlib.metadata.version("chinesecalendar")))


@lru_cache(maxsize=2)
def _package_release(version: str) -> dict[int, YearSchedule]:
    data = chinese_calendar_data if version == chinese_calendar.__version__ else importlib.reload(
        chinese_calendar_data)
    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for day in data.holidays:
        holidays.setdefault(day.year, set()).add(day)
    for day in data.workdays:
        workdays.setdefault(day.year, set()).add(day)
    source = f"chinesecalendar {version}"
    return {year: YearSchedule(year, frozenset(days), frozenset(workdays.get(year, ())), source)
            for year, days in holidays.items()}


def _directory_schedules(directory: Path) -> dict[int, YearSchedule]:
    if not directory.is_dir():
        raise CalendarError(f"calendar directory {directory} does not exist")
    found: dict[int, YearSchedule] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".yaml", ".yml"):
            continue
        if not _YEAR_FILE.fullmatch(path.stem):
            raise CalendarError(f"{path}: a schedule file is named after its year, e.g. 2027.yaml")
        year = int(path.stem)
        if year in found:
            raise CalendarError(f"{path}: a second schedule for {year} in {directory}")
        try:
            raw = load_yaml(path)
        except (OSError, yaml.YAMLError) as error:
            raise CalendarError(f"{path}: {error}") from error
        found[year] = _schedule(raw, year, str(path), origin=str(path))
    return found


def _schedule(raw: Any, year: int, where: str, origin: str | None) -> YearSchedule:
    """One year's schedule; `origin` (a file's path) is added to the source it declares."""
    if not isinstance(raw, Mapping):
        raise CalendarError(f"{where}: expected a mapping with holidays and workdays")
    unknown = sorted(str(key) for key in raw if key not in _SCHEDULE_FIELDS)
    if unknown:
        raise CalendarError(f"{where}: unknown field {', '.join(unknown)} (known: {', '.join(_SCHEDULE_FIELDS)})")
    for key in ("holidays", "workdays"):
        if not isinstance(raw.get(key), list):
            raise CalendarError(f"{where}: {key} must be a list of dates (an empty list if none)")
    holidays, workdays = (_days(raw[key], year, f"{where}: {key}") for key in ("holidays", "workdays"))
    if not holidays:
        raise CalendarError(f"{where}: no holidays; every year has the statutory ones")
    weekdays = sorted(d.isoformat() for d in workdays if d.weekday() < 5)
    if weekdays:
        raise CalendarError(f"{where}: workdays lists make-up weekend days; {', '.join(weekdays)} is a weekday")
    both = sorted(d.isoformat() for d in holidays & workdays)
    if both:
        raise CalendarError(f"{where}: {', '.join(both)} is both a holiday and a workday")
    declared = raw.get("source")
    if declared is not None and (not isinstance(declared, str) or not declared.strip()):
        raise CalendarError(f"{where}: source must be text naming the notice")
    source = " — ".join(part for part in (declared, origin) if part)
    if not source:
        raise CalendarError(f"{where}: source must name where the schedule comes from")
    return YearSchedule(year, frozenset(holidays), frozenset(workdays), source)


def _days(items: list, year: int, where: str) -> set[date]:
    days: set[date] = set()
    for item in items:
        first, last = _bounds(item, where)
        if first > last:
            raise CalendarError(f"{where}: range {item!r} ends before it starts")
        if first.year != year or last.year != year:
            raise CalendarError(f"{where}: {item!r} is not in {year}")
        days.update(first + ONE_DAY * k for k in range((last - first).days + 1))
    return days


def _bounds(item: Any, where: str) -> tuple[date, date]:
    if isinstance(item, date) and not isinstance(item, datetime):
        return item, item
    match = _RANGE.fullmatch(item.strip()) if isinstance(item, str) else None
    if match:
        try:
            first = date.fromisoformat(match[1])
            return first, date.fromisoformat(match[2]) if match[2] else first
        except ValueError:
            pass
    raise CalendarError(f"{where}: {item!r} is neither a date YYYY-MM-DD nor a range YYYY-MM-DD..YYYY-MM-DD")
