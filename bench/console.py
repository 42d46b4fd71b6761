"""The console's main pages at a fixed request rate, with many cases in the system.

    python -m bench.console --cases 10000 [--agencies 2000] [--practitioners 10000] \\
        [--db sqlite|postgresql] [--qps 10] [--seconds 15] [--warmup 3] [--clients 8]

A fresh registry is seeded (services.registry.seed) and the complaints records are bulk-loaded
with `--cases` cases on its agencies, through the complaints store's tables: stages spread as an
office's are (most closed, many in verification or investigation, a few waiting for approval),
each case with its report (real-name ones with their reporter), its timeline, its stage changes
and its statutory deadlines, computed from the rules file and the working-day calendar from
dates counted back from today, so that the running ones fall due in the coming weeks. The
registry, the complaints service and the console (`python -m console`) each run as their own
process; the load generator sends, in an open loop at `--qps` per page, requests for the queue
(handlers of the whole country or of a province, with and without filters), case pages (any
case) and the public register (an agency by name prefix or credit code), timing each from when it
was due. The warm-up's requests are not counted.

Prints a line in words per page; the last line is one JSON object with each page's figures and,
at the top, the slowest page's p50_ms and p99_ms."""

from __future__ import annotations

import argparse
import base64
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy
from sqlalchemy import text

from bench.load import percentile
from bench.processes import free_port, process, token_keys, wait_ready
from bench.registry_lookup import fresh_database as registry_database
from console.web import SESSION_COOKIE
from rules import Rules, WorkingDayCalendar
from services.complaints import domain, store
from services.complaints.identities import ReporterIdentities
from services.registry import seed
from suite import auth, clock, db, migrate
from suite.probes import healthy, http_ready

BENCH = "console"
PAGES = ("queue", "case", "register")
REQUEST_TIMEOUT_SECONDS = 10.0
SAMPLE_AGENCIES = 2000
BATCH = 2000
CATEGORIES = ["abnormal_patent_filing", "bad_faith_trademark_filing", "unlicensed_practice", "certificate_lending",
              "improper_solicitation", "false_advertising", "client_secret_leak", "service_quality_failure",
              "low_price_competition", "false_material"]
# How an office's cases are spread over the stages (the share of each, in per cent).
STAGE_SHARE = {"verification": 15, "investigation": 25, "prior_notice": 7, "hearing": 2, "decision_approval": 5,
               "decided": 8, "closed": 38}
CLOSED_OUTCOMES = {"not_opened": 30, "fine": 25, "warning": 20, "no_penalty": 10, "suspension": 4,
                   "transferred": 6, "referred_to_association": 5}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂"


# ---- the cases -----------------------------------------------------------------------------------

@dataclass
class Agency:
    id: str
    name: str
    credit_code: str
    region_code: str
    kind: str


