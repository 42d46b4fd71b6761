"""The member-event outboxes of the complaints and inspections services (suite.outbox), on SQLite
and PostgreSQL: an event is committed in the same transaction as the record that brings it (a
write that fails leaves none; a retried write adds none), it carries only whitelisted public
facts (never a reason or a reporter), and the relay hands it to the real registry, whose member
events feed then shows it to the agency's association."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import grpc
import pytest
import sqlalchemy
from sqlalchemy import select

from ipss.registry.v1 import registry_pb2 as rpb
from ipss.registry.v1 import registry_pb2_grpc as rpb_grpc
from services.complaints import store as complaints_store
from services.complaints.domain import ReporterIdentity
from services.inspections import store as inspections_store
from suite import db, migrate, outbox, testdata
from tests.conftest import fresh_database, metadata
from tests.grpc_checks import error_info
from tests.test_migrations import sample_row

SENTINEL = "机密哨兵-7f3a"  # typed in a reason and as the reporter's name: must reach no event
AT = datetime(2026, 3, 5, 2, 0, tzinfo=timezone.utc)


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


async def complaints_with_case(url: str, agency_id: str = "agency-1") -> tuple[complaints_store.ComplaintsStore, str]:
    """A migrated complaints database with one case record (and a reporter named SENTINEL)."""
    migrate.upgrade("complaints", database_url=url)
    store = complaints_store.ComplaintsStore(db.create_engine(url))
    case_id = f"case-2026-110000-{uuid.uuid4().int % 1000000:06d}"
    async with store.sessions() as session, session.begin():
        session.add(complaints_store.Case(
            id=case_id, revision=0, stage="verification", status="received", outcome="", region_code="110108",
            agency_id=agency_id, agency_name="知远专利代理事务所", agency_credit_code="91110108MA01ABCD1X",
            agency_kind="patent", category="false_advertising", source="public", received_on=date(2026, 3, 2),
            due_sort=date(9999, 12, 31), rules_version="2026.1", deadlines=[], allowed_actions=[],
            created_at=AT, updated_at=AT))
        await session.flush()
        reference = f"rp-{uuid.uuid4().hex[:10]}"
        session.add(complaints_store.Reporter(reference=reference, case_id=case_id, real_name=True, created_at=AT,
                                              identity=store.identities.seal(reference, ReporterIdentity(
                                                  True, name=SENTINEL, phone="13800138000"))))
    return store, case_id


def progress(revision: int, *entries: tuple[str, bool, dict], stage: str | None = "investigation",
             referral: dict | None = None) -> complaints_store.Progress:
    return complaints_store.Progress(
        revision=revision, summary=dict(stage=stage, status="opened", region_code="110108"), deadlines=[],
        allowed_actions=[], new_entries=[dict(revision=revision, at=AT + timedelta(minutes=revision), actor="handler",
                                              action=action, detail="", internal=internal, data=data)
                                         for action, internal, data in entries], referral=referral)


def referral(association_id: str, sent_on: date, grounds: str, **answer) -> dict:
    """The referral as the case workflow's summary carries it."""
    return dict(association_id=association_id, sent_on=sent_on, grounds=grounds, answer="", answered_on=None,
                measure="", answer_reason="") | answer


async def outbox_rows(engine, model) -> list:
    async with db.sessionmaker(engine)() as session:
        return list((await session.execute(select(model).order_by(model.id))).scalars())


def nowhere_in(rows: list, text: str) -> bool:
    return all(text not in json.dumps([r.source_key, r.kind, r.subject_id, r.facts, r.association_id],
                                      ensure_ascii=False) for r in rows)


# ---- complaints: written with the case record ------------------------------------------------------

async def test_public_entries_become_member_events_once_with_public_facts_only(database_url):
    store, case_id = await complaints_with_case(database_url)
    woken = []
    store.on_member_events = lambda: woken.append(1)
    try:
        assert await store.record_progress(case_id, progress(
            1, ("opened", False, {"on": "2026-03-05"}), ("opening_grounds", True, {"reason": SENTINEL}),
            ("assigned", True, {"assignee": "handler-li"})), AT)
        decision = progress(2, ("decided", False, {"on": "2026-04-15", "penalty_kind": "fine", "fine_cny": "50000",
                                                   "suspension_months": "0"}),
                            ("decision_submitted", True, {"reason": SENTINEL}),
                            ("published", False, {"until": "2029-04-15"}), stage="decided")
        assert await store.record_progress(case_id, decision, AT)
        assert not await store.record_progress(case_id, decision, AT)  # a retried write
        assert await store.record_progress(case_id, progress(3, ("publicity_ended", False, {}),
                                                             ("declined", False, {"reason": SENTINEL}),
                                                             stage="decided"), AT)
        rows = await outbox_rows(store.engine, complaints_store.MemberEventOutbox)
        assert [(r.source_key, r.kind, r.facts) for r in rows] == [
            (f"complaints:{case_id}:1:0", "case_opened", {"on": "2026-03-05"}),
            (f"complaints:{case_id}:2:0", "decision", {"on": "2026-04-15"}),  # no penalty before publication
            (f"complaints:{case_id}:2:2", "publication", {"until": "2029-04-15", "penalty_kind": "fine"}),
            (f"complaints:{case_id}:3:0", "publication_ended", {})]
        assert {(r.agency_id, r.subject_id, r.association_id, r.relayed_at) for r in rows} == {
            ("agency-1", case_id, "", None)}
        assert nowhere_in(rows, SENTINEL)
        assert len(woken) == 3  # the retry added nothing, so woke nothing
    finally:
        await store.engine.dispose()


