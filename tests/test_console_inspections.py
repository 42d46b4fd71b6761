"""The console's inspections pages through its ASGI app (httpx, no browser) against the real
registry, complaints and inspections services over loopback gRPC, once on SQLite and once on
PostgreSQL (the registry fixture's database): the campaigns list
with their progress, a campaign with its closing report and tasks, a plan with its published draw
record that the downloaded file verifies, an inspector who sees only their own tasks, a task's
provisional (暂定) due days marked with why, refusals by role and scope, and unknown ids. The
campaigns' workflows are started on the session's Temporal dev server but no worker runs them:
their records are written as the workflows write them (RecordCampaignProgress,
RecordTaskProgress). Province 65 is this module's own."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import re
import uuid
from dataclasses import dataclass

import grpc
import httpx
import pytest

from console import i18n
from console.app import build
from console.inspections import PROGRESS_FIELDS, VOCABULARIES
from console.settings import Settings
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.inspections.v1 import inspections_pb2 as pb
from ipss.inspections.v1 import inspections_pb2_grpc as pb_grpc
from ipss.registry.v1 import registry_pb2_grpc as reg_grpc
from services.inspections import draw_check
from suite import clock, config, migrate
from suite.protos import enum_words
from tests.conftest import fresh_database
from tests.inspections_world import SUPERVISOR_MD, campaign_of, drawn_plan, key, register_inspectors
from tests.test_complaints_intake import MACHINE, OPERATOR, day, new_agency, new_county
from tests.test_console_routes import hidden, sign_in

PROVINCE = "65"
FINDINGS = "该机构在官网宣传“包授权、不授权全额退款”，已截图取证。"
CLOSING_REASON = "上级部署调整，提前结束本轮抽查"


@dataclass
class Inspections:
    address: str
    api: pb_grpc.InspectionsServiceStub


@dataclass
class Field:
    """What the module's pages show: a running special rectification campaign with a checked task
    that opened a case, a random inspection closed early, a plan not yet drawn, and their inspectors."""

    county: str
    record: pb.DrawRecord
    campaign: pb.Campaign
    closed: pb.Campaign
    draft: pb.Plan
    tasks: list[pb.Task]
    violation: pb.Task
    inspector_ids: list[str]


@pytest.fixture(scope="module")
async def inspections(registry, complaints):
    """The inspections service on a fresh database of the registry's kind, asking that registry and
    starting campaign workflows in its backend's namespace, in a task queue no worker polls."""
    from services.inspections.server import build as build_inspections

    backend = "sqlite" if registry.database_url.startswith("sqlite") else "postgresql"
    with fresh_database(backend) as url:
        migrate.upgrade("inspections", database_url=url)
        server, running = build_inspections(
            database_url=url, registry_address=registry.address, temporal_client=complaints.temporal,
            temporal_settings=config.TemporalSettings("", "", f"console-inspections-{uuid.uuid4().hex[:8]}"))
        address = f"127.0.0.1:{await server.start('127.0.0.1:0')}"
        channel = grpc.aio.insecure_channel(address)
        try:
            yield Inspections(address, pb_grpc.InspectionsServiceStub(channel))
        finally:
            await channel.close()
            await server.stop(0)
            await running.close()


