"""Inspections tables (SQLAlchemy 2) and the queries and writes behind every RPC: the inspector
directory, plans with their snapshots, draw records, campaigns with the progress their workflows
record, and tasks. Writes run in one transaction each."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (JSON, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text, and_, false,
                        or_, select, update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload, undefer

from services.inspections.domain import plans
from services.inspections.domain.directory import ExclusionEntry, InspectorEntry, check_departure
from services.inspections.domain.draw import canonical
from suite import audit, clock, db, outbox, pages, workflow_outbox
from suite.errors import AlreadyExists, FailedPrecondition, NotFound
from suite.idempotency import IdempotencyRecordMixin
from suite.regions import code_range
from contracts.inspections import ASSIGNED, allowed_actions


class Base(DeclarativeBase):
    pass


class Counter(Base):
    """The last number given to a plan or a campaign in a year (plan-2026-0007)."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Inspector(Base):
    __tablename__ = "inspectors"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    office: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(db.Instant)
    # Out of the directory from this day on (调离、退休、不再持有执法证): later draws leave them out.
    left_on: Mapped[date | None] = mapped_column(Date)
    leaving_reason: Mapped[str] = mapped_column(String(500), default="", server_default="")
    departure_recorded_by: Mapped[str | None] = mapped_column(String(200))

    exclusions: Mapped[list[Exclusion]] = relationship(
        order_by="Exclusion.id", primaryjoin="and_(Inspector.id == Exclusion.inspector_id, "
                                             "Exclusion.removed_at.is_(None))", viewonly=True, lazy="raise")


class Exclusion(Base):
    """An agency, or a region of origin, an inspector must not inspect (回避), and why. Removed
    exclusions are kept, with who removed them and why."""

    __tablename__ = "exclusions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspector_id: Mapped[str] = mapped_column(ForeignKey("inspectors.id"), index=True)
    reason: Mapped[str] = mapped_column(String(30))
    agency_credit_code: Mapped[str | None] = mapped_column(String(18))
    region_code: Mapped[str | None] = mapped_column(String(6))
    note: Mapped[str] = mapped_column(String(500), default="")
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(db.Instant)
    removed_at: Mapped[datetime | None] = mapped_column(db.Instant)
    removed_by: Mapped[str] = mapped_column(String(200), default="")
    removal_reason: Mapped[str] = mapped_column(String(500), default="")


class Plan(Base):
    __tablename__ = "plans"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    regions: Mapped[list] = mapped_column(JSON)
    kinds: Mapped[list] = mapped_column(JSON)
    all_in_scope: Mapped[bool] = mapped_column(Boolean)
    ratios: Mapped[list] = mapped_column(JSON)
    inspectors_per_target: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(db.Instant)
    snapshot_hash: Mapped[str] = mapped_column(String(64), default="")
    snapshot_count: Mapped[int] = mapped_column(Integer, default=0)
    snapshot_as_of: Mapped[date | None] = mapped_column(Date)
    snapshot_taken_by: Mapped[str] = mapped_column(String(200), default="")
    snapshot_taken_at: Mapped[datetime | None] = mapped_column(db.Instant)
    # The snapshot's entries in canonical form, gzip-compressed.
    snapshot_content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    # The commitment published with the snapshot, before the draw (empty on older plans).
    seed_source: Mapped[str] = mapped_column(String(500), default="", server_default="")
    seed_available_on: Mapped[date | None] = mapped_column(Date)
    pool_hash: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # The committed inspector pool in canonical form, gzip-compressed: the draw pairs from it.
    pool_content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # The commitment as published (domain.draw.commitment), and its hash.
    commitment: Mapped[dict | None] = mapped_column(JSON)
    commitment_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")


