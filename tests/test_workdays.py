"""The working-day calendar: exact dates around real holidays, as chinesecalendar 1.11.0 records
the State Council's notices (2025 National Day + Mid-Autumn: 10-01..10-08 off, Sun 09-28 and
Sat 10-11 worked; 2026 Spring Festival: 02-15..02-23 off, Sat 02-14 and Sat 02-28 worked),
operator schedule files, provisional years (the statutory holidays alone, checked against every
official year), and the calendar as workflow data."""

from __future__ import annotations

import json
import re
import shutil
import sys
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from chinese_calendar import constants as package_data
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from rules import Pause, Rules, WorkingDayCalendar
from rules.holidays import law_in_force, statutory_holidays
from rules.workdays import CALENDAR_DIR, CALENDAR_DIR_ENV, CalendarError

D = date.fromisoformat
PACKAGE_YEARS = sorted({day.year for day in package_data.holidays})
FIRST_UNKNOWN = PACKAGE_YEARS[-1] + 1


@pytest.fixture(scope="module")
def calendar() -> WorkingDayCalendar:
    """The package's schedules alone, whatever an operator may have installed."""
    return WorkingDayCalendar.load(directories=[])


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules.load()


def schedule_file(directory: Path, year: int, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{year}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# A made-up schedule for a year no package will know, to show files supply unknown years.
YEAR_2099 = """source: test schedule
holidays: [2099-01-01, "2099-10-01..2099-10-07"]
workdays: [2099-10-10]
"""


def test_the_package_years_are_2004_to_2026_and_every_day_agrees_with_chinesecalendar(calendar):
    assert calendar.years == PACKAGE_YEARS == list(range(2004, 2027))
    day = D("2024-01-01")
    while day.year <= 2026:
        assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_2025_national_day_and_its_make_up_days(calendar):
    assert not any(calendar.is_working_day(D("2025-10-01") + timedelta(days=k)) for k in range(8))
    assert calendar.is_working_day(D("2025-09-28"))  # a Sunday worked
    assert calendar.is_working_day(D("2025-10-11"))  # a Saturday worked
    assert not calendar.is_working_day(D("2025-10-12"))  # an ordinary Sunday
    assert calendar.add_working_days(D("2025-10-10"), 1) == D("2025-10-11")


def test_fifteen_working_days_to_verify_a_lead_received_before_national_day(calendar, rules):
    # Fri 09-26 received; counted: 09-28 (Sun, worked), 09-29, 09-30, 10-09, 10-10, 10-11 (Sat,
    # worked), 10-13..10-17, 10-20..10-23.
    verify = rules.periods["verify_and_open"]
    assert (verify.length, verify.unit) == (15, "working_days")
    assert calendar.add_working_days(D("2025-09-26"), 15) == D("2025-10-23")
    assert calendar.deadline(D("2025-09-26"), verify) == D("2025-10-23")
    extra = verify.extension_length("supervisor")
    assert calendar.deadline(D("2025-09-26"), verify, extra=extra) == D("2025-11-13")


def test_appraisal_time_is_not_counted(calendar, rules):
    verify = rules.periods["verify_and_open"]
    assert "appraisal" in verify.suspended_by
    # Stopped Mon 10-13, resumed Thu 10-16: 10-14, 10-15, 10-16 do not count, so three more days.
    pause = Pause(D("2025-10-13"), D("2025-10-16"))
    assert calendar.deadline(D("2025-09-26"), verify, pauses=[pause]) == D("2025-10-28")
    # A pause after the period ended changes nothing.
    assert calendar.deadline(D("2025-09-26"), verify, pauses=[(D("2025-10-23"), D("2025-11-30"))]) == D("2025-10-23")
    # The remaining working days at the stop carry over from the resumption.
    remaining = calendar.working_days_between(D("2025-10-13"), D("2025-10-23"))
    assert calendar.add_working_days(D("2025-10-16"), remaining) == D("2025-10-28")


def test_2026_spring_festival(calendar):
    assert calendar.add_working_days(D("2026-02-13"), 1) == D("2026-02-14")  # Sat worked
    assert calendar.add_working_days(D("2026-02-14"), 1) == D("2026-02-24")  # 02-15..02-23 off
    assert calendar.add_working_days(D("2026-02-27"), 1) == D("2026-02-28")  # Sat worked
    assert calendar.working_days_between(D("2026-02-13"), D("2026-02-24")) == 2


def test_a_calendar_day_period_ending_on_a_rest_day_ends_on_the_next_working_day(calendar, rules):
    pay_fine = rules.periods["pay_fine"]
    assert (pay_fine.length, pay_fine.unit) == (15, "calendar_days")
    assert calendar.calendar_deadline(D("2026-03-06"), 15) == D("2026-03-23")  # Sat 03-21 -> Mon
    assert calendar.deadline(D("2026-03-06"), pay_fine) == D("2026-03-23")
    assert calendar.deadline(D("2026-02-05"), pay_fine) == D("2026-02-24")  # Fri 02-20 is a holiday
    assert calendar.calendar_deadline(D("2025-09-16"), 15) == D("2025-10-09")  # 10-01..10-08 off
    assert calendar.calendar_deadline(D("2025-09-26"), 15) == D("2025-10-11")  # a Saturday worked stays
    assert calendar.calendar_deadline(D("2026-03-06"), 15, roll_forward=False) == D("2026-03-21")


def test_deciding_an_ordinary_case(calendar, rules):
    decide = rules.periods["decide_ordinary_case"]
    opened = D("2026-01-05")
    assert calendar.deadline(opened, decide) == D("2026-04-07")  # 04-05 Sun, 04-04..04-06 off
    extra = decide.extension_length("supervisor")
    assert extra == 30
    assert calendar.deadline(opened, decide, extra=extra) == D("2026-05-06")  # 05-01..05-05 off
    # Appraisal from 02-01 to 02-10: nine days not counted, 04-05 + 9 = Tue 04-14.
    assert calendar.deadline(opened, decide, pauses=[Pause(D("2026-02-01"), D("2026-02-10"))]) == D("2026-04-14")


def test_months_end_on_the_corresponding_day_or_the_month_end(calendar, rules):
    assert calendar.add_months(D("2026-01-31"), 1) == D("2026-02-28")  # a Saturday worked
    assert calendar.add_months(D("2025-01-31"), 1, roll_forward=False) == D("2025-02-28")
    assert calendar.add_months(D("2024-01-31"), 1, roll_forward=False) == D("2024-02-29")
    assert calendar.add_years(D("2024-02-29"), 1, roll_forward=False) == D("2025-02-28")
    assert calendar.add_months(D("2025-03-31"), 1) == D("2025-04-30")
    assert calendar.add_months(D("2025-10-31"), 1) == D("2025-12-01")  # month end Sun 11-30 -> Mon
    litigation = rules.periods["litigation_window"]
    assert (litigation.length, litigation.unit) == (6, "months")
    assert calendar.deadline(D("2025-08-16"), litigation) == D("2026-02-24")  # 02-16 in Spring Festival


def test_publicity_measures_elapsed_time_and_needs_no_future_schedule(calendar, rules):
    standard = rules.periods["publicity_standard"]
    assert not standard.roll_forward
    assert calendar.deadline(D("2026-03-02"), standard) == D("2029-03-02")
    assert calendar.deadline(D("2026-08-31"), rules.periods["publicity_low"]) == D("2026-11-30")


def test_hearing_notice_counts_back_from_the_hearing(calendar, rules):
    notice = rules.periods["hearing_notice"]
    assert notice.counts == "before"
    # Back from Mon 10-13: 10-11 (Sat worked), 10-10, 10-09, 09-30, 09-29, 09-28 (Sun worked), 09-26.
    assert calendar.deadline(D("2025-10-13"), notice) == D("2025-09-26")
    assert calendar.add_working_days(D("2025-09-26"), 7) == D("2025-10-13")
    # A hearing on a holiday (10-08): seven working days must still fit before it.
    latest = calendar.deadline(D("2025-10-08"), notice)
    assert latest == D("2025-09-22")
    assert calendar.add_working_days(latest, 7) <= D("2025-10-08") < calendar.add_working_days(D("2025-09-23"), 7)
    with pytest.raises(ValueError, match="counts back"):
        calendar.deadline(D("2025-10-13"), notice, pauses=[Pause(D("2025-10-01"), D("2025-10-02"))])


def test_working_days_between_inverts_adding(calendar):
    assert calendar.working_days_between(D("2025-09-26"), D("2025-10-23")) == 15
    assert calendar.working_days_between(D("2025-10-23"), D("2025-09-26")) == -15
    assert calendar.working_days_between(D("2025-10-01"), D("2025-10-08")) == 0
    for start in (D("2025-01-20"), D("2025-09-26"), D("2026-02-13"), D("2026-09-24")):
        for n in (1, 5, 20, 45):
            end = calendar.add_working_days(start, n)
            assert calendar.working_days_between(start, end) == n
            assert calendar.add_working_days(end, -n) <= start < end


def test_the_warning_point_is_eighty_percent_of_the_days(calendar, rules):
    assert rules.warning_percent == 80
    verify, pay_fine = rules.periods["verify_and_open"], rules.periods["pay_fine"]
    # 15 WD * 80 % = 12 WD after 09-26: 10-20.
    assert calendar.warning_date(D("2025-09-26"), verify, rules.warning_percent) == D("2025-10-20")
    # 15 CD * 80 % = 12 CD: a holiday, not moved, before the deadline 02-24.
    assert calendar.warning_date(D("2026-02-05"), pay_fine, rules.warning_percent) == D("2026-02-17")
    one_day = replace(rules.periods["withdraw_publication"], length=1)
    assert calendar.warning_date(D("2026-03-06"), one_day, 80) == calendar.deadline(D("2026-03-06"), one_day)
    with pytest.raises(ValueError):
        calendar.warning_date(D("2026-03-06"), verify, 0)


@pytest.mark.parametrize("year", PACKAGE_YEARS)
def test_every_statutory_holiday_the_law_gives_is_a_rest_day_in_the_official_schedule(year):
    """Each version of 全国年节及纪念日放假办法 (1999, 2007, 2013, 2024) against the State Council's
    notices as chinesecalendar records them: lunar dates and the 清明 solar term included."""
    festivals = statutory_holidays(year)
    expected = {2004: 4, 2008: 7, 2014: 7, 2025: 7}
    assert len(festivals) == expected[max(y for y in expected if y <= year)]
    for name, days in festivals.items():
        for day in days:
            assert not chinese_calendar.is_workday(day), f"{name} {day} is a working day in the {year} schedule"


def test_the_2024_amendment_gives_four_days_of_spring_festival_and_two_of_labour_day():
    assert law_in_force(2025).effective_from == 2025 and law_in_force(2024).effective_from == 2014
    assert statutory_holidays(2026)["春节"] == tuple(D("2026-02-16") + timedelta(days=k) for k in range(4))
    assert statutory_holidays(2026)["劳动节"] == (D("2026-05-01"), D("2026-05-02"))
    assert statutory_holidays(2024)["春节"] == (D("2024-02-10"), D("2024-02-11"), D("2024-02-12"))  # 初一 to 初三
    assert statutory_holidays(2010)["春节"][0] == D("2010-02-13")  # 除夕, under the 2007 version
    # 2027: 除夕 02-05, 清明 04-05, 端午 06-09, 中秋 09-15 (lunar-python).
    assert statutory_holidays(2027) == {
        "元旦": (D("2027-01-01"),), "春节": tuple(D("2027-02-05") + timedelta(days=k) for k in range(4)),
        "清明节": (D("2027-04-05"),), "劳动节": (D("2027-05-01"), D("2027-05-02")), "端午节": (D("2027-06-09"),),
        "中秋节": (D("2027-09-15"),), "国庆节": (D("2027-10-01"), D("2027-10-02"), D("2027-10-03"))}


def test_a_year_no_source_knows_is_provisional_on_its_statutory_holidays(calendar, rules):
    assert calendar.is_provisional(FIRST_UNKNOWN) and not calendar.is_provisional(FIRST_UNKNOWN - 1)
    schedule = calendar._schedule(2027)
    assert schedule.provisional and "暂定" in schedule.source and not schedule.workdays
    assert not calendar.is_working_day(D("2027-02-08"))  # 初三, a Monday
    assert calendar.is_working_day(D("2027-02-09"))  # bridging days are what the notice will add
    assert not calendar.is_working_day(D("2027-10-01")) and calendar.is_working_day(D("2027-10-04"))
    # A case opened today: 90 calendar days end on 2027-03-04, provisional; 15 working days do not.
    decide, verify = rules.periods["decide_ordinary_case"], rules.periods["verify_and_open"]
    due = calendar.deadline(D("2026-12-04"), decide)
    assert due == D("2027-03-04") and calendar.provisional_years(D("2026-12-04"), decide, due) == (2027,)
    due = calendar.deadline(D("2026-12-04"), verify)
    assert due == D("2026-12-25") and calendar.provisional_years(D("2026-12-04"), verify, due) == ()
    # Working days counted through the provisional New Year: 2026-12-21 + 15 WD.
    due = calendar.deadline(D("2026-12-21"), verify)
    assert due == D("2027-01-12") and calendar.provisional_years(D("2026-12-21"), verify, due) == (2027,)
    # A calendar period that ends in 2026 after rolling over nothing rests on 2026 alone.
    pay = rules.periods["pay_fine"]
    assert calendar.provisional_years(D("2026-12-01"), pay, calendar.deadline(D("2026-12-01"), pay)) == ()
    # Counting back from an event in a provisional year: the hearing notice.
    notice = rules.periods["hearing_notice"]
    assert calendar.provisional_years(D("2027-01-15"), notice, calendar.deadline(D("2027-01-15"), notice)) == (2027,)


def test_an_operator_file_replaces_the_package_year(calendar, tmp_path):
    # A different (made-up) schedule for 2025: only 10-01..10-03 off and no make-up days.
    schedule_file(tmp_path, 2025, 'source: test\nholidays: ["2025-10-01..2025-10-03"]\nworkdays: []\n')
    operated = WorkingDayCalendar.load(directories=[tmp_path])
    assert operated.schedules[2025].source == f"test — {tmp_path / '2025.yaml'}"
    assert operated.is_working_day(D("2025-10-08")) and not calendar.is_working_day(D("2025-10-08"))
    assert not operated.is_working_day(D("2025-09-28")) and calendar.is_working_day(D("2025-09-28"))
    assert operated.is_working_day(D("2025-01-28"))  # the package's Spring Festival is gone too
    # 09-29, 09-30, 10-06..10-10, 10-13..10-17, 10-20..10-22.
    assert operated.add_working_days(D("2025-09-26"), 15) == D("2025-10-22")
    assert operated.schedules[2026] == calendar.schedules[2026]


def test_files_supply_unknown_years_and_the_operator_directory_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(CALENDAR_DIR_ENV, str(tmp_path / "operator"))
    schedule_file(tmp_path / "operator", 2099, YEAR_2099)
    calendar = WorkingDayCalendar.load()
    assert calendar.years[-1] == 2099
    assert calendar.add_working_days(D("2099-09-30"), 1) == D("2099-10-08")
    assert calendar.add_working_days(D("2099-10-09"), 1) == D("2099-10-10")  # Sat worked
    schedule_file(tmp_path / "other", 2099, YEAR_2099.replace("workdays: [2099-10-10]", "workdays: []"))
    later_wins = WorkingDayCalendar.load(directories=[tmp_path / "operator", tmp_path / "other"])
    assert later_wins.add_working_days(D("2099-10-09"), 1) == D("2099-10-12")


def test_the_readme_example_is_the_package_2026_schedule(calendar, tmp_path):
    readme = (CALENDAR_DIR / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", readme, re.S)[1]
    schedule_file(tmp_path, 2026, example)
    from_readme = WorkingDayCalendar.load(directories=[tmp_path]).schedules[2026]
    assert from_readme.workdays == calendar.schedules[2026].workdays
    assert from_readme.holidays == calendar.schedules[2026].holidays


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("2099.yaml", "holidays: [2099-01-01]\nworkdays: [2099-01-05]\n", "2099-01-05 is a weekday"),
    ("2099.yaml", "holidays: [2098-12-31]\nworkdays: []\n", "not in 2099"),
    ("2099.yaml", "holidays: [2099-01-03]\nworkdays: [2099-01-03]\n", "both a holiday and a workday"),
    ("2099.yaml", "holidays: []\nworkdays: []\n", "no holidays"),
    ("2099.yaml", "holidays: [2099-01-01]\n", "workdays must be a list"),
    ("2099.yaml", "holidays: [2099-01-01]\nworkdays: []\nrest: []\n", "unknown field rest"),
    ("2099.yaml", 'holidays: ["2099-10-07..2099-10-01"]\nworkdays: []\n', "ends before it starts"),
    ("2099.yaml", 'holidays: ["20991001"]\nworkdays: []\n', "neither a date"),
    ("2099.yaml", "holidays: [2099-01-01]\nworkdays: []\nholidays: [2099-01-02]\n", "given twice"),
    ("next.yaml", "holidays: [2099-01-01]\nworkdays: []\n", "named after its year"),
])
def test_bad_schedule_files_are_refused(tmp_path, name, text, problem):
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(CalendarError, match=re.escape(problem)):
        WorkingDayCalendar.load(directories=[tmp_path])


