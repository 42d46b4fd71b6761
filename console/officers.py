"""The officers' pages (办案控制台): the queues, the case page with the actions the workflow allows
now, the supervisor's inbox (escalations of missed periods to take or reassign, and approvals), the
handler's notifications, the navigation's counts of both, statistics and the CSV export."""

from __future__ import annotations

import contextlib
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta

import grpc
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from console import charts, forms, i18n, refusals, timeline
from console.backend import Backend, ServiceError
from console.web import OFFICERS, Pages, Visitor, language, region_name
from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.registry.v1 import registry_pb2 as rpb
from suite import clock
from suite.clock import CHINA
from suite.protos import enum_value, enum_words, optional_word
from contracts.case_actions import CASE_ACTIONS

QUEUE_PAGE_SIZE = 50
EXPORT_PAGE_SIZE = 1000
STAGE = pb.CaseStage.DESCRIPTOR
CATEGORY = pb.ViolationCategory.DESCRIPTOR
OUTCOME = pb.CaseOutcome.DESCRIPTOR
SOURCE = pb.ReportSource.DESCRIPTOR
REFERRAL_ANSWER = pb.ReferralAnswer.DESCRIPTOR
SUBJECT_KIND = pb.SubjectKind.DESCRIPTOR
STAGES = enum_words(STAGE)
CATEGORIES = enum_words(CATEGORY)
STATUS_OF_CODE = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 409,
                  grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.UNAUTHENTICATED: 401,
                  grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409,
                  grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DEADLINE_EXCEEDED: 504}


def http_status(error: ServiceError) -> int:
    return STATUS_OF_CODE.get(error.code, 500)


def error_view(request: Request, error: ServiceError) -> dict:
    """What a page shows of a refusal, in the reader's words: a heading by its status, what it
    says by its reason and values (a workflow's refusals name dates and periods), and each
    field's violations."""
    pages: Pages = request.app.state.pages
    lang = language(request)
    key = f"error.{error.code.name}"
    heading = i18n.text(lang, key if i18n.known(lang, key) else "error.OTHER")
    detail = "" if error.fields else refusals.detail(pages, lang, error)
    return dict(heading=heading, detail=detail, fields=refusals.field_words(pages, lang, error))


def officer(request: Request, roles: frozenset[str] = OFFICERS) -> tuple[Pages, Backend, Visitor, Response | None]:
    """The page's tools and visitor; a response instead when the visitor is not signed in with one
    of `roles` (the officers unless a page names others)."""
    pages: Pages = request.app.state.pages
    visitor = pages.visitor(request)
    refusal = None
    if visitor.principal.role not in roles:
        if visitor.token:
            refusal = pages.render(request, "error.html", 403, error=dict(
                heading=i18n.text(language(request), "error.PERMISSION_DENIED"), detail="", fields={}))
        else:
            refusal = RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
    return pages, request.app.state.backend, visitor, refusal


def failed_page(request: Request, pages: Pages, error: ServiceError) -> Response:
    return pages.render(request, "error.html", http_status(error), error=error_view(request, error))


# ---- the queues ---------------------------------------------------------------------------------

def queue_request(params, visitor: Visitor, view: str) -> pb.ListCasesRequest:
    request = pb.ListCasesRequest(page_size=QUEUE_PAGE_SIZE, page_token=params.get("page", ""),
                                  region_code=params.get("region", "").strip(),
                                  agency_credit_code=params.get("agency", "").strip(),
                                  overdue_only=bool(params.get("overdue")))
    if params.get("stage") in STAGES:
        request.stages.append(enum_value(STAGE, params["stage"]))
    if params.get("category") in CATEGORIES:
        request.categories.append(enum_value(CATEGORY, params["category"]))
    if view == "mine":
        request.assignee = visitor.principal.subject
    return request


