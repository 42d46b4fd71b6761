"""The legal clock on every date: cases that start on the real current date and run into a year
whose holiday schedule the State Council has not published (暂定), on the time-skipping server and
on the dev server, and what happens when that schedule is loaded midway.

Which year is provisional must not depend on the day the tests run, nor on the chinesecalendar
release installed: the worker here reads the package's schedules only for the years before the
one in which a case opened today is due (today + 90 days), so that year is provisional on every
date, as next year is each December. `Schedules.publish` then plays the State Council's notice."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import grpc
import pytest
from temporalio.worker import Replayer

from contracts import search_attributes
from contracts.case import STATE_QUERY, CaseView
from contracts.provisional import SCHEDULE_PUBLISHED_SIGNAL, SchedulePublished
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.registry.v1 import registry_pb2 as rpb
from rules import Rules, WorkingDayCalendar, YearSchedule
from rules.workdays import provisional_schedule
from suite import clock
from tests.conftest import metadata, token
from tests.test_case_procedure import HANDLER, SUPERVISOR, Court, convened, deadline
from tests.test_complaints_intake import new_agency, registry_api, replica_with_worker, uid  # noqa: F401
from workflows.activities.periods import PeriodActivities
from workflows.calendar_watch import CalendarWatch
from workflows.worker import WORKFLOWS

RULES = Rules.load()
FINE = 50000  # below the 100,000 CNY that opens a hearing for an organisation


class Schedules:
    """The worker's calendar source: the package's years before `provisional_from`, and the
    schedules a test publishes."""

    def __init__(self, provisional_from: int):
        self.provisional_from = provisional_from
        self._package = WorkingDayCalendar.load(directories=[])
        self._published: dict[int, YearSchedule] = {}

    def calendar(self) -> WorkingDayCalendar:
        known = {y: s for y, s in self._package.schedules.items() if y < self.provisional_from}
        return WorkingDayCalendar({**known, **self._published})

    def publish(self, year: int, extra_rest_days: tuple[date, ...] = ()) -> None:
        """The State Council's notice for `year`: its statutory holidays, plus (made up for the test)
        the given weekdays as bridging rest days."""
        statutory = provisional_schedule(year).holidays
        self._published[year] = YearSchedule(year, statutory | frozenset(extra_rest_days), frozenset(),
                                             f"test notice for {year}")


def first_provisional_year(today: date) -> int:
    return (today + timedelta(days=RULES.periods["decide_ordinary_case"].length)).year


def plan(calendar: WorkingDayCalendar, period_id: str, start: date) -> tuple[str, bool]:
    period = RULES.periods[period_id]
    due = calendar.deadline(start, period)
    return due.isoformat(), bool(calendar.provisional_years(start, period, due))


# ---- on the time-skipping server ---------------------------------------------------------------

class ProvisionalCourt(Court):
    schedules: Schedules
    periods: PeriodActivities

    async def report_today(self, agency) -> cpb.FileReportResponse:
        occurred = (self.legal.day - timedelta(days=30)).isoformat()
        return await self.complaints.FileReport(cpb.FileReportRequest(
            idempotency_key=uuid.uuid4().hex, source=cpb.REPORT_SOURCE_PUBLIC,
            reporter=cpb.Reporter(real_name=True, name="张三", phone="13800138000"),
            agency=cpb.ReportedAgency(credit_code=agency.credit_code),
            category=cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING,
            description="该机构在网站上承诺专利授权率百分之百，与事实不符。", occurred_on=occurred),
            metadata=metadata("citizen"))

    async def to_prior_notice(self) -> str:
        filed = await self.report_today(await self.agency())
        await self.act("OpenCase", filed.case_id, reason="线索属实")
        await self.act("ProposePenalty", filed.case_id, penalty=cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=FINE),
                       reason="虚假宣传，证据确凿")
        return filed.case_id

    async def to_service(self) -> str:
        case_id = await self.to_prior_notice()
        await self.act("RecordStatement", case_id, reason="当事人书面陈述，称已整改")
        await self.act("SubmitDecision", case_id, penalty=cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=FINE),
                       reason="维持告知内容")
        await self.act("ApproveDecision", case_id, actor=SUPERVISOR)
        await self.act("RecordService", case_id, party_present=True)
        return case_id

    def provisional_from(self, year: int) -> None:
        self.schedules.provisional_from = year
        self.periods.reload()

    async def provisional_years(self, case_id: str) -> list[str]:
        described = await self.env.client.get_workflow_handle(case_id).describe()
        return list(described.typed_search_attributes.get(search_attributes.PROVISIONAL_YEARS) or [])

    async def publish(self, year: int, case_ids: list[str], extra_rest_days: tuple[date, ...] = ()) -> None:
        """The notice is loaded: the worker reads its calendar again and the cases are told (the
        watcher's signal, sent here directly: this server has no visibility queries)."""
        self.schedules.publish(year, extra_rest_days)
        assert self.periods.reload() == [year]
        for case_id in case_ids:
            await self.env.client.get_workflow_handle(case_id).signal(SCHEDULE_PUBLISHED_SIGNAL,
                                                                      SchedulePublished([year]))


@pytest.fixture(scope="module")
async def court(registry):
    schedules = Schedules(first_provisional_year(clock.today()))
    periods = PeriodActivities(schedules.calendar)
    async with convened(registry, ProvisionalCourt, clock.today(), f"legal-clock-{uuid.uuid4().hex[:8]}",
                        periods) as court:
        court.schedules, court.periods = schedules, periods
        yield court


async def test_a_report_filed_today_reaches_a_published_decision_on_provisional_dates(court: ProvisionalCourt):
    today = clock.today()
    court.provisional_from(first_provisional_year(today))
    await court.start_on(today.isoformat())
    calendar = court.schedules.calendar()
    agency = await court.agency()
    filed = await court.report_today(agency)
    view = await court.state(filed.case_id)
    verify = deadline(view, "verify_and_open")
    assert (verify.due_on, verify.provisional) == plan(calendar, "verify_and_open", today)

    case = await court.act("OpenCase", filed.case_id, reason="线索属实")
    assert case.summary.stage == cpb.CASE_STAGE_INVESTIGATION
    view = await court.state(filed.case_id)
    decide = deadline(view, "decide_ordinary_case")
    assert (decide.due_on, decide.provisional) == (plan(calendar, "decide_ordinary_case", today)[0], True)
    assert court.schedules.provisional_from in view.provisional_years
    assert str(court.schedules.provisional_from) in await court.provisional_years(filed.case_id)

    penalty = cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=FINE)
    await court.act("ProposePenalty", filed.case_id, penalty=penalty, reason="虚假宣传，证据确凿")
    await court.act("RecordStatement", filed.case_id, reason="当事人书面陈述")
    await court.act("SubmitDecision", filed.case_id, penalty=penalty, reason="维持告知内容")
    case = await court.act("ApproveDecision", filed.case_id, actor=SUPERVISOR)
    assert case.summary.stage == cpb.CASE_STAGE_DECIDED
    assert deadline(case, "publish_penalty").state == "met"
    found = await court.registry.LookupAgencyPublic(rpb.LookupAgencyPublicRequest(query=agency.credit_code))
    [published] = found.agencies[0].penalties
    assert (published.fine_cny, published.decided_on, published.publicity_ends_on) == (
        FINE, today.isoformat(), plan(calendar, "publicity_standard", today)[0])

    case = await court.act("RecordService", filed.case_id, party_present=True)
    view = await court.state(filed.case_id)
    assert deadline(view, "litigation_window").provisional  # six months on: into the provisional year
    case = await court.act("RecordPayment", filed.case_id, amount_cny=FINE)
    assert case.summary.status == "paid"
    refusal = await court.refused("CloseCase", filed.case_id)
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION  # the review windows still run
    history = await court.env.client.get_workflow_handle(filed.case_id).fetch_history()
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def test_party_windows_wait_for_the_schedule_and_dates_move_when_it_is_published(court: ProvisionalCourt):
    # The last days of last year, with this year's schedule unpublished: the registry takes no
    # decision dated after the real today.
    year = clock.today().year
    court.provisional_from(year)
    start = date(year - 1, 12, 30)
    await court.start_on(start.isoformat())
    calendar = court.schedules.calendar()
    paying = await court.to_service()  # served on 12-30: the fine is due in January
    speaking = await court.to_prior_notice()  # the statement window ends in January
    pay_due, pay_provisional = plan(calendar, "pay_fine", start)
    statement_due, _ = plan(calendar, "statement_and_defence", start)
    assert pay_provisional and date.fromisoformat(pay_due).year == year
    assert deadline(await court.state(speaking), "statement_and_defence").provisional

    await court.goto((max(date.fromisoformat(pay_due), date.fromisoformat(statement_due))
                      + timedelta(days=3)).isoformat())
    paying_view, speaking_view = await court.state(paying), await court.state(speaking)
    assert deadline(paying_view, "pay_fine").awaiting_schedule
    assert paying_view.surcharge_cny == 0  # no lateness on a provisional day
    window = deadline(speaking_view, "statement_and_defence")
    assert window.awaiting_schedule and window.state == "running"
    assert any(t.action == "awaiting_schedule" for t in speaking_view.timeline)
    refusal = await court.refused("SubmitDecision", speaking, penalty=cpb.Penalty(kind=cpb.PENALTY_KIND_FINE,
                                                                                    fine_cny=FINE), reason="决定")
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION and "暂定" in refusal.details()

    # The notice makes the payment's provisional last day a bridging rest day: it moves to the next
    # working day; the statement window, counted before it, stays.
    moved_from = date.fromisoformat(pay_due)
    await court.publish(year, [paying, speaking], extra_rest_days=(moved_from,))
    official = court.schedules.calendar()
    moved_to = official.next_working_day(moved_from)
    assert moved_to > moved_from

    async def retimed():
        views = await court.state(paying), await court.state(speaking)
        return views if not deadline(views[0], "pay_fine").provisional and not deadline(
            views[1], "statement_and_defence").awaiting_schedule else None
    paying_view, speaking_view = await eventually(retimed)
    pay = deadline(paying_view, "pay_fine")
    assert (pay.due_on, pay.provisional, pay.awaiting_schedule) == (moved_to.isoformat(), False, False)
    notes = [t.data for t in paying_view.timeline if t.action == "deadline_retimed"]
    assert {"period_id": "pay_fine", "before": moved_from.isoformat(), "after": moved_to.isoformat(),
            "years": str(year)} in notes
    days_late = (court.legal.day - moved_to).days
    assert paying_view.surcharge_cny == FINE * 3 * days_late // 100
    window = deadline(speaking_view, "statement_and_defence")
    assert (window.due_on, window.state, window.provisional) == (statement_due, "ended", False)
    retimed = [t.data["period_id"] for t in speaking_view.timeline if t.action == "deadline_retimed"]
    assert "statement_and_defence" not in retimed
    # Its verification, met long ago, counted through the new rest day: its record is corrected.
    assert "verify_and_open" in retimed
    assert str(year) not in await court.provisional_years(speaking)
    await court.act("SubmitDecision", speaking, penalty=cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=FINE),
                    reason="当事人逾期未陈述")
    for case_id in (paying, speaking):
        history = await court.env.client.get_workflow_handle(case_id).fetch_history()
        await Replayer(workflows=WORKFLOWS).replay_workflow(history)


