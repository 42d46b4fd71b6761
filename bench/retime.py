"""Re-timing on the State Council's holiday schedule (节假日安排): how long after `ipss calendar
import` every running case whose deadline was provisional (暂定) has its dates again, beside how
long the same Temporal server takes to deliver as many bare signals.

    python -m bench.retime [--cases 10000] [--give-up-after 900] [--keep DIR]

Everything runs on this machine, each in its own process, on a fresh work directory: the Temporal
dev server (as `ipss up` runs it: state in a file, the suite's search attributes), the registry,
the complaints service and the suite's worker, on SQLite. The services run on a legal calendar
shifted to December 20 of the last year whose schedule is known, so that a report's verification
period (15 working days) reaches into the next year, which is provisional on any date the bench
runs. Citizens file `--cases` reports (each opens a case: one per agency and category); once every
case workflow lists the year in `ProvisionalYears`, the bench writes that year's notice in the
State Council's wording (the statutory holidays, with one bridging rest day inside the cases'
window) and imports it with the real command. The clock starts when the command returns and
stops when no workflow lists the year (the worker's calendar watch, every second here, signals
them; each re-computes its dates). A sample of case records is read back from the complaints
service to see the moved deadline.

The floor: on the same server, as many workflows of a type defined here, each waiting for one
signal, run by a worker in this process; the time from the first signal to the last completion,
sending as many signals at once as the watch does. That is signal delivery and one workflow task
each, the least re-timing can cost. The last line is one JSON object: `retime_s`,
`bare_signal_s`, `ratio` (the first over the second) and `missed` (cases still provisional when
the bench gave up)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import islice
from pathlib import Path
from typing import TypeVar

import grpc
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.intake import CATEGORIES, register_agencies, reports
from bench.processes import cpu_seconds, dev_server_pid, free_port, process, token_keys, wait_ready
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from rules import Rules, WorkingDayCalendar
from rules.holidays import statutory_holidays
from rules.workdays import CALENDAR_DIR
from suite import auth, clock, config, migrate
from suite.config import TEMPORAL_SQLITE_PRAGMAS
from suite.probes import healthy
from contracts import search_attributes
from workflows.calendar_watch import SIGNALS_IN_FLIGHT

BENCH = "retime"
BIN = Path(sys.executable).parent
TASK_QUEUE = "bench-retime"
BARE_QUEUE = "bench-retime-bare-signals"
PERIOD = "verify_and_open"
# December 20: the verification period's 15 working days cannot end in the same year.
LEGAL_MONTH_DAY = (12, 20)
FILING_CLIENTS = 16
FILING_ATTEMPTS = 3
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED)
# Visibility is asked at least this far apart, and at most about a hundred times over a wait: a
# count over 20,000 workflows costs the server some 30-40 ms of CPU, which would otherwise come
# out of what is measured.
POLL_SECONDS = 0.25
POLLS_PER_WAIT = 100
SAMPLE = 25
ORDINALS = "一 二 三 四 五 六 七 八 九 十".split()
WEEKDAYS = "一二三四五六日"
T = TypeVar("T")
R = TypeVar("R")


# ---- the legal dates --------------------------------------------------------------------------

@dataclass(frozen=True)
class Dates:
    """The legal day the services run on, the provisional year the cases' deadline rests on, that
    deadline as counted before the notice, and the notice's bridging rest day that moves it."""

    legal_today: date
    year: int
    due_before: date
    bridge: date

    @property
    def offset_days(self) -> int:
        """IPSS_LEGAL_OFFSET_DAYS: how far the legal calendar runs behind the wall clock."""
        return (clock.today() - self.legal_today).days


def plan_dates(calendar: WorkingDayCalendar) -> Dates:
    """Dates from the calendar the worker starts with, not from today's date: whatever the day the
    bench runs, the year after the last official one is provisional, and the bridging day is its
    first working day after New Year's Day, inside the verification period of a report filed on
    December 20."""
    legal_today = date(calendar.years[-1], *LEGAL_MONTH_DAY)
    year = legal_today.year + 1
    due = calendar.deadline(legal_today, Rules.load().periods[PERIOD])
    if due.year != year:
        raise RuntimeError(f"the {PERIOD} period from {legal_today} ends on {due}, not in provisional {year}")
    bridge = next(day for day in (date(year, 1, 1) + timedelta(days=k) for k in range(1, 15))
                  if calendar.is_working_day(day))
    if bridge > due:
        raise RuntimeError(f"no bridging day in {year} before the deadline {due}")
    return Dates(legal_today, year, due, bridge)