async def queue(request: Request) -> Response:
    pages, backend, visitor, refusal = officer(request)
    if refusal:
        return refusal
    params = request.query_params
    view = "mine" if params.get("view") == "mine" else "office"
    error = None
    cases, next_token = [], ""
    try:
        answer = await backend.call(backend.complaints.ListCases, queue_request(params, visitor, view), visitor.token)
        cases, next_token = list(answer.cases), answer.next_page_token
    except ServiceError as refused:
        if refused.code not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED):
            return failed_page(request, pages, refused)
        error = error_view(request, refused)
    next_query = dict(params, page=next_token) if next_token else None
    return pages.render(request, "queue.html", 400 if error else 200, view=view, cases=cases, filters=params,
                        stages=STAGES, categories=CATEGORIES, error=error, next_query=next_query, word=optional_word,
                        STAGE=STAGE, CATEGORY=CATEGORY)


# ---- the supervisor's inbox: escalations (超期督办) and approvals -----------------------------------

INBOX_PAGE_SIZE = 200
SUPERVISORS = frozenset({"supervisor"})
REASSIGN_FORM = forms.ACTION_FORMS["reassign"]
INBOX_DONE = ("acknowledge", "reassign")


async def inbox(request: Request, failed: int = 0, error: dict | None = None, posted=None,
                status_code: int = 200) -> Response:
    """The escalations waiting for the region's supervisors or taken by this one, the most overdue
    first, each to take or to reassign on the spot; then what waits for approval. `failed` names
    the escalation whose form was refused (its input kept, its refusal beside it)."""
    pages, backend, visitor, refusal = officer(request)
    if refusal:
        return refusal
    escalations, open_count = None, 0
    try:
        if visitor.principal.role in SUPERVISORS:
            found = await backend.call(backend.complaints.ListEscalations, pb.ListEscalationsRequest(
                page_size=INBOX_PAGE_SIZE), visitor.token)
            escalations, open_count = list(found.escalations), found.open_count
        approvals = await backend.call(backend.complaints.ListCases, pb.ListCasesRequest(
            awaiting_approval=True, page_size=INBOX_PAGE_SIZE), visitor.token)
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    done = request.query_params.get("done", "")
    return pages.render(request, "inbox.html", status_code, escalations=escalations, open_count=open_count,
                        cases=list(approvals.cases), reassign=REASSIGN_FORM, failed=failed, error=error,
                        posted=posted or {}, key=uuid.uuid4().hex, done=done if done in INBOX_DONE else "",
                        word=optional_word, STAGE=STAGE, CATEGORY=CATEGORY)


async def acknowledge(request: Request) -> Response:
    """A supervisor takes an escalation from the region's pool."""
    pages, backend, visitor, refusal = officer(request, SUPERVISORS)
    if refusal:
        return refusal
    escalation_id = int(request.path_params["escalation_id"])
    posted = await request.form()
    if not pages.csrf_ok(visitor, str(posted.get("csrf", ""))):
        return await inbox(request, escalation_id, dict(heading=i18n.text(language(request), "error.csrf"),
                                                        detail="", fields={}), status_code=403)
    try:
        await backend.call(backend.complaints.AcknowledgeEscalation,
                           pb.AcknowledgeEscalationRequest(escalation_id=escalation_id), visitor.token)
    except ServiceError as refused:
        return await inbox(request, escalation_id, error_view(request, refused), status_code=http_status(refused))
    return RedirectResponse("/inbox?done=acknowledge", status_code=303)


async def reassign_from_inbox(request: Request) -> Response:
    """The reassignment of an escalated case, from its row of the inbox: the case action
    `reassign`, back to the inbox once taken."""
    pages, backend, visitor, refusal = officer(request, SUPERVISORS)
    if refusal:
        return refusal
    escalation_id, case_id = int(request.path_params["escalation_id"]), request.path_params["case_id"]
    return await post_action(
        request, REASSIGN_FORM, lambda key: pb.ReassignCaseRequest(idempotency_key=key, case_id=case_id),
        lambda message: backend.call(backend.complaints.ReassignCase, message, visitor.token),
        lambda error, values, status: inbox(request, escalation_id, error, values, status), "/inbox?done=reassign")


# ---- a handler's notifications (办案提醒) --------------------------------------------------------------

HANDLING = frozenset({"handler", "supervisor"})