@pytest.fixture(scope="module")
async def field(registry, inspections) -> Field:
    api = inspections.api
    county = new_county(PROVINCE)
    registry_api = reg_grpc.RegistryServiceStub(registry.channel)
    for _ in range(6):
        await new_agency(registry_api, county)
    inspector_ids = await register_inspectors(api, county, 4, f"XJ{uuid.uuid4().hex[:4]}-")
    record = await drawn_plan(api, [county], all_in_scope=True)
    campaign = await campaign_of(api, record, day(0), day(90))
    every = (await api.ListTasks(pb.ListTasksRequest(campaign_id=campaign.id, page_size=500),
                                 metadata=SUPERVISOR_MD)).tasks
    await api.RecordCampaignProgress(pb.RecordCampaignProgressRequest(
        campaign_id=campaign.id, revision=1, status=pb.CAMPAIGN_STATUS_RUNNING, progress=pb.CampaignProgress(
            targets=6, started=6, checked=3, no_problem=1, problems=1, violations=1, cases_opened=1, published=1)),
        metadata=MACHINE)
    violation = every[0]
    await api.RecordTaskProgress(pb.RecordTaskProgressRequest(
        task_id=violation.id, revision=1, stage=pb.TASK_STAGE_CONCLUDED, outcome=pb.CHECK_OUTCOME_VIOLATION,
        category=cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING, findings=FINDINGS, checked_on=day(0),
        case_id=f"case-2026-{county}-000001", publish_due_on=day(28)), metadata=MACHINE)

    again = await drawn_plan(api, [county], seed_value="上证综指 收盘 3351.24", all_in_scope=True)
    closed = await campaign_of(api, again, day(0), day(60), kind=pb.CAMPAIGN_KIND_RANDOM_INSPECTION, theme=())
    final = pb.CampaignProgress(targets=6, started=2, checked=2, no_problem=2, published=2, not_started=4)
    await api.RecordCampaignProgress(pb.RecordCampaignProgressRequest(
        campaign_id=closed.id, revision=1, status=pb.CAMPAIGN_STATUS_CLOSED_EARLY, progress=final,
        report=pb.CampaignReport(ending=pb.CAMPAIGN_STATUS_CLOSED_EARLY, closed_on=day(0), reason=CLOSING_REASON,
                                 figures=final)), metadata=MACHINE)

    draft = (await api.CreatePlan(pb.CreatePlanRequest(
        idempotency_key=key(), name="新疆2026年下半年抽查（草稿）", region_codes=[county], all_in_scope=True,
        inspectors_per_target=2), metadata=SUPERVISOR_MD)).plan
    tasks = (await api.ListTasks(pb.ListTasksRequest(page_size=500), metadata=SUPERVISOR_MD)).tasks
    return Field(county, record, campaign, closed, draft, list(tasks),
                 next(t for t in tasks if t.id == violation.id), inspector_ids)


