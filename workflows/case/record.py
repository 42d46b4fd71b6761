"""The case as others see it: the view the `state` query and every update answer with, the case
record written to the complaints service (queues, search, the reporter's page and statistics
read it, never the workflow), and the search attributes an operator filters by in the Temporal UI."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from contracts import search_attributes
from contracts.case import CaseView
from contracts.case_actions import CLOSED
from workflows.activities.complaints import ComplaintsActivities, ProgressRecord
from workflows.case import actions, clock
from workflows.case.activity_options import RECORD_TIMEOUT, SERVICE_RETRY
from workflows.case.state import RunningPeriod
from workflows.case.context import Case



def view(case: Case) -> CaseView:
    start, state = case.start, case.state
    day = clock.today(case).isoformat()
    upcoming = next_deadline(case)
    decision = state.decision
    return CaseView(
        case_id=start.case_id, revision=case.revision, stage=state.stage, status=state.status,
        outcome=state.outcome, region_code=state.region_code, agency=state.agency, category=start.category,
        source=start.source, received_on=start.received_on, rules_version=start.rules_version,
        assignee=state.assignee, deadlines=[x.view() for x in state.periods.values()],
        timeline=list(state.timeline), allowed_actions=actions.allowed_now(case),
        next_deadline=upcoming.plan.due_on if upcoming else "",
        next_deadline_period=upcoming.period_id if upcoming else "",
        overdue=any(x.state == "missed" for x in state.periods.values()) and state.stage != CLOSED,
        due_soon=bool(upcoming and upcoming.plan.warn_on and upcoming.plan.warn_on <= day),
        reporter_count=len(case.reporters),
        fine_cny=decision.penalty.fine_cny if decision else 0,
        surcharge_cny=clock.surcharge(case, clock.today(case)),
        penalty_kind=decision.penalty.kind if decision else "",
        next_deadline_provisional=bool(upcoming and upcoming.provisional),
        provisional_years=provisional_years(case),
        paid_on=decision.paid_on if decision else "",
        surcharge_paused=[[r.start.isoformat(), r.end.isoformat() if r.end else ""] for r in state.reviews],
        referral=state.referral.view() if state.referral else None,
        subject_kind=state.subject_kind, practitioner=state.practitioner, merged_into=state.merged_into,
        transferred_from=state.transfer.from_region if state.transfer and state.transfer.answer != "returned" else "")


def next_deadline(case: Case) -> RunningPeriod | None:
    running = [x for x in case.state.periods.values() if x.state == "running"
               and not x.period_id.startswith(("publicity", "credit_repair"))]
    return min(running, key=lambda x: x.plan.due_on, default=None)


def provisional_years(case: Case) -> list[int]:
    return sorted({year for x in case.state.periods.values() if x.state in clock.DATED_STATES
                   for year in x.plan.provisional_years})


async def write(case: Case) -> None:
    """Write the case record and the search attributes."""
    case.revision += 1
    new_entries = case.state.timeline[case.recorded_entries:]
    current = view(case)
    # A local activity: the write happens inside the workflow task that decided it, with no
    # activity task to schedule, dispatch and report on the server, and its input (the whole
    # view) is not copied into the history. The service applies a revision once, whatever the
    # retries.
    await workflow.execute_local_activity_method(
        ComplaintsActivities.record_progress, ProgressRecord(view=current, new_entries=new_entries),
        start_to_close_timeout=RECORD_TIMEOUT, retry_policy=SERVICE_RETRY)
    case.recorded_entries = len(case.state.timeline)
    upcoming = next_deadline(case)
    keys, state = search_attributes, case.state
    workflow.upsert_search_attributes([
        keys.CASE_STAGE.value_set(state.stage), keys.CASE_STATUS.value_set(state.status),
        keys.REGION_CODE.value_set(state.region_code),
        keys.AGENCY_CREDIT_CODE.value_set(case.state.agency.credit_code),
        keys.VIOLATION_CATEGORY.value_set(case.start.category), keys.OVERDUE.value_set(current.overdue),
        keys.PROVISIONAL_YEARS.value_set([str(year) for year in current.provisional_years])
        if current.provisional_years else keys.PROVISIONAL_YEARS.value_unset(),
        keys.NEXT_DEADLINE.value_set(clock.instant(case, upcoming.plan.due_on) + timedelta(days=1)) if upcoming
        else keys.NEXT_DEADLINE.value_unset()])
