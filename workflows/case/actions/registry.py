"""The handlers of the case actions, registered by the modules of this package with `@handles`:
what each action does, and its `when` and `check` rules (see the package's docstring)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.exceptions import ApplicationError

from contracts.case import CaseAction
from contracts.case_actions import CASE_ACTIONS, CLOSED
from workflows.case import clock
from workflows.case.context import Case

Apply = Callable[[Case, CaseAction, str], Awaitable[None]]
When = Callable[[Case], "ApplicationError | None"]
Check = Callable[[Case, CaseAction], None]


def _any_state(case: Case) -> ApplicationError | None:
    return None


def _any_arguments(case: Case, action: CaseAction) -> None:
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


def close_case(case: Case, outcome: str, status: str) -> None:
    """The case ends here (结案, 不予立案, 移送…): the office's own clocks stop with it."""
    case.state.stage, case.state.status, case.state.outcome = CLOSED, status, outcome
    clock.cancel_office_duties(case)
