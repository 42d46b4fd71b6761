"""The registry's public register and agency search at a fixed request rate.

    python -m bench.registry_lookup --agencies 100000 --practitioners 1000000 \\
        [--db sqlite|postgresql|both] [--qps 500] [--seconds 20] [--warmup 5] [--clients 32]

For each database: a fresh one (SQLite in a temporary directory; PostgreSQL a new database on
$IPSS_BENCH_POSTGRES_URL's server, dropped afterwards), migrated and bulk-seeded with realistic
data; the registry server runs as its own process (`python -m services.registry`), so the load
generator does not share its core. Clients send a mix of public lookups (agency by name prefix,
credit code or licence number; practitioner by name or certificate) and handler searches
(filters and pagination) in an open loop: request i is due at start + i/qps whatever the answers
before it, and its latency runs from when it was due, so a stalled server shows as latency
instead of as fewer requests (no coordinated omission). The warm-up's requests are not counted.

Prints a line in words per database, then a JSON line per database; the last line is one JSON
object: for one database its figures, for both a combined object holding each database's figures
and, at the top, the worse database's qps, p50_ms, p99_ms and errors."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import sqlalchemy
from google.protobuf.message import Message
from sqlalchemy import text

from bench.load import CALL_TIMEOUT_SECONDS, freeze_prepared, health_floor, percentile
from bench.processes import cpu_seconds, free_port, process, token_keys, wait_ready
from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from services.registry import seed
from suite import auth, db, migrate
from suite.probes import healthy

BENCH = "registry_lookup"
ADMIN_URL = os.environ.get("IPSS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SAMPLE = 2000
SEARCH_PAGE_SIZE = 20
# Share of each kind of request in the mix.
MIX = {"agency_by_name": 20, "agency_by_credit_code": 15, "agency_by_licence": 10, "practitioner_by_name": 15,
       "practitioner_by_certificate": 15, "search_agencies": 15, "search_next_page": 10}
SERVICE = pb.DESCRIPTOR.services_by_name["RegistryService"].full_name


@dataclass
class Call:
    kind: str  # a key of MIX
    method: str  # the RegistryService RPC
    request: Message
    metadata: tuple = ()
    search: bytes = b""  # the search's filters, to continue its pages


@dataclass
class Outcome:
    kind: str
    due: float
    latency: float
    code: grpc.StatusCode


# ---- databases and the server --------------------------------------------------------------

@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    """A new empty database; yields its async URL and drops it afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'registry.db'}"
        return
    name = f"ipss_bench_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield sqlalchemy.engine.make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", database=name
                                                            ).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def registry_process(url: str, workdir: Path, processes: int) -> Iterator[tuple[subprocess.Popen, str]]:
    """`python -m services.registry` on a free loopback port; its log goes to the work directory."""
    port = free_port()
    env = dict(os.environ, IPSS_REGISTRY_DATABASE_URL=url, IPSS_REGISTRY_PORT=str(port), IPSS_BIND="127.0.0.1",
               **token_keys(), IPSS_VAR_DIR=str(workdir), IPSS_REGISTRY_PROCESSES=str(processes))
    with process("registry", [sys.executable, "-m", "services.registry"], env, workdir, stop_seconds=15) as child:
        yield child, f"127.0.0.1:{port}"


# ---- the request mix -------------------------------------------------------------------------

def sample_targets(url: str) -> tuple[list[sqlalchemy.Row], list[sqlalchemy.Row]]:
    """Agencies and practitioners to ask about; ids are random, so the first by id are a sample."""
    engine = sqlalchemy.create_engine(db.sync_url(url))
    try:
        with engine.connect() as connection:
            agencies = list(connection.execute(text(
                "SELECT name, credit_code, licence_number, region_code FROM agencies ORDER BY id LIMIT :n"),
                {"n": SAMPLE}))
            people = list(connection.execute(text(
                "SELECT name, certificate_number FROM practitioners ORDER BY id LIMIT :n"), {"n": SAMPLE}))
    finally:
        engine.dispose()
    return agencies, people


