"""Suspension from new business (停止承接新业务) for a period, lifted by a durable timer.

The decision names the last day of the suspension; the agency may take new business again
from the next day, 00:00 China time. A decision revoked on review ends it early (the `end_early`
signal, from the case). If the agency was revoked or deregistered meanwhile, the suspension is
not lifted and the workflow says so."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from suite.clock import CHINA
    from contracts import search_attributes
    from workflows.activities.registry import RegistryActivities, StatusChangeOrder

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@dataclass
class SuspensionDecision:
    agency_id: str
    effective_on: str
    suspended_until: str
    reason: str
    decision_reference: str
    # As in a case (CaseStart.calendar_offset_days): zero in production.
    calendar_offset_days: int = 0


@dataclass
class EarlyEnd:
    """The decision was revoked (or changed) on review: the agency may take new business from `on`."""

    on: str
    reason: str


@dataclass
class SuspensionState:
    stage: str  # suspending, suspended, lifted, not_lifted
    lifts_at: str
    note: str = ""


def lift_moment(suspended_until: str, calendar_offset_days: int = 0) -> datetime:
    day_after = date.fromisoformat(suspended_until) + timedelta(days=1 + calendar_offset_days)
    return datetime.combine(day_after, time(0), tzinfo=CHINA)


@workflow.defn(name="AgencySuspension")
class AgencySuspensionWorkflow:
    def __init__(self) -> None:
        self.state = SuspensionState(stage="suspending", lifts_at="")
        self.early_end: EarlyEnd | None = None

    @workflow.signal
    def end_early(self, end: EarlyEnd) -> None:
        self.early_end = end

    @workflow.query
    def status(self) -> SuspensionState:
        return self.state

    @workflow.run
    async def run(self, decision: SuspensionDecision) -> SuspensionState:
        lifts_at = lift_moment(decision.suspended_until, decision.calendar_offset_days)
        self.state.lifts_at = lifts_at.isoformat()
        agency = await self._change(decision, "suspended", decision.effective_on, decision.suspended_until,
                                    decision.reason)
        workflow.upsert_search_attributes([
            search_attributes.AGENCY_CREDIT_CODE.value_set(agency.credit_code), search_attributes.REGION_CODE.value_set(agency.region_code),
            search_attributes.NEXT_DEADLINE.value_set(lifts_at), search_attributes.CASE_STATUS.value_set("suspended")])
        self.state.stage = "suspended"
        try:
            await workflow.wait_condition(lambda: self.early_end is not None,
                                          timeout=max(timedelta(0), lifts_at - workflow.now()))
            lifted_on, why = self.early_end.on, self.early_end.reason
        except asyncio.TimeoutError:
            lifted_on = (date.fromisoformat(decision.suspended_until) + timedelta(days=1)).isoformat()
            why = "停止承接新业务期满 suspension period ended"
        try:
            await self._change(decision, "active", lifted_on, "", why)
        except ActivityError as error:
            cause = error.cause
            if not (isinstance(cause, ApplicationError) and cause.type == "FAILED_PRECONDITION"):
                raise
            self.state = SuspensionState("not_lifted", self.state.lifts_at, cause.message)
        else:
            self.state.stage = "lifted"
        workflow.upsert_search_attributes([search_attributes.CASE_STATUS.value_set(self.state.stage), search_attributes.NEXT_DEADLINE.value_unset()])
        return self.state

    async def _change(self, decision: SuspensionDecision, to_status: str, effective_on: str, until: str, reason: str):
        order = StatusChangeOrder(
            idempotency_key=f"{workflow.info().workflow_id}:{to_status}", agency_id=decision.agency_id,
            to_status=to_status, effective_on=effective_on, suspended_until=until, reason=reason,
            decision_reference=decision.decision_reference)
        return await workflow.execute_activity_method(
            RegistryActivities.change_agency_status, order, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY)


def workflow_id(decision: SuspensionDecision) -> str:
    return f"suspension-{decision.agency_id}-{decision.effective_on}"