def test_a_missing_operator_directory_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(CALENDAR_DIR_ENV, str(tmp_path / "absent"))
    with pytest.raises(CalendarError, match="does not exist"):
        WorkingDayCalendar.load()


def test_the_calendar_travels_as_plain_data(calendar, rules):
    data = json.loads(json.dumps(calendar.to_data()))
    assert WorkingDayCalendar.from_data(data) == calendar
    carried = WorkingDayCalendar.from_data(json.loads(json.dumps(calendar.covering(2025, 2026).to_data())))
    assert carried.years == [2025, 2026]
    assert carried.deadline(D("2025-09-26"), rules.periods["verify_and_open"]) == D("2025-10-23")
    assert carried.is_provisional(2024) and not carried.is_working_day(D("2024-01-01"))
    with pytest.raises(CalendarError, match="weekday"):
        WorkingDayCalendar.from_data({"years": {"2099": {"holidays": ["2099-01-01"], "workdays": ["2099-01-05"],
                                                         "source": "x"}}})


def test_datetimes_and_backward_periods_are_refused(calendar):
    with pytest.raises(TypeError, match="expected a date"):
        calendar.is_working_day(datetime(2025, 10, 1, 9))
    with pytest.raises(ValueError, match="runs backwards"):
        calendar.calendar_deadline(D("2025-10-01"), -1)
    with pytest.raises(ValueError, match="before it stopped"):
        calendar.deadline(D("2025-09-26"), Rules.load().periods["pay_fine"],
                          pauses=[Pause(D("2025-10-05"), D("2025-10-01"))])


