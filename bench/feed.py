"""python -m bench.feed --associations 20 --events 100000: the member events feed under load.

The registry and the linkage endpoint run as the suite runs them (their own processes, mutual TLS
on loopback). Events are written through the registry's AppendMemberEvents, as the services'
outbox relays write them, while every association streams its own; each client is cut off at
random points and resumes after the last position it received. Then the same linkage server
kit streams the same payloads from memory (no database, no registry): the floor, in the same run.

The last line is JSON: events_per_s (events written and delivered, over the time from the first
write to the last delivery), p99_delivery_ms (from the write call to the client's receipt), lost,
out_of_order, duplicates_after_resume, bare_stream_events_per_s, and their ratio."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from bench.processes import free_port, process, token_keys, wait_ready
from bench.registry_lookup import fresh_database, registry_process
from ipss.linkage.v1 import linkage_pb2 as pb
from ipss.linkage.v1 import linkage_pb2_grpc as pb_grpc
from ipss.registry.v1 import registry_pb2 as rpb
from ipss.registry.v1 import registry_pb2_grpc as rpb_grpc
from services.linkage.enrolment import issue_certificates
from suite import auth, migrate, testdata, tls
from suite.probes import healthy

BENCH = "feed"
MEMBERS_PER_ASSOCIATION = 5
WRITE_BATCH = 250
WRITERS = 4


@dataclass
class Stream:
    """What one association's client received, across its reconnections."""

    association_id: str
    expected: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    last_position: int = 0
    # The position the current watch resumed after: the server must send nothing at or before it.
    asked_after: int = 0
    # The planned index of the latest event received of each write batch: a batch's events are
    # written in one transaction, in their planned order, and must arrive in it.
    latest_of_batch: dict[int, int] = field(default_factory=dict)
    out_of_order: int = 0
    duplicates_after_resume: int = 0
    resumes: int = 0
    delays_ms: list[float] = field(default_factory=list)
    last_at: float = 0.0


def operator() -> tuple:
    return (("authorization", f"Bearer {auth.mint('operator', 'bench-feed')}"),)


def relay() -> tuple:
    """As the services' outbox relays call the registry: the machine key's token."""
    return (("authorization", f"Bearer {auth.machine_signer().mint('machine', 'bench-feed-relay')}"),)


async def set_up(registry_address: str, associations: int, certs: Path
                 ) -> dict[str, list[str]]:
    """Associations, each with its members and certificate: the member agency ids by association."""
    members: dict[str, list[str]] = {}
    async with grpc.aio.insecure_channel(registry_address) as channel:
        stub = rpb_grpc.RegistryServiceStub(channel)
        for n in range(associations):
            code = testdata.credit_code("110000")
            association = (await stub.CreateAssociation(rpb.CreateAssociationRequest(
                idempotency_key=uuid.uuid4().hex, name=f"基准协会{n:02d}", credit_code=code, region_code="110000",
                kinds=[rpb.AGENCY_KIND_PATENT]), metadata=operator())).association
            members[association.id] = []
            for _ in range(MEMBERS_PER_ASSOCIATION):
                agency = (await stub.CreateAgency(testdata.agency_request(), metadata=operator())).agency
                await stub.AdmitMember(rpb.AdmitMemberRequest(
                    idempotency_key=uuid.uuid4().hex, association_id=association.id, agency_id=agency.id,
                    joined_on="2020-01-01"), metadata=operator())
                members[association.id].append(agency.id)
    await issue_certificates(list(members), days=30, registry_address=registry_address, directory=certs)
    return members


