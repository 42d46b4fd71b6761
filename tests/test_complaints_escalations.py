"""The supervisors' inbox of escalations (超期督办), its feed for integrations, and handlers'
notifications (办案提醒) in the complaints service over loopback gRPC, on SQLite and PostgreSQL.
No worker runs: the records are written as the case workflow writes them (RecordCaseProgress),
with the timeline entries it notes when a period of the office reaches its warning day
(due_soon), is missed (deadline_missed), when a supervisor reassigns the case (reassigned) and
when a missed period's duty is done late (overdue_duty_done). The walk through the real workflow
on the time-skipping server is tests/test_case_procedure.py's; the console's, the browser test's."""

from __future__ import annotations

from datetime import date, timedelta

import grpc

from ipss.complaints.v1 import complaints_pb2 as pb
from services.complaints import store
from tests.conftest import metadata
from tests.grpc_checks import error_info, invalid, refused
# api and registry_api are fixtures: imported, they serve this module too.
from tests.test_complaints_cases import inspection
from tests.test_complaints_intake import (MACHINE, OPERATOR, api, day, new_agency, new_county,  # noqa: F401
                                          nothing_stored_changes, registry_api, rows)

Code = grpc.StatusCode
VERIFY = "verify_and_open"
DECIDE = "decide_ordinary_case"


def entry(action: str, actor: str = "system", **data: str) -> pb.TimelineEntry:
    return pb.TimelineEntry(actor=actor, action=action, data=data, internal=True)


def write(case_id: str, region: str, revision: int, *entries: pb.TimelineEntry, stage=pb.CASE_STAGE_VERIFICATION,
          assignee: str = "", deadlines: list[pb.Deadline] = (), overdue: bool = False, due_soon: bool = False,
          next_deadline: str = "") -> pb.RecordCaseProgressRequest:
    """A record write as the case workflow makes it, with these deadlines and new entries."""
    return pb.RecordCaseProgressRequest(
        case_id=case_id, revision=revision, summary=pb.CaseSummary(
            case_id=case_id, stage=stage, status="verifying", region_code=region, assignee=assignee,
            overdue=overdue, due_soon=due_soon, next_deadline=next_deadline,
            next_deadline_period=VERIFY if next_deadline else ""),
        deadlines=list(deadlines), new_entries=list(entries), allowed_actions=["reassign"])


def period(period_id: str, due_on: str, state: str, warn_on: str = "") -> pb.Deadline:
    return pb.Deadline(period_id=period_id, due_on=due_on, warn_on=warn_on or due_on, state=state,
                       legal_source="市场监督管理行政处罚程序规定 第十八条", description=period_id)


async def record(api, request: pb.RecordCaseProgressRequest) -> bool:
    return (await api.RecordCaseProgress(request, metadata=MACHINE)).applied


async def missed(api, case_id: str, region: str, due_on: str, revision: int = 1, assignee: str = "handler-wang",
                 period_id: str = VERIFY) -> None:
    """The workflow found `period_id` missed on the day after `due_on`."""
    found_on = (date.fromisoformat(due_on) + timedelta(days=1)).isoformat()
    await record(api, write(case_id, region, revision, entry("deadline_missed", period_id=period_id, due_on=due_on,
                                                             on=found_on, provisional="False"),
                            assignee=assignee, overdue=True, deadlines=[period(period_id, due_on, "missed")]))


async def inbox(api, caller, **fields) -> pb.ListEscalationsResponse:
    return await api.ListEscalations(pb.ListEscalationsRequest(**fields), metadata=caller)


def supervisor(region: str, name: str = "supervisor-zhao"):
    return metadata("supervisor", region=region, subject=name)


# ---- raised from the record, sorted by how overdue, scoped to the region ---------------------------

