"""The audit log (suite.audit), on SQLite and PostgreSQL: a state-changing call appends one
chained entry with its caller, role, RPC and request id (a retry with its idempotency key and a
refused call append nothing); `verify` names an entry changed, removed, inserted or swapped in
the database, a checkpoint whose signature or signed hash was changed, and a truncated log;
concurrent appends stay one chain; `ipss audit verify` says so in its exit code."""

from __future__ import annotations

import asyncio
import gzip
import uuid

import grpc
import pytest
import sqlalchemy

from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from launcher import cli
from services.registry import store
from suite import audit, db, migrate, testdata
from tests.conftest import BACKENDS, fresh_database, metadata, running_registry


def agency_request(credit_code: str = "") -> pb.CreateAgencyRequest:
    uid = uuid.uuid4().hex[:12]
    return pb.CreateAgencyRequest(
        idempotency_key=f"key-{uid}", name=f"审计{uid}知识产权代理有限公司", kind=pb.AGENCY_KIND_PATENT,
        credit_code=credit_code or testdata.credit_code("110000"), licence_number=f"{uid.upper()}-11",
        region_code="110108", legal_form=pb.LEGAL_FORM_LIMITED_COMPANY, legal_representative="王建国",
        address="北京市海淀区知春路1号" + uid, phone="010-62345678", established_on="2015-06-01")


