"""The inspections pages (双随机一公开 and 专项整治): the campaigns with their progress, a campaign
with its tasks, a plan with its published draw record and how anyone checks it, and a task with
its result. An inspector (执法检查人员) signs in to their own tasks; what each role may read beyond
that is the inspections service's decision, by the roles its RPCs declare, shown as a refusal.
The public (the 一公开 of 双随机一公开) reads the published results and every draw record, asked
for as the public whoever is signed in."""

from __future__ import annotations

import asyncio
import uuid

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console import forms, refusals
from console.backend import Backend, ServiceError
from console.officers import failed_page, officer, post_action
from console.web import OFFICERS, Pages, Visitor, language
from ipss.complaints.v1 import complaints_pb2 as cpb
from ipss.inspections.v1 import inspections_pb2 as pb
from ipss.registry.v1 import registry_pb2 as rpb
from suite.grpc_server import allowed_roles
from suite.protos import enum_value, enum_word, enum_words, optional_word

INSPECTOR = "inspector"
# Who reaches these pages at all; the service then refuses an inspector the campaigns and plans.
STAFF = OFFICERS | {INSPECTOR}
PAGE_SIZE = 50
SERVICE = pb.DESCRIPTOR.services_by_name["InspectionsService"].full_name
CAMPAIGN_STATUS = pb.CampaignStatus.DESCRIPTOR
TASK_STAGE = pb.TaskStage.DESCRIPTOR
# The enums the pages name, by the i18n vocabulary that labels them.
VOCABULARIES = {
    "campaign_kind": pb.CampaignKind.DESCRIPTOR, "campaign_status": CAMPAIGN_STATUS,
    "plan_status": pb.PlanStatus.DESCRIPTOR, "task_stage": TASK_STAGE, "check_outcome": pb.CheckOutcome.DESCRIPTOR,
    "risk_class": pb.RiskClass.DESCRIPTOR, "agency_kind": rpb.AgencyKind.DESCRIPTOR,
    "category": cpb.ViolationCategory.DESCRIPTOR}
PROGRESS_FIELDS = [f.name for f in pb.CampaignProgress.DESCRIPTOR.fields]


CAMPAIGN_STATUSES = enum_words(CAMPAIGN_STATUS)
TASK_STAGES = enum_words(TASK_STAGE)


def staff(request: Request) -> tuple[Pages, Backend, Visitor, Response | None]:
    return officer(request, STAFF)


def render(request: Request, pages: Pages, template: str, status_code: int = 200, **context) -> Response:
    """A page with `term(vocabulary, number)`: an enum value in the reader's words."""
    lang = language(request)
    return pages.render(request, template, status_code, term=lambda vocabulary, number: pages.label(
        lang, vocabulary, optional_word(VOCABULARIES[vocabulary], number)), **context)


def pager(params, next_token: str) -> dict:
    """The links to the first page (when not on it) and the next one, keeping the filters."""
    filters = {k: v for k, v in params.items() if k != "page"}
    return dict(first_query=filters if params.get("page") else None,
                next_query=dict(filters, page=next_token) if next_token else None)


def task_listing(params, campaign_id: str = "") -> pb.ListTasksRequest:
    listing = pb.ListTasksRequest(campaign_id=campaign_id, page_size=PAGE_SIZE, page_token=params.get("page", ""),
                                  overdue_only=bool(params.get("overdue")))
    if params.get("stage") in TASK_STAGES:
        listing.stages.append(enum_value(TASK_STAGE, params["stage"]))
    return listing


def figures(progress: pb.CampaignProgress) -> list[dict]:
    """Each figure with its share of the targets, so that progress reads at a glance."""
    return [dict(name=name, count=getattr(progress, name),
                 share=getattr(progress, name) / progress.targets if progress.targets and name != "targets" else None)
            for name in PROGRESS_FIELDS]


def record_filename(plan_id: str) -> str:
    return f"draw-record-{plan_id}.json.gz"


# ---- the first page: campaigns, or an inspector's own tasks ---------------------------------------

