"""Inspection tasks and campaigns end to end on Temporal's time-skipping server, once on SQLite
and once on PostgreSQL: inspectors' checks through the inspections service, the task workflows
on the suite's real worker, violations opening cases in the real complaints service, every date
computed from the rules file on the 2026 calendar (counted by hand in the comments: weekday
holidays 04-06, 05-01, 05-04, 05-05; 05-02 and 05-03 fall in the Labour Day break), and a
campaign of over a thousand targets fanned out in batches, continuing as new, closing with its
report."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import grpc
import httpx
import pytest

from console.app import build
from console.settings import Settings
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.inspections.v1 import inspections_pb2 as pb
from services.inspections import store
from tests.conftest import BACKENDS, metadata
from tests.grpc_checks import refused
from tests.test_console_routes import hidden, sign_in
from tests.inspections_world import (SUPERVISOR_MD, campaign_of, default_ratios, drawn_plan, eventually, key,
                                     province_codes, register_inspectors, world)
from contracts.inspections import AddTargetsOrder
from workflows.inspections.campaign import CampaignWorkflow
from workflows.inspections.task import InspectionTaskWorkflow

Code = grpc.StatusCode
BATCH_SIZE = 100
HISTORY_LIMIT = 600


@pytest.fixture(scope="module", params=BACKENDS)
async def w(request):
    async with world(request.param, agencies=1100, batch_size=BATCH_SIZE, history_limit=HISTORY_LIMIT) as running:
        yield running


def inspector(subject: str):
    return metadata("inspector", subject=subject)


async def all_started(w, campaign_id: str) -> pb.Campaign:
    """The campaign's record once it says every target started (the worker may be busy starting
    them; its record is written after each batch)."""
    async def check():
        campaign = (await w.inspections.GetCampaign(pb.GetCampaignRequest(campaign_id=campaign_id),
                                                    metadata=SUPERVISOR_MD)).campaign
        return campaign if campaign.progress.started == campaign.progress.targets else None
    return await eventually(check, attempts=1200)


async def tasks_of(w, campaign_id: str) -> list[pb.Task]:
    found, token = [], ""
    while True:
        page = await w.inspections.ListTasks(pb.ListTasksRequest(campaign_id=campaign_id, page_size=500,
                                                                 page_token=token), metadata=SUPERVISOR_MD)
        found += page.tasks
        token = page.next_page_token
        if not token:
            return sorted(found, key=lambda t: t.position)


async def check(w, task: pb.Task, outcome, category=0, findings="现场检查未发现违规", **fields) -> pb.Task:
    return (await w.inspections.RecordCheck(pb.RecordCheckRequest(
        idempotency_key=key(), task_id=task.id, outcome=outcome, category=category, findings=findings, **fields),
        metadata=inspector(task.inspector_ids[0]))).task


async def publish(w, task: pb.Task) -> pb.Task:
    return (await w.inspections.PublishResult(pb.PublishResultRequest(idempotency_key=key(), task_id=task.id),
                                              metadata=SUPERVISOR_MD)).task


async def progress(w, campaign_id: str):
    return (await w.env.client.get_workflow_handle(campaign_id).query(CampaignWorkflow.progress)).figures


async def small_campaign(w, province: str, prefix: str, starts_on: str, ends_on: str) -> tuple[pb.Campaign, list]:
    await register_inspectors(w.inspections, province, 3, prefix)
    record = await drawn_plan(w.inspections, [province], ratios=default_ratios(2000, 3000, 5000, 10000))
    campaign = await campaign_of(w.inspections, record, starts_on, ends_on)
    return campaign, record


# ---- one task at a time ----------------------------------------------------------------------

async def test_a_problem_is_ordered_rectified_rechecked_and_turned_into_a_case(w):
    await w.start_on("2026-04-01")
    campaign, _ = await small_campaign(w, "440000", "GD-", "2026-04-01", "2026-06-30")
    await all_started(w, campaign.id)
    task = (await tasks_of(w, campaign.id))[0]
    assert task.stage == pb.TASK_STAGE_ASSIGNED
    await refused(w.inspections.RecordCheck(pb.RecordCheckRequest(
        idempotency_key=key(), task_id=task.id, outcome=pb.CHECK_OUTCOME_PROBLEM, findings="宣传页承诺授权率"),
        metadata=inspector(task.inspector_ids[0])), Code.INVALID_ARGUMENT)
    error = await refused(w.inspections.RecordCheck(pb.RecordCheckRequest(
        idempotency_key=key(), task_id=task.id, outcome=pb.CHECK_OUTCOME_NO_PROBLEM, findings="未发现问题",
        effective_on="2026-04-02"), metadata=inspector(task.inspector_ids[0])), Code.INVALID_ARGUMENT)
    assert "future" in error.details()
    await refused(w.inspections.RecordRecheck(pb.RecordRecheckRequest(
        idempotency_key=key(), task_id=task.id, rectified=True, findings="已整改完毕"),
        metadata=inspector(task.inspector_ids[0])), Code.FAILED_PRECONDITION)

    checked = await check(w, task, pb.CHECK_OUTCOME_PROBLEM, cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING,
                          "官网宣称“授权率100%”，责令整改")
    # Rectification: 30 calendar days after 04-01 is 05-01, a holiday; the break runs to 05-05.
    assert (checked.stage, checked.rectify_due_on) == (pb.TASK_STAGE_RECTIFYING, "2026-05-06")
    # Publication: 20 working days after 04-01, 04-06 not counted.
    assert checked.publish_due_on == "2026-04-30" and checked.checked_on == "2026-04-01"
    await refused(w.inspections.RecordCheck(pb.RecordCheckRequest(
        idempotency_key=key(), task_id=task.id, outcome=pb.CHECK_OUTCOME_NO_PROBLEM, findings="再查一次"),
        metadata=inspector(task.inspector_ids[1])), Code.FAILED_PRECONDITION)

    await w.goto("2026-04-20")
    published = await publish(w, checked)
    assert published.published_on == "2026-04-20" and published.stage == pb.TASK_STAGE_RECTIFYING
    public = (await w.inspections.ListPublishedResults(pb.ListPublishedResultsRequest(
        credit_code=task.agency.credit_code))).results
    assert [(r.outcome, r.rectification, r.published_on, r.plan_id) for r in public] == [
        (pb.CHECK_OUTCOME_PROBLEM, "", "2026-04-20", campaign.plan_id)]

    await w.goto("2026-05-07")
    rechecked = (await w.inspections.RecordRecheck(pb.RecordRecheckRequest(
        idempotency_key=key(), task_id=task.id, rectified=False, findings="网站宣传仍未删除"),
        metadata=inspector(task.inspector_ids[1]))).task
    assert (rechecked.stage, rechecked.rechecked_on, rechecked.rectified) == (pb.TASK_STAGE_CLOSED, "2026-05-07", False)
    assert rechecked.case_id.startswith("case-2026-")
    case = (await w.complaints.GetCase(cpb.GetCaseRequest(case_id=rechecked.case_id),
                                       metadata=metadata("handler"))).case
    assert (case.summary.source, case.summary.category, case.source_reference) == (
        cpb.REPORT_SOURCE_INSPECTION, cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING, task.id)
    assert case.summary.agency_credit_code == task.agency.credit_code and "网站宣传仍未删除" in case.description
    public = (await w.inspections.ListPublishedResults(pb.ListPublishedResultsRequest(
        credit_code=task.agency.credit_code))).results
    assert [r.rectification for r in public] == ["not_rectified"]
    figures = await progress(w, campaign.id)
    assert (figures.checked, figures.problems, figures.violations, figures.cases_opened, figures.published) == (
        1, 1, 1, 1, 1)
    result = await w.env.client.get_workflow_handle_for(InspectionTaskWorkflow.run, task.id).result()
    assert result.stage == "closed"


async def test_a_violation_opens_one_case_and_a_late_publication_makes_the_task_overdue(w):
    await w.start_on("2026-03-02")
    campaign, _ = await small_campaign(w, "320000", "JSW-", "2026-03-02", "2026-06-30")
    await all_started(w, campaign.id)
    first, second = (await tasks_of(w, campaign.id))[:2]
    request = pb.RecordCheckRequest(idempotency_key=key(), task_id=first.id, outcome=pb.CHECK_OUTCOME_VIOLATION,
                                    category=cpb.VIOLATION_CATEGORY_CERTIFICATE_LENDING,
                                    findings="两名专利代理师证书挂靠，本人未在所执业")
    violation = (await w.inspections.RecordCheck(request, metadata=inspector(first.inspector_ids[0]))).task
    again = (await w.inspections.RecordCheck(request, metadata=inspector(first.inspector_ids[0]))).task
    assert violation.case_id and again.case_id == violation.case_id and violation.stage == pb.TASK_STAGE_CONCLUDED
    cases = (await w.complaints.ListCases(cpb.ListCasesRequest(agency_credit_code=first.agency.credit_code),
                                          metadata=metadata("handler"))).cases
    assert [c.case_id for c in cases] == [violation.case_id]

    clean = await check(w, second, pb.CHECK_OUTCOME_NO_PROBLEM)
    # 20 working days after Monday 03-02.
    assert clean.publish_due_on == "2026-03-30" and not clean.overdue
    await w.goto("2026-03-30")
    assert not (await w.inspections.GetTask(pb.GetTaskRequest(task_id=second.id), metadata=SUPERVISOR_MD)).task.overdue
    assert (await publish(w, violation)).stage == pb.TASK_STAGE_CLOSED  # on its last day
    await w.goto("2026-03-31")
    late = (await w.inspections.GetTask(pb.GetTaskRequest(task_id=second.id), metadata=SUPERVISOR_MD)).task
    assert late.overdue and late.stage == pb.TASK_STAGE_CONCLUDED
    published = await publish(w, late)
    assert (published.stage, published.published_on, published.overdue) == (pb.TASK_STAGE_CLOSED, "2026-03-31", True)
    await refused(w.inspections.PublishResult(pb.PublishResultRequest(idempotency_key=key(), task_id=second.id),
                                              metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)
    figures = await progress(w, campaign.id)
    assert (figures.checked, figures.no_problem, figures.violations, figures.cases_opened, figures.overdue,
            figures.published) == (2, 1, 1, 1, 1, 2)
    overdue = (await w.inspections.ListTasks(pb.ListTasksRequest(campaign_id=campaign.id, overdue_only=True),
                                             metadata=SUPERVISOR_MD)).tasks
    assert [t.id for t in overdue] == [second.id]


# ---- a campaign of over a thousand targets ------------------------------------------------------

async def test_a_campaign_fans_out_to_every_target_and_closes_with_its_report(w):
    await w.start_on("2026-03-02")
    provinces = province_codes(w.registry_url)
    for province in provinces:
        await register_inspectors(w.inspections, province, 3, f"ALL{province[:2]}-")
    record = await drawn_plan(w.inspections, provinces, all_in_scope=True, seed_value="2026-03-02 深证成指收盘 10123.45")
    assert len(record.targets) >= 1000
    campaign = await campaign_of(w.inspections, record, "2026-03-02", "2026-04-30")
    started = await all_started(w, campaign.id)
    assert started.progress.targets == started.progress.started == len(record.targets)

    tasks = await tasks_of(w, campaign.id)
    assert [t.position for t in tasks] == list(range(len(record.targets)))
    assert all(t.stage == pb.TASK_STAGE_ASSIGNED for t in tasks)
    await check(w, tasks[0], pb.CHECK_OUTCOME_NO_PROBLEM)
    await check(w, tasks[1], pb.CHECK_OUTCOME_NO_PROBLEM)
    await check(w, tasks[2], pb.CHECK_OUTCOME_PROBLEM, cpb.VIOLATION_CATEGORY_IMPROPER_SOLICITATION, "电话推销承诺包授权")
    await check(w, tasks[3], pb.CHECK_OUTCOME_VIOLATION, cpb.VIOLATION_CATEGORY_ABNORMAL_PATENT_FILING,
                "代理大量非正常专利申请")
    # Published while its rectification runs, the problem's task stays open. (A task that
    # finishes while the run that started it has continued as new would stall the time-skipping
    # test server's clock, a fault of that server alone: the dev server carries on, and
    # bench.campaign runs there.)
    await publish(w, tasks[2])
    figures = await progress(w, campaign.id)
    assert (figures.targets, figures.started, figures.checked, figures.no_problem, figures.problems,
            figures.violations, figures.cases_opened, figures.published, figures.overdue) == (
        len(tasks), len(tasks), 4, 2, 1, 1, 1, 1, 0)

    # Every run of the campaign stayed small: it continued as new as it fanned out.
    handle = w.env.client.get_workflow_handle_for(CampaignWorkflow.run, campaign.id)
    latest = await handle.fetch_history()
    run_id = latest.events[0].workflow_execution_started_event_attributes.first_execution_run_id
    lengths = []
    while run_id:
        history = await w.env.client.get_workflow_handle(campaign.id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes") else "")
    assert len(lengths) >= len(tasks) * 2 // HISTORY_LIMIT
    assert max(lengths) < HISTORY_LIMIT + 3 * BATCH_SIZE
    assert len((await w.env.client.get_workflow_handle(tasks[-1].id).fetch_history()).events) < 10

    await w.goto("2026-05-01")
    ended = (await w.inspections.GetCampaign(pb.GetCampaignRequest(campaign_id=campaign.id),
                                             metadata=SUPERVISOR_MD)).campaign
    # Unchecked at the end of the period: overdue, as are the three checks whose results were not
    # published by 03-30.
    unchecked = len(tasks) - 4
    assert ended.status == pb.CAMPAIGN_STATUS_ENDED
    assert (ended.report.ending, ended.report.closed_on) == (pb.CAMPAIGN_STATUS_ENDED, "2026-05-01")
    assert (ended.report.figures.checked, ended.report.figures.overdue, ended.report.figures.cases_opened,
            ended.report.figures.not_started) == (4, unchecked + 3, 1, 0)
    assert ended.progress == ended.report.figures
    report = await handle.result()
    assert report.figures.overdue == unchecked + 3
    overdue = (await w.inspections.ListTasks(pb.ListTasksRequest(campaign_id=campaign.id, overdue_only=True,
                                                                 page_size=500), metadata=SUPERVISOR_MD))
    assert len(overdue.tasks) == 500 and overdue.next_page_token


# ---- supervisors: add targets, extend, close early ----------------------------------------------

async def test_a_campaign_not_started_yet_drops_every_target_when_closed(w):
    await w.start_on("2026-03-02")
    campaign, record = await small_campaign(w, "420000", "HB-", "2026-06-01", "2026-06-30")
    closed = (await w.inspections.CloseCampaign(pb.CloseCampaignRequest(
        idempotency_key=key(), campaign_id=campaign.id, reason="上级部署调整，并入全省统一行动"), metadata=SUPERVISOR_MD)).campaign
    assert closed.status == pb.CAMPAIGN_STATUS_CLOSED_EARLY
    assert (closed.report.ending, closed.report.reason) == (pb.CAMPAIGN_STATUS_CLOSED_EARLY, "上级部署调整，并入全省统一行动")
    assert (closed.report.figures.started, closed.report.figures.not_started) == (0, len(record.targets))
    assert {t.stage for t in await tasks_of(w, campaign.id)} == {pb.TASK_STAGE_DROPPED}
    await refused(w.inspections.CloseCampaign(pb.CloseCampaignRequest(
        idempotency_key=key(), campaign_id=campaign.id, reason="again"), metadata=SUPERVISOR_MD), Code.FAILED_PRECONDITION)
    await refused(w.inspections.ExtendCampaign(pb.ExtendCampaignRequest(
        idempotency_key=key(), campaign_id=campaign.id, ends_on="2026-07-31", reason="延期"), metadata=SUPERVISOR_MD),
        Code.FAILED_PRECONDITION)


async def test_an_addition_announced_before_it_commits_is_started_once_it_has(w):
    """AddCampaignTargets tells the campaign from inside its transaction, so the campaign may ask
    for the new targets before they are there: it waits for them (on PostgreSQL under load the
    added task was otherwise never started)."""
    await w.start_on("2026-03-02")
    campaign, record = await small_campaign(w, "410000", "HNX-", "2026-03-02", "2026-03-31")
    await all_started(w, campaign.id)
    drawn = {t.credit_code for t in record.targets}
    extra = next(a for a in w.agencies_in("410000") if a.credit_code not in drawn)
    # The update as the service sends it, its transaction still open ...
    await w.env.client.get_workflow_handle(campaign.id).execute_update(
        CampaignWorkflow.add_targets, AddTargetsOrder(request_id="early", target_count=len(record.targets) + 1))
    await asyncio.sleep(2)  # the campaign finds no new target meanwhile
    # ... which then commits, and nothing tells the campaign again.
    async with w.inspections_store.sessions() as session, session.begin():
        locked = await w.inspections_store.lock_campaign(session, campaign.id)
        (added,) = await w.inspections_store.add_targets(session, locked, [store.NewTask(
            extra.credit_code, extra.name, extra.region_code, extra.kind, list(record.targets[0].inspector_ids))])
    started = await all_started(w, campaign.id)
    assert started.progress.targets == started.progress.started == len(record.targets) + 1
    task = (await w.inspections.GetTask(pb.GetTaskRequest(task_id=added.id), metadata=SUPERVISOR_MD)).task
    assert task.stage == pb.TASK_STAGE_ASSIGNED


async def test_targets_added_extended_and_closed_early_keeping_tasks_under_way(w):
    await w.start_on("2026-03-02")
    campaign, record = await small_campaign(w, "370000", "SDX-", "2026-03-02", "2026-03-31")
    await all_started(w, campaign.id)
    drawn = {t.credit_code for t in record.targets}
    extra = next(a for a in w.agencies_in("370000") if a.credit_code not in drawn)
    request = pb.AddCampaignTargetsRequest(idempotency_key=key(), campaign_id=campaign.id,
                                           agencies=[pb.TargetAgency(credit_code=extra.credit_code)],
                                           reason="群众举报线索较多，增列检查")
    added = await w.inspections.AddCampaignTargets(request, metadata=SUPERVISOR_MD)
    assert await w.inspections.AddCampaignTargets(request, metadata=SUPERVISOR_MD) == added  # a retry
    (task,) = added.added
    assert task.added and task.agency.credit_code == extra.credit_code and len(set(task.inspector_ids)) == 2
    assert task.position == len(record.targets)
    request.idempotency_key = key()
    await refused(w.inspections.AddCampaignTargets(request, metadata=SUPERVISOR_MD), Code.ALREADY_EXISTS)
    outside = w.agencies_in("110000")[0]
    error = await refused(w.inspections.AddCampaignTargets(pb.AddCampaignTargetsRequest(
        idempotency_key=key(), campaign_id=campaign.id, agencies=[pb.TargetAgency(credit_code=outside.credit_code)],
        reason="越界"), metadata=SUPERVISOR_MD), Code.INVALID_ARGUMENT)
    assert "outside" in error.details()
    started = await all_started(w, campaign.id)
    assert started.progress.targets == len(record.targets) + 1
    added_task = (await w.inspections.GetTask(pb.GetTaskRequest(task_id=task.id), metadata=SUPERVISOR_MD)).task
    assert added_task.stage == pb.TASK_STAGE_ASSIGNED

    extended = (await w.inspections.ExtendCampaign(pb.ExtendCampaignRequest(
        idempotency_key=key(), campaign_id=campaign.id, ends_on="2026-04-30", reason="检查对象增加，延长一个月"),
        metadata=SUPERVISOR_MD)).campaign
    assert extended.ends_on == "2026-04-30"
    await refused(w.inspections.ExtendCampaign(pb.ExtendCampaignRequest(
        idempotency_key=key(), campaign_id=campaign.id, ends_on="2026-04-01", reason="缩短"), metadata=SUPERVISOR_MD),
        Code.INVALID_ARGUMENT)
    await w.goto("2026-04-02")
    assert (await progress(w, campaign.id)).started == len(record.targets) + 1
    still = (await w.inspections.GetCampaign(pb.GetCampaignRequest(campaign_id=campaign.id),
                                             metadata=SUPERVISOR_MD)).campaign
    assert still.status == pb.CAMPAIGN_STATUS_RUNNING

    problem = await check(w, added_task, pb.CHECK_OUTCOME_PROBLEM, cpb.VIOLATION_CATEGORY_LOW_PRICE_COMPETITION,
                          "以低于成本价格招揽业务")
    assert problem.rectify_due_on == "2026-05-06"  # 04-02 + 30 days = 05-02, in the Labour Day break
    closed = (await w.inspections.CloseCampaign(pb.CloseCampaignRequest(
        idempotency_key=key(), campaign_id=campaign.id, reason="阶段性任务完成"), metadata=SUPERVISOR_MD)).campaign
    assert closed.status == pb.CAMPAIGN_STATUS_CLOSED_EARLY
    assert (closed.report.figures.targets, closed.report.figures.checked, closed.report.figures.problems,
            closed.report.figures.not_started) == (len(record.targets) + 1, 1, 1, 0)

    # The task under way goes on after the campaign closed: its re-check still opens a case.
    await w.goto("2026-05-07")
    rechecked = (await w.inspections.RecordRecheck(pb.RecordRecheckRequest(
        idempotency_key=key(), task_id=task.id, rectified=False, findings="仍以低价招揽"),
        metadata=inspector(added_task.inspector_ids[0]))).task
    assert rechecked.case_id and rechecked.stage == pb.TASK_STAGE_CONCLUDED
    after = (await w.inspections.GetCampaign(pb.GetCampaignRequest(campaign_id=campaign.id),
                                             metadata=SUPERVISOR_MD)).campaign
    assert after.report == closed.report
    state = await w.env.client.get_workflow_handle(task.id).query(InspectionTaskWorkflow.state)
    assert state.case_id == rechecked.case_id and state.allowed_actions == ["publish"]


# ---- at the console --------------------------------------------------------------------------

@asynccontextmanager
async def console_of(w):
    """The console on the world's services, as `ipss up` serves it (development sign-in on)."""
    app = build(Settings(w.registry_address, w.complaints_address, dev_signin=True,
                         inspections_address=w.inspections_address))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as console:
            yield console
    finally:
        await app.state.backend.close()