@pytest.fixture
async def console(registry, complaints, inspections):
    settings = Settings(registry.address, complaints.address, dev_signin=True,
                        inspections_address=inspections.address)
    app = build(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client
    await app.state.backend.close()


def links(html: str, prefix: str) -> set[str]:
    return set(re.findall(rf'href="{prefix}([^"?]+)"', html))


# ---- the campaigns ------------------------------------------------------------------------------------

async def test_the_campaigns_list_shows_each_campaign_with_its_progress(console, field):
    await sign_in(console, "supervisor", f"{PROVINCE}0000")
    page = await console.get("/inspections")
    assert page.status_code == 200
    assert links(page.text, "/inspections/campaigns/") >= {field.campaign.id, field.closed.id}
    row = page.text[page.text.index(f'href="/inspections/campaigns/{field.campaign.id}"'):]
    row = row[:row.index("</tr>")]
    assert "专项整治行动" in row and "进行中" in row and f"{day(0)} – {day(90)}" in row
    # targets, checked, problems, violations, cases opened, overdue, published
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["6", "3", "1", "1", "1", "0", "1"]
    closed_only = (await console.get("/inspections", params=dict(status="closed_early"))).text
    assert field.closed.id in closed_only and field.campaign.id not in closed_only

    await sign_in(console, "supervisor", "110000")
    elsewhere = await console.get("/inspections")
    assert elsewhere.status_code == 200 and field.campaign.id not in elsewhere.text and "没有符合条件的行动" in elsewhere.text


async def test_the_campaign_page_shows_progress_theme_plan_and_tasks(console, field):
    await sign_in(console, "handler", field.county)
    page = (await console.get(f"/inspections/campaigns/{field.campaign.id}")).text
    progress = dict(re.findall(r'<tr id="progress-(\w+)"><th scope="row">[^<]*</th><td class="num">(\d+)</td>', page))
    assert set(progress) == set(PROGRESS_FIELDS)
    assert (progress["targets"], progress["checked"], progress["cases_opened"], progress["not_started"]) == \
        ("6", "3", "1", "0")
    assert "50%" in page  # three of six checked
    assert "非正常专利申请" in page and "虚假宣传/承诺授权率" in page  # the theme
    assert f'href="/inspections/plans/{field.record.plan_id}"' in page
    assert f"/namespaces/default/workflows/{field.campaign.id}" in page
    assert "结束报告" not in page
    mine = {t.id for t in field.tasks if t.campaign_id == field.campaign.id}
    assert links(page, "/inspections/tasks/") == mine and len(mine) == 6
    concluded = (await console.get(f"/inspections/campaigns/{field.campaign.id}", params=dict(stage="concluded"))).text
    assert links(concluded, "/inspections/tasks/") == {field.violation.id}

    await console.get(f"/lang/en?next=/inspections/campaigns/{field.closed.id}")
    closed = (await console.get(f"/inspections/campaigns/{field.closed.id}")).text
    assert "Closing report" in closed and CLOSING_REASON in closed and "Closed early" in closed
    assert re.search(r'<tr id="report-not_started"><th scope="row">[^<]*</th><td class="num">4</td>', closed)
    assert "None (random inspection)" in closed


# ---- the plan and its draw record --------------------------------------------------------------------

async def downloaded_record_matches(download: httpx.Response, record: pb.DrawRecord, tmp_path) -> None:
    """The download is the complete record, and `ipss draw verify` finds that it matches."""
    assert download.status_code == 200 and download.headers["content-type"] == "application/gzip"
    assert f'filename="draw-record-{record.plan_id}.json.gz"' in download.headers["content-disposition"]
    assert json.loads(gzip.decompress(download.content))["result_hash"] == record.result_hash
    path = tmp_path / f"draw-record-{record.plan_id}.json.gz"
    path.write_bytes(download.content)
    out = io.StringIO()
    assert await asyncio.to_thread(draw_check.run, str(path), None, out) == 0
    assert out.getvalue().startswith(f"MATCHES: plan {record.plan_id}, {len(record.targets)} targets")


async def test_the_plan_page_shows_the_draw_record_that_its_download_verifies(console, field, tmp_path):
    record = field.record
    await sign_in(console, "supervisor", field.county)
    page = await console.get(f"/inspections/plans/{record.plan_id}")
    assert page.status_code == 200
    html = page.text
    for shown in (record.seed_value, record.seed_source, record.snapshot_hash, record.pool_hash, record.result_hash,
                  record.algorithm_version):
        assert shown in html, shown
    assert f'id="result-hash">{record.result_hash}<' in html and f'id="seed-value">{record.seed_value}<' in html
    assert f"ipss draw verify draw-record-{record.plan_id}.json.gz" in html
    assert f"ipss draw verify {record.plan_id}" in html
    assert all(t.credit_code in html for t in record.targets) and len(record.targets) == 6
    assert f'href="/inspections/campaigns/{field.campaign.id}"' in html
    assert "范围内全部机构均为检查对象" in html

    await downloaded_record_matches(
        await console.get(f"/inspections/plans/{record.plan_id}/draw-record.json.gz"), record, tmp_path)

    draft = (await console.get(f"/inspections/plans/{field.draft.id}")).text
    assert "尚未抽取" in draft and "尚未固定名录快照" in draft and "ipss draw verify" not in draft


# ---- tasks: an inspector's own ------------------------------------------------------------------------

async def test_an_inspector_sees_only_their_own_tasks(console, field):
    inspector = next(i for i in field.inspector_ids
                     if 0 < sum(i in t.inspector_ids for t in field.tasks) < len(field.tasks))
    own = {t.id for t in field.tasks if inspector in t.inspector_ids}
    signed_in = await console.post("/signin/dev", data=dict(role="inspector", subject=inspector))
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/inspections"
    page = await console.get("/inspections")
    assert page.status_code == 200 and "我的检查任务" in page.text
    assert links(page.text, "/inspections/tasks/") == own
    assert 'href="/inspections"' in page.text and 'href="/cases"' not in page.text  # the inspector's menu

    task = await console.get(f"/inspections/tasks/{sorted(own)[0]}")
    assert task.status_code == 200 and inspector in task.text
    stranger = next(t for t in field.tasks if inspector not in t.inspector_ids)
    refused = await console.get(f"/inspections/tasks/{stranger.id}")
    assert refused.status_code == 403 and "您无权" in refused.text and stranger.agency.name not in refused.text
    # Campaigns and plans are the staff's: the service refuses an inspector by role.
    for path in (f"/inspections/campaigns/{field.campaign.id}", f"/inspections/plans/{field.record.plan_id}"):
        answer = await console.get(path)
        assert answer.status_code == 403 and "您无权" in answer.text, path


async def test_the_task_page_shows_the_result_and_the_case_it_opened(console, field):
    await sign_in(console, "supervisor", f"{PROVINCE}0000")
    page = await console.get(f"/inspections/tasks/{field.violation.id}")
    assert page.status_code == 200
    html = page.text
    assert field.violation.agency.name in html and field.violation.agency.credit_code in html
    assert "发现违法行为，移交立案" in html and "待公示" in html and FINDINGS in html
    assert f'href="/cases/case-2026-{field.county}-000001"' in html
    assert f'href="/inspections/campaigns/{field.campaign.id}"' in html
    assert all(i in html for i in field.violation.inspector_ids) and day(28) in html


async def test_the_task_page_marks_a_provisional_due_day_and_not_a_final_one(console, field, inspections):
    task = next(t for t in field.tasks if t.campaign_id == field.campaign.id and t.id != field.violation.id)
    year = clock.today().year + 1
    await inspections.api.RecordTaskProgress(pb.RecordTaskProgressRequest(
        task_id=task.id, revision=1, stage=pb.TASK_STAGE_RECTIFYING, outcome=pb.CHECK_OUTCOME_PROBLEM,
        category=cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING, findings=FINDINGS, checked_on=day(0),
        rectify_due_on=f"{year}-01-27", rectify_due_provisional=True, publish_due_on=day(28)), metadata=MACHINE)
    await sign_in(console, "supervisor", f"{PROVINCE}0000")
    html = (await console.get(f"/inspections/tasks/{task.id}")).text
    why = f"{year}年放假安排尚未发布：按法定节假日暂定计算，发布后自动调整"
    rectify = re.search(r'<dd class="date">' + f"{year}-01-27" + r"(.*?)</dd>", html, re.S).group(1)
    assert f'<span class="badge provisional" title="{why}">暂定</span>' in rectify
    publish = re.search(r'<dd class="date">' + day(28) + r"(.*?)</dd>", html, re.S).group(1)
    assert "暂定" not in publish
    assert "暂定" not in (await console.get(f"/inspections/tasks/{field.violation.id}")).text


# ---- refusals and unknown ids ------------------------------------------------------------------------

async def test_a_role_without_access_gets_the_refusal_page(console, field):
    answer = await console.get("/inspections")
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=/inspections"
    await sign_in(console, "citizen")
    for path in ("/inspections", f"/inspections/campaigns/{field.campaign.id}",
                 f"/inspections/plans/{field.record.plan_id}/draw-record.json.gz"):
        refused = await console.get(path)
        assert refused.status_code == 403 and "您无权" in refused.text, path
    # A handler of another province: the service keeps the campaign, plan and task out of scope.
    await sign_in(console, "handler", "110000")
    for path in (f"/inspections/campaigns/{field.campaign.id}", f"/inspections/plans/{field.record.plan_id}",
                 f"/inspections/tasks/{field.violation.id}"):
        refused = await console.get(path)
        assert refused.status_code == 403 and "您无权" in refused.text and field.campaign.name not in refused.text, path


async def test_unknown_ids_give_the_not_found_page(console, field):
    await sign_in(console, "supervisor")
    for path in ("/inspections/campaigns/campaign-2026-9999", "/inspections/plans/plan-2026-9999",
                 "/inspections/plans/plan-2026-9999/draw-record.json.gz", "/inspections/tasks/inspection-x"):
        answer = await console.get(path)
        assert answer.status_code == 404 and "未找到" in answer.text, path
    # A plan with no draw yet has no record to download either.
    assert (await console.get(f"/inspections/plans/{field.draft.id}/draw-record.json.gz")).status_code == 404


async def test_a_supervisor_plans_draws_and_starts_a_campaign_at_the_console(console, field, inspections, tmp_path):
    async def post(path: str, action: str, **fields):
        page = (await console.get(path)).text
        target = f"{path}/actions/{action}" if path != "/inspections" else f"/inspections/actions/{action}"
        return await console.post(target, data=dict(
            csrf=hidden(page, "csrf", target), idempotency_key=hidden(page, "idempotency_key", target), **fields))

    await sign_in(console, "handler", field.county)
    assert 'id="action-create_plan"' not in (await console.get("/inspections")).text  # supervisors only
    await sign_in(console, "supervisor", field.county)
    refused = await post("/inspections", "create_plan", name="新疆第四季度抽查", region_codes=field.county,
                         inspectors_per_target="1")
    assert refused.status_code == 400 and 'aria-invalid="true"' in refused.text  # fewer than two, and no ratios
    created = await post("/inspections", "create_plan", name="新疆第四季度抽查", region_codes=field.county,
                         **{"ratios.low": "50", "ratios.general": "50", "ratios.elevated": "80", "ratios.high": "100"},
                         inspectors_per_target="2")
    assert created.status_code == 303
    path = created.headers["location"].split("?")[0]
    assert path.startswith("/inspections/plans/") and created.headers["location"].endswith("?done=create_plan")
    plan = (await inspections.api.GetPlan(pb.GetPlanRequest(plan_id=path.rsplit("/", 1)[1]),
                                          metadata=SUPERVISOR_MD)).plan
    assert (plan.name, list(plan.region_codes), plan.all_in_scope) == ("新疆第四季度抽查", [field.county], False)
    assert sorted(r.basis_points for r in plan.ratios) == [5000, 5000, 8000, 10000]

    page = (await console.get(path)).text
    assert 'id="action-take_snapshot"' in page and 'id="action-draw"' not in page
    source = "上海证券交易所 上证综合指数 当日收盘价"
    assert (await post(path, "take_snapshot", seed_source=source, seed_available_on=clock.today().isoformat())
            ).headers["location"] == f"{path}?done=take_snapshot"
    page = (await console.get(path)).text
    assert 'id="action-take_snapshot"' not in page and 'id="action-draw"' in page
    assert "事先公布的公开来源" in page  # where the seed must come from, said before the draw
    assert f'id="committed-source">{source}<' in page  # the commitment, shown before the draw
    public = await console.get(f"/register/draws/{plan.id}")  # and to the public (asked without a token)
    assert f'id="committed-source">{source}<' in public.text and 'id="not-drawn"' in public.text
    refused = await post(path, "draw", seed_value="", seed_source=source)
    assert refused.status_code == 400 and 'aria-invalid="true"' in refused.text
    refused = await post(path, "draw", seed_value="深证成指 10123.45", seed_source="深圳证券交易所 收盘行情")
    assert refused.status_code == 409 and "已承诺的随机种子来源为" in refused.text
    assert (await post(path, "draw", seed_value="上证综合指数 2026-10-09 收盘 3302.15",
                       seed_source=source)).status_code == 303
    page = (await console.get(path)).text
    assert 'id="action-draw"' not in page and 'id="seed-value">上证综合指数 2026-10-09 收盘 3302.15<' in page
    record = (await inspections.api.GetDrawRecord(pb.GetDrawRecordRequest(plan_id=plan.id))).record
    await downloaded_record_matches(await console.get(f"{path}/draw-record.json.gz"), record, tmp_path)

    theme = [cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING, cpb.VIOLATION_CATEGORY_LOW_PRICE_COMPETITION]
    started = await post(path, "create_campaign", name="新疆知识产权代理行业专项整治",
                         kind=str(pb.CAMPAIGN_KIND_SPECIAL_RECTIFICATION), theme=[str(c) for c in theme],
                         starts_on=day(0), ends_on=day(60))
    assert started.status_code == 303 and started.headers["location"].startswith("/inspections/campaigns/")
    campaign_id = started.headers["location"].split("?")[0].rsplit("/", 1)[1]
    campaign = (await inspections.api.GetCampaign(pb.GetCampaignRequest(campaign_id=campaign_id),
                                                  metadata=SUPERVISOR_MD)).campaign
    assert (campaign.plan_id, list(campaign.theme)) == (plan.id, theme)
    assert 'id="action-create_campaign"' not in (await console.get(path)).text  # one campaign a draw


# ---- the public: published results and draw records ---------------------------------------------------

async def test_the_public_reads_published_results_and_verifies_the_draw_behind_them(console, field, inspections,
                                                                                   tmp_path):
    violation, record = field.violation, field.record
    await inspections.api.RecordTaskProgress(pb.RecordTaskProgressRequest(
        task_id=violation.id, revision=2, stage=pb.TASK_STAGE_CONCLUDED, outcome=pb.CHECK_OUTCOME_VIOLATION,
        category=cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING, findings=FINDINGS, checked_on=day(0),
        case_id=violation.case_id, publish_due_on=day(28), published_on=day(1)), metadata=MACHINE)
    # Nobody signed in.
    page = await console.get("/register/inspections", params=dict(credit_code=violation.agency.credit_code.lower()))
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td>(.*?)</tr>", page.text, re.S)
    assert len(rows) == 1 and violation.agency.credit_code in rows[0] and violation.agency.name in rows[0]
    assert field.campaign.name in rows[0]
    assert day(0) in rows[0] and day(1) in rows[0] and "虚假宣传" in rows[0]
    assert links(page.text, "/register/draws/") == {record.plan_id}
    assert FINDINGS not in page.text and violation.case_id not in page.text  # internal, not published
    assert violation.agency.credit_code in (await console.get("/register/inspections")).text
    refused = await console.get("/register/inspections", params=dict(credit_code="123"))
    assert refused.status_code == 400 and 'role="alert"' in refused.text

    draw = await console.get(f"/register/draws/{record.plan_id}")
    assert draw.status_code == 200
    assert f'id="seed-value">{record.seed_value}<' in draw.text
    assert f'id="result-hash">{record.result_hash}<' in draw.text
    assert all(t.credit_code in draw.text for t in record.targets)
    # Its campaign runs: the pairings are not public yet; those of the closed campaign's plan are.
    assert 'id="pairings-withheld"' in draw.text and not any(i in draw.text for i in field.inspector_ids)
    closed = await console.get(f"/register/draws/{field.closed.plan_id}")
    assert 'id="pairings-withheld"' not in closed.text and any(i in closed.text for i in field.inspector_ids)
    assert f'href="/register/draws/{record.plan_id}/draw-record.json.gz"' in draw.text
    await downloaded_record_matches(await console.get(f"/register/draws/{record.plan_id}/draw-record.json.gz"),
                                    record, tmp_path)
    for path in ("/register/draws/plan-2026-9999", "/register/draws/plan-2026-9999/draw-record.json.gz"):
        assert (await console.get(path)).status_code == 404, path


# ---- the words ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("vocabulary", sorted(VOCABULARIES))
def test_every_value_the_pages_name_has_its_words_in_both_languages(vocabulary):
    missing = [(lang, w) for lang in i18n.LANGUAGES for w in enum_words(VOCABULARIES[vocabulary])
               if not i18n.known(lang, f"label.{vocabulary}.{w}")]
    assert not missing, f"{vocabulary} lacks labels for {missing}"
    assert all(i18n.known(lang, f"progress.{name}") for lang in i18n.LANGUAGES for name in PROGRESS_FIELDS)