async def overview(request: Request, failed_action: str = "", error: dict | None = None, posted: dict | None = None,
                   status_code: int = 200) -> Response:
    """What a supervisor sees first, the campaigns in their scope and a new plan's form; an
    inspector, their own tasks."""
    pages, backend, visitor, refusal = staff(request)
    if refusal:
        return refusal
    params = request.query_params
    try:
        if visitor.principal.role == INSPECTOR:
            tasks = await backend.call(backend.inspections.ListTasks, task_listing(params), visitor.token)
            return render(request, pages, "inspections_mine.html", tasks=list(tasks.tasks), filters=params,
                          stages=TASK_STAGES, **pager(params, tasks.next_page_token))
        listing = pb.ListCampaignsRequest(page_size=PAGE_SIZE, page_token=params.get("page", ""))
        if params.get("status") in CAMPAIGN_STATUSES:
            listing.statuses.append(enum_value(CAMPAIGN_STATUS, params["status"]))
        campaigns = await backend.call(backend.inspections.ListCampaigns, listing, visitor.token)
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    offered = [name for name, form in forms.NEW_PLAN_FORMS.items() if may_ask(visitor, form)]
    return render(request, pages, "inspections.html", status_code, campaigns=list(campaigns.campaigns),
                  filters=params, statuses=CAMPAIGN_STATUSES, **pager(params, campaigns.next_page_token),
                  **action_context(request, forms.NEW_PLAN_FORMS, offered, failed_action, error, posted))


# ---- a campaign, a plan with its draw record, a task -----------------------------------------------

async def campaign_page(request: Request, failed_action: str = "", error: dict | None = None,
                        posted: dict | None = None, status_code: int = 200) -> Response:
    pages, backend, visitor, refusal = staff(request)
    if refusal:
        return refusal
    campaign_id = request.path_params["campaign_id"]
    params = request.query_params
    try:
        found, tasks = await asyncio.gather(
            backend.call(backend.inspections.GetCampaign, pb.GetCampaignRequest(campaign_id=campaign_id),
                         visitor.token),
            backend.call(backend.inspections.ListTasks, task_listing(params, campaign_id), visitor.token))
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    campaign = found.campaign
    report = figures(campaign.report.figures) if campaign.HasField("report") else None
    offered = [name for name, form in forms.CAMPAIGN_ACTION_FORMS.items()
               if campaign.status == pb.CAMPAIGN_STATUS_RUNNING and may_ask(visitor, form)]
    return render(request, pages, "campaign.html", status_code, campaign=campaign, progress=figures(campaign.progress),
                  report=report, tasks=list(tasks.tasks), filters=params, stages=TASK_STAGES,
                  workflow_url=pages.settings.workflow_url(campaign.workflow_id),
                  **action_context(request, forms.CAMPAIGN_ACTION_FORMS, offered, failed_action, error, posted),
                  **pager(params, tasks.next_page_token))


async def plan_page(request: Request, failed_action: str = "", error: dict | None = None, posted: dict | None = None,
                    status_code: int = 200) -> Response:
    """The plan, and once drawn its published record: the draw record exists only then."""
    pages, backend, visitor, refusal = staff(request)
    if refusal:
        return refusal
    plan_id = request.path_params["plan_id"]
    try:
        plan = (await backend.call(backend.inspections.GetPlan, pb.GetPlanRequest(plan_id=plan_id),
                                   visitor.token)).plan
        record = None
        if plan.status == pb.PLAN_STATUS_DRAWN:
            record = (await backend.call(backend.inspections.GetDrawRecord, pb.GetDrawRecordRequest(plan_id=plan_id),
                                         visitor.token)).record
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    status = enum_word(pb.PlanStatus.DESCRIPTOR, plan.status)
    offered = [name for name, form in forms.PLAN_ACTION_FORMS.items()
               if forms.PLAN_ACTION_STATUS[name] == status and may_ask(visitor, form)
               and not (name == "create_campaign" and plan.campaign_id)]
    return render(request, pages, "plan.html", status_code, plan=plan, record=record,
                  record_filename=record_filename(plan.id),
                  **action_context(request, forms.PLAN_ACTION_FORMS, offered, failed_action, error, posted))


