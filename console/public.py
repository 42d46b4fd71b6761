"""The public's pages: the citizens' portal (举报) with its tracking page, and the public register
(信息公示) of agencies and practitioners."""

from __future__ import annotations

import uuid

import grpc
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console import forms, i18n, refusals, timeline
from console.backend import Backend, ServiceError, Violation
from console.officers import CATEGORIES, CATEGORY, STAGE, error_view, failed_page, http_status
from console.web import Pages, language
from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.registry.v1 import registry_pb2 as rpb
from suite import codes
from suite.protos import enum_value, enum_word, optional_word

REGISTER_PAGE_SIZE = 20
MAX_ATTACHMENTS = 20
# The portal form's own fields, the attachments already uploaded and room to spare; a form of
# more is refused before it is read.
MAX_FORM_FIELDS = 60
REPORTER_FIELDS = ("name", "phone", "resident_id", "organisation", "email")
NO_STORE = {"Cache-Control": "no-store"}
LICENCE = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")


def reported_agency(text: str) -> pb.ReportedAgency:
    """What a citizen typed: a credit code, a licence number, or the agency's exact name."""
    text = text.strip()
    if text and codes.credit_code_problem(text.upper()) is None:
        return pb.ReportedAgency(credit_code=text.upper())
    if text and set(text) <= LICENCE and any(c.isdigit() for c in text):
        return pb.ReportedAgency(licence_number=text)
    return pb.ReportedAgency(name=text)


# Who a report is about (被举报对象): the portal's choices, and the fields a subject's violations land on.
SUBJECTS = ("agency", "entity", "practitioner")
SUBJECT_FIELDS = {"entity.name": "agency", "practitioner.name": "agency", "entity.region_code": "subject_region",
                  "practitioner.region_code": "subject_region", "entity.address": "subject_address",
                  "entity.credit_code": "subject_credit_code", "practitioner.certificate_number": "certificate_number"}


def form_field(path: str) -> str:
    """The portal field a service's violation is about."""
    if path in SUBJECT_FIELDS:
        return SUBJECT_FIELDS[path]
    if path.startswith("agency"):
        return "agency"
    if path.startswith("attachment_ids") or path in ("content", "content_type", "filename"):
        return "attachments"
    if path == "reporter":
        return "identity"
    return path.removeprefix("reporter.")


# ---- the portal --------------------------------------------------------------------------------

def portal_form(request: Request, values: dict | None = None, errors: dict | None = None, uploaded=(),
                status_code: int = 200, heading: str = "") -> Response:
    pages: Pages = request.app.state.pages
    lang = language(request)
    values = values or {"identity": "real_name", "subject": "agency"}

    def field_label(name: str) -> str:
        key = "portal.privacy_ack" if name == "privacy" else f"portal.{name}"
        return i18n.text(lang, key) if i18n.known(lang, key) else name

    return pages.render(request, "portal.html", status_code, values=values, errors=errors or {},
                        field_label=field_label,
                        uploaded=list(uploaded), categories=CATEGORIES, heading=heading, subjects=SUBJECTS,
                        key=values.get("idempotency_key") or uuid.uuid4().hex)


async def portal(request: Request) -> Response:
    return portal_form(request)


async def file_report(request: Request) -> Response:
    pages: Pages = request.app.state.pages
    backend: Backend = request.app.state.backend
    visitor = pages.visitor(request)
    lang = language(request)
    # Starlette refuses a form of more files than a report may hold before it spools any.
    posted = await request.form(max_files=MAX_ATTACHMENTS, max_fields=MAX_FORM_FIELDS)
    values = {k: v for k, v in posted.items() if isinstance(v, str)}
    uploaded = [tuple(u.split("|", 1)) for u in posted.getlist("uploaded") if isinstance(u, str) and "|" in u]
    files = [f for f in posted.getlist("attachments") if isinstance(f, UploadFile) and f.filename]
    errors: dict[str, str] = {}
    if len(uploaded) + len(files) > MAX_ATTACHMENTS:
        # Counted before any is stored: a form over the limit stores nothing.
        errors["attachments"] = i18n.text(lang, "portal.too_many_attachments").format(max=MAX_ATTACHMENTS)
    else:
        try:
            uploaded += await upload_attachments(backend, visitor.token, files,
                                                 request.client.host if request.client else "")
        except ServiceError as refused:
            errors["attachments"] = ("; ".join(refusals.field_words(pages, lang, refused).values())
                                     or refusals.detail(pages, lang, refused))
    if not values.get("privacy"):
        errors["privacy"] = i18n.text(lang, "portal.privacy_needed")
    if errors:
        return portal_form(request, values, errors, uploaded, 400, i18n.text(lang, "error.fields"))
    try:
        filed = await backend.call(backend.complaints.FileReport, report_request(values, uploaded), visitor.token)
    except ServiceError as refused:
        if refused.code != grpc.StatusCode.INVALID_ARGUMENT:
            shown = error_view(request, refused)
            return portal_form(request, values, {}, uploaded, http_status(refused),
                               f"{shown['heading']} {shown['detail']}")
        for path, worded in refusals.field_words(pages, lang, refused).items():
            field = form_field(path)
            errors[field] = "; ".join(filter(None, (errors.get(field), worded)))
        return portal_form(request, values, errors, uploaded, 400, i18n.text(lang, "error.fields"))
    # The secret is shown this once: the page must not be kept by a browser or a proxy.
    return pages.render(request, "portal_filed.html", headers=NO_STORE, filed=filed)


