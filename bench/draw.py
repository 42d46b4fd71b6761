"""The double-random draw (ipss-draw/2) at the scale of a province's whole directory.

    python -m bench.draw --agencies 100000 --inspectors 5000 [--repeat 5] [--rng-seed 2026]

A snapshot of `--agencies` agencies (valid credit codes, real region codes weighted as the
registry seed weights them, every agency kind, credit grades mostly A with some B, C and D) and a
pool of `--inspectors` inspectors with conflicts of interest (each excluded from a few agencies
as former employer or relative, one in five from their whole region of origin) are built in
memory. A plan with ratios rising with the risk class (3 %, 5 %, 10 %, 30 %) and two inspectors
per target is drawn: the timed work is what the Draw RPC computes from the stored snapshot, i.e.
the inspector pool's hash, the draw itself (keys, strata, pairing) and the canonical result with
its hash. It is timed `--repeat` times; the figure is the slowest run, and every run must give
the same result bytes. The snapshot's own hash (taken once, when the snapshot is) is timed apart.

Prints a line in words; the last line is one JSON object with `bench`, `targets`, `seconds`
and `identical_on_rerun` (target: at most 1 s, true)."""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter

from services.inspections.domain import draw
from services.registry.seed import REGIONS
from suite import testdata

BENCH = "draw"
KINDS = (("patent", 30), ("trademark", 45), ("copyright", 5), ("legal", 5), ("operation", 5), ("information", 3),
         ("consulting", 5), ("evaluation", 2))
GRADES = (("A", 70), ("B", 20), ("C", 7), ("D", 3))
RATIOS = (draw.Ratio("low", "", "", 300), draw.Ratio("general", "", "", 500), draw.Ratio("elevated", "", "", 1000),
          draw.Ratio("high", "", "", 3000))
EXCLUSIONS_PER_INSPECTOR = (1, 4)
ORIGIN_SHARE = 0.2
SEED_VALUE = "中国福利彩票双色球 2026025期 03 08 12 19 27 31 + 09"


def directory(agencies: int, inspectors: int, rng: random.Random) -> tuple[list[list[str]], list[list]]:
    regions = [r.code for r in REGIONS]
    weights = [r.weight for r in REGIONS]
    kinds, kind_weights = zip(*KINDS)
    grades, grade_weights = zip(*GRADES)
    codes = set()
    snapshot = []
    for region, kind, grade in zip(rng.choices(regions, weights, k=agencies), rng.choices(kinds, kind_weights, k=agencies),
                                   rng.choices(grades, grade_weights, k=agencies)):
        while True:
            code = testdata.credit_code(region, rng)
            if code not in codes:
                codes.add(code)
                break
        snapshot.append([code, f"{kind}机构{len(snapshot)}", region, kind, grade, ""])  # none raised
    ordered_codes = sorted(codes)
    pool = [[f"ZF{index:06d}", rng.choice(regions), rng.sample(ordered_codes, rng.randint(*EXCLUSIONS_PER_INSPECTOR)),
             [rng.choice(regions)] if rng.random() < ORIGIN_SHARE else []] for index in range(inspectors)]
    return draw.snapshot_entries(snapshot), draw.pool_entries(pool)


def one_draw(plan: draw.PlanSpec, snapshot: list, snapshot_hash: str, pool: list) -> tuple[float, draw.Outcome]:
    started = time.perf_counter()
    pool_hash = draw.sha256_hex(pool)
    outcome = draw.draw(plan, SEED_VALUE, snapshot, snapshot_hash, pool, pool_hash)
    return time.perf_counter() - started, outcome


def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.rng_seed)
    snapshot, pool = directory(args.agencies, args.inspectors, rng)
    started = time.perf_counter()
    snapshot_hash = draw.sha256_hex(snapshot)
    snapshot_hash_s = time.perf_counter() - started
    regions = sorted({f"{entry[2][:2]}0000" for entry in snapshot})
    plan = draw.PlanSpec("plan-2026-0001", tuple(regions), (), False, RATIOS, 2)
    timings, outcomes = [], []
    for _ in range(args.repeat):
        seconds, outcome = one_draw(plan, snapshot, snapshot_hash, pool)
        timings.append(seconds)
        outcomes.append(outcome)
    first = outcomes[0]
    excluded = {entry[0]: (set(entry[2]), tuple(draw.significant_prefix(r) for r in entry[3])) for entry in pool}
    conflicts = sum(code in excluded[i][0] or any(region.startswith(p) for p in excluded[i][1])
                    for code, region, *_rest, team in first.targets for i in team)
    load = Counter(i for *_rest, team in first.targets for i in team)
    return {"bench": BENCH, "agencies": args.agencies, "inspectors": args.inspectors,
            "targets": len(first.targets), "strata": len(first.result["strata"]),
            "seconds": round(max(timings), 3), "median_seconds": round(sorted(timings)[len(timings) // 2], 3),
            "snapshot_hash_seconds": round(snapshot_hash_s, 3), "repeats": args.repeat,
            "identical_on_rerun": all(o.canonical_bytes == first.canonical_bytes for o in outcomes),
            "result_hash": first.result_hash, "exclusions": sum(len(e[2]) + len(e[3]) for e in pool),
            "conflicts_in_result": conflicts, "max_targets_per_inspector": max(load.values(), default=0)}


def describe(result: dict) -> str:
    return (f"{BENCH}: {result['targets']} targets in {result['strata']} strata drawn from {result['agencies']} "
            f"agencies, paired among {result['inspectors']} inspectors with {result['exclusions']} exclusions, in "
            f"{result['seconds']} s at worst over {result['repeats']} runs (median {result['median_seconds']} s; the "
            f"snapshot's hash {result['snapshot_hash_seconds']} s once); identical on rerun: "
            f"{result['identical_on_rerun']}; conflicts in the result: {result['conflicts_in_result']}; at most "
            f"{result['max_targets_per_inspector']} targets per inspector")


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.draw", description=__doc__.split("\n")[0])
    options.add_argument("--agencies", type=int, required=True)
    options.add_argument("--inspectors", type=int, required=True)
    options.add_argument("--repeat", type=int, default=5, help="draws timed; every one must give the same bytes")
    options.add_argument("--rng-seed", type=int, default=2026, help="seed of the generated directory")
    return options


def main(argv: list[str] | None = None) -> int:
    result = run(parser().parse_args(argv))
    print(describe(result), flush=True)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
