"""The bulk seed (services/registry/seed.py) on both databases: every identifier valid and
unique, filings, status histories, reports and credit events as the registry's rules allow,
the same seed giving the same data, and the data served by the real registry over gRPC."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import grpc
import pytest
import sqlalchemy
from sqlalchemy import text

from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from rules import Rules, WorkingDayCalendar
from services.registry import domain, seed
from suite import clock, codes, db, migrate
from suite.errors import DomainError
from tests.conftest import BACKENDS, fresh_database, metadata

AGENCIES, PRACTITIONERS = 200, 1000
RNG_SEED = 11
TODAY = clock.today()


@contextmanager
def seeded_database(backend: str, rng_seed: int = RNG_SEED) -> Iterator[tuple[str, dict[str, int]]]:
    """A fresh migrated database holding the seed: its URL and the counts the seed returned."""
    with fresh_database(backend) as url:
        migrate.upgrade("registry", database_url=url)
        yield url, seed.seed(url, AGENCIES, PRACTITIONERS, rng_seed=rng_seed, as_of=TODAY)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request):
    with seeded_database(request.param) as (url, counts):
        yield url, counts


def rows(url: str, query: str) -> list[sqlalchemy.Row]:
    engine = sqlalchemy.create_engine(db.sync_url(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(query)))
    finally:
        engine.dispose()


def as_date(value) -> date | None:
    """SQLite hands dates back as text to a raw query, PostgreSQL as dates."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def test_counts_are_the_rows_written(seeded):
    url, counts = seeded
    assert counts["agencies"] == AGENCIES and counts["practitioners"] == PRACTITIONERS
    for table, count in counts.items():
        assert rows(url, f"SELECT count(*) FROM {table}")[0][0] == count, table
    assert counts["practice_filings"] > PRACTITIONERS  # some practitioners moved
    assert counts["annual_reports"] > AGENCIES and counts["credit_events"] > 0


def test_agency_identifiers_are_valid_and_unique(seeded):
    url, _ = seeded
    agencies = rows(url, "SELECT credit_code, region_code, licence_number, kind, legal_form, parent_agency_id, "
                         "phone, name FROM agencies")
    for credit_code, region, licence, kind, legal_form, parent, phone, name in agencies:
        assert codes.credit_code_problem(credit_code) is None, credit_code
        assert credit_code[2:8] == region, (credit_code, region)
        assert credit_code[:2] == ("31" if kind == "legal" else "91")
        assert codes.region_code_problem(region) is None
        assert codes.phone_problem(phone) is None, phone
        if kind == "patent":
            assert legal_form in ("partnership", "limited_company")
        if parent is None and kind in ("patent", "trademark"):
            assert licence, name
        if kind != "legal":  # law firms are partnerships without saying so in their names
            assert ("合伙）" in name) == (legal_form == "partnership"), name
    for column in ("credit_code", "name"):
        values = [row[0] for row in rows(url, f"SELECT {column} FROM agencies")]
        assert len(values) == len(set(values)), column
    licences = [row[0] for row in rows(url, "SELECT licence_number FROM agencies WHERE licence_number IS NOT NULL")]
    assert len(licences) == len(set(licences))
    assert any(parent for _, _, _, _, _, parent, _, _ in agencies)  # some branches


def test_shareholders_include_some_without_a_certificate(seeded):
    url, _ = seeded
    patent = rows(url, "SELECT a.id, a.legal_form, count(s.id), sum(CASE WHEN s.holds_attorney_certificate "
                       "THEN 0 ELSE 1 END) FROM agencies a JOIN shareholders s ON s.agency_id = a.id "
                       "WHERE a.kind = 'patent' GROUP BY a.id, a.legal_form")
    assert patent
    for _, legal_form, count, uncertified in patent:
        assert count >= (2 if legal_form == "partnership" else 5)
        assert uncertified < count
    assert any(uncertified for *_, uncertified in patent)


def test_practitioner_identifiers_are_valid_and_unique(seeded):
    url, _ = seeded
    people = rows(url, "SELECT resident_id, phone, certificate_number, kind, qualified_on FROM practitioners")
    for resident_id, phone, certificate, kind, qualified_on in people:
        assert codes.resident_id_problem(resident_id) is None, resident_id
        assert date(int(resident_id[6:10]), int(resident_id[10:12]), int(resident_id[12:14])) < TODAY
        assert phone == "" or codes.phone_problem(phone) is None
        assert bool(certificate) == (kind == "patent_attorney") == bool(qualified_on)
    assert len({p[0] for p in people}) == len(people)
    certificates = [p[2] for p in people if p[2]]
    assert len(set(certificates)) == len(certificates)
    assert any(p[1] for p in people) and any(not p[1] for p in people)


