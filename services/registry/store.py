"""Registry tables (SQLAlchemy 2) and the queries and writes behind every RPC. Writes run in
one transaction each and apply the rules of `domain` to the stored state."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import (JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        and_, bindparam, cast, delete, func, insert, literal, literal_column, null, or_, select, tuple_,
                        update)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload
from sqlalchemy.sql import Select

from services.registry import domain
from suite import audit, clock, db, pages, workflow_outbox
from suite.errors import AlreadyExists, NotFound
from suite.idempotency import IdempotencyRecordMixin
from suite.regions import code_range


class Base(DeclarativeBase):
    pass


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


class Agency(Base):
    __tablename__ = "agencies"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    licence_number: Mapped[str | None] = mapped_column(String(40), index=True)
    region_code: Mapped[str] = mapped_column(String(6))
    legal_form: Mapped[str] = mapped_column(String(30))
    parent_agency_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"))
    status: Mapped[str] = mapped_column(String(20))
    suspended_until: Mapped[date | None] = mapped_column(Date)
    legal_representative: Mapped[str] = mapped_column(String(100), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    established_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(db.Instant)

    shareholders: Mapped[list[Shareholder]] = relationship(order_by="Shareholder.position", lazy="raise")
    status_history: Mapped[list[AgencyStatusChange]] = relationship(order_by="AgencyStatusChange.id",
                                                                     lazy="raise")

    __table_args__ = (
        Index("ix_agencies_name_id", "name", "id"),
        Index("ix_agencies_region_name_id", "region_code", "name", "id"),
        # A province's or a city's agencies in name order (migration 0002): see region_column.
        Index("ix_agencies_province_name_id", func.substr(region_code, literal_column("1"), literal_column("2")),
              "name", "id"),
        Index("ix_agencies_city_name_id", func.substr(region_code, literal_column("1"), literal_column("4")),
              "name", "id"),
    )


class Shareholder(Base):
    __tablename__ = "shareholders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    holds_attorney_certificate: Mapped[bool] = mapped_column(Boolean)


class AgencyStatusChange(Base):
    __tablename__ = "agency_status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    effective_on: Mapped[date] = mapped_column(Date)
    suspended_until: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    decision_reference: Mapped[str] = mapped_column(String(100), default="")
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(db.Instant)


class Practitioner(Base):
    __tablename__ = "practitioners"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    resident_id: Mapped[str] = mapped_column(String(18), unique=True)
    phone: Mapped[str] = mapped_column(String(20), default="")
    certificate_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    qualified_on: Mapped[date | None] = mapped_column(Date)
    current_agency_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(db.Instant)

    filings: Mapped[list[PracticeFiling]] = relationship(order_by="PracticeFiling.id", lazy="raise")

    __table_args__ = (Index("ix_practitioners_name_id", "name", "id"),)


class PracticeFiling(Base):
    __tablename__ = "practice_filings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    practitioner_id: Mapped[str] = mapped_column(ForeignKey("practitioners.id"), index=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    filing_number: Mapped[str] = mapped_column(String(40), default="")
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    end_reason: Mapped[str] = mapped_column(String(300), default="")


class AnnualReport(Base):
    __tablename__ = "annual_reports"
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    filed_on: Mapped[date] = mapped_column(Date)
    employees: Mapped[int] = mapped_column(Integer)
    practitioners: Mapped[int] = mapped_column(Integer)
    revenue_cny: Mapped[int] = mapped_column(BigInteger)
    summary: Mapped[str] = mapped_column(Text, default="")


class CreditEvent(Base):
    __tablename__ = "credit_events"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    practitioner_id: Mapped[str | None] = mapped_column(ForeignKey("practitioners.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(30))
    source_reference: Mapped[str] = mapped_column(String(100))
    occurred_on: Mapped[date] = mapped_column(Date)
    publicity_ends_on: Mapped[date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text)
    fine_cny: Mapped[int] = mapped_column(BigInteger, default=0)
    recorded_at: Mapped[datetime] = mapped_column(db.Instant)
    # Set when the decision behind the event is revoked or changed on review (撤回): the record
    # stays, but the event is no longer shown or counted.
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    withdrawal_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The measure taken, for the kinds graded by it (domain.MEASURES_OF_KIND): an association's
    # discipline. Empty for the others and for events recorded before measures were (0004).
    measure: Mapped[str] = mapped_column(String(30), default="", server_default="")
    # A granted credit repair (信用修复, 0006) ends the publicity early: publicity_ends_on becomes the
    # day before the grant, and the day it would have ended is kept, for as long as the public
    # register says the penalty was repaired.
    repaired_on: Mapped[date | None] = mapped_column(Date)
    credit_repair_id: Mapped[str | None] = mapped_column(String(64))
    publicity_planned_until: Mapped[date | None] = mapped_column(Date)

    def view(self) -> domain.CreditEventView:
        return domain.CreditEventView(self.id, self.kind, self.occurred_on, self.publicity_ends_on, self.measure)


class CreditListEntry(Base):
    """An agency's time on a credit list (经营异常名录 or 严重违法失信名单), from its listing to its
    removal; the listing is also a credit event (`credit_event_id`), and so is a removal."""

    __tablename__ = "credit_list_entries"
    # abnormal-<report year>-<agency id>, serious-<report year>-<agency id>: listed once; the
    # listing's credit event has the same id.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    list: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(40))
    report_year: Mapped[int] = mapped_column(Integer)
    listed_on: Mapped[date] = mapped_column(Date)
    moves_to_serious_on: Mapped[date | None] = mapped_column(Date)
    early_removal_from: Mapped[date | None] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)
    removal_reason: Mapped[str] = mapped_column(String(40), default="")
    credit_event_id: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(db.Instant)

    __table_args__ = (Index("ix_credit_list_entries_due_moves", "list", "removed_on", "moves_to_serious_on"),
                      Index("ix_credit_list_entries_listed", "list", "listed_on", "id"))


_EVENT_COLUMNS = ["id", "agency_id", "practitioner_id", "kind", "source", "source_reference", "occurred_on",
                  "publicity_ends_on", "summary", "fine_cny", "recorded_at", "withdrawn_on", "withdrawal_reason",
                  "measure"]
_ENTRY_COLUMNS = ["id", "agency_id", "list", "reason", "report_year", "listed_on", "moves_to_serious_on",
                  "early_removal_from", "removed_on", "removal_reason", "credit_event_id", "recorded_at"]


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    pass


class AuditEntry(audit.AuditEntryMixin, Base):
    """The audit log (suite.audit): an entry per state change, hash-chained."""


class AuditCheckpoint(audit.AuditCheckpointMixin, Base):
    """The audit chain's head, signed every thousand entries (suite.audit)."""


class WorkflowOutbox(workflow_outbox.WorkflowOutboxMixin, Base):
    """CreditRepair workflow starts, committed with their applications (see suite.workflow_outbox)."""


# ---- credit repair (信用修复) ------------------------------------------------------------------

class CreditRepair(Base):
    """An agency's application for credit repair (信用修复申请), from its filing to the decision.
    Its steps are taken in its CreditRepair workflow, which records each here (last_step)."""

    __tablename__ = "credit_repairs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    last_step: Mapped[str] = mapped_column(String(20), default="")
    applied_on: Mapped[date] = mapped_column(Date)
    eligible_from: Mapped[date] = mapped_column(Date)
    # The token subject of whoever applied; the association's id when it applied for its member.
    applicant: Mapped[str] = mapped_column(String(200))
    association_id: Mapped[str] = mapped_column(String(64), default="")
    statement: Mapped[str] = mapped_column(Text)
    compliance: Mapped[str] = mapped_column(Text)
    checked_by: Mapped[str] = mapped_column(String(200), default="")
    checked_on: Mapped[date | None] = mapped_column(Date)
    compliance_evidence: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    decided_on: Mapped[date | None] = mapped_column(Date)
    refusal_reason: Mapped[str] = mapped_column(Text, default="")
    # The idempotency keys of the requests that took the check and the decision.
    check_request_id: Mapped[str] = mapped_column(String(100), default="")
    decision_request_id: Mapped[str] = mapped_column(String(100), default="")
    revision: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(db.Instant)

    __table_args__ = (Index("ix_credit_repairs_stage_applied", "stage", "applied_on", "id"),)