def plan_calls(count: int, agencies: list, people: list, rng: random.Random) -> list[Call]:
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=count)
    licensed = [a for a in agencies if a.licence_number]
    certified = [p for p in people if p.certificate_number]
    tokens: dict[str, tuple] = {}
    searches: list[Call] = []
    calls = []
    for kind in kinds:
        agency, person = rng.choice(agencies), rng.choice(people)
        if kind == "agency_by_name":
            prefix = agency.name[:rng.choice((2, 4, 4, 5))]
            call = Call(kind, "LookupAgencyPublic", pb.LookupAgencyPublicRequest(query=prefix))
        elif kind == "agency_by_credit_code":
            call = Call(kind, "LookupAgencyPublic", pb.LookupAgencyPublicRequest(query=agency.credit_code))
        elif kind == "agency_by_licence":
            call = Call(kind, "LookupAgencyPublic",
                        pb.LookupAgencyPublicRequest(query=rng.choice(licensed).licence_number))
        elif kind == "practitioner_by_name":
            call = Call(kind, "LookupPractitionerPublic", pb.LookupPractitionerPublicRequest(query=person.name))
        elif kind == "practitioner_by_certificate":
            call = Call(kind, "LookupPractitionerPublic",
                        pb.LookupPractitionerPublicRequest(query=rng.choice(certified).certificate_number))
        elif kind == "search_next_page" and searches:
            first = rng.choice(searches)
            call = Call(kind, "SearchAgencies", first.request, first.metadata, first.search)
        else:
            call = search_call(agency, tokens, rng)
            searches.append(call)
        calls.append(call)
    return calls


def search_call(agency, tokens: dict[str, tuple], rng: random.Random) -> Call:
    """A handler of the agency's province searching it by city or province, kinds and status."""
    province = agency.region_code[:2] + "0000"
    if province not in tokens:
        tokens[province] = (("authorization", "Bearer " + auth.mint("handler", f"bench-{province}", region=province, ttl_seconds=24 * 3600)),)
    request = pb.SearchAgenciesRequest(
        region_code=rng.choice((province, agency.region_code)), page_size=SEARCH_PAGE_SIZE,
        kinds=rng.choice(((), (pb.AGENCY_KIND_PATENT,), (pb.AGENCY_KIND_TRADEMARK,),
                          (pb.AGENCY_KIND_PATENT, pb.AGENCY_KIND_TRADEMARK))),
        statuses=rng.choice(((), (pb.AGENCY_STATUS_ACTIVE,))),
        query=agency.name[:2] if rng.random() < 0.2 else "")
    return Call("search_agencies", "SearchAgencies", request, tokens[province], request.SerializeToString())


# ---- the open loop ---------------------------------------------------------------------------

async def drive(address: str, calls: list[Call], qps: float, clients: int) -> tuple[list[Outcome], float]:
    """Send call i when it is due (start + i/qps) through whichever client is free; returns the
    outcomes and the start."""
    freeze_prepared()
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    pages: dict[bytes, str] = {}
    outcomes: list[Outcome] = []

    async def client() -> None:
        # Each client its own connection, as separate callers would have.
        async with grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            stub = pb_grpc.RegistryServiceStub(channel)
            while (item := await queue.get()) is not None:
                due, call = item
                outcomes.append(await send(stub, call, due, pages, loop))

    workers = [asyncio.create_task(client()) for _ in range(clients)]
    start = loop.time() + 0.2
    for index, call in enumerate(calls):
        due = start + index / qps
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        queue.put_nowait((due, call))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return outcomes, start


async def send(stub, call: Call, due: float, pages: dict[bytes, str], loop) -> Outcome:
    request = call.request
    if call.kind == "search_next_page" and pages.get(call.search):
        request = pb.SearchAgenciesRequest()
        request.CopyFrom(call.request)
        request.page_token = pages[call.search]
    code = grpc.StatusCode.OK
    try:
        response = await getattr(stub, call.method)(request, metadata=call.metadata, timeout=CALL_TIMEOUT_SECONDS)
    except grpc.aio.AioRpcError as error:
        code = error.code()
    else:
        if call.search:
            # The next page of this search follows on from here; its last page starts it over.
            pages[call.search] = response.next_page_token
    return Outcome(call.kind, due, loop.time() - due, code)


