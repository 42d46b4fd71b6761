"""The member-event outbox (事件外发箱) the complaints and inspections services share: an event about
an agency (a case opened, a decision, a publication, a referral, an inspection result published)
is committed in the service's own database in the same transaction as the change it reports,
and a relay hands it on to the registry's member events feed (AppendMemberEvents) afterwards.

- `MemberEventOutboxMixin`: the `member_event_outbox` table, mixed into a service's declarative
  Base (its migration creates it);
- `add_events`: rows added inside the caller's open session, once per `source_key` (a retried
  write adds nothing twice);
- `OutboxRelay`: an asyncio task that reads the unrelayed rows in id order, appends them to the
  registry as an operator of its own, marks them relayed, and sleeps when there is nothing to do
  (`wake()` after a commit cuts the sleep short). While the registry does not answer it retries
  with backoff. Several replicas may relay at once: on PostgreSQL each claims its rows with
  FOR UPDATE SKIP LOCKED; a row relayed twice anyway is appended once (the registry dedups by
  source key).

Only whitelisted public facts go into a row (the services decide which); never a reporter, a
reason or a handler's notes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import grpc
from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from suite import auth, clock, config, db
from suite import logging as suite_logging
from suite.protos import enum_value
from suite.relay import BackgroundRelay

TABLE = "member_event_outbox"
BATCH_SIZE = 500  # AppendMemberEvents takes at most 500 events a call
IDLE_SECONDS = 1.0
BACKOFF_SECONDS = (0.5, 30.0)
CALL_SECONDS = 10
KIND = pb.MemberEventKind.DESCRIPTOR
# Answers that say the registry cannot take the events now; anything else is logged as an error
# and retried just the same (an event is never dropped for it).
TRANSIENT = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                       grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED})

log = suite_logging.get("outbox")


class MemberEventOutboxMixin:
    """An event waiting to be (or once) relayed to the registry's member events feed."""

    __tablename__ = TABLE

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Unique per event within its source (complaints:case-…:12:0): added and appended once.
    source_key: Mapped[str] = mapped_column(String(200))
    # The MemberEventKind word: case_opened, decision, publication, ...
    kind: Mapped[str] = mapped_column(String(40))
    # The agency's registry id; empty when the source knows only its credit code (below), which
    # the relay resolves in the registry.
    agency_id: Mapped[str] = mapped_column(String(64), default="")
    agency_credit_code: Mapped[str] = mapped_column(String(18), default="")
    occurred_at: Mapped[datetime] = mapped_column(db.Instant)
    subject_id: Mapped[str] = mapped_column(String(100))
    # Public facts by name (on, until, penalty_kind, published_on, result): text values only.
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    # Only this association sees the event (a referral sent to it); empty: every association the
    # agency is a member of.
    association_id: Mapped[str] = mapped_column(String(64), default="")
    relayed_at: Mapped[datetime | None] = mapped_column(db.Instant, nullable=True)

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (UniqueConstraint("source_key", name="uq_member_event_outbox_source_key"),
                Index("ix_member_event_outbox_unrelayed", "relayed_at", "id"))


@dataclass(frozen=True)
class MemberEvent:
    """One event as a service adds it to its outbox."""

    source_key: str
    kind: str
    subject_id: str
    occurred_at: datetime
    agency_id: str = ""
    agency_credit_code: str = ""
    facts: dict[str, str] = field(default_factory=dict)
    association_id: str = ""

    def row(self) -> dict:
        return dict(source_key=self.source_key, kind=self.kind, agency_id=self.agency_id,
                    agency_credit_code=self.agency_credit_code, occurred_at=self.occurred_at,
                    subject_id=self.subject_id, facts={k: str(v) for k, v in self.facts.items()},
                    association_id=self.association_id, relayed_at=None)


async def add_events(session: AsyncSession, model: type, events: Iterable[MemberEvent]) -> int:
    """Add the events in the caller's open transaction, leaving any whose source key is stored
    already as it is; the number added."""
    rows = [event.row() for event in events]
    if not rows:
        return 0
    result = await session.execute(db.insert_for(session, model).values(rows)
                                   .on_conflict_do_nothing(index_elements=["source_key"]))
    return result.rowcount


