"""Registry tables (SQLAlchemy 2) and the queries and writes behind every RPC. Writes run in
one transaction each and apply the rules of `domain` to the stored state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import (BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text,
                        and_, bindparam, cast, func, literal_column, or_, select, tuple_)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload
from sqlalchemy.sql import Select

from services.registry import domain
from suite import clock, db, pages
from suite.errors import AlreadyExists
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

    def view(self) -> domain.CreditEventView:
        return domain.CreditEventView(self.id, self.kind, self.occurred_on, self.publicity_ends_on)


class IdempotencyRecord(IdempotencyRecordMixin, Base):
    pass


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


def _name_prefix(column):
    return and_(column >= bindparam("query", type_=String), column < bindparam("query_end", type_=String))


def _public_agencies(condition):
    practitioners = select(func.count()).where(Practitioner.current_agency_id == Agency.id).scalar_subquery()
    live_events = select(func.count()).where(CreditEvent.agency_id == Agency.id,
                                             CreditEvent.publicity_ends_on >= TODAY, IN_FORCE).scalar_subquery()
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

    def view(self) -> domain.CreditEventView:
        return domain.CreditEventView(self.id, self.kind, self.occurred_on, self.publicity_ends_on)


@lru_cache(maxsize=None)
def live_events(subject: str, count: int) -> db.DriverRead:
    """The credit events of `count` agencies or practitioners (`subject`: the column naming
    them) still in their publicity period on `today`: a public lookup reads them for the few
    entries its first statement found to have any."""
    column = CreditEvent.__table__.c[subject]
    return db.DriverRead(
        select(CreditEvent.id, column.label("subject_id"), CreditEvent.kind, CreditEvent.occurred_on,
               CreditEvent.publicity_ends_on, CreditEvent.summary, CreditEvent.fine_cny)
        .where(column.in_([bindparam(f"subject{i}", type_=String) for i in range(count)]),
               CreditEvent.publicity_ends_on >= TODAY, IN_FORCE))


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

    async def close(self) -> None:
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
                                   after: tuple[str, str] | None) -> tuple[list, dict[str, list[CreditEvent]], str]:
        """Agencies in credit-code order with the credit events that count on `as_of`: what
        grading a page of the registry needs, without the rows an agency's page shows."""
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
        next_token = encode_page_token(page[-1].credit_code, page[-1].id) if more else ""
        return page, events, next_token

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
        await session.flush()
        return event

    async def _employer_of(self, session: AsyncSession, practitioner_id: str) -> Agency | None:
        practitioner = await self._practitioner(session, practitioner_id)
        return await self._agency(session, practitioner.current_agency_id) if practitioner.current_agency_id else None

    async def credit_events(self, agency_id: str) -> tuple[Agency, list[CreditEvent]]:
        async with self.sessions() as session:
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


def _page(rows: list, page_size: int) -> tuple[list, str]:
    if len(rows) <= page_size:
        return rows, ""
    last = rows[page_size - 1]
    return rows[:page_size], encode_page_token(last.name, last.id)