async def draw_record_file(request: Request) -> Response:
    pages, backend, visitor, refusal = staff(request)
    if refusal:
        return refusal
    return await record_download(request, pages, backend, visitor.token)


async def record_download(request: Request, pages: Pages, backend: Backend, token: str) -> Response:
    """The complete published record (snapshot and inspector pool included), as the service gives
    it: gzip-compressed canonical JSON, which `ipss draw verify` reads as it is."""
    plan_id = request.path_params["plan_id"]
    try:
        exported = await backend.call(backend.inspections.ExportDrawRecord,
                                      pb.ExportDrawRecordRequest(plan_id=plan_id), token)
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    return Response(exported.document, media_type="application/gzip", headers={
        "Content-Disposition": f'attachment; filename="{record_filename(plan_id)}"'})


async def task_page(request: Request, failed_action: str = "", error: dict | None = None, posted: dict | None = None,
                    status_code: int = 200) -> Response:
    pages, backend, visitor, refusal = staff(request)
    if refusal:
        return refusal
    try:
        task = (await backend.call(backend.inspections.GetTask,
                                   pb.GetTaskRequest(task_id=request.path_params["task_id"]), visitor.token)).task
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    # A task's workflow id is its id.
    return render(request, pages, "inspection_task.html", status_code, task=task, effective_on=forms.EFFECTIVE_ON,
                  workflow_url=pages.settings.workflow_url(task.id),
                  **action_context(request, forms.TASK_ACTION_FORMS, offered_actions(task, visitor), failed_action,
                                   error, posted))


def action_context(request: Request, table: dict[str, forms.ActionForm], offered: list[str], failed_action: str,
                   error: dict | None, posted: dict | None) -> dict:
    """What a page's action forms need: each offered form with a fresh idempotency key, the last
    attempt's refusal and input, and the action just taken (?done=)."""
    done = request.query_params.get("done", "")
    return dict(actions=[dict(name=name, form=table[name], key=uuid.uuid4().hex) for name in offered],
                failed_action=failed_action, error=error, posted=posted or {}, options=forms.options,
                done=done if done in table else "")


def offered_actions(task: pb.Task, visitor: Visitor) -> list[str]:
    """What the task's workflow allows now (its record says), that the visitor's role may ask
    for (the RPC's declared roles); an inspector only on a task they are paired to."""
    role = visitor.principal.role
    if role == INSPECTOR and visitor.principal.subject not in task.inspector_ids:
        return []
    return [name for name in task.allowed_actions
            if name in forms.TASK_ACTION_FORMS and may_ask(visitor, forms.TASK_ACTION_FORMS[name])]


def may_ask(visitor: Visitor, form: forms.ActionForm) -> bool:
    """Whether the visitor's role is among those the form's RPC declares."""
    return visitor.principal.role in (allowed_roles(f"/{SERVICE}/{form.rpc}") or ())


async def act_on_task(request: Request) -> Response:
    return await act(request, "task_id", forms.TASK_ACTION_FORMS, task_page)


async def act_on_campaign(request: Request) -> Response:
    return await act(request, "campaign_id", forms.CAMPAIGN_ACTION_FORMS, campaign_page)


async def act_on_plan(request: Request) -> Response:
    return await act(request, "plan_id", forms.PLAN_ACTION_FORMS, plan_page)


async def start_plan(request: Request) -> Response:
    return await act(request, "", forms.NEW_PLAN_FORMS, overview)