async def test_a_missed_period_goes_into_the_inbox_of_its_regions_supervisors(api, registry_api, complaints):
    county = new_county("53")
    agency = await new_agency(registry_api, county)
    older, newer, elsewhere = [await inspection(api, agency, c) for c in (
        pb.VIOLATION_CATEGORY_FALSE_ADVERTISING, pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING,
        pb.VIOLATION_CATEGORY_FALSE_MATERIAL)]
    await record(api, write(newer, county, 1, entry("deadline_missed", period_id=VERIFY, due_on=day(-3),
                                                    on=day(-2), provisional="False"),
                            assignee="handler-wang", overdue=True, deadlines=[period(VERIFY, day(-3), "missed")]))
    # Recorded before entries carried the day they were raised on: the day after the last day.
    await record(api, write(older, county, 1, entry("deadline_missed", period_id=VERIFY, due_on=day(-9),
                                                    provisional="True"),
                            overdue=True, deadlines=[period(VERIFY, day(-9), "missed")]))
    assert not await record(api, write(older, county, 1, entry("deadline_missed", period_id=VERIFY, due_on=day(-9))))

    answer = await inbox(api, supervisor(county))
    assert [(e.case_id, e.period_id, e.due_on, e.missed_on, e.days_overdue, e.state, e.supervisor, e.assignee,
             e.provisional, e.region_code) for e in answer.escalations] == [
        (older, VERIFY, day(-9), day(-8), 9, pb.ESCALATION_STATE_OPEN, "", "", True, county),
        (newer, VERIFY, day(-3), day(-2), 3, pb.ESCALATION_STATE_OPEN, "", "handler-wang", False, county)]
    assert answer.open_count == 2
    assert answer.escalations[0].case.agency_name == agency.name
    assert elsewhere not in [e.case_id for e in answer.escalations]  # nothing missed: nothing raised

    province = county[:2] + "0000"
    assert [e.case_id for e in (await inbox(api, supervisor(province))).escalations if e.case_id in (older, newer)] \
        == [older, newer]
    other = (await inbox(api, supervisor(new_county("54")))).escalations
    assert not {older, newer} & {e.case_id for e in other}
    page = await inbox(api, supervisor(county), page_size=1)
    rest = await inbox(api, supervisor(county), page_size=1, page_token=page.next_page_token)
    assert [e.case_id for e in (*page.escalations, *rest.escalations)] == [older, newer]
    assert not rest.next_page_token


async def test_a_supervisor_takes_an_escalation_out_of_the_pool(api, registry_api, complaints):
    county = new_county("53")
    case_id = await inspection(api, await new_agency(registry_api, county))
    await missed(api, case_id, county, day(-2))
    [waiting] = (await inbox(api, supervisor(county))).escalations
    zhao, qian = supervisor(county, "supervisor-zhao"), supervisor(county, "supervisor-qian")

    taken = (await api.AcknowledgeEscalation(pb.AcknowledgeEscalationRequest(
        escalation_id=waiting.escalation_id), metadata=zhao)).escalation
    assert (taken.state, taken.supervisor, taken.HasField("acknowledged_at")) == (
        pb.ESCALATION_STATE_ACKNOWLEDGED, "supervisor-zhao", True)
    again = (await api.AcknowledgeEscalation(pb.AcknowledgeEscalationRequest(
        escalation_id=waiting.escalation_id), metadata=zhao)).escalation
    assert again.acknowledged_at == taken.acknowledged_at  # taking it twice changes nothing

    assert [e.escalation_id for e in (await inbox(api, zhao)).escalations] == [waiting.escalation_id]
    assert (await inbox(api, zhao)).open_count == 0
    assert (await inbox(api, qian)).escalations == []  # no longer in the pool
    refusal = await refused(api.AcknowledgeEscalation(pb.AcknowledgeEscalationRequest(
        escalation_id=waiting.escalation_id), metadata=qian), Code.FAILED_PRECONDITION)
    info = error_info(refusal)
    assert (info.reason, info.metadata["supervisor"]) == ("ESCALATION_TAKEN", "supervisor-zhao")