async def upload_attachments(backend: Backend, token: str, files: list[UploadFile],
                             client_address: str = "") -> list[tuple[str, str]]:
    done = []
    for upload in files:
        content = await upload.read(forms.MAX_ATTACHMENT_BYTES + 1)
        if len(content) > forms.MAX_ATTACHMENT_BYTES:
            raise ServiceError(grpc.StatusCode.INVALID_ARGUMENT, "", fields={"content": [Violation(
                "ATTACHMENT_TOO_LARGE", f"must be at most {forms.MAX_ATTACHMENT_MIB} MB",
                {"max_mib": str(forms.MAX_ATTACHMENT_MIB)})]})
        answer = await backend.call(backend.complaints.UploadAttachment, pb.UploadAttachmentRequest(
            filename=upload.filename[-200:], content_type=upload.content_type or "", content=content), token,
            client_address=client_address)
        done.append((answer.attachment_id, upload.filename))
    return done


def report_request(values: dict, uploaded: list[tuple[str, str]]) -> pb.FileReportRequest:
    real_name = values.get("identity") != "anonymous"
    reporter = pb.Reporter(real_name=real_name)
    if real_name:
        for name in REPORTER_FIELDS:
            setattr(reporter, name, values.get(name, "").strip())
    category = values.get("category", "")
    return pb.FileReportRequest(
        idempotency_key=values.get("idempotency_key") or uuid.uuid4().hex, source=pb.REPORT_SOURCE_PUBLIC,
        reporter=reporter, category=enum_value(CATEGORY, category) if category in CATEGORIES else 0,
        description=values.get("description", "").strip(), occurred_on=values.get("occurred_on", "").strip(),
        attachment_ids=[attachment_id for attachment_id, _ in uploaded], **reported_subject(values))


def reported_subject(values: dict) -> dict:
    """Who the report is about, as the citizen chose: a registered agency (what they typed, as
    reported_agency reads it), an entity they could not find in the register (未登记主体), or a
    practitioner (从业人员)."""
    named = values.get("agency", "").strip()
    region = values.get("subject_region", "").strip()
    subject = values.get("subject", "agency")
    if subject == "entity":
        return dict(entity=pb.ReportedEntity(name=named, region_code=region,
                                             credit_code=values.get("subject_credit_code", "").strip().upper(),
                                             address=values.get("subject_address", "").strip()))
    if subject == "practitioner":
        return dict(practitioner=pb.ReportedPractitioner(
            name=named, region_code=region, certificate_number=values.get("certificate_number", "").strip()))
    return dict(agency=reported_agency(named))


async def track_form(request: Request) -> Response:
    return request.app.state.pages.render(request, "portal_track.html", values={}, error="")


async def track(request: Request) -> Response:
    pages: Pages = request.app.state.pages
    backend: Backend = request.app.state.backend
    lang = language(request)
    values = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        status = await backend.call(backend.complaints.GetReportStatus, pb.GetReportStatusRequest(
            tracking_code=values.get("tracking_code", "").strip(),
            tracking_secret=values.get("tracking_secret", "").strip()), pages.visitor(request).token)
    except ServiceError as refused:
        if refused.code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            return failed_page(request, pages, refused)
        message = ("; ".join(refusals.field_words(pages, lang, refused).values())
                   or refusals.detail(pages, lang, refused))
        return pages.render(request, "portal_track.html", 400, values=values, error=message)
    messages = [dict(m=m, words=timeline.message_words(pages, lang, m)) for m in status.messages]
    return pages.render(request, "portal_status.html", headers=NO_STORE, status=status, messages=messages,
                        word=optional_word, STAGE=STAGE, CATEGORY=CATEGORY)


# ---- the public register ---------------------------------------------------------------------------

async def register(request: Request) -> Response:
    pages: Pages = request.app.state.pages
    backend: Backend = request.app.state.backend
    lang = language(request)
    query = request.query_params.get("q", "").strip()
    kind = "practitioner" if request.query_params.get("kind") == "practitioner" else "agency"
    found, error = None, ""
    if query:
        try:
            if kind == "agency":
                found = list((await backend.call(backend.registry.LookupAgencyPublic, rpb.LookupAgencyPublicRequest(
                    query=query, page_size=REGISTER_PAGE_SIZE))).agencies)
            else:
                found = list((await backend.call(backend.registry.LookupPractitionerPublic,
                                                 rpb.LookupPractitionerPublicRequest(
                                                     query=query, page_size=REGISTER_PAGE_SIZE))).practitioners)
        except ServiceError as refused:
            if refused.code != grpc.StatusCode.INVALID_ARGUMENT:
                return failed_page(request, pages, refused)
            error = "; ".join(refusals.field_words(pages, lang, refused).values())
    return pages.render(request, "register.html", 400 if error else 200, query=query, kind=kind, found=found,
                        error=error, enum_word=register_word)


def register_word(vocabulary: str, number: int) -> str:
    enums = {"agency_kind": rpb.AgencyKind, "agency_status": rpb.AgencyStatus, "legal_form": rpb.LegalForm,
             "credit_grade": rpb.CreditGrade, "credit_event": rpb.CreditEventKind,
             "practitioner_kind": rpb.PractitionerKind}
    return enum_word(enums[vocabulary].DESCRIPTOR, number)


def routes() -> list[Route]:
    return [
        Route("/portal", portal),
        Route("/portal", file_report, methods=["POST"]),
        Route("/portal/track", track_form),
        Route("/portal/track", track, methods=["POST"]),
        Route("/register", register),
    ]