class OutboxRelay(BackgroundRelay):
    """Relays a service's outbox to the registry (see the module's docstring). `start()` in the
    server's event loop, `await stop()` on close; `wake()` after a commit that added events."""

    def __init__(self, engine: AsyncEngine, model: type, service: str, registry_address: str | None = None,
                 batch_size: int = BATCH_SIZE, idle_seconds: float = IDLE_SECONDS,
                 backoff_seconds: tuple[float, float] = BACKOFF_SECONDS):
        super().__init__(f"{service}-outbox-relay")
        self._engine, self._model, self._service = engine, model, service
        self._sessions = db.sessionmaker(engine)
        self._token = auth.MachineToken(f"ipss-{service}-outbox")
        self._address = registry_address
        self._batch, self._idle, self._backoff = min(batch_size, BATCH_SIZE), idle_seconds, backoff_seconds
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.RegistryServiceStub | None = None
        self._agency_ids: dict[str, str] = {}

    async def stop(self) -> None:
        await super().stop()
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                relayed = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the relay keeps going whatever one round met
                failures += 1
                delay = min(self._backoff[0] * 2 ** (failures - 1), self._backoff[1])
                code = error.code() if isinstance(error, grpc.aio.AioRpcError) else None
                if code in TRANSIENT:
                    log.warning("registry unavailable; member events wait", service=self._service,
                                retry_in_seconds=delay, status=code.name)
                else:
                    log.error("member events not relayed", service=self._service, retry_in_seconds=delay,
                              status=code.name if code else type(error).__name__, error=str(error)[:300])
                await self._sleep(delay)
                continue
            failures = 0
            if relayed < self._batch:
                await self._sleep(self._idle)

    # -- one round --

    async def relay_once(self) -> int:
        """Relay one batch of unrelayed rows, oldest first; the number relayed. Raises what the
        registry answered when it did not take them (the rows stay unrelayed)."""
        model = self._model
        claim = select(model).where(model.relayed_at.is_(None)).order_by(model.id).limit(self._batch)
        if self._engine.dialect.name == "postgresql":
            # Claimed for this replica until its transaction ends; the others skip them.
            async with self._sessions() as session, session.begin():
                rows = list((await session.execute(claim.with_for_update(skip_locked=True))).scalars())
                if rows:
                    await self._append(rows)
                    await session.execute(update(model).where(model.id.in_([r.id for r in rows]))
                                          .values(relayed_at=clock.now()))
            return len(rows)
        # SQLite: one connection a process and one writer at a time; the call to the registry
        # must not hold either, so the rows are read, appended, then marked in turn.
        async with self._sessions() as session:
            rows = list((await session.execute(claim)).scalars())
        if not rows:
            return 0
        await self._append(rows)
        async with self._sessions() as session, session.begin():
            await session.execute(update(model).where(model.id.in_([r.id for r in rows]), model.relayed_at.is_(None))
                                  .values(relayed_at=clock.now()))
        return len(rows)

    async def _append(self, rows: list) -> None:
        drafts = []
        for row in rows:
            agency_id = row.agency_id or await self._agency_id(row.agency_credit_code)
            if not agency_id:
                log.error("member event without a registered agency, not relayed", service=self._service,
                          source_key=row.source_key, kind=row.kind)
                continue
            draft = pb.MemberEventDraft(source_key=row.source_key, kind=enum_value(KIND, row.kind), agency_id=agency_id,
                                        subject_id=row.subject_id, facts=row.facts or {},
                                        association_id=row.association_id)
            draft.occurred_at.FromDatetime(row.occurred_at)
            drafts.append(draft)
        if not drafts:
            return
        answer = await self._registry().AppendMemberEvents(pb.AppendMemberEventsRequest(events=drafts),
                                                           metadata=self._metadata(), timeout=CALL_SECONDS)
        log.info("member events relayed", service=self._service, events=len(drafts), appended=answer.appended,
                 last_id=rows[-1].id)

    async def _agency_id(self, credit_code: str) -> str:
        """The registry id of the agency with this credit code (remembered once found)."""
        if not credit_code:
            return ""
        if credit_code not in self._agency_ids:
            found = await self._registry().SearchAgencies(pb.SearchAgenciesRequest(query=credit_code, page_size=1),
                                                          metadata=self._metadata(), timeout=CALL_SECONDS)
            agency = next((a for a in found.agencies if a.credit_code == credit_code), None)
            if agency is None:
                return ""
            self._agency_ids[credit_code] = agency.id
        return self._agency_ids[credit_code]

    def _registry(self) -> pb_grpc.RegistryServiceStub:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self._address or config.service_address("registry"))
            self._stub = pb_grpc.RegistryServiceStub(self._channel)
        return self._stub

    def _metadata(self) -> tuple:
        return (("authorization", f"Bearer {self._token}"),)