@workflow.defn(name="DeadlineFromCarriedData")
class DeadlineFromCarriedData:
    """Rules and calendar arrive as workflow input; imported inside the sandbox, not passed through."""

    @workflow.run
    async def run(self, carried: dict) -> list[str]:
        rules = Rules.from_data(carried["rules"])
        calendar = WorkingDayCalendar.from_data(carried["calendar"])
        start = date.fromisoformat(carried["start"])
        verify = rules.periods["verify_and_open"]
        return [calendar.deadline(start, verify).isoformat(),
                calendar.warning_date(start, verify, rules.warning_percent).isoformat()]


async def test_a_workflow_computes_deadlines_from_the_rules_and_calendar_it_carries(calendar, rules):
    server = shutil.which("temporal-test-server", path=str(Path(sys.executable).parent))
    assert server, f"temporal-test-server is not installed next to {sys.executable}"
    carried = {"rules": rules.to_data(), "calendar": calendar.covering(2025, 2026).to_data(), "start": "2025-09-26"}
    async with await WorkflowEnvironment.start_time_skipping(test_server_existing_path=server) as env:
        queue = f"calendar-test-{uuid.uuid4().hex[:8]}"
        async with Worker(env.client, task_queue=queue, workflows=[DeadlineFromCarriedData]):
            result = await env.client.execute_workflow(DeadlineFromCarriedData.run, carried,
                                                       id=f"deadline-{uuid.uuid4().hex}", task_queue=queue)
    assert result == ["2025-10-23", "2025-10-20"]