def test_each_practitioner_practises_at_one_live_agency_at_most(seeded):
    url, _ = seeded
    agencies = {a: (status, as_date(est)) for a, status, est in rows(url, "SELECT id, status, established_on "
                                                                         "FROM agencies")}
    current = dict(rows(url, "SELECT id, current_agency_id FROM practitioners"))
    filings = defaultdict(list)
    for practitioner, agency, started, ended, reason in rows(
            url, "SELECT practitioner_id, agency_id, started_on, ended_on, end_reason FROM practice_filings "
                 "ORDER BY id"):
        filings[practitioner].append((agency, as_date(started), as_date(ended), reason))
    moved = 0
    for practitioner, agency_id in current.items():
        history = filings.get(practitioner, [])
        open_filings = [f for f in history if f[2] is None]
        assert len(open_filings) <= 1
        assert agency_id == (open_filings[0][0] if open_filings else None)
        if agency_id:
            assert agencies[agency_id][0] in ("active", "suspended")
        for (agency, started, ended, reason), later in zip(history, history[1:] + [None]):
            assert started >= agencies[agency][1] and started <= TODAY
            if later is not None:
                assert ended == later[1] and later[1] > started and later[0] != agency
                assert reason.startswith("transferred to ")
                moved += 1
    assert moved > 0
    assert sum(1 for a in current.values() if a) > 0.9 * len(current)


def test_status_histories_follow_the_registry_rules(seeded):
    url, _ = seeded
    history = defaultdict(list)
    for agency, from_status, to_status, effective, until, reason, reference in rows(
            url, "SELECT agency_id, from_status, to_status, effective_on, suspended_until, reason, decision_reference "
                 "FROM agency_status_changes ORDER BY id"):
        history[agency].append(domain.StatusChange(domain.AgencyStatus(to_status), as_date(effective),
                                                   as_date(until), reason, reference))
    statuses = {}
    for agency, status, suspended_until, established in rows(
            url, "SELECT id, status, suspended_until, established_on FROM agencies"):
        current, last = domain.AgencyStatus.ACTIVE, None
        for change in history[agency]:
            domain.check_status_change(current, last, change)
            assert as_date(established) < change.effective_on <= TODAY
            current, last = change.to_status, change.effective_on
        assert current == status
        assert (as_date(suspended_until) is not None) == (status == "suspended")
        if status == "suspended":
            assert as_date(suspended_until) > TODAY
        statuses[status] = statuses.get(status, 0) + 1
    assert statuses["active"] > 0.8 * AGENCIES
    assert statuses.get("suspended", 0) > 0 and statuses.get("deregistered", 0) > 0


def test_reports_and_credit_events_follow_the_rules(seeded):
    url, _ = seeded
    rules, calendar = Rules.load(), WorkingDayCalendar.load()
    established = {a: as_date(e) for a, e in rows(url, "SELECT id, established_on FROM agencies")}
    window = rules.windows["annual_report_window"]
    for agency, year, filed in rows(url, "SELECT agency_id, year, filed_on FROM annual_reports"):
        domain.check_annual_report(year, as_date(filed), established[agency])
        assert as_date(filed) <= TODAY
        opens, _ = window.for_year(year + 1)
        assert as_date(filed) >= opens
    kinds = set()
    for kind, occurred, ends, fine, agency, practitioner in rows(
            url, "SELECT kind, occurred_on, publicity_ends_on, fine_cny, agency_id, practitioner_id "
                 "FROM credit_events"):
        occurred, ends = as_date(occurred), as_date(ends)
        try:
            domain.check_credit_event(occurred, ends, TODAY)
        except DomainError as error:
            pytest.fail(f"{kind} on {occurred}: {error.message}")
        assert (agency is None) != (practitioner is None)
        kinds.add(kind)
        if kind == "fine":
            assert ends == calendar.deadline(occurred, rules.publicity_period(["fine"], fine * 100)), (fine, ends)
    assert {"fine", "warning", "abnormal_operation_list", "suspension"} <= kinds


def test_list_entries_are_kept_as_the_registry_keeps_them(seeded):
    """Every list entry the seed writes has its credit event under its id; an entry is open today
    exactly when its listing is still public; an agency moved to the serious-violation list left
    the abnormal list the day it moved."""
    url, _ = seeded
    events = {i: (kind, as_date(on), as_date(ends)) for i, kind, on, ends in rows(
        url, "SELECT id, kind, occurred_on, publicity_ends_on FROM credit_events")}
    entries = rows(url, "SELECT id, list, listed_on, removed_on, removal_reason, moves_to_serious_on, "
                        "credit_event_id FROM credit_list_entries")
    assert entries, "a few agencies miss a report"
    listed = {e[0]: e for e in entries}
    for entry_id, list_name, listed_on, removed_on, reason, moves_on, event_id in entries:
        kind, on, ends = events[event_id]
        assert (kind, on) == ({"abnormal_operation": "abnormal_operation_list",
                               "serious_violation": "serious_violation_list"}[list_name], as_date(listed_on))
        assert (removed_on is None) == (ends >= TODAY or as_date(removed_on) > TODAY), entry_id
        if reason == "moved_to_serious_violation_list":
            serious = listed["serious-" + entry_id.removeprefix("abnormal-")]
            assert as_date(serious[2]) == as_date(removed_on) == as_date(moves_on)
        if reason == "annual_report_filed":
            assert events[f"{entry_id}-removed"][:2] == ("abnormal_operation_list_removal", as_date(removed_on))