class Draw(Base):
    """A plan's draw record (one per plan), as published."""

    __tablename__ = "draws"
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    algorithm_version: Mapped[str] = mapped_column(String(40))
    seed_value: Mapped[str] = mapped_column(String(200))
    seed_source: Mapped[str] = mapped_column(String(500))
    snapshot_hash: Mapped[str] = mapped_column(String(64))
    pool_hash: Mapped[str] = mapped_column(String(64))
    result_hash: Mapped[str] = mapped_column(String(64))
    population: Mapped[int] = mapped_column(Integer)
    inspector_count: Mapped[int] = mapped_column(Integer)
    target_count: Mapped[int] = mapped_column(Integer)
    drawn_by: Mapped[str] = mapped_column(String(200))
    drawn_at: Mapped[datetime] = mapped_column(db.Instant)
    # The canonical result (hashes to result_hash) and the drawn agencies' names, in its order.
    result: Mapped[bytes] = mapped_column(LargeBinary)
    target_names: Mapped[list] = mapped_column(JSON)
    # The whole record (plan, seed, snapshot, pool, result) as canonical JSON, gzip-compressed.
    document: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    document_sha256: Mapped[str] = mapped_column(String(64))
    # The plan's commitment the draw kept (empty on draws made before commitments).
    commitment_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    committed_at: Mapped[datetime | None] = mapped_column(db.Instant)


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    theme: Mapped[list] = mapped_column(JSON)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), unique=True)
    regions: Mapped[list] = mapped_column(JSON)
    inspectors_per_target: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), index=True)
    rules_version: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(db.Instant)
    target_count: Mapped[int] = mapped_column(Integer)
    additions: Mapped[int] = mapped_column(Integer, default=0)
    # Written by the campaign's workflow (RecordCampaignProgress), newest revision wins.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    started: Mapped[int] = mapped_column(Integer, default=0)
    checked: Mapped[int] = mapped_column(Integer, default=0)
    no_problem: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[int] = mapped_column(Integer, default=0)
    rectified: Mapped[int] = mapped_column(Integer, default=0)
    violations: Mapped[int] = mapped_column(Integer, default=0)
    cases_opened: Mapped[int] = mapped_column(Integer, default=0)
    overdue: Mapped[int] = mapped_column(Integer, default=0)
    published: Mapped[int] = mapped_column(Integer, default=0)
    not_started: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(db.Instant)


class Task(Base):
    """One target of a campaign: written at the campaign's creation, then by its workflow."""

    __tablename__ = "tasks"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    position: Mapped[int] = mapped_column(Integer)
    agency_credit_code: Mapped[str] = mapped_column(String(18), index=True)
    agency_name: Mapped[str] = mapped_column(String(200))
    agency_region_code: Mapped[str] = mapped_column(String(6))
    agency_kind: Mapped[str] = mapped_column(String(20))
    inspector_ids: Mapped[list] = mapped_column(JSON)
    added: Mapped[bool] = mapped_column(Boolean, default=False)
    stage: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20), default="")
    category: Mapped[str] = mapped_column(String(40), default="")
    findings: Mapped[str] = mapped_column(Text, default="")
    checked_on: Mapped[date | None] = mapped_column(Date)
    rectify_due_on: Mapped[date | None] = mapped_column(Date)
    rechecked_on: Mapped[date | None] = mapped_column(Date)
    rectified: Mapped[bool] = mapped_column(Boolean, default=False)
    case_id: Mapped[str] = mapped_column(String(64), default="")
    publish_due_on: Mapped[date | None] = mapped_column(Date)
    published_on: Mapped[date | None] = mapped_column(Date)
    # The due days rest on a year without a published holiday schedule (暂定).
    publish_due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    rectify_due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Once a date is missed the task stays overdue (the campaign counts it once).
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(db.Instant)
    # What the workflow allows in the current stage, as it last recorded.
    allowed_actions: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")

    __table_args__ = (
        Index("ix_tasks_campaign_position", "campaign_id", "position", unique=True),
        Index("ix_tasks_published", "published_on", "id"),
    )


class TaskInspector(Base):
    __tablename__ = "task_inspectors"
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    inspector_id: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    pass


class AuditEntry(audit.AuditEntryMixin, Base):
    """The audit log (suite.audit): an entry per state change, hash-chained."""


class AuditCheckpoint(audit.AuditCheckpointMixin, Base):
    """The audit chain's head, signed every thousand entries (suite.audit)."""