def rows(url: str) -> list:
    engine = sqlalchemy.create_engine(db.sync_url(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(sqlalchemy.text("SELECT * FROM audit_log ORDER BY position")))
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    engine = sqlalchemy.create_engine(db.sync_url(url))
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(sqlalchemy.text(statement))
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_state_changing_call_appends_one_chained_entry(backend):
    async with running_registry(backend) as registry:
        stub = pb_grpc.RegistryServiceStub(registry.channel)
        operator = metadata("operator", subject="audit-operator")
        first = agency_request()
        request_id = f"req-{uuid.uuid4().hex}"
        created = await stub.CreateAgency(first, metadata=operator + (("x-request-id", request_id),))
        # Retried with its key: answered as the first time, nothing appended.
        again = await stub.CreateAgency(first, metadata=operator)
        assert again == created
        # Refused inside the write (the credit code is taken): nothing appended.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateAgency(agency_request(credit_code=first.credit_code), metadata=operator)
        assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
        await stub.CreateAgency(agency_request(), metadata=operator)

        entries = rows(registry.database_url)
        assert [entry.position for entry in entries] == [1, 2]
        assert (entries[0].subject, entries[0].role, entries[0].rpc, entries[0].request_id) == (
            "audit-operator", "operator", "CreateAgency", request_id)
        assert entries[0].digest_before == audit.digest(first.SerializeToString(deterministic=True))
        assert entries[0].digest_after == audit.digest(created.SerializeToString())
        assert entries[0].prev_hash == audit.GENESIS and entries[1].prev_hash == entries[0].entry_hash
        report = audit.verify(registry.database_url)
        assert report.ok and report.entries == 2


ENTRIES = 12


@pytest.fixture(params=BACKENDS)
async def chain(request, monkeypatch):
    """A registry database with ENTRIES audit entries, a checkpoint signed every fifth."""
    monkeypatch.setattr(audit, "CHECKPOINT_EVERY", 5)
    with fresh_database(request.param) as url:
        migrate.upgrade("registry", database_url=url)
        engine = db.create_engine(url)
        sessions = db.sessionmaker(engine)
        try:
            for number in range(ENTRIES):
                async with sessions() as session, session.begin():
                    await session.connection(execution_options=db.WRITE)
                    await audit.append(session, store.AuditEntry, [audit.Entry(
                        rpc="CreateAgency", digest_before=audit.digest(b"before %d" % number),
                        digest_after=audit.digest(b"after %d" % number), subject=f"user-{number}", role="operator",
                        request_id=f"req-{number}")])
            yield url, sessions
        finally:
            await engine.dispose()


async def test_an_untouched_chain_verifies(chain):
    url, _ = chain
    report = audit.verify(url)
    assert report.ok, report.problem
    assert (report.entries, report.checkpoints, report.signed_through) == (ENTRIES, 2, 10)


def swap(position_a: int, position_b: int) -> list[str]:
    return [f"UPDATE audit_log SET position = -1 WHERE position = {position_a}",
            f"UPDATE audit_log SET position = {position_a} WHERE position = {position_b}",
            f"UPDATE audit_log SET position = {position_b} WHERE position = -1"]


def renumber_from(position: int, by: int) -> list[str]:
    # Two steps, so that no position collides on the way (SQLite checks the key row by row).
    return [f"UPDATE audit_log SET position = -(position + {by}) WHERE position >= {position}",
            "UPDATE audit_log SET position = -position WHERE position < 0"]


def copy_of(position: int, new_position: int, **changes: str) -> str:
    values = {"subject": "subject", "rpc": "rpc", "prev_hash": "prev_hash", "entry_hash": "entry_hash", **changes}
    return (f"INSERT INTO audit_log (position, at, subject, role, rpc, request_id, digest_before, digest_after, "
            f"prev_hash, entry_hash) SELECT {new_position}, at, {values['subject']}, role, {values['rpc']}, "
            f"request_id, digest_before, digest_after, {values['prev_hash']}, {values['entry_hash']} FROM audit_log "
            f"WHERE position = {position}")


TAMPERING = {
    "a field changed": (["UPDATE audit_log SET subject = 'someone-else' WHERE position = 7"], 7, "changed"),
    "a digest changed": (["UPDATE audit_log SET digest_after = digest_before WHERE position = 3"], 3, "changed"),
    "an entry deleted": (["DELETE FROM audit_log WHERE position = 4"], 4, "removed"),
    "an entry deleted, the rest renumbered": (["DELETE FROM audit_log WHERE position = 4"] + renumber_from(5, -1),
                                              4, "removed"),
    "the last entries deleted past a checkpoint": (["DELETE FROM audit_log WHERE position >= 9"], 9, "removed"),
    "an entry inserted, the rest renumbered": (renumber_from(6, 1) + [copy_of(5, 6, subject="'intruder'",
                                                                             prev_hash="'" + "1" * 64 + "'")],
                                               6, "inserted"),
    "two entries swapped": (swap(8, 9), 8, "reordered"),
    # Its first base64 character made another (a signature may start with 'A' already).
    "a checkpoint's signature changed": (["UPDATE audit_checkpoints SET signature = CASE WHEN substr(signature, 1, 1) "
                                          "= 'A' THEN 'B' ELSE 'A' END || substr(signature, 2) WHERE position = 5"],
                                         5, "checkpoint"),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
async def test_verify_names_the_tampered_entry(chain, tampering):
    url, _ = chain
    statements, position, kind = TAMPERING[tampering]
    execute(url, *statements)
    report = audit.verify(url)
    assert report.problem is not None, tampering
    assert (report.problem.position, report.problem.kind) == (position, kind), str(report.problem)


async def test_an_inserted_entry_with_a_valid_link_is_named(chain):
    """An entry put between 5 and 6 that links to 5 and hashes right: 6 then follows 5, not it."""
    url, _ = chain
    fifth = rows(url)[4]
    content = audit.canonical(audit._moment(fifth.at), "intruder", fifth.role, fifth.rpc, fifth.request_id,
                              fifth.digest_before, fifth.digest_after)
    forged = audit.chain_hash(fifth.entry_hash, content)
    execute(url, *renumber_from(6, 1), copy_of(5, 6, subject="'intruder'", prev_hash=f"'{fifth.entry_hash}'",
                                               entry_hash=f"'{forged}'"))
    problem = audit.verify(url).problem
    assert (problem.position, problem.kind) == (6, "inserted"), str(problem)


async def test_a_recomputed_chain_is_caught_by_the_next_checkpoint(chain):
    """Whoever changes entry 7 and recomputes every later hash still differs from checkpoint 10."""
    url, _ = chain
    entries = rows(url)
    prev = entries[5].entry_hash
    statements = []
    for entry in entries[6:]:
        subject = "someone-else" if entry.position == 7 else entry.subject
        entry_hash = audit.chain_hash(prev, audit.canonical(audit._moment(entry.at), subject, entry.role, entry.rpc,
                                                            entry.request_id, entry.digest_before, entry.digest_after))
        statements.append(f"UPDATE audit_log SET subject = '{subject}', prev_hash = '{prev}', "
                          f"entry_hash = '{entry_hash}' WHERE position = {entry.position}")
        prev = entry_hash
    execute(url, *statements)
    problem = audit.verify(url).problem
    assert (problem.position, problem.kind) == (10, "changed"), str(problem)


async def test_a_checkpoint_verifies_only_with_the_offices_key(chain):
    url, _ = chain
    other = audit.signing.Signer(b"\x01" * 32).public_key
    assert audit.verify(url, key=other).problem.kind == "checkpoint"


async def test_concurrent_appends_stay_one_chain(chain):
    url, sessions = chain

    async def one(number: int) -> None:
        async with sessions() as session, session.begin():
            await session.connection(execution_options=db.WRITE)
            await audit.append(session, store.AuditEntry, [audit.Entry("ChangeAgencyStatus", "b" * 64, "a" * 64,
                                                                       subject=f"concurrent-{number}")] * 3)

    await asyncio.gather(*(one(number) for number in range(10)))
    report = audit.verify(url)
    assert report.ok, report.problem
    assert report.entries == ENTRIES + 30
    assert [entry.position for entry in rows(url)] == list(range(1, ENTRIES + 31))


async def test_the_command_exits_non_zero_on_tampering(chain, capsys):
    url, _ = chain
    assert cli.main(["audit", "verify", "--service", "registry", "--database-url", url]) == 0
    assert "OK" in capsys.readouterr().out
    execute(url, "UPDATE audit_log SET rpc = 'Nothing' WHERE position = 2")
    assert cli.main(["audit", "verify", "--service", "registry", "--database-url", url]) == 1
    assert "entry 2: changed" in capsys.readouterr().out


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_published_draw_record_is_in_the_chain(backend):
    """The draw record the public is shown (ExportDrawRecord's document and its SHA-256) is in the
    inspections service's chain, and the chain verifies."""
    from ipss.inspections.v1 import inspections_pb2 as ipb
    from services.inspections import store as inspections_store
    from tests.inspections_world import SUPERVISOR_MD, drawn_plan, province_codes, register_inspectors, world

    async with world(backend, agencies=100) as running:
        province = province_codes(running.registry_url)[0]
        await register_inspectors(running.inspections, province, 8, "AUDIT")
        record = await drawn_plan(running.inspections, [province])
        exported = await running.inspections.ExportDrawRecord(ipb.ExportDrawRecordRequest(plan_id=record.plan_id),
                                                             metadata=SUPERVISOR_MD)
        async with running.inspections_store.sessions() as session:
            entries = list((await session.execute(sqlalchemy.select(inspections_store.AuditEntry)
                                                  .order_by(inspections_store.AuditEntry.position))).scalars())
            url = session.bind.url.render_as_string(hide_password=False)
        published = [entry for entry in entries if entry.rpc == "PublishDrawRecord"]
        assert [entry.digest_after for entry in published] == [exported.document_sha256]
        assert audit.digest(gzip.decompress(exported.document)) == exported.document_sha256
        assert {"RegisterInspector", "CreatePlan", "TakeSnapshot", "Draw"} <= {entry.rpc for entry in entries}
        assert audit.verify(url).ok
        public = audit.published(url)
        assert [(e["position"], e["document_sha256"]) for e in public["publications"]] == [
            (published[0].position, exported.document_sha256)]


def test_a_published_penalty_gets_an_entry_of_its_own():
    """A new revision of a case's record makes one entry, and one more for each penalty it
    publishes, with the digest of the published entry."""
    import json
    from types import SimpleNamespace

    from services.complaints import domain
    from services.complaints import store as complaints_store

    published = {"action": domain.PUBLISHED, "at": "2026-12-05T10:00:00+00:00", "data": {"until": "2029-12-05"}}
    case = SimpleNamespace(id="case-2026-110000-000001", revision=7, stage="decided", status="decided")
    progress = complaints_store.Progress(revision=8, summary={}, deadlines=[], allowed_actions=[],
                                         new_entries=[{"action": "note", "data": {}}, published])
    entries = complaints_store.progress_audit_entries(case, progress)
    assert [entry.rpc for entry in entries] == ["RecordCaseProgress", "PublishPenalty"]
    assert entries[1].digest_after == audit.digest(json.dumps([case.id, published], sort_keys=True,
                                                              ensure_ascii=False).encode())


async def test_the_public_list_names_each_publication_and_every_checkpoint(chain, capsys):
    url, sessions = chain
    document = audit.digest(b"the draw record as published")
    async with sessions() as session, session.begin():
        await session.connection(execution_options=db.WRITE)
        await audit.append(session, store.AuditEntry, [audit.Entry("PublishDrawRecord", "0" * 64, document)])
    public = audit.published(url)
    assert public["publications"][0]["position"] == ENTRIES + 1
    assert public["publications"][0]["document_sha256"] == document
    key = audit.public_key()
    assert [c["position"] for c in public["checkpoints"]] == [5, 10]
    assert all(audit.signing.verify(c["signed"].encode(), audit.signing.decode(c["signature"]), key)
               for c in public["checkpoints"])
    assert cli.main(["audit", "published", "--service", "inspections", "--database-url", url]) == 0
    assert document in capsys.readouterr().out
