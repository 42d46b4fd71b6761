"""The operator's page for the State Council's holiday notice (节假日安排导入): which years have an
official schedule and which are provisional (暂定), and the notice pasted as published, read and
shown before anything is written (预览), then written into the calendar directory (确认导入) that
the worker watches; the worker then re-times the running cases whose dates were provisional on
that year. The same reading and file as `ipss calendar import`, for an operator without a shell.

The confirmation posts the text again and reads it again: what is written never rests on the
preview, only on the text posted with the confirmation. Only operators and administrators reach
the page, because a year's schedule moves every deadline counted on it."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from console import i18n
from console.officers import officer
from console.web import Pages, language
from rules.notice import NoticeError, NoticeReading, read_notice, write_calendar_file
from rules.workdays import CALENDAR_DIR, CALENDAR_DIR_ENV, CalendarError, WorkingDayCalendar, provisional_schedule
from suite import clock

OPERATORS = frozenset({"operator", "admin"})
# A notice is one or two thousand characters: far more is not one, and is not read.
MAX_NOTICE_CHARS = 20_000
IMPORT = "import"
_YEAR = re.compile(r"\d{4}")


def calendar_directory() -> Path:
    """Where `ipss calendar import` writes too, and the worker's watcher reads: $IPSS_CALENDAR_DIR
    if set, else rules/calendar/."""
    return Path(os.environ.get(CALENDAR_DIR_ENV) or CALENDAR_DIR)


def year_row(calendar: WorkingDayCalendar, year: int) -> dict:
    """A year's state: official with the source of its schedule, or provisional with the law its
    statutory holidays come from (the bridging days and make-up weekends still unknown)."""
    provisional = calendar.is_provisional(year)
    schedule = provisional_schedule(year) if provisional else calendar.schedules[year]
    return dict(year=year, provisional=provisional, source=schedule.source)


def shown_years(calendar: WorkingDayCalendar, today: date) -> list[int]:
    """Last year, this year, next year and any later official one: the years a running case's
    deadlines can still fall in."""
    return sorted({today.year - 1, today.year, today.year + 1, *(y for y in calendar.years if y > today.year)})


def year_ranges(years: list[int]) -> str:
    """2004–2026: the official years at a glance, however many the package carries."""
    runs: list[list[int]] = []
    for year in years:
        if runs and runs[-1][1] + 1 == year:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return "、".join(str(first) if first == last else f"{first}–{last}" for first, last in runs)


def problem(heading: str, detail: str = "") -> dict:
    """An error as the console's errors_box shows it."""
    return dict(heading=heading, detail=detail, fields={})


def line_problem(lang: str, error: NoticeError) -> dict:
    """第N行：<line>：<reason>, in Chinese as the notice is: the operator finds the line in the text."""
    return problem(i18n.text(lang, "calendar.unreadable"), f"第{error.line_number}行：{error.line}：{error.reason}")


def imported_year(request: Request, calendar: WorkingDayCalendar) -> int | None:
    """The year just imported (?imported=YYYY after 确认导入), said only once it is official."""
    year = request.query_params.get("imported", "")
    return int(year) if _YEAR.fullmatch(year) and not calendar.is_provisional(int(year)) else None


def render(request: Request, pages: Pages, status_code: int = 200, notice: str = "",
           reading: NoticeReading | None = None, error: dict | None = None) -> Response:
    """The page: the years' state, the preview when there is a reading, the notice's form with the
    text kept. A calendar directory that does not load is shown, not a failed page: the operator
    is the one to mend it."""
    context = dict(years=[], official="", current=None, imported=None)
    try:
        calendar = WorkingDayCalendar.load()
    except CalendarError as broken:
        error = error or problem(i18n.text(language(request), "calendar.load_failed"), str(broken))
    else:
        context.update(years=[year_row(calendar, year) for year in shown_years(calendar, clock.today())],
                       official=year_ranges(calendar.years), imported=imported_year(request, calendar),
                       current=year_row(calendar, reading.year) if reading else None)
    return pages.render(request, "calendar.html", status_code, directory=calendar_directory(), notice=notice,
                        reading=reading, error=error, max_chars=MAX_NOTICE_CHARS, **context)


async def calendar_page(request: Request) -> Response:
    pages, _, _, refusal = officer(request, OPERATORS)
    return refusal or render(request, pages)


def read(lang: str, notice: str) -> tuple[NoticeReading | None, dict | None]:
    """The notice read, or why not: empty, too long, or the line it cannot read (NoticeError)."""
    if not notice.strip():
        return None, problem(i18n.text(lang, "calendar.empty"))
    if len(notice) > MAX_NOTICE_CHARS:
        return None, problem(i18n.text(lang, "calendar.too_long").format(chars=MAX_NOTICE_CHARS))
    try:
        return read_notice(notice), None
    except NoticeError as error:
        return None, line_problem(lang, error)


def write(lang: str, reading: NoticeReading, replace: bool) -> tuple[int, dict] | None:
    """Write the year's file; when it is not written, the status and why. A different file for the
    year stays unless the operator ticked 替换已有文件 (replace)."""
    directory = calendar_directory()
    try:
        write_calendar_file(reading, directory, replace=replace)
    except FileExistsError as error:
        if (directory / f"{reading.year}.yml").exists():  # a second schedule, to be removed by hand
            return 409, problem(i18n.text(lang, "calendar.write_failed"), str(error))
        return 409, problem(i18n.text(lang, "calendar.exists").format(year=reading.year))
    except (OSError, CalendarError) as error:
        return 500, problem(i18n.text(lang, "calendar.write_failed"), str(error))
    return None


async def calendar_post(request: Request) -> Response:
    """预览 (step=preview) reads the pasted notice and shows it; 确认导入 (step=import) reads the
    text it carries again and writes it. Both need the session's CSRF token."""
    pages, _, visitor, refusal = officer(request, OPERATORS)
    if refusal:
        return refusal
    lang = language(request)
    form = await request.form()
    # A browser posts line breaks as CRLF: the notice is kept as the CLI keeps it, with LF.
    notice = str(form.get("notice", "")).replace("\r\n", "\n")
    if not pages.csrf_ok(visitor, str(form.get("csrf", ""))):
        return render(request, pages, 403, notice=notice, error=problem(i18n.text(lang, "error.csrf")))
    reading, error = read(lang, notice)
    if error:
        return render(request, pages, 400, notice=notice, error=error)
    if form.get("step") != IMPORT:
        return render(request, pages, notice=notice, reading=reading)
    refused = write(lang, reading, replace=bool(form.get("replace")))
    if refused:
        status, error = refused
        return render(request, pages, status, notice=notice, reading=reading, error=error)
    return RedirectResponse(f"/calendar?imported={reading.year}", status_code=303)


def routes() -> list[Route]:
    return [
        Route("/calendar", calendar_page),
        Route("/calendar", calendar_post, methods=["POST"]),
    ]