async def act(request: Request, id_field: str, action_forms: dict, page) -> Response:
    pages, backend, visitor, refusal = staff(request)
    if refusal:
        return refusal
    action = request.path_params["action"]
    form = action_forms.get(action)
    if form is None:
        return Response(status_code=404)
    subject = {id_field: request.path_params[id_field]} if id_field else {}
    return await post_action(
        request, form, lambda key: getattr(pb, f"{form.rpc}Request")(idempotency_key=key, **subject),
        lambda message: backend.call(getattr(backend.inspections, form.rpc), message, visitor.token),
        lambda error, values, status: page(request, action, error, values, status),
        lambda answer: f"{page_of(answer)}?done={action}")


def page_of(answer) -> str:
    """The page of what an action's answer carries: the task, campaign or plan it changed or made."""
    for field, path in (("task", "/inspections/tasks/"), ("campaign", "/inspections/campaigns/"),
                        ("plan", "/inspections/plans/")):
        if field in answer.DESCRIPTOR.fields_by_name:
            return path + getattr(answer, field).id
    return f"/inspections/plans/{answer.record.plan_id}"


# ---- the public: published results (检查结果公示) and draw records ----------------------------------

async def published_results(request: Request) -> Response:
    """Every published result, newest campaigns' and all; narrowed to one agency by its credit code."""
    pages: Pages = request.app.state.pages
    backend: Backend = request.app.state.backend
    params = request.query_params
    credit_code = params.get("credit_code", "").strip().upper()
    try:
        found = await backend.call(backend.inspections.ListPublishedResults, pb.ListPublishedResultsRequest(
            credit_code=credit_code, page_size=PAGE_SIZE, page_token=params.get("page", "")))
    except ServiceError as refused:
        if refused.code != grpc.StatusCode.INVALID_ARGUMENT:
            return failed_page(request, pages, refused)
        error = "; ".join(refusals.field_words(pages, language(request), refused).values())
        return render(request, pages, "public_results.html", 400, results=[], credit_code=credit_code, error=error,
                      **pager(params, ""))
    return render(request, pages, "public_results.html", results=list(found.results), credit_code=credit_code,
                  error="", **pager(params, found.next_page_token))


async def public_draw(request: Request) -> Response:
    pages: Pages = request.app.state.pages
    backend: Backend = request.app.state.backend
    plan_id = request.path_params["plan_id"]
    try:
        commitment = (await backend.call(backend.inspections.GetDrawCommitment,
                                         pb.GetDrawCommitmentRequest(plan_id=plan_id))).commitment
    except ServiceError as refused:
        if refused.code != grpc.StatusCode.NOT_FOUND:
            return failed_page(request, pages, refused)
        commitment = None  # a plan drawn before commitments were kept
    try:
        record = None
        if commitment is None or commitment.drawn:
            record = (await backend.call(backend.inspections.GetDrawRecord,
                                         pb.GetDrawRecordRequest(plan_id=plan_id))).record
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    # Before the draw the page shows the plan's commitment alone, which anyone can hold the draw to.
    return render(request, pages, "public_draw.html", record=record, commitment=commitment, plan_id=plan_id,
                  record_filename=record_filename(plan_id))


async def public_draw_file(request: Request) -> Response:
    return await record_download(request, request.app.state.pages, request.app.state.backend, "")


def routes() -> list[Route]:
    return [
        Route("/inspections", overview),
        Route("/inspections/actions/{action}", start_plan, methods=["POST"]),
        Route("/inspections/campaigns/{campaign_id}", campaign_page),
        Route("/inspections/campaigns/{campaign_id}/actions/{action}", act_on_campaign, methods=["POST"]),
        Route("/inspections/plans/{plan_id}", plan_page),
        Route("/inspections/plans/{plan_id}/actions/{action}", act_on_plan, methods=["POST"]),
        Route("/inspections/plans/{plan_id}/draw-record.json.gz", draw_record_file),
        Route("/inspections/tasks/{task_id}", task_page),
        Route("/inspections/tasks/{task_id}/actions/{action}", act_on_task, methods=["POST"]),
        Route("/register/inspections", published_results),
        Route("/register/draws/{plan_id}", public_draw),
        Route("/register/draws/{plan_id}/draw-record.json.gz", public_draw_file),
    ]