async def test_escalation_refusals(api, registry_api, complaints):
    county = new_county("53")
    case_id = await inspection(api, await new_agency(registry_api, county))
    await missed(api, case_id, county, day(-2))
    [escalation] = (await inbox(api, supervisor(county))).escalations
    acknowledge = pb.AcknowledgeEscalationRequest(escalation_id=escalation.escalation_id)
    async with nothing_stored_changes(complaints):
        await invalid(api.AcknowledgeEscalation(pb.AcknowledgeEscalationRequest(), metadata=supervisor(county)),
                      "escalation_id")
        await invalid(api.AcknowledgeEscalation(pb.AcknowledgeEscalationRequest(escalation_id=-1),
                                                metadata=supervisor(county)), "escalation_id")
        error = await refused(api.AcknowledgeEscalation(pb.AcknowledgeEscalationRequest(escalation_id=10 ** 9),
                                                        metadata=supervisor(county)), Code.NOT_FOUND)
        assert error_info(error).reason == "ESCALATION_NOT_FOUND"
        error = await refused(api.AcknowledgeEscalation(acknowledge, metadata=supervisor(new_county("54"))),
                              Code.PERMISSION_DENIED)
        assert error_info(error).reason == "OUTSIDE_REGION_SCOPE"
        for role in ("handler", "operator", "admin", "citizen", "inspector"):
            await refused(api.AcknowledgeEscalation(acknowledge, metadata=metadata(role, region=county)),
                          Code.PERMISSION_DENIED)
            await refused(api.ListEscalations(pb.ListEscalationsRequest(), metadata=metadata(role, region=county)),
                          Code.PERMISSION_DENIED)
        await refused(api.ListEscalations(pb.ListEscalationsRequest()), Code.UNAUTHENTICATED)
        await invalid(api.ListEscalations(pb.ListEscalationsRequest(page_size=501, region_code="99"),
                                          metadata=supervisor(county)), "page_size", "region_code")
        await invalid(api.ListEscalations(pb.ListEscalationsRequest(page_token="not a token"),
                                          metadata=supervisor(county)), "page_token")
        await refused(api.ListEscalations(pb.ListEscalationsRequest(region_code="540000"),
                                          metadata=supervisor(county)), Code.PERMISSION_DENIED)
    # Resolved (the case closed), it is no longer anyone's to take.
    await record(api, write(case_id, county, 2, entry("closed"), stage=pb.CASE_STAGE_CLOSED,
                            deadlines=[period(VERIFY, day(-2), "missed")]))
    error = await refused(api.AcknowledgeEscalation(acknowledge, metadata=supervisor(county)),
                          Code.FAILED_PRECONDITION)
    assert error_info(error).reason == "ESCALATION_RESOLVED"


# ---- resolved by what the record says next ----------------------------------------------------------

async def test_what_the_record_says_next_resolves_the_escalation(api, registry_api, complaints):
    county = new_county("61")
    agency = await new_agency(registry_api, county)
    reassigned, done_late, retimed, closed = [await inspection(api, agency, c) for c in (
        pb.VIOLATION_CATEGORY_FALSE_ADVERTISING, pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING,
        pb.VIOLATION_CATEGORY_FALSE_MATERIAL, pb.VIOLATION_CATEGORY_LOW_PRICE_COMPETITION)]
    for case_id in (reassigned, done_late, retimed, closed):
        await missed(api, case_id, county, day(-2))
    still = [period(VERIFY, day(-2), "missed")]
    await record(api, write(reassigned, county, 2, entry("reassigned", "supervisor-zhao", assignee="handler-li",
                                                         previous_assignee="handler-wang", reason="原承办人休假"),
                            assignee="handler-li", deadlines=still, overdue=True))
    await record(api, write(done_late, county, 2, entry("overdue_duty_done", period_id=VERIFY, due_on=day(-2),
                                                        on=day(0)), entry("opened", "handler-wang", on=day(0)),
                            stage=pb.CASE_STAGE_INVESTIGATION, deadlines=[*still, period(DECIDE, day(90), "running")],
                            overdue=True))
    # The holiday schedule came out: the last day moved past today and the period runs again.
    await record(api, write(retimed, county, 2, entry("deadline_retimed", period_id=VERIFY, before=day(-2),
                                                      after=day(3), years="2027"),
                            deadlines=[period(VERIFY, day(3), "running")]))
    await record(api, write(closed, county, 2, entry("declined", "handler-wang", on=day(0), reason="不属实"),
                            stage=pb.CASE_STAGE_CLOSED, deadlines=still))

    assert (await inbox(api, supervisor(county))).escalations == []
    history = (await inbox(api, supervisor(county), include_resolved=True)).escalations
    assert {e.case_id: (e.state, e.resolution, e.resolved_by, e.days_overdue) for e in history} == {
        reassigned: (pb.ESCALATION_STATE_RESOLVED, pb.ESCALATION_RESOLUTION_REASSIGNED, "supervisor-zhao", 0),
        done_late: (pb.ESCALATION_STATE_RESOLVED, pb.ESCALATION_RESOLUTION_DUTY_DONE, "system", 0),
        retimed: (pb.ESCALATION_STATE_RESOLVED, pb.ESCALATION_RESOLUTION_NO_LONGER_MISSED, "system", 0),
        closed: (pb.ESCALATION_STATE_RESOLVED, pb.ESCALATION_RESOLUTION_CASE_CLOSED, "system", 0)}