async def notifications(request: Request) -> Response:
    pages, backend, visitor, refusal = officer(request, HANDLING)
    if refusal:
        return refusal
    try:
        found = await backend.call(backend.complaints.ListNotifications, pb.ListNotificationsRequest(
            page_size=QUEUE_PAGE_SIZE, page_token=request.query_params.get("page", "")), visitor.token)
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    return pages.render(request, "notifications.html", notifications=list(found.notifications),
                        unread=found.unread_count, next_page=found.next_page_token,
                        kind=lambda value: optional_word(pb.NotificationKind.DESCRIPTOR, value), word=optional_word,
                        STAGE=STAGE)


async def mark_read(request: Request) -> Response:
    pages, backend, visitor, refusal = officer(request, HANDLING)
    if refusal:
        return refusal
    posted = await request.form()
    if pages.csrf_ok(visitor, str(posted.get("csrf", ""))):
        try:
            await backend.call(backend.complaints.MarkNotificationRead, pb.MarkNotificationReadRequest(
                notification_id=int(request.path_params["notification_id"])), visitor.token)
        except ServiceError as refused:
            return failed_page(request, pages, refused)
    return RedirectResponse("/notifications", status_code=303)


async def badges(backend: Backend, visitor: Visitor) -> dict[str, int]:
    """What the navigation counts for the visitor: escalations waiting for a supervisor of their
    region, and their own unread notifications. A count the services cannot give now is left
    out: the page does not wait on it or fail for it."""
    counted: dict[str, int] = {}
    role = visitor.principal.role
    if role in SUPERVISORS:
        with contextlib.suppress(ServiceError):
            counted["escalations"] = (await backend.call(backend.complaints.ListEscalations, pb.ListEscalationsRequest(
                page_size=1), visitor.token)).open_count
    if role in HANDLING:
        with contextlib.suppress(ServiceError):
            counted["notifications"] = (await backend.call(
                backend.complaints.ListNotifications, pb.ListNotificationsRequest(unread_only=True, page_size=1),
                visitor.token)).unread_count
    return counted


# ---- the case page and its actions ------------------------------------------------------------------

def offered_actions(case: pb.Case, role: str) -> list[str]:
    """The actions the workflow allows now, less those the procedure keeps from the visitor's role."""
    return [a for a in case.allowed_actions
            if a in forms.ACTION_FORMS and role in CASE_ACTIONS[a].roles]


async def case_page(request: Request, failed_action: str = "", error: dict | None = None, posted=None,
                    status_code: int = 200) -> Response:
    pages, backend, visitor, refusal = officer(request)
    if refusal:
        return refusal
    case_id = request.path_params["case_id"]
    try:
        case = (await backend.call(backend.complaints.GetCase, pb.GetCaseRequest(case_id=case_id), visitor.token)).case
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    lang = language(request)
    posted = posted or {}
    actions = [dict(name=a, form=forms.ACTION_FORMS[a],
                    key=posted.get("idempotency_key") if a == failed_action else uuid.uuid4().hex)
               for a in offered_actions(case, visitor.principal.role)]
    deadlines = [dict(d=d, description=pages.period_description(lang, d.period_id, d.description))
                 for d in case.deadlines]
    done = request.query_params.get("done", "")
    return pages.render(
        request, "case.html", status_code, case=case, s=case.summary, actions=actions, deadlines=deadlines,
        failed_action=failed_action, error=error, posted=posted, options=forms.options,
        effective_on=forms.EFFECTIVE_ON, done=done if done in forms.ACTION_FORMS else "", word=optional_word,
        STAGE=STAGE, CATEGORY=CATEGORY, OUTCOME=OUTCOME, SOURCE=SOURCE, REFERRAL_ANSWER=REFERRAL_ANSWER,
        SUBJECT_KIND=SUBJECT_KIND, workflow_url=pages.settings.workflow_url(case.workflow_id or case.summary.case_id),
        timeline=[dict(e=e, words=timeline.entry_words(pages, lang, e))
                  for e in sorted(case.timeline, key=lambda e: (e.at.ToDatetime(), e.revision))])