async def test_a_referral_is_its_associations_event_and_the_record_keeps_it(database_url):
    store, case_id = await complaints_with_case(database_url)
    try:
        sent = referral("assoc-bj", date(2026, 3, 5), SENTINEL)
        await store.record_progress(case_id, progress(
            1, ("referred", False, {"on": "2026-03-05"}),
            ("referral_grounds", True, {"association_id": "assoc-bj", "reason": SENTINEL}), stage="referred",
            referral=sent), AT)
        [row] = await outbox_rows(store.engine, complaints_store.MemberEventOutbox)
        assert (row.kind, row.association_id, row.facts) == ("referral_sent", "assoc-bj", {"on": "2026-03-05"})
        assert nowhere_in([row], SENTINEL)
        case = await store.get_case(case_id)
        assert (case.referral_association_id, case.referral_sent_on, case.referral_grounds) == (
            "assoc-bj", date(2026, 3, 5), SENTINEL)
        await store.record_progress(case_id, progress(
            2, ("referral_declined", True, {"on": "2026-03-16", "reason": "非会员"}),
            referral=sent | dict(answer="declined", answered_on=date(2026, 3, 16), answer_reason="非会员")), AT)
        case = await store.get_case(case_id)
        assert (case.referral_answer, case.referral_answered_on, case.referral_answer_reason) == (
            "declined", date(2026, 3, 16), "非会员")
        assert len(await outbox_rows(store.engine, complaints_store.MemberEventOutbox)) == 1
    finally:
        await store.engine.dispose()


async def test_a_record_write_that_fails_leaves_no_member_event(database_url):
    store, case_id = await complaints_with_case(database_url)
    try:
        broken = progress(1, ("opened", False, {"on": "2026-03-05"}), stage=None)  # the stage is NOT NULL
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            await store.record_progress(case_id, broken, AT)
        assert await outbox_rows(store.engine, complaints_store.MemberEventOutbox) == []
        assert (await store.case_file(case_id)).timeline == []
        assert (await store.get_case(case_id)).revision == 0
    finally:
        await store.engine.dispose()


# ---- inspections: a task's result published -----------------------------------------------------------

async def test_a_published_inspection_result_is_an_event_with_the_task(database_url):
    migrate.upgrade("inspections", database_url=database_url)
    sync = sqlalchemy.create_engine(db.sync_url(database_url))
    stored = sqlalchemy.MetaData()
    stored.reflect(sync)
    tables = stored.tables
    with sync.begin() as connection:
        for name in ("plans", "campaigns"):
            connection.execute(tables[name].insert().values(sample_row(tables[name])))
        connection.execute(tables["tasks"].insert().values({
            **sample_row(tables["tasks"]), "id": "task-1", "agency_credit_code": "91110108MA01ABCD1X",
            "outcome": "", "published_on": None, "revision": 0, "findings": SENTINEL}))
    sync.dispose()
    store = inspections_store.InspectionsStore(db.create_engine(database_url))
    try:
        fields = dict(stage="concluded", outcome="problem", findings=SENTINEL, published_on=None, overdue=False)
        assert await store.record_task_progress("task-1", 1, dict(fields))
        assert await outbox_rows(store.engine, inspections_store.MemberEventOutbox) == []
        assert await store.record_task_progress("task-1", 2, {**fields, "stage": "closed",
                                                              "published_on": date(2026, 5, 6)})
        assert await store.record_task_progress("task-1", 3, {**fields, "stage": "closed",
                                                              "published_on": date(2026, 5, 6)})
        [row] = await outbox_rows(store.engine, inspections_store.MemberEventOutbox)
        assert (row.source_key, row.kind, row.subject_id, row.agency_id, row.agency_credit_code, row.facts) == (
            "inspections:task-1:published", "inspection_result_published", "task-1", "", "91110108MA01ABCD1X",
            {"published_on": "2026-05-06", "result": "problem"})
        assert nowhere_in([row], SENTINEL)
    finally:
        await store.engine.dispose()


# ---- the relay, to the real registry ----------------------------------------------------------------