class CaseMaker:
    """Cases as the case workflow would have recorded them, on dates counted back from today."""

    def __init__(self, rng: random.Random, today: date, rules: Rules, calendar: WorkingDayCalendar,
                 identities: ReporterIdentities):
        self.rng, self.today, self.rules, self.calendar = rng, today, rules, calendar
        self.identities = identities  # seals reporters as the service does, under the key it is started with
        self.numbers: dict[str, int] = {}
        self.now = clock.now()

    def deadline(self, period_id: str, start: date, state: str) -> dict:
        period = self.rules.periods[period_id]
        due = self.calendar.deadline(start, period)
        warn = "" if period.counts == "before" else self.calendar.warning_date(
            start, period, self.rules.warning_percent).isoformat()
        if state == "auto":  # a running period that has passed is missed (an office duty) or over
            state = "running" if due >= self.today else "missed"
        return dict(period_id=period_id, due_on=due.isoformat(), warn_on=warn, legal_source=period.legal_source,
                    description=period.description.zh, state=state)

    def days_ago(self, low: int, high: int) -> date:
        return self.today - timedelta(days=self.rng.randint(low, high))

    def case(self, agency: Agency) -> dict:
        """One case's rows: the record, its report (and reporter), timeline and stage changes."""
        rng = self.rng
        stage = rng.choices(list(STAGE_SHARE), weights=list(STAGE_SHARE.values()))[0]
        outcome = rng.choices(list(CLOSED_OUTCOMES), weights=list(CLOSED_OUTCOMES.values()))[0] \
            if stage == "closed" else ""
        real_name = rng.random() < 0.6
        steps: list[tuple[str, date, str]] = []  # (stage entered, day, timeline action)
        deadlines: list[dict] = []
        fine = 0
        if stage == "verification":
            received = self.days_ago(0, 18)
            deadlines.append(self.deadline("verify_and_open", received, "auto"))
        else:
            if stage == "closed":
                received = self.days_ago(120, 320)
            elif stage in ("decided",):
                received = self.days_ago(100, 130)
            else:
                received = self.days_ago(70, 100)
            opened = received + timedelta(days=rng.randint(3, 14))
            deadlines.append(self.deadline("verify_and_open", received, "met" if rng.random() < 0.93 else "missed"))
            if outcome in ("not_opened", "transferred", "referred_to_association"):
                steps.append(("closed", opened, {"not_opened": "declined", "transferred": "transferred",
                                                 "referred_to_association": "referred"}[outcome]))
            else:
                steps.append(("investigation", opened, "opened"))
                if real_name:
                    deadlines.append(self.deadline("notify_reporter_of_opening", opened, "met"))
                decide_state = {"investigation": "auto", "prior_notice": "auto", "decision_approval": "auto",
                                "hearing": "paused"}.get(stage, "met")
                deadlines.append(self.deadline("decide_ordinary_case", opened, decide_state))
                if stage in ("prior_notice", "hearing"):
                    notice = self.days_ago(0, 6)
                    steps.append(("prior_notice", notice, "prior_notice_served"))
                    deadlines.append(self.deadline("statement_and_defence", notice, "auto"))
                    if stage == "hearing":
                        steps.append(("hearing", notice + timedelta(days=1), "hearing_requested"))
                elif stage in ("decision_approval", "decided", "closed") and outcome not in ("no_penalty",):
                    notice = opened + timedelta(days=rng.randint(20, 45))
                    steps.append(("prior_notice", notice, "prior_notice_served"))
                    deadlines.append(self.deadline("statement_and_defence", notice, "ended"))
                if stage == "decision_approval":
                    steps.append(("decision_approval", self.days_ago(0, 5), "decision_submitted"))
                elif stage in ("decided", "closed"):
                    decided = self.days_ago(0, 9) if stage == "decided" else opened + timedelta(
                        days=rng.randint(50, 85))
                    steps.append(("decision_approval", decided - timedelta(days=2), "decision_submitted"))
                    kind = outcome or rng.choice(("fine", "fine", "warning", "suspension"))
                    fine = rng.choice((5000, 10000, 20000, 30000, 50000)) if kind in ("fine", "suspension") else 0
                    if stage == "decided":
                        steps.append(("decided", decided, "decided"))
                        deadlines.append(self.deadline("serve_absent_party", decided, "auto"))
                        if kind != "warning":
                            deadlines.append(self.deadline("publish_penalty", decided, "auto"))
                    else:
                        steps.append(("closed" if kind == "no_penalty" else "decided", decided, "decided"))
                        if kind not in ("no_penalty", "warning"):
                            deadlines.append(self.deadline("publish_penalty", decided, "met"))
                        if kind != "no_penalty":
                            steps.append(("closed", decided + timedelta(days=rng.randint(70, 100)), "closed"))
        return self.rows(agency, stage, outcome, received, steps, deadlines, real_name, fine)

    def rows(self, agency: Agency, stage: str, outcome: str, received: date, steps, deadlines, real_name: bool,
             fine: int) -> dict:
        province = domain.province_of(agency.region_code)
        self.numbers[province] = number = self.numbers.get(province, 0) + 1
        case_id = domain.case_id(received.year, agency.region_code, number)
        running = [d for d in deadlines if d["state"] == "running"]
        upcoming = min(running, key=lambda d: d["due_on"], default=None)
        next_deadline = date.fromisoformat(upcoming["due_on"]) if upcoming else None
        category = self.rng.choice(CATEGORIES)
        allowed = ALLOWED[stage]
        case = dict(
            id=case_id, revision=len(steps) + 1, stage=stage, status=STATUS[stage], outcome=outcome,
            region_code=agency.region_code, agency_id=agency.id, agency_name=agency.name,
            agency_credit_code=agency.credit_code, agency_kind=agency.kind, category=category, source="public",
            source_reference="", occurred_on=received - timedelta(days=self.rng.randint(5, 200)), received_on=received,
            assignee=self.assignee(stage),
            next_deadline=next_deadline, next_deadline_period=upcoming["period_id"] if upcoming else "",
            due_sort=domain.due_sort_key(next_deadline), overdue=any(d["state"] == "missed" for d in deadlines)
            and stage != "closed", due_soon=bool(upcoming and upcoming["warn_on"] <= self.today.isoformat()),
            reporter_count=1 if real_name or self.rng.random() < 0.5 else 0, fine_cny=fine, surcharge_cny=0,
            rules_version=self.rules.version, deadlines=deadlines, allowed_actions=allowed,
            created_at=self.stamp(received), updated_at=self.now)
        reference = f"rp-{secrets.token_hex(10)}" if case["reporter_count"] else None
        reporter = None if reference is None else dict(
            reference=reference, case_id=case_id, real_name=real_name, created_at=case["created_at"],
            identity=self.identities.seal(reference, domain.ReporterIdentity(
                real_name, name=self.name() if real_name else "",
                phone=f"13{self.rng.randint(0, 999999999):09d}" if real_name else "")))
        code = domain.new_tracking_code()
        report = dict(case_id=case_id, tracking_code=code, secret_sha256=domain.secret_hash(secrets.token_hex(8)),
                      source="public", category=category,
                      description=f"该机构涉嫌{category}，举报人提供了网页截图和合同。编号 {case_id}",
                      occurred_on=case["occurred_on"], source_reference="", reporter_reference=reference,
                      joined_existing_case=False, filed_on=received, filed_at=case["created_at"])
        timeline = [dict(case_id=case_id, record_revision=1, position=0, revision=1, at=case["created_at"],
                         actor="system", action="received", detail=f"public report on {agency.name} ({category})",
                         internal=False)]
        changes = []
        for revision, (entered, day, action) in enumerate(steps, start=2):
            at = self.stamp(min(day, self.today))
            timeline.append(dict(case_id=case_id, record_revision=revision, position=0, revision=revision, at=at,
                                 actor=case["assignee"] or "handler-1", action=action, detail=f"{action} on {day}",
                                 internal=action not in ("opened", "decided", "closed", "declined")))
            changes.append(dict(case_id=case_id, revision=revision, stage=entered, entered_at=at))
        return dict(cases=[case], reporters=[reporter] if reporter else [], reports=[report],
                    timeline_entries=timeline, case_stage_changes=changes)

    def assignee(self, stage: str) -> str:
        """Half the cases in verification still wait to be assigned (分派)."""
        if stage == "verification" and self.rng.random() < 0.5:
            return ""
        return f"handler-{self.rng.randint(1, 40)}"

    def stamp(self, day: date) -> datetime:
        """A moment in office hours of a day."""
        return datetime.combine(day, datetime.min.time(), clock.CHINA) + timedelta(
            hours=self.rng.randint(9, 17), minutes=self.rng.randint(0, 59))

    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.choice(GIVEN) for _ in range(self.rng.randint(1, 2)))