def notice_text(year: int, bridge: date) -> str:
    """The State Council's notice for `year` in its standard wording: one numbered item per
    festival with the days the law fixes, the New Year rest running on to `bridge` (a working day
    taken off between the holiday and a weekend, as notices do; no make-up Saturday here)."""
    festivals = statutory_holidays(year)
    *others, last = festivals
    lines = [f"国务院办公厅关于{year}年部分节假日安排的通知", f"国办发明电〔{year - 1}〕9号", "",
             f"经国务院批准，现将{year}年{'、'.join(others)}和{last}放假调休日期的具体安排通知如下。"]
    for ordinal, (name, days) in zip(ORDINALS, festivals.items()):
        rest = sorted(days)
        if name == "元旦":
            rest = [rest[0] + timedelta(days=k) for k in range((bridge - rest[0]).days + 1)]
        lines.append(f"{ordinal}、{name}：{'，'.join(rest_clauses(rest))}，共{len(rest)}天。")
    lines += ["节假日期间，各地区、各部门要妥善安排好值班和安全、保卫等工作，遇有重大突发事件，要按规定及时报告并妥善处置。",
              "国务院办公厅", f"{year - 1}年11月12日"]
    return "\n".join(lines) + "\n"


def rest_clauses(days: list[date]) -> list[str]:
    """Consecutive days as one clause each: 1月1日（周五）至4日（周一）放假."""
    runs: list[list[date]] = []
    for day in days:
        if runs and runs[-1][-1] + timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    clauses = []
    for run in runs:
        first, last = run[0], run[-1]
        text = day_text(first, with_month=True)
        if last != first:
            text += "至" + day_text(last, with_month=last.month != first.month)
        clauses.append(text + "放假")
    return clauses


def day_text(day: date, with_month: bool) -> str:
    return f"{f'{day.month}月' if with_month else ''}{day.day}日（周{WEEKDAYS[day.weekday()]}）"


def check_still_provisional(year: int, calendar_dir: Path) -> None:
    """The worker also reads the repository's rules/calendar/: a schedule for the year put there
    during the run (by hand, or `ipss calendar import` without --dir) would re-time the cases
    before the bench imports its own, and the figures would mean nothing."""
    if not WorkingDayCalendar.load([CALENDAR_DIR, calendar_dir]).is_provisional(year):
        raise RuntimeError(f"a {year} schedule appeared in {CALENDAR_DIR} during the run; the worker reads it too: "
                           f"run the bench again (it then takes the next year as provisional)")