# ---- figures ---------------------------------------------------------------------------------

def figures(outcomes: list[Outcome], measured_from: float, seconds: float) -> dict:
    measured = [o for o in outcomes if o.due >= measured_from]
    latencies = sorted(o.latency * 1000 for o in measured)
    finished = max((o.due + o.latency for o in measured), default=measured_from)
    by_kind = {}
    for kind in MIX:
        mine = sorted(o.latency * 1000 for o in measured if o.kind == kind)
        by_kind[kind] = {"count": len(mine), "p50_ms": round(percentile(mine, 0.5), 2),
                         "p99_ms": round(percentile(mine, 0.99), 2)}
    errors = [o for o in measured if o.code != grpc.StatusCode.OK]
    return {
        "requests": len(measured),
        "qps": round(len(measured) / max(finished - measured_from, seconds), 1),
        "p50_ms": round(percentile(latencies, 0.5), 2), "p90_ms": round(percentile(latencies, 0.9), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2), "p999_ms": round(percentile(latencies, 0.999), 2),
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "errors": len(errors), "error_codes": sorted({o.code.name for o in errors}),
        "by_kind": by_kind,
    }


# ---- one database ----------------------------------------------------------------------------

def postgres_shared_buffers() -> str:
    """The server's page cache: what the public lookups touch in a registry of a million
    practitioners outgrows PostgreSQL's default 128MB, and the tail shows it."""
    admin = sqlalchemy.create_engine(ADMIN_URL)
    try:
        with admin.connect() as connection:
            return connection.execute(text("SHOW shared_buffers")).scalar_one()
    finally:
        admin.dispose()


@contextmanager
def seeded_database(backend: str, args: argparse.Namespace, workdir: Path) -> Iterator[tuple[str, float]]:
    """A fresh database seeded as asked, and the seconds seeding took; or, with --seeded, the
    database named there as it is (for runs after a profile's change, without seeding again)."""
    if args.seeded:
        yield args.seeded, 0.0
        return
    with fresh_database(backend, workdir) as url:
        migrate.upgrade("registry", database_url=url)
        started = time.perf_counter()
        counts = seed.seed(url, args.agencies, args.practitioners, rng_seed=args.rng_seed)
        seed_seconds = time.perf_counter() - started
        print(f"{BENCH} {backend}: seeded {counts} in {seed_seconds:.1f} s", flush=True)
        yield url, seed_seconds


def run_backend(backend: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"ipss-bench-{backend}-") as work, \
            seeded_database(backend, args, Path(work)) as (url, seed_seconds):
        workdir = Path(work)
        agencies, people = sample_targets(url)
        total = int(args.qps * (args.warmup + args.seconds))
        calls = plan_calls(total, agencies, people, random.Random(args.rng_seed))
        with registry_process(url, workdir, args.server_processes) as (server, address):
            asyncio.run(wait_ready("the registry", server, lambda: healthy(address, SERVICE)))
            cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
            outcomes, start = asyncio.run(drive(address, calls, args.qps, args.clients))
            server_cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - wall_before)
            # The floor, on the same server processes, at the same rate from as many clients.
            cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
            floor, _ = asyncio.run(health_floor(address, SERVICE, args.qps, args.warmup, args.seconds,
                                                args.clients))
            floor_cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - wall_before)
    measured = figures(outcomes, start + args.warmup, args.seconds)
    result = {"bench": BENCH, "db": backend, "agencies": args.agencies, "practitioners": args.practitioners,
              "target_qps": args.qps, "server_processes": args.server_processes, "seconds": args.seconds,
              "clients": args.clients,
              "seed_seconds": round(seed_seconds, 1), **measured,
              "server_cpu_percent": round(100 * server_cpu, 1),
              "server_cpu_ms_per_request": round(1000 * server_cpu / args.qps, 3),
              "floor_p50_ms": floor["p50_ms"], "floor_p99_ms": floor["p99_ms"], "floor_errors": floor["errors"],
              "floor_server_cpu_ms_per_request": round(1000 * floor_cpu / args.qps, 3),
              "p99_ratio_to_floor": round(measured["p99_ms"] / floor["p99_ms"], 2),
              **({"postgres_shared_buffers": postgres_shared_buffers()} if backend == "postgresql" else {}),
              # Other work on the machine competes for its cores: the load tells how much there was.
              "load_average_1m": round(os.getloadavg()[0], 2)}
    print(describe(result), flush=True)
    return result


