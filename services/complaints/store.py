"""Complaints tables (SQLAlchemy 2) and the queries and writes behind every RPC: attachments by
content, reports with their reporters' identities (kept here and nowhere else), the case record
the workflow writes, the queue, and the messages reporters read."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, cast, delete, false, func, insert, or_, select, tuple_, update)
from sqlalchemy import case as when
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.complaints import domain, statistics
from services.complaints.identities import ReporterIdentities
from suite import audit, db, outbox, pages, workflow_outbox
from suite.errors import NotFound
from suite.idempotency import IdempotencyRecordMixin
from suite.regions import code_range


class Base(DeclarativeBase):
    pass


class Attachment(Base):
    """Evidence, named by the SHA-256 of its content: the same file is stored once."""

    __tablename__ = "attachments"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(db.Instant)


class UploadLog(Base):
    """Who uploaded how much when, for the per-caller upload quota (domain.UPLOAD_QUOTAS): the
    caller is a token's subject, or the public's peer address. Rows older than the quota's window
    are swept with the unreferenced uploads."""

    __tablename__ = "upload_log"
    __table_args__ = (Index("ix_upload_log_caller_at", "caller", "uploaded_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    caller: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(db.Instant)
    size_bytes: Mapped[int] = mapped_column(BigInteger)


class CaseCounter(Base):
    """The last case number given in a province and year (case-<year>-<province>-<number>)."""

    __tablename__ = "case_counters"
    province: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Case(Base):
    """The record of a case: intake facts written here, the rest written by its workflow."""

    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(40), default="")
    region_code: Mapped[str] = mapped_column(String(6))
    agency_id: Mapped[str] = mapped_column(String(64))
    agency_name: Mapped[str] = mapped_column(String(200))
    agency_credit_code: Mapped[str] = mapped_column(String(18))
    agency_kind: Mapped[str] = mapped_column(String(30))
    category: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(30))
    source_reference: Mapped[str] = mapped_column(String(100), default="")
    occurred_on: Mapped[date | None] = mapped_column(Date)
    received_on: Mapped[date] = mapped_column(Date)
    assignee: Mapped[str] = mapped_column(String(200), default="")
    next_deadline: Mapped[date | None] = mapped_column(Date)
    next_deadline_period: Mapped[str] = mapped_column(String(60), default="")
    # next_deadline rests on a year without a published holiday schedule (暂定).
    next_deadline_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # next_deadline, or a far date when none runs: the queue's order without NULL handling.
    due_sort: Mapped[date] = mapped_column(Date)
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    due_soon: Mapped[bool] = mapped_column(Boolean, default=False)
    reporter_count: Mapped[int] = mapped_column(Integer, default=0)
    fine_cny: Mapped[int] = mapped_column(BigInteger, default=0)
    # The surcharge as of the workflow's last step; answers compute it for the day they are read
    # from paid_on, surcharge_paused and the pay_fine deadline (domain.surcharge_owed).
    surcharge_cny: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_on: Mapped[date | None] = mapped_column(Date)
    # Reviews filed, [filed_on, concluded_on or ""]: no surcharge accrues meanwhile.
    surcharge_paused: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    rules_version: Mapped[str] = mapped_column(String(20))
    # Each deadline as the workflow's DeadlineView shows it, its provisional flags included.
    deadlines: Mapped[list] = mapped_column(JSON, default=list)
    allowed_actions: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(db.Instant)
    updated_at: Mapped[datetime] = mapped_column(db.Instant)
    # The latest referral to an industry association (移交行业自律) and its answer, as the workflow
    # recorded them; empty association: never referred.
    referral_association_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    referral_sent_on: Mapped[date | None] = mapped_column(Date)
    referral_grounds: Mapped[str] = mapped_column(Text, default="", server_default="")
    referral_answer: Mapped[str] = mapped_column(String(20), default="", server_default="")
    referral_answered_on: Mapped[date | None] = mapped_column(Date)
    referral_measure: Mapped[str] = mapped_column(String(200), default="", server_default="")
    referral_answer_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Who the case is about (SubjectKind words): agency_* hold a registered agency, or an entity not
    # in the registry as reported (no agency_id, no kind); practitioner_* a practitioner (no id while
    # the registry knows none). subject_key says which reports are about the same subject.
    subject_kind: Mapped[str] = mapped_column(String(30), default=domain.AGENCY_SUBJECT,
                                              server_default=domain.AGENCY_SUBJECT)
    subject_key: Mapped[str] = mapped_column(String(domain.SUBJECT_KEY_LENGTH), default="", server_default="")
    subject_address: Mapped[str] = mapped_column(String(200), default="", server_default="")
    practitioner_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    practitioner_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    practitioner_certificate: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # The case this one was merged into (并案), and the office that transferred it here (移送).
    merged_into: Mapped[str] = mapped_column(String(64), default="", server_default="")
    transferred_from: Mapped[str] = mapped_column(String(6), default="", server_default="")

    __table_args__ = (
        Index("ix_cases_queue", "due_sort", "id"),
        Index("ix_cases_region_queue", "region_code", "due_sort", "id"),
        Index("ix_cases_duplicates", "agency_id", "category", "received_on"),
        Index("ix_cases_credit_code", "agency_credit_code"),
        Index("ix_cases_assignee", "assignee"),
        Index("ix_cases_stage", "stage"),
        Index("ix_cases_referral", "referral_association_id", "referral_sent_on", "id"),
        Index("ix_cases_subject", "subject_key", "category", "received_on"),
    )


class Reporter(Base):
    """Who reported (举报人). Only this table holds identities, sealed (services.complaints.identities);
    everything else holds `reference`."""

    __tablename__ = "reporters"
    reference: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    real_name: Mapped[bool] = mapped_column(Boolean)
    # The identity fields (domain.ReporterIdentity.IDENTITY_FIELDS), sealed under the reporter key.
    identity: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(db.Instant)


class Report(Base):
    """One report as filed (线索), the case it became or joined, and its tracking code. The
    tracking secret is kept only as its hash."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    tracking_code: Mapped[str] = mapped_column(String(20), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(30))
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    occurred_on: Mapped[date | None] = mapped_column(Date)
    source_reference: Mapped[str] = mapped_column(String(100), default="")
    reporter_reference: Mapped[str | None] = mapped_column(ForeignKey("reporters.reference"), index=True)
    joined_existing_case: Mapped[bool] = mapped_column(Boolean)
    filed_on: Mapped[date] = mapped_column(Date)
    filed_at: Mapped[datetime] = mapped_column(db.Instant)
    # The case the report was filed in, once that case was merged into `case_id` (并案).
    merged_from: Mapped[str] = mapped_column(String(64), default="", server_default="", index=True)


