"""Joint punishment (联合惩戒): the measures that follow the serious-violation list, recorded with the
move onto it and ended the day before the agency comes off it; those staff record for named
bad-faith conduct, ended with a withdrawal; the list partner departments are given, CSV or JSON,
signed with the registry's Ed25519 key (a changed byte fails the check); and the directory an
inspection draw takes its snapshot from, where a raised inspection ratio puts an agency in the high
risk class. Over loopback gRPC, once per database, on a legal calendar in the past."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import grpc

from ipss.registry.v1 import registry_pb2 as pb
from rules import Rules, WorkingDayCalendar
from services.inspections.domain import draw
from services.inspections.registry_client import InspectionTargets
from suite import config, signing
from tests.conftest import metadata
from tests.grpc_checks import error_info, refused
from tests.legal_time import ScenarioClock
from tests.test_credit_repair import (MACHINE, OPERATOR, SUPERVISOR, database, key, new_agency, penalty,  # noqa: F401
                                      registry_on)

KINDS = {pb.JOINT_PUNISHMENT_KIND_PROCUREMENT_RESTRICTION, pb.JOINT_PUNISHMENT_KIND_HONOURS_RESTRICTION,
         pb.JOINT_PUNISHMENT_KIND_FUNDING_RESTRICTION, pb.JOINT_PUNISHMENT_KIND_PREFERENTIAL_POLICY_RESTRICTION,
         pb.JOINT_PUNISHMENT_KIND_HIGHER_INSPECTION_RATIO}


def period_end(period_id: str, start: date) -> date:
    return WorkingDayCalendar.load().deadline(start, Rules.load().periods[period_id])


async def measures(api, agency_id: str, on: date | None = None) -> list[pb.JointPunishment]:
    return list((await api.ListJointPunishments(pb.ListJointPunishmentsRequest(
        agency_id=agency_id, on=on.isoformat() if on else "", page_size=100), metadata=SUPERVISOR)).measures)


async def raised(api, agency: pb.Agency, as_of: date) -> bool:
    page = await api.ListAgencyCreditGrades(pb.ListAgencyCreditGradesRequest(
        region_code=agency.region_code, as_of=as_of.isoformat(), page_size=1000), metadata=metadata("inspector"))
    return next(a for a in page.agencies if a.agency_id == agency.id).higher_inspection_ratio


async def export(api, on: date, fmt=pb.EXPORT_FORMAT_CSV) -> pb.ExportJointPunishmentsResponse:
    return await api.ExportJointPunishments(pb.ExportJointPunishmentsRequest(on=on.isoformat(), format=fmt),
                                            metadata=SUPERVISOR)


def public_key() -> bytes:
    return signing.Signer(config.registry_signing_key()).public_key


async def test_the_serious_violation_list_brings_every_measure_until_the_agency_comes_off_it(database):
    legal = ScenarioClock(date(2022, 4, 1))
    async with registry_on(database, legal) as (api, address, _, _):
        listed, clean = await new_agency(api), await new_agency(api)
        await api.FileAnnualReport(pb.FileAnnualReportRequest(
            idempotency_key=key(), agency_id=clean.id, year=2021, filed_on="2022-03-10", employees=5,
            practitioners=2, revenue_cny=1_000_000), metadata=OPERATOR)
        await api.ListAnnualReportNonFilers(pb.ListAnnualReportNonFilersRequest(
            report_year=2021, listed_on="2022-04-01"), metadata=MACHINE)
        moves_on = period_end("abnormal_list_to_serious", date(2022, 4, 1)) + timedelta(days=1)
        await api.EscalateAbnormalListings(pb.EscalateAbnormalListingsRequest(on=moves_on.isoformat()),
                                           metadata=MACHINE)
        (entry,) = (await api.ListCreditListEntries(pb.ListCreditListEntriesRequest(
            list=pb.CREDIT_LIST_SERIOUS_VIOLATION, on=moves_on.isoformat(), agency_id=listed.id),
            metadata=metadata("public"))).entries
        listing_ends = period_end("serious_violation_list", moves_on)

        # Recorded with the move: every measure, from the day it was listed while it is public.
        found = await measures(api, listed.id)
        assert {m.kind for m in found} == KINDS and len(found) == 5
        assert {(m.basis, m.basis_id, m.starts_on, m.ends_on, m.ended_because) for m in found} == {
            (pb.JOINT_PUNISHMENT_BASIS_SERIOUS_VIOLATION_LIST, entry.id, moves_on.isoformat(),
             listing_ends.isoformat(), "")}
        assert not await measures(api, listed.id, moves_on - timedelta(days=1))
        assert not await measures(api, clean.id)
        # The draw's directory: a raised inspection ratio from the day of the move.
        assert await raised(api, listed, moves_on) and not await raised(api, listed, moves_on - timedelta(days=1))
        assert not await raised(api, clean, moves_on)
        targets = InspectionTargets(address)
        try:
            rows = {row[0]: row for row in await targets.graded_agencies(["110000"], ["patent"],
                                                                        moves_on.isoformat())}
        finally:
            await targets.close()
        assert rows[listed.credit_code][4:] == ["D", draw.RAISED] and rows[clean.credit_code][5] == ""
        assert draw.risk_class(rows[listed.credit_code]) == "high"

        # Early removal, once the report is filed and the year has run: the measures end the day before.
        await api.FileAnnualReport(pb.FileAnnualReportRequest(
            idempotency_key=key(), agency_id=listed.id, year=2021, filed_on=entry.early_removal_from, employees=5,
            practitioners=2, revenue_cny=1_000_000), metadata=OPERATOR)
        removal = date.fromisoformat(entry.early_removal_from)
        legal.day = removal
        await api.RequestListRemoval(pb.RequestListRemovalRequest(
            idempotency_key=key(), agency_id=listed.id, list=pb.CREDIT_LIST_SERIOUS_VIOLATION, reason="申请提前移出"),
            metadata=metadata("handler"))
        ended = await measures(api, listed.id)
        assert {(m.ends_on, m.ended_because) for m in ended} == {
            ((removal - timedelta(days=1)).isoformat(), "basis_removed")}
        assert len(await measures(api, listed.id, removal - timedelta(days=1))) == 5
        assert not await measures(api, listed.id, removal)
        assert not await raised(api, listed, removal)
        assert (await export(api, removal)).measures == 0
        assert (await export(api, removal - timedelta(days=1))).measures == 5


async def test_staff_record_measures_for_named_bad_faith_conduct_and_a_withdrawal_ends_them(database):
    legal = ScenarioClock(date(2025, 6, 1))
    async with registry_on(database, legal) as (api, _, _, _):
        agency = await new_agency(api)
        filing = await penalty(api, agency.id, kind=pb.CREDIT_EVENT_KIND_ABNORMAL_PATENT_FILING, fine_cny=0,
                               decided_on=date(2025, 5, 1), public_until=date(2026, 5, 1))
        fine = await penalty(api, agency.id)
        request = pb.RecordJointPunishmentRequest(
            idempotency_key=key(), credit_event_id=filing.id, decision_reference="国知办发〔2025〕12号",
            kinds=[pb.JOINT_PUNISHMENT_KIND_PROCUREMENT_RESTRICTION, pb.JOINT_PUNISHMENT_KIND_HIGHER_INSPECTION_RATIO])
        first = (await api.RecordJointPunishment(request, metadata=SUPERVISOR)).measures
        assert [(m.kind, m.basis, m.basis_id, m.starts_on, m.ends_on, m.recorded_by) for m in first] == [
            (kind, pb.JOINT_PUNISHMENT_BASIS_BAD_FAITH_CONDUCT, filing.id, "2025-06-01", "2026-05-01", "supervisor-li")
            for kind in request.kinds]
        assert (await api.RecordJointPunishment(request, metadata=SUPERVISOR)).measures == first
        request.idempotency_key = key()  # asked again: the same measures, none twice
        assert (await api.RecordJointPunishment(request, metadata=SUPERVISOR)).measures == first
        assert len(await measures(api, agency.id)) == 2
        assert await raised(api, agency, date(2025, 6, 1)) and not await raised(api, agency, date(2025, 5, 31))

        error = await refused(api.RecordJointPunishment(pb.RecordJointPunishmentRequest(
            idempotency_key=key(), credit_event_id=fine.id, decision_reference="x",
            kinds=[pb.JOINT_PUNISHMENT_KIND_FUNDING_RESTRICTION]), metadata=SUPERVISOR),
            grpc.StatusCode.FAILED_PRECONDITION)
        assert (error_info(error).reason, dict(error_info(error).metadata)) == (
            "JOINT_PUNISHMENT_NOT_FOR_KIND", {"event_kind": "fine"})
        request.idempotency_key = key()
        await refused(api.RecordJointPunishment(request, metadata=metadata("handler")),
                      grpc.StatusCode.PERMISSION_DENIED)
        await refused(api.RecordJointPunishment(request, metadata=metadata("supervisor", "310000")),
                      grpc.StatusCode.PERMISSION_DENIED)

        await api.WithdrawCreditEvent(pb.WithdrawCreditEventRequest(
            idempotency_key=key(), event_id=filing.id, withdrawn_on="2025-07-01", reason="认定被撤销"),
            metadata=OPERATOR)
        assert {(m.ends_on, m.ended_because) for m in await measures(api, agency.id)} == {("2025-06-30", "withdrawn")}
        assert not await raised(api, agency, date(2025, 7, 1))
        request.idempotency_key = key()
        error = await refused(api.RecordJointPunishment(request, metadata=SUPERVISOR),
                              grpc.StatusCode.FAILED_PRECONDITION)
        assert error_info(error).reason == "CREDIT_EVENT_WITHDRAWN"


async def test_the_list_for_partner_departments_is_signed_and_a_changed_byte_fails(database, tmp_path):
    legal = ScenarioClock(date(2025, 6, 1))
    async with registry_on(database, legal) as (api, _, _, _):
        agency = await new_agency(api)
        filing = await penalty(api, agency.id, kind=pb.CREDIT_EVENT_KIND_FALSE_MATERIAL, fine_cny=0,
                               decided_on=date(2025, 5, 1), public_until=date(2026, 5, 1))
        await api.RecordJointPunishment(pb.RecordJointPunishmentRequest(
            idempotency_key=key(), credit_event_id=filing.id, decision_reference="联合惩戒备忘录",
            kinds=[pb.JOINT_PUNISHMENT_KIND_HONOURS_RESTRICTION]), metadata=SUPERVISOR)
        as_csv, as_json = await export(api, date(2025, 6, 2)), await export(api, date(2025, 6, 2), pb.EXPORT_FORMAT_JSON)
        await refused(api.ExportJointPunishments(pb.ExportJointPunishmentsRequest(format=pb.EXPORT_FORMAT_CSV),
                                                 metadata=metadata("handler")), grpc.StatusCode.PERMISSION_DENIED)

    key_bytes = public_key()
    for answer in (as_csv, as_json):
        assert answer.measures >= 1 and answer.key_id == signing.key_id(key_bytes)
        assert signing.verify(answer.content, answer.signature, key_bytes)
        changed = bytearray(answer.content)
        changed[len(changed) // 2] ^= 0x01
        assert not signing.verify(bytes(changed), answer.signature, key_bytes)
        assert not signing.verify(answer.content, answer.signature, signing.Signer(b"\x01" * 32).public_key)
    rows = [r for r in csv.DictReader(io.StringIO(as_csv.content.decode())) if r["credit_code"] == agency.credit_code]
    assert as_csv.media_type.startswith("text/csv")
    assert rows == [dict(credit_code=agency.credit_code, agency_name=agency.name, region_code="110108",
                         measure="honours_restriction", measure_name="限制参与评优评先、授予荣誉称号",
                         basis="bad_faith_conduct", basis_id=filing.id, starts_on="2025-06-01",
                         ends_on="2026-05-01", decision_reference="联合惩戒备忘录")]
    document = json.loads(as_json.content)
    assert (document["format"], document["on"]) == ("ipss-joint-punishments/1", "2025-06-02")
    assert [m for m in document["measures"] if m["credit_code"] == agency.credit_code] == rows

    # The command a partner department runs: exit 0 for the list as given, 1 for one byte changed.
    listed, signature = tmp_path / "list.csv", tmp_path / "list.sig"
    listed.write_bytes(as_csv.content)
    signature.write_text(signing.encode(as_csv.signature))
    ipss = [str(Path(sys.executable).with_name("ipss")), "joint-punishments", "verify", str(listed), "--signature",
            str(signature), "--public-key", signing.encode(key_bytes)]
    assert subprocess.run(ipss, capture_output=True, text=True).returncode == 0
    listed.write_bytes(as_csv.content.replace(b"2026-05-01", b"2026-05-02"))
    done = subprocess.run(ipss, capture_output=True, text=True)
    assert done.returncode == 1 and "NOT VALID" in done.stdout
