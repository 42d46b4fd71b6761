"""A campaign's fan-out (专项整治) on the real Temporal dev server.

    python -m bench.campaign --targets 10000 [--inspectors 300] [--db sqlite|postgresql]
        [--batch-size 200] [--history-sample 200]

Everything runs as it does in production, each in its own process on one machine: the Temporal
dev server (`temporal server start-dev`, started here on free ports, in memory), the registry
and the inspections services, and the suite's worker. The registry is bulk-seeded with realistic
agencies of which exactly `--targets` still practise; inspectors (with conflicts of interest)
are entered through the API; a plan covering every agency in scope is snapshotted and drawn, and
a special rectification campaign is created on it. The clock starts when CreateCampaign is sent
and stops when the campaign's progress query says every target's task workflow has started.
Then every run of the campaign's workflow (it continues as new) and a random sample of task
workflows are read back, and the longest history is reported.

Prints a line in words; the last line is one JSON object with `bench`, `targets`, `started_s`
and `max_history_events` (targets: all started within 120 s, no history over 10,000 events)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import grpc
import sqlalchemy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.processes import cpu_seconds, dev_server_pid, free_port, process, token_keys, wait_ready
from bench.registry_lookup import fresh_database
from bench.temporal_cost import WaitingWorkflow, server_cpu_ms_per_workflow
from ipss.inspections.v1 import inspections_pb2 as pb
from ipss.inspections.v1 import inspections_pb2_grpc as pb_grpc
from rules import Rules, WorkingDayCalendar
from services.registry import seed
from suite import auth, clock, db, migrate
from suite.probes import healthy
from contracts import search_attributes
from workflows.inspections.campaign import CampaignWorkflow

BENCH = "campaign"
BIN = Path(sys.executable).parent
TASK_QUEUE = "bench-campaign"
CEILING_QUEUE = "bench-campaign-ceiling"
# The ceiling's pace: bench.temporal_cost's defaults, below the server's saturation.
CEILING_PACE = argparse.Namespace(rate=40, seconds=15, settle=3)
# A share of the agencies the seed plans that still practise; more are planned to be sure.
PLANNED_PER_TARGET = 1.15
EXCLUSIONS_PER_INSPECTOR = 2
CALLS_AT_ONCE = 16


# ---- data ---------------------------------------------------------------------------------------

def seed_practising(url: str, targets: int, rng_seed: int) -> int:
    """Bulk-load a registry in which exactly `targets` agencies practise (active or suspended):
    the first that practise of the seed's realistic agencies (head offices come first, so every
    branch kept has its head office)."""
    generator = seed.Generator(random.Random(rng_seed), clock.today(), Rules.load(), WorkingDayCalendar.load())
    planned = seed.plan_agencies(generator, int(targets * PLANNED_PER_TARGET) + 10)
    chosen = [a for a in planned if a.live and (a.parent is None or a.parent.live)][:targets]
    if len(chosen) < targets:
        raise RuntimeError(f"the seed planned only {len(chosen)} practising agencies")
    with seed.bulk_writer(url) as writer:
        for rows in seed.batches(generator, chosen, 0):
            writer.write_all(rows)
    return len(chosen)


@contextmanager
def database(backend: str, workdir: Path, name: str) -> Iterator[str]:
    """A fresh database for one service: a file in the work directory, or a new PostgreSQL one."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / f'{name}.db'}"
        return
    with fresh_database(backend, workdir) as url:
        yield url


# ---- the run ------------------------------------------------------------------------------------

async def gathered(calls, at_once: int = CALLS_AT_ONCE):
    gate = asyncio.Semaphore(at_once)

    async def one(call):
        async with gate:
            return await call
    return await asyncio.gather(*(one(c) for c in calls))


async def enter_inspectors(api, credit_codes: list[str], provinces: list[str], count: int, token: str,
                           rng: random.Random) -> None:
    metadata = (("authorization", f"Bearer {token}"),)
    ids = [f"BENCH{index:05d}" for index in range(count)]
    await gathered(api.RegisterInspector(pb.RegisterInspectorRequest(
        idempotency_key=f"bench-{inspector}", id=inspector, name=f"执法人员{index}", office="知识产权执法处",
        region_code=provinces[index % len(provinces)]), metadata=metadata) for index, inspector in enumerate(ids))
    await gathered(api.AddExclusion(pb.AddExclusionRequest(
        idempotency_key=f"bench-{inspector}-{n}", inspector_id=inspector, reason=pb.EXCLUSION_REASON_FORMER_EMPLOYER,
        agency_credit_code=code, note="曾任职"), metadata=metadata)
        for inspector in ids for n, code in enumerate(rng.sample(credit_codes, EXCLUSIONS_PER_INSPECTOR)))


