"""The console's pages through its ASGI app (httpx, no browser) against the real registry and
complaints services over loopback gRPC, on both databases: sign-in and the language switch, the
queue's order and marks, the case page (deadlines with their legal sources, reporters only where
the service gives them, the actions of the visitor's role), provisional (暂定) dates marked with
why on the queue, the case page and the reporter's page, refusals shown from the gRPC status
details and worded by their reasons (never by the services' English), the portal's validation
and filing, the public register and statistics with the CSV export. No worker runs: case records
are written as the workflow writes them (RecordCaseProgress); the walk through a real workflow
is the browser test's. Province 63 is this module's own."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import grpc
import httpx
import pytest

from console.app import build
from console.settings import Settings
from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.registry.v1 import registry_pb2 as rpb
from suite import auth, clock, testdata
from tests.conftest import metadata as metadata_of
from tests.grpc_checks import field_reasons, refused
from tests.test_complaints_intake import CITIZEN
# api and registry_api are fixtures: imported, they serve this module too.
from tests.test_complaints_intake import (MACHINE, OPERATOR, api, day, file, key, new_agency, new_county,  # noqa: F401
                                          real_name, registry_api, report, uid)
from tests.test_complaints_statistics import inspection
from contracts.case_actions import CASE_ACTIONS

PROVINCE = "63"
VERIFY_SOURCE = "市场监督管理行政处罚程序规定 第十八条"
STATEMENT_SOURCE = "中华人民共和国行政处罚法 第四十五条"
NEXT_YEAR = clock.today().year + 1


@pytest.fixture
async def console(registry, complaints):
    settings = Settings(registry.address, complaints.address, dev_signin=True)
    app = build(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client
    await app.state.backend.close()


async def sign_in(client: httpx.AsyncClient, role: str, region: str = "000000", subject: str = "") -> None:
    """With the development picker for its roles, by pasting a token for the others."""
    subject = subject or f"{role}-{uid()}"
    if role in ("handler", "supervisor", "citizen"):
        answer = await client.post("/signin/dev", data=dict(role=role, region=region, subject=subject))
    else:
        token = auth.mint(role, subject, region=region)
        answer = await client.post("/signin", data=dict(token=token))
    assert answer.status_code == 303, answer.text


async def record(api, case_id: str, region: str, revision: int, stage=pb.CASE_STAGE_VERIFICATION,
                 next_deadline: str = "", due_soon: bool = False, actions=("assign", "open", "decline"),
                 deadlines=None, provisional: bool = False) -> None:
    deadlines = deadlines if deadlines is not None else [pb.Deadline(
        period_id="verify_and_open", due_on=next_deadline or day(20), warn_on=day(12), state="running",
        legal_source=VERIFY_SOURCE, description="核查并决定是否立案")]
    await api.RecordCaseProgress(pb.RecordCaseProgressRequest(
        case_id=case_id, revision=revision, summary=pb.CaseSummary(
            case_id=case_id, stage=stage, status="verifying", region_code=region, next_deadline=next_deadline,
            next_deadline_period="verify_and_open" if next_deadline else "", due_soon=due_soon,
            next_deadline_provisional=provisional),
        deadlines=deadlines, allowed_actions=list(actions), new_entries=[pb.TimelineEntry(
            actor="handler-wang", action="verification_recorded", detail="已调取网页截图", internal=True)]),
        metadata=MACHINE)


def hidden(html: str, name: str, form_action: str = "") -> str:
    """A hidden field's value (of the form posting to `form_action`, when given)."""
    if form_action:
        html = html[html.index(f'action="{form_action}"'):]
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


# ---- sign-in, roles and the language ---------------------------------------------------------------

async def test_officer_pages_need_an_officer_and_the_language_switches(console):
    answer = await console.get("/cases")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
    await sign_in(console, "citizen")
    assert (await console.get("/cases")).status_code == 403
    refused = await console.post("/signin", data=dict(token="not-a-token"))
    assert refused.status_code == 400 and "令牌无效" in refused.text
    good = auth.mint("handler", "handler-zhou", region="630000")
    answer = await console.post("/signin", data=dict(token=f"Bearer {good}", next="https://elsewhere.example/"))
    assert answer.headers["location"] == "/cases"  # never off the site
    page = await console.get("/cases")
    assert page.status_code == 200 and "handler-zhou" in page.text and 'lang="zh-CN"' in page.text
    await console.get("/lang/en?next=/cases")
    page = await console.get("/cases")
    assert 'lang="en"' in page.text and "Case console" in page.text and "办案控制台" not in page.text


# ---- the queue and the case page -------------------------------------------------------------------