class CreditRepairEvent(Base):
    """A penalty an application names."""

    __tablename__ = "credit_repair_events"
    repair_id: Mapped[str] = mapped_column(ForeignKey("credit_repairs.id"), primary_key=True)
    credit_event_id: Mapped[str] = mapped_column(ForeignKey("credit_events.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)


# ---- joint punishment (联合惩戒) ---------------------------------------------------------------

class JointPunishment(Base):
    """A measure partner departments apply against an agency (限制政府采购, 评优评先, 财政资金,
    优惠政策; 提高抽查比例) while its basis lasts: a serious-violation list entry, or a credit event
    of named bad-faith conduct. Ended early when the basis is (removed, repaired, withdrawn)."""

    __tablename__ = "joint_punishments"
    # jp-<kind code>-<basis id>: one measure of a kind per basis.
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    basis: Mapped[str] = mapped_column(String(30))
    basis_id: Mapped[str] = mapped_column(String(64), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    ended_because: Mapped[str] = mapped_column(String(20), default="")
    decision_reference: Mapped[str] = mapped_column(String(100))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(db.Instant)

    __table_args__ = (Index("ix_joint_punishments_in_force", "ends_on", "starts_on"),)


_MEASURE_COLUMNS = ["id", "agency_id", "kind", "basis", "basis_id", "starts_on", "ends_on", "ended_because",
                    "decision_reference", "recorded_by", "recorded_at"]


# ---- industry associations (行业协会) ----------------------------------------------------------

class Association(Base):
    __tablename__ = "associations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    # The kinds of agency it serves, as AgencyKind's words separated by commas.
    kinds: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(db.Instant)

    @property
    def kind_words(self) -> list[str]:
        return self.kinds.split(",") if self.kinds else []


class Membership(Base):
    """An agency's membership of an association over [joined_on, left_on): open while left_on is
    empty. An agency's memberships of one association never overlap."""

    __tablename__ = "memberships"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    association_id: Mapped[str] = mapped_column(ForeignKey("associations.id"))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    joined_on: Mapped[date] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date)
    ended_by: Mapped[str] = mapped_column(String(20), default="")
    reference: Mapped[str] = mapped_column(String(100), default="")

    __table_args__ = (Index("ix_memberships_association_agency", "association_id", "agency_id"),)


class AssociationDiscipline(Base):
    """A disciplinary measure an association recorded on its member's credit record, one per
    decision document of the association."""

    __tablename__ = "association_disciplines"
    association_id: Mapped[str] = mapped_column(ForeignKey("associations.id"), primary_key=True)
    document_number: Mapped[str] = mapped_column(String(100), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    measure: Mapped[str] = mapped_column(String(30))
    credit_event_id: Mapped[str] = mapped_column(ForeignKey("credit_events.id"), unique=True)


class AssociationCertificate(Base):
    """A client certificate an association links in with, by the SHA-256 of its DER encoding."""

    __tablename__ = "association_certificates"
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    association_id: Mapped[str] = mapped_column(ForeignKey("associations.id"), index=True)
    not_after: Mapped[date] = mapped_column(Date)
    revoked_on: Mapped[date | None] = mapped_column(Date)
    registered_at: Mapped[datetime] = mapped_column(db.Instant)


# ---- the member events feed --------------------------------------------------------------------

class MemberEvent(Base):
    """One event about a member as one association's feed carries it: an event that concerns
    several associations has a row in each. Positions are global, and given in commit order
    (see RegistryStore._append_feed)."""

    __tablename__ = "member_events"
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    association_id: Mapped[str] = mapped_column(ForeignKey("associations.id"))
    source_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    agency_id: Mapped[str] = mapped_column(String(64))
    agency_name: Mapped[str] = mapped_column(String(200))
    agency_credit_code: Mapped[str] = mapped_column(String(18))
    occurred_at: Mapped[datetime] = mapped_column(db.Instant)
    subject_id: Mapped[str] = mapped_column(String(100))
    facts: Mapped[dict] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(db.Instant)

    __table_args__ = (
        UniqueConstraint("association_id", "source_key", name="uq_member_events_association_source_key"),
        Index("ix_member_events_association_position", "association_id", "position"),
        Index("ix_member_events_recorded_at", "recorded_at"),
    )


FEED_STATE_ID = 1


class MemberFeedState(Base):
    """The feed's one row: the last position given and the highest position dropped. Every
    transaction that appends locks it first, so positions are given in commit order."""

    __tablename__ = "member_feed_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_position: Mapped[int] = mapped_column(BigInteger)
    pruned_through: Mapped[int] = mapped_column(BigInteger)


class MemberFeedCursor(Base):
    """The last position an association says it has processed."""

    __tablename__ = "member_feed_cursors"
    association_id: Mapped[str] = mapped_column(ForeignKey("associations.id"), primary_key=True)
    acknowledged_position: Mapped[int] = mapped_column(BigInteger)
    acknowledged_at: Mapped[datetime] = mapped_column(db.Instant)


def repair_candidate(event: CreditEvent, open_repair_id: str | None) -> domain.RepairCandidate:
    return domain.RepairCandidate(event.id, event.kind, event.occurred_on, event.publicity_ends_on, event.fine_cny,
                                  event.withdrawn_on, event.repaired_on, open_repair_id)


# ---- pagination ---------------------------------------------------------------------------

def encode_page_token(name: str, row_id: str) -> str:
    """A page's key: the sort value (a name or credit code) and id of the row before it."""
    return pages.encode("registry", name, row_id)


def decode_page_token(token: str) -> tuple[str, str] | None:
    return pages.decode(token, "registry", str, str)


def region_column(digits: int):
    """What a division's significant digits are compared with to find the agencies within it: the
    province (2) or city (4) digits of their region code, or the code itself. Each has its own
    index in (name, id) order, so a page is read in order straight from the index, where a range
    of codes would have to gather and sort every agency in the region."""
    if digits == 6:
        return Agency.region_code
    return func.substr(Agency.region_code, literal_column("1"), literal_column(str(digits)))


class ShareholderRecord(NamedTuple):
    position: int
    name: str
    holds_attorney_certificate: bool


class StatusChangeRecord(NamedTuple):
    id: int
    from_status: str
    to_status: str
    effective_on: date
    suspended_until: date | None
    reason: str
    decision_reference: str
    recorded_by: str
    recorded_at: datetime


class AgencyRecord:
    """An agency read for a list without the ORM's bookkeeping: its columns as attributes, with
    its shareholders and status history."""

    def __init__(self, columns: dict):
        self.__dict__.update(columns)
        self.shareholders: list[ShareholderRecord] = []
        self.status_history: list[StatusChangeRecord] = []


@dataclass(frozen=True)
class Employer:
    """The agency a practitioner practises at, as the public register shows it."""

    name: str
    credit_code: str


# ---- statements of the busiest reads ----------------------------------------------------------
# Built once with bound parameters, so a call only binds and runs them. A public lookup is one
# statement: the practitioner count, the penalties still in publicity and the report years are
# correlated subqueries on their indexes; the penalties themselves are read only for the few
# entries that have any.

TODAY = bindparam("today", type_=Date)
# A credit event counts and is shown until it is withdrawn.
IN_FORCE = CreditEvent.withdrawn_on.is_(None)
# What the public register shows of an event on `today`: the event while its publicity runs, or the
# word that it was repaired (已信用修复) for as long as it would have run.
SHOWN = or_(CreditEvent.publicity_ends_on >= TODAY, CreditEvent.publicity_planned_until >= TODAY)


def _name_prefix(column):
    return and_(column >= bindparam("query", type_=String), column < bindparam("query_end", type_=String))


def _public_agencies(condition):
    practitioners = select(func.count()).where(Practitioner.current_agency_id == Agency.id).scalar_subquery()
    live_events = select(func.count()).where(CreditEvent.agency_id == Agency.id, SHOWN, IN_FORCE).scalar_subquery()
    # The separator inline (not a bound value), so running the statement needs no rewriting.
    report_years = (select(func.aggregate_strings(cast(AnnualReport.year, String), literal_column("','")))
                    .where(AnnualReport.agency_id == Agency.id).scalar_subquery())
    return (select(*Agency.__table__.c, practitioners.label("practitioner_count"), live_events.label("live_events"),
                   report_years.label("report_years"))
            .where(condition).order_by(Agency.name, Agency.id).limit(bindparam("limit", type_=Integer)))


def _public_practitioners(condition):
    live_events = select(func.count()).where(CreditEvent.practitioner_id == Practitioner.id,
                                             CreditEvent.publicity_ends_on >= TODAY, IN_FORCE).scalar_subquery()
    return (select(Practitioner.id, Practitioner.name, Practitioner.kind, Practitioner.certificate_number,
                   Practitioner.resident_id, Agency.name.label("agency_name"),
                   Agency.credit_code.label("agency_credit_code"), live_events.label("live_events"))
            .outerjoin(Agency, Agency.id == Practitioner.current_agency_id)
            .where(condition).order_by(Practitioner.name, Practitioner.id).limit(bindparam("limit", type_=Integer)))


# By what domain.classify_query makes of the query (as _query_condition answers it).
AGENCY_QUERY = {"credit_code": Agency.credit_code == bindparam("query", type_=String),
                "number": Agency.licence_number == bindparam("query", type_=String),
                "name": _name_prefix(Agency.name)}
PUBLIC_AGENCIES = {kind: db.DriverRead(_public_agencies(condition)) for kind, condition in AGENCY_QUERY.items()}


@lru_cache(maxsize=None)
def public_agencies_by_id(count: int) -> db.DriverRead:
    """The public register's entries of `count` agencies named by id (agency0, agency1, ...), as
    a lookup answers them: what a list of an association's members shows."""
    return db.DriverRead(_public_agencies(Agency.id.in_([bindparam(f"agency{i}", type_=String)
                                                         for i in range(count)])))


_BY_CERTIFICATE = db.DriverRead(_public_practitioners(
    Practitioner.certificate_number == bindparam("query", type_=String)))
PUBLIC_PRACTITIONERS = {"credit_code": _BY_CERTIFICATE, "number": _BY_CERTIFICATE,
                        "name": db.DriverRead(_public_practitioners(_name_prefix(Practitioner.name)))}
AGENCY_COLUMNS = tuple(column.key for column in Agency.__table__.c)
SHAREHOLDER_COLUMNS = [getattr(Shareholder, name) for name in ShareholderRecord._fields]
STATUS_CHANGE_COLUMNS = [getattr(AgencyStatusChange, name) for name in StatusChangeRecord._fields]


class LiveEvent(NamedTuple):
    """A credit event in its publicity period, as the public register shows it."""

    id: str
    subject_id: str  # the agency's or the practitioner's
    kind: str
    occurred_on: date
    publicity_ends_on: date
    summary: str
    fine_cny: int
    measure: str
    repaired_on: date | None
    publicity_planned_until: date | None

    def view(self) -> domain.CreditEventView:
        return domain.CreditEventView(self.id, self.kind, self.occurred_on, self.publicity_ends_on, self.measure)


@lru_cache(maxsize=None)
def live_events(subject: str, count: int) -> db.DriverRead:
    """The credit events of `count` agencies or practitioners (`subject`: the column naming
    them) still in their publicity period on `today`: a public lookup reads them for the few
    entries its first statement found to have any."""
    column = CreditEvent.__table__.c[subject]
    return db.DriverRead(
        select(CreditEvent.id, column.label("subject_id"), CreditEvent.kind, CreditEvent.occurred_on,
               CreditEvent.publicity_ends_on, CreditEvent.summary, CreditEvent.fine_cny, CreditEvent.measure,
               CreditEvent.repaired_on, CreditEvent.publicity_planned_until)
        .where(column.in_([bindparam(f"subject{i}", type_=String) for i in range(count)]), SHOWN, IN_FORCE))


def with_details(page):
    """A page of agencies with their shareholders and status changes in one statement (one round
    trip): an agency's row repeats for each shareholder and status change (outer joins), and
    fold_details folds them back."""
    agencies = page.subquery()
    return (select(agencies, *[c.label(f"shareholder_{c.key}") for c in SHAREHOLDER_COLUMNS],
                   *[c.label(f"change_{c.key}") for c in STATUS_CHANGE_COLUMNS])
            .outerjoin(Shareholder, Shareholder.agency_id == agencies.c.id)
            .outerjoin(AgencyStatusChange, AgencyStatusChange.agency_id == agencies.c.id)
            .order_by(agencies.c.name, agencies.c.id, Shareholder.position, AgencyStatusChange.id))


def fold_details(rows) -> list[AgencyRecord]:
    """The agencies of with_details' rows, in order. A row holds the agency's columns, then a
    shareholder's, then a status change's; within an agency the rows come by shareholder
    position, then status change id, so each shareholder and change is taken the first time."""
    agency_end = len(AGENCY_COLUMNS)
    shareholder_end = agency_end + len(SHAREHOLDER_COLUMNS)
    id_at = AGENCY_COLUMNS.index("id")
    agencies: dict[str, AgencyRecord] = {}
    for row in rows:
        agency = agencies.get(row[id_at])
        if agency is None:
            agency = agencies[row[id_at]] = AgencyRecord(dict(zip(AGENCY_COLUMNS, row[:agency_end])))
        shareholder, change = row[agency_end:shareholder_end], row[shareholder_end:]
        if shareholder[0] is not None and (not agency.shareholders
                                           or agency.shareholders[-1].position != shareholder[0]):
            agency.shareholders.append(ShareholderRecord(*shareholder))
        if change[0] is not None and (not agency.status_history or agency.status_history[-1].id < change[0]):
            agency.status_history.append(StatusChangeRecord(*change))
    return list(agencies.values())


@lru_cache(maxsize=None)
def search_page(query_kind: str, kinds: int, region_digits: int, statuses: int, after: bool) -> db.DriverRead:
    """SearchAgencies' page for one combination of filters (the query's kind, how many kinds and
    statuses, the region's digits, whether it follows a page), built once: a call binds its values
    (search_parameters). It reads the page straight from an index in name order."""
    conditions = [AGENCY_QUERY[query_kind]] if query_kind else []
    if kinds:
        conditions.append(Agency.kind.in_([bindparam(f"kind{i}", type_=String) for i in range(kinds)]))
    if region_digits:
        conditions.append(region_column(region_digits) == bindparam("region", type_=String))
    if statuses:
        conditions.append(Agency.status.in_([bindparam(f"status{i}", type_=String) for i in range(statuses)]))
    if after:
        conditions.append(tuple_(Agency.name, Agency.id) > tuple_(bindparam("after_name", type_=String),
                                                                  bindparam("after_id", type_=String)))
    return db.DriverRead(select(Agency.__table__).where(*conditions).order_by(Agency.name, Agency.id)
                         .limit(bindparam("limit", type_=Integer)))


@lru_cache(maxsize=None)
def search_page_with_details(*shape) -> Select:
    """The same page, each agency with its shareholders and status changes (the full view)."""
    return with_details(search_page(*shape).statement)


def search_parameters(where: AgencyFilter, limit: int, after: tuple[str, str] | None) -> dict:
    return {**_lookup_parameters(where.query, limit), "region": where.region_prefix,
            **{f"kind{i}": kind for i, kind in enumerate(where.kinds)},
            **{f"status{i}": status for i, status in enumerate(where.statuses)},
            "after_name": after[0] if after else None, "after_id": after[1] if after else None}


def _lookup_parameters(query: str, limit: int) -> dict:
    return {"query": query, "query_end": query + "\U0010ffff", "limit": limit, "today": clock.today()}


# ---- drafts of the member events feed -------------------------------------------------------

@dataclass(frozen=True)
class FeedDraft:
    """An event to append to the member events feed, before it has a position. It goes to the
    associations named, and to every association the agency is a member of on `members_on`."""

    source_key: str
    kind: str  # MemberEventKind's word
    agency_id: str
    occurred_at: datetime
    subject_id: str
    facts: dict[str, str]
    associations: tuple[str, ...] = ()
    members_on: date | None = None


def membership_draft(membership: Membership, change: str) -> FeedDraft:
    """MEMBERSHIP_CHANGED to the association, as a membership begins (`joined`) or ends (`ended`)."""
    facts = {"joined_on": membership.joined_on.isoformat()}
    if change == "ended":
        facts.update(left_on=membership.left_on.isoformat(), ended_by=membership.ended_by)
    return FeedDraft(f"registry:membership:{membership.id}:{change}", "membership_changed", membership.agency_id,
                     clock.now(), membership.id, facts, associations=(membership.association_id,))


# ---- the store -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AgencyFilter:
    query: str = ""
    kinds: tuple[str, ...] = ()
    region_prefix: str = ""
    statuses: tuple[str, ...] = ()


def _query_condition(query: str, name_column, number_columns: list, credit_code_column=None):
    """Exact identifiers (credit code, licence or certificate number) or a name prefix; each
    form is answered from its own index."""
    kind = domain.classify_query(query)
    if kind == "credit_code" and credit_code_column is not None:
        return credit_code_column == query
    if kind in ("credit_code", "number"):
        return or_(*[column == query for column in number_columns])
    return and_(name_column >= query, name_column < query + "\U0010ffff")


class RegistryStore:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.sessions = db.sessionmaker(engine)
        self.reads = db.reader(engine)
        self.key_reads = db.key_reader(self.reads)
        # What else stops with the store (the workflow relay the server starts beside it).
        self.on_close: list = []

    async def close(self) -> None:
        for stop in self.on_close:
            await stop()
        await self.engine.dispose()
        if self.reads is not self.engine:
            await self.reads.dispose()
        if self.key_reads is not self.reads:
            await self.key_reads.dispose()

    # -- agencies --

    async def create_agency(self, session: AsyncSession, fields: dict, shareholders: list[tuple[str, bool]],
                            recorded_by: str) -> Agency:
        if await session.scalar(select(Agency.id).where(Agency.credit_code == fields["credit_code"])):
            raise AlreadyExists("AGENCY_ALREADY_REGISTERED",
                                f"an agency with credit code {fields['credit_code']} is already registered",
                                credit_code=fields["credit_code"])
        parent_status = None
        if fields.get("parent_agency_id"):
            parent_status = await session.scalar(select(Agency.status).where(Agency.id == fields["parent_agency_id"]))
        domain.check_new_agency(fields["established_on"], clock.today(),
                                domain.AgencyStatus(parent_status) if parent_status else None,
                                bool(fields.get("parent_agency_id")))
        agency = Agency(id=new_id("ag"), status=domain.AgencyStatus.ACTIVE, created_at=clock.now(), **fields)
        session.add(agency)
        session.add_all(Shareholder(agency_id=agency.id, position=i, name=name, holds_attorney_certificate=cert)
                        for i, (name, cert) in enumerate(shareholders))
        await session.flush()
        return await self._agency(session, agency.id)

    async def _agency(self, session: AsyncSession, agency_id: str, for_update: bool = False) -> Agency:
        statement = select(Agency).where(Agency.id == agency_id).options(
            selectinload(Agency.shareholders), selectinload(Agency.status_history))
        return await db.one_or_not_found(session, statement, "agency", agency_id, for_update)

    async def get_agency(self, agency_id: str) -> Agency:
        async with self.sessions() as session:
            return await self._agency(session, agency_id)

    async def change_agency_status(self, session: AsyncSession, agency_id: str, change: domain.StatusChange,
                                   recorded_by: str, scope_check) -> Agency:
        agency = await self._agency(session, agency_id, for_update=True)
        scope_check(agency.region_code)
        last = agency.status_history[-1].effective_on if agency.status_history else None
        domain.check_status_change(domain.AgencyStatus(agency.status), last, change)
        return await self._record_status_change(session, agency, change, recorded_by)

    async def reinstate_agency(self, session: AsyncSession, agency_id: str, revocation_reference: str,
                               effective_on: date, reason: str, recorded_by: str, scope_check) -> Agency:
        agency = await self._agency(session, agency_id, for_update=True)
        scope_check(agency.region_code)
        change = domain.reinstatement(agency.status_history, revocation_reference, effective_on, reason)
        return await self._record_status_change(session, agency, change, recorded_by)

    async def _record_status_change(self, session: AsyncSession, agency: Agency, change: domain.StatusChange,
                                    recorded_by: str) -> Agency:
        session.add(AgencyStatusChange(
            agency_id=agency.id, from_status=agency.status, to_status=change.to_status,
            effective_on=change.effective_on, suspended_until=change.suspended_until, reason=change.reason,
            decision_reference=change.decision_reference, recorded_by=recorded_by, recorded_at=clock.now()))
        agency.status = change.to_status
        agency.suspended_until = change.suspended_until
        await session.flush()
        return await self._agency(session, agency.id)

    async def search_agencies(self, where: AgencyFilter, page_size: int, after: tuple[str, str] | None,
                              details: bool = False) -> tuple[list[AgencyRecord], str]:
        """A page of the agencies `where` selects, in name order; with `details`, each with its
        shareholders and status history."""
        shape = (domain.classify_query(where.query) if where.query else "", len(where.kinds),
                 len(where.region_prefix), len(where.statuses), after is not None)
        parameters = search_parameters(where, page_size + 1, after)
        async with self.reads.connect() as connection:
            if details:
                agencies = fold_details(await connection.execute(search_page_with_details(*shape), parameters))
            else:
                rows = await search_page(*shape).rows(connection, parameters)
                agencies = [AgencyRecord(row._asdict()) for row in rows]
        return _page(agencies, page_size)

    async def agencies_for_grading(self, where: AgencyFilter, as_of: date, page_size: int,
                                   after: tuple[str, str] | None
                                   ) -> tuple[list, dict[str, list[CreditEvent]], set[str], str]:
        """Agencies in credit-code order with the credit events that count on `as_of`, and those
        of them under a measure raising their inspection ratio that day: what grading a page of
        the registry (and a draw's risk classes) needs, without the rows an agency's page shows."""
        conditions = []
        if where.kinds:
            conditions.append(Agency.kind.in_(where.kinds))
        if where.region_prefix:
            low, high = code_range(where.region_prefix)
            conditions.append(Agency.region_code.between(low, high))
        if where.statuses:
            conditions.append(Agency.status.in_(where.statuses))
        if after:
            conditions.append(Agency.credit_code > after[0])
        statement = (select(Agency.id, Agency.credit_code, Agency.name, Agency.kind, Agency.region_code, Agency.status)
                     .where(*conditions).order_by(Agency.credit_code).limit(page_size + 1))
        async with self.sessions() as session:
            rows = list(await session.execute(statement))
            page, more = rows[:page_size], len(rows) > page_size
            events: dict[str, list[CreditEvent]] = {row.id: [] for row in page}
            if page:
                for event in (await session.execute(select(CreditEvent).where(
                        CreditEvent.agency_id.in_(list(events)), CreditEvent.occurred_on <= as_of,
                        CreditEvent.publicity_ends_on >= as_of, IN_FORCE))).scalars():
                    events[event.agency_id].append(event)
                raised = set((await session.execute(select(JointPunishment.agency_id).where(
                    JointPunishment.agency_id.in_(list(events)),
                    JointPunishment.kind == domain.HIGHER_INSPECTION_RATIO,
                    JointPunishment.starts_on <= as_of, JointPunishment.ends_on >= as_of))).scalars())
            else:
                raised = set()
        next_token = encode_page_token(page[-1].credit_code, page[-1].id) if more else ""
        return page, events, raised, next_token

    # -- practitioners --

    async def register_practitioner(self, session: AsyncSession, fields: dict) -> Practitioner:
        if await session.scalar(select(Practitioner.id).where(Practitioner.resident_id == fields["resident_id"])):
            raise AlreadyExists("RESIDENT_ID_ALREADY_REGISTERED",
                                "a practitioner with this resident identity number is already registered")
        if fields.get("certificate_number") and await session.scalar(
                select(Practitioner.id).where(Practitioner.certificate_number == fields["certificate_number"])):
            raise AlreadyExists("CERTIFICATE_ALREADY_REGISTERED",
                                f"certificate {fields['certificate_number']} is already registered",
                                certificate_number=fields["certificate_number"])
        practitioner = Practitioner(id=new_id("pr"), created_at=clock.now(), **fields)
        session.add(practitioner)
        await session.flush()
        return await self._practitioner(session, practitioner.id)

    async def _practitioner(self, session: AsyncSession, practitioner_id: str, for_update: bool = False
                            ) -> Practitioner:
        statement = select(Practitioner).where(Practitioner.id == practitioner_id).options(
            selectinload(Practitioner.filings))
        return await db.one_or_not_found(session, statement, "practitioner", practitioner_id, for_update)

    async def get_practitioner(self, practitioner_id: str) -> Practitioner:
        async with self.sessions() as session:
            return await self._practitioner(session, practitioner_id)

    @staticmethod
    def _current_filing(practitioner: Practitioner) -> PracticeFiling | None:
        return next((f for f in practitioner.filings if f.ended_on is None), None)

    async def file_practice(self, session: AsyncSession, practitioner_id: str, agency_id: str, filing_number: str,
                            started_on: date, transfer: bool, scope_check) -> Practitioner:
        practitioner = await self._practitioner(session, practitioner_id, for_update=True)
        agency = await self._agency(session, agency_id)
        scope_check(agency.region_code)
        current = self._current_filing(practitioner)
        if current is not None and transfer:
            # A transfer ends the filing at the agency left behind: that agency is touched too.
            scope_check((await self._agency(session, current.agency_id)).region_code)
        domain.check_practice_filing(
            domain.CurrentFiling(current.agency_id, current.started_on) if current else None,
            agency_id, domain.AgencyStatus(agency.status), started_on, transfer)
        if current is not None:
            current.ended_on = started_on
            current.end_reason = f"transferred to {agency.name}"
        session.add(PracticeFiling(practitioner_id=practitioner.id, agency_id=agency_id,
                                   filing_number=filing_number, started_on=started_on))
        practitioner.current_agency_id = agency_id
        await session.flush()
        return await self._practitioner(session, practitioner.id)

    async def end_practice(self, session: AsyncSession, practitioner_id: str, ended_on: date, reason: str,
                           scope_check) -> Practitioner:
        practitioner = await self._practitioner(session, practitioner_id, for_update=True)
        current = self._current_filing(practitioner)
        if current is not None:
            scope_check((await self._agency(session, current.agency_id)).region_code)
        domain.check_end_practice(domain.CurrentFiling(current.agency_id, current.started_on) if current else None,
                                  ended_on)
        current.ended_on, current.end_reason = ended_on, reason
        practitioner.current_agency_id = None
        await session.flush()
        return await self._practitioner(session, practitioner.id)

    async def search_practitioners(self, query: str, agency_id: str, region_prefix: str, page_size: int,
                                   after: tuple[str, str] | None) -> tuple[list[Practitioner], str]:
        """Practitioners by name or certificate, within a region: those practising at an agency of
        the region, and those practising nowhere (whom no office's region holds)."""
        conditions = []
        if region_prefix:
            low, high = code_range(region_prefix)
            conditions.append(or_(Practitioner.current_agency_id.is_(None), Practitioner.current_agency_id.in_(
                select(Agency.id).where(Agency.region_code.between(low, high)))))
        if query:
            conditions.append(_query_condition(query, Practitioner.name, [Practitioner.certificate_number]))
        if agency_id:
            conditions.append(Practitioner.current_agency_id == agency_id)
        if after:
            conditions.append(tuple_(Practitioner.name, Practitioner.id) > after)
        statement = (select(Practitioner).options(selectinload(Practitioner.filings)).where(*conditions)
                     .order_by(Practitioner.name, Practitioner.id).limit(page_size + 1))
        async with self.sessions() as session:
            rows = list((await session.execute(statement)).scalars())
        return _page(rows, page_size)

    async def agency_names(self, agency_ids: set[str]) -> dict[str, Agency]:
        if not agency_ids:
            return {}
        async with self.sessions() as session:
            rows = await session.execute(select(Agency).where(Agency.id.in_(agency_ids)))
            return {a.id: a for a in rows.scalars()}

    # -- annual reports --

    async def file_annual_report(self, session: AsyncSession, agency_id: str, report: dict, scope_check
                                 ) -> AnnualReport:
        agency = await self._agency(session, agency_id)
        scope_check(agency.region_code)
        domain.check_annual_report(report["year"], report["filed_on"], agency.established_on)
        if await session.get(AnnualReport, (agency_id, report["year"])):
            raise AlreadyExists("ANNUAL_REPORT_ALREADY_FILED",
                                f"the annual report for {report['year']} is already filed", year=report["year"])
        stored = AnnualReport(agency_id=agency_id, **report)
        session.add(stored)
        await session.flush()
        return stored

    async def annual_reports(self, agency_id: str) -> tuple[Agency, list[AnnualReport]]:
        async with self.sessions() as session:
            agency = await self._agency(session, agency_id)
            rows = await session.execute(select(AnnualReport).where(AnnualReport.agency_id == agency_id)
                                         .order_by(AnnualReport.year))
            return agency, list(rows.scalars())

    # -- the credit lists (经营异常名录, 严重违法失信名单) --

    async def list_non_filers(self, session: AsyncSession, report_year: int, listed_on: date,
                              dates: domain.ListDates, now: datetime) -> tuple[int, int]:
        """Put every agency that files annual reports and has not filed the year's on the abnormal
        list, with its credit event, in two statements whatever the number; each agency once a
        year. (Listed now, listed before.)"""
        entry_id = literal(f"abnormal-{report_year}-", String) + Agency.id
        non_filers = (
            Agency.kind.in_(domain.REPORTING_KINDS), Agency.status.in_(domain.REPORTING_STATUSES),
            Agency.established_on <= date(report_year, 12, 31),
            ~select(AnnualReport.agency_id).where(AnnualReport.agency_id == Agency.id,
                                                  AnnualReport.year == report_year).exists())
        before = await session.scalar(select(func.count()).select_from(CreditListEntry).where(
            CreditListEntry.list == domain.ABNORMAL_LIST, CreditListEntry.report_year == report_year,
            CreditListEntry.reason == domain.REPORT_MISSING))
        # Listed before: the key says so (a NOT EXISTS on the table being filled would rescan it
        # for every row).
        listed = await session.execute(db.insert_for(session, CreditListEntry).from_select(_ENTRY_COLUMNS, select(
            entry_id, Agency.id, literal(domain.ABNORMAL_LIST), literal(domain.REPORT_MISSING), literal(report_year),
            literal(listed_on, Date), literal(dates.moves_to_serious_on, Date), null(), null(), literal(""),
            entry_id, literal(now, db.Instant)).where(*non_filers)).on_conflict_do_nothing(index_elements=["id"]))
        summary = f"未按规定报送{report_year}年度报告，列入经营异常名录"
        await session.execute(insert(CreditEvent).from_select(_EVENT_COLUMNS, select(
            CreditListEntry.id, CreditListEntry.agency_id, null(), literal(domain.LIST_EVENT_KINDS[domain.ABNORMAL_LIST]),
            literal("annual_report"), literal(f"annual-report-{report_year}"), literal(listed_on, Date),
            literal(dates.publicity_ends_on, Date), literal(summary), literal(0), literal(now, db.Instant),
            null(), literal(""), literal("")).where(
            # The entries just listed: this transaction's, by the moment it records.
            CreditListEntry.list == domain.ABNORMAL_LIST, CreditListEntry.report_year == report_year,
            CreditListEntry.recorded_at == literal(now, db.Instant))))
        return listed.rowcount, before

    async def move_to_serious_list(self, session: AsyncSession, on: date,
                                   dates_of: Callable[[date], domain.ListDates], now: datetime) -> int:
        """Move every agency whose three years on the abnormal list have run by `on` to the
        serious-violation list, listed on the day they ran out; the number moved."""
        due = (CreditListEntry.list == domain.ABNORMAL_LIST, CreditListEntry.removed_on.is_(None))
        days = list((await session.execute(select(CreditListEntry.moves_to_serious_on).distinct().where(
            *due, CreditListEntry.moves_to_serious_on <= on))).scalars())
        moved = 0
        for day in sorted(days):
            dates = dates_of(day)
            moving = (*due, CreditListEntry.moves_to_serious_on == day)
            serious_id = literal("serious-", String) + func.substr(CreditListEntry.id, len("abnormal-") + 1)
            summary = "列入经营异常名录届满三年仍未履行相关义务，列入严重违法失信名单"
            await session.execute(insert(CreditEvent).from_select(_EVENT_COLUMNS, select(
                serious_id, CreditListEntry.agency_id, null(), literal(domain.LIST_EVENT_KINDS[domain.SERIOUS_LIST]),
                literal("annual_report"), CreditListEntry.id, literal(day, Date), literal(dates.publicity_ends_on, Date),
                literal(summary), literal(0), literal(now, db.Instant), null(), literal(""), literal("")).where(*moving)))
            await session.execute(insert(CreditListEntry).from_select(_ENTRY_COLUMNS, select(
                serious_id, CreditListEntry.agency_id, literal(domain.SERIOUS_LIST), literal(domain.MOVED_FROM_ABNORMAL),
                CreditListEntry.report_year, literal(day, Date), null(), literal(dates.early_removal_from, Date), null(),
                literal(""), serious_id, literal(now, db.Instant)).where(*moving)))
            # Joint punishment follows the listing (联合惩戒), in the same transaction: every measure,
            # while the listing is public.
            for kind in domain.SERIOUS_LIST_MEASURES:
                await session.execute(insert(JointPunishment).from_select(_MEASURE_COLUMNS, select(
                    literal(f"jp-{domain.KIND_CODES[kind]}-", String) + serious_id, CreditListEntry.agency_id,
                    literal(kind), literal(domain.SERIOUS_LIST_BASIS), serious_id, literal(day, Date),
                    literal(dates.publicity_ends_on, Date), literal(""), literal("严重违法失信名单"),
                    literal("ipss-registry"), literal(now, db.Instant)).where(*moving)))
            await session.execute(update(CreditEvent).where(CreditEvent.id.in_(
                select(CreditListEntry.credit_event_id).where(*moving))).values(
                publicity_ends_on=day - timedelta(days=1)))
            result = await session.execute(update(CreditListEntry).where(*moving).values(
                removed_on=day, removal_reason=domain.MOVED_TO_SERIOUS))
            moved += result.rowcount
        return moved

    async def next_move_to_serious(self, session: AsyncSession, after: date) -> date | None:
        return await session.scalar(select(func.min(CreditListEntry.moves_to_serious_on)).where(
            CreditListEntry.list == domain.ABNORMAL_LIST, CreditListEntry.removed_on.is_(None),
            CreditListEntry.moves_to_serious_on > after))

    async def remove_from_list(self, session: AsyncSession, agency_id: str, list_name: str, today: date,
                               now: datetime, scope_check) -> CreditListEntry:
        """Take the agency off the list if the cause is cured (domain.check_removal): each entry
        ends today, its listing stops being public, and the removal is a credit event of its own,
        public as long as the listing would have been."""
        agency = await self._agency(session, agency_id, for_update=True)
        scope_check(agency.region_code)
        entries = list((await session.execute(select(CreditListEntry).where(
            CreditListEntry.agency_id == agency_id, CreditListEntry.list == list_name,
            CreditListEntry.removed_on.is_(None), CreditListEntry.listed_on <= today)
            .order_by(CreditListEntry.listed_on, CreditListEntry.id))).scalars())
        filed = set((await session.execute(select(AnnualReport.year).where(
            AnnualReport.agency_id == agency_id))).scalars())
        domain.check_removal(entries, filed, today)
        reason = domain.removal_reason(list_name)
        for entry in entries:
            listing = await session.get(CreditEvent, entry.credit_event_id)
            session.add(CreditEvent(
                id=f"{entry.id}-removed", agency_id=agency_id, practitioner_id=None,
                kind=f"{domain.LIST_EVENT_KINDS[list_name]}_removal", source="annual_report",
                source_reference=entry.id, occurred_on=today, publicity_ends_on=max(listing.publicity_ends_on, today),
                summary=domain.REMOVAL_SUMMARIES[reason], fine_cny=0, recorded_at=now))
            listing.publicity_ends_on = today - timedelta(days=1)
            entry.removed_on, entry.removal_reason = today, reason
        await self._end_measures(session, [entry.id for entry in entries], today, domain.BASIS_REMOVED)
        await session.flush()
        return entries[-1]

    async def list_entries(self, list_name: str, on: date, region_prefix: str, agency_id: str, page_size: int,
                           after: tuple | None) -> tuple[list[tuple[CreditListEntry, Agency]], str]:
        """Who is on the list on a day, oldest listing first."""
        statement = (select(CreditListEntry, Agency).join(Agency, Agency.id == CreditListEntry.agency_id).where(
            CreditListEntry.list == list_name, CreditListEntry.listed_on <= on,
            or_(CreditListEntry.removed_on.is_(None), CreditListEntry.removed_on > on))
            .order_by(CreditListEntry.listed_on, CreditListEntry.id).limit(page_size + 1))
        if region_prefix:
            low, high = code_range(region_prefix)
            statement = statement.where(Agency.region_code.between(low, high))
        if agency_id:
            statement = statement.where(CreditListEntry.agency_id == agency_id)
        if after is not None:
            statement = statement.where(tuple_(CreditListEntry.listed_on, CreditListEntry.id) > after)
        async with self.sessions() as session:
            rows = [tuple(row) for row in (await session.execute(statement)).all()]
        more = len(rows) > page_size
        rows = rows[:page_size]
        token = pages.encode("credit-list", rows[-1][0].listed_on.isoformat(), rows[-1][0].id) if more else ""
        return rows, token

    async def count_entries(self, list_name: str, days: list[date], region_prefix: str) -> list[int]:
        """How many entries were on the list at the end of each day (listed on or before it, not
        removed by it), in the order of the days."""
        counts = []
        async with self.sessions() as session:
            for day in days:
                statement = select(func.count()).select_from(CreditListEntry).where(
                    CreditListEntry.list == list_name, CreditListEntry.listed_on <= day,
                    or_(CreditListEntry.removed_on.is_(None), CreditListEntry.removed_on > day))
                if region_prefix:
                    statement = statement.join(Agency, Agency.id == CreditListEntry.agency_id).where(
                        Agency.region_code.between(*code_range(region_prefix)))
                counts.append(await session.scalar(statement) or 0)
        return counts

    # -- credit repair (信用修复) --

    async def apply_for_repair(self, session: AsyncSession, agency_id: str, event_ids: list[str], fields: dict,
                               today: date, rules, period_end: Callable[[str, date], date], scope_check
                               ) -> CreditRepair:
        """File an application if the penalties may be repaired today (domain.check_repair_application).
        The agency's row orders two applications naming the same penalty."""
        agency = await self._agency(session, agency_id, for_update=True)
        scope_check(agency.region_code)
        found = {e.id: e for e in (await session.execute(select(CreditEvent).where(
            CreditEvent.id.in_(event_ids)))).scalars()}
        for event_id in event_ids:
            if event_id not in found or found[event_id].agency_id != agency_id:
                raise NotFound("credit event", event_id)
        open_repairs = dict((await session.execute(
            select(CreditRepairEvent.credit_event_id, CreditRepair.id)
            .join(CreditRepair, CreditRepair.id == CreditRepairEvent.repair_id)
            .where(CreditRepairEvent.credit_event_id.in_(event_ids),
                   CreditRepair.stage.in_(domain.OPEN_REPAIR_STAGES)))).all())
        lists_on = list((await session.execute(select(CreditListEntry.list).distinct().where(
            CreditListEntry.agency_id == agency_id, CreditListEntry.listed_on <= today,
            CreditListEntry.removed_on.is_(None)).order_by(CreditListEntry.list))).scalars())
        candidates = [repair_candidate(found[event_id], open_repairs.get(event_id)) for event_id in event_ids]
        eligible_from = domain.check_repair_application(candidates, lists_on, today, rules, period_end)
        repair = CreditRepair(id=new_id("cr"), agency_id=agency_id, stage=domain.REPAIR_AWAITING_CHECK, last_step="",
                              applied_on=today, eligible_from=eligible_from, revision=1, recorded_at=clock.now(),
                              **fields)
        session.add(repair)
        await session.flush()
        session.add_all(CreditRepairEvent(repair_id=repair.id, credit_event_id=event_id, position=i)
                        for i, event_id in enumerate(event_ids))
        await session.flush()
        return repair

    async def repair(self, repair_id: str, session: AsyncSession | None = None
                     ) -> tuple[CreditRepair, Agency, list[CreditEvent]]:
        """An application with its agency and the penalties it names, in their order."""
        if session is None:
            async with self.sessions() as session:
                return await self.repair(repair_id, session)
        repair = await db.one_or_not_found(session, select(CreditRepair).where(CreditRepair.id == repair_id)
                                           .execution_options(populate_existing=True), "credit repair", repair_id)
        agency = await session.get(Agency, repair.agency_id)
        events = list((await session.execute(
            select(CreditEvent).join(CreditRepairEvent, CreditRepairEvent.credit_event_id == CreditEvent.id)
            .where(CreditRepairEvent.repair_id == repair_id).order_by(CreditRepairEvent.position)
            .execution_options(populate_existing=True))).scalars())
        return repair, agency, events

    async def repairs(self, region_prefix: str, open_only: bool, agency_id: str, page_size: int,
                      after: tuple | None) -> tuple[list[tuple[CreditRepair, Agency, list[CreditEvent]]], str]:
        """Applications of a region, the oldest first (a queue)."""
        statement = (select(CreditRepair, Agency).join(Agency, Agency.id == CreditRepair.agency_id)
                     .order_by(CreditRepair.applied_on, CreditRepair.id).limit(page_size + 1))
        if region_prefix:
            low, high = code_range(region_prefix)
            statement = statement.where(Agency.region_code.between(low, high))
        if open_only:
            statement = statement.where(CreditRepair.stage.in_(domain.OPEN_REPAIR_STAGES))
        if agency_id:
            statement = statement.where(CreditRepair.agency_id == agency_id)
        if after is not None:
            statement = statement.where(tuple_(CreditRepair.applied_on, CreditRepair.id) > after)
        async with self.sessions() as session:
            rows = [tuple(row) for row in (await session.execute(statement)).all()]
            more, rows = len(rows) > page_size, rows[:page_size]
            events: dict[str, list[CreditEvent]] = {repair.id: [] for repair, _ in rows}
            if rows:
                for repair_id, event in (await session.execute(
                        select(CreditRepairEvent.repair_id, CreditEvent)
                        .join(CreditEvent, CreditEvent.id == CreditRepairEvent.credit_event_id)
                        .where(CreditRepairEvent.repair_id.in_(list(events)))
                        .order_by(CreditRepairEvent.repair_id, CreditRepairEvent.position))).all():
                    events[repair_id].append(event)
        token = pages.encode("credit-repairs", rows[-1][0].applied_on.isoformat(), rows[-1][0].id) if more else ""
        return [(repair, agency, events[repair.id]) for repair, agency in rows], token

    async def record_repair_step(self, session: AsyncSession, repair_id: str, step: str, on: date, actor: str,
                                 evidence: str, reason: str, request_id: str) -> CreditRepair:
        """A step of the application as its workflow took it; the step recorded last again changes
        nothing. A grant ends each penalty's publicity the day before (提前停止公示), says on its
        record that it was repaired, ends the joint punishment resting on it, and tells the
        associations the agency is a member of that its publication ended."""
        repair = await db.one_or_not_found(session, select(CreditRepair).where(CreditRepair.id == repair_id),
                                           "credit repair", repair_id, for_update=True)
        stage = domain.repair_step(repair.stage, repair.last_step, step)
        if stage is None:
            return repair
        if step in ("checked", "refused_at_check"):
            repair.checked_by, repair.checked_on, repair.check_request_id = actor, on, request_id
            repair.compliance_evidence = evidence
        else:
            repair.decided_by, repair.decided_on, repair.decision_request_id = actor, on, request_id
        if step in ("refused_at_check", "refused"):
            repair.refusal_reason = reason
        if step == "granted":
            await self._end_publicity_by_repair(session, repair, on)
        repair.stage, repair.last_step, repair.revision = stage, step, repair.revision + 1
        await session.flush()
        return repair

    async def _end_publicity_by_repair(self, session: AsyncSession, repair: CreditRepair, on: date) -> None:
        events = list((await session.execute(
            select(CreditEvent).join(CreditRepairEvent, CreditRepairEvent.credit_event_id == CreditEvent.id)
            .where(CreditRepairEvent.repair_id == repair.id).order_by(CreditRepairEvent.position)
            .with_for_update())).scalars())
        last_day = on - timedelta(days=1)
        drafts = []
        for event in events:
            event.publicity_planned_until = event.publicity_ends_on
            event.publicity_ends_on = min(event.publicity_ends_on, last_day)
            event.repaired_on, event.credit_repair_id = on, repair.id
            drafts.append(FeedDraft(f"registry:publicity-ended:{event.id}", "publication_ended", event.agency_id,
                                    clock.now(), event.id, {"until": last_day.isoformat(), "kind": event.kind,
                                                            "repaired_on": on.isoformat()}, members_on=last_day))
        await self._end_measures(session, [event.id for event in events], on, domain.REPAIRED)
        await session.flush()
        await self._append_feed(session, drafts)

    # -- joint punishment (联合惩戒) --

    @staticmethod
    async def _end_measures(session: AsyncSession, basis_ids: list[str], on: date, because: str) -> None:
        """The measures resting on these bases end the day before `on` (those still running then)."""
        await session.execute(update(JointPunishment).where(
            JointPunishment.basis_id.in_(basis_ids), JointPunishment.ends_on >= on).values(
            ends_on=on - timedelta(days=1), ended_because=because))

    async def record_joint_punishment(self, session: AsyncSession, event_id: str, kinds: list[str], reference: str,
                                      today: date, recorded_by: str, scope_check) -> list[JointPunishment]:
        """Measures for named bad-faith conduct (a credit event of the agency), each kind once; a
        kind recorded before on the same conduct stays as it was."""
        event = await db.one_or_not_found(session, select(CreditEvent).where(CreditEvent.id == event_id),
                                          "credit event", event_id, for_update=True)
        if event.agency_id is None:
            raise NotFound("credit event", event_id)
        agency = await self._agency(session, event.agency_id)
        scope_check(agency.region_code)
        starts_on, ends_on = domain.joint_punishment_dates(event.kind, event.occurred_on, event.publicity_ends_on,
                                                           event.withdrawn_on, today)
        ids = [domain.measure_id(kind, event.id) for kind in kinds]
        known = {m.id: m for m in (await session.execute(select(JointPunishment).where(
            JointPunishment.id.in_(ids)))).scalars()}
        for kind, measure_id in zip(kinds, ids):
            if measure_id not in known:
                known[measure_id] = JointPunishment(
                    id=measure_id, agency_id=event.agency_id, kind=kind, basis=domain.BAD_FAITH_BASIS,
                    basis_id=event.id, starts_on=starts_on, ends_on=ends_on, ended_because="",
                    decision_reference=reference, recorded_by=recorded_by, recorded_at=clock.now())
                session.add(known[measure_id])
        await session.flush()
        return [known[measure_id] for measure_id in ids]

    async def joint_punishments(self, agency_id: str, on: date | None, region_prefix: str, page_size: int | None,
                                after: tuple | None) -> tuple[list[tuple[JointPunishment, Agency]], str]:
        """Measures (in force on `on`, or all), by agency's credit code, then start and id; every
        one when no page size is given (an export)."""
        statement = (select(JointPunishment, Agency).join(Agency, Agency.id == JointPunishment.agency_id)
                     .order_by(Agency.credit_code, JointPunishment.starts_on, JointPunishment.id))
        if on is not None:
            statement = statement.where(JointPunishment.starts_on <= on, JointPunishment.ends_on >= on)
        if region_prefix:
            low, high = code_range(region_prefix)
            statement = statement.where(Agency.region_code.between(low, high))
        if agency_id:
            statement = statement.where(JointPunishment.agency_id == agency_id)
        if after is not None:
            statement = statement.where(tuple_(Agency.credit_code, JointPunishment.starts_on, JointPunishment.id)
                                        > after)
        if page_size is not None:
            statement = statement.limit(page_size + 1)
        async with self.sessions() as session:
            rows = [tuple(row) for row in (await session.execute(statement)).all()]
        if page_size is None or len(rows) <= page_size:
            return rows, ""
        rows = rows[:page_size]
        last, agency = rows[-1]
        return rows, pages.encode("joint-punishments", agency.credit_code, last.starts_on.isoformat(), last.id)

    # -- credit --

    async def record_credit_event(self, session: AsyncSession, fields: dict, scope_check) -> CreditEvent:
        if fields.get("agency_id"):
            scope_check((await self._agency(session, fields["agency_id"])).region_code)
        else:
            practitioner = await self._practitioner(session, fields["practitioner_id"])
            if practitioner.current_agency_id:
                scope_check((await self._agency(session, practitioner.current_agency_id)).region_code)
        domain.check_credit_event(fields["occurred_on"], fields["publicity_ends_on"], clock.today())
        event = CreditEvent(id=new_id("ce"), recorded_at=clock.now(), **fields)
        session.add(event)
        await session.flush()
        return event

    async def withdraw_credit_event(self, session: AsyncSession, event_id: str, withdrawn_on: date, reason: str,
                                    scope_check) -> CreditEvent:
        event = await db.one_or_not_found(session, select(CreditEvent).where(CreditEvent.id == event_id),
                                          "credit event", event_id, for_update=True)
        subject = (await self._agency(session, event.agency_id) if event.agency_id else
                   await self._employer_of(session, event.practitioner_id))
        if subject is not None:
            scope_check(subject.region_code)
        domain.check_withdrawal(event.occurred_on, event.withdrawn_on, withdrawn_on, clock.today())
        event.withdrawn_on, event.withdrawal_reason = withdrawn_on, reason
        await self._end_measures(session, [event.id], withdrawn_on, domain.WITHDRAWN)
        await session.flush()
        return event

    async def _employer_of(self, session: AsyncSession, practitioner_id: str) -> Agency | None:
        practitioner = await self._practitioner(session, practitioner_id)
        return await self._agency(session, practitioner.current_agency_id) if practitioner.current_agency_id else None

    async def credit_events(self, agency_id: str) -> tuple[Agency, list[CreditEvent]]:
        async with self.sessions() as session:
            return await self._credit_events(session, agency_id)

    async def _credit_events(self, session: AsyncSession, agency_id: str) -> tuple[Agency, list[CreditEvent]]:
        agency = await self._agency(session, agency_id)
        rows = await session.execute(select(CreditEvent).where(CreditEvent.agency_id == agency_id, IN_FORCE))
        return agency, list(rows.scalars())

    # -- the public register --

    async def public_agencies(self, query: str, limit: int
                              ) -> list[tuple[AgencyRecord, list[int], list[LiveEvent], int]]:
        async with self.key_reads.connect() as connection:
            agencies = await PUBLIC_AGENCIES[domain.classify_query(query)].rows(connection,
                                                                                _lookup_parameters(query, limit))
            events = await self._live_events(connection, "agency_id", [a.id for a in agencies if a.live_events])
        return [(a, sorted(int(y) for y in a.report_years.split(",")) if a.report_years else [],
                 events.get(a.id, []), a.practitioner_count) for a in agencies]

    async def public_practitioners(self, query: str, limit: int
                                   ) -> list[tuple[object, Employer | None, list[LiveEvent]]]:
        async with self.key_reads.connect() as connection:
            people = await PUBLIC_PRACTITIONERS[domain.classify_query(query)].rows(connection,
                                                                                  _lookup_parameters(query, limit))
            events = await self._live_events(connection, "practitioner_id",
                                             [p.id for p in people if p.live_events])
        return [(p, Employer(p.agency_name, p.agency_credit_code) if p.agency_name else None, events.get(p.id, []))
                for p in people]

    @staticmethod
    async def _live_events(connection, subject: str, subject_ids: list[str]) -> dict[str, list[LiveEvent]]:
        """The credit events of these agencies or practitioners (`subject`) still in their
        publicity period, by subject."""
        events: dict[str, list[LiveEvent]] = {}
        if subject_ids:
            rows = await live_events(subject, len(subject_ids)).rows(connection, {
                "today": clock.today(), **{f"subject{i}": subject_id for i, subject_id in enumerate(subject_ids)}})
            for row in rows:
                events.setdefault(row.subject_id, []).append(LiveEvent._make(row))
        return events

    # -- industry associations --

    async def create_association(self, session: AsyncSession, fields: dict) -> Association:
        if await session.scalar(select(Association.id).where(Association.credit_code == fields["credit_code"])):
            raise AlreadyExists("ASSOCIATION_ALREADY_REGISTERED",
                                f"an association with credit code {fields['credit_code']} is already registered",
                                credit_code=fields["credit_code"])
        association = Association(id=new_id("as"), created_at=clock.now(), **fields)
        session.add(association)
        await session.flush()
        return association

    @staticmethod
    async def _association(session: AsyncSession, association_id: str, for_update: bool = False) -> Association:
        return await db.one_or_not_found(session, select(Association).where(Association.id == association_id),
                                         "association", association_id, for_update)

    async def get_association(self, association_id: str) -> Association:
        async with self.sessions() as session:
            return await self._association(session, association_id)

    async def list_associations(self, region_prefix: str) -> list[Association]:
        """The associations of a region, those within it and those above it (a province's serves
        its cities), in name order; every one for the whole country (an empty prefix)."""
        statement = select(Association).order_by(Association.name, Association.id)
        if region_prefix:
            low, high = code_range(region_prefix)
            above = {prefix.ljust(6, "0") for prefix in (region_prefix[:2], region_prefix[:4], region_prefix)}
            statement = statement.where(or_(Association.region_code.between(low, high),
                                            Association.region_code.in_(sorted(above))))
        async with self.sessions() as session:
            return list((await session.execute(statement)).scalars())

    @staticmethod
    async def _memberships(session: AsyncSession, association_id: str, agency_id: str) -> list[Membership]:
        return list((await session.execute(
            select(Membership).where(Membership.association_id == association_id, Membership.agency_id == agency_id)
            .order_by(Membership.joined_on).execution_options(populate_existing=True))).scalars())

    async def admit_member(self, session: AsyncSession, association_id: str, agency_id: str, joined_on: date
                           ) -> Membership:
        association = await self._association(session, association_id)
        # The agency's row is the lock two admissions of it wait for each other on.
        agency = await self._agency(session, agency_id, for_update=True)
        domain.check_admission(await self._memberships(session, association_id, agency_id), joined_on,
                               clock.today(), domain.AgencyStatus(agency.status), agency.kind, agency.established_on,
                               association.kind_words)
        membership = Membership(id=new_id("ms"), association_id=association_id, agency_id=agency_id,
                                joined_on=joined_on, ended_by="", reference="")
        session.add(membership)
        await session.flush()
        await self._append_feed(session, [membership_draft(membership, "joined")])
        return membership

    async def end_membership(self, session: AsyncSession, association_id: str, agency_id: str, left_on: date,
                             ended_by: str, reference: str) -> Membership:
        await self._association(session, association_id)
        await self._agency(session, agency_id, for_update=True)
        current = next((m for m in await self._memberships(session, association_id, agency_id)
                        if m.left_on is None), None)
        domain.check_membership_end(current, left_on, clock.today())
        return await self._end(session, current, left_on, ended_by, reference)

    async def _end(self, session: AsyncSession, membership: Membership, left_on: date, ended_by: str,
                   reference: str) -> Membership:
        membership.left_on, membership.ended_by, membership.reference = left_on, ended_by, reference
        await session.flush()
        await self._append_feed(session, [membership_draft(membership, "ended")])
        return membership

    async def members(self, association_id: str, on: date, page_size: int, after: tuple[str, str] | None
                      ) -> tuple[list[tuple[Membership, AgencyRecord, list[int], list[LiveEvent], int]], str]:
        """The association's members on a day, in the order of their names, each with its public
        register entry (as LookupAgencyPublic answers it)."""
        conditions = [Membership.association_id == association_id, Membership.joined_on <= on,
                      or_(Membership.left_on.is_(None), Membership.left_on > on)]
        if after:
            conditions.append(tuple_(Agency.name, Agency.id) > after)
        statement = (select(Membership, Agency.name).join(Agency, Agency.id == Membership.agency_id)
                     .where(*conditions).order_by(Agency.name, Agency.id).limit(page_size + 1))
        async with self.sessions() as session:
            await self._association(session, association_id)
            rows = list(await session.execute(statement))
        more, rows = len(rows) > page_size, rows[:page_size]
        entries = await self.public_agencies_of([membership.agency_id for membership, _ in rows])
        page = [(membership, *entries[membership.agency_id]) for membership, _ in rows]
        last = rows[-1] if rows else None
        return page, encode_page_token(last[1], last[0].agency_id) if more and last else ""

    async def member(self, association_id: str, agency_id: str, on: date
                     ) -> tuple[Membership, Agency, list[CreditEvent]]:
        """The association's member on a day with its credit events; NOT_FOUND alike for an agency
        that is not a member on that day and for one that does not exist."""
        async with self.sessions() as session:
            await self._association(session, association_id)
            membership = next((m for m in await self._memberships(session, association_id, agency_id)
                               if domain.member_on(m, on)), None)
            if membership is None:
                raise domain.member_not_found(agency_id)
            agency, events = await self._credit_events(session, agency_id)
        return membership, agency, events

    async def public_agencies_of(self, agency_ids: list[str]
                                 ) -> dict[str, tuple[AgencyRecord, list[int], list[LiveEvent], int]]:
        """The public register's entries of these agencies, by id."""
        if not agency_ids:
            return {}
        count = max(8, 1 << (len(agency_ids) - 1).bit_length())  # a statement per size bucket
        parameters = {**_lookup_parameters("", count), **{f"agency{i}": agency_id for i, agency_id in
                                                          enumerate(agency_ids + [""] * (count - len(agency_ids)))}}
        async with self.key_reads.connect() as connection:
            agencies = await public_agencies_by_id(count).rows(connection, parameters)
            events = await self._live_events(connection, "agency_id", [a.id for a in agencies if a.live_events])
        return {a.id: (a, sorted(int(y) for y in a.report_years.split(",")) if a.report_years else [],
                       events.get(a.id, []), a.practitioner_count) for a in agencies}

    async def record_association_discipline(self, session: AsyncSession, association_id: str, agency_id: str,
                                            measure: str, document_number: str, decided_on: date,
                                            publicity_ends_on: date) -> CreditEvent:
        """The measure on the member's credit record; membership revoked also ends the membership
        that day. The feed says so in the same transaction. A document recorded before answers
        the event it recorded then."""
        # The association's row orders the decisions of one association (their numbers are its own).
        association = await self._association(session, association_id, for_update=True)
        first = await session.get(AssociationDiscipline, (association_id, document_number))
        if first is not None:
            domain.check_discipline_repeat(agency_id, measure, first.agency_id, first.measure, document_number)
            return await session.get(CreditEvent, first.credit_event_id)
        agency = await session.scalar(select(Agency).where(Agency.id == agency_id).with_for_update())
        membership = next((m for m in await self._memberships(session, association_id, agency_id)
                           if domain.member_on(m, decided_on)), None) if agency is not None else None
        if membership is None:
            raise domain.member_not_found(agency_id)
        domain.check_credit_event(decided_on, publicity_ends_on, clock.today())
        event = CreditEvent(
            id=new_id("ce"), agency_id=agency.id, practitioner_id=None, kind="association_discipline",
            source="association", source_reference=document_number, occurred_on=decided_on,
            publicity_ends_on=publicity_ends_on, summary=domain.discipline_summary(association.name, measure,
                                                                                   document_number),
            fine_cny=0, recorded_at=clock.now(), withdrawal_reason="", measure=measure)
        session.add(event)
        await session.flush()
        session.add(AssociationDiscipline(association_id=association_id, document_number=document_number,
                                          agency_id=agency_id, measure=measure, credit_event_id=event.id))
        facts = {"measure": measure, "document_number": document_number, "decided_on": decided_on.isoformat(),
                 "until": publicity_ends_on.isoformat()}
        now = clock.now()
        drafts = [FeedDraft(f"registry:discipline:{event.id}:recorded", "discipline_recorded", agency_id, now,
                            event.id, facts, associations=(association_id,)),
                  # Published: every association the agency is a member of that day hears of it.
                  FeedDraft(f"registry:discipline:{event.id}:publication", "publication", agency_id, now, event.id,
                            facts, associations=(association_id,), members_on=decided_on)]
        await session.flush()
        await self._append_feed(session, drafts)
        if measure == "membership_revoked":
            await self._end(session, membership, decided_on, domain.MembershipEnd.EXPELLED, document_number)
        return event

    async def record_publicity_ended(self, session: AsyncSession, event_id: str) -> int:
        """PUBLICATION_ENDED on the feed for a published credit event of an agency, to the
        associations it is a member of on the last day of publicity (and the one whose measure it
        was); once per event. Returns how many drafts were new (0 or 1)."""
        event = await db.one_or_not_found(session, select(CreditEvent).where(CreditEvent.id == event_id),
                                          "credit event", event_id)
        if event.agency_id is None or event.kind not in domain.PUBLISHED_KINDS:
            return 0  # nothing was published about a member
        decided_by = await session.scalar(select(AssociationDiscipline.association_id)
                                          .where(AssociationDiscipline.credit_event_id == event.id))
        facts = {"until": event.publicity_ends_on.isoformat(), "kind": event.kind}
        if event.measure:
            facts["measure"] = event.measure
        return await self._append_feed(session, [FeedDraft(
            f"registry:publicity-ended:{event.id}", "publication_ended", event.agency_id, clock.now(), event.id,
            facts, associations=(decided_by,) if decided_by else (), members_on=event.publicity_ends_on)])

    # -- association certificates --

    async def register_certificate(self, session: AsyncSession, association_id: str, fingerprint: str,
                                   not_after: date) -> AssociationCertificate:
        # The association's row orders registrations of its certificates.
        await self._association(session, association_id, for_update=True)
        known = await session.get(AssociationCertificate, fingerprint, populate_existing=True)
        if known is not None:
            if known.association_id != association_id:
                raise AlreadyExists("CERTIFICATE_OF_ANOTHER_ASSOCIATION",
                                    "the certificate is registered to another association",
                                    fingerprint_sha256=fingerprint)
            return known
        certificate = AssociationCertificate(fingerprint_sha256=fingerprint, association_id=association_id,
                                             not_after=not_after, revoked_on=None, registered_at=clock.now())
        session.add(certificate)
        await session.flush()
        return certificate

    @staticmethod
    async def _certificate(session: AsyncSession, fingerprint: str, for_update: bool = False
                           ) -> AssociationCertificate:
        return await db.one_or_not_found(
            session, select(AssociationCertificate).where(AssociationCertificate.fingerprint_sha256 == fingerprint),
            "certificate", fingerprint, for_update)

    async def revoke_certificate(self, session: AsyncSession, fingerprint: str, revoked_on: date
                                 ) -> AssociationCertificate:
        """Revoked from a day on; revoking again keeps the first day."""
        certificate = await self._certificate(session, fingerprint, for_update=True)
        if certificate.revoked_on is None:
            certificate.revoked_on = revoked_on
            await session.flush()
        return certificate

    async def resolve_certificate(self, fingerprint: str) -> AssociationCertificate:
        async with self.sessions() as session:
            certificate = await self._certificate(session, fingerprint)
        domain.check_certificate(certificate.revoked_on, certificate.not_after, clock.today(), fingerprint)
        return certificate

    # -- the member events feed --

    @asynccontextmanager
    async def writing(self):
        """A transaction of its own that will write (on SQLite it takes the write lock at once)."""
        async with self.sessions() as session, session.begin():
            await session.connection(execution_options=db.WRITE)
            yield session

    async def _append_feed(self, session: AsyncSession, drafts: list[FeedDraft]) -> int:
        """Append drafts to the feed in the session's transaction; returns how many were new.

        Positions are given in commit order: the feed's state row is locked (SELECT ... FOR
        UPDATE; SQLite has one writer anyway) before anything is read, and stays locked until the
        transaction commits, so a transaction given later positions commits later, and no reader
        sees position N+1 before N. It is taken last in every writing transaction (after the
        association and agency rows), and held for the few statements that follow."""
        if not drafts:
            return 0
        state = (await session.execute(select(MemberFeedState).where(MemberFeedState.id == FEED_STATE_ID)
                                       .with_for_update().execution_options(populate_existing=True))).scalar_one()
        agency_ids = sorted({d.agency_id for d in drafts})
        agencies = {row.id: row for row in await session.execute(
            select(Agency.id, Agency.name, Agency.credit_code).where(Agency.id.in_(agency_ids)))}
        memberships: dict[str, list] = {}
        if any(d.members_on is not None for d in drafts):
            for row in await session.execute(
                    select(Membership.association_id, Membership.agency_id, Membership.joined_on, Membership.left_on)
                    .where(Membership.agency_id.in_(agency_ids))):
                memberships.setdefault(row.agency_id, []).append(row)
        named = sorted({a for d in drafts for a in d.associations})
        existing_associations = set((await session.execute(
            select(Association.id).where(Association.id.in_(named)))).scalars()) if named else set()
        routes = []
        for draft in drafts:
            targets = {a for a in draft.associations if a in existing_associations}
            if draft.members_on is not None:
                targets |= {m.association_id for m in memberships.get(draft.agency_id, [])
                            if domain.member_on(m, draft.members_on)}
            routes.append((draft, sorted(targets) if draft.agency_id in agencies else []))
        keys = sorted({d.source_key for d, targets in routes if targets})
        associations = sorted({a for _, targets in routes for a in targets})
        seen = set()
        if keys:
            seen = set(await session.execute(select(MemberEvent.association_id, MemberEvent.source_key).where(
                MemberEvent.association_id.in_(associations), MemberEvent.source_key.in_(keys))))
        rows, appended, position, now = [], 0, state.last_position, clock.now()
        for draft, targets in routes:
            new = [a for a in targets if (a, draft.source_key) not in seen]
            if not new:
                continue
            appended += 1
            agency = agencies[draft.agency_id]
            for association_id in new:
                seen.add((association_id, draft.source_key))
                position += 1
                rows.append(dict(position=position, association_id=association_id, source_key=draft.source_key,
                                 kind=draft.kind, agency_id=draft.agency_id, agency_name=agency.name,
                                 agency_credit_code=agency.credit_code, occurred_at=draft.occurred_at,
                                 subject_id=draft.subject_id, facts=dict(draft.facts), recorded_at=now))
        if rows:
            await session.execute(insert(MemberEvent), rows)
            state.last_position = position
            await session.flush()
        return appended

    async def append_member_events(self, drafts: list[FeedDraft]) -> int:
        async with self.writing() as session:
            return await self._append_feed(session, drafts)

    async def read_member_events(self, association_id: str, after_position: int | None, limit: int
                                 ) -> tuple[list[MemberEvent], int]:
        """The association's events after a position (None: after its acknowledged position, or
        from the oldest kept when it has acknowledged none), in position order, and the position
        the next read goes on from. The rows are read before the state: a prune that dropped any
        of them has then raised pruned_through, and the read is refused rather than short."""
        async with self.sessions() as session:
            await self._association(session, association_id)
            if after_position is None:
                after_position = await session.scalar(select(MemberFeedCursor.acknowledged_position).where(
                    MemberFeedCursor.association_id == association_id))
                if after_position is None:
                    after_position = await session.scalar(select(MemberFeedState.pruned_through))
        async with self.reads.connect() as connection:
            rows = list(await connection.execute(
                select(MemberEvent.__table__).where(MemberEvent.association_id == association_id,
                                                    MemberEvent.position > after_position)
                .order_by(MemberEvent.position).limit(limit)))
            pruned_through = await connection.scalar(select(MemberFeedState.pruned_through))
        domain.check_feed_position(after_position, pruned_through)
        return rows, rows[-1].position if rows else after_position

    async def acknowledge_member_events(self, association_id: str, position: int) -> int:
        """The association's cursor moved on to `position`, never back; returns where it stands."""
        async with self.writing() as session:
            await self._association(session, association_id, for_update=True)
            last = await session.scalar(select(MemberFeedState.last_position))
            domain.check_acknowledgement(position, last)
            cursor = await session.get(MemberFeedCursor, association_id, populate_existing=True)
            if cursor is None:
                cursor = MemberFeedCursor(association_id=association_id, acknowledged_position=position,
                                          acknowledged_at=clock.now())
                session.add(cursor)
            elif position > cursor.acknowledged_position:
                cursor.acknowledged_position, cursor.acknowledged_at = position, clock.now()
            await session.flush()
            return cursor.acknowledged_position

    async def prune_member_events(self, before: date) -> tuple[int, int]:
        """Drop the events recorded before a day (China time): every position up to the last of
        them, so what is kept is always everything after pruned_through. Returns how many rows
        were dropped and the oldest position kept (0 when none is)."""
        cutoff = datetime.combine(before, time(0), tzinfo=clock.CHINA)
        async with self.writing() as session:
            state = (await session.execute(select(MemberFeedState).where(MemberFeedState.id == FEED_STATE_ID)
                                           .with_for_update().execution_options(populate_existing=True))).scalar_one()
            through = await session.scalar(select(func.max(MemberEvent.position))
                                           .where(MemberEvent.recorded_at < cutoff))
            pruned = 0
            if through is not None:
                pruned = (await session.execute(delete(MemberEvent).where(MemberEvent.position <= through))).rowcount
                state.pruned_through = max(state.pruned_through, through)
            oldest = await session.scalar(select(func.min(MemberEvent.position))) or 0
            await session.flush()
        return pruned, oldest

    async def feed_state(self) -> tuple[int, int]:
        """The feed's last position and the highest position dropped."""
        async with self.reads.connect() as connection:
            row = (await connection.execute(select(MemberFeedState.last_position, MemberFeedState.pruned_through)
                                            .where(MemberFeedState.id == FEED_STATE_ID))).one()
        return row.last_position, row.pruned_through


def _page(rows: list, page_size: int) -> tuple[list, str]:
    if len(rows) <= page_size:
        return rows, ""
    last = rows[page_size - 1]
    return rows[:page_size], encode_page_token(last.name, last.id)
