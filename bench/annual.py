"""The 1 April listing (经营异常名录) for a whole register, on the real Temporal dev server.

    python -m bench.annual --agencies 100000 [--db sqlite|postgresql]

The registry is bulk-seeded with realistic agencies (their annual reports up to last year), and
runs as its own process beside the suite's worker. The CreditLists workflow is started on a
legal calendar set to the listing day for this year's reports, so it lists at once: the clock
runs from its start until its view says the year is listed. The floor, in the same run and on
the same database: the credit events it wrote, taken out and written back by one bulk insert.
On PostgreSQL the freshly loaded register is vacuumed and analysed first, as autovacuum would
have done in an office's database.

The last line is one JSON object with `bench`, `agencies`, `listed`, `seconds`,
`bare_insert_seconds`, `ratio` and `max_history_events` (target: seconds ≤ 3 × the bare insert,
no history over 10,000 events)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlalchemy
from sqlalchemy import delete, insert, select
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from bench.campaign import database
from bench.processes import free_port, process, token_keys, wait_ready
from contracts import search_attributes
from contracts.credit_lists import CREDIT_LISTS_WORKFLOW, VIEW_QUERY, WORKFLOW_ID, CreditListsState, CreditListsView
from rules import Rules
from services.registry import seed, store
from suite import clock, db, migrate
from suite.probes import healthy

BENCH = "annual"
BIN = Path(sys.executable).parent
TASK_QUEUE = "bench-annual"
TARGET_RATIO = 3.0


def listing_day(report_year: int) -> date:
    return Rules.load().windows["annual_report_window"].day_after(report_year + 1)


async def worker_polling(env: WorkflowEnvironment) -> None:
    """The worker starts the office's CreditLists workflow as it starts: once that sleeps, the
    worker polls and is idle (neither its start nor that workflow's first steps are the
    listing's time)."""
    handle = env.client.get_workflow_handle(WORKFLOW_ID)
    while True:
        try:
            if (await handle.query(VIEW_QUERY, result_type=CreditListsView)).wakes_on:
                return
        except RPCError:
            pass
        await asyncio.sleep(0.1)


async def listed(handle, report_year: int) -> CreditListsView:
    while True:
        view = await handle.query(VIEW_QUERY, result_type=CreditListsView)
        if view.listed_through_year >= report_year:
            return view
        await asyncio.sleep(0.02)


def phases(history) -> dict[str, float]:
    """Where the seconds went, from the history's event times: up to the listing activity's
    schedule, the activity itself (the registry's statements and the call), and after it."""
    events = history.events
    started = events[0].event_time.ToDatetime()
    scheduled = next(e for e in events if e.HasField("activity_task_scheduled_event_attributes")
                     and e.activity_task_scheduled_event_attributes.activity_type.name == "registry.list_non_filers")
    completed = next(e for e in events if e.HasField("activity_task_completed_event_attributes")
                     and e.activity_task_completed_event_attributes.scheduled_event_id == scheduled.event_id)
    return dict(before_listing_s=round((scheduled.event_time.ToDatetime() - started).total_seconds(), 3),
                listing_activity_s=round((completed.event_time.ToDatetime() - scheduled.event_time.ToDatetime())
                                         .total_seconds(), 3))


def bare_insert_seconds(url: str, report_year: int) -> float:
    """The same credit events, taken out of their table and written back by one bulk insert (the
    table's indexes and keys included, as the listing had them)."""
    engine = sqlalchemy.create_engine(db.sync_url(url))
    events = store.CreditEvent.__table__
    listed = events.c.source_reference == f"annual-report-{report_year}"
    try:
        with engine.begin() as connection:
            rows = [dict(row._mapping) for row in connection.execute(select(events).where(listed))]
            connection.execute(delete(events).where(listed))
        started = time.perf_counter()
        with engine.begin() as connection:
            connection.execute(insert(events), rows)
        return time.perf_counter() - started
    finally:
        engine.dispose()


async def run(args: argparse.Namespace, url: str, workdir: Path) -> dict:
    report_year = clock.today().year
    offset = (clock.today() - listing_day(report_year)).days
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(BIN / "temporal"),
                                                search_attributes=search_attributes.ALL)
    registry_address = f"127.0.0.1:{free_port()}"
    common = dict(os.environ, **token_keys(), IPSS_VAR_DIR=str(workdir), IPSS_BIND="127.0.0.1",
                  IPSS_TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
                  IPSS_TEMPORAL_TASK_QUEUE=TASK_QUEUE, IPSS_REGISTRY_ADDR=registry_address,
                  IPSS_REGISTRY_PORT=registry_address.rsplit(":", 1)[1], IPSS_REGISTRY_DATABASE_URL=url,
                  IPSS_LOG_LEVEL=os.environ.get("IPSS_LOG_LEVEL", "warning"), IPSS_TRACES="off", IPSS_REGISTRY_METRICS_PORT="off",
                  IPSS_WORKER_METRICS_PORT="off")
    try:
        with process("registry", [sys.executable, "-m", "services.registry"], common, workdir) as registry, \
                process("worker", [sys.executable, "-m", "workflows.worker"], common, workdir):
            await wait_ready("the registry", registry, lambda: healthy(registry_address))
            await worker_polling(env)
            started = time.perf_counter()
            handle = await env.client.start_workflow(
                CREDIT_LISTS_WORKFLOW, CreditListsState(calendar_offset_days=offset), id="credit-lists-bench",
                task_queue=TASK_QUEUE)
            view = await listed(handle, report_year)
            seconds = time.perf_counter() - started
            history = await handle.fetch_history()
    finally:
        await env.shutdown()
    bare = bare_insert_seconds(url, report_year)
    return dict(bench=BENCH, db=args.db, agencies=args.agencies, report_year=report_year,
                listed_on=listing_day(report_year).isoformat(), listed=view.last_listed, seconds=round(seconds, 3),
                bare_insert_seconds=round(bare, 3), ratio=round(seconds / bare, 2) if bare else None,
                target_ratio=TARGET_RATIO, max_history_events=len(history.events), **phases(history))


def settle(url: str) -> None:
    """VACUUM ANALYZE a freshly bulk-loaded PostgreSQL database (its statistics, its pages' hint
    bits): the state a register in use is in."""
    if db.is_sqlite(url):
        return
    engine = sqlalchemy.create_engine(db.sync_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("VACUUM ANALYZE"))
    engine.dispose()


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.annual", description=__doc__.split("\n")[0])
    options.add_argument("--agencies", type=int, default=100_000)
    options.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    return options


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ipss-bench-annual-"))
    with database(args.db, workdir, "registry") as url:
        migrate.upgrade("registry", database_url=url)
        started = time.perf_counter()
        counts = seed.seed(url, args.agencies, 0)
        settle(url)
        print(f"seeded {counts['agencies']} agencies in {time.perf_counter() - started:.0f} s", flush=True)
        result = asyncio.run(run(args, url, workdir))
    print(f"{result['listed']} of {args.agencies} agencies listed on {result['listed_on']} in {result['seconds']} s; "
          f"the same events by one bulk insert: {result['bare_insert_seconds']} s (ratio {result['ratio']}, "
          f"target ≤ {TARGET_RATIO}); history {result['max_history_events']} events", flush=True)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