async def test_the_queue_puts_the_nearest_deadline_first_and_marks_it(console, api, registry_api):
    county = new_county(PROVINCE)
    agency = await new_agency(registry_api, county)
    later, overdue, soon = [await inspection(api, agency, c) for c in (
        pb.VIOLATION_CATEGORY_FALSE_ADVERTISING, pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING,
        pb.VIOLATION_CATEGORY_FALSE_MATERIAL)]
    await record(api, later, county, 1, next_deadline=day(12))
    await record(api, overdue, county, 1, next_deadline=day(-1))
    await record(api, soon, county, 1, stage=pb.CASE_STAGE_INVESTIGATION, next_deadline=day(2), due_soon=True)
    await sign_in(console, "handler", county)
    page = (await console.get("/cases")).text
    rows = re.findall(r'<tr class="([^"]*)">\s*<td><a href="/cases/([^"]+)"', page)
    assert rows == [("overdue", overdue), ("due-soon", soon), ("", later)]
    assert "已超期" in page and "临近期限" in page
    filtered = (await console.get("/cases", params=dict(stage="investigation"))).text
    assert soon in filtered and later not in filtered and overdue not in filtered
    assert later not in (await console.get("/cases", params=dict(view="mine"))).text  # assigned to nobody
    refused = await console.get("/cases", params=dict(region="110000"))
    assert refused.status_code == 400 and "无权" in refused.text


async def test_the_case_page_shows_deadlines_reporters_and_the_roles_actions(console, api, registry_api):
    county = new_county(PROVINCE)
    agency = await new_agency(registry_api, county)
    reporter = real_name(name="李举报")
    filed = await file(api, report(agency, reporter))
    await record(api, filed.case_id, county, 1, actions=("assign", "open", "decline", "approve_extension"))
    await sign_in(console, "handler", county)
    page = (await console.get(f"/cases/{filed.case_id}")).text
    assert VERIFY_SOURCE in page and "verify_and_open" in page and "已调取网页截图" in page
    assert "李举报" in page and reporter.phone in page
    assert "action-open" in page and "action-decline" in page and "action-approve_extension" not in page
    assert f"http://127.0.0.1:8233/namespaces/default/workflows/{filed.case_id}" in page
    await sign_in(console, "supervisor", county)
    assert "action-approve_extension" in (await console.get(f"/cases/{filed.case_id}")).text
    await sign_in(console, "operator", county)
    page = (await console.get(f"/cases/{filed.case_id}")).text
    assert "李举报" not in page and reporter.phone not in page and "仅向承办本案" in page
    assert "action-open" not in page  # the procedure keeps actions from operators
    missing = await console.get("/cases/case-2026-630000-999999")
    assert missing.status_code == 404


async def test_every_action_the_workflow_allows_has_its_form_in_both_languages(console, api, registry_api):
    county = new_county(PROVINCE)
    case_id = await inspection(api, await new_agency(registry_api, county))
    await record(api, case_id, county, 1, actions=sorted(CASE_ACTIONS))
    await sign_in(console, "supervisor", county)
    for lang, heading in (("zh", "当前可执行的操作"), ("en", "Actions allowed now")):
        await console.get(f"/lang/{lang}")
        page = await console.get(f"/cases/{case_id}")
        assert page.status_code == 200 and heading in page.text
        offered = set(re.findall(r'<details class="action" id="action-([a-z_]+)"', page.text))
        # Every action but the association's answer to a referral, given over the linkage endpoint.
        assert offered == set(CASE_ACTIONS) - {"answer_referral"}
        assert (await console.get("/statistics", params=dict(region=county))).status_code == 200


async def test_the_case_page_says_who_the_case_is_about_and_where_it_went(console, api, registry_api):
    """A subject not in the registry is marked so (and its matching offered), a merged case names
    the case it went into, a transferred one the office that sent it."""
    county = new_county(PROVINCE)
    filed = await file(api, pb.FileReportRequest(
        idempotency_key=key(), source=pb.REPORT_SOURCE_PUBLIC, reporter=real_name(),
        entity=pb.ReportedEntity(name=f"无照代理公司{uid()}", region_code=county, address="西宁市某路3号"),
        category=pb.VIOLATION_CATEGORY_UNLICENSED_PRACTICE, description="无资质从事专利代理业务，收费后失联。"))
    await record(api, filed.case_id, county, 1, actions=("assign", "open", "decline", "match_subject"))
    await sign_in(console, "handler", county)
    page = (await console.get(f"/cases/{filed.case_id}")).text
    assert "未登记主体" in page and 'id="not-in-registry"' in page and "西宁市某路3号" in page
    assert "action-match_subject" in page and "登记机构的统一社会信用代码" in page
    assert 'id="merged-into"' not in page and 'id="transferred-from"' not in page

    agency = await new_agency(registry_api, county)
    kept, merged = await inspection(api, agency), await inspection(api, agency, pb.VIOLATION_CATEGORY_FALSE_MATERIAL)
    await api.RecordCaseProgress(pb.RecordCaseProgressRequest(case_id=merged, revision=1, summary=pb.CaseSummary(
        case_id=merged, stage=pb.CASE_STAGE_CLOSED, status="merged", outcome=pb.CASE_OUTCOME_MERGED,
        region_code=county, merged_into_case_id=kept, subject_kind=pb.SUBJECT_KIND_AGENCY, agency_id=agency.id,
        agency_name=agency.name, agency_credit_code=agency.credit_code, agency_kind="patent")), metadata=MACHINE)
    page = (await console.get(f"/cases/{merged}")).text
    assert f'<a href="/cases/{kept}">{kept}</a>' in page and "并案" in page and 'id="not-in-registry"' not in page
    await api.RecordCaseProgress(pb.RecordCaseProgressRequest(case_id=kept, revision=1, summary=pb.CaseSummary(
        case_id=kept, stage=pb.CASE_STAGE_AWAITING_ACCEPTANCE, status="awaiting_acceptance", region_code=county,
        transferred_from_region_code="110108"), allowed_actions=["accept_transfer", "return_transfer"]),
        metadata=MACHINE)
    page = (await console.get(f"/cases/{kept}")).text
    assert 'id="transferred-from"' in page and "110108" in page and "移送待接收" in page
    assert "action-accept_transfer" in page and "action-return_transfer" in page
    queue = (await console.get("/cases", params=dict(region=county, stage="awaiting_acceptance"))).text
    assert kept in queue and merged not in queue