async def act(request: Request) -> Response:
    pages, backend, visitor, refusal = officer(request)
    if refusal:
        return refusal
    case_id, action = request.path_params["case_id"], request.path_params["action"]
    form = forms.ACTION_FORMS.get(action)
    if form is None:
        return Response(status_code=404)

    async def with_evidence(message, posted, lang: str) -> None:
        if action == "add_evidence":
            message.attachment_id = await upload_evidence(pages, backend, visitor, posted.get("attachment"), lang)
    return await post_action(
        request, form, lambda key: getattr(pb, f"{form.rpc}Request")(idempotency_key=key, case_id=case_id),
        lambda message: backend.call(getattr(backend.complaints, form.rpc), message, visitor.token),
        lambda error, values, status: case_page(request, action, error, values, status),
        f"/cases/{case_id}?done={action}", with_evidence)


async def post_action(request: Request, form: forms.ActionForm, new_request, send, again, done_url,
                      before_sending=None) -> Response:
    """Post an action's form (a case's, an inspection task's, a campaign's or a plan's) to its
    RPC: on to `done_url` when it is taken (a function of the answer where the action creates
    something), or the page `again` with the refusal by field and the input kept.
    `new_request(idempotency_key)` makes the request the form fills; `send` calls the RPC as the
    visitor. A field sent more than once (a multiple choice) arrives comma-separated."""
    pages: Pages = request.app.state.pages
    lang = language(request)
    posted = await request.form()
    values = {k: ",".join(v for v in posted.getlist(k) if isinstance(v, str)) for k in posted.keys()}
    if not pages.csrf_ok(pages.visitor(request), values.get("csrf", "")):
        return await again(dict(heading=i18n.text(lang, "error.csrf"), detail="", fields={}), values, 403)
    message = new_request(values.get("idempotency_key") or uuid.uuid4().hex)
    try:
        forms.fill(message, form, values, i18n.text(lang, "error.not_a_number"))
        if before_sending is not None:
            await before_sending(message, posted, lang)
        answer = await send(message)
    except forms.FormProblem as problem:
        return await again(dict(heading=i18n.text(lang, "error.INVALID_ARGUMENT"), detail="", fields=problem.fields),
                           values, 400)
    except ServiceError as refused:
        return await again(error_view(request, refused), values, http_status(refused))
    return RedirectResponse(done_url(answer) if callable(done_url) else done_url, status_code=303)


async def upload_evidence(pages: Pages, backend: Backend, visitor: Visitor, upload, lang: str) -> str:
    if upload is None or isinstance(upload, str) or not upload.filename:
        raise forms.FormProblem({"attachment": refusals.own(lang, "FIELD_REQUIRED")})
    content = await upload.read(forms.MAX_ATTACHMENT_BYTES + 1)
    if len(content) > forms.MAX_ATTACHMENT_BYTES:
        raise forms.FormProblem({"attachment": refusals.own(lang, "ATTACHMENT_TOO_LARGE",
                                                            max_mib=forms.MAX_ATTACHMENT_MIB)})
    try:
        answer = await backend.call(backend.complaints.UploadAttachment, pb.UploadAttachmentRequest(
            filename=upload.filename[-200:], content_type=upload.content_type or "", content=content), visitor.token)
    except ServiceError as refused:
        if refused.fields:
            raise forms.FormProblem({"attachment": "; ".join(refusals.field_words(pages, lang, refused).values())})
        raise
    return answer.attachment_id


# ---- statistics and the export ---------------------------------------------------------------------

def scope_fields(params) -> dict:
    return dict(region_code=params.get("region", "").strip(), received_from=params.get("from", "").strip(),
                received_to=params.get("to", "").strip())


