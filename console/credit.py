"""The office's pages of credit repair (信用修复): the applications of the region, oldest first, and
an application's page, where a handler checks it (compliance confirmed with its evidence and put to
a supervisor, or refused saying why) and a supervisor who did not check it decides. The steps are
the registry's CheckCreditRepair and DecideCreditRepair; their refusals are worded by reason."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from console import i18n
from console.backend import ServiceError
from console.officers import error_view, failed_page, http_status, officer
from console.web import language
from ipss.registry.v1 import registry_pb2 as rpb
from suite.protos import enum_value, enum_word

LIST_PAGE_SIZE = 50
HANDLING = frozenset({"handler", "supervisor"})
SUPERVISORS = frozenset({"supervisor"})
STAGE = rpb.CreditRepairStage.DESCRIPTOR
EVENT_KIND = rpb.CreditEventKind.DESCRIPTOR
CHECK_OUTCOMES = ("for_decision", "refuse")
DECISIONS = ("grant", "refuse")


def word(descriptor, value: int) -> str:
    return enum_word(descriptor, value)


async def repairs(request: Request) -> Response:
    pages, backend, visitor, refusal = officer(request, HANDLING)
    if refusal:
        return refusal
    open_only = request.query_params.get("all") != "1"
    try:
        found = await backend.call(backend.registry.ListCreditRepairs, rpb.ListCreditRepairsRequest(
            open_only=open_only, page_size=LIST_PAGE_SIZE, page_token=request.query_params.get("page", "")),
            visitor.token)
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    return pages.render(request, "credit_repairs.html", repairs=list(found.repairs), open_only=open_only,
                        next_page=found.next_page_token, word=word, STAGE=STAGE, EVENT_KIND=EVENT_KIND)


async def repair_page(request: Request, error: dict | None = None, posted=None, status_code: int = 200,
                      failed: str = "") -> Response:
    """An application with its penalties and steps, and the step the visitor may take now.
    `failed` names the form a refusal answered (its input kept, the refusal beside it)."""
    pages, backend, visitor, refusal = officer(request, HANDLING)
    if refusal:
        return refusal
    try:
        repair = (await backend.call(backend.registry.GetCreditRepair, rpb.GetCreditRepairRequest(
            id=request.path_params["repair_id"]), visitor.token)).repair
    except ServiceError as refused:
        return failed_page(request, pages, refused)
    stage, role = word(STAGE, repair.stage), visitor.principal.role
    may_check = stage == "awaiting_check" and role in HANDLING
    may_decide = stage == "awaiting_decision" and role in SUPERVISORS
    done = request.query_params.get("done", "")
    return pages.render(request, "credit_repair.html", status_code, repair=repair, stage=stage,
                        may_check=may_check, may_decide=may_decide,
                        own_check=may_decide and repair.checked_by == visitor.principal.subject,
                        error=error, failed=failed, posted=posted or {}, key=uuid.uuid4().hex,
                        done=done if done in ("check", "decide") else "", word=word, EVENT_KIND=EVENT_KIND,
                        CHECK_OUTCOMES=CHECK_OUTCOMES, DECISIONS=DECISIONS)


async def check(request: Request) -> Response:
    return await _step(request, HANDLING, "check")


async def decide(request: Request) -> Response:
    return await _step(request, SUPERVISORS, "decide")


async def _step(request: Request, roles: frozenset[str], step: str) -> Response:
    pages, backend, visitor, refusal = officer(request, roles)
    if refusal:
        return refusal
    repair_id = request.path_params["repair_id"]
    posted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not pages.csrf_ok(visitor, posted.get("csrf", "")):
        return await repair_page(request, dict(heading=i18n.text(language(request), "error.csrf"), detail="",
                                               fields={}), posted, 403, step)
    key = posted.get("idempotency_key") or uuid.uuid4().hex
    outcome, reason = posted.get("outcome", ""), posted.get("reason", "").strip()
    try:
        if step == "check":
            await backend.call(backend.registry.CheckCreditRepair, rpb.CheckCreditRepairRequest(
                idempotency_key=key, repair_id=repair_id,
                outcome=enum_value(rpb.CreditRepairCheckOutcome.DESCRIPTOR, outcome) if outcome in CHECK_OUTCOMES
                else 0, compliance_evidence=posted.get("compliance_evidence", "").strip(), reason=reason),
                visitor.token)
        else:
            await backend.call(backend.registry.DecideCreditRepair, rpb.DecideCreditRepairRequest(
                idempotency_key=key, repair_id=repair_id,
                decision=enum_value(rpb.CreditRepairDecision.DESCRIPTOR, outcome) if outcome in DECISIONS else 0,
                reason=reason), visitor.token)
    except ServiceError as refused:
        return await repair_page(request, error_view(request, refused), posted, http_status(refused), step)
    return RedirectResponse(f"/credit-repairs/{repair_id}?done={step}", status_code=303)


def routes() -> list[Route]:
    return [
        Route("/credit-repairs", repairs),
        Route("/credit-repairs/{repair_id}", repair_page),
        Route("/credit-repairs/{repair_id}/check", check, methods=["POST"]),
        Route("/credit-repairs/{repair_id}/decide", decide, methods=["POST"]),
    ]
