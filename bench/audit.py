"""The audit log's cost: a million chained entries appended and verified.

    python -m bench.audit --entries 1000000 [--batch 1000] [--db sqlite|postgresql]

Entries are appended to a fresh registry database's `audit_log` through suite.audit.append, the
function the services call, a batch per write transaction (its lock, the chain head read, the
hashes computed in Python, one executemany, a signed checkpoint every thousand entries). The
floor, in the same run and database: the same rows without the chain (the table's shape minus
prev_hash and entry_hash) inserted in the same batches and transactions. Then `audit.verify`
walks the whole chain and its checkpoints.

The last line is one JSON object with `bench`, `db`, `entries`, `append_per_s`,
`plain_insert_per_s`, `ratio`, `verify_s` and `target_ratio` (target: append_per_s ≥ 0.7 ×
plain_insert_per_s)."""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from bench.campaign import database
from services.registry import store
from suite import audit, clock, db, migrate

TARGET_RATIO = 0.7
PLAIN = Table("audit_plain", MetaData(),
              Column("position", Integer, primary_key=True, autoincrement=False),
              Column("at", db.Instant, nullable=False),
              *(Column(name, String(length), nullable=False) for name, length in (
                  ("subject", 200), ("role", 40), ("rpc", 100), ("request_id", 100), ("digest_before", 64),
                  ("digest_after", 64))))
RPCS = ("CreateAgency", "ChangeAgencyStatus", "RecordCreditEvent", "FileReport", "PublishResult", "DrawInspections")


def entries(start: int, count: int, base) -> list[audit.Entry]:
    return [audit.Entry(rpc=RPCS[number % len(RPCS)], digest_before=audit.digest(b"before %d" % number),
                        digest_after=audit.digest(b"after %d" % number), subject=f"handler-{number % 97:03d}",
                        role="handler", request_id=f"{number:032x}", at=base + timedelta(microseconds=number))
            for number in range(start, start + count)]


async def run(url: str, total: int, batch: int) -> dict:
    engine = db.create_engine(url)
    sessions = db.sessionmaker(engine)
    base = clock.now()
    try:
        async with engine.begin() as connection:
            await connection.run_sync(PLAIN.metadata.create_all)
        batches = [entries(start, min(batch, total - start), base) for start in range(0, total, batch)]

        started = time.perf_counter()
        position = 0
        for chunk in batches:
            async with sessions() as session, session.begin():
                connection = await session.connection(execution_options=db.WRITE)
                rows = []
                for entry in chunk:
                    position += 1
                    rows.append({"position": position, "at": entry.at, "subject": entry.subject, "role": entry.role,
                                 "rpc": entry.rpc, "request_id": entry.request_id,
                                 "digest_before": entry.digest_before, "digest_after": entry.digest_after})
                await connection.execute(insert(PLAIN), rows)
        plain_seconds = time.perf_counter() - started
        print(f"plain insert: {total} rows in {plain_seconds:.1f} s", flush=True)

        started = time.perf_counter()
        for chunk in batches:
            async with sessions() as session, session.begin():
                await session.connection(execution_options=db.WRITE)
                await audit.append(session, store.AuditEntry, chunk)
        append_seconds = time.perf_counter() - started
        print(f"chained append: {total} entries in {append_seconds:.1f} s", flush=True)
    finally:
        await engine.dispose()

    started = time.perf_counter()
    report = audit.verify(url)
    verify_seconds = time.perf_counter() - started
    if not report.ok or report.entries != total:
        raise RuntimeError(f"the chain does not verify: {report}")
    print(f"verified {report.entries} entries and {report.checkpoints} checkpoints in {verify_seconds:.1f} s",
          flush=True)
    append_per_s, plain_per_s = total / append_seconds, total / plain_seconds
    return {"bench": "audit", "db": "",
            "entries": total, "batch": batch, "append_per_s": round(append_per_s),
            "plain_insert_per_s": round(plain_per_s), "ratio": round(append_per_s / plain_per_s, 3),
            "verify_s": round(verify_seconds, 2), "target_ratio": TARGET_RATIO}


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.split("\n")[0])
    options.add_argument("--entries", type=int, default=1_000_000)
    options.add_argument("--batch", type=int, default=1000, help="entries per write transaction")
    options.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    return options


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ipss-bench-audit-"))
    with database(args.db, workdir, "registry") as url:
        migrate.upgrade("registry", database_url=url)
        result = asyncio.run(run(url, args.entries, args.batch))
    result["db"] = args.db
    print(f"append {result['append_per_s']}/s, plain insert {result['plain_insert_per_s']}/s (ratio "
          f"{result['ratio']}, target ≥ {TARGET_RATIO}); verify {result['verify_s']} s", flush=True)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