async def eventually(probe, seconds: float = 15.0):
    deadline_at = asyncio.get_running_loop().time() + seconds
    while True:
        answer = await probe()
        if answer or asyncio.get_running_loop().time() > deadline_at:
            assert answer, "not reached in time"
            return answer
        await asyncio.sleep(0.1)


# ---- on the dev server, on the real date -------------------------------------------------------

@pytest.fixture
async def today_suite(registry, complaints):
    """The complaints service on the real legal date, a worker on its own task queue whose calendar
    leaves the year a case opened today is due in provisional, and the calendar watcher."""
    schedules = Schedules(first_provisional_year(clock.today()))
    periods = PeriodActivities(schedules.calendar)
    replica = replica_with_worker(registry, complaints, f"today-{uid()}", clock.LegalClock(), periods)
    async with replica as (address, api):
        yield address, api, schedules, CalendarWatch(complaints.temporal, periods)


def grpcurl(address: str, method: str, body: dict, bearer: str = "") -> dict:
    """As a person at a terminal: grpcurl over the server's reflection, printing JSON or failing."""
    command = [str(Path(sys.executable).with_name("grpcurl")), "-plaintext", "-d", json.dumps(body, ensure_ascii=False)]
    if bearer:
        command += ["-H", f"authorization: Bearer {bearer}"]
    done = subprocess.run([*command, address, f"ipss.complaints.v1.ComplaintsService/{method}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_the_grpcurl_walk_on_todays_date_opens_a_case_with_provisional_deadlines(today_suite, registry_api):
    address, _, schedules, _ = today_suite
    today = clock.today()
    agency = await new_agency(registry_api)
    filed = await asyncio.to_thread(grpcurl, address, "FileReport", {
        "idempotency_key": uid(), "source": "REPORT_SOURCE_PUBLIC",
        "reporter": {"real_name": True, "name": "李四", "phone": "13900139000"},
        "agency": {"credit_code": agency.credit_code}, "category": "VIOLATION_CATEGORY_FALSE_ADVERTISING",
        "description": "网站宣传“包授权”，与事实不符。", "occurred_on": (today - timedelta(days=20)).isoformat()},
        token("citizen"))
    assert filed["case_id"] and filed["tracking_code"] and filed["tracking_secret"], filed
    opened = await asyncio.to_thread(grpcurl, address, "OpenCase", {
        "idempotency_key": uid(), "case_id": filed["case_id"], "reason": "线索属实，立案调查"},
        token("handler", subject="handler-wang"))
    case = opened["case"]
    assert case["summary"]["stage"] == "CASE_STAGE_INVESTIGATION"
    decide = next(d for d in case["deadlines"] if d["period_id"] == "decide_ordinary_case")
    assert decide["due_on"] == plan(schedules.calendar(), "decide_ordinary_case", today)[0]


async def test_a_schedule_loaded_midway_retimes_running_cases_through_the_watcher(today_suite, registry_api,
                                                                                 complaints):
    address, api, schedules, watch = today_suite
    today = clock.today()
    year = schedules.provisional_from
    case_ids = []
    for extended in (False, True):
        agency = await new_agency(registry_api)
        filed = await api.FileReport(cpb.FileReportRequest(
            idempotency_key=uid(), source=cpb.REPORT_SOURCE_PUBLIC, reporter=cpb.Reporter(real_name=False),
            agency=cpb.ReportedAgency(credit_code=agency.credit_code),
            category=cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING, description="承诺授权率，与事实不符。",
            occurred_on=(today - timedelta(days=20)).isoformat()), metadata=metadata("citizen"))
        handler = metadata("handler", subject=HANDLER)
        # An anonymous filing's answer names no case (issue 15 item 3): the handler finds it in the queue.
        [queued] = (await api.ListCases(cpb.ListCasesRequest(agency_credit_code=agency.credit_code),
                                        metadata=handler)).cases
        case_id = queued.case_id
        await api.OpenCase(cpb.OpenCaseRequest(idempotency_key=uid(), case_id=case_id, reason="立案"),
                           metadata=handler)
        if extended:
            await api.RequestExtension(cpb.RequestExtensionRequest(
                idempotency_key=uid(), case_id=case_id, reason="案情复杂"), metadata=handler)
            await api.ApproveExtension(cpb.ApproveExtensionRequest(idempotency_key=uid(), case_id=case_id),
                                       metadata=metadata("supervisor", subject=SUPERVISOR))
        case_ids.append(case_id)
    handles = [complaints.temporal.get_workflow_handle(case_id) for case_id in case_ids]

    async def views():
        return [await h.query(STATE_QUERY, result_type=CaseView) for h in handles]
    before = [deadline(v, "decide_ordinary_case") for v in await views()]
    assert all(d.provisional for d in before) and before[0].due_on < before[1].due_on

    async def listed():
        query = f"ProvisionalYears = '{year}' AND ExecutionStatus = 'Running'"
        found = {w.id async for w in complaints.temporal.list_workflows(query)}
        return found if set(case_ids) <= found else None
    await eventually(listed)

    moved_from = date.fromisoformat(before[0].due_on)
    schedules.publish(moved_from.year, extra_rest_days=(moved_from,))
    assert await watch.once() >= 2
    moved_to = schedules.calendar().next_working_day(moved_from)

    async def retimed():
        found = await views()
        return found if not any(deadline(v, "decide_ordinary_case").provisional for v in found) else None
    first, second = await eventually(retimed)
    assert deadline(first, "decide_ordinary_case").due_on == moved_to.isoformat()
    assert any(t.data["after"] == moved_to.isoformat() for t in first.timeline if t.action == "deadline_retimed")
    assert deadline(second, "decide_ordinary_case").due_on == before[1].due_on  # a date that does not change
    assert not [t for t in second.timeline if t.action == "deadline_retimed"]
    record = await api.GetCase(cpb.GetCaseRequest(case_id=case_ids[0]), metadata=metadata("handler"))
    assert record.case.summary.next_deadline == moved_to.isoformat()


async def test_an_action_whose_service_refuses_half_way_leaves_the_case_as_it_was(court: ProvisionalCourt):
    """The registry takes no penalty dated after its own today: a decision approved on a later
    legal day fails at its credit record. The handler gets FAILED_PRECONDITION in Chinese, not
    INTERNAL, and the case is still awaiting approval, with nothing of the decision applied."""
    court.provisional_from(first_provisional_year(clock.today()))
    await court.start_on((clock.today() + timedelta(days=40)).isoformat())
    case_id = await court.to_prior_notice()
    await court.act("RecordStatement", case_id, reason="当事人书面陈述")
    await court.act("SubmitDecision", case_id, penalty=cpb.Penalty(kind=cpb.PENALTY_KIND_FINE, fine_cny=FINE),
                    reason="维持告知内容")
    refusal = await court.refused("ApproveDecision", case_id, actor=SUPERVISOR)
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "操作未生效" in refusal.details() and "Traceback" not in refusal.details()
    view = await court.state(case_id)
    assert (view.stage, view.status, view.outcome) == ("decision_approval", "awaiting_approval", "")
    assert not [d for d in view.deadlines if d.period_id in ("publish_penalty", "serve_absent_party")]
    assert "approve_decision" in view.allowed_actions