def test_the_same_seed_gives_the_same_data(seeded):
    url, _ = seeded
    backend = "sqlite" if db.is_sqlite(url) else "postgresql"
    tables = {"agencies": "id", "shareholders": "id", "agency_status_changes": "id", "practitioners": "id",
              "practice_filings": "id", "annual_reports": "agency_id, year", "credit_events": "id"}

    def dump(database: str) -> dict[str, list]:
        return {table: [tuple(row) for row in rows(database, f"SELECT * FROM {table} ORDER BY {order}")]
                for table, order in tables.items()}

    first = dump(url)
    with seeded_database(backend) as (again, _):
        assert dump(again) == first
    with seeded_database(backend, rng_seed=RNG_SEED + 1) as (other, _):
        assert dump(other)["agencies"] != first["agencies"]


def test_seed_refuses_a_registry_that_holds_agencies(seeded):
    url, counts = seeded
    with pytest.raises(ValueError, match="already holds"):
        seed.seed(url, 5, 5, rng_seed=RNG_SEED, as_of=TODAY)
    assert rows(url, "SELECT count(*) FROM agencies")[0][0] == counts["agencies"]


async def test_seeded_registry_serves_the_public_register_and_search(seeded):
    from services.registry.server import build

    url, _ = seeded
    busiest, credit_code, name, licence, region = rows(url, """
        SELECT a.id, a.credit_code, a.name, a.licence_number, a.region_code FROM agencies a
        JOIN practitioners p ON p.current_agency_id = a.id
        WHERE a.kind = 'patent' AND a.parent_agency_id IS NULL
        GROUP BY a.id, a.credit_code, a.name, a.licence_number, a.region_code
        ORDER BY count(*) DESC, a.id LIMIT 1""")[0]
    staff = rows(url, f"SELECT count(*) FROM practitioners WHERE current_agency_id = '{busiest}'")[0][0]
    years = [y for (y,) in rows(url, f"SELECT year FROM annual_reports WHERE agency_id = '{busiest}' ORDER BY year")]
    certificate, person = rows(url, f"""
        SELECT certificate_number, name FROM practitioners
        WHERE current_agency_id = '{busiest}' AND certificate_number IS NOT NULL ORDER BY id LIMIT 1""")[0]
    province = region[:2] + "0000"
    in_province = rows(url, f"SELECT count(*) FROM agencies WHERE region_code LIKE '{region[:2]}%' "
                            f"AND kind IN ('patent', 'trademark')")[0][0]

    server, store = build(database_url=url)
    port = await server.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RegistryServiceStub(channel)
            for query in (credit_code, licence):
                found = (await stub.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query=query))).agencies
                assert [a.credit_code for a in found] == [credit_code]
                assert found[0].practitioner_count == staff and list(found[0].annual_report_years) == years
            prefix = name[:4]
            found = (await stub.LookupAgencyPublic(pb.LookupAgencyPublicRequest(query=prefix, page_size=50))).agencies
            assert name in [a.name for a in found]
            assert all(a.name.startswith(prefix) for a in found)
            assert [a.name for a in found] == sorted(a.name for a in found)

            people = (await stub.LookupPractitionerPublic(
                pb.LookupPractitionerPublicRequest(query=certificate))).practitioners
            assert [(p.name, p.agency_credit_code) for p in people] == [(person, credit_code)]
            assert "*" in people[0].resident_id_masked

            handler = metadata("handler", region=province)
            seen, token = [], ""
            while True:
                page = await stub.SearchAgencies(pb.SearchAgenciesRequest(
                    kinds=[pb.AGENCY_KIND_PATENT, pb.AGENCY_KIND_TRADEMARK], page_size=7, page_token=token,
                    view=pb.AGENCY_VIEW_FULL),
                    metadata=handler)
                seen.extend(page.agencies)
                token = page.next_page_token
                if not token:
                    break
            assert len(seen) == in_province and len({a.id for a in seen}) == in_province
            assert all(a.region_code.startswith(region[:2]) for a in seen)
            assert [(a.name, a.id) for a in seen] == sorted((a.name, a.id) for a in seen)
            assert any(a.shareholders for a in seen)
    finally:
        await server.stop(0)
        await store.close()
