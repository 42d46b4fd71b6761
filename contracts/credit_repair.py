"""What crosses the CreditRepair workflow's boundary (信用修复): how an application's workflow
starts, the handler's check and the supervisor's decision it takes as updates, and the view it
answers. Plain dataclasses, carried by Temporal's JSON converter."""

from __future__ import annotations

from dataclasses import dataclass

CREDIT_REPAIR_WORKFLOW = "CreditRepair"
CHECK_UPDATE, DECIDE_UPDATE, VIEW_QUERY = "check", "decide", "view"
# Stages (CreditRepairStage's words in the registry's proto).
AWAITING_CHECK, AWAITING_DECISION = "awaiting_check", "awaiting_decision"
GRANTED, REFUSED, LAPSED = "granted", "refused", "lapsed"
# A check's outcomes and a decision's (CreditRepairCheckOutcome's and CreditRepairDecision's words).
FOR_DECISION, REFUSE, GRANT = "for_decision", "refuse", "grant"
# Who takes each step (auth roles): a handler checks, a supervisor decides (a supervisor may
# check too, but never decide what they checked).
CHECK_ROLES, DECIDE_ROLES = ("handler", "supervisor"), ("supervisor",)


def workflow_id(repair_id: str) -> str:
    """One workflow per application, named by it."""
    return f"credit-repair-{repair_id}"


@dataclass
class CreditRepairStart:
    """An application on record, as its workflow starts with it."""

    repair_id: str
    agency_id: str
    region_code: str
    credit_code: str
    credit_event_ids: list[str]
    applied_on: str
    eligible_from: str
    # The day after the last public day of every penalty named: undecided by then, the
    # application lapses (nothing is left to repair).
    lapses_on: str
    # As in a case (CaseStart.calendar_offset_days): zero in production.
    calendar_offset_days: int = 0


@dataclass
class RepairAction:
    """A handler's check (outcome for_decision or refuse) or a supervisor's decision (grant or
    refuse), sent by the registry for the signed-in caller. `request_id` is the request's
    idempotency key: the same again changes nothing."""

    request_id: str
    actor: str
    actor_role: str
    outcome: str
    compliance_evidence: str = ""
    reason: str = ""


@dataclass
class CreditRepairView:
    repair_id: str
    stage: str
    lapses_on: str = ""
    checked_by: str = ""
    checked_on: str = ""
    decided_by: str = ""
    decided_on: str = ""
    refusal_reason: str = ""