async def test_refusals_are_shown_from_the_status_details(console, api, registry_api):
    county = new_county(PROVINCE)
    case_id = await inspection(api, await new_agency(registry_api, county))
    await record(api, case_id, county, 1)
    await sign_in(console, "handler", county)
    page = (await console.get(f"/cases/{case_id}")).text
    path = f"/cases/{case_id}/actions/decline"
    form = dict(csrf=hidden(page, "csrf", path), idempotency_key=hidden(page, "idempotency_key", path))
    answer = await console.post(path, data=dict(form, reason=""))
    assert answer.status_code == 400
    assert 'id="a-decline-reason-error">必填' in answer.text  # BadRequest on `reason`, at its field
    answer = await console.post(path, data=dict(form, csrf="forged", reason="不属实"))
    assert answer.status_code == 403 and "表单已过期" in answer.text
    answer = await console.post(f"/cases/{case_id}/actions/propose_penalty", data=dict(
        form, reason="x", **{"penalty.kind": "3", "penalty.fine_cny": "五万"}))
    assert answer.status_code == 400 and "请填写整数" in answer.text
    # No worker runs: the workflow cannot answer, and the page says to retry with the same form.
    path = f"/cases/{case_id}/actions/open"
    answer = await console.post(path, data=dict(csrf=form["csrf"], idempotency_key=hidden(page, "idempotency_key",
                                                                                          path)))
    assert answer.status_code == 503 and "不会重复提交" in answer.text


# ---- escalations (超期督办) and notifications (办案提醒) ------------------------------------------------

async def missed_and_warned(api, case_id: str, region: str, revision: int, *entries: pb.TimelineEntry,
                            assignee: str = "handler-wang") -> None:
    """A record write with the entries the workflow notes on a warning day or the day after a
    missed last day."""
    await api.RecordCaseProgress(pb.RecordCaseProgressRequest(
        case_id=case_id, revision=revision, summary=pb.CaseSummary(
            case_id=case_id, stage=pb.CASE_STAGE_VERIFICATION, status="verifying", region_code=region,
            assignee=assignee, overdue=any(e.action == "deadline_missed" for e in entries),
            due_soon=any(e.action == "due_soon" for e in entries)),
        deadlines=[pb.Deadline(period_id="verify_and_open", due_on=day(-2), warn_on=day(-5), legal_source=VERIFY_SOURCE,
                               description="核查并决定是否立案", state="missed")],
        new_entries=list(entries), allowed_actions=["assign", "reassign", "open", "decline"]), metadata=MACHINE)