async def test_an_inspector_records_the_check_and_a_supervisor_publishes_it_at_the_console(w):
    await w.start_on("2026-04-01")
    campaign, _ = await small_campaign(w, "350000", "FJ-", "2026-04-01", "2026-06-30")
    await all_started(w, campaign.id)
    task = (await tasks_of(w, campaign.id))[0]
    assert list(task.allowed_actions) == ["check"]
    page_path = f"/inspections/tasks/{task.id}"
    async with console_of(w) as console:
        await sign_in(console, "inspector", "350000", subject=task.inspector_ids[0])
        page = (await console.get(page_path)).text
        assert 'id="action-check"' in page and 'id="action-publish"' not in page
        posted = dict(csrf=hidden(page, "csrf", f"{page_path}/actions/check"), outcome=str(pb.CHECK_OUTCOME_PROBLEM),
                      idempotency_key=hidden(page, "idempotency_key", f"{page_path}/actions/check"), findings="")
        refusal = await console.post(f"{page_path}/actions/check", data=posted)
        # Findings are required, and a problem names its category: the page says which, keeping the input.
        assert refusal.status_code == 400 and 'aria-invalid="true"' in refusal.text
        posted.update(category=str(cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING), findings="官网宣称授权率百分之百")
        done = await console.post(f"{page_path}/actions/check", data=posted)
        assert done.status_code == 303 and done.headers["location"] == f"{page_path}?done=check"
        page = (await console.get(done.headers["location"])).text
        assert "官网宣称授权率百分之百" in page and 'id="action-check"' not in page
        assert 'id="action-recheck"' in page  # a problem is re-checked after its rectification

        await sign_in(console, "inspector", "350000", subject="FJ-999")  # not paired to this task
        assert 'id="action-recheck"' not in (await console.get(page_path)).text

        await sign_in(console, "supervisor", "350000")
        page = (await console.get(page_path)).text
        assert 'id="action-publish"' in page and 'id="action-recheck"' not in page
        published = await console.post(f"{page_path}/actions/publish", data=dict(
            csrf=hidden(page, "csrf", f"{page_path}/actions/publish"),
            idempotency_key=hidden(page, "idempotency_key", f"{page_path}/actions/publish")))
        assert published.status_code == 303
    task = (await w.inspections.GetTask(pb.GetTaskRequest(task_id=task.id), metadata=SUPERVISOR_MD)).task
    assert (task.stage, task.outcome, task.published_on) == (
        pb.TASK_STAGE_RECTIFYING, pb.CHECK_OUTCOME_PROBLEM, "2026-04-01")
    assert list(task.allowed_actions) == ["recheck"]


