"""The forms of the actions on a case (handlers, supervisors), on an inspection task (inspectors,
supervisors), and on inspection plans and campaigns (supervisors): which RPC each action posts
to, its fields, and how a posted form becomes the request. A field is named by its path in the request message
(`penalty.fine_cny`), so a service's field violation lands on the field that caused it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from contracts.case_actions import CASE_ACTIONS
from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.inspections.v1 import inspections_pb2 as ipb
from ipss.registry.v1 import registry_pb2 as rpb
from rules import Rules
from suite.protos import enum_value, enum_words

MAX_ATTACHMENT_MIB = 10
MAX_ATTACHMENT_BYTES = MAX_ATTACHMENT_MIB * 1024 * 1024


@dataclass(frozen=True)
class Field:
    path: str
    # text, textarea, date, number, select, checkbox, file; for repeated fields: credit_codes (one a
    # line), codes (separated by spaces or commas), choices (a multiple select); ratio (a percentage
    # for the risk class its path names: ratios.high).
    kind: str = "text"
    required: bool = False
    # For a select: (value, vocabulary, word) — the value sent and the label's vocabulary and word.
    options: tuple[tuple[str, str, str], ...] = ()
    # The field's label (field.<label> in i18n) where its path alone would be ambiguous.
    label: str = ""


@dataclass(frozen=True)
class ActionForm:
    rpc: str
    fields: tuple[Field, ...]


def _penalty_options(with_none: bool) -> tuple[tuple[str, str, str], ...]:
    kinds = ("none", "warning", "fine", "suspension", "revocation")[0 if with_none else 1:]
    return tuple((str(enum_value(pb.PenaltyKind.DESCRIPTOR, k)), "penalty_kind", k) for k in kinds)


def _penalty(with_none: bool) -> tuple[Field, ...]:
    return (Field("penalty.kind", "select", True, _penalty_options(with_none)),
            Field("penalty.fine_cny", "number"), Field("penalty.suspension_months", "number"))


@functools.cache
def _causes() -> tuple[tuple[str, str, str], ...]:
    """What may stop a clock, from the rules file (the workflow checks which stop the running period)."""
    return tuple((cause, "cause", cause) for cause in Rules.load().suspending_events)


REASON = Field("reason", "textarea", True)
NOTE = Field("reason", "textarea")
REVIEW_OPTIONS = tuple((str(enum_value(pb.ReviewKind.DESCRIPTOR, k)), "review_kind", k)
                       for k in ("reconsideration", "litigation"))

# The fields of each case action's form, by the action's name (contracts.case_actions).
CASE_FORM_FIELDS: dict[str, tuple[Field, ...]] = {
    "assign": (Field("assignee", required=True),),
    "reassign": (Field("assignee", required=True), REASON),
    "record_verification": (REASON,),
    "add_evidence": (Field("attachment", "file", True), NOTE),
    "open": (NOTE,),
    "decline": (REASON,),
    "request_extension": (REASON,),
    "approve_extension": (NOTE,),
    "refuse_extension": (REASON,),
    "suspend_clock": (Field("cause", "select", True, ()), REASON),
    "resume_clock": (NOTE,),
    "propose_penalty": (*_penalty(False), REASON),
    "record_statement": (REASON,),
    "request_hearing": (Field("hearing_on", "date", True),),
    "record_hearing": (REASON,),
    "submit_decision": (*_penalty(True), REASON),
    "approve_decision": (NOTE,),
    "record_service": (Field("party_present", "checkbox"),),
    "record_payment": (Field("amount_cny", "number", True),),
    "record_review": (Field("kind", "select", True, REVIEW_OPTIONS), Field("pending", "checkbox"),
                      Field("upheld", "checkbox")),
    "transfer": (Field("target_region_code"), Field("target_authority"), REASON),
    "refer_to_association": (Field("association_id", required=True), REASON),
    "close": (NOTE,),
    # The registered agency an entity is (by any of its identifiers), or a practitioner's certificate.
    "match_subject": (Field("agency.credit_code"), Field("agency.licence_number"), Field("agency.name"),
                      Field("practitioner_certificate_number"), REASON),
    "merge": (Field("into_case_id", required=True), REASON),
    # The day of receipt (签收) is the form's effective_on: the verification period counts from it.
    "accept_transfer": (NOTE,),
    "return_transfer": (REASON,),
}
# The RPC each posts to is the registry's.
ACTION_FORMS = {name: ActionForm(CASE_ACTIONS[name].rpc, fields) for name, fields in CASE_FORM_FIELDS.items()}


def _enum_options(enum, vocabulary: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((str(enum_value(enum.DESCRIPTOR, word)), vocabulary, word) for word in enum_words(enum.DESCRIPTOR))


FINDINGS = Field("findings", "textarea", True)
OUTCOME = Field("outcome", "select", True, _enum_options(ipb.CheckOutcome, "check_outcome"))
CATEGORY = Field("category", "select", False, _enum_options(pb.ViolationCategory, "category"))
# By the action's name in the task workflow (contracts.inspections.TASK_ACTIONS).
TASK_ACTION_FORMS: dict[str, ActionForm] = {
    "check": ActionForm("RecordCheck", (OUTCOME, CATEGORY, FINDINGS)),
    "recheck": ActionForm("RecordRecheck", (Field("rectified", "checkbox"), FINDINGS)),
    "publish": ActionForm("PublishResult", ()),
}
# A supervisor's actions on a running campaign (专项整治), by name.
CAMPAIGN_ACTION_FORMS: dict[str, ActionForm] = {
    "add_targets": ActionForm("AddCampaignTargets", (Field("agencies", "credit_codes", True), REASON)),
    "extend": ActionForm("ExtendCampaign", (Field("ends_on", "date", True), REASON)),
    "close_campaign": ActionForm("CloseCampaign", (REASON,)),
}
# A supervisor's steps on a plan (抽查计划): fix the directory snapshot, committing to the public
# source of the seed (named before its value is out), then draw with the seed from that source; by the plan status (PlanStatus, lower case) each is for.
PLAN_ACTION_FORMS: dict[str, ActionForm] = {
    "take_snapshot": ActionForm("TakeSnapshot", (Field("seed_source", required=True),
                                                 Field("seed_available_on", "date", True))),
    "draw": ActionForm("Draw", (Field("seed_value", required=True), Field("seed_source", required=True))),
    "create_campaign": ActionForm("CreateCampaign", (
        Field("name", required=True),
        Field("kind", "select", True, _enum_options(ipb.CampaignKind, "campaign_kind"), label="campaign_kind"),
        Field("theme", "choices", False, _enum_options(pb.ViolationCategory, "category")),
        Field("starts_on", "date", True), Field("ends_on", "date", True))),
}
# The plan status (PlanStatus, lower case) each step is for; a drawn plan serves one campaign.
PLAN_ACTION_STATUS = {"take_snapshot": "draft", "draw": "snapshot_taken", "create_campaign": "drawn"}
RISK_CLASSES = ("low", "general", "elevated", "high")
# What a supervisor starts from, on the inspections page.
NEW_PLAN_FORMS: dict[str, ActionForm] = {
    "create_plan": ActionForm("CreatePlan", (
        Field("name", required=True), Field("region_codes", "codes", True),
        Field("kinds", "choices", False, _enum_options(rpb.AgencyKind, "agency_kind")),
        Field("all_in_scope", "checkbox"), *(Field(f"ratios.{risk}", "ratio") for risk in RISK_CLASSES),
        Field("inspectors_per_target", "number", True))),
}
EFFECTIVE_ON = Field("effective_on", "date")


def options(field: Field) -> tuple[tuple[str, str, str], ...]:
    return _causes() if field.path == "cause" else field.options


class FormProblem(Exception):
    """Input the console can tell is wrong before any service sees it, by field path."""

    def __init__(self, fields: dict[str, str]):
        super().__init__(", ".join(fields))
        self.fields = fields


def _credit_codes(request, path: str, items: list[str], problems: dict, not_a_number: str) -> None:
    for code in items:
        getattr(request, path).add(credit_code=code.upper())


def _codes(request, path: str, items: list[str], problems: dict, not_a_number: str) -> None:
    getattr(request, path).extend(items)


def _choices(request, path: str, items: list[str], problems: dict, not_a_number: str) -> None:
    try:
        getattr(request, path).extend(int(item) for item in items)
    except ValueError:
        problems[path] = not_a_number


def _ratio(request, path: str, items: list[str], problems: dict, not_a_number: str) -> None:
    """A sampling ratio in percent for the risk class the path names, as basis points."""
    if not items:
        return
    try:
        basis_points = round(float(items[0]) * 100)
    except ValueError:
        problems[path] = not_a_number
        return
    risk = path.rpartition(".")[2]
    request.ratios.add(risk_class=enum_value(ipb.RiskClass.DESCRIPTOR, risk), basis_points=basis_points)


REPEATED = {"credit_codes": _credit_codes, "codes": _codes, "choices": _choices, "ratio": _ratio}


def fill(request, form: ActionForm, values: dict[str, str], not_a_number: str) -> None:
    """Set the request's fields from the posted values (repeated ones by REPEATED, the day it took
    effect only where the request has one); numbers that are not numbers are refused here,
    everything else is the service's to judge."""
    problems = {}
    dated = "effective_on" in request.DESCRIPTOR.fields_by_name
    for field in (*form.fields, EFFECTIVE_ON) if dated else form.fields:
        if field.kind == "file":
            continue
        raw = values.get(field.path, "")
        if field.kind in REPEATED:
            REPEATED[field.kind](request, field.path, raw.replace(",", " ").split(), problems, not_a_number)
            continue
        if field.kind == "checkbox":
            value: object = bool(raw)
        elif field.kind in ("number", "select") and field.path != "cause":
            if not raw.strip():
                continue
            try:
                value = int(raw.strip())
            except ValueError:
                problems[field.path] = not_a_number
                continue
        else:
            value = raw
        target, _, name = field.path.rpartition(".")
        message = getattr(request, target) if target else request
        setattr(message, name, value)
    if problems:
        raise FormProblem(problems)
