"""The penalty procedure's rules that need no clock and no I/O: which action each stage allows
and to whom, what a penalty entails (hearing, publication, publicity), and the late-payment
surcharge. The case workflow asks these before it changes anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from temporalio.exceptions import ApplicationError

VERIFICATION = "verification"  # 核查, decide whether to open (立案)
INVESTIGATION = "investigation"  # 调查取证
PRIOR_NOTICE = "prior_notice"  # 告知, statement and defence (陈述申辩)
HEARING = "hearing"  # 听证
DECISION_APPROVAL = "decision_approval"  # 审批
DECIDED = "decided"  # 处罚决定: service, payment, publication
CLOSED = "closed"  # 结案/归档

STAGES = (VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING, DECISION_APPROVAL, DECIDED, CLOSED)

STAFF = frozenset({"handler", "supervisor"})
SUPERVISOR = frozenset({"supervisor"})
EXTENSIBLE_STAGES = (VERIFICATION, INVESTIGATION, PRIOR_NOTICE)


@dataclass(frozen=True)
class ActionRule:
    stages: tuple[str, ...]
    roles: frozenset[str]


ACTIONS: dict[str, ActionRule] = {
    "assign": ActionRule((VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING, DECISION_APPROVAL, DECIDED), STAFF),
    "record_verification": ActionRule((VERIFICATION,), STAFF),
    "add_evidence": ActionRule((VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING), STAFF),
    "open": ActionRule((VERIFICATION,), STAFF),
    "decline": ActionRule((VERIFICATION,), STAFF),
    "request_extension": ActionRule(EXTENSIBLE_STAGES, STAFF),
    "approve_extension": ActionRule(EXTENSIBLE_STAGES, SUPERVISOR),
    "refuse_extension": ActionRule(EXTENSIBLE_STAGES, SUPERVISOR),
    "suspend_clock": ActionRule(EXTENSIBLE_STAGES, STAFF),
    "resume_clock": ActionRule((VERIFICATION, INVESTIGATION, PRIOR_NOTICE), STAFF),
    "propose_penalty": ActionRule((INVESTIGATION,), STAFF),
    "record_statement": ActionRule((PRIOR_NOTICE,), STAFF),
    "request_hearing": ActionRule((PRIOR_NOTICE,), STAFF),
    "record_hearing": ActionRule((HEARING,), STAFF),
    "submit_decision": ActionRule((INVESTIGATION, PRIOR_NOTICE), STAFF),
    "approve_decision": ActionRule((DECISION_APPROVAL,), SUPERVISOR),
    "record_service": ActionRule((DECIDED,), STAFF),
    "record_payment": ActionRule((DECIDED,), STAFF),
    "record_review": ActionRule((DECIDED,), STAFF),
    "transfer": ActionRule((VERIFICATION, INVESTIGATION), STAFF),
    "refer_to_association": ActionRule((VERIFICATION, INVESTIGATION), STAFF),
    "close": ActionRule((DECIDED,), STAFF),
}

PENALTY_KINDS = ("none", "warning", "fine", "suspension", "revocation")
# What each penalty kind puts on the agency's credit record in the registry.
CREDIT_EVENT_OF_PENALTY = {"warning": "warning", "fine": "fine", "suspension": "suspension",
                           "revocation": "revocation"}
# An agency is an organisation (法人或者其他组织) for the hearing thresholds.
PARTY_KIND = "organisation"
OUTCOME_OF_PENALTY = {"none": "no_penalty", "warning": "warning", "fine": "fine", "suspension": "suspension",
                      "revocation": "revocation"}


def refuse(message: str, field: str = "") -> ApplicationError:
    """An action the case cannot take: FAILED_PRECONDITION, or INVALID_ARGUMENT naming a field."""
    if field:
        return ApplicationError(message, field, type="INVALID_ARGUMENT", non_retryable=True)
    return ApplicationError(message, type="FAILED_PRECONDITION", non_retryable=True)


def check_allowed(action: str, role: str, stage: str) -> None:
    rule = ACTIONS.get(action)
    if rule is None:
        raise refuse(f"unknown action {action!r}", "action")
    if role not in rule.roles:
        raise refuse(f"{action} is for {', '.join(sorted(rule.roles))}, not {role}")
    if stage not in rule.stages:
        raise refuse(f"{action} is not possible in stage {stage}")


def allowed_actions(stage: str) -> list[str]:
    return [name for name, rule in ACTIONS.items() if stage in rule.stages]


@dataclass(frozen=True)
class Penalty:
    kind: str
    fine_cny: int = 0
    suspension_months: int = 0


def check_penalty(penalty: Penalty, proposing: bool) -> None:
    """A penalty must be whole: a fine names its amount, a suspension its months (6–12 by
    专利代理条例 art. 25–26). Proposing one (告知) needs a penalty; a decision may be none."""
    if penalty.kind not in PENALTY_KINDS:
        raise refuse(f"unknown penalty kind {penalty.kind!r}", "penalty.kind")
    if proposing and penalty.kind == "none":
        raise refuse("a prior notice proposes a penalty; decide no penalty with submit_decision", "penalty.kind")
    if penalty.kind == "fine" and penalty.fine_cny <= 0:
        raise refuse("a fine needs its amount", "penalty.fine_cny")
    if penalty.kind in ("none", "warning", "revocation") and penalty.fine_cny:
        raise refuse(f"a {penalty.kind} carries no fine", "penalty.fine_cny")
    if penalty.kind == "suspension" and not 6 <= penalty.suspension_months <= 12:
        raise refuse("a suspension from new business lasts 6 to 12 months", "penalty.suspension_months")
    if penalty.kind != "suspension" and penalty.suspension_months:
        raise refuse("only a suspension has months", "penalty.suspension_months")


def measures(penalty: Penalty) -> list[str]:
    """The measures (处罚种类) of the rules file a penalty consists of."""
    return {"none": [], "warning": ["warning"], "fine": ["fine"],
            "suspension": ["stop_business"] + (["fine"] if penalty.fine_cny else []),
            "revocation": ["licence_revocation"]}[penalty.kind]


@dataclass(frozen=True)
class ReviewSpan:
    """Days when a reconsideration or a lawsuit was pending (no surcharge accrues)."""

    start: date
    end: date | None