def describe(result: dict) -> str:
    slowest = max(result["by_kind"].items(), key=lambda item: item[1]["p99_ms"] if item[1]["count"] else 0)
    return (f"{BENCH} {result['db']}: {result['agencies']} agencies, {result['practitioners']} practitioners "
            f"(seeded in {result['seed_seconds']} s); {result['target_qps']} qps asked, {result['qps']} served "
            f"over {result['seconds']} s by {result['clients']} clients: p50 {result['p50_ms']} ms, "
            f"p90 {result['p90_ms']} ms, p99 {result['p99_ms']} ms, p99.9 {result['p999_ms']} ms, "
            f"max {result['max_ms']} ms, {result['errors']} errors; slowest kind {slowest[0]} "
            f"(p99 {slowest[1]['p99_ms']} ms); floor (health checks, same server, rate and clients) p99 "
            f"{result['floor_p99_ms']} ms: ratio {result['p99_ratio_to_floor']} (target 3, "
            f"{'met' if result['p99_ratio_to_floor'] <= 3 and not result['errors'] else 'not met'}); "
            f"server CPU a request {result['server_cpu_ms_per_request']} ms against "
            f"{result['floor_server_cpu_ms_per_request']} ms for a health check; "
            f"registry server CPU {result['server_cpu_percent']} %, "
            f"machine load {result['load_average_1m']}"
            + (f"; PostgreSQL shared_buffers {result['postgres_shared_buffers']}"
               if "postgres_shared_buffers" in result else ""))


def combined(results: list[dict]) -> dict:
    worst = max(results, key=lambda r: (r["errors"] > 0, r["p99_ms"]))
    return {"bench": BENCH, "db": "both", "worst": worst["db"], "qps": worst["qps"], "p50_ms": worst["p50_ms"],
            "p99_ms": worst["p99_ms"], "errors": worst["errors"],
            "p99_ratio_to_floor": max(r["p99_ratio_to_floor"] for r in results),
            "backends": {r["db"]: r for r in results}}


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.registry_lookup", description=__doc__.split("\n")[0])
    options.add_argument("--agencies", type=int, required=True)
    options.add_argument("--practitioners", type=int, required=True)
    options.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    options.add_argument("--qps", type=float, default=500)
    options.add_argument("--seconds", type=float, default=20, help="measured period")
    options.add_argument("--warmup", type=float, default=5, help="seconds of load before the measured period")
    options.add_argument("--clients", type=int, default=32, help="concurrent clients, each with its connection")
    options.add_argument("--server-processes", type=int, default=os.cpu_count() or 1,
                         help="registry processes sharing its port (IPSS_REGISTRY_PROCESSES), one per core by "
                              "default: one process alone serves 500 qps at about 85 %% of its core, at the "
                              "knee of its latency")
    options.add_argument("--rng-seed", type=int, default=2026, help="seed of the data and of the request mix")
    options.add_argument("--seeded", metavar="URL", help="a database seeded before (with the same --db backend): "
                                                         "use it as it is instead of a fresh one")
    return options


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    backends = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results = [run_backend(backend, args) for backend in backends]
    for result in results:
        print(json.dumps(result, ensure_ascii=False), flush=True)
    if len(results) > 1:
        print(json.dumps(combined(results), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
