"""What the parts of the case workflow (clock, actions, record) may use of the running case: its
start, rules and state, and the two things it does for them (note an entry, place an action on a
legal day). The workflow class is this; the parts name only this, so they import nothing above
them."""

from __future__ import annotations

from typing import Protocol

from contracts.case import CaseAction, CaseStart, ReporterRef
from rules.statutes import Rules
from workflows.case.state import CaseState


class Case(Protocol):
    start: CaseStart
    rules: Rules
    state: CaseState
    reporters: list[ReporterRef]
    revision: int
    recorded_entries: int
    # Within a handler's action: calendar arithmetic runs once, so that a failure answers at once.
    acting: bool

    def note(self, actor: str, action: str, internal: bool = True, **data: object) -> None: ...

    def effective_on(self, action: CaseAction) -> str: ...
