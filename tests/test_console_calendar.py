"""The operator's page for the State Council's holiday notice (/calendar, 节假日安排导入), through
the console's ASGI app (httpx, no browser) and once in the machine's Chromium: the years' state
(official with its source, or provisional 暂定), a preview that writes nothing, a confirmation
that reads the text again and writes the year's file into the calendar directory
($IPSS_CALENDAR_DIR, a temporary one here) where it reads back, a damaged notice refused by its
line with the text kept, and the refusals: other roles, and a post without the session's CSRF
token. The page reaches no service, so none runs."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn

from console.app import build
from console.settings import Settings
from console.web import SESSION_COOKIE, Visitor
from rules.notice import read_notice
from rules.workdays import CALENDAR_DIR_ENV, WorkingDayCalendar
from suite import auth, clock
from tests.test_calendar_notice import NOTICE_2026
# browser is a fixture: imported, it serves this module too.
from tests.test_console_browser import ARTIFACTS, browser, free_socket  # noqa: F401

SOURCE_2026 = "国务院办公厅关于2026年部分节假日安排的通知（国办发明电〔2025〕7号）"
SPRING_FESTIVAL = "春节 2026-02-15..2026-02-23 休 9天；上班 2026-02-14、2026-02-28"
IMPORTED = "已导入：2026年放假安排；正在运行的案件将在一分钟内按新日程重新计算期限"
# 共9天 made 共8天: the Spring Festival line (the 6th) no longer adds up.
DAMAGED = NOTICE_2026.replace("共9天", "共8天")
DAMAGED_LINE = ("第6行：二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共8天。"
                "2月14日（周六）、2月28日（周六）上班。：写明共8天，所列放假日期为9天：2026-02-15..2026-02-23")


@pytest.fixture
def calendar_dir(tmp_path: Path, monkeypatch) -> Path:
    """The calendar directory the page writes into and the calendar loads from, empty."""
    monkeypatch.setenv(CALENDAR_DIR_ENV, str(tmp_path))
    return tmp_path


@pytest.fixture
async def app(calendar_dir):
    # The page reaches no service: these addresses are never dialled.
    app = build(Settings("127.0.0.1:9", "127.0.0.1:9", dev_signin=True,
                         inspections_address="127.0.0.1:9"))
    yield app
    await app.state.backend.close()


@pytest.fixture
async def console(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client


def token(role: str, subject: str = "") -> str:
    return auth.mint(role, subject or f"{role}-calendar")


async def sign_in(client: httpx.AsyncClient, role: str, subject: str = "") -> None:
    """By pasting a token, as an operator does (the development picker offers no operator)."""
    answer = await client.post("/signin", data=dict(token=token(role, subject)))
    assert answer.status_code == 303, answer.text


def form_field(page: str, form_id: str, name: str) -> str:
    """A hidden field's value in the form with that id."""
    form = page[page.index(f'id="{form_id}"'):]
    return html.unescape(re.search(rf'name="{name}" value="([^"]*)"', form).group(1))


def textarea(page: str) -> str:
    """The notice's textarea as a browser reads it (the newline after the tag is not content)."""
    return html.unescape(re.search(r'<textarea id="c-notice"[^>]*>\n(.*?)</textarea>', page, re.S).group(1))


def listed(page: str, list_id: str) -> list[str]:
    found = re.search(rf'<ul id="{list_id}">(.*?)</ul>', page, re.S).group(1)
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", found, re.S)]


def year_row(page: str, year: int) -> str:
    return re.search(rf'<tr id="year-{year}">(.*?)</tr>', page, re.S).group(1)


async def preview(client: httpx.AsyncClient, notice: str = NOTICE_2026) -> httpx.Response:
    page = (await client.get("/calendar")).text
    return await client.post("/calendar", data=dict(csrf=form_field(page, "paste", "csrf"), step="preview",
                                                    notice=notice))


async def confirm(client: httpx.AsyncClient, previewed: str, replace: bool = False) -> httpx.Response:
    """确认导入 as the preview's form posts it: the text it carries, the ticked box if any."""
    data = dict(csrf=form_field(previewed, "confirm", "csrf"), step="import",
                notice=form_field(previewed, "confirm", "notice"))
    return await client.post("/calendar", data=dict(data, replace="1") if replace else data)