class WorkflowOutbox(workflow_outbox.WorkflowOutboxMixin, Base):
    """Campaign workflow starts, committed with the campaign (see suite.workflow_outbox)."""


class MemberEventOutbox(outbox.MemberEventOutboxMixin, Base):
    """Events about agencies for the registry's member events feed (a task's result published),
    committed with the task record that brings them (suite.outbox relays them)."""


def result_published_event(task: Task, published_on: date) -> outbox.MemberEvent:
    """A task's result published (检查结果公示): the day and the outcome's word, nothing of the
    findings. The task knows its agency by credit code; the relay finds its registry id."""
    return outbox.MemberEvent(source_key=f"inspections:{task.id}:published", kind="inspection_result_published",
                              subject_id=task.id, occurred_at=clock.now(), agency_credit_code=task.agency_credit_code,
                              facts={"published_on": published_on.isoformat(), "result": task.outcome or ""})


# ---- pagination ---------------------------------------------------------------------------------

def encode_page_token(key: str) -> str:
    """A page's key: the id of the row before it."""
    return pages.encode("inspections", key)


def decode_page_token(token: str) -> str | None:
    key = pages.decode(token, "inspections", str)
    return key[0] if key else None


def _page(rows: list, page_size: int, key=lambda row: row.id) -> tuple[list, str]:
    if len(rows) <= page_size:
        return rows, ""
    return rows[:page_size], encode_page_token(key(rows[page_size - 1]))


def compress(value) -> bytes:
    return gzip.compress(canonical(value), compresslevel=6, mtime=0)


def decompress(content: bytes):
    return json.loads(gzip.decompress(content))


@dataclass(frozen=True)
class TaskFilter:
    campaign_id: str = ""
    stages: tuple[str, ...] = ()
    inspector_id: str = ""
    region_prefix: str = ""
    overdue_only: bool = False


@dataclass(frozen=True)
class NewTask:
    credit_code: str
    name: str
    region_code: str
    kind: str
    inspector_ids: list[str]


# ---- the store ------------------------------------------------------------------------------------