async def history_lengths(client, campaign_id: str, task_ids: list[str]) -> tuple[list[int], list[int]]:
    """Events in every run of the campaign's workflow (following continue-as-new from the first
    run) and in each sampled task workflow."""
    latest = await client.get_workflow_handle(campaign_id).fetch_history()
    run_id = latest.events[0].workflow_execution_started_event_attributes.first_execution_run_id
    runs = []
    while run_id:
        history = await client.get_workflow_handle(campaign_id, run_id=run_id).fetch_history()
        runs.append(len(history.events))
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes") else "")
    tasks = [len((await client.get_workflow_handle(task_id).fetch_history()).events) for task_id in task_ids]
    return runs, tasks


async def run(args: argparse.Namespace, registry_url: str, inspections_url: str, workdir: Path) -> dict:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(BIN / "temporal"),
                                                search_attributes=search_attributes.ALL)
    temporal_address = env.client.service_client.config.target_host
    registry_address, inspections_address = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    common = dict(os.environ, **token_keys(), IPSS_VAR_DIR=str(workdir), IPSS_BIND="127.0.0.1",
                  IPSS_TEMPORAL_ADDRESS=temporal_address, IPSS_TEMPORAL_TASK_QUEUE=TASK_QUEUE,
                  IPSS_REGISTRY_ADDR=registry_address, IPSS_INSPECTIONS_ADDR=inspections_address,
                  IPSS_REGISTRY_DATABASE_URL=registry_url, IPSS_INSPECTIONS_DATABASE_URL=inspections_url,
                  IPSS_REGISTRY_PORT=registry_address.rsplit(":", 1)[1],
                  IPSS_INSPECTIONS_PORT=inspections_address.rsplit(":", 1)[1],
                  IPSS_CAMPAIGN_BATCH_SIZE=str(args.batch_size), IPSS_LOG_LEVEL="warning")
    try:
        with ExitStack() as stack:
            registry, inspections, worker = (
                stack.enter_context(process(name, [sys.executable, "-m", module], common, workdir))
                for name, module in (("registry", "services.registry"), ("inspections", "services.inspections"),
                                     ("worker", "workflows.worker")))
            await wait_ready("the registry", registry,
                             lambda: healthy(registry_address, "ipss.registry.v1.RegistryService"))
            await wait_ready("the inspections service", inspections,
                             lambda: healthy(inspections_address, "ipss.inspections.v1.InspectionsService"))
            processes = {"temporal": dev_server_pid(), "worker": worker.pid, "inspections": inspections.pid}
            return await drive(args, env, inspections_address, registry_url, processes)
    finally:
        await env.shutdown()


async def drive(args, env: WorkflowEnvironment, address: str, registry_url: str,
                processes: dict[str, int]) -> dict:
    token = auth.mint("supervisor", "bench-supervisor")
    metadata = (("authorization", f"Bearer {token}"),)
    rng = random.Random(args.rng_seed)
    async with grpc.aio.insecure_channel(address, options=[("grpc.max_receive_message_length", 64 << 20)]) as channel:
        api = pb_grpc.InspectionsServiceStub(channel)
        codes, provinces = registered(registry_url)
        await enter_inspectors(api, codes, provinces, args.inspectors, token, rng)
        plan = (await api.CreatePlan(pb.CreatePlanRequest(
            idempotency_key=uuid.uuid4().hex, name="知识产权代理行业专项整治 全部在册机构", region_codes=provinces,
            all_in_scope=True, inspectors_per_target=2), metadata=metadata)).plan
        started = time.perf_counter()
        seed_source = "上海证券交易所 上证综合指数 当日收盘价"
        plan = (await api.TakeSnapshot(pb.TakeSnapshotRequest(
            idempotency_key=uuid.uuid4().hex, plan_id=plan.id, seed_source=seed_source,
            seed_available_on=clock.today().isoformat()), metadata=metadata, timeout=600)).plan
        snapshot_s = time.perf_counter() - started
        started = time.perf_counter()
        record = (await api.Draw(pb.DrawRequest(
            idempotency_key=uuid.uuid4().hex, plan_id=plan.id, seed_value="上证综合指数 2026-03-02 收盘 3351.24",
            seed_source=seed_source), metadata=metadata, timeout=600)).record
        draw_s = time.perf_counter() - started
        today = clock.today()
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        started = time.perf_counter()
        campaign = (await api.CreateCampaign(pb.CreateCampaignRequest(
            idempotency_key=uuid.uuid4().hex, name="2026年专利代理行业专项整治行动", kind=pb.CAMPAIGN_KIND_SPECIAL_RECTIFICATION,
            theme=[1, 6], plan_id=plan.id, starts_on=today.isoformat(),
            ends_on=(today + timedelta(days=90)).isoformat()), metadata=metadata, timeout=600)).campaign
        created_s = time.perf_counter() - started
        # The campaign's record (written after every batch) is watched, not the workflow: a
        # query every fraction of a second would take its share of the server being measured.
        record_now, reported = campaign, 0.0
        while time.perf_counter() - started < args.give_up_after:
            record_now = (await api.GetCampaign(pb.GetCampaignRequest(campaign_id=campaign.id),
                                                metadata=metadata)).campaign
            if record_now.progress.started >= record_now.progress.targets:
                break
            if time.perf_counter() - started >= reported + 10:
                reported += 10
                print(f"{BENCH}: {record_now.progress.started} started after {reported:.0f} s", flush=True)
            await asyncio.sleep(0.25)
        started_s = time.perf_counter() - started
        cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in processes.items()}
        progress = await env.client.get_workflow_handle(campaign.id).query(CampaignWorkflow.progress)
        sample = rng.sample(list(range(len(record.targets))), min(args.history_sample, len(record.targets)))
        task_ids = [f"inspection-{campaign.id}-{record.targets[i].credit_code}" for i in sample]
        runs, task_histories = await history_lengths(env.client, campaign.id, task_ids)
    ceiling_per_s = await new_workflows_ceiling(env, processes["temporal"])
    targets_per_s = (progress.figures.started if progress else 0) / started_s
    all_started = progress is not None and progress.figures.started >= progress.figures.targets
    return {"bench": BENCH, "db": args.db, "targets": len(record.targets),
            "started": progress.figures.started if progress else 0, "all_started": all_started,
            "started_s": round(started_s, 2), "create_campaign_s": round(created_s, 2),
            "snapshot_s": round(snapshot_s, 2), "draw_s": round(draw_s, 2), "inspectors": args.inspectors,
            "batch_size": args.batch_size, "campaign_runs": len(runs), "campaign_history_max": max(runs),
            "task_histories_sampled": len(task_histories), "task_history_max": max(task_histories, default=0),
            "cpu_s": cpu, "max_history_events": max(runs + task_histories),
            "targets_per_s": round(targets_per_s, 1), "ceiling_per_s": round(ceiling_per_s, 1),
            "ratio_to_ceiling": round(targets_per_s / ceiling_per_s, 3)}


