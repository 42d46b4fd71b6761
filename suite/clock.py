"""Dates in China Standard Time (UTC+8 all year, no daylight saving), the time the law counts in."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


def now() -> datetime:
    return datetime.now(CHINA)


def today() -> date:
    return now().date()


class LegalClock:
    """Today on the legal calendar, and how many days the workflows' clock runs ahead of it. In
    production both are the wall clock (offset 0); an environment that replays procedures on past
    dates (training, tests) shifts them."""

    def __init__(self, offset_days: int = 0):
        self.offset_days = offset_days

    def today(self) -> date:
        return today() - timedelta(days=self.offset_days)