class CaseAttachment(Base):
    __tablename__ = "case_attachments"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    attachment_id: Mapped[str] = mapped_column(ForeignKey("attachments.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(db.Instant)


class TimelineEntry(Base):
    """An entry of a case's timeline, keyed by the record revision that brought it and its place
    there, so a retried write appends it once. What happened is its action and data (the values
    its words need); `detail` holds the words of an entry recorded before data existed."""

    __tablename__ = "timeline_entries"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    record_revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(db.Instant)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(Text, default="")
    internal: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")


class CaseStageChange(Base):
    """The moment a case entered a stage or a status, written with the record revision that moved
    it there: the history statistics and exports read without asking the workflow. (Changes
    recorded before statuses were are stage changes, their status empty.)"""

    __tablename__ = "case_stage_changes"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    stage: Mapped[str] = mapped_column(String(30))
    entered_at: Mapped[datetime] = mapped_column(db.Instant)
    status: Mapped[str] = mapped_column(String(60), default="", server_default="")


class CaseNotice(Base):
    """A notice the workflow sent to a case's reporters, once per key: its code and data (`text`
    holds the words of one sent before notices had codes)."""

    __tablename__ = "case_notices"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    notice_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    code: Mapped[str] = mapped_column(String(60), default="", server_default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    text: Mapped[str] = mapped_column(Text, default="")
    real_name_only: Mapped[bool] = mapped_column(Boolean)
    notified: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(db.Instant)


class ReporterMessage(Base):
    """A notice on one report's status page: its code and data (`text` holds the words of one
    sent before notices had codes)."""

    __tablename__ = "reporter_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    notice_key: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(60), default="", server_default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    text: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime] = mapped_column(db.Instant)

    __table_args__ = (UniqueConstraint("report_id", "notice_key", name="uq_reporter_messages_report_notice"),)


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    pass


def progress_audit_entries(case: Case, progress: Progress) -> list[audit.Entry]:
    """The audit entries a new revision of a case's record makes: the record's change (digests of
    the stored revision before and of the new entries), and each penalty it publishes (the digest
    of the published entry, what the public register shows)."""
    def digest(value) -> str:
        return audit.digest(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode())

    before = digest([case.id, case.revision, case.stage, case.status])
    entries = [audit.for_call("RecordCaseProgress", before, digest([case.id, progress.revision, progress.new_entries]))]
    entries += [audit.for_call("PublishPenalty", before, digest([case.id, entry]))
                for entry in progress.new_entries if entry.get("action") == domain.PUBLISHED]
    return entries


class AuditEntry(audit.AuditEntryMixin, Base):
    """The audit log (suite.audit): an entry per state change, hash-chained."""


class AuditCheckpoint(audit.AuditCheckpointMixin, Base):
    """The audit chain's head, signed every thousand entries (suite.audit)."""


class WorkflowOutbox(workflow_outbox.WorkflowOutboxMixin, Base):
    """Case workflow starts and reporters joining, committed with the report (see suite.workflow_outbox)."""


class MemberEventOutbox(outbox.MemberEventOutboxMixin, Base):
    """Events about agencies for the registry's member events feed, committed with the case
    record that brings them (suite.outbox relays them)."""


class Escalation(Base):
    """A statutory period of the office that a case missed (超期督办), in the supervisors' inbox:
    filed with the record write that says it was missed, waiting for the supervisors of the
    case's region (`supervisor` empty) until one takes it, and resolved by what the record says
    next (a reassignment, the duty done late, the case closed, the period no longer missed)."""

    __tablename__ = "escalations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    period_id: Mapped[str] = mapped_column(String(60))
    due_on: Mapped[date] = mapped_column(Date)
    missed_on: Mapped[date] = mapped_column(Date)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    # The case's region; it follows the case when the case moves to another office.
    region_code: Mapped[str] = mapped_column(String(6))
    state: Mapped[str] = mapped_column(String(20))  # open, acknowledged, resolved
    supervisor: Mapped[str] = mapped_column(String(200), default="")
    # The handler the case was assigned to when the period was missed.
    assignee: Mapped[str] = mapped_column(String(200), default="")
    raised_at: Mapped[datetime] = mapped_column(db.Instant)
    acknowledged_at: Mapped[datetime | None] = mapped_column(db.Instant, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(db.Instant, nullable=True)
    resolution: Mapped[str] = mapped_column(String(30), default="")
    resolved_by: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (
        UniqueConstraint("case_id", "period_id", "due_on", name="uq_escalations_case_period_due"),
        Index("ix_escalations_inbox", "state", "due_on", "id"),
    )


class EscalationEvent(Base):
    """The escalation feed integrations read (ListEscalationEvents): each escalation raised,
    acknowledged and resolved, as it was then, at a position given in commit order."""

    __tablename__ = "escalation_events"
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id"))
    kind: Mapped[str] = mapped_column(String(20))  # raised, acknowledged, resolved
    at: Mapped[datetime] = mapped_column(db.Instant)
    case_id: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(String(6))
    period_id: Mapped[str] = mapped_column(String(60))
    due_on: Mapped[date] = mapped_column(Date)
    missed_on: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(200))
    resolution: Mapped[str] = mapped_column(String(30), default="")


class EscalationFeed(Base):
    """The feed's one row: the last position given. Every transaction that adds events locks it
    last, so positions are given in commit order and no reader sees position N+1 before N."""

    __tablename__ = "escalation_feed"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_position: Mapped[int] = mapped_column(BigInteger)


class Notification(Base):
    """A notification to one handler (办案提醒): a period of a case assigned to them reached its
    warning day, or a supervisor reassigned a case to them. Keyed by the timeline entry it came
    from (case:record revision:position), so a retried record write makes it once."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_key: Mapped[str] = mapped_column(String(120), unique=True)
    recipient: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(20))  # due_soon, reassigned
    period_id: Mapped[str] = mapped_column(String(60), default="")
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    warn_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(db.Instant)
    read_at: Mapped[datetime | None] = mapped_column(db.Instant, nullable=True)

    __table_args__ = (Index("ix_notifications_recipient", "recipient", "id"),)


# ---- what the RPCs read and write ---------------------------------------------------------------

@dataclass(frozen=True)
class Filing:
    case_id: str
    tracking_code: str
    joined_existing_case: bool
    reporter_reference: str | None
    # The new case and its reporters as written, which start its workflow; None when the report
    # joined a case (whose reporters are read afresh).
    opened: tuple[Case, list[Reporter]] | None = None


@dataclass(frozen=True)
class CaseFile:
    """Everything GetCase shows."""

    case: Case
    reports: list[Report]
    reporters: list[domain.ReporterIdentity]
    attachment_ids: list[str]
    timeline: list[TimelineEntry]


@dataclass(frozen=True)
class ReportStatus:
    report: Report
    case: Case
    messages: list[domain.ReporterMessage]
    # Whether the report's reporter gave their name; None for a report filed without a reporter (by staff).
    real_name: bool | None


@dataclass(frozen=True)
class CaseFilter:
    region_prefix: str = ""
    stages: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    agency_credit_code: str = ""
    assignee: str = ""
    overdue_only: bool = False
    include_closed: bool = False
    awaiting_approval: bool = False


@dataclass(frozen=True)
class Progress:
    """A case's state after a workflow step (RecordCaseProgress)."""

    revision: int
    summary: dict
    deadlines: list[dict]
    allowed_actions: list[str]
    new_entries: list[dict]
    # The referral as the workflow's summary carried it (the Case's referral_* columns), or None
    # while the case was never referred.
    referral: dict | None = None
    # Who the case is about, as the workflow's summary says (the Case's subject columns by name),
    # or None from a writer that does not say (its intake facts stand).
    subject: dict | None = None


def urgency_on(today: date):
    """What is due first, as the queue orders by it (domain.urgency), read on the day asked: a
    deadline passed before its workflow woke to flag it is overdue already (domain.is_overdue)."""
    return when((or_(Case.overdue.is_(True), Case.due_sort < today), domain.OVERDUE_FIRST),
                (Case.due_soon.is_(True), domain.DUE_SOON_NEXT), else_=domain.THE_REST)


def encode_page_token(case: Case, today: date) -> str:
    """A queue page's key: the urgency, due day and id of the case before it."""
    urgency = domain.urgency(domain.is_overdue(case.overdue, case.next_deadline, today), case.due_soon)
    return pages.encode("queue", str(urgency), case.due_sort.isoformat(), case.id)


def decode_page_token(token: str) -> tuple[int, date, str] | None:
    return pages.decode(token, "queue", int, date.fromisoformat, str)


@dataclass(frozen=True)
class InboxEntry:
    """An escalation with its case's record as it stands now."""

    escalation: Escalation
    case: Case


@dataclass(frozen=True)
class NotificationEntry:
    notification: Notification
    case: Case


def encode_inbox_token(escalation: Escalation) -> str:
    """An inbox page's key: whether the escalation before it is resolved (0 or 1), its last day
    and its id."""
    return pages.encode("inbox", str(int(escalation.state == domain.RESOLVED)), escalation.due_on.isoformat(),
                        str(escalation.id))


def decode_inbox_token(token: str) -> tuple[int, date, int] | None:
    return pages.decode(token, "inbox", int, date.fromisoformat, int)


def encode_notifications_token(notification: Notification) -> str:
    """A notifications page's key: the id of the notification before it (newest first)."""
    return pages.encode("notifications", str(notification.id))


def decode_notifications_token(token: str) -> int | None:
    key = pages.decode(token, "notifications", int)
    return key[0] if key else None


@dataclass(frozen=True)
class CaseScope:
    """The cases statistics and exports cover: a region and the days they were received."""

    region_prefix: str = ""
    received_from: date | None = None
    received_to: date | None = None


def decode_referrals_token(token: str) -> tuple[date, str] | None:
    return pages.decode(token, "referrals", date.fromisoformat, str)


def referral_of(case: Case) -> dict:
    """The referral columns of a case record, by their names without the prefix."""
    return {name: getattr(case, f"referral_{name}") for name in domain.REFERRAL_FIELDS}


def event_row(escalation: Escalation, kind: str, actor: str, now: datetime) -> dict:
    """The feed's event for a change of an escalation, as the escalation is then (its position is
    given when the feed is appended to)."""
    return dict(escalation_id=escalation.id, kind=kind, at=now, case_id=escalation.case_id,
                region_code=escalation.region_code, period_id=escalation.period_id, due_on=escalation.due_on,
                missed_on=escalation.missed_on, actor=actor, resolution=escalation.resolution)


def encode_export_token(case_id: str) -> str:
    """An export page's key: the id of the case before it."""
    return pages.encode("export", case_id)


def decode_export_token(token: str) -> str:
    key = pages.decode(token, "export", str)
    return key[0] if key else ""


class ComplaintsStore:
    def __init__(self, engine: AsyncEngine, identities: ReporterIdentities | None = None):
        self.engine = engine
        # Seals reporters' identities as they are written and opens them for GetCase (the configured key unless given).
        self.identities = identities or ReporterIdentities()
        self.sessions = db.sessionmaker(engine)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # Called after a commit that added member events (the server wakes its outbox relay).
        self.on_member_events: Callable[[], None] = lambda: None

    async def _insert_once(self, session: AsyncSession, model: type[Base], rows: list[dict] | dict) -> int:
        """Insert, leaving rows whose key is already stored as they are; the number inserted."""
        if not rows:
            return 0
        result = await session.execute(self._insert(model).values(rows).on_conflict_do_nothing())
        return result.rowcount

    # -- attachments --

    async def store_attachment(self, attachment_id: str, content_type: str, filename: str, content: bytes,
                               now: datetime) -> int:
        async with self.sessions() as session, session.begin():
            inserted = await self._insert_once(session, Attachment, dict(
                id=attachment_id, content_type=content_type, filename=filename, size_bytes=len(content),
                content=content, uploaded_at=now))
            if not inserted:  # the same content again: its day to be referenced starts anew
                await session.execute(update(Attachment).where(Attachment.id == attachment_id,
                                                               Attachment.uploaded_at < now).values(uploaded_at=now))
        return len(content)

    async def uploads_since(self, caller: str, since: datetime) -> tuple[int, int, datetime | None]:
        """The caller's uploads since the moment: how many, their bytes, and the oldest's moment."""
        async with self.sessions() as session:
            count, size, oldest = (await session.execute(
                select(func.count(), func.coalesce(func.sum(UploadLog.size_bytes), 0), func.min(UploadLog.uploaded_at))
                .where(UploadLog.caller == caller, UploadLog.uploaded_at >= since))).one()
        return count, int(size), oldest

    async def log_upload(self, caller: str, size_bytes: int, now: datetime) -> None:
        async with self.sessions() as session, session.begin():
            session.add(UploadLog(caller=caller, uploaded_at=now, size_bytes=size_bytes))

    async def sweep_upload_log(self, before: datetime) -> int:
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options=db.WRITE)
            gone = await session.execute(delete(UploadLog).where(UploadLog.uploaded_at < before))
        return gone.rowcount or 0

    async def sweep_unreferenced_attachments(self, uploaded_before: datetime) -> int:
        """Delete the uploads no case references (no report filed with them, no evidence added)
        that were uploaded before the moment; how many went. An upload is kept for a day for the
        report it was made for (UNREFERENCED_UPLOAD_DAYS in services.complaints.uploads)."""
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options=db.WRITE)
            referenced = select(CaseAttachment.attachment_id)
            gone = await session.execute(delete(Attachment).where(
                Attachment.uploaded_at < uploaded_before, Attachment.id.not_in(referenced)))
        return gone.rowcount or 0

    async def unknown_attachments(self, session: AsyncSession, attachment_ids: tuple[str, ...]) -> set[str]:
        if not attachment_ids:
            return set()
        known = set((await session.execute(select(Attachment.id).where(Attachment.id.in_(attachment_ids))))
                    .scalars())
        return set(attachment_ids) - known

    # -- intake --

    async def file_report(self, session: AsyncSession, intake: domain.Intake, subject: domain.Subject,
                          rules: domain.IntakeRules, today: date, now: datetime, secret_of) -> Filing:
        """Join an open case on the same subject and conduct inside the duplicate window, or open a
        new case record numbered in the subject's province; then store the report and reporter."""
        counter = await self._lock_counter(session, domain.province_of(subject.region_code), today.year)
        case = await self._open_duplicate(session, subject.key, intake.category, rules, today)
        joined = case is not None
        if case is None:
            counter.last += 1
            case = Case(
                id=domain.case_id(today.year, subject.region_code, counter.last), stage=domain.VERIFICATION,
                status=domain.INITIAL_STATUS, outcome="", region_code=subject.region_code,
                agency_id=subject.agency_id, agency_name=subject.name, agency_credit_code=subject.credit_code,
                agency_kind=subject.agency_kind, subject_kind=subject.kind, subject_key=subject.key,
                subject_address=subject.address, practitioner_id=subject.practitioner_id,
                practitioner_name=subject.practitioner_name, practitioner_certificate=subject.certificate_number,
                merged_into="", transferred_from="",
                category=intake.category, source=intake.source, source_reference=intake.source_reference,
                occurred_on=intake.occurred_on, received_on=today, assignee="", next_deadline=None,
                next_deadline_period="", due_sort=domain.due_sort_key(None), overdue=False, due_soon=False,
                reporter_count=0, fine_cny=0, surcharge_cny=0, rules_version=rules.rules_version, deadlines=[],
                allowed_actions=[], revision=0, created_at=now, updated_at=now)
            session.add(case)
            await session.flush()
        reference, reporters = None, []
        if intake.reporter is not None:
            reference = domain.new_reporter_reference()
            reporters.append(Reporter(reference=reference, case_id=case.id, real_name=intake.reporter.real_name,
                                      identity=self.identities.seal(reference, intake.reporter), created_at=now))
            session.add(reporters[0])
            case.reporter_count += 1
            case.updated_at = now
            await session.flush()
        code = await self._new_tracking_code(session)
        report = Report(case_id=case.id, tracking_code=code, secret_sha256=domain.secret_hash(secret_of(code)),
                        source=intake.source, category=intake.category, description=intake.description,
                        occurred_on=intake.occurred_on, source_reference=intake.source_reference,
                        reporter_reference=reference, joined_existing_case=joined, filed_on=today, filed_at=now)
        session.add(report)
        await session.flush()
        await self._insert_once(session, CaseAttachment, [dict(case_id=case.id, attachment_id=a, added_at=now)
                                                         for a in dict.fromkeys(intake.attachment_ids)])
        # The joined notice would confirm an investigation to an anonymous prober (sees_case_progress).
        if joined and reference is not None and domain.answer_names_case(intake.source, intake.reporter):
            session.add(ReporterMessage(report_id=report.id, notice_key=domain.JOINED_NOTICE_KEY,
                                        code=domain.JOINED_NOTICE_CODE, sent_at=now))
        return Filing(case.id, code, joined, reference, None if joined else (case, reporters))

    async def _lock_counter(self, session: AsyncSession, province: str, year: int) -> CaseCounter:
        """The province's counter row, locked until commit. Every filing on an agency of the
        province takes it first, so the duplicate check and the numbering see each other's
        writes: PostgreSQL locks the row; SQLite's insert takes the database's one write lock."""
        await self._insert_once(session, CaseCounter, dict(province=province, year=year, last=0))
        return (await session.execute(select(CaseCounter).where(
            CaseCounter.province == province, CaseCounter.year == year).with_for_update()
            .execution_options(populate_existing=True))).scalar_one()

    async def _open_duplicate(self, session: AsyncSession, subject_key: str, category: str,
                              rules: domain.IntakeRules, today: date) -> Case | None:
        candidates = (await session.execute(
            select(Case).where(Case.subject_key == subject_key, Case.category == category,
                               Case.stage != domain.CLOSED)
            .order_by(Case.received_on.desc(), Case.id.desc()))).scalars()
        return next((c for c in candidates if rules.joins(c.received_on, today)), None)

    async def _new_tracking_code(self, session: AsyncSession) -> str:
        while True:
            code = domain.new_tracking_code()
            if await session.scalar(select(Report.id).where(Report.tracking_code == code)) is None:
                return code

    # -- the reporter's page --

    async def report_status(self, tracking_code: str, secret: str) -> ReportStatus | None:
        """The report that has this code and secret, or None; the secret's hash is compared in
        constant time, and against a stand-in when the code is unknown, so that timing does not
        tell which of the two was wrong."""
        async with self.sessions() as session:
            report = await session.scalar(select(Report).where(Report.tracking_code == tracking_code))
            matches = domain.secret_matches(secret, report.secret_sha256 if report else "0" * 64)
            if report is None or not matches:
                return None
            case = await self._case(session, report.case_id)
            real_name = await session.scalar(select(Reporter.real_name).where(
                Reporter.reference == report.reporter_reference)) if report.reporter_reference else None
            messages = [domain.ReporterMessage(m.sent_at, notice=m.code, data=m.data, recorded=m.text)
                        for m in (await session.execute(select(ReporterMessage).where(
                            ReporterMessage.report_id == report.id))).scalars()]
            entries = (await session.execute(select(TimelineEntry).where(
                TimelineEntry.case_id == case.id, TimelineEntry.internal.is_(False)))).scalars()
            messages += [domain.ReporterMessage(e.at, action=e.action, data=e.data, recorded=e.detail)
                         for e in entries]
        return ReportStatus(report, case, sorted(messages, key=lambda m: m.at), real_name)

    # -- the case record --

    async def _case(self, session: AsyncSession, case_id: str, for_update: bool = False) -> Case:
        return await db.one_or_not_found(session, select(Case).where(Case.id == case_id), "case", case_id, for_update)

    async def get_case(self, case_id: str) -> Case:
        async with self.sessions() as session:
            return await self._case(session, case_id)

    async def case_file(self, case_id: str) -> CaseFile:
        async with self.sessions() as session:
            case = await self._case(session, case_id)
            # A case merged away keeps the accounts it was opened on.
            reports = list((await session.execute(select(Report).where(
                or_(Report.case_id == case_id, Report.merged_from == case_id)).order_by(Report.id))).scalars())
            reporters = [self.identities.open(r.reference, r.real_name, r.identity) for r in (await session.execute(
                select(Reporter).where(Reporter.case_id == case_id).order_by(Reporter.created_at, Reporter.reference)
            )).scalars()]
            attachment_ids = list((await session.execute(
                select(CaseAttachment.attachment_id).where(CaseAttachment.case_id == case_id)
                .order_by(CaseAttachment.added_at, CaseAttachment.attachment_id))).scalars())
            timeline = list((await session.execute(
                select(TimelineEntry).where(TimelineEntry.case_id == case_id)
                .order_by(TimelineEntry.record_revision, TimelineEntry.position))).scalars())
        return CaseFile(case, reports, reporters, attachment_ids, timeline)

    async def list_cases(self, where: CaseFilter, today: date, page_size: int, after: tuple[int, date, str] | None
                         ) -> tuple[list[Case], str]:
        """The queue: what is due first (domain.urgency), then the nearest deadline."""
        conditions = []
        if where.region_prefix:
            conditions.append(Case.region_code.between(*code_range(where.region_prefix)))
        if where.stages:
            conditions.append(Case.stage.in_(where.stages))
        if not where.include_closed and domain.CLOSED not in where.stages:
            conditions.append(Case.stage != domain.CLOSED)
        if where.categories:
            conditions.append(Case.category.in_(where.categories))
        if where.agency_credit_code:
            conditions.append(Case.agency_credit_code == where.agency_credit_code)
        if where.assignee:
            conditions.append(Case.assignee == where.assignee)
        if where.overdue_only:
            conditions.append(or_(Case.overdue.is_(True), Case.due_sort < today))
        if where.awaiting_approval:
            # The record keeps the allowed actions as JSON text on both backends.
            conditions.append(or_(Case.stage == domain.DECISION_APPROVAL, cast(Case.allowed_actions, Text).like(
                f'%"{domain.APPROVE_EXTENSION}"%')))
        urgency = urgency_on(today)
        if after:
            conditions.append(tuple_(urgency, Case.due_sort, Case.id) > after)
        statement = (select(Case).where(*conditions).order_by(urgency, Case.due_sort, Case.id)
                     .limit(page_size + 1))
        async with self.sessions() as session:
            rows = list((await session.execute(statement)).scalars())
        if len(rows) <= page_size:
            return rows, ""
        return rows[:page_size], encode_page_token(rows[page_size - 1], today)

    async def add_evidence(self, case_id: str, attachment_id: str, now: datetime) -> None:
        async with self.sessions() as session, session.begin():
            await self._insert_once(session, CaseAttachment, dict(case_id=case_id, attachment_id=attachment_id,
                                                                  added_at=now))

    async def attachment_exists(self, attachment_id: str) -> bool:
        async with self.sessions() as session:
            return await session.scalar(select(Attachment.id).where(Attachment.id == attachment_id)) is not None

    # -- written by the workflow --

    async def record_progress(self, case_id: str, progress: Progress, now: datetime) -> bool:
        """Apply a newer revision's state; append the timeline entries it brings once, whatever
        the order in which retried writes arrive, and in the same transaction the member events
        its public entries make (domain.member_events), the escalations and notifications its
        entries raise, settle or send (domain.missed_periods, settlements, handler_notices) and
        their events on the escalation feed: a retried write adds none twice. True when the state
        was applied."""
        async with self.sessions() as session, session.begin():
            case = await self._case(session, case_id, for_update=True)
            appended = await self._insert_once(session, TimelineEntry, [
                dict(case_id=case_id, record_revision=progress.revision, position=i, **entry)
                for i, entry in enumerate(progress.new_entries)])
            feed: list[dict] = []
            # Taken before the record changes, appended last (the chain's lock is the last one a write takes).
            audit_entries = progress_audit_entries(case, progress) if appended else []
            if appended:  # a retried write brings nothing new to escalate, settle or notify
                feed += await self._escalate(session, case, progress, now)
                await self._insert_once(session, Notification, [
                    dict(asdict(notice), case_id=case_id, created_at=now, read_at=None)
                    for notice in domain.handler_notices(case_id, progress.revision, progress.new_entries,
                                                         progress.summary, progress.deadlines)])
            referral = progress.referral or referral_of(case)
            events = domain.member_events(case_id, case.agency_id, progress.revision, progress.new_entries, referral,
                                          await self._decided_penalty(session, case_id, progress.new_entries))
            added = await outbox.add_events(session, MemberEventOutbox, events)
            if appended:
                for from_case, into_case in domain.merge_moves(progress.new_entries, case_id,
                                                                progress.summary.get("merged_into", "")):
                    await self._merge_reports(session, from_case, into_case, now)
            applied = progress.revision > case.revision
            if applied:
                was_overdue = case.overdue
                if (progress.summary["stage"], progress.summary["status"]) != (case.stage, case.status):
                    entered_at = max((e["at"] for e in progress.new_entries), default=now)
                    await self._insert_once(session, CaseStageChange, dict(
                        case_id=case_id, revision=progress.revision, stage=progress.summary["stage"],
                        status=progress.summary["status"], entered_at=entered_at))
                for name, value in progress.summary.items():
                    setattr(case, name, value)
                for name, value in referral.items():
                    setattr(case, f"referral_{name}", value)
                if progress.subject is not None:
                    for name, value in progress.subject.items():
                        setattr(case, name, value)
                    case.subject_key = domain.subject_key(
                        case.subject_kind, case.region_code, case.agency_id, case.agency_name,
                        case.agency_credit_code, case.practitioner_id, case.practitioner_name,
                        case.practitioner_certificate)
                case.due_sort = domain.due_sort_key(case.next_deadline)
                case.deadlines, case.allowed_actions = progress.deadlines, progress.allowed_actions
                case.revision, case.updated_at = progress.revision, now
                # Only a case that missed a period has escalations: a write that neither finds
                # nor leaves it overdue has none to settle, and reads none.
                if was_overdue or case.overdue:
                    feed += await self._settle_by_record(session, case, now)
            await self._append_feed(session, feed)
            await audit.append(session, AuditEntry, audit_entries)
        if added:
            self.on_member_events()
        return applied

    async def _merge_reports(self, session: AsyncSession, from_case: str, into_case: str, now: datetime) -> None:
        """A case merged into another (并案): its reports and reporters become the other case's (each
        report remembering where it was filed), and every report of the other case, the moved ones
        among them, gets the notice that the reports are handled as one case, once."""
        await session.execute(update(Report).where(Report.case_id == from_case, Report.merged_from == "")
                              .values(merged_from=from_case))
        await session.execute(update(Report).where(Report.case_id == from_case).values(case_id=into_case))
        moved = (await session.execute(update(Reporter).where(Reporter.case_id == from_case)
                                       .values(case_id=into_case))).rowcount
        if moved:
            await session.execute(update(Case).where(Case.id == into_case)
                                  .values(reporter_count=Case.reporter_count + moved))
            await session.execute(update(Case).where(Case.id == from_case)
                                  .values(reporter_count=Case.reporter_count - moved))
        report_ids = list((await session.execute(select(Report.id).where(
            Report.case_id == into_case, Report.reporter_reference.is_not(None)))).scalars())
        key = domain.merged_notice_key(from_case)
        await self._insert_once(session, ReporterMessage, [
            dict(report_id=r, notice_key=key, code=domain.MERGED_NOTICE_CODE, data={}, sent_at=now)
            for r in report_ids])
        await self._insert_once(session, CaseNotice, dict(
            case_id=into_case, notice_key=key, code=domain.MERGED_NOTICE_CODE, data={}, real_name_only=False,
            notified=len(report_ids), sent_at=now))

    async def reporter_references(self, case_id: str) -> list[tuple[str, bool]]:
        """A case's reporters as its workflow knows them: references and whether real-name, never who."""
        async with self.sessions() as session:
            return [(reference, real) for reference, real in await session.execute(
                select(Reporter.reference, Reporter.real_name).where(Reporter.case_id == case_id)
                .order_by(Reporter.created_at, Reporter.reference))]

    async def _decided_penalty(self, session: AsyncSession, case_id: str, new_entries: list[dict]) -> str:
        """The kind of penalty decided (what a publication says is published): from the decision
        among the new entries, else from the case's timeline; only asked when something is published."""
        if not any(e["action"] == domain.PUBLISHED for e in new_entries):
            return ""
        for entry in reversed(new_entries):
            if entry["action"] == domain.DECIDED:
                return entry["data"].get("penalty_kind", "")
        data = await session.scalar(select(TimelineEntry.data).where(
            TimelineEntry.case_id == case_id, TimelineEntry.action == domain.DECIDED)
            .order_by(TimelineEntry.record_revision.desc(), TimelineEntry.position.desc()).limit(1))
        return (data or {}).get("penalty_kind", "")

    # -- escalations (超期督办) and notifications (办案提醒), filed with the record --

    async def _escalate(self, session: AsyncSession, case: Case, progress: Progress, now: datetime) -> list[dict]:
        """File the missed periods the new entries bring (once each: a period and its last day),
        then settle what they say was dealt with; the feed's events for both."""
        summary = progress.summary
        raised = []
        for missed in domain.missed_periods(progress.new_entries):
            inserted = await self._insert_once(session, Escalation, dict(
                case_id=case.id, period_id=missed.period_id, due_on=missed.due_on, missed_on=missed.missed_on,
                provisional=missed.provisional, region_code=summary["region_code"], state=domain.OPEN, supervisor="",
                assignee=summary["assignee"], raised_at=now, resolution="", resolved_by=""))
            if inserted:
                raised.append(await session.scalar(select(Escalation).where(
                    Escalation.case_id == case.id, Escalation.period_id == missed.period_id,
                    Escalation.due_on == missed.due_on)))
        events = [event_row(e, "raised", domain.SYSTEM, now) for e in raised]
        for settlement in domain.settlements(progress.new_entries):
            events += await self._resolve(session, case.id, settlement, now)
        return events

    async def _settle_by_record(self, session: AsyncSession, case: Case, now: datetime) -> list[dict]:
        """After a newer state is applied: the escalations of a closed case are resolved, those
        whose period is no longer missed too, and the rest follow the case to its region."""
        open_ones = await self._unresolved(session, case.id)
        events = []
        for escalation in open_ones:
            if case.stage == domain.CLOSED:
                resolution = domain.BY_CLOSING
            elif not domain.still_missed(case.deadlines, escalation.period_id, escalation.due_on):
                resolution = domain.NO_LONGER_MISSED
            else:
                escalation.region_code = case.region_code
                continue
            events.append(self._resolved(escalation, resolution, domain.SYSTEM, now))
        return events

    async def _resolve(self, session: AsyncSession, case_id: str, settlement: domain.Settlement, now: datetime
                       ) -> list[dict]:
        return [self._resolved(e, settlement.resolution, settlement.actor, now)
                for e in await self._unresolved(session, case_id)
                if not settlement.period_id or e.period_id == settlement.period_id]

    @staticmethod
    def _resolved(escalation: Escalation, resolution: str, actor: str, now: datetime) -> dict:
        escalation.state, escalation.resolution, escalation.resolved_by = domain.RESOLVED, resolution, actor
        escalation.resolved_at = now
        return event_row(escalation, "resolved", actor, now)

    @staticmethod
    async def _unresolved(session: AsyncSession, case_id: str) -> list[Escalation]:
        return list((await session.execute(select(Escalation).where(
            Escalation.case_id == case_id, Escalation.state.in_(domain.UNRESOLVED)).order_by(Escalation.id)
            .with_for_update())).scalars())

    async def _append_feed(self, session: AsyncSession, events: list[dict]) -> None:
        """Give the events the next positions of the feed. The feed's row is locked last in the
        transaction and held to its commit, so positions are given in commit order."""
        if not events:
            return
        await session.flush()
        await self._insert_once(session, EscalationFeed, dict(id=1, last_position=0))
        feed = (await session.execute(select(EscalationFeed).where(EscalationFeed.id == 1).with_for_update()
                                      .execution_options(populate_existing=True))).scalar_one()
        rows = [dict(event, position=feed.last_position + i) for i, event in enumerate(events, start=1)]
        await session.execute(insert(EscalationEvent), rows)
        feed.last_position += len(rows)

    async def list_escalations(self, region_prefix: str, supervisor: str, include_resolved: bool, page_size: int,
                               after: tuple[int, date, int] | None) -> tuple[list[InboxEntry], str, int]:
        """A supervisor's inbox: the escalations in the region that wait for its supervisors or
        that this one took, unresolved first, the most overdue (earliest last day) first; and how
        many wait for a supervisor."""
        in_region = Escalation.region_code.between(*code_range(region_prefix))
        resolved = when((Escalation.state == domain.RESOLVED, 1), else_=0)
        conditions = [in_region, Escalation.supervisor.in_(("", supervisor))]
        if not include_resolved:
            conditions.append(Escalation.state.in_(domain.UNRESOLVED))
        if after:
            conditions.append(tuple_(resolved, Escalation.due_on, Escalation.id) > after)
        statement = (select(Escalation, Case).join(Case, Case.id == Escalation.case_id).where(*conditions)
                     .order_by(resolved, Escalation.due_on, Escalation.id).limit(page_size + 1))
        async with self.sessions() as session:
            rows = [InboxEntry(e, c) for e, c in await session.execute(statement)]
            waiting = await session.scalar(select(func.count()).select_from(Escalation).where(
                in_region, Escalation.state == domain.OPEN))
        if len(rows) <= page_size:
            return rows, "", waiting
        return rows[:page_size], encode_inbox_token(rows[page_size - 1].escalation), waiting

    async def escalation(self, escalation_id: int) -> InboxEntry:
        async with self.sessions() as session:
            found = (await session.execute(select(Escalation, Case).join(Case, Case.id == Escalation.case_id)
                                           .where(Escalation.id == escalation_id))).one_or_none()
        if found is None:
            raise NotFound("escalation", str(escalation_id))
        return InboxEntry(*found)

    async def acknowledge_escalation(self, escalation_id: int, supervisor: str, now: datetime) -> InboxEntry:
        """The supervisor takes the escalation (domain.check_acknowledgement); taken already by
        them, it is answered as it is."""
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options=db.WRITE)
            escalation = await db.one_or_not_found(session, select(Escalation).where(Escalation.id == escalation_id),
                                                   "escalation", str(escalation_id), for_update=True)
            domain.check_acknowledgement(escalation.state, escalation.supervisor, supervisor, escalation_id)
            if escalation.state == domain.OPEN:
                escalation.state, escalation.supervisor, escalation.acknowledged_at = \
                    domain.ACKNOWLEDGED, supervisor, now
                await self._append_feed(session, [event_row(escalation, "acknowledged", supervisor, now)])
            found = await self._case(session, escalation.case_id)
        return InboxEntry(escalation, found)

    async def escalation_events(self, region_prefix: str, after_position: int, limit: int
                                ) -> tuple[list[EscalationEvent], int]:
        """The feed's events in the region after a position, in position order, and the position
        the next read goes on from."""
        statement = (select(EscalationEvent).where(
            EscalationEvent.position > after_position,
            EscalationEvent.region_code.between(*code_range(region_prefix)))
            .order_by(EscalationEvent.position).limit(limit))
        async with self.sessions() as session:
            rows = list((await session.execute(statement)).scalars())
        return rows, rows[-1].position if rows else after_position

    async def list_notifications(self, recipient: str, region_prefix: str, unread_only: bool, page_size: int,
                                 before: int | None) -> tuple[list[NotificationEntry], str, int]:
        """The recipient's notifications about cases in their region scope, newest first, and how
        many are unread."""
        mine = [Notification.recipient == recipient, Case.region_code.between(*code_range(region_prefix))]
        conditions = list(mine)
        if unread_only:
            conditions.append(Notification.read_at.is_(None))
        if before:
            conditions.append(Notification.id < before)
        statement = (select(Notification, Case).join(Case, Case.id == Notification.case_id).where(*conditions)
                     .order_by(Notification.id.desc()).limit(page_size + 1))
        async with self.sessions() as session:
            rows = [NotificationEntry(n, c) for n, c in await session.execute(statement)]
            unread = await session.scalar(select(func.count()).select_from(Notification).join(
                Case, Case.id == Notification.case_id).where(*mine, Notification.read_at.is_(None)))
        if len(rows) <= page_size:
            return rows, "", unread
        return rows[:page_size], encode_notifications_token(rows[page_size - 1].notification), unread

    async def mark_notification_read(self, notification_id: int, recipient: str, region_prefix: str,
                                     now: datetime) -> NotificationEntry:
        """Read once: the first reading's moment stays. Another's notification is not found."""
        async with self.sessions() as session, session.begin():
            found = (await session.execute(
                select(Notification, Case).join(Case, Case.id == Notification.case_id).where(
                    Notification.id == notification_id, Notification.recipient == recipient,
                    Case.region_code.between(*code_range(region_prefix))).with_for_update(of=Notification)
            )).one_or_none()
            if found is None:
                raise NotFound("notification", str(notification_id))
            notification, its_case = found
            if notification.read_at is None:
                notification.read_at = now
        return NotificationEntry(notification, its_case)

    # -- referrals (移交行业自律) --

    async def list_referrals(self, association_id: str, open_only: bool, page_size: int,
                             after: tuple[date, str] | None) -> tuple[list[Case], str]:
        """The cases referred to the association, oldest referral first."""
        conditions = [Case.referral_association_id == association_id]
        if open_only:
            conditions.append(Case.referral_answer.in_(domain.OPEN_REFERRAL_ANSWERS))
        if after:
            conditions.append(tuple_(Case.referral_sent_on, Case.id) > after)
        statement = (select(Case).where(*conditions).order_by(Case.referral_sent_on, Case.id)
                     .limit(page_size + 1))
        async with self.sessions() as session:
            rows = list((await session.execute(statement)).scalars())
        if len(rows) <= page_size:
            return rows, ""
        last = rows[page_size - 1]
        return rows[:page_size], pages.encode("referrals", last.referral_sent_on.isoformat(), last.id)

    async def notify_reporters(self, case_id: str, notice_key: str, code: str, data: dict[str, str],
                               real_name_only: bool, now: datetime) -> int:
        """Put the message on the page of every (real-name) reporter of the case, once per key:
        a repeated key answers the first count and sends nothing."""
        async with self.sessions() as session, session.begin():
            await self._case(session, case_id, for_update=True)
            sent = await session.get(CaseNotice, (case_id, notice_key))
            if sent is not None:
                return sent.notified
            recipients = select(Report.id).join(Reporter, Report.reporter_reference == Reporter.reference).where(
                Report.case_id == case_id)
            if real_name_only:
                recipients = recipients.where(Reporter.real_name.is_(True))
            report_ids = list((await session.execute(recipients)).scalars())
            await self._insert_once(session, ReporterMessage, [
                dict(report_id=r, notice_key=notice_key, code=code, data=data, sent_at=now) for r in report_ids])
            session.add(CaseNotice(case_id=case_id, notice_key=notice_key, code=code, data=data,
                                   real_name_only=real_name_only, notified=len(report_ids), sent_at=now))
        return len(report_ids)

    # -- statistics and exports: read from the records, never from the workflows --

    @staticmethod
    def _scope_conditions(where: CaseScope) -> list:
        conditions = []
        if where.region_prefix:
            conditions.append(Case.region_code.between(*code_range(where.region_prefix)))
        if where.received_from:
            conditions.append(Case.received_on >= where.received_from)
        if where.received_to:
            conditions.append(Case.received_on <= where.received_to)
        return conditions

    async def statistics_rows(self, where: CaseScope) -> list[statistics.CaseFacts]:
        """What statistics count of each case in scope: one read of the records."""
        statement = select(Case.stage, Case.category, Case.outcome, Case.region_code, Case.deadlines, Case.source,
                           Case.subject_kind, Case.agency_kind).where(*self._scope_conditions(where))
        async with self.sessions() as session:
            return [statistics.CaseFacts(*row) for row in await session.execute(statement)]

    async def export_cases(self, where: CaseScope, page_size: int, after: str
                           ) -> tuple[list[tuple[Case, list[CaseStageChange]]], str]:
        """A page of case records in id order, each with its stage changes in order."""
        conditions = self._scope_conditions(where)
        if after:
            conditions.append(Case.id > after)
        async with self.sessions() as session:
            cases = list((await session.execute(select(Case).where(*conditions).order_by(Case.id)
                                                .limit(page_size + 1))).scalars())
            more = len(cases) > page_size
            cases = cases[:page_size]
            changes: dict[str, list[CaseStageChange]] = {}
            if cases:
                for change in (await session.execute(select(CaseStageChange).where(
                        CaseStageChange.case_id.in_([c.id for c in cases]))
                        .order_by(CaseStageChange.case_id, CaseStageChange.revision))).scalars():
                    changes.setdefault(change.case_id, []).append(change)
        token = encode_export_token(cases[-1].id) if more else ""
        return [(c, changes.get(c.id, [])) for c in cases], token