async def test_the_supervisors_inbox_counts_escalations_and_takes_one(console, api, registry_api):
    county = new_county(PROVINCE)
    agency = await new_agency(registry_api, county)
    case_id = await inspection(api, agency)
    await missed_and_warned(api, case_id, county, 1, pb.TimelineEntry(
        actor="system", action="deadline_missed", internal=True,
        data=dict(period_id="verify_and_open", due_on=day(-2), on=day(-1), provisional="False")))
    await sign_in(console, "supervisor", county, subject="supervisor-zhao")
    assert re.search(r'id="inbox-count">1<span class="visually-hidden"> 项超期待督办', (await console.get("/cases")).text)
    page = (await console.get("/inbox")).text
    row = row_of(page, '<tr class="overdue" id="escalation-')
    assert case_id in row and agency.name in row and "核查立案期限" in row and day(-2) in row
    assert f"{day(-1)} 列入督办" in row and "2 天" in row and "handler-wang" in row and "由我督办" in row
    escalation_id = re.search(r'id="escalation-(\d+)"', row).group(1)

    # A refused reassignment is shown at its row, the input kept (no worker is needed to refuse it).
    reassign = f"/inbox/escalations/{escalation_id}/reassign/{case_id}"
    form = dict(csrf=hidden(page, "csrf", reassign), idempotency_key=hidden(page, "idempotency_key", reassign))
    answer = await console.post(reassign, data=dict(form, assignee="handler-li", reason=""))
    assert answer.status_code == 400
    row = row_of(answer.text, f'<tr class="overdue" id="escalation-{escalation_id}"')
    assert f'id="a-reassign-{escalation_id}-reason-error">必填' in row and 'value="handler-li"' in row

    acknowledge = f"/inbox/escalations/{escalation_id}/acknowledge"
    answer = await console.post(acknowledge, data=dict(csrf=form["csrf"]))
    assert answer.status_code == 303 and answer.headers["location"] == "/inbox?done=acknowledge"
    page = (await console.get("/inbox?done=acknowledge")).text
    assert "已由您督办。" in page and "supervisor-zhao 督办中" in page and 'id="inbox-count"' not in page

    await sign_in(console, "supervisor", county, subject="supervisor-qian")
    assert case_id not in (await console.get("/inbox")).text  # taken: out of the region's pool
    answer = await console.post(acknowledge, data=dict(csrf=hidden((await console.get(f"/cases/{case_id}")).text,
                                                                    "csrf")))
    assert answer.status_code == 409 and "该督办事项已由 supervisor-zhao 督办" in answer.text
    await console.get("/lang/en")
    page = (await console.get("/inbox")).text
    assert "Escalations and approvals" in page and "No missed deadlines to follow up." in page

    await sign_in(console, "handler", county)
    page = (await console.get("/cases")).text
    assert 'href="/inbox"' not in page and 'href="/notifications"' in page
    assert (await console.post(acknowledge, data=dict(csrf="x"))).status_code == 403


async def test_a_handler_reads_the_warning_of_a_case_assigned_to_them(console, api, registry_api):
    county = new_county(PROVINCE)
    case_id = await inspection(api, await new_agency(registry_api, county))
    await missed_and_warned(api, case_id, county, 1, pb.TimelineEntry(
        actor="system", action="due_soon", internal=True,
        data=dict(period_id="verify_and_open", due_on=day(3), warn_on=day(0), on=day(0), provisional="False")))
    await sign_in(console, "handler", county, subject="handler-wang")
    page = (await console.get("/cases")).text
    assert re.search(r'id="notifications-count">1<span class="visually-hidden"> 条未读', page)
    page = (await console.get("/notifications")).text
    row = row_of(page, '<tr class="unread')
    assert f"“核查立案期限”将于 {day(3)} 届满（{day(0)} 起预警）" in row and case_id in row
    notification_id = re.search(r'id="notification-(\d+)"', row).group(1)
    answer = await console.post(f"/notifications/{notification_id}/read", data=dict(csrf=hidden(page, "csrf")))
    assert answer.status_code == 303
    page = (await console.get("/notifications")).text
    assert '<tr class="unread' not in page and "标为已读" not in page and 'id="notifications-count"' not in page
    await sign_in(console, "handler", county, subject="handler-li")
    assert "没有提醒。" in (await console.get("/notifications")).text  # another handler's are not shown
    await sign_in(console, "operator", county)
    assert (await console.get("/notifications")).status_code == 403


# ---- provisional dates (暂定) ------------------------------------------------------------------------

def provisional_badge(year: str, why: str = "{year}年放假安排尚未发布：按法定节假日暂定计算，发布后自动调整",
                      mark: str = "暂定") -> str:
    return f'<span class="badge provisional" title="{why.format(year=year)}">{mark}</span>'


def row_of(html: str, start: str) -> str:
    """The table row that begins with `start`, up to its end."""
    row = html[html.index(start):]
    return row[:row.index("</tr>")]