def import_notice(text: str, year: int, calendar_dir: Path, workdir: Path) -> str:
    """`ipss calendar import` as an operator runs it; answers what it printed."""
    notice = workdir / f"国务院办公厅关于{year}年部分节假日安排的通知.txt"
    notice.write_text(text, encoding="utf-8")
    done = subprocess.run([str(BIN / "ipss"), "calendar", "import", str(notice), "--dir", str(calendar_dir)],
                          capture_output=True, text=True, timeout=60, cwd=config.REPO_ROOT)
    if done.returncode:
        raise RuntimeError(f"ipss calendar import failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


# ---- the suite's processes --------------------------------------------------------------------

def environment(workdir: Path, temporal_address: str, calendar_dir: Path, offset_days: int) -> dict[str, str]:
    """The settings every process shares, this one included (the bench's own calls read them)."""
    addresses = {name: f"127.0.0.1:{free_port()}" for name in config.SERVICES}
    env = {**token_keys(), "IPSS_VAR_DIR": str(workdir), "IPSS_BIND": "127.0.0.1",
           "IPSS_TEMPORAL_ADDRESS": temporal_address, "IPSS_TEMPORAL_NAMESPACE": "default",
           "IPSS_TEMPORAL_TASK_QUEUE": TASK_QUEUE, "IPSS_CALENDAR_DIR": str(calendar_dir),
           "IPSS_LEGAL_OFFSET_DAYS": str(offset_days), "IPSS_LOG_LEVEL": "warning"}
    for name, address in addresses.items():
        env[f"IPSS_{name.upper()}_ADDR"] = address
        env[f"IPSS_{name.upper()}_PORT"] = address.rsplit(":", 1)[1]
        env[f"IPSS_{name.upper()}_DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / f'{name}.db'}"
    return env


async def start_suite(stack: ExitStack, workdir: Path) -> dict[str, subprocess.Popen]:
    """The registry, the complaints service (both healthy) and the worker, watching the calendar
    every second so that the watch interval does not dominate."""
    for service in ("registry", "complaints"):
        migrate.upgrade(service, database_url=config.database_url(service))
    env = dict(os.environ)
    worker_env = dict(env, IPSS_CALENDAR_WATCH_SECONDS="1", IPSS_LOG_LEVEL="info")
    started = {name: stack.enter_context(process(name, [sys.executable, "-m", module], child_env, workdir))
               for name, module, child_env in (("registry", "services.registry", env),
                                               ("complaints", "services.complaints", env),
                                               ("worker", "workflows.worker", worker_env))}
    for name in ("registry", "complaints"):
        await wait_ready(f"the {name} service", started[name], functools.partial(
            healthy, config.service_address(name), f"ipss.{name}.v1.{name.capitalize()}Service"))
    return started


# ---- waiting ----------------------------------------------------------------------------------

async def count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def until(condition: Callable[[], Awaitable[bool]], seconds: float,
                children: Iterable[subprocess.Popen] = ()) -> bool:
    """Poll `condition` until it holds (True) or `seconds` pass (False), to within about 1 % of
    the time waited. A process of the suite that exited meanwhile is an error at once rather than
    a long wait."""
    began = time.monotonic()
    deadline = began + seconds
    while not await condition():
        for child in children:
            if child.poll() is not None:
                raise RuntimeError(f"{child.args[-1]} exited with {child.returncode}; see its log")
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(max(POLL_SECONDS, (time.monotonic() - began) / POLLS_PER_WAIT))
    return True


async def bounded(call: Callable[[T], Awaitable[R]], items: Iterable[T], at_once: int) -> list[R]:
    """`call` on every item, `at_once` at a time; each call is made only when a slot is free."""
    gate = asyncio.Semaphore(at_once)

    async def one(item: T) -> R:
        async with gate:
            return await call(item)
    return await asyncio.gather(*(one(item) for item in items))


# ---- the cases --------------------------------------------------------------------------------

async def file_reports(cases: int) -> list[str]:
    """`cases` reports by citizens, each opening its own case (a distinct agency and category,
    so none joins another), FILING_CLIENTS at a time; answers the case ids."""
    agencies = await register_agencies(cases // len(CATEGORIES) + 1)
    citizen = (("authorization", f"Bearer {auth.mint('citizen', 'bench-retime-citizen')}"),)
    async with grpc.aio.insecure_channel(config.service_address("complaints")) as channel:
        stub = cpb_grpc.ComplaintsServiceStub(channel)

        async def file(request: cpb.FileReportRequest) -> str:
            # A real-name reporter: the answer to an anonymous filing names no case (issue 15 item 3).
            request.reporter.CopyFrom(cpb.Reporter(real_name=True, name="张三", phone="13800138000"))
            for attempt in range(1, FILING_ATTEMPTS + 1):
                try:  # the same idempotency key: a retry never files twice
                    return (await stub.FileReport(request, metadata=citizen, timeout=30)).case_id
                except grpc.aio.AioRpcError as error:
                    if attempt == FILING_ATTEMPTS or error.code() not in RETRYABLE:
                        raise
        return await bounded(file, islice(reports(agencies), cases), FILING_CLIENTS)


async def sample_moved(case_ids: list[str], expected: date) -> tuple[int, int]:
    """(read, moved): case records in a sample whose verification deadline is now `expected`
    and no longer provisional, as a handler sees them."""
    handler = (("authorization", f"Bearer {auth.mint('handler', 'bench-retime-handler')}"),)
    moved = 0
    async with grpc.aio.insecure_channel(config.service_address("complaints")) as channel:
        stub = cpb_grpc.ComplaintsServiceStub(channel)
        for case_id in case_ids:
            case = (await stub.GetCase(cpb.GetCaseRequest(case_id=case_id), metadata=handler, timeout=10)).case
            moved += any(d.period_id == PERIOD and d.due_on == expected.isoformat() and not d.provisional
                         for d in case.deadlines)
    return len(case_ids), moved


# ---- the floor: bare signals ------------------------------------------------------------------

@workflow.defn(name="BenchSignalWaiter", sandboxed=False)
class SignalWaiter:
    """Waits for one signal, then completes: a signal's delivery and one workflow task."""

    # Runs that have had their first workflow task in this process: the bench signals only after
    # all have, so that no signal rides on a first task and each costs a task of its own.
    first_tasks = 0

    def __init__(self) -> None:
        self.signalled = False

    @workflow.run
    async def run(self) -> None:
        if not workflow.unsafe.is_replaying():
            SignalWaiter.first_tasks += 1
        await workflow.wait_condition(lambda: self.signalled)

    @workflow.signal(name="go")
    def go(self) -> None:
        self.signalled = True


@dataclass
class BareSignals:
    """What the floor measured."""

    seconds: float  # from the first signal until every waiter completed
    completed: int
    server_cpu_s: float
    bench_cpu_s: float  # this process sends the signals and runs the waiters' worker


async def bare_signals(client: Client, waiters: int, give_up_after: float, server_pid: int) -> BareSignals:
    ids = [f"bench-signal-{uuid.uuid4().hex}" for _ in range(waiters)]
    completed = "WorkflowType = 'BenchSignalWaiter' AND ExecutionStatus = 'Completed'"
    async with Worker(client, task_queue=BARE_QUEUE, workflows=[SignalWaiter]):
        await bounded(lambda workflow_id: client.start_workflow(
            SignalWaiter.run, id=workflow_id, task_queue=BARE_QUEUE, execution_timeout=timedelta(hours=1)),
            ids, SIGNALS_IN_FLIGHT)

        async def all_waiting() -> bool:
            return SignalWaiter.first_tasks >= waiters
        if not await until(all_waiting, give_up_after):
            raise RuntimeError(f"only {SignalWaiter.first_tasks} of {waiters} waiters ran their first task")
        await asyncio.sleep(1)  # their completions reach the server
        bench_before, server_before = time.process_time(), cpu_seconds(server_pid)
        started = time.perf_counter()
        await bounded(lambda workflow_id: client.get_workflow_handle(workflow_id).signal(SignalWaiter.go),
                      ids, SIGNALS_IN_FLIGHT)

        async def all_completed() -> bool:
            return await count(client, completed) >= waiters
        await until(all_completed, give_up_after)
        elapsed = time.perf_counter() - started
        return BareSignals(elapsed, await count(client, completed), cpu_seconds(server_pid) - server_before,
                           time.process_time() - bench_before)


# ---- the run ----------------------------------------------------------------------------------

def cpu_now(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_since(before: dict[str, float], pids: dict[str, int]) -> dict[str, float]:
    return {name: round(cpu_seconds(pid) - before[name], 1) for name, pid in pids.items()}


async def run(args: argparse.Namespace, workdir: Path) -> dict:
    calendar_dir = workdir / "calendar"
    calendar_dir.mkdir()
    dates = plan_dates(WorkingDayCalendar.load([CALENDAR_DIR, calendar_dir]))
    server = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"), dev_server_database_filename=str(workdir / "temporal.db"),
        dev_server_extra_args=list(TEMPORAL_SQLITE_PRAGMAS), search_attributes=search_attributes.ALL)
    try:
        os.environ.update(environment(workdir, server.client.service_client.config.target_host, calendar_dir,
                                      dates.offset_days))
        with ExitStack() as stack:
            children = await start_suite(stack, workdir)
            return await measure(args, server.client, dates, children, workdir)
    finally:
        await server.shutdown()


async def measure(args: argparse.Namespace, client: Client, dates: Dates, children: dict[str, subprocess.Popen],
                  workdir: Path) -> dict:
    pids = {"temporal": dev_server_pid(), "worker": children["worker"].pid, "complaints": children["complaints"].pid}
    provisional = f"ProvisionalYears = '{dates.year}'"
    print(f"{BENCH}: legal day {dates.legal_today} (offset {dates.offset_days} days); {PERIOD} due "
          f"{dates.due_before}, provisional on {dates.year}; filing {args.cases} reports", flush=True)
    started = time.perf_counter()
    case_ids = await file_reports(args.cases)
    filed_s = time.perf_counter() - started

    async def all_provisional() -> bool:
        check_still_provisional(dates.year, workdir / "calendar")
        return await count(client, provisional) >= args.cases
    if not await until(all_provisional, args.give_up_after, children.values()):
        raise RuntimeError(f"only {await count(client, provisional)} of {args.cases} cases list {dates.year} "
                           f"as provisional after {args.give_up_after:g} s")
    print(f"{BENCH}: {args.cases} cases filed in {filed_s:.1f} s, all provisional on {dates.year}", flush=True)

    check_still_provisional(dates.year, workdir / "calendar")
    cpu_before, bench_before = cpu_now(pids), time.process_time()
    imported = import_notice(notice_text(dates.year, dates.bridge), dates.year, workdir / "calendar", workdir)
    started = time.perf_counter()

    async def none_provisional() -> bool:
        return await count(client, provisional) == 0
    await until(none_provisional, args.give_up_after, children.values())
    retime_s = time.perf_counter() - started
    cpu = dict(cpu_since(cpu_before, pids), bench=round(time.process_time() - bench_before, 1))
    missed = await count(client, provisional)
    print(imported.rstrip(), flush=True)

    due_after = WorkingDayCalendar.load([CALENDAR_DIR, workdir / "calendar"]).deadline(
        dates.legal_today, Rules.load().periods[PERIOD])
    sampled, moved = await sample_moved(random.sample(case_ids, min(SAMPLE, len(case_ids))), due_after)

    bare = await bare_signals(client, args.cases, args.give_up_after, pids["temporal"])
    return {"bench": BENCH, "cases": args.cases, "retime_s": round(retime_s, 2),
            "bare_signal_s": round(bare.seconds, 2), "ratio": round(retime_s / bare.seconds, 3), "missed": missed,
            "filed_s": round(filed_s, 1),
            "year": dates.year, "legal_today": dates.legal_today.isoformat(), "bridge_day": dates.bridge.isoformat(),
            "due_before": dates.due_before.isoformat(), "due_after": due_after.isoformat(),
            "sampled": sampled, "sample_moved": moved, "retime_cpu_s": cpu,
            "bare_signal_cpu_s": {"temporal": round(bare.server_cpu_s, 1), "bench": round(bare.bench_cpu_s, 1)},
            "bare_completed": bare.completed}


def describe(result: dict) -> str:
    return (f"{BENCH}: {result['cases']} cases filed in {result['filed_s']} s; the {result['year']} schedule "
            f"(bridging day {result['bridge_day']}) moved {PERIOD} from {result['due_before']} to "
            f"{result['due_after']}; every case re-timed {result['retime_s']} s after the import "
            f"({result['missed']} missed; {result['sample_moved']} of {result['sampled']} sampled records show the "
            f"new deadline); {result['bare_completed']} bare signals took {result['bare_signal_s']} s on the same "
            f"server: ratio {result['ratio']}. CPU seconds while re-timing: {result['retime_cpu_s']}; "
            f"during the bare signals: {result['bare_signal_cpu_s']}")


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.retime", description=__doc__.split("\n\n")[0])
    options.add_argument("--cases", type=int, default=10000, help="running cases provisional on the next year")
    options.add_argument("--give-up-after", type=float, default=900, help="seconds each wait lasts at most")
    options.add_argument("--keep", type=Path, help="work in this new directory and keep it (databases, logs)")
    return options


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Stopped like Ctrl-C: the run is cancelled and every process it started is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True)
            workdir = args.keep.resolve()
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ipss-bench-retime-")))
        result = asyncio.run(run(args, workdir))
        # gRPC's asyncio channels that only the cycle collector frees would otherwise be freed
        # while the interpreter exits, which gRPC does not survive.
        gc.collect()
    print(describe(result), flush=True)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
