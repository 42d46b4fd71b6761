"""What each case action does (办案操作), grouped by the stage it belongs to. The action itself is
declared once in `contracts.case_actions` (roles, stages, arguments, label); here each gets:

- `when`: what the case's state must be for the action to be possible now, as the refusal when
  it is not (`contracts.refusals.refuse`, returned rather than raised). The update's validator
  raises it, and the list of actions allowed now (the console's offer, the case record) is the
  stage's actions whose `when` passes: one rule, read twice, so the two cannot drift apart;
- `check`: what its arguments must be (refused before anything changes);
- the handler that applies it, after both, on the case's state and through activities.

A module registers its handlers with `@handles(name, when=..., check=...)`."""

from __future__ import annotations

from contracts.case import OPENING_PERIOD, CaseAction
from contracts.case_actions import CASE_ACTIONS, actions_of_stage
from contracts.refusals import refuse
from workflows.case.actions import (after_decision, clock_stops, decision, endings,  # noqa: F401 - they register
                                    prior_notice, subject, transfers, verification)
from workflows.case.actions.registry import HANDLERS
from workflows.case.context import Case

if set(CASE_ACTIONS) - set(HANDLERS):
    raise ImportError(f"declared case actions without a handler: {', '.join(sorted(set(CASE_ACTIONS) - set(HANDLERS)))}")


def check(case: Case, action: CaseAction) -> None:
    """Refuse what the declaration, the case's state or the arguments rule out (the validator)."""
    spec = CASE_ACTIONS.get(action.action)
    if spec is None:
        raise refuse("ACTION_UNKNOWN", f"unknown action {action.action!r}", field="action", action=action.action)
    if action.actor_role not in spec.roles:
        raise refuse("ACTION_NOT_FOR_ROLE",
                     f"{action.action} is for {', '.join(sorted(spec.roles))}, not {action.actor_role}",
                     action=action.action, role=action.actor_role)
    if case.state.stage not in spec.stages:
        raise refuse("ACTION_NOT_IN_STAGE", f"{action.action} is not possible in stage {case.state.stage}",
                     action=action.action, stage=case.state.stage)
    if OPENING_PERIOD not in case.state.periods:
        # An action that came with the case's start, while its first period is still being placed
        # (a provisional year asks the calendar): the update waits for the case to open and is
        # checked again then, under the case's lock.
        return
    case.effective_on(action)
    handler = HANDLERS[action.action]
    refusal = handler.when(case)
    if refusal is not None:
        raise refusal
    handler.check(case, action)


def allowed_now(case: Case) -> list[str]:
    """The stage's actions that the case's state allows now."""
    return [spec.name for spec in actions_of_stage(case.state.stage) if HANDLERS[spec.name].when(case) is None]


async def apply(case: Case, action: CaseAction, on: str) -> None:
    await HANDLERS[action.action].apply(case, action, on)
