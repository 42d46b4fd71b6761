"""Hostile requests against a running suite (`make run` / `ipss up`, on its configured addresses and
databases), for a while: every RPC of the registry, complaints and inspections services in turn,
with requests Hypothesis draws afresh each round (bench.hostile), as every role the RPC admits and
as nobody.

    python -m bench.fuzz [--seconds 120] [--per-rpc 4]

Counted: `internal` (INTERNAL, UNKNOWN or DATA_LOSS answers), `crashes` (a service that stops
answering its health check after a round), `slow_over_1s`, and `stored_after_refusal` (a refused
write after which the service's tables hold another number of rows). The last line is JSON with
`bench`, `requests`, `internal`, `crashes`, `slow_over_1s`, `stored_after_refusal`; target: the
four 0."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter

import grpc
from sqlalchemy import func, select

from bench.hostile import ANSWER_SECONDS, SERVICES, UNINTENDED, examples, rpcs, send
from services.complaints import store as complaints_store
from services.inspections import store as inspections_store
from services.registry import store as registry_store
from suite import config, db
from suite.probes import healthy

BENCH = "fuzz"
TABLES = {"registry": registry_store.Base.metadata, "complaints": complaints_store.Base.metadata,
          "inspections": inspections_store.Base.metadata}


async def row_counts(engine, metadata) -> dict[str, int]:
    async with engine.connect() as connection:
        return {table.name: await connection.scalar(select(func.count()).select_from(table))
                for table in metadata.sorted_tables}


async def run(args: argparse.Namespace) -> dict:
    channels = {s: grpc.aio.insecure_channel(config.service_address(s)) for s in SERVICES}
    engines = {s: db.create_engine(config.database_url(s)) for s in SERVICES}
    found, samples = Counter(), []
    everything = list(rpcs())
    rng = random.Random(2026)
    deadline = time.monotonic() + args.seconds
    try:
        while time.monotonic() < deadline:
            rng.shuffle(everything)
            for rpc in everything:
                if time.monotonic() >= deadline:
                    break
                for payload, role in examples(rpc, args.per_rpc, derandomize=False):
                    writes = rpc.writes()
                    before = await row_counts(engines[rpc.service], TABLES[rpc.service]) if writes else None
                    started = time.perf_counter()
                    code = await send(channels[rpc.service], rpc, payload, role)
                    elapsed = time.perf_counter() - started
                    found["requests"] += 1
                    if code in UNINTENDED:
                        found["internal"] += 1
                        samples.append(f"{rpc.path} as {role}: {code.name}")
                    if elapsed > ANSWER_SECONDS:
                        found["slow_over_1s"] += 1
                        samples.append(f"{rpc.path} as {role}: {elapsed:.2f} s")
                    if writes and code != grpc.StatusCode.OK and \
                            await row_counts(engines[rpc.service], TABLES[rpc.service]) != before:
                        found["stored_after_refusal"] += 1
                        samples.append(f"{rpc.path} as {role}: rows changed after {code.name}")
            for service in SERVICES:
                if not await healthy(config.service_address(service)):
                    found["crashes"] += 1
                    samples.append(f"{service} stopped answering its health check")
    finally:
        for channel in channels.values():
            await channel.close()
        for engine in engines.values():
            await engine.dispose()
    return dict(bench=BENCH, seconds=args.seconds, requests=found["requests"], internal=found["internal"],
                crashes=found["crashes"], slow_over_1s=found["slow_over_1s"],
                stored_after_refusal=found["stored_after_refusal"], samples=samples[:20])


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n")[0])
    options.add_argument("--seconds", type=float, default=120.0)
    options.add_argument("--per-rpc", type=int, default=4, help="requests drawn for an RPC each round (default 4)")
    return options


def main(argv: list[str] | None = None) -> int:
    result = asyncio.run(run(parser().parse_args(argv)))
    print(f"{result['requests']} hostile requests in {result['seconds']:.0f} s: {result['internal']} unintended "
          f"answers, {result['crashes']} crashes, {result['slow_over_1s']} slower than a second, "
          f"{result['stored_after_refusal']} refusals that stored something", flush=True)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    bad = result["internal"] + result["crashes"] + result["slow_over_1s"] + result["stored_after_refusal"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
