"""The console in a real browser: the machine's Chromium driven by Playwright walks a citizen's
report from the portal through the handler's console (open the case, serve the prior notice of a
fine, decide) and the supervisor's approval to the fine published on the public register; and a
case left undone past its verification period from the supervisor's inbox, where it is
reassigned, to the new handler's notifications. Real services on loopback (registry and
complaints on SQLite; the console has no database of its own, and both backends are tested with
the services themselves), the case workflow on a real worker,
on Temporal's time-skipping server so the statement period runs out in a moment. The legal
calendar of 2026 is used as in tests/test_case_procedure.py. Screenshots of the main pages are
kept in test-artifacts/; every page visited is checked for a label on every field, one form is
used by keyboard alone, and the main colours' contrast is computed from the stylesheet."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import uuid
from datetime import date
from pathlib import Path

import grpc
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from console.app import build as build_console
from console.settings import Settings
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.complaints.v1 import complaints_pb2_grpc as cpb_grpc
from ipss.registry.v1 import registry_pb2 as rpb
from ipss.registry.v1 import registry_pb2_grpc as rpb_grpc
from suite import config, migrate, testdata
from tests import legal_time
from tests.conftest import fresh_database, metadata
from contracts import search_attributes
from workflows.worker import Activities, build_worker

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = config.REPO_ROOT / "test-artifacts"
STYLESHEET = config.REPO_ROOT / "console" / "static" / "console.css"
TASK_QUEUE = "ipss-console-browser"
HANDLER, SECOND_HANDLER, SUPERVISOR = "handler-wang", "handler-li", "supervisor-zhao"
# The colour pairs text is set in: (text, background) custom properties of the stylesheet.
TEXT_COLOURS = [("text", "background"), ("muted", "background"), ("link", "background"),
                ("header-text", "header-background"), ("button-text", "button-background"),
                ("overdue-text", "overdue-background"), ("due-soon-text", "due-soon-background"),
                ("ok-text", "ok-background"), ("error-text", "error-background"), ("text", "panel"),
                ("muted", "panel"), ("link", "panel"), ("provisional-text", "provisional-background"),
                ("provisional-text", "background")]


# ---- contrast, from the stylesheet ----------------------------------------------------------------

def custom_properties(css: str) -> dict[str, str]:
    root = re.search(r":root\s*\{([^}]*)\}", css).group(1)
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;", root))


def luminance(hex_colour: str) -> float:
    """Relative luminance (WCAG 2)."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_ratio_is_computed_by_the_wcag_formula():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the known AA boundary grey


def test_text_colours_have_enough_contrast():
    colours = custom_properties(STYLESHEET.read_text())
    weak = {f"{fg} on {bg}": round(contrast(colours[fg], colours[bg]), 2) for fg, bg in TEXT_COLOURS
            if contrast(colours[fg], colours[bg]) < 4.5}
    assert weak == {}


# ---- the suite on loopback, on a legal calendar the test moves -----------------------------------

class Suite:
    def __init__(self, env: WorkflowEnvironment, legal: legal_time.ScenarioClock,
                 registry: rpb_grpc.RegistryServiceStub, url: str, complaints: cpb_grpc.ComplaintsServiceStub):
        self.env, self.legal, self.registry, self.url = env, legal, registry, url
        self.complaints = complaints

    async def start_on(self, legal_day: str) -> None:
        await legal_time.start_on(self.env, self.legal, legal_day)

    async def goto(self, legal_day: str) -> None:
        await legal_time.goto(self.env, self.legal, legal_day)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