async def new_workflows_ceiling(env: WorkflowEnvironment, server_pid: int) -> float:
    """How many new workflows a second the machine's cores would take if they did nothing but
    serve this Temporal server: a start whose first task a worker runs, at a rate below
    saturation, priced in the server's own CPU (bench.temporal_cost), on the same server."""
    async with Worker(env.client, task_queue=CEILING_QUEUE, workflows=[WaitingWorkflow]):
        per_workflow_ms = await server_cpu_ms_per_workflow(env.client, server_pid, CEILING_QUEUE, CEILING_PACE)
    return (os.cpu_count() or 1) * 1000 / per_workflow_ms


def registered(registry_url: str) -> tuple[list[str], list[str]]:
    """The registry's credit codes (to draw exclusions from) and its provinces (the plan's scope)."""
    engine = sqlalchemy.create_engine(db.sync_url(registry_url))
    try:
        with engine.connect() as connection:
            codes = [row[0] for row in connection.execute(sqlalchemy.text("SELECT credit_code FROM agencies"))]
            provinces = sorted({f"{row[0][:2]}0000" for row in connection.execute(
                sqlalchemy.text("SELECT region_code FROM agencies"))})
    finally:
        engine.dispose()
    return codes, provinces


def describe(result: dict) -> str:
    return (f"{BENCH} {result['db']}: {result['started']} of {result['targets']} task workflows started "
            f"{result['started_s']} s after CreateCampaign (the call itself {result['create_campaign_s']} s; "
            f"snapshot {result['snapshot_s']} s, draw {result['draw_s']} s); the campaign ran as "
            f"{result['campaign_runs']} runs, longest history {result['campaign_history_max']} events; "
            f"{result['task_histories_sampled']} sampled tasks, longest {result['task_history_max']} events; "
            f"CPU seconds meanwhile: {result['cpu_s']}; {result['targets_per_s']} targets/s against a ceiling of "
            f"{result['ceiling_per_s']} new workflows/s on this server: ratio {result['ratio_to_ceiling']} (target 0.5)")


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.campaign", description=__doc__.split("\n")[0])
    options.add_argument("--targets", type=int, required=True)
    options.add_argument("--inspectors", type=int, default=300)
    options.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    options.add_argument("--batch-size", type=int, default=200, help="task workflows a campaign starts at once")
    options.add_argument("--history-sample", type=int, default=200, help="task workflows whose history is read")
    options.add_argument("--give-up-after", type=float, default=600, help="seconds to wait for every start")
    options.add_argument("--rng-seed", type=int, default=2026)
    options.add_argument("--keep", type=Path, help="work in this directory and keep it (databases, logs)")
    return options


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            workdir = args.keep
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ipss-bench-campaign-")))
        registry_url = stack.enter_context(database(args.db, workdir, "registry"))
        inspections_url = stack.enter_context(database(args.db, workdir, "inspections"))
        migrate.upgrade("registry", database_url=registry_url)
        migrate.upgrade("inspections", database_url=inspections_url)
        loaded = seed_practising(registry_url, args.targets, args.rng_seed)
        print(f"{BENCH}: seeded {loaded} practising agencies", flush=True)
        result = asyncio.run(run(args, registry_url, inspections_url, workdir))
        # gRPC's asyncio channels that are only freed by the cycle collector would otherwise be
        # freed while the interpreter exits, which gRPC does not survive.
        gc.collect()
    print(describe(result), flush=True)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