async def statistics(request: Request) -> Response:
    pages, backend, visitor, refusal = officer(request)
    if refusal:
        return refusal
    lang = language(request)
    params = request.query_params
    try:
        figures = await backend.call(backend.complaints.GetCaseStatistics,
                                     pb.GetCaseStatisticsRequest(**scope_fields(params)), visitor.token)
    except ServiceError as refused:
        if refused.code != grpc.StatusCode.INVALID_ARGUMENT:
            return failed_page(request, pages, refused)
        return pages.render(request, "statistics.html", 400, figures=None, filters=params,
                            error=error_view(request, refused))
    t = lambda key: i18n.text(lang, key)  # noqa: E731

    def bars(title: str, counted) -> Markup:
        return charts.bar_chart(t(title), [charts.Bar(name, n, str(n)) for name, n in counted])
    measured = [p for p in figures.periods if p.met + p.missed]
    drawn = dict(
        stage_chart=bars("stats.chart_stage", [(pages.label(lang, "stage", optional_word(STAGE, s.stage)), s.cases)
                                               for s in figures.by_stage]),
        category_chart=bars("stats.chart_category", [
            (pages.label(lang, "category", optional_word(CATEGORY, c.category)), c.cases) for c in figures.by_category]),
        region_chart=bars("stats.chart_region", [(region_name(r.region_code), r.cases) for r in figures.by_region]),
        kind_chart=bars("stats.chart_agency_kind", [(kind_label(pages, lang, k), k.cases)
                                                    for k in figures.by_agency_kind]),
        source_chart=bars("stats.chart_source", [(pages.label(lang, "source", optional_word(SOURCE, c.source)),
                                                  c.cases) for c in figures.by_source]),
        outcome_chart=bars("stats.chart_outcome", [(pages.label(lang, "outcome", optional_word(OUTCOME, o.outcome)),
                                                    o.cases) for o in figures.by_outcome]),
        compliance_chart=charts.bar_chart(t("stats.chart_compliance"), [
            charts.Bar(p.period_id, p.share_met, f"{p.share_met:.0%}") for p in measured], maximum=1.0),
        month_chart=charts.bar_chart(t("stats.chart_compliance_by_month"), [
            charts.Bar(m.month, m.share_met, f"{m.share_met:.0%}") for m in figures.compliance_by_month],
            maximum=1.0),
        lists=await list_sizes(backend, visitor, figures.region_code, params, t))
    periods = [dict(p=p, description=pages.period_description(lang, p.period_id, p.description))
               for p in figures.periods]
    return pages.render(request, "statistics.html", figures=figures, filters=params, error=None, periods=periods,
                        word=optional_word, STAGE=STAGE, CATEGORY=CATEGORY, OUTCOME=OUTCOME,
                        export_query=request.url.query, **drawn)


def kind_label(pages: Pages, lang: str, count: pb.AgencyKindCount) -> str:
    """An agency's kind as the register words it; a subject not in the registry by its kind."""
    if count.agency_kind:
        return pages.label(lang, "agency_kind", count.agency_kind)
    return pages.label(lang, "subject_kind", optional_word(SUBJECT_KIND, count.subject_kind))


MAX_LIST_DAYS = 24