STATUS = {"verification": "verifying", "investigation": "opened", "prior_notice": "prior_notice_served",
          "hearing": "hearing_scheduled", "decision_approval": "awaiting_approval", "decided": "decided",
          "closed": "closed"}
ALLOWED = {
    "verification": ["assign", "record_verification", "add_evidence", "open", "decline", "request_extension",
                     "suspend_clock", "transfer", "refer_to_association"],
    "investigation": ["assign", "add_evidence", "request_extension", "suspend_clock", "propose_penalty",
                      "submit_decision", "transfer", "refer_to_association"],
    "prior_notice": ["assign", "add_evidence", "request_extension", "suspend_clock", "record_statement"],
    "hearing": ["assign", "add_evidence", "record_hearing"],
    "decision_approval": ["assign", "approve_decision"],
    "decided": ["assign", "record_service", "record_review"],
    "closed": [],
}
TABLES = ("cases", "reporters", "reports", "timeline_entries", "case_stage_changes")


def load_cases(url: str, agencies: list[Agency], count: int, rng: random.Random, as_of: date,
               reporter_key: bytes) -> dict[str, int]:
    """Bulk-insert `count` cases, counted back from `as_of`, into the migrated complaints
    database at `url`."""
    maker = CaseMaker(rng, as_of, Rules.load(), WorkingDayCalendar.load(), ReporterIdentities(reporter_key))
    tables = {name: store.Base.metadata.tables[name] for name in TABLES}
    written = dict.fromkeys(TABLES, 0)
    engine = sqlalchemy.create_engine(db.sync_url(url))
    try:
        pending: dict[str, list[dict]] = {name: [] for name in TABLES}
        for index in range(count):
            case = maker.case(rng.choice(agencies))
            for name, rows in case.items():
                pending[name] += rows
            if (index + 1) % BATCH == 0 or index + 1 == count:
                with engine.begin() as connection:
                    for name in TABLES:  # parents first
                        if pending[name]:
                            connection.execute(tables[name].insert(), pending[name])
                            written[name] += len(pending[name])
                            pending[name] = []
        with engine.begin() as connection:
            connection.execute(store.CaseCounter.__table__.insert(), [
                dict(province=p, year=as_of.year, last=n) for p, n in maker.numbers.items()])
    finally:
        engine.dispose()
    return written