async def _member_of_an_association(registry) -> tuple[rpb.Agency, rpb.Association]:
    stub = rpb_grpc.RegistryServiceStub(registry.channel)
    agency = (await stub.CreateAgency(testdata.agency_request(), metadata=metadata("operator"))).agency
    association = (await stub.CreateAssociation(rpb.CreateAssociationRequest(
        idempotency_key=uuid.uuid4().hex, name=f"北京市专利代理师协会{uuid.uuid4().hex[:6]}",
        credit_code=testdata.credit_code("110000"), region_code="110000", kinds=[rpb.AGENCY_KIND_PATENT]),
        metadata=metadata("operator"))).association
    await stub.AdmitMember(rpb.AdmitMemberRequest(idempotency_key=uuid.uuid4().hex, association_id=association.id,
                                                  agency_id=agency.id, joined_on="2020-01-01"),
                           metadata=metadata("operator"))
    return agency, association


async def _feed(registry, association_id: str) -> list[rpb.MemberEvent]:
    """The association's events from the oldest the shared registry still keeps (another module's
    test prunes the feed), as a client resumes after an OUT_OF_RANGE."""
    stub = rpb_grpc.RegistryServiceStub(registry.channel)
    after = 0
    while True:
        try:
            answer = await stub.ReadMemberEvents(rpb.ReadMemberEventsRequest(
                association_id=association_id, after_position=after, limit=1000), metadata=metadata("operator"))
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.OUT_OF_RANGE:
                raise
            after = int(error_info(error).metadata["oldest_position"]) - 1
            continue
        return list(answer.events)


async def test_the_relay_hands_the_events_to_the_registry_once(registry):
    agency, association = await _member_of_an_association(registry)
    with fresh_database(backend_of(registry.database_url)) as url:
        store, case_id = await complaints_with_case(url, agency.id)
        relay = outbox.OutboxRelay(store.engine, complaints_store.MemberEventOutbox, "complaints", registry.address)
        try:
            await store.record_progress(case_id, progress(
                1, ("opened", False, {"on": "2026-03-05"}), ("opening_grounds", True, {"reason": SENTINEL})), AT)
            await store.record_progress(case_id, progress(
                2, ("referred", False, {"on": "2026-03-06"}),
                ("referral_grounds", True, {"association_id": association.id, "reason": SENTINEL}),
                stage="referred", referral=referral(association.id, date(2026, 3, 6), SENTINEL)), AT)
            assert await relay.relay_once() == 2
            assert await relay.relay_once() == 0
            rows = await outbox_rows(store.engine, complaints_store.MemberEventOutbox)
            assert all(r.relayed_at is not None for r in rows)

            def ours(events):
                return [(e.kind, e.subject_id, dict(e.facts)) for e in events if e.subject_id == case_id]
            expected = [(rpb.MEMBER_EVENT_KIND_CASE_OPENED, case_id, {"on": "2026-03-05"}),
                        (rpb.MEMBER_EVENT_KIND_REFERRAL_SENT, case_id, {"on": "2026-03-06"})]
            assert ours(await _feed(registry, association.id)) == expected
            # Relayed again (a replica that crashed before marking them): appended once all the same.
            async with store.sessions() as session, session.begin():
                await session.execute(sqlalchemy.update(complaints_store.MemberEventOutbox).values(relayed_at=None))
            assert await relay.relay_once() == 2
            feed = await _feed(registry, association.id)
            assert ours(feed) == expected
            assert all(SENTINEL not in str(e) for e in feed)
        finally:
            await relay.stop()
            await store.engine.dispose()


async def test_the_running_relay_is_woken_by_a_commit_and_waits_out_an_absent_registry(registry):
    agency, association = await _member_of_an_association(registry)
    with fresh_database(backend_of(registry.database_url)) as url:
        store, case_id = await complaints_with_case(url, agency.id)
        # First a registry that is not there: the events wait, then go once it answers.
        absent = outbox.OutboxRelay(store.engine, complaints_store.MemberEventOutbox, "complaints", "127.0.0.1:1",
                                    idle_seconds=60, backoff_seconds=(0.05, 0.2))
        store.on_member_events = absent.wake
        absent.start()
        try:
            await store.record_progress(case_id, progress(1, ("opened", False, {"on": "2026-03-05"})), AT)
            await asyncio.sleep(0.5)
            [waiting] = await outbox_rows(store.engine, complaints_store.MemberEventOutbox)
            assert waiting.relayed_at is None
        finally:
            await absent.stop()
        relay = outbox.OutboxRelay(store.engine, complaints_store.MemberEventOutbox, "complaints", registry.address,
                                   idle_seconds=60)
        store.on_member_events = relay.wake
        relay.start()
        try:
            await store.record_progress(case_id, progress(2, ("decided", False, {"on": "2026-04-15",
                                                                                 "penalty_kind": "warning"}),
                                                          stage="closed"), AT)
            for _ in range(100):  # woken by the commit, well before its 60 s idle sleep
                rows = await outbox_rows(store.engine, complaints_store.MemberEventOutbox)
                if all(r.relayed_at is not None for r in rows):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the relay did not deliver after the commit woke it")
            kinds = [e.kind for e in await _feed(registry, association.id) if e.subject_id == case_id]
            assert kinds == [rpb.MEMBER_EVENT_KIND_CASE_OPENED, rpb.MEMBER_EVENT_KIND_DECISION]
        finally:
            await relay.stop()
            await store.engine.dispose()