async def test_a_provisional_date_is_marked_with_why_and_a_final_one_is_not(console, api, registry_api):
    county = new_county(PROVINCE)
    agency = await new_agency(registry_api, county)
    provisional, final = [await inspection(api, agency, c) for c in (
        pb.VIOLATION_CATEGORY_FALSE_ADVERTISING, pb.VIOLATION_CATEGORY_CERTIFICATE_LENDING)]
    due = f"{NEXT_YEAR}-01-04"
    await record(api, provisional, county, 1, next_deadline=due, provisional=True, deadlines=[
        pb.Deadline(period_id="verify_and_open", due_on=due, state="running", legal_source=VERIFY_SOURCE,
                    provisional=True),
        pb.Deadline(period_id="statement_and_defence", due_on=day(-1), state="running",
                    legal_source=STATEMENT_SOURCE, provisional=True, awaiting_schedule=True)])
    await record(api, final, county, 1, next_deadline=day(30))
    await sign_in(console, "handler", county)

    queue = (await console.get("/cases")).text
    assert provisional_badge(str(NEXT_YEAR)) in row_of(queue, f'<td><a href="/cases/{provisional}"')
    assert "暂定" not in row_of(queue, f'<td><a href="/cases/{final}"')

    page = (await console.get(f"/cases/{provisional}")).text
    head = page[page.index('<p class="case-head">'):]
    assert provisional_badge(str(NEXT_YEAR)) in head[:head.index("</p>")]
    opening = row_of(page, '<tr class="deadline-running">\n      <td><strong>verify_and_open')
    assert provisional_badge(str(NEXT_YEAR)) in opening and "期限届满与否" not in opening
    statement = row_of(page, '<tr class="deadline-running">\n      <td><strong>statement_and_defence')
    assert provisional_badge(day(-1)[:4]) in statement
    assert '<span class="awaiting-schedule">期限届满与否待放假安排发布后确定</span>' in statement
    assert "暂定" not in (await console.get(f"/cases/{final}")).text

    await console.get("/lang/en")
    page = (await console.get(f"/cases/{provisional}")).text
    assert provisional_badge(str(NEXT_YEAR), "The {year} holiday schedule is not published yet: counted on the "
                             "statutory holidays alone, adjusted automatically once it is", "provisional") in page
    assert "Whether the period has run out is settled once the holiday schedule is published" in page


async def test_the_timeline_and_the_reporters_page_are_worded_from_codes_and_data(console, api, registry_api):
    county = new_county(PROVINCE)
    filed = await file(api, report(await new_agency(registry_api, county), real_name()))
    await record(api, filed.case_id, county, 1)  # its entry recorded in words, before entries had data
    moved = dict(period_id="verify_and_open", before=f"{NEXT_YEAR}-02-05", after=f"{NEXT_YEAR}-02-08",
                 years=str(NEXT_YEAR))
    await api.RecordCaseProgress(pb.RecordCaseProgressRequest(
        case_id=filed.case_id, revision=2, summary=pb.CaseSummary(
            case_id=filed.case_id, stage=pb.CASE_STAGE_INVESTIGATION, status="opened", region_code=county),
        new_entries=[pb.TimelineEntry(actor="system", action="deadline_retimed", data=moved, internal=True),
                     pb.TimelineEntry(actor="handler-wang", action="opened", data=dict(on=day(0)), internal=False)]),
        metadata=MACHINE)
    await sign_in(console, "handler", county)
    page = (await console.get(f"/cases/{filed.case_id}")).text
    assert "已调取网页截图" in page and f"{day(0)} 立案调查" in page
    assert (f"“核查立案期限”截止日期由 {NEXT_YEAR}-02-05 调整为 {NEXT_YEAR}-02-08"
            f"（{NEXT_YEAR}年放假安排已发布）") in page
    await console.get("/lang/en")
    page = (await console.get(f"/cases/{filed.case_id}")).text
    assert f"{day(0)} case opened" in page and "已调取网页截图" in page  # an old entry as it was recorded
    assert (f"“verification period” moved from {NEXT_YEAR}-02-05 to {NEXT_YEAR}-02-08 "
            f"(the {NEXT_YEAR} holiday schedule is published)") in page

    track = dict(tracking_code=filed.tracking_code, tracking_secret=filed.tracking_secret)
    page = (await console.post("/portal/track", data=track)).text
    assert f"{day(0)} case opened" in page and "moved from" not in page and "已调取网页截图" not in page
    await console.get("/lang/zh")
    page = (await console.post("/portal/track", data=track)).text
    assert f"{day(0)} 立案调查" in page and "截止日期由" not in page

    # A handler's typed reason is on the case page, never on the reporter's (issue 15 item 3).
    await api.RecordCaseProgress(pb.RecordCaseProgressRequest(
        case_id=filed.case_id, revision=3, summary=pb.CaseSummary(
            case_id=filed.case_id, stage=pb.CASE_STAGE_CLOSED, status="not_opened", region_code=county),
        new_entries=[pb.TimelineEntry(actor="handler-wang", action="declined", internal=False,
                                      data=dict(on=day(0), reason="线索来自同行举报人张某某"))]), metadata=MACHINE)
    await api.NotifyReporters(pb.NotifyReportersRequest(
        case_id=filed.case_id, notice_key="opening-decision", code="declined", real_name_only=True,
        data=dict(reason="线索来自同行举报人张某某")), metadata=MACHINE)
    assert f"{day(0)} 不予立案：线索来自同行举报人张某某" in (await console.get(f"/cases/{filed.case_id}")).text
    page = (await console.post("/portal/track", data=track)).text
    assert f"{day(0)} 不予立案" in page and "您举报的问题经核查不予立案" in page and "张某某" not in page
    await console.get("/lang/en")
    page = (await console.post("/portal/track", data=track)).text
    assert f"{day(0)} not opened" in page and "after verification" in page and "张某某" not in page