def month_ends(received_from: str, received_to: str, today: date) -> list[date]:
    """The days the lists are counted on: the last day of each month from the first day asked (a
    year before the last when none is) to the last day asked (today when none is, never later),
    that last day included; at most the last two years of them."""
    try:
        end = min(date.fromisoformat(received_to), today) if received_to else today
        start = date.fromisoformat(received_from) if received_from else date(end.year - 1, end.month, 1)
    except ValueError:
        return [today]
    days, cursor = [], start
    while True:
        last = (cursor.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        if last >= end:
            break
        days.append(last)
        cursor = last + timedelta(days=1)
    return [*days, end][-MAX_LIST_DAYS:]


async def list_sizes(backend: Backend, visitor: Visitor, region_code: str, params, t) -> dict:
    """The credit lists' sizes over time (经营异常名录, 严重违法失信名单) in the statistics' region,
    as the registry's public counts give them at each month's end; a registry that does not answer
    leaves the chart out with a note, not the page."""
    days = month_ends(params.get("from", "").strip(), params.get("to", "").strip(), clock.today())
    series = []
    try:
        for which, name in ((rpb.CREDIT_LIST_ABNORMAL_OPERATION, "stats.list_abnormal"),
                            (rpb.CREDIT_LIST_SERIOUS_VIOLATION, "stats.list_serious")):
            counted = await backend.call(backend.registry.CountCreditListEntries, rpb.CountCreditListEntriesRequest(
                list=which, days=[d.isoformat() for d in days],
                region_code="" if region_code == "000000" else region_code), visitor.token)
            series.append(charts.Series(t(name), [c.entries for c in counted.counts]))
    except ServiceError:
        return dict(chart=None, rows=[])
    labels = [d.isoformat() for d in days]
    return dict(chart=charts.line_chart(t("stats.chart_lists"), labels, series),
                rows=[dict(on=label, counts=[line.values[i] for line in series]) for i, label in enumerate(labels)],
                names=[line.name for line in series])


EXPORT_COLUMNS = ["case_id", "region_code", "subject_kind", "agency_kind", "agency_name", "agency_credit_code",
                  "practitioner_name", "practitioner_certificate_number", "category", "source", "stage", "status",
                  "outcome", "merged_into_case_id", "transferred_from_region_code", "assignee", "received_on",
                  "next_deadline", "next_deadline_period", "next_deadline_provisional", "overdue", "reporter_count",
                  "fine_cny", "surcharge_cny", *(f"entered_{stage}" for stage in STAGES), "stage_history",
                  "status_history"]


def export_row(case: pb.ExportedCase) -> list:
    """One case: its record, the first moment it entered each stage, every change of stage in
    order, and every change of status (each stage:status with its moment)."""
    s = case.summary
    changes = [(optional_word(STAGE, c.stage), c.status, c.entered_at.ToDatetime(CHINA).isoformat())
               for c in case.stage_changes]
    first: dict[str, str] = {}
    stages: list[tuple[str, str]] = []
    for stage, _, at in changes:
        first.setdefault(stage, at)
        if not stages or stages[-1][0] != stage:
            stages.append((stage, at))
    return [s.case_id, s.region_code, optional_word(SUBJECT_KIND, s.subject_kind), s.agency_kind, s.agency_name,
            s.agency_credit_code, s.practitioner_name, s.practitioner_certificate_number,
            optional_word(CATEGORY, s.category), optional_word(SOURCE, s.source), optional_word(STAGE, s.stage),
            s.status, optional_word(OUTCOME, s.outcome), s.merged_into_case_id, s.transferred_from_region_code,
            s.assignee, s.received_on, s.next_deadline, s.next_deadline_period, int(s.next_deadline_provisional),
            int(s.overdue), s.reporter_count, case.fine_cny, case.surcharge_cny,
            *(first.get(stage, "") for stage in STAGES), ";".join(f"{stage}@{at}" for stage, at in stages),
            ";".join(f"{stage}:{status}@{at}" for stage, status, at in changes)]


async def export_csv(request: Request) -> Response:
    pages, backend, visitor, refusal = officer(request)
    if refusal:
        return refusal
    scope = scope_fields(request.query_params)
    try:  # the first page before the response starts, so that a refusal is a page, not a broken file
        first = await backend.call(backend.complaints.ExportCases, pb.ExportCasesRequest(
            page_size=EXPORT_PAGE_SIZE, **scope), visitor.token)
    except ServiceError as refused:
        return failed_page(request, pages, refused)

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        page = first
        while True:
            for case in page.cases:
                writer.writerow(export_row(case))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if not page.next_page_token:
                return
            page = await backend.call(backend.complaints.ExportCases, pb.ExportCasesRequest(
                page_size=EXPORT_PAGE_SIZE, page_token=page.next_page_token, **scope), visitor.token)

    async def with_bom() -> AsyncIterator[bytes]:
        # The byte-order mark makes spreadsheet programs read the Chinese names as UTF-8.
        yield "\ufeff".encode()
        async for chunk in rows():
            yield chunk.encode()

    region = scope["region_code"] or visitor.principal.region
    return StreamingResponse(with_bom(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="cases-{region}.csv"'})


def routes() -> list[Route]:
    return [
        Route("/cases", queue),
        Route("/cases/{case_id}", case_page),
        Route("/cases/{case_id}/actions/{action}", act, methods=["POST"]),
        Route("/inbox", inbox),
        Route("/inbox/escalations/{escalation_id:int}/acknowledge", acknowledge, methods=["POST"]),
        Route("/inbox/escalations/{escalation_id:int}/reassign/{case_id}", reassign_from_inbox, methods=["POST"]),
        Route("/notifications", notifications),
        Route("/notifications/{notification_id:int}/read", mark_read, methods=["POST"]),
        Route("/statistics", statistics),
        Route("/statistics/cases.csv", export_csv),
    ]