async def test_an_escalation_follows_its_case_to_another_office(api, registry_api, complaints):
    county, elsewhere = new_county("62"), new_county("51")
    case_id = await inspection(api, await new_agency(registry_api, county))
    await missed(api, case_id, county, day(-2))
    await record(api, write(case_id, elsewhere, 2, entry("transferred", "handler-wang", on=day(0)),
                            deadlines=[period(VERIFY, day(-2), "missed")], overdue=True))
    assert (await inbox(api, supervisor(county))).escalations == []
    [moved] = (await inbox(api, supervisor(elsewhere))).escalations
    assert (moved.case_id, moved.region_code, moved.state) == (case_id, elsewhere, pb.ESCALATION_STATE_OPEN)


# ---- the feed for integrations ------------------------------------------------------------------------

async def test_the_feed_gives_every_change_in_position_order_within_the_callers_region(api, registry_api,
                                                                                     complaints):
    county = new_county("31")
    case_id = await inspection(api, await new_agency(registry_api, county))
    far = new_county("15")
    other = await inspection(api, await new_agency(registry_api, far))
    reader = metadata("operator", region=county)
    start = (await api.ListEscalationEvents(pb.ListEscalationEventsRequest(), metadata=reader)).last_position

    await missed(api, case_id, county, day(-4))
    await missed(api, other, far, day(-4))
    [escalation] = (await inbox(api, supervisor(county))).escalations
    await api.AcknowledgeEscalation(pb.AcknowledgeEscalationRequest(escalation_id=escalation.escalation_id),
                                    metadata=supervisor(county))
    await record(api, write(case_id, county, 2, entry("reassigned", "supervisor-zhao", assignee="handler-li",
                                                      previous_assignee="handler-wang", reason="改派"),
                            assignee="handler-li", deadlines=[period(VERIFY, day(-4), "missed")], overdue=True))

    feed = await api.ListEscalationEvents(pb.ListEscalationEventsRequest(after_position=start), metadata=reader)
    assert [(e.kind, e.case_id, e.period_id, e.due_on, e.missed_on, e.actor, e.resolution) for e in feed.events] == [
        (pb.ESCALATION_EVENT_KIND_RAISED, case_id, VERIFY, day(-4), day(-3), "system", 0),
        (pb.ESCALATION_EVENT_KIND_ACKNOWLEDGED, case_id, VERIFY, day(-4), day(-3), "supervisor-zhao", 0),
        (pb.ESCALATION_EVENT_KIND_RESOLVED, case_id, VERIFY, day(-4), day(-3), "supervisor-zhao",
         pb.ESCALATION_RESOLUTION_REASSIGNED)]
    positions = [e.position for e in feed.events]
    assert positions == sorted(positions) and positions[0] > start and feed.last_position == positions[-1]
    resumed = await api.ListEscalationEvents(pb.ListEscalationEventsRequest(after_position=positions[0], page_size=1),
                                             metadata=reader)
    assert [e.position for e in resumed.events] == positions[1:2] and resumed.last_position == positions[1]
    after_all = await api.ListEscalationEvents(pb.ListEscalationEventsRequest(after_position=feed.last_position),
                                               metadata=reader)
    assert (list(after_all.events), after_all.last_position) == ([], feed.last_position)
    # A supervisor reads the feed of their scope too.
    assert [e.case_id for e in (await api.ListEscalationEvents(pb.ListEscalationEventsRequest(
        after_position=start), metadata=supervisor(county))).events] == [case_id] * 3