class InspectionsStore:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.sessions = db.sessionmaker(engine)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # Called after a commit that added member events (the server wakes its outbox relay).
        self.on_member_events: Callable[[], None] = lambda: None

    async def _next_number(self, session: AsyncSession, name: str, year: int) -> int:
        """The next number of a plan or campaign in a year; the counter row stays locked until commit."""
        await session.execute(self._insert(Counter).values(name=name, year=year, last=0).on_conflict_do_nothing())
        counter = (await session.execute(select(Counter).where(Counter.name == name, Counter.year == year)
                                         .with_for_update().execution_options(populate_existing=True))).scalar_one()
        counter.last += 1
        return counter.last

    # -- the inspector directory --

    async def register_inspector(self, session: AsyncSession, fields: dict, by: str) -> Inspector:
        if await session.get(Inspector, fields["id"]):
            raise AlreadyExists("INSPECTOR_ALREADY_REGISTERED", f"inspector {fields['id']} is already in the directory",
                                inspector_id=fields["id"])
        session.add(Inspector(created_by=by, created_at=clock.now(), **fields))
        await session.flush()
        return await self._inspector(session, fields["id"])

    async def _inspector(self, session: AsyncSession, inspector_id: str, for_update: bool = False) -> Inspector:
        statement = select(Inspector).where(Inspector.id == inspector_id).options(selectinload(Inspector.exclusions))
        return await db.one_or_not_found(session, statement, "inspector", inspector_id, for_update)

    async def get_inspector(self, inspector_id: str) -> Inspector:
        async with self.sessions() as session:
            return await self._inspector(session, inspector_id)

    async def list_inspectors(self, region_prefix: str, page_size: int, after: str | None
                              ) -> tuple[list[Inspector], str]:
        conditions = []
        if region_prefix:
            conditions.append(Inspector.region_code.between(*code_range(region_prefix)))
        if after:
            conditions.append(Inspector.id > after)
        statement = (select(Inspector).options(selectinload(Inspector.exclusions)).where(*conditions)
                     .order_by(Inspector.id).limit(page_size + 1))
        async with self.sessions() as session:
            return _page(list((await session.execute(statement)).scalars()), page_size)

    async def add_exclusion(self, session: AsyncSession, inspector_id: str, fields: dict, by: str,
                            scope_check) -> Inspector:
        inspector = await self._inspector(session, inspector_id, for_update=True)
        scope_check(inspector.region_code)
        duplicate = [e for e in inspector.exclusions if (e.agency_credit_code, e.region_code) ==
                     (fields["agency_credit_code"], fields["region_code"])]
        if duplicate:
            raise AlreadyExists("EXCLUSION_ALREADY_RECORDED",
                                f"inspector {inspector_id} already has exclusion {duplicate[0].id} for it",
                                inspector_id=inspector_id, exclusion_id=duplicate[0].id)
        session.add(Exclusion(inspector_id=inspector_id, recorded_by=by, recorded_at=clock.now(), **fields))
        await session.flush()
        return await self._inspector(session, inspector_id)

    async def remove_exclusion(self, session: AsyncSession, inspector_id: str, exclusion_id: int, reason: str,
                               by: str, scope_check) -> Inspector:
        inspector = await self._inspector(session, inspector_id, for_update=True)
        scope_check(inspector.region_code)
        exclusion = await session.get(Exclusion, exclusion_id)
        if exclusion is None or exclusion.inspector_id != inspector_id:
            raise NotFound("exclusion", f"{inspector_id}/{exclusion_id}")
        if exclusion.removed_at is not None:
            raise FailedPrecondition("EXCLUSION_ALREADY_REMOVED", f"exclusion {exclusion_id} was already removed",
                                     subject="exclusion", exclusion_id=exclusion_id)
        exclusion.removed_at, exclusion.removed_by, exclusion.removal_reason = clock.now(), by, reason
        await session.flush()
        return await self._inspector(session, inspector_id)

    async def record_departure(self, session: AsyncSession, inspector_id: str, left_on: date, reason: str, by: str,
                               scope_check) -> Inspector:
        inspector = await self._inspector(session, inspector_id, for_update=True)
        scope_check(inspector.region_code)
        check_departure(inspector.left_on)
        inspector.left_on, inspector.leaving_reason, inspector.departure_recorded_by = left_on, reason, by
        await session.flush()
        return await self._inspector(session, inspector_id)

    async def directory(self, session: AsyncSession, region_prefixes: list[str], on: date) -> list[InspectorEntry]:
        """The inspectors in the directory on `on` whose office lies in one of the regions, with
        their exclusions in force."""
        ranges = [Inspector.region_code.between(*code_range(p)) for p in region_prefixes]
        in_service = or_(Inspector.left_on.is_(None), Inspector.left_on > on)
        inspectors = (await session.execute(select(Inspector).options(selectinload(Inspector.exclusions))
                                            .where(or_(*ranges), in_service).order_by(Inspector.id))).scalars()
        return [InspectorEntry(i.id, i.region_code, tuple(ExclusionEntry(e.agency_credit_code, e.region_code)
                                                          for e in i.exclusions)) for i in inspectors]

    # -- plans, snapshots and draws --

    async def create_plan(self, session: AsyncSession, fields: dict, by: str, year: int) -> Plan:
        plan = Plan(id=plans.new_plan_id(year), status=plans.DRAFT,
                    created_by=by, created_at=clock.now(), **fields)
        session.add(plan)
        await session.flush()
        return plan

    async def _plan(self, session: AsyncSession, plan_id: str, for_update: bool = False,
                    with_snapshot: bool = False) -> Plan:
        statement = select(Plan).where(Plan.id == plan_id)
        if with_snapshot:
            statement = statement.options(undefer(Plan.snapshot_content), undefer(Plan.pool_content))
        return await db.one_or_not_found(session, statement, "plan", plan_id, for_update)

    async def get_plan(self, plan_id: str) -> Plan:
        async with self.sessions() as session:
            return await self._plan(session, plan_id)

    async def lock_plan(self, session: AsyncSession, plan_id: str, with_snapshot: bool = False) -> Plan:
        return await self._plan(session, plan_id, for_update=True, with_snapshot=with_snapshot)

    async def save_snapshot(self, session: AsyncSession, plan: Plan, entries: list, content_hash: str, as_of: date,
                            by: str, commitment: dict | None = None, pool: list | None = None) -> Plan:
        if commitment is not None:
            plan.seed_source, plan.seed_available_on = commitment["seed_source"], commitment["seed_available_on"]
            plan.pool_hash, plan.pool_content = commitment["pool_hash"], compress(pool)
            plan.commitment, plan.commitment_sha256 = commitment["document"], commitment["sha256"]
        plan.snapshot_content = compress(entries)
        plan.snapshot_hash, plan.snapshot_count, plan.snapshot_as_of = content_hash, len(entries), as_of
        plan.snapshot_taken_by, plan.snapshot_taken_at, plan.status = by, clock.now(), plans.SNAPSHOT_TAKEN
        if commitment is not None:
            plan.snapshot_taken_at = commitment["taken_at"]
        await session.flush()
        if commitment is not None:
            # The commitment's digest in the audit chain, before any seed value is known.
            await audit.append(session, AuditEntry, [audit.for_call(
                "PublishDrawCommitment", audit.digest(plan.id.encode()), commitment["sha256"])])
        return plan

    async def save_draw(self, session: AsyncSession, plan: Plan, fields: dict, document: dict) -> Draw:
        content = canonical(document)
        draw = Draw(plan_id=plan.id, document=gzip.compress(content, compresslevel=6, mtime=0),
                    document_sha256=hashlib.sha256(content).hexdigest(), **fields)
        session.add(draw)
        plan.status = plans.DRAWN
        await session.flush()
        # The published record's digest in the audit chain, the last lock the write takes: the public
        # can check the record it was shown (ExportDrawRecord's document_sha256) was never changed.
        await audit.append(session, AuditEntry, [audit.for_call("PublishDrawRecord", audit.digest(plan.id.encode()),
                                                                draw.document_sha256)])
        return draw

    async def get_draw(self, plan_id: str, with_document: bool = False, session: AsyncSession | None = None) -> Draw:
        """The plan's draw record; inside `session` when a write depends on it (on SQLite a
        process has one connection, which that write holds)."""
        statement = select(Draw).where(Draw.plan_id == plan_id)
        if with_document:
            statement = statement.options(undefer(Draw.document))
        if session is not None:
            return await db.one_or_not_found(session, statement, "draw record", plan_id)
        async with self.sessions() as own:
            return await db.one_or_not_found(own, statement, "draw record", plan_id)

    async def pairings_published(self, plan_id: str) -> bool:
        """The pairings of a plan's draw are public once the campaign running it has ended or was
        closed (its results are then published task by task)."""
        statement = select(Campaign.status).where(Campaign.plan_id == plan_id)
        async with self.sessions() as session:
            status = (await session.execute(statement)).scalar_one_or_none()
        return status in (plans.ENDED, plans.CLOSED_EARLY)

    # -- campaigns --

    async def create_campaign(self, session: AsyncSession, fields: dict, plan: Plan, draw: Draw,
                              by: str, year: int) -> Campaign:
        now = clock.now()
        campaign = Campaign(id=plans.campaign_id(year, await self._next_number(session, "campaign", year)),
                            plan_id=plan.id, regions=plan.regions, inspectors_per_target=plan.inspectors_per_target,
                            status=plans.RUNNING, created_by=by, created_at=now, target_count=draw.target_count,
                            updated_at=now, **fields)
        session.add(campaign)
        await session.flush()
        result = json.loads(draw.result)
        await self._add_tasks(session, campaign, [
            NewTask(code, name, region, kind, inspectors)
            for (code, region, kind, _risk, inspectors), name in zip(result["targets"], draw.target_names)], 0, False)
        plan.campaign_id = campaign.id
        await session.flush()
        return campaign

    async def _add_tasks(self, session: AsyncSession, campaign: Campaign, tasks: list[NewTask], first: int,
                         added: bool) -> list[str]:
        now = clock.now()
        ids = [plans.task_id(campaign.id, t.credit_code) for t in tasks]
        if tasks:
            await session.execute(Task.__table__.insert(), [dict(
                id=task_id, campaign_id=campaign.id, position=first + index, agency_credit_code=t.credit_code,
                agency_name=t.name, agency_region_code=t.region_code, agency_kind=t.kind,
                inspector_ids=t.inspector_ids, added=added, stage="pending", outcome="", category="", findings="",
                rectified=False, case_id="", overdue=False, revision=0, updated_at=now)
                for index, (task_id, t) in enumerate(zip(ids, tasks))])
            await session.execute(TaskInspector.__table__.insert(), [
                dict(task_id=task_id, inspector_id=inspector) for task_id, t in zip(ids, tasks)
                for inspector in t.inspector_ids])
        return ids

    async def _campaign(self, session: AsyncSession, campaign_id: str, for_update: bool = False) -> Campaign:
        return await db.one_or_not_found(session, select(Campaign).where(Campaign.id == campaign_id), "campaign",
                                         campaign_id, for_update)

    async def get_campaign(self, campaign_id: str) -> Campaign:
        async with self.sessions() as session:
            return await self._campaign(session, campaign_id)

    async def lock_campaign(self, session: AsyncSession, campaign_id: str) -> Campaign:
        return await self._campaign(session, campaign_id, for_update=True)

    async def list_campaigns(self, statuses: tuple[str, ...], page_size: int, after: str | None,
                             visible: Callable[[Campaign], bool]) -> tuple[list[Campaign], str]:
        """A page of the campaigns `visible` keeps (the caller's regions): read on in id order
        until the page is full, so that a page is short only at the end."""
        conditions = [Campaign.status.in_(statuses)] if statuses else []
        kept: list[Campaign] = []
        async with self.sessions() as session:
            while True:
                cursor = [Campaign.id > after] if after else []
                rows = list((await session.execute(select(Campaign).where(*conditions, *cursor)
                                                   .order_by(Campaign.id).limit(page_size + 1))).scalars())
                for campaign in rows:
                    if not visible(campaign):
                        continue
                    if len(kept) == page_size:
                        return kept, encode_page_token(kept[-1].id)
                    kept.append(campaign)
                if len(rows) <= page_size:
                    return kept, ""
                after = rows[-1].id

    async def add_targets(self, session: AsyncSession, campaign: Campaign, tasks: list[NewTask]) -> list[Task]:
        present = set((await session.execute(select(Task.agency_credit_code).where(
            Task.campaign_id == campaign.id, Task.agency_credit_code.in_([t.credit_code for t in tasks])))).scalars())
        if present:
            listed = ", ".join(sorted(present))
            raise AlreadyExists("ALREADY_CAMPAIGN_TARGETS", f"already targets of {campaign.id}: {listed}",
                                campaign_id=campaign.id, credit_codes=listed)
        ids = await self._add_tasks(session, campaign, tasks, campaign.target_count, True)
        campaign.target_count += len(tasks)
        campaign.additions += 1
        campaign.updated_at = clock.now()
        await session.flush()
        return list((await session.execute(select(Task).where(Task.id.in_(ids)).order_by(Task.position))).scalars())

    async def campaign_targets(self, campaign_id: str, from_position: int, limit: int
                               ) -> tuple[list[Task], Campaign]:
        async with self.sessions() as session:
            campaign = await self._campaign(session, campaign_id)
            rows = (await session.execute(select(Task).where(
                Task.campaign_id == campaign_id, Task.position >= from_position).order_by(Task.position).limit(limit)
            )).scalars()
            return list(rows), campaign

    async def record_campaign_progress(self, campaign_id: str, revision: int, progress: dict, status: str,
                                       report: dict | None) -> bool:
        """The campaign's record as its workflow last saw it; an older revision changes nothing.
        Started targets become assigned; when the campaign closes the rest are dropped, and when its
        period ended the tasks still unchecked are overdue."""
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options=db.WRITE)
            campaign = await self._campaign(session, campaign_id, for_update=True)
            if revision <= campaign.revision:
                return False
            for name, value in progress.items():
                setattr(campaign, name, value)
            campaign.revision, campaign.status, campaign.updated_at = revision, status, clock.now()
            if report is not None:
                campaign.report = report
            await session.execute(update(Task).where(
                Task.campaign_id == campaign_id, Task.stage == "pending", Task.position < progress["started"])
                .values(stage=ASSIGNED, allowed_actions=allowed_actions(ASSIGNED, "")))
            if status in (plans.CLOSED_EARLY, plans.ENDED):
                await session.execute(update(Task).where(Task.campaign_id == campaign_id, Task.stage == "pending")
                                      .values(stage="dropped"))
            if status == plans.ENDED:
                await session.execute(update(Task).where(Task.campaign_id == campaign_id, Task.stage == "assigned")
                                      .values(overdue=True))
        return True

    # -- tasks --

    async def get_task(self, task_id: str) -> tuple[Task, Campaign]:
        async with self.sessions() as session:
            task = await db.one_or_not_found(session, select(Task).where(Task.id == task_id), "task", task_id)
            return task, await self._campaign(session, task.campaign_id)

    async def list_tasks(self, where: TaskFilter, page_size: int, after: str | None
                         ) -> tuple[list[tuple[Task, Campaign]], str]:
        statement = select(Task, Campaign).join(Campaign, Campaign.id == Task.campaign_id)
        conditions = []
        if where.campaign_id:
            conditions.append(Task.campaign_id == where.campaign_id)
        if where.stages:
            conditions.append(Task.stage.in_(where.stages))
        if where.inspector_id:
            conditions.append(Task.id.in_(select(TaskInspector.task_id).where(
                TaskInspector.inspector_id == where.inspector_id)))
        if where.region_prefix:
            conditions.append(Task.agency_region_code.between(*code_range(where.region_prefix)))
        if where.overdue_only:
            conditions.append(Task.overdue.is_(True))
        if after:
            conditions.append(Task.id > after)
        statement = statement.where(*conditions).order_by(Task.id).limit(page_size + 1)
        async with self.sessions() as session:
            rows = [(task, campaign) for task, campaign in await session.execute(statement)]
        return _page(rows, page_size, key=lambda row: row[0].id)

    async def record_task_progress(self, task_id: str, revision: int, fields: dict) -> bool:
        """Apply a newer revision of the task; the revision that publishes its result adds, in the
        same transaction, the member event that says so (once, by its key)."""
        added = 0
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options=db.WRITE)
            task = await db.one_or_not_found(session, select(Task).where(Task.id == task_id), "task", task_id,
                                             for_update=True)
            if revision <= task.revision:
                return False
            newly_published = fields.get("published_on") is not None and task.published_on is None
            overdue = fields.pop("overdue")
            for name, value in fields.items():
                setattr(task, name, value)
            task.overdue = task.overdue or overdue
            task.revision, task.updated_at = revision, clock.now()
            if newly_published:
                added = await outbox.add_events(session, MemberEventOutbox,
                                                [result_published_event(task, task.published_on)])
        if added:
            self.on_member_events()
        return True

    async def published_results(self, campaign_id: str, credit_code: str, page_size: int, after: str | None
                                ) -> tuple[list[tuple[Task, Campaign]], str]:
        conditions = [Task.published_on.is_not(None)]
        if campaign_id:
            conditions.append(Task.campaign_id == campaign_id)
        if credit_code:
            conditions.append(Task.agency_credit_code == credit_code)
        if after:
            conditions.append(Task.id > after)
        statement = (select(Task, Campaign).join(Campaign, Campaign.id == Task.campaign_id)
                     .where(and_(*conditions)).order_by(Task.id).limit(page_size + 1))
        async with self.sessions() as session:
            rows = [(task, campaign) for task, campaign in await session.execute(statement)]
        return _page(rows, page_size, key=lambda row: row[0].id)
