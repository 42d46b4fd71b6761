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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from temporalio.exceptions import ApplicationError

from contracts.case import CaseAction
from contracts.case_actions import CASE_ACTIONS, CLOSED, actions_of_stage
from contracts.refusals import refuse
from workflows.case import clock

if TYPE_CHECKING:
    from workflows.case.workflow import CaseWorkflow

Apply = Callable[["CaseWorkflow", CaseAction, str], Awaitable[None]]
When = Callable[["CaseWorkflow"], "ApplicationError | None"]
Check = Callable[["CaseWorkflow", CaseAction], None]


def _any_state(case: CaseWorkflow) -> ApplicationError | None:
    return None


def _any_arguments(case: CaseWorkflow, action: CaseAction) -> None:
    return None


@dataclass(frozen=True)
class Handler:
    apply: Apply
    when: When = _any_state
    check: Check = _any_arguments


HANDLERS: dict[str, Handler] = {}


def handles(name: str, *, when: When = _any_state, check: Check = _any_arguments) -> Callable[[Apply], Apply]:
    if name not in CASE_ACTIONS:
        raise KeyError(f"{name} is not declared in contracts.case_actions")

    def register(apply: Apply) -> Apply:
        HANDLERS[name] = Handler(apply, when, check)
        return apply
    return register


def check(case: CaseWorkflow, action: CaseAction) -> None:
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
    case.effective_on(action)
    handler = HANDLERS[action.action]
    refusal = handler.when(case)
    if refusal is not None:
        raise refusal
    handler.check(case, action)


def allowed_now(case: CaseWorkflow) -> list[str]:
    """The stage's actions that the case's state allows now."""
    return [spec.name for spec in actions_of_stage(case.state.stage) if HANDLERS[spec.name].when(case) is None]


async def apply(case: CaseWorkflow, action: CaseAction, on: str) -> None:
    await HANDLERS[action.action].apply(case, action, on)


def close_case(case: CaseWorkflow, outcome: str, status: str) -> None:
    """The case ends here (结案, 不予立案, 移送…): the office's own clocks stop with it."""
    case.state.stage, case.state.status, case.state.outcome = CLOSED, status, outcome
    clock.cancel_office_duties(case)


# The handlers, by stage; importing them registers them.
from workflows.case.actions import (after_decision, clock_stops, decision, endings,  # noqa: E402,F401
                                    prior_notice, verification)

if set(CASE_ACTIONS) - set(HANDLERS):
    raise ImportError(f"declared case actions without a handler: {', '.join(sorted(set(CASE_ACTIONS) - set(HANDLERS)))}")