async def test_feed_refusals(api, complaints):
    await invalid(api.ListEscalationEvents(pb.ListEscalationEventsRequest(after_position=-1, page_size=501),
                                           metadata=OPERATOR), "after_position", "page_size")
    for role in ("handler", "admin", "citizen", "inspector", "association"):
        await refused(api.ListEscalationEvents(pb.ListEscalationEventsRequest(), metadata=metadata(role)),
                      Code.PERMISSION_DENIED)


# ---- handlers' notifications --------------------------------------------------------------------------

async def test_the_warning_reaches_the_assigned_handler_and_a_reassignment_the_new_one(api, registry_api,
                                                                                      complaints):
    county = new_county("21")
    agency = await new_agency(registry_api, county)
    assigned, unassigned = await inspection(api, agency), await inspection(
        api, agency, pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING)
    wang, li = (metadata("handler", region=county, subject=name) for name in ("handler-wang", "handler-li"))
    for case_id, assignee in ((assigned, "handler-wang"), (unassigned, "")):
        await record(api, write(case_id, county, 1, entry("due_soon", period_id=VERIFY, due_on=day(3),
                                                          warn_on=day(0), on=day(0), provisional="False"),
                                assignee=assignee, due_soon=True, next_deadline=day(3),
                                deadlines=[period(VERIFY, day(3), "running", warn_on=day(0))]))

    mine = await api.ListNotifications(pb.ListNotificationsRequest(), metadata=wang)
    assert [(n.kind, n.case_id, n.period_id, n.due_on, n.warn_on, n.actor, n.HasField("read_at"))
            for n in mine.notifications] == [(pb.NOTIFICATION_KIND_DUE_SOON, assigned, VERIFY, day(3), day(0),
                                              "system", False)]
    assert mine.unread_count == 1 and mine.notifications[0].case.due_soon
    # Nobody was assigned the other: no one is told, and the region's queue shows it due soon, first.
    assert unassigned not in [n.case_id for n in (await api.ListNotifications(
        pb.ListNotificationsRequest(), metadata=li)).notifications]
    queue = await api.ListCases(pb.ListCasesRequest(region_code=county), metadata=li)
    assert {c.case_id for c in queue.cases[:2]} == {assigned, unassigned} and all(c.due_soon for c in queue.cases)

    await record(api, write(assigned, county, 2, entry("reassigned", "supervisor-zhao", assignee="handler-li",
                                                       previous_assignee="handler-wang", reason="原承办人休假"),
                            assignee="handler-li", due_soon=True, next_deadline=day(3),
                            deadlines=[period(VERIFY, day(3), "running", warn_on=day(0))]))
    [told] = (await api.ListNotifications(pb.ListNotificationsRequest(), metadata=li)).notifications
    assert (told.kind, told.case_id, told.actor, told.period_id, told.due_on, told.case.assignee) == (
        pb.NOTIFICATION_KIND_REASSIGNED, assigned, "supervisor-zhao", VERIFY, day(3), "handler-li")

    read = (await api.MarkNotificationRead(pb.MarkNotificationReadRequest(
        notification_id=mine.notifications[0].notification_id), metadata=wang)).notification
    assert read.HasField("read_at")
    again = (await api.MarkNotificationRead(pb.MarkNotificationReadRequest(
        notification_id=read.notification_id), metadata=wang)).notification
    assert again.read_at == read.read_at
    assert (await api.ListNotifications(pb.ListNotificationsRequest(unread_only=True), metadata=wang)) \
        .notifications == []
    assert (await api.ListNotifications(pb.ListNotificationsRequest(), metadata=wang)).unread_count == 0
    assert await rows(complaints, store.Notification, store.Notification.case_id == unassigned) == []