async def suite():
    from services.complaints.server import build as build_complaints
    from services.registry.server import build as build_registry

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"))
    await search_attributes.register(env.client)
    legal = legal_time.ScenarioClock(date(2026, 1, 5))
    with fresh_database("sqlite") as registry_url, fresh_database("sqlite") as complaints_url:
        migrate.upgrade("registry", database_url=registry_url)
        migrate.upgrade("complaints", database_url=complaints_url)
        registry_server, registry_store = build_registry(
            database_url=registry_url, legal_clock=legal, temporal_client=env.client,
            temporal_settings=config.TemporalSettings(address="", namespace="default", task_queue=TASK_QUEUE))
        registry_address = f"127.0.0.1:{await registry_server.start('127.0.0.1:0')}"
        complaints_server, complaints = build_complaints(
            database_url=complaints_url, registry_address=registry_address, temporal_client=env.client,
            temporal_settings=config.TemporalSettings(address="", namespace="default", task_queue=TASK_QUEUE),
            legal_clock=legal)
        complaints_address = f"127.0.0.1:{await complaints_server.start('127.0.0.1:0')}"
        activities = Activities.connect(registry_address, complaints_address)
        app = build_console(Settings(registry_address, complaints_address,
                                     dev_signin=True))
        sock = free_socket()
        web = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        serving = asyncio.create_task(web.serve(sockets=[sock]))
        channel = grpc.aio.insecure_channel(registry_address)
        complaints_channel = grpc.aio.insecure_channel(complaints_address)
        try:
            async with build_worker(env.client, activities, TASK_QUEUE):
                while not web.started:
                    await asyncio.sleep(0.05)
                yield Suite(env, legal, rpb_grpc.RegistryServiceStub(channel),
                            f"http://127.0.0.1:{sock.getsockname()[1]}",
                            cpb_grpc.ComplaintsServiceStub(complaints_channel))
        finally:
            web.should_exit = True
            await serving
            await channel.close()
            await complaints_channel.close()
            await activities.close()
            await complaints_server.stop(0)
            await complaints.close()
            await registry_server.stop(0)
            await registry_store.close()
            await env.shutdown()


@pytest.fixture(scope="module")
async def browser():
    from playwright.async_api import async_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (make browser)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


# ---- the walk ----------------------------------------------------------------------------------------

UNLABELLED_FIELDS = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter(e => !['hidden', 'submit', 'button'].includes(e.type))
    .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
    .map(e => e.name || e.id)"""


class Visit:
    """The browser's tab, checking each page it shows and keeping screenshots of the main ones."""

    def __init__(self, page, base_url: str):
        self.page, self.base_url = page, base_url
        self.unlabelled: dict[str, list[str]] = {}

    async def check(self) -> None:
        missing = await self.page.evaluate(UNLABELLED_FIELDS)
        if missing:
            self.unlabelled[self.page.url] = missing

    async def open(self, path: str) -> None:
        await self.page.goto(self.base_url + path)
        await self.check()

    async def submit(self, selector: str) -> None:
        async with self.page.expect_navigation():
            await self.page.click(selector)
        await self.check()

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)

    async def sign_in(self, role: str, subject: str, region: str) -> None:
        await self.open("/signin")
        await self.page.select_option("#dev-role", role)
        await self.page.fill("#dev-subject", subject)
        await self.page.fill("#dev-region", region)
        await self.submit("#dev-signin button[type=submit]")

    async def act(self, case_id: str, action: str, **fields: str) -> None:
        """Open the action's form on the case page, fill it and post it."""
        await self.open(f"/cases/{case_id}")
        form = f"#action-{action}"
        await self.page.click(f"{form} summary")
        for name, value in fields.items():
            field = f"{form} [name='{name}']"
            if await self.page.locator(field).evaluate("e => e.tagName") == "SELECT":
                await self.page.select_option(field, value)
            else:
                await self.page.fill(field, value)
        await self.submit(f"{form} button[type=submit]")

    async def text(self, selector: str = "main") -> str:
        return await self.page.inner_text(selector)


async def new_agency(suite: Suite) -> rpb.Agency:
    return (await suite.registry.CreateAgency(testdata.agency_request("110108", legal_representative="周合伙"),
                                              metadata=metadata("operator"))).agency