def written(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# ---- the years, the preview, the import ------------------------------------------------------------

async def test_an_operator_sees_each_years_state_and_a_preview_writes_nothing(console, calendar_dir):
    await sign_in(console, "operator")
    page = (await console.get("/calendar")).text
    assert '<a href="/calendar">节假日安排</a>' in page
    calendar = WorkingDayCalendar.load()
    for year in (clock.today().year, clock.today().year + 1):
        row = year_row(page, year)
        if calendar.is_provisional(year):
            assert "暂定" in row and f"{year}年放假安排尚未发布" in row
        else:
            assert "正式" in row and calendar.schedules[year].source in row

    answer = await preview(console)
    assert answer.status_code == 200
    page = answer.text
    assert SOURCE_2026 in page and "预览：2026年放假安排（尚未写入）" in page
    reading = read_notice(NOTICE_2026)
    assert listed(page, "preview-items") == [item.summary() for item in reading.items]
    assert SPRING_FESTIVAL in listed(page, "preview-items")
    assert listed(page, "preview-checks") == list(reading.checks)
    assert '<p id="preview-other-years">无</p>' in page
    assert form_field(page, "confirm", "notice") == NOTICE_2026 and "确认导入" in page and "替换已有文件" in page
    assert textarea(page) == NOTICE_2026
    assert written(calendar_dir) == []

    await console.get("/lang/en?next=/calendar")
    page = (await preview(console)).text
    assert "Holiday schedules" in page and "Preview: the 2026 holiday schedule (not written yet)" in page
    assert "Confirm the import" in page and SPRING_FESTIVAL in page  # the notice's own words stay Chinese
    assert written(calendar_dir) == []


async def test_confirming_writes_the_year_file_and_a_different_one_is_replaced_only_when_ticked(
        console, calendar_dir):
    await sign_in(console, "admin")
    answer = await confirm(console, (await preview(console)).text)
    assert answer.status_code == 303 and answer.headers["location"] == "/calendar?imported=2026"
    assert written(calendar_dir) == ["2026.notice.txt", "2026.yaml"]
    assert (calendar_dir / "2026.notice.txt").read_text(encoding="utf-8") == NOTICE_2026
    schedule = WorkingDayCalendar.load().schedules[2026]  # as the worker's watcher loads it
    assert schedule.source == f"{SOURCE_2026} — {calendar_dir / '2026.yaml'}"
    assert date(2026, 2, 23) in schedule.holidays and date(2026, 2, 14) in schedule.workdays
    assert IMPORTED in (await console.get(answer.headers["location"])).text

    # The same notice copied without its issuing date: another text for 2026, refused until ticked.
    other = NOTICE_2026.removesuffix("2025年11月4日\n")
    previewed = (await preview(console, other)).text
    refused = await confirm(console, previewed)
    assert refused.status_code == 409 and "2026年已有内容不同的日程文件" in refused.text
    assert 'id="confirm"' in refused.text  # the preview stays, to tick the box and confirm again
    assert (calendar_dir / "2026.notice.txt").read_text(encoding="utf-8") == NOTICE_2026
    replaced = await confirm(console, previewed, replace=True)
    assert replaced.status_code == 303
    assert (calendar_dir / "2026.notice.txt").read_text(encoding="utf-8") == other


async def test_a_damaged_notice_is_refused_by_its_line_with_the_text_kept(console, calendar_dir):
    await sign_in(console, "operator")
    answer = await preview(console, DAMAGED)
    assert answer.status_code == 400
    assert DAMAGED_LINE in html.unescape(answer.text)
    assert textarea(answer.text) == DAMAGED and 'id="confirm"' not in answer.text
    # The confirmation reads what it carries again: a text altered after its preview is refused too.
    page = (await console.get("/calendar")).text
    answer = await console.post("/calendar", data=dict(csrf=form_field(page, "paste", "csrf"), step="import",
                                                       notice=DAMAGED))
    assert answer.status_code == 400 and DAMAGED_LINE in html.unescape(answer.text)
    assert written(calendar_dir) == []


# ---- refusals ----------------------------------------------------------------------------------------

async def test_only_operators_and_administrators_reach_the_page(app, console, calendar_dir):
    answer = await console.get("/calendar")
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=/calendar"
    await console.post("/signin/dev", data=dict(role="handler", subject="handler-calendar", region="000000"))
    assert 'href="/calendar"' not in (await console.get("/")).text
    assert (await console.get("/calendar")).status_code == 403
    session_id = console.cookies[SESSION_COOKIE]
    handler = app.state.pages.sessions.token(session_id)  # the console keeps the token
    own_csrf = app.state.pages.csrf(Visitor(app.state.pages.verifier.verify(handler), handler, session_id=session_id))
    answer = await console.post("/calendar", data=dict(csrf=own_csrf, step="import", notice=NOTICE_2026))
    assert answer.status_code == 403 and "您无权执行此操作或查看此内容" in answer.text
    assert written(calendar_dir) == []
    await sign_in(console, "admin")
    assert 'href="/calendar"' in (await console.get("/")).text


async def test_a_post_without_the_sessions_csrf_token_is_refused(console, calendar_dir):
    await sign_in(console, "operator")
    answer = await console.post("/calendar", data=dict(step="import", notice=NOTICE_2026))
    assert answer.status_code == 403 and "表单已过期" in answer.text
    another_session = (await preview(console)).text  # a token of another sign-in then
    await sign_in(console, "operator", "operator-calendar-2")
    answer = await confirm(console, another_session)
    assert answer.status_code == 403 and textarea(answer.text) == NOTICE_2026
    assert written(calendar_dir) == []


# ---- in Chromium: the form's line breaks and the hidden field survive a real browser --------------------

@pytest.fixture
async def served(app):
    sock = free_socket()
    web = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    serving = asyncio.create_task(web.serve(sockets=[sock]))
    while not web.started:
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    web.should_exit = True
    await serving


async def test_in_a_browser_the_previewed_notice_is_imported_as_pasted(served, browser, calendar_dir):
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(20_000)
    await page.goto(f"{served}/signin?next=/calendar")
    await page.fill("#token", token("operator"))
    async with page.expect_navigation():
        await page.click("form[action='/signin'] button[type=submit]")
    await page.fill("#c-notice", NOTICE_2026)
    async with page.expect_navigation():
        await page.click("#paste button[type=submit]")
    assert SPRING_FESTIVAL in await page.inner_text("#preview-items")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-calendar.png"), full_page=True)
    async with page.expect_navigation():
        await page.click("#confirm button[type=submit]")
    assert IMPORTED in await page.inner_text("#imported")
    # The browser posts CRLF line breaks; the notice is kept as published, as the CLI keeps it.
    assert (calendar_dir / "2026.notice.txt").read_text(encoding="utf-8") == NOTICE_2026
    await context.close()
