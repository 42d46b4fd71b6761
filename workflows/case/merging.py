"""The case another case on the same conduct is merged into (并案): a supervisor merges case B
into this case A. B's reporters (their references: the workflow never learns who they are) join
A, and A goes on with its own clock; the record write that brings the entry moves B's reports to
A and tells every reporter of A, B's among them (services/complaints). B closes as merged by its
own workflow (actions/subject.py), after A took it in."""

from __future__ import annotations

from contracts.case import CaseMerger
from contracts.case_actions import HEARING, INVESTIGATION, PRIOR_NOTICE, VERIFICATION
from contracts.refusals import deny, refuse
from workflows.case.context import Case

# What A may be in to take another case in: before its decision is proposed.
TAKES_MERGERS_IN = (VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING)
SUPERVISORS = frozenset({"supervisor"})


def check_merge_in(case: Case, merger: CaseMerger) -> None:
    if merger.actor_role not in SUPERVISORS:
        raise deny("ACTION_NOT_FOR_ROLE", f"merging cases is for supervisors, not {merger.actor_role}",
                   action="merge", role=merger.actor_role)
    if merger.merged_case_id == case.start.case_id:
        raise refuse("MERGE_INTO_ITSELF", "a case is not merged into itself", field="into_case_id")
    if case.state.stage not in TAKES_MERGERS_IN:
        raise refuse("MERGE_INTO_STAGE", f"{case.start.case_id} is in stage {case.state.stage}: another case is "
                     "merged into one not yet before its decision", case_id=case.start.case_id,
                     stage=case.state.stage)
    if any(e.action == "case_merged_in" and e.data.get("merged_case_id") == merger.merged_case_id
           for e in case.state.timeline):
        raise refuse("CASE_ALREADY_MERGED_IN", f"{merger.merged_case_id} was merged into this case already",
                     case_id=merger.merged_case_id)
    case.effective_on(merger)


async def merge_in(case: Case, merger: CaseMerger, on: str) -> None:
    known = {r.reference for r in case.reporters}
    joined = [r for r in merger.reporters if r.reference not in known]
    case.reporters.extend(joined)
    case.note(merger.actor, "case_merged_in", merged_case_id=merger.merged_case_id, on=on, reason=merger.reason,
              reporters=len(joined))
