"""Dates in China Standard Time (UTC+8 all year, no daylight saving), the time the law counts in."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


def now() -> datetime:
    return datetime.now(CHINA)


def today() -> date:
    return now().date()