async def test_a_supervisor_adds_targets_extends_and_closes_a_campaign_at_the_console(w):
    await w.start_on("2026-03-02")
    campaign, record = await small_campaign(w, "330000", "ZJW-", "2026-03-02", "2026-03-31")
    drawn = {t.credit_code for t in record.targets}
    extra = next(a for a in w.agencies_in("330000") if a.credit_code not in drawn)
    path = f"/inspections/campaigns/{campaign.id}"

    async def post(console, action: str, **fields):
        page = (await console.get(path)).text
        return await console.post(f"{path}/actions/{action}", data=dict(
            csrf=hidden(page, "csrf", f"{path}/actions/{action}"),
            idempotency_key=hidden(page, "idempotency_key", f"{path}/actions/{action}"), **fields))

    async with console_of(w) as console:
        await sign_in(console, "handler", "330000")
        page = await console.get(path)
        assert page.status_code == 200 and 'id="action-extend"' not in page.text  # supervisors only
        await sign_in(console, "supervisor", "330000")
        page = (await console.get(path)).text
        assert all(f'id="action-{a}"' in page for a in ("add_targets", "extend", "close_campaign"))
        assert 'name="effective_on"' not in page

        added = await post(console, "add_targets", agencies=f"{extra.credit_code.lower()}\n", reason="举报线索较多，增列检查")
        assert added.status_code == 303 and added.headers["location"] == f"{path}?done=add_targets"
        assert extra.credit_code in {t.agency.credit_code for t in await tasks_of(w, campaign.id)}
        refused_page = await post(console, "extend", ends_on="2026-03-01", reason="缩短")
        assert refused_page.status_code == 400 and 'aria-invalid="true"' in refused_page.text
        assert (await post(console, "extend", ends_on="2026-04-30", reason="检查对象增加，延长一个月")).status_code == 303
        closed = await post(console, "close_campaign", reason="阶段性任务完成")
        assert closed.status_code == 303
        page = (await console.get(path)).text
        assert 'id="action-extend"' not in page and "阶段性任务完成" in page
    final = (await w.inspections.GetCampaign(pb.GetCampaignRequest(campaign_id=campaign.id),
                                             metadata=SUPERVISOR_MD)).campaign
    assert (final.ends_on, final.status) == ("2026-04-30", pb.CAMPAIGN_STATUS_CLOSED_EARLY)