async def test_notification_refusals(api, registry_api, complaints):
    county = new_county("22")
    case_id = await inspection(api, await new_agency(registry_api, county))
    await record(api, write(case_id, county, 1, entry("due_soon", period_id=VERIFY, due_on=day(3), warn_on=day(0),
                                                      on=day(0), provisional="False"), assignee="handler-wang",
                            deadlines=[period(VERIFY, day(3), "running")]))
    [notice] = (await api.ListNotifications(pb.ListNotificationsRequest(), metadata=metadata(
        "handler", region=county, subject="handler-wang"))).notifications
    read = pb.MarkNotificationReadRequest(notification_id=notice.notification_id)
    async with nothing_stored_changes(complaints):
        for someone in (metadata("handler", region=county, subject="handler-li"),  # another's: not found
                        metadata("handler", region=new_county("23"), subject="handler-wang")):  # out of scope
            error = await refused(api.MarkNotificationRead(read, metadata=someone), Code.NOT_FOUND)
            assert error_info(error).reason == "NOTIFICATION_NOT_FOUND"
        await invalid(api.MarkNotificationRead(pb.MarkNotificationReadRequest(), metadata=metadata("handler")),
                      "notification_id")
        await invalid(api.ListNotifications(pb.ListNotificationsRequest(page_size=0, page_token="x"),
                                            metadata=metadata("handler")), "page_token")
        for role in ("operator", "admin", "citizen", "inspector"):
            await refused(api.ListNotifications(pb.ListNotificationsRequest(), metadata=metadata(role)),
                          Code.PERMISSION_DENIED)
            await refused(api.MarkNotificationRead(read, metadata=metadata(role)), Code.PERMISSION_DENIED)


# ---- the queue: what is due first -----------------------------------------------------------------------

async def test_the_queue_puts_overdue_then_due_soon_first_whatever_their_next_deadline(api, registry_api,
                                                                                      complaints):
    county = new_county("23")
    agency = await new_agency(registry_api, county)
    nearest, soon, late = [await inspection(api, agency, c) for c in (
        pb.VIOLATION_CATEGORY_FALSE_ADVERTISING, pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING,
        pb.VIOLATION_CATEGORY_FALSE_MATERIAL)]
    await record(api, write(nearest, county, 1, next_deadline=day(2), deadlines=[period(VERIFY, day(2), "running")]))
    await record(api, write(soon, county, 1, next_deadline=day(8), due_soon=True,
                            deadlines=[period(VERIFY, day(8), "running", warn_on=day(-1))]))
    # Missed verification, opened late: its next deadline is far, its missed period puts it first.
    await record(api, write(late, county, 1, stage=pb.CASE_STAGE_INVESTIGATION, next_deadline=day(80), overdue=True,
                            deadlines=[period(VERIFY, day(-5), "missed"), period(DECIDE, day(80), "running")]))
    answer = await api.ListCases(pb.ListCasesRequest(region_code=county), metadata=metadata("handler"))
    assert [(c.case_id, c.overdue, c.due_soon, c.next_deadline) for c in answer.cases] == [
        (late, True, False, day(80)), (soon, False, True, day(8)), (nearest, False, False, day(2))]
    first = await api.ListCases(pb.ListCasesRequest(region_code=county, page_size=1), metadata=metadata("handler"))
    second = await api.ListCases(pb.ListCasesRequest(region_code=county, page_size=2,
                                                     page_token=first.next_page_token), metadata=metadata("handler"))
    assert [c.case_id for c in (*first.cases, *second.cases)] == [late, soon, nearest]