def sample_agencies(url: str) -> list[Agency]:
    engine = sqlalchemy.create_engine(db.sync_url(url))
    try:
        with engine.connect() as connection:
            return [Agency(*row) for row in connection.execute(text(
                "SELECT id, name, credit_code, region_code, kind FROM agencies WHERE status = 'active' "
                "ORDER BY id LIMIT :n"), {"n": SAMPLE_AGENCIES})]
    finally:
        engine.dispose()


def case_ids(url: str) -> list[str]:
    engine = sqlalchemy.create_engine(db.sync_url(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT id FROM cases")).scalars())
    finally:
        engine.dispose()


# ---- the processes --------------------------------------------------------------------------------

async def wait_all_ready(children: dict[str, tuple[subprocess.Popen, str]]) -> None:
    for name, (child, address) in children.items():
        check = http_ready if name == "console" else healthy
        await wait_ready(name, child, lambda: check(address))


# ---- the open loop ------------------------------------------------------------------------------

@dataclass
class Request:
    page: str
    path: str
    token: str


@dataclass
class Outcome:
    page: str
    due: float
    latency: float
    status: int


def plan_requests(count: int, ids: list[str], agencies: list[Agency],
                  rng: random.Random) -> list[Request]:
    """`count` requests for each page, interleaved: page after page, as users' clicks arrive."""
    nationwide = auth.mint("handler", "bench-handler", ttl_seconds=24 * 3600)
    provincial: dict[str, str] = {}
    requests = []
    for _ in range(count):
        agency = rng.choice(agencies)
        province = agency.region_code[:2] + "0000"
        if province not in provincial:
            provincial[province] = auth.mint("handler", f"bench-{province}", region=province,
                                             ttl_seconds=24 * 3600)
        token = rng.choice((nationwide, provincial[province]))
        query = rng.choice(("view=office", "view=office", "view=mine", f"view=office&stage={rng.choice(STAGES)}",
                            f"view=office&category={rng.choice(CATEGORIES)}", "view=office&overdue=1"))
        requests.append(Request("queue", f"/cases?{query}", token))
        requests.append(Request("case", f"/cases/{rng.choice(ids)}", nationwide))
        search = agency.credit_code if rng.random() < 0.4 else agency.name[:rng.choice((2, 4, 6))]
        requests.append(Request("register", f"/register?q={search}", ""))
    return requests


STAGES = [s for s in STAGE_SHARE if s != "closed"]


async def drive(base_url: str, requests: list[Request], rate: float, clients: int) -> tuple[list[Outcome], float]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    outcomes: list[Outcome] = []

    sessions: dict[str, str] = {}

    async def session(http: httpx.AsyncClient, token: str) -> str:
        """The console's session for the token (the cookie holds a session id, not the token):
        signed in once, as a user signs in with a token, and kept for every later request."""
        if token not in sessions:
            answer = await http.post("/signin", data={"token": token})
            sessions[token] = answer.cookies[SESSION_COOKIE]
            http.cookies.clear()
        return sessions[token]

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
            while (item := await queue.get()) is not None:
                due, request = item
                cookies = {SESSION_COOKIE: await session(http, request.token)} if request.token else {}
                try:
                    answer = await http.get(request.path, cookies=cookies)
                    status = answer.status_code
                except httpx.HTTPError:
                    status = 0
                outcomes.append(Outcome(request.page, due, loop.time() - due, status))

    workers = [asyncio.create_task(client()) for _ in range(clients)]
    start = loop.time() + 0.2
    for index, request in enumerate(requests):
        due = start + index / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        queue.put_nowait((due, request))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return outcomes, start


def figures(outcomes: list[Outcome], measured_from: float) -> dict:
    pages = {}
    for page in PAGES:
        mine = [o for o in outcomes if o.page == page and o.due >= measured_from]
        latencies = sorted(o.latency * 1000 for o in mine)
        pages[page] = {"requests": len(mine), "p50_ms": round(percentile(latencies, 0.5), 2),
                       "p90_ms": round(percentile(latencies, 0.9), 2), "p99_ms": round(percentile(latencies, 0.99), 2),
                       "max_ms": round(latencies[-1], 2) if latencies else None,
                       "errors": sum(o.status != 200 for o in mine)}
    return pages


# ---- the run -----------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.rng_seed)
    with tempfile.TemporaryDirectory(prefix="ipss-bench-console-") as work, ExitStack() as stack:
        workdir = Path(work)
        (workdir / "complaints").mkdir()
        registry_url = stack.enter_context(registry_database(args.db, workdir))
        complaints_url = stack.enter_context(registry_database(args.db, workdir / "complaints"))
        migrate.upgrade("registry", database_url=registry_url)
        migrate.upgrade("complaints", database_url=complaints_url)
        started = time.perf_counter()
        seeded = seed.seed(registry_url, args.agencies, args.practitioners, rng_seed=args.rng_seed)
        agencies = sample_agencies(registry_url)
        reporter_key = secrets.token_bytes(32)
        loaded = load_cases(complaints_url, agencies, args.cases, rng, args.as_of or clock.today(), reporter_key)
        load_seconds = time.perf_counter() - started
        print(f"{BENCH}: registry {seeded['agencies']} agencies, {seeded['practitioners']} practitioners; "
              f"complaints {loaded} ({load_seconds:.1f} s)", flush=True)
        ports = {name: free_port() for name in ("registry", "complaints", "console")}
        env = dict(os.environ, **token_keys(), IPSS_VAR_DIR=str(workdir), IPSS_BIND="127.0.0.1",
                   IPSS_REGISTRY_DATABASE_URL=registry_url, IPSS_COMPLAINTS_DATABASE_URL=complaints_url,
                   IPSS_REGISTRY_PORT=str(ports["registry"]), IPSS_COMPLAINTS_PORT=str(ports["complaints"]),
                   IPSS_REGISTRY_ADDR=f"127.0.0.1:{ports['registry']}",
                   IPSS_COMPLAINTS_ADDR=f"127.0.0.1:{ports['complaints']}", IPSS_LOG_LEVEL="warning",
                   IPSS_COMPLAINTS_REPORTER_KEY=base64.b64encode(reporter_key).decode(),
                   # Reading pages never reaches Temporal; nothing listens here.
                   IPSS_TEMPORAL_ADDRESS="127.0.0.1:1")
        children = {
            "registry": (stack.enter_context(process("registry", [sys.executable, "-m", "services.registry"], env,
                                                     workdir)), env["IPSS_REGISTRY_ADDR"]),
            "complaints": (stack.enter_context(process("complaints", [sys.executable, "-m", "services.complaints"],
                                                       env, workdir)), env["IPSS_COMPLAINTS_ADDR"]),
            "console": (stack.enter_context(process("console", [
                sys.executable, "-m", "console", "--port", str(ports["console"])], env, workdir)),
                f"127.0.0.1:{ports['console']}"),
        }
        asyncio.run(wait_all_ready(children))
        per_page = int(args.qps * (args.warmup + args.seconds))
        requests = plan_requests(per_page, case_ids(complaints_url), agencies, rng)
        outcomes, start = asyncio.run(drive(f"http://127.0.0.1:{ports['console']}", requests,
                                            args.qps * len(PAGES), args.clients))
    pages = figures(outcomes, start + args.warmup)
    slowest = max(PAGES, key=lambda page: pages[page]["p99_ms"])
    for page in PAGES:
        f = pages[page]
        print(f"{BENCH} {page}: {f['requests']} requests at {args.qps}/s: p50 {f['p50_ms']} ms, p90 {f['p90_ms']} ms, "
              f"p99 {f['p99_ms']} ms, max {f['max_ms']} ms, {f['errors']} errors", flush=True)
    return {"bench": BENCH, "db": args.db, "cases": args.cases, "agencies": args.agencies,
            "qps_per_page": args.qps, "seconds": args.seconds, "load_seconds": round(load_seconds, 1),
            "page": slowest, "p50_ms": pages[slowest]["p50_ms"], "p99_ms": pages[slowest]["p99_ms"],
            "errors": sum(p["errors"] for p in pages.values()), "pages": pages}


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__.split("\n")[0])
    options.add_argument("--cases", type=int, required=True)
    options.add_argument("--agencies", type=int, default=2000)
    options.add_argument("--practitioners", type=int, default=10000)
    options.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    options.add_argument("--qps", type=float, default=10, help="requests per second for each page")
    options.add_argument("--seconds", type=float, default=15, help="measured period")
    options.add_argument("--warmup", type=float, default=3, help="seconds of load before the measured period")
    options.add_argument("--clients", type=int, default=8, help="concurrent browsers, each with its connection")
    options.add_argument("--rng-seed", type=int, default=2026)
    options.add_argument("--as-of", type=date.fromisoformat, default=None,
                         help="the day the cases are counted back from, YYYY-MM-DD (default today); the "
                              "calendar must know the working days of the weeks after it")
    return options


def main(argv: list[str] | None = None) -> int:
    result = run(parser().parse_args(argv))
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