async def test_a_report_walks_from_the_portal_to_a_published_fine(suite: Suite, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    await suite.start_on("2026-03-02")
    agency = await new_agency(suite)
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    visit = Visit(await context.new_page(), suite.url)
    visit.page.set_default_timeout(20_000)

    # A citizen reports in their own name, with a piece of evidence.
    await visit.open("/portal")
    await visit.page.fill("#p-agency", agency.credit_code)
    await visit.page.select_option("#p-category", "false_advertising")
    await visit.page.fill("#p-description", "该机构在官网承诺专利授权率百分之百，收费后未能兑现。")
    await visit.page.fill("#p-occurred_on", "2026-01-10")
    await visit.page.set_input_files("#p-attachments", files=[dict(
        name="网页截图说明.txt", mimeType="text/plain", buffer="官网首页宣称“百分百授权”。".encode())])
    await visit.page.fill("#p-name", "张三")
    await visit.page.fill("#p-phone", "13800138000")
    await visit.shot("portal")
    await visit.submit("#report-form button[type=submit]")
    assert "请确认已阅读个人信息保护说明" in await visit.text()  # nothing is filed without it
    await visit.page.check("#p-privacy")
    await visit.submit("#report-form button[type=submit]")
    code = await visit.text("#tracking-code")
    secret = await visit.text("#tracking-secret")
    await visit.shot("portal-filed")

    # They follow it with the keyboard alone: Tab to the code, type, Tab, type, Enter.
    await visit.open("/portal/track")
    for _ in range(40):
        if await visit.page.evaluate("document.activeElement.id") == "t-code":
            break
        await visit.page.keyboard.press("Tab")
    assert await visit.page.evaluate("document.activeElement.id") == "t-code"
    await visit.page.keyboard.type(code)
    await visit.page.keyboard.press("Tab")
    await visit.page.keyboard.type(secret)
    async with visit.page.expect_navigation():
        await visit.page.keyboard.press("Enter")
    assert "核查中" in await visit.text("#report-stage")
    await visit.shot("portal-status")

    # The handler finds it in the office's queue and opens a case (立案) three days later.
    await suite.goto("2026-03-05")
    await visit.sign_in("handler", HANDLER, "110000")
    await visit.open("/cases")
    await visit.shot("queue")
    async with visit.page.expect_navigation():
        await visit.page.click(f"tr:has-text('{agency.name}') a")
    case_id = visit.page.url.rsplit("/", 1)[1]
    page = await visit.text()
    assert "张三" in page and "13800138000" in page  # the handler sees the real-name reporter
    assert "市场监督管理行政处罚程序规定 第十八条" in page and "2026-03-23" in page  # 15 working days
    await visit.act(case_id, "open", reason="初步核实存在虚假宣传")
    assert "已完成：立案" in await visit.text() and "立案调查" in await visit.text(".case-head")

    # The prior notice of a fine of 50,000 CNY; the decision must wait for the statement period.
    await suite.goto("2026-04-01")
    await visit.act(case_id, "propose_penalty", **{"penalty.kind": "3", "penalty.fine_cny": "50000",
                                                   "reason": "虚假宣传，证据确凿"})
    page = await visit.text()
    assert "告知与陈述申辩" in page and "2026-04-09" in page  # 5 working days (04-06 a holiday)
    assert await visit.page.locator("#action-submit_decision").count() == 0
    await visit.shot("case")

    # After the period: a heavier decision than the notice is refused, with the reason shown.
    await suite.goto("2026-04-15")
    await visit.act(case_id, "submit_decision", **{"penalty.kind": "3", "penalty.fine_cny": "60000",
                                                   "reason": "从重处罚"})
    refusal = await visit.text("#action-submit_decision .notice.error")
    assert "填写的内容有误" in refusal and "处理决定不得重于已告知当事人的处罚" in refusal  # by its reason
    await visit.shot("case-refused")
    await visit.act(case_id, "submit_decision", **{"penalty.kind": "3", "penalty.fine_cny": "50000",
                                                   "reason": "维持告知内容"})
    assert "决定待审批" in await visit.text(".case-head")
    assert await visit.page.locator("#action-approve_decision").count() == 0  # not for a handler

    # The supervisor approves from the inbox (four eyes).
    await visit.sign_in("supervisor", SUPERVISOR, "110000")
    await visit.open("/inbox")
    assert case_id in await visit.text()
    await visit.shot("inbox")
    await visit.act(case_id, "approve_decision")
    assert "已决定" in await visit.text(".case-head")
    await visit.open("/statistics?region=110000")
    await visit.shot("statistics")

    # Anyone sees the fine on the public register, and no reporter.
    await visit.sign_in("public", "", "000000")
    await visit.open(f"/register?q={agency.credit_code}")
    record = await visit.text(".record")
    assert "罚款" in record and "50,000" in record and "2026-04-15" in record and "2029-04-15" in record
    assert "张三" not in record and "13800138000" not in await visit.page.content()
    await visit.shot("register")

    await visit.open("/lang/en?next=/register")
    assert "Public register" in await visit.text("h1")
    await context.close()
    assert visit.unlabelled == {}


async def test_a_supervisor_reassigns_an_overdue_case_from_the_inbox(suite: Suite, browser):
    """A report's verification period (15 working days from Monday 03-02: 03-23) runs out with
    nobody acting; on 03-24 the case is in the inbox of the office's supervisors, who reassign
    it there, and the new handler is told."""
    ARTIFACTS.mkdir(exist_ok=True)
    await suite.start_on("2026-03-02")
    agency = await new_agency(suite)
    filed = await suite.complaints.FileReport(cpb.FileReportRequest(
        idempotency_key=uuid.uuid4().hex, source=cpb.REPORT_SOURCE_PUBLIC, reporter=cpb.Reporter(real_name=False),
        agency=cpb.ReportedAgency(credit_code=agency.credit_code), category=cpb.VIOLATION_CATEGORY_CERTIFICATE_LENDING,
        description="该机构的专利代理师同时挂靠在另一家机构名下。"), metadata=metadata("citizen"))
    assert not filed.case_id  # an anonymous filing is told no case; the office finds it in its queue
    [queued] = (await suite.complaints.ListCases(cpb.ListCasesRequest(agency_credit_code=agency.credit_code),
                                                 metadata=metadata("handler", "110000"))).cases
    case_id = queued.case_id
    await suite.complaints.AssignCase(cpb.AssignCaseRequest(idempotency_key=uuid.uuid4().hex, case_id=case_id,
                                                            assignee=HANDLER),
                                      metadata=metadata("handler", "110000", subject=HANDLER))
    await suite.goto("2026-03-24")
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    visit = Visit(await context.new_page(), suite.url)
    visit.page.set_default_timeout(20_000)

    await visit.sign_in("supervisor", SUPERVISOR, "110000")
    row = visit.page.locator("tr.overdue", has_text=case_id)
    for _ in range(50):  # the record of the day is written as the workflow wakes
        await visit.open("/inbox")
        if await row.count():
            break
        await asyncio.sleep(0.1)
    assert int(re.match(r"\d+", await visit.page.inner_text("#inbox-count")).group()) >= 1  # the navigation's count
    shown = await row.inner_text()
    assert "核查立案期限" in shown and "2026-03-23" in shown and "2026-03-24 列入督办" in shown
    assert "1 天" in shown and HANDLER in shown and agency.name in shown
    await visit.shot("inbox-escalation")

    await row.locator("summary").click()
    await row.locator("[name='assignee']").fill(SECOND_HANDLER)
    await row.locator("[name='reason']").fill("原承办人外出培训，逾期未核查，改由李办理")
    await visit.shot("inbox-reassign")
    async with visit.page.expect_navigation():
        await row.locator("details button[type=submit]").click()
    await visit.check()
    assert "已完成：改派" in await visit.text()
    assert await visit.page.locator("tr.overdue", has_text=case_id).count() == 0

    await visit.open(f"/cases/{case_id}")
    assert SECOND_HANDLER in await visit.text(".case-head")
    page = await visit.text()
    assert "改派给 handler-li：原承办人外出培训，逾期未核查，改由李办理（原承办人 handler-wang）" in page
    assert "已报上级督办：“核查立案期限”已于 2026-03-23 届满" in page
    await visit.shot("case-reassigned")

    await visit.sign_in("handler", SECOND_HANDLER, "110000")
    assert (await visit.page.inner_text("#notifications-count")).startswith("1")
    await visit.open("/notifications")
    assert f"{SUPERVISOR} 将本案改派给您" in await visit.text("tr.unread")
    await visit.shot("notifications")
    await context.close()
    assert visit.unlabelled == {}


async def test_a_credit_repair_is_checked_granted_and_said_on_the_public_register(suite: Suite, browser):
    """An agency fined on 2025-03-10 (public until 2028-03-10) applies on 2025-09-11, when six months
    of publicity have run; the application waits in the handlers' list, a handler checks it (first
    without the evidence of payment: refused in words), a supervisor grants it on 2025-09-15, and
    the public register then says the fine was repaired and no longer shows it."""
    ARTIFACTS.mkdir(exist_ok=True)
    await suite.start_on("2025-09-11")
    agency = await new_agency(suite)
    fine = (await suite.registry.RecordCreditEvent(rpb.RecordCreditEventRequest(
        idempotency_key=uuid.uuid4().hex, agency_id=agency.id, kind=rpb.CREDIT_EVENT_KIND_FINE,
        source=rpb.CREDIT_EVENT_SOURCE_CASE, source_reference="case-2025-110000-000321", occurred_on="2025-03-10",
        publicity_ends_on="2028-03-10", summary="以不正当手段招揽业务：罚款 50,000 元", fine_cny=50_000),
        metadata=metadata("operator"))).event
    repair = (await suite.registry.ApplyForCreditRepair(rpb.ApplyForCreditRepairRequest(
        idempotency_key=uuid.uuid4().hex, agency_id=agency.id, credit_event_ids=[fine.id],
        statement="本所已完成整改，申请提前停止公示该行政处罚信息，并承诺依法诚信执业。",
        compliance="罚款 50,000 元已于 2025-03-20 全额缴纳。"), metadata=metadata("handler", "110000"))).repair
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    visit = Visit(await context.new_page(), suite.url)
    visit.page.set_default_timeout(20_000)

    # The handler finds it in the office's list and checks it.
    await visit.sign_in("handler", HANDLER, "110000")
    await visit.open("/credit-repairs")
    row = visit.page.locator(f"#repair-{repair.id}")
    shown = await row.inner_text()
    assert agency.name in shown and "罚款 · 2025-03-10" in shown and "2025-09-11" in shown and "待核查" in shown
    await visit.shot("credit-repairs")
    async with visit.page.expect_navigation():
        await row.locator("a").click()
    await visit.check()
    assert "2025-09-11" in await visit.text() and "待核查" in await visit.text("#repair-stage")
    await visit.submit("form[action$='/check'] button[type=submit]")  # no evidence of payment yet
    assert "报请审批须写明履行情况的证明材料" in await visit.text("#h-check + p + .notice.error")
    await visit.shot("credit-repair-check-refused")
    await visit.page.fill("#compliance-evidence", "非税收入缴款书 No.1100250320，2025-03-20 缴清")
    await visit.submit("form[action$='/check'] button[type=submit]")
    assert "核查结果已记录" in await visit.text() and "待审批" in await visit.text("#repair-stage")
    await visit.shot("credit-repair-checked")

    # A supervisor grants it four days later.
    await suite.goto("2025-09-15")
    await visit.sign_in("supervisor", SUPERVISOR, "110000")
    await visit.open(f"/credit-repairs/{repair.id}")
    await visit.submit("form[action$='/decide'] button[type=submit]")
    page = await visit.text()
    assert "审批决定已记录" in page and "准予修复" in await visit.text("#repair-stage")
    assert "2025-09-14" in page  # the fine's last public day: the day before the grant
    await visit.shot("credit-repair-granted")

    # The public register says so, and shows the fine no longer.
    await visit.sign_in("public", "", "000000")
    await visit.open(f"/register?q={agency.credit_code}")
    record = await visit.text(".record")
    assert "罚款（2025-03-10作出）已信用修复，自2025-09-15起提前停止公示" in record
    assert "无公示中的行政处罚" in record and "50,000" not in record
    await visit.shot("register-repaired")
    await context.close()
    assert visit.unlabelled == {}