async def test_the_reporters_page_marks_a_provisional_next_deadline_and_says_why(console, api, registry_api):
    county = new_county(PROVINCE)
    filed = await file(api, report(await new_agency(registry_api, county), real_name()))
    due = f"{NEXT_YEAR}-02-22"
    track = dict(tracking_code=filed.tracking_code, tracking_secret=filed.tracking_secret)
    await record(api, filed.case_id, county, 1, next_deadline=due, provisional=True)
    page = (await console.post("/portal/track", data=track)).text
    assert due in page and provisional_badge(str(NEXT_YEAR)) in page
    assert f'id="next-deadline-note">暂定：{NEXT_YEAR}年放假安排尚未发布，日期可能调整<' in page

    await record(api, filed.case_id, county, 2, next_deadline=due)
    page = (await console.post("/portal/track", data=track)).text
    assert due in page and "暂定" not in page and "next-deadline-note" not in page


# ---- the portal --------------------------------------------------------------------------------------

async def portal_errors(console, form: dict) -> dict[str, str]:
    answer = await console.post("/portal", data=form)
    assert answer.status_code == 400 and 'id="error-summary"' in answer.text
    return dict(re.findall(r'id="p-([a-z_]+)-error">([^<]+)<', answer.text))


async def test_the_portal_explains_what_to_correct_and_files_once(console, registry_api):
    agency = await new_agency(registry_api, new_county(PROVINCE))
    form = dict(idempotency_key=key(), agency="没有这家机构", category="false_advertising", description="太短",
                identity="real_name", name="王五")
    answer = await console.post("/portal", data=form)
    assert answer.status_code == 400 and "请确认已阅读个人信息保护说明" in answer.text
    # The service checks the field rules, then the reporter, then the agency: each answer names its fields.
    errors = await portal_errors(console, dict(form, privacy="1"))
    assert errors["description"].startswith("至少 10 个字符")
    form.update(description="该机构在宣传中承诺专利百分之百授权。", privacy="1")
    errors = await portal_errors(console, form)
    assert errors == {"phone": "实名举报须填写电话或身份证号码之一", "resident_id": "实名举报须填写电话或身份证号码之一"}
    errors = await portal_errors(console, dict(form, phone="12345"))
    assert errors == {"phone": "电话号码格式不正确（手机 11 位，或区号-号码）"}
    errors = await portal_errors(console, dict(form, phone="13912345678"))
    assert errors.keys() == {"agency"} and "登记名录中没有该机构" in errors["agency"]

    form.update(agency=agency.credit_code, identity="anonymous")
    files = [("attachments", ("截图说明.txt", "网页截图的文字说明".encode(), "text/plain"))]
    filed = await console.post("/portal", data=form, files=files)
    assert filed.status_code == 200 and filed.headers["cache-control"] == "no-store"
    code = re.search(r'id="tracking-code">([^<]+)<', filed.text).group(1)
    secret = re.search(r'id="tracking-secret">([^<]+)<', filed.text).group(1)
    again = await console.post("/portal", data=form, files=files)  # the same form twice files once
    assert re.search(r'id="tracking-code">([^<]+)<', again.text).group(1) == code

    wrong = await console.post("/portal/track", data=dict(tracking_code=code, tracking_secret="AAAA-BBBB-CCCC-DDDD"))
    assert wrong.status_code == 400 and "查询码与密码不匹配" in wrong.text
    status = await console.post("/portal/track", data=dict(tracking_code=code.lower(), tracking_secret=secret))
    assert status.status_code == 200 and "核查中" in status.text and agency.name in status.text


async def test_the_portal_takes_a_report_on_an_entity_or_a_person_not_in_the_register(console, api):
    county = new_county(PROVINCE)
    form = dict(idempotency_key=key(), subject="practitioner", agency="钱某某", category="certificate_lending",
                description="该人员将专利代理师资格证书出借给他人挂证。", identity="anonymous", privacy="1")
    errors = await portal_errors(console, form)
    assert errors.keys() == {"subject_region"} and "请填写其所在地区代码" in errors["subject_region"]
    name = f"无照代理工作室{uid()}"
    filed = await console.post("/portal", data=dict(form, subject="entity", agency=name, subject_region=county,
                                                    subject_address="西宁市某路5号", category="unlicensed_practice"))
    assert filed.status_code == 200
    code = re.search(r'id="tracking-code">([^<]+)<', filed.text).group(1)
    secret = re.search(r'id="tracking-secret">([^<]+)<', filed.text).group(1)
    status = await console.post("/portal/track", data=dict(tracking_code=code, tracking_secret=secret))
    assert status.status_code == 200 and name in status.text
    listed = await api.ListCases(pb.ListCasesRequest(region_code=county), metadata=metadata_of("handler"))
    [case] = listed.cases
    assert (case.subject_kind, case.agency_name, case.subject_address) == (
        pb.SUBJECT_KIND_UNREGISTERED_ENTITY, name, "西宁市某路5号")