def plan_events(members: dict[str, list[str]], count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(association, agency, source key) of each event, the associations in turn."""
    associations = list(members)
    return [(associations[i % len(associations)], rng.choice(members[associations[i % len(associations)]]),
             f"bench:{i}") for i in range(count)]


async def write(registry_address: str, planned: list[tuple[str, str, str]], sent: dict[str, float]
                ) -> None:
    batches = [planned[i:i + WRITE_BATCH] for i in range(0, len(planned), WRITE_BATCH)]
    queue: asyncio.Queue = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def writer(stub) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            at = Timestamp()
            at.GetCurrentTime()
            now = time.perf_counter()
            for _, _, key in batch:
                sent[key] = now
            await stub.AppendMemberEvents(rpb.AppendMemberEventsRequest(events=[rpb.MemberEventDraft(
                source_key=key, kind=rpb.MEMBER_EVENT_KIND_CASE_OPENED, agency_id=agency, occurred_at=at,
                subject_id=key, facts={"on": "2026-12-04"}) for _, agency, key in batch]), metadata=relay(),
                timeout=60)

    async with grpc.aio.insecure_channel(registry_address) as channel:
        stub = rpb_grpc.RegistryServiceStub(channel)
        await asyncio.gather(*(writer(stub) for _ in range(WRITERS)))


async def follow(address: str, authority: Path, client: tls.KeyPair, stream: Stream, sent: dict[str, float],
                 rng: random.Random, deadline: float) -> None:
    """Stream until every expected event came, cut off after a random number of events each time
    and resumed after the last position received."""
    credentials = tls.client_credentials(authority, client)
    while stream.seen != stream.expected and time.perf_counter() < deadline:
        cut_after = rng.randint(100, 2000)
        received, stream.asked_after = 0, stream.last_position
        async with grpc.aio.secure_channel(address, credentials) as channel:
            call = pb_grpc.AssociationLinkServiceStub(channel).WatchMemberEvents(
                pb.WatchMemberEventsRequest(after_position=stream.last_position))
            try:
                async for answer in call:
                    now = time.perf_counter()
                    for event in answer.events:
                        take(stream, event, now, sent)
                    received += len(answer.events)
                    if received >= cut_after or stream.seen == stream.expected or now > deadline:
                        call.cancel()
                        break
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.CANCELLED:
                    raise
        stream.resumes += 1


def take(stream: Stream, event, now: float, sent: dict[str, float]) -> None:
    """Count what a watch must never do: send again what came before the position it resumed
    after, go back in position, or deliver a write batch out of its order."""
    if event.position <= stream.asked_after:
        stream.duplicates_after_resume += 1
        return
    if event.position <= stream.last_position or event.subject_id in stream.seen:
        stream.out_of_order += 1
        return
    stream.last_position = event.position
    if event.subject_id in sent:
        index = int(event.subject_id.rpartition(":")[2])
        batch = index // WRITE_BATCH
        if index < stream.latest_of_batch.get(batch, -1):
            stream.out_of_order += 1
        stream.latest_of_batch[batch] = index
        stream.seen.add(event.subject_id)
        stream.delays_ms.append((now - sent[event.subject_id]) * 1000)
        stream.last_at = now


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


# ---- the floor: the same server kit streaming the same payloads from memory -----------------

def bare_page(count: int) -> pb.WatchMemberEventsResponse:
    at = Timestamp()
    at.GetCurrentTime()
    return pb.WatchMemberEventsResponse(events=[rpb.MemberEvent(
        position=i + 1, kind=rpb.MEMBER_EVENT_KIND_CASE_OPENED, agency_id=f"agency-{uuid.uuid4().hex[:12]}",
        agency_name="知远专利代理事务所000000", agency_credit_code=testdata.credit_code(), occurred_at=at,
        subject_id=f"bench:{i}", facts={"on": "2026-12-04"}) for i in range(count)])


async def serve_bare(port: int, health_port: int, per_stream: int) -> None:
    """A linkage server (the suite's server kit, mutual TLS, its interceptor) whose watch streams
    `per_stream` events from memory in pages as the real one sends them; health checks on a
    plaintext port, as the real one answers them."""
    from services.linkage.api import WATCH_PAGE
    from suite.grpc_server import ServiceBinding, SuiteServer, run_until_signalled

    page = bare_page(WATCH_PAGE)

    class Bare(pb_grpc.AssociationLinkServiceServicer):
        async def WatchMemberEvents(self, request, context):
            for _ in range(per_stream // WATCH_PAGE):
                yield page

    async def any_certificate(metadata, context) -> auth.Principal:
        return auth.Principal(subject="bench", role="association", association_id="bench")

    authority, server_keys = tls.ensure_server()
    server = SuiteServer("linkage-bare", [ServiceBinding("ipss.linkage.v1.AssociationLinkService",
                                                         pb_grpc.add_AssociationLinkServiceServicer_to_server,
                                                         Bare())],
                         authenticate=any_certificate, credentials=tls.server_credentials(authority, server_keys))
    health = SuiteServer("linkage-bare-health", [])
    await health.start(f"127.0.0.1:{health_port}")
    await run_until_signalled(server, f"127.0.0.1:{port}")
    await health.stop(grace=1)


async def bare_rate(address: str, authority: Path, client: tls.KeyPair, streams: int, per_stream: int) -> float:
    credentials = tls.client_credentials(authority, client)

    async def one() -> int:
        got = 0
        async with grpc.aio.secure_channel(address, credentials) as channel:
            async for answer in pb_grpc.AssociationLinkServiceStub(channel).WatchMemberEvents(
                    pb.WatchMemberEventsRequest(after_position=0)):
                got += len(answer.events)
        return got

    started = time.perf_counter()
    total = sum(await asyncio.gather(*(one() for _ in range(streams))))
    return total / (time.perf_counter() - started)


# ---- the run ---------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict:
    rng = random.Random(args.rng_seed)
    with tempfile.TemporaryDirectory(prefix="ipss-bench-feed-") as work, fresh_database(args.db, Path(work)) as url:
        workdir = Path(work)
        os.environ.update(IPSS_VAR_DIR=str(workdir), **token_keys())
        migrate.upgrade("registry", database_url=url)
        with registry_process(url, workdir, 1) as (registry, registry_address):
            asyncio.run(wait_ready("the registry", registry, lambda: healthy(registry_address)))
            members = asyncio.run(set_up(registry_address, args.associations, workdir / "certs"))
            port, health = free_port(), free_port()
            env = dict(os.environ, IPSS_REGISTRY_ADDR=registry_address, IPSS_LINKAGE_PORT=str(port),
                       IPSS_LINKAGE_HEALTH_PORT=str(health), IPSS_LINKAGE_CALLS_PER_SECOND="100000",
                       IPSS_LINKAGE_BURST="100000", IPSS_LINKAGE_WATCHES="8", IPSS_LOG_LEVEL="warning")
            with process("linkage", [sys.executable, "-m", "services.linkage"], env, workdir) as linkage:
                asyncio.run(wait_ready("the linkage endpoint", linkage, lambda: healthy(f"127.0.0.1:{health}")))
                fed = asyncio.run(feed(f"127.0.0.1:{port}", registry_address, members, workdir, args, rng))
        bare_port, bare_health = free_port(), free_port()
        with process("linkage-bare", [sys.executable, "-m", "bench.feed", "--serve-bare", str(bare_port),
                                      "--health-port", str(bare_health),
                                      "--per-stream", str(args.events // args.associations)],
                     dict(os.environ), workdir) as bare:
            asyncio.run(wait_ready("the bare server", bare, lambda: healthy(f"127.0.0.1:{bare_health}")))
            any_client = tls.association_pair(next(iter(members)), workdir / "certs")
            bare_events_per_s = asyncio.run(bare_rate(f"127.0.0.1:{bare_port}",
                                                      tls.authority_pair(workdir / "certs").certificate, any_client,
                                                      args.associations, args.events // args.associations))
    return {"bench": BENCH, "db": args.db, "associations": args.associations, "events": args.events, **fed,
            "bare_stream_events_per_s": round(bare_events_per_s),
            "ratio_to_bare": round(fed["events_per_s"] / bare_events_per_s, 3),
            "load_average_1m": round(os.getloadavg()[0], 2)}


async def feed(address: str, registry_address: str, members: dict[str, list[str]], workdir: Path,
               args: argparse.Namespace, rng: random.Random) -> dict:
    planned = plan_events(members, args.events, rng)
    streams = {association: Stream(association) for association in members}
    for association, _, key in planned:
        streams[association].expected.add(key)
    sent: dict[str, float] = {}
    authority = tls.authority_pair(workdir / "certs").certificate
    started = time.perf_counter()
    deadline = started + args.timeout
    followers = [asyncio.create_task(follow(address, authority, tls.association_pair(a, workdir / "certs"),
                                            streams[a], sent, random.Random(rng.random()), deadline))
                 for a in members]
    await write(registry_address, planned, sent)
    written = time.perf_counter()
    await asyncio.gather(*followers)
    finished = max(s.last_at for s in streams.values())
    delays = [d for s in streams.values() for d in s.delays_ms]
    lost = sum(len(s.expected - s.seen) for s in streams.values())
    return {"events_per_s": round((args.events - lost) / (finished - started)),
            "write_seconds": round(written - started, 2), "p50_delivery_ms": round(percentile(delays, 0.5), 1),
            "p99_delivery_ms": round(percentile(delays, 0.99), 1), "lost": lost,
            "out_of_order": sum(s.out_of_order for s in streams.values()),
            "duplicates_after_resume": sum(s.duplicates_after_resume for s in streams.values()),
            "resumes": sum(s.resumes for s in streams.values())}


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog="python -m bench.feed", description=__doc__.split("\n")[0])
    options.add_argument("--associations", type=int, default=20)
    options.add_argument("--events", type=int, default=100_000)
    options.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    options.add_argument("--timeout", type=float, default=900, help="give up on delivery after this many seconds")
    options.add_argument("--rng-seed", type=int, default=2026)
    options.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    options.add_argument("--health-port", type=int, help=argparse.SUPPRESS)
    options.add_argument("--per-stream", type=int, default=5000, help=argparse.SUPPRESS)
    return options


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.serve_bare:
        asyncio.run(serve_bare(args.serve_bare, args.health_port, args.per_stream))
        return 0
    result = run(args)
    ratio_met = result["ratio_to_bare"] >= 0.5
    print(f"{BENCH}: {result['events']} events to {result['associations']} associations: "
          f"{result['events_per_s']} events/s delivered (bare stream {result['bare_stream_events_per_s']}/s, "
          f"ratio {result['ratio_to_bare']}, target 0.5 {'met' if ratio_met else 'not met'}), "
          f"p99 delivery {result['p99_delivery_ms']} ms, lost {result['lost']}, out of order "
          f"{result['out_of_order']}, duplicates after resume {result['duplicates_after_resume']}, "
          f"{result['resumes']} resumes", flush=True)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
