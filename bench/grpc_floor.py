"""The floor under bench.registry_lookup: the suite's registry server answering its cheapest RPC.

    python -m bench.grpc_floor [--qps 500] [--seconds 10] [--clients 32] [--runs 5]

The registry server runs as its own process, as in bench.registry_lookup, on an empty SQLite
database; the same open loop (request i due at start + i/qps, latency from when it was due) sends
it gRPC health checks, which touch no database, token, validation or log line, from the same
number of clients, each with its own connection. What such a call costs in latency and CPU on this
machine is what gRPC, Python and the load generator cost before the registry does any work, so the
registry's own figures can be read against it. Several runs, since on a shared machine the tail
moves from run to run.

Prints a line per run; the last line is one JSON object with every run's figures and the median
and largest p99."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.load import health_floor
from bench.processes import cpu_seconds, wait_ready
from bench.registry_lookup import SERVICE, registry_process
from suite import migrate
from suite.probes import healthy

BENCH = "grpc_floor"


def run(args: argparse.Namespace) -> dict:
    runs = []
    with tempfile.TemporaryDirectory(prefix="ipss-bench-floor-") as work:
        url = f"sqlite+aiosqlite:///{Path(work) / 'registry.db'}"
        migrate.upgrade("registry", database_url=url)
        with registry_process(url, Path(work), secrets.token_urlsafe(32), 1) as (server, address):
            asyncio.run(wait_ready("the registry", server, lambda: healthy(address, SERVICE)))
            for number in range(1, args.runs + 1):
                cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
                figures, client_cpu = asyncio.run(health_floor(address, SERVICE, args.qps, args.warmup,
                                                               args.seconds, args.clients))
                seconds = time.monotonic() - wall_before
                figures.update(server_cpu_percent=round(100 * (cpu_seconds(server.pid) - cpu_before) / seconds, 1),
                               client_cpu_percent=round(100 * client_cpu, 1),
                               load_average_1m=round(os.getloadavg()[0], 2))
                print(f"{BENCH} run {number}: {args.qps} health checks/s from {args.clients} clients: "
                      f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms, "
                      f"{figures['errors']} errors; server CPU {figures['server_cpu_percent']} %, load generator "
                      f"{figures['client_cpu_percent']} %", flush=True)
                runs.append(figures)
    p99s = [r["p99_ms"] for r in runs]
    return {"bench": BENCH, "qps": args.qps, "clients": args.clients, "seconds": args.seconds,
            "median_p99_ms": round(statistics.median(p99s), 2), "max_p99_ms": max(p99s),
            "errors": sum(r["errors"] for r in runs), "runs": runs}


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.grpc_floor", description=__doc__.split("\n")[0])
    options.add_argument("--qps", type=float, default=500)
    options.add_argument("--seconds", type=float, default=10, help="measured period of each run")
    options.add_argument("--warmup", type=float, default=2, help="seconds of load before each measured period")
    options.add_argument("--clients", type=int, default=32, help="concurrent clients, each with its connection")
    options.add_argument("--runs", type=int, default=5)
    return options


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(run(parser().parse_args(argv))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