@pytest.mark.parametrize("dev_signin", [False, True], ids=["production", "development"])
async def test_a_production_console_sets_its_cookies_for_https_only(registry, complaints, dev_signin):
    settings = Settings(registry.address, complaints.address, dev_signin=dev_signin)
    app = build(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console") as client:
            token = auth.mint("handler", "handler-zhou", region="630000")
            signed_in = await client.post("/signin", data=dict(token=token))
            switched = await client.get("/lang/en")
    finally:
        await app.state.backend.close()
    for answer in (signed_in, switched):
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert ("; secure" in cookie) == (not dev_signin)


async def test_the_sign_in_cookie_holds_a_session_id_and_signing_out_makes_it_worthless(registry, complaints):
    """Issue 15 item 7: the cookie holds a random session id, never the bearer token (which the
    console keeps); signing out closes the session on the console's side, so the old cookie, kept
    or copied, signs nobody in; a new sign-in gets a new id."""
    from console.sessions import Sessions
    from console.web import SESSION_COOKIE

    settings = Settings(registry.address, complaints.address, dev_signin=True)
    app = build(settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
            token = auth.mint("handler", "handler-session", region="630000")
            signed_in = await client.post("/signin", data=dict(token=token))
            session_id = client.cookies[SESSION_COOKIE]
            set_cookie = signed_in.headers["set-cookie"]
            assert token not in set_cookie and token.split(".")[1] not in set_cookie
            assert len(session_id) >= 40 and "." not in session_id and "ipss_token" not in set_cookie
            assert app.state.pages.sessions.token(session_id) == token
            assert (await client.get("/cases")).status_code == 200

            copied = httpx.Cookies({SESSION_COOKIE: session_id})
            assert (await client.post("/signout")).status_code == 303
            assert SESSION_COOKIE not in client.cookies
            assert app.state.pages.sessions.token(session_id) is None
            client.cookies = copied  # the old cookie, kept or copied, after the sign-out
            answer = await client.get("/cases")
            assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")

            client.cookies.clear()
            await client.post("/signin", data=dict(token=token))
            assert client.cookies[SESSION_COOKIE] != session_id  # a fresh id at every sign-in
            again = client.cookies[SESSION_COOKIE]
            await client.post("/signin/dev", data=dict(role="public"))  # to the public: the session closes too
            assert app.state.pages.sessions.token(again) is None
    finally:
        await app.state.backend.close()

    now = [0.0]
    sessions = Sessions(60, now=lambda: now[0], most=2)
    first, second = sessions.open("a"), sessions.open("b")
    now[0] = 59
    assert (sessions.token(first), sessions.token(second), sessions.token("never-given")) == ("a", "b", None)
    sessions.open("c")  # at most two: the oldest goes
    assert sessions.token(first) is None and sessions.token(second) == "b"
    now[0] = 60
    assert sessions.token(second) is None  # its time is up, as the cookie's


@pytest.mark.parametrize("path", ["/", "/portal", "/register", "/static/console.js", "/no-such-page"])
async def test_every_answer_forbids_framing_foreign_scripts_and_sniffing(console, path):
    answer = await console.get(path)
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert (answer.headers["x-frame-options"], answer.headers["x-content-type-options"]) == ("DENY", "nosniff")
    assert answer.headers["referrer-policy"] == "same-origin"


async def test_the_portal_refuses_more_files_than_a_report_holds_before_storing_any(console, registry_api,
                                                                                    complaints):
    from services.complaints import store
    from tests.test_complaints_intake import rows

    agency = await new_agency(registry_api, new_county(PROVINCE))
    form = dict(idempotency_key=key(), agency=agency.credit_code, category="false_advertising",
                description="该机构在宣传中承诺专利百分之百授权。", identity="anonymous", privacy="1")
    marker = key()

    def attachments(count: int) -> list:
        return [("attachments", (f"证据{i}.txt", f"{marker} 第 {i} 份".encode(), "text/plain")) for i in range(count)]

    async def stored() -> int:
        return sum(marker.encode() in a.content for a in await rows(complaints, store.Attachment))

    too_many = await console.post("/portal", data=form, files=attachments(21))
    assert too_many.status_code == 400
    earlier = [f"att-{i}|旧证据{i}.txt" for i in range(15)]  # uploaded in an earlier round of the form
    answer = await console.post("/portal", data=dict(form, uploaded=earlier), files=attachments(6))
    assert answer.status_code == 400 and "一份举报最多附 20 个文件" in answer.text
    assert await stored() == 0
    filed = await console.post("/portal", data=form, files=attachments(20))
    assert filed.status_code == 200 and await stored() == 20


async def test_a_refusal_is_worded_by_its_reason_whatever_the_service_says(console, api, registry_api,
                                                                             monkeypatch):
    """The service rewords its English; the page says what the catalogue says for the reason,
    in either language, and never the service's words."""
    from suite import codes

    reworded = codes.Problem("PHONE_FORMAT", "this is not a number anyone could dial")
    monkeypatch.setattr(codes, "phone_problem", lambda phone: reworded)  # the service runs in this process
    agency = await new_agency(registry_api, new_county(PROVINCE))
    said = await refused(api.FileReport(report(agency, real_name(phone="12345")), metadata=CITIZEN),
                         grpc.StatusCode.INVALID_ARGUMENT)
    assert reworded.description in said.details() and field_reasons(said) == {"reporter.phone": "PHONE_FORMAT"}
    form = dict(idempotency_key=key(), agency=agency.credit_code, category="false_advertising", identity="real_name",
                description="该机构在宣传中承诺专利百分之百授权。", name="王五", phone="12345", privacy="1")
    assert await portal_errors(console, form) == {"phone": "电话号码格式不正确（手机 11 位，或区号-号码）"}
    await console.get("/lang/en")
    answer = await console.post("/portal", data=form)
    assert "must be a mobile (1xxxxxxxxxx) or landline (0xx-xxxxxxxx) number" in answer.text
    assert reworded.description not in answer.text


# ---- the register and statistics ----------------------------------------------------------------------

async def test_the_register_shows_what_is_public_and_masks_identity_numbers(console, registry_api):
    agency = await new_agency(registry_api, new_county(PROVINCE), legal_representative="赵法人")
    page = await console.get("/register", params=dict(q=agency.name[:8]))
    assert agency.name in page.text and "赵法人" in page.text and "正常" in page.text
    assert "无公示中的行政处罚" in page.text
    resident_id = testdata.resident_id()
    person = (await registry_api.RegisterPractitioner(rpb.RegisterPractitionerRequest(
        idempotency_key=key(), name=f"钱{uid()}", kind=rpb.PRACTITIONER_KIND_PATENT_ATTORNEY,
        resident_id=resident_id, phone="13912345678"), metadata=OPERATOR)).practitioner
    page = await console.get("/register", params=dict(q=person.name, kind="practitioner"))
    assert person.name in page.text and resident_id not in page.text and "13912345678" not in page.text
    assert resident_id[0] + "*" * 16 + resident_id[-1] in page.text
    short = await console.get("/register", params=dict(q="钱"))
    assert short.status_code == 400 and "至少 2 个字符" in short.text


async def test_statistics_draw_the_figures_and_export_every_stage_change(console, api, registry_api):
    county = new_county(PROVINCE)
    agency = await new_agency(registry_api, county)
    opened, waiting = await inspection(api, agency), await inspection(api, agency, pb.VIOLATION_CATEGORY_FALSE_MATERIAL)
    await record(api, opened, county, 1, stage=pb.CASE_STAGE_INVESTIGATION, deadlines=[pb.Deadline(
        period_id="verify_and_open", due_on=day(10), state="met", legal_source=VERIFY_SOURCE)])
    await sign_in(console, "supervisor", county)
    page = await console.get("/statistics", params=dict(region=county))
    assert page.status_code == 200
    # Charts by stage, category, region, outcome, kind of agency, source, period, month, and the lists.
    assert re.search(r'id="total-cases">2<', page.text) and page.text.count("<svg") == 9
    assert "立案调查 1" in page.text and "100%" in page.text  # the chart's text and the share met
    assert "专利代理机构 2" in page.text and "检查发现 2" in page.text  # by kind of agency, by source
    assert 'id="list-sizes"' in page.text and "经营异常名录" in page.text  # the lists' sizes, month by month
    assert re.search(r'<td>\d{4}-\d{2}</td><td class="num">1</td>', page.text)  # the month the period fell due
    export = await console.get("/statistics/cases.csv", params=dict(region=county))
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    by_id = {row["case_id"]: row for row in rows}
    assert set(by_id) == {opened, waiting}
    entered = clock.now() - timedelta(minutes=5)
    assert by_id[opened]["stage"] == "investigation" and by_id[opened]["entered_investigation"] > entered.isoformat()
    assert by_id[opened]["stage_history"].startswith("verification@")
    assert by_id[opened]["status_history"].startswith("verification:received@")
    assert ";investigation:verifying@" in by_id[opened]["status_history"]
    assert by_id[opened]["subject_kind"] == "agency" and by_id[opened]["agency_kind"] == "patent"
    assert by_id[waiting]["entered_investigation"] == ""
    assert by_id[opened]["next_deadline_provisional"] == "0"
    bad = await console.get("/statistics", params=dict(region=county, **{"from": "2026-12-31", "to": "2026-01-01"}))
    assert bad.status_code == 400 and "received_to" in bad.text
