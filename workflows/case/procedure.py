"""The penalty procedure's rules that need no clock and no I/O: what a penalty is and entails
(hearing, publication, credit record, outcome). Which action each stage allows and to whom is
declared in `contracts.case_actions`; how an action is refused, in `contracts.refusals`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from contracts.refusals import refuse

PENALTY_KINDS = ("none", "warning", "fine", "suspension", "revocation")
# What each penalty kind puts on the agency's credit record in the registry.
CREDIT_EVENT_OF_PENALTY = {"warning": "warning", "fine": "fine", "suspension": "suspension",
                           "revocation": "revocation"}
# An agency is an organisation (法人或者其他组织) for the hearing thresholds.
PARTY_KIND = "organisation"
OUTCOME_OF_PENALTY = {"none": "no_penalty", "warning": "warning", "fine": "fine", "suspension": "suspension",
                      "revocation": "revocation"}


@dataclass(frozen=True)
class Penalty:
    kind: str
    fine_cny: int = 0
    suspension_months: int = 0


def check_penalty(penalty: Penalty, proposing: bool) -> None:
    """A penalty must be whole: a fine names its amount, a suspension its months (6–12 by
    专利代理条例 art. 25–26). Proposing one (告知) needs a penalty; a decision may be none."""
    if penalty.kind not in PENALTY_KINDS:
        raise refuse("PENALTY_KIND_UNKNOWN", f"unknown penalty kind {penalty.kind!r}", field="penalty.kind",
                     penalty_kind=penalty.kind)
    if proposing and penalty.kind == "none":
        raise refuse("PRIOR_NOTICE_WITHOUT_PENALTY",
                     "a prior notice proposes a penalty; decide no penalty with submit_decision", field="penalty.kind")
    if penalty.kind == "fine" and penalty.fine_cny <= 0:
        raise refuse("FINE_AMOUNT_REQUIRED", "a fine needs its amount", field="penalty.fine_cny")
    if penalty.kind in ("none", "warning", "revocation") and penalty.fine_cny:
        raise refuse("PENALTY_CARRIES_NO_FINE", f"a {penalty.kind} carries no fine", field="penalty.fine_cny",
                     penalty_kind=penalty.kind)
    if penalty.kind == "suspension" and not 6 <= penalty.suspension_months <= 12:
        raise refuse("SUSPENSION_MONTHS_OUT_OF_RANGE", "a suspension from new business lasts 6 to 12 months",
                     field="penalty.suspension_months", min=6, max=12)
    if penalty.kind != "suspension" and penalty.suspension_months:
        raise refuse("MONTHS_ONLY_FOR_SUSPENSION", "only a suspension has months", field="penalty.suspension_months")


def check_subject(penalty: Penalty, in_registry: bool, practitioner: bool) -> None:
    """A penalty lands on a registry entry's credit record: a subject the registry does not know
    (未登记主体) is matched to its entry first (主体认定), once the office has entered it. A
    practitioner is warned or fined here; the registry keeps no practice status to suspend or revoke."""
    if penalty.kind == "none":
        return
    if not in_registry:
        raise refuse("SUBJECT_NOT_IN_REGISTRY", "a penalty lands on a registry entry's credit record: match the "
                     "case's subject to its registry entry first")
    if practitioner and penalty.kind in ("suspension", "revocation"):
        raise refuse("PENALTY_NOT_FOR_PRACTITIONER", f"a practitioner is not given a {penalty.kind} here",
                     field="penalty.kind", penalty_kind=penalty.kind)


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


def penalty_of(action) -> Penalty:
    """The penalty a CaseAction names (告知 or 决定)."""
    return Penalty(action.penalty_kind, action.fine_cny, action.suspension_months)


def describe(penalty: Penalty) -> str:
    if penalty.kind == "fine":
        return f"fine of {penalty.fine_cny} CNY"
    if penalty.kind == "suspension":
        fine = f" and a fine of {penalty.fine_cny} CNY" if penalty.fine_cny else ""
        return f"suspension from new business for {penalty.suspension_months} months{fine}"
    return {"none": "no penalty", "warning": "warning", "revocation": "licence revocation"}[penalty.kind]


def penalty_data(penalty: Penalty) -> dict[str, object]:
    """A penalty as a timeline entry's data, which readers word (`contracts.timeline`)."""
    return {"penalty_kind": penalty.kind, "fine_cny": penalty.fine_cny, "suspension_months": penalty.suspension_months}


def heavier(decided: Penalty, proposed: Penalty) -> bool:
    """A decision heavier than the penalty told to the party needs a new prior notice."""
    return (PENALTY_KINDS.index(decided.kind) > PENALTY_KINDS.index(proposed.kind)
            or decided.fine_cny > proposed.fine_cny or decided.suspension_months > proposed.suspension_months)


def hearing_available(rules, penalty: Penalty) -> bool:
    """Whether the party may ask for a hearing (听证办法 art. 5), by the case's rules version."""
    return rules.hearing.available(PARTY_KIND, measures(penalty), penalty.fine_cny * 100)
