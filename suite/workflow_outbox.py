"""The workflow outbox (流程外发箱): a request that must start a workflow or send it an update commits
that message in the service's own database, in the same transaction as the record it concerns, and
the message reaches Temporal afterwards, however long Temporal is away. So a report accepted while
Temporal is down still answers with its tracking code and becomes a running case once Temporal is
back; and no service holds a database transaction open while it waits for a workflow.

- `WorkflowOutboxMixin`: the `workflow_outbox` table, mixed into a service's declarative Base;
- `WorkflowMessage` and `add`: a start, a signal or an update, added inside the caller's open session, once
  per `message_key` (a retried request adds nothing twice);
- `WorkflowRelay`: sends messages. The request that added one sends it at once, after its commit
  (`deliver`), so a case is running when its reporter gets the answer; an asyncio task sends what
  that could not (Temporal away, the process gone before it sent), retrying with backoff.
  Several replicas may relay at once: each claims due rows for a lease in a short transaction
  (on PostgreSQL with FOR UPDATE SKIP LOCKED) and calls Temporal with no transaction open. A
  message sent twice anyway changes nothing twice: a start uses the workflow id (a running one is
  attached to, a finished one never started again), an update its update id, and a signal's
  handler ignores what it has seen (signals carry no id of their own).

The argument is kept as the Temporal payload the data converter made of it, and sent as it is."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, LargeBinary, String, Text, UniqueConstraint, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import RawValue, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.converter import DataConverter, decode_typed_search_attributes, encode_search_attributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from suite import clock, db
from suite import logging as suite_logging
from suite.relay import BackgroundRelay
from suite.workflow_client import WorkflowClient

TABLE = "workflow_outbox"
START, SIGNAL, UPDATE = "start", "signal", "update"
BATCH_SIZE = 100
# A message its request is sending is left to that request this long before a relay takes it
# over (the request's process may have died before it sent).
LEASE = timedelta(seconds=30)
IDLE_SECONDS = 1.0
BACKOFF_SECONDS = (0.5, 30.0)
# What one send may take before it counts as failed and is retried later: the relay's, and the
# request's own (a reporter waits for that one; what it could not send, the relay sends).
SEND_SECONDS = 10.0
DELIVER_SECONDS = 2.0
# Temporal's answers that say "not now": the message waits and is sent again.
# A workflow that still cannot be found after this many tries has finished: nothing to tell it.
NOT_FOUND_ATTEMPTS = 5
TRANSIENT = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED,
                       RPCStatusCode.ABORTED, RPCStatusCode.NOT_FOUND, RPCStatusCode.INTERNAL,
                       RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED})

log = suite_logging.get("workflow_outbox")


class WorkflowOutboxMixin:
    """A start or update waiting to be (or once) sent to a workflow."""

    __tablename__ = TABLE

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Unique per message (start:case-…, join:case-…:reporter): added and sent once.
    message_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    workflow_id: Mapped[str] = mapped_column(String(200))
    # The workflow type of a start, the signal's or update's name.
    name: Mapped[str] = mapped_column(String(100))
    update_id: Mapped[str] = mapped_column(String(300), default="")
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    search_attributes: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_at: Mapped[datetime] = mapped_column(db.Instant)
    # Not sent before this moment: the sending request's lease, or the backoff after a failure.
    due_at: Mapped[datetime] = mapped_column(db.Instant)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(db.Instant, nullable=True)

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (UniqueConstraint("message_key", name="uq_workflow_outbox_message_key"),
                Index("ix_workflow_outbox_unsent", "sent_at", "due_at", "id"),
                Index("ix_workflow_outbox_workflow", "workflow_id"))


@dataclass(frozen=True)
class WorkflowMessage:
    """A start of `name` (a workflow type), or a signal or update `name` of the workflow `workflow_id`."""

    message_key: str
    kind: str
    workflow_id: str
    name: str
    argument: object
    update_id: str = ""
    search_attributes: TypedSearchAttributes | None = None

    @classmethod
    def start(cls, workflow: str, workflow_id: str, argument, search_attributes: TypedSearchAttributes | None = None
              ) -> WorkflowMessage:
        return cls(f"start:{workflow_id}", START, workflow_id, workflow, argument,
                   search_attributes=search_attributes)

    @classmethod
    def signal(cls, workflow_id: str, signal: str, argument, signal_key: str) -> WorkflowMessage:
        return cls(f"signal:{workflow_id}:{signal_key}", SIGNAL, workflow_id, signal, argument)

    @classmethod
    def update(cls, workflow_id: str, update: str, argument, update_id: str) -> WorkflowMessage:
        return cls(f"update:{workflow_id}:{update_id}", UPDATE, workflow_id, update, argument, update_id=update_id)

    def row(self, now: datetime) -> dict:
        (payload,) = DataConverter.default.payload_converter.to_payloads([self.argument])
        attributes = b""
        if self.search_attributes:
            encoded = SearchAttributes()
            encode_search_attributes(self.search_attributes, encoded)
            attributes = encoded.SerializeToString()
        return dict(message_key=self.message_key, kind=self.kind, workflow_id=self.workflow_id, name=self.name,
                    update_id=self.update_id, payload=payload.SerializeToString(), search_attributes=attributes,
                    created_at=now, due_at=now + LEASE, attempts=0, last_error="", sent_at=None)


async def add(session, model: type, messages: Iterable[WorkflowMessage]) -> list[str]:
    """Add the messages in the caller's open transaction, leaving any whose key is stored already;
    their keys, to `deliver` after the commit. The request sending them holds each for LEASE."""
    now = clock.now()
    rows = [message.row(now) for message in messages]
    if rows:
        await session.execute(db.insert_for(session, model).values(rows)
                              .on_conflict_do_nothing(index_elements=["message_key"]))
    return [row["message_key"] for row in rows]


class Refused(Exception):
    """Temporal or the workflow refused the message for good: sending it again would not help."""


class WorkflowRelay(BackgroundRelay):
    """Sends a service's workflow outbox (see the module's docstring). `start()` in the server's
    event loop, `await stop()` on close."""

    def __init__(self, engine: AsyncEngine, model: type, service: str, workflows: WorkflowClient,
                 batch_size: int = BATCH_SIZE, idle_seconds: float = IDLE_SECONDS,
                 backoff_seconds: tuple[float, float] = BACKOFF_SECONDS, send_seconds: float = SEND_SECONDS):
        super().__init__(f"{service}-workflow-relay")
        self._engine, self._model, self._service, self._workflows = engine, model, service, workflows
        self._sessions = db.sessionmaker(engine)
        self._batch, self._idle, self._backoff, self._send_seconds = batch_size, idle_seconds, backoff_seconds, \
            send_seconds
        # Temporal did not answer the last send: requests leave their messages to the relay
        # rather than each waiting for a send that fails.
        self._temporal_away = False

    # -- the request's own send --

    async def deliver(self, message_keys: list[str]) -> bool:
        """Send these messages now, after the commit that added them: True when all went; those that
        could not are left to the relay (woken to try again at once), never raised to the caller."""
        if not message_keys:
            return True
        model = self._model
        if self._temporal_away:
            async with self._sessions() as session, session.begin():
                await session.execute(update(model).where(model.message_key.in_(message_keys),
                                                          model.sent_at.is_(None)).values(due_at=clock.now()))
            self.wake()
            return False
        async with self._sessions() as session:
            rows = list((await session.execute(select(model).where(
                model.message_key.in_(message_keys), model.sent_at.is_(None)).order_by(model.id))).scalars())
        sent = await self._send_all(rows, DELIVER_SECONDS)
        if len(sent) < len(rows):
            self.wake()
        return len(sent) == len(rows)

    async def deliver_pending(self, workflow_id: str) -> bool:
        """Send whatever is still unsent for this workflow (a retried request's second chance)."""
        model = self._model
        async with self._sessions() as session:
            keys = list((await session.execute(select(model.message_key).where(
                model.workflow_id == workflow_id, model.sent_at.is_(None)))).scalars())
        return await self.deliver(keys)

    # -- the relay --

    async def _run(self) -> None:
        while True:
            try:
                claimed = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the relay keeps going whatever one round met
                unavailable = db.unreachable(error)
                log.warning("workflow outbox not read", service=self._service,
                            error=unavailable.message if unavailable else f"{type(error).__name__}: {error}"[:300])
                claimed = 0
            if claimed < self._batch:
                await self._sleep(self._idle)

    async def relay_once(self) -> int:
        """Claim the due messages (oldest first) for a lease and send them; the number claimed."""
        rows = await self._claim()
        if rows:
            await self._send_all(rows, self._send_seconds)
        return len(rows)

    async def _claim(self) -> list:
        model, now = self._model, clock.now()
        due = (select(model).where(model.sent_at.is_(None), model.due_at <= now)
               .order_by(model.id).limit(self._batch))
        if self._engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        async with self._sessions() as session, session.begin():
            await session.connection(execution_options=db.WRITE)
            rows = list((await session.execute(due)).scalars())
            if rows:
                await session.execute(update(model).where(model.id.in_([r.id for r in rows]))
                                      .values(due_at=now + LEASE))
        return rows

    # -- sending --

    async def _send_all(self, rows: list, seconds: float) -> list:
        """Send the rows in order; a workflow whose message could not go gets no later one this
        round (a join waits for its case's start). The rows sent, marked sent."""
        sent, held, failed = [], set(), []
        for row in rows:
            if row.workflow_id in held:
                continue
            try:
                await asyncio.wait_for(self._send(row), seconds)
            except Refused as refusal:
                log.warning("workflow message refused for good", service=self._service, workflow_id=row.workflow_id,
                          message_key=row.message_key, error=str(refusal)[:300])
                row.last_error = f"refused: {refusal}"[:2000]
                sent.append(row)
            except Exception as error:  # noqa: BLE001 - any failure leaves the message for a retry
                self._temporal_away = True
                held.add(row.workflow_id)
                row.last_error = f"{type(error).__name__}: {error}"[:2000]
                failed.append(row)
            else:
                self._temporal_away = False
                row.last_error = ""
                sent.append(row)
        await self._mark(sent, failed)
        return sent

    async def _send(self, row) -> None:
        client = await self._workflows.client()
        argument = RawValue(Payload.FromString(row.payload))
        try:
            if row.kind == START:
                attributes = decode_typed_search_attributes(SearchAttributes.FromString(row.search_attributes))
                try:
                    await client.start_workflow(
                        row.name, argument, id=row.workflow_id, task_queue=self._workflows.task_queue,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        search_attributes=attributes if attributes else None)
                except WorkflowAlreadyStartedError:
                    pass  # finished already: its record is closed, and it never starts again
            elif row.kind == SIGNAL:
                await client.get_workflow_handle(row.workflow_id).signal(row.name, argument)
            else:
                await client.get_workflow_handle(row.workflow_id).execute_update(row.name, argument, id=row.update_id)
        except WorkflowUpdateFailedError as error:
            raise Refused(f"the workflow refused {row.name}: {error.cause}") from None
        except RPCError as error:
            # NOT_FOUND: the workflow's start may not have reached Temporal yet, or it has finished.
            if error.status in TRANSIENT and not (error.status == RPCStatusCode.NOT_FOUND
                                                  and row.attempts >= NOT_FOUND_ATTEMPTS):
                raise
            raise Refused(f"{error.status.name}: {error.message}") from None

    async def _mark(self, sent: list, failed: list) -> None:
        if not sent and not failed:
            return
        model, now = self._model, clock.now()
        async with self._sessions() as session, session.begin():
            await session.connection(execution_options=db.WRITE)
            clean = [row.id for row in sent if not row.last_error]
            if clean:
                await session.execute(update(model).where(model.id.in_(clean), model.sent_at.is_(None))
                                      .values(sent_at=now))
            for row in sent:
                if row.last_error:
                    await session.execute(update(model).where(model.id == row.id, model.sent_at.is_(None))
                                          .values(sent_at=now, last_error=row.last_error))
            for row in failed:
                attempts = row.attempts + 1
                delay = min(self._backoff[0] * 2 ** (attempts - 1), self._backoff[1])
                await session.execute(update(model).where(model.id == row.id, model.sent_at.is_(None)).values(
                    attempts=attempts, last_error=row.last_error, due_at=now + timedelta(seconds=delay)))
        for row in failed:
            log.warning("workflow message waits for Temporal", service=self._service, workflow_id=row.workflow_id,
                        message_key=row.message_key, attempts=row.attempts + 1, error=row.last_error[:300])
