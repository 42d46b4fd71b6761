"""One application for credit repair (信用修复, 市场监督管理信用修复管理办法): the registry has found
the penalties repairable on the day it was made (the rules allow repair of them, their publicity
has run credit_repair_after, the agency is on no credit list); here a handler checks that the
penalty was complied with and puts it to a supervisor with the evidence, or refuses saying why, and
a supervisor who did not check it grants or refuses it (four eyes). A grant ends the penalties'
publicity the day before (提前停止公示), and the public register says they were repaired.

Its clock: the last day any penalty named is public. Undecided by the day after, the application
lapses, since the publicity it asked to end has ended by itself. Each step is recorded in the
registry, which keeps the application; the reporter of the original case has no part in any of it.
One workflow per application (contracts.credit_repair.workflow_id), started by the registry."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.credit_repair import (AWAITING_CHECK, AWAITING_DECISION, CHECK_ROLES, CHECK_UPDATE,
                                         CREDIT_REPAIR_WORKFLOW, DECIDE_ROLES, DECIDE_UPDATE, FOR_DECISION, GRANT,
                                         GRANTED, LAPSED, REFUSE, REFUSED, VIEW_QUERY, CreditRepairStart,
                                         CreditRepairView, RepairAction)
    from contracts.refusals import deny, refuse, step_failed
    from suite.clock import CHINA
    from workflows.activities.registry import RegistryActivities, RepairStepOrder
    from workflows.agency_suspension import lift_moment

SERVICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
SERVICE_TIMEOUT = timedelta(seconds=30)
OPEN = (AWAITING_CHECK, AWAITING_DECISION)
# The step each action records, by the update and its outcome.
STEPS = {(CHECK_UPDATE, FOR_DECISION): "checked", (CHECK_UPDATE, REFUSE): "refused_at_check",
         (DECIDE_UPDATE, GRANT): "granted", (DECIDE_UPDATE, REFUSE): "refused"}


@workflow.defn(name=CREDIT_REPAIR_WORKFLOW)
class CreditRepairWorkflow:
    @workflow.init
    def __init__(self, start: CreditRepairStart) -> None:
        self.start = start
        self.view_ = CreditRepairView(repair_id=start.repair_id, stage=AWAITING_CHECK, lapses_on=start.lapses_on)
        self.handled: set[str] = set()
        # One step at a time: a check and a decision sent together are taken in turn.
        self.lock = asyncio.Lock()

    @workflow.query(name=VIEW_QUERY)
    def view(self) -> CreditRepairView:
        return self.view_

    @workflow.run
    async def run(self, start: CreditRepairStart) -> CreditRepairView:
        workflow.upsert_search_attributes([search_attributes.AGENCY_CREDIT_CODE.value_set(start.credit_code),
                                           search_attributes.REGION_CODE.value_set(start.region_code)])
        self._status()
        lapse_at = lift_moment((date.fromisoformat(start.lapses_on) - timedelta(days=1)).isoformat(),
                               start.calendar_offset_days)
        try:
            await workflow.wait_condition(lambda: self.view_.stage not in OPEN,
                                          timeout=max(timedelta(0), lapse_at - workflow.now()))
        except asyncio.TimeoutError:
            async with self.lock:
                if self.view_.stage in OPEN:
                    await self._record("lapsed", "", start.lapses_on)
                    self.view_.stage, self.view_.decided_on = LAPSED, start.lapses_on
                    self._status()
        return self.view_

    # ---- the steps ------------------------------------------------------------------------------

    @workflow.update(name=CHECK_UPDATE)
    async def check(self, action: RepairAction) -> CreditRepairView:
        return await self._act(CHECK_UPDATE, action)

    @check.validator
    def _validate_check(self, action: RepairAction) -> None:
        if action.request_id not in self.handled:
            self._admit(CHECK_UPDATE, action)

    @workflow.update(name=DECIDE_UPDATE)
    async def decide(self, action: RepairAction) -> CreditRepairView:
        return await self._act(DECIDE_UPDATE, action)

    @decide.validator
    def _validate_decide(self, action: RepairAction) -> None:
        if action.request_id not in self.handled:
            self._admit(DECIDE_UPDATE, action)

    def _admit(self, update: str, action: RepairAction) -> None:
        """Who may take the step, in which stage, with what; refusals carry their reason."""
        roles, stage = (CHECK_ROLES, AWAITING_CHECK) if update == CHECK_UPDATE else (DECIDE_ROLES, AWAITING_DECISION)
        if action.actor_role not in roles:
            raise deny("CREDIT_REPAIR_STEP_NOT_FOR_ROLE", f"{update} is for {', '.join(roles)}", repair_step=update,
                       role=action.actor_role)
        if self.view_.stage != stage:
            raise refuse("CREDIT_REPAIR_NOT_IN_STAGE", f"{update} is not possible while the application is "
                         f"{self.view_.stage}", repair_step=update, repair_stage=self.view_.stage)
        if (update, action.outcome) not in STEPS:
            raise refuse("CREDIT_REPAIR_OUTCOME_UNKNOWN", f"unknown outcome {action.outcome!r}", field="outcome",
                         given=action.outcome)
        if update == DECIDE_UPDATE and action.actor == self.view_.checked_by:
            raise refuse("FOUR_EYES_CREDIT_REPAIR", "four eyes: whoever checked the application cannot decide it",
                         checked_by=self.view_.checked_by)
        if action.outcome == REFUSE and not action.reason:
            raise refuse("REFUSAL_REASON_REQUIRED", "a refusal says why", field="reason")
        if update == CHECK_UPDATE and action.outcome == FOR_DECISION and not action.compliance_evidence:
            raise refuse("COMPLIANCE_EVIDENCE_REQUIRED", "the check names what proves compliance",
                         field="compliance_evidence")

    async def _act(self, update: str, action: RepairAction) -> CreditRepairView:
        async with self.lock:
            if action.request_id in self.handled:
                return self.view_
            self._admit(update, action)
            step, today = STEPS[(update, action.outcome)], self._today()
            try:
                await self._record(step, action.actor, today, action.compliance_evidence, action.reason,
                                   action.request_id)
            except FailureError as failure:
                workflow.logger.warning("%s of %s failed: %s", step, self.start.repair_id, failure)
                raise step_failed(failure, "信用修复申请", action.request_id) from None
            self.handled.add(action.request_id)
            view = self.view_
            if update == CHECK_UPDATE:
                view.checked_by, view.checked_on = action.actor, today
                view.stage = AWAITING_DECISION if action.outcome == FOR_DECISION else REFUSED
            else:
                view.decided_by, view.decided_on = action.actor, today
                view.stage = GRANTED if action.outcome == GRANT else REFUSED
            if action.outcome == REFUSE:
                view.refusal_reason = action.reason
            self._status()
            return view

    async def _record(self, step: str, actor: str, on: str, evidence: str = "", reason: str = "",
                      request_id: str = "") -> None:
        await workflow.execute_activity_method(
            RegistryActivities.record_repair_step,
            RepairStepOrder(repair_id=self.start.repair_id, step=step, on=on, actor=actor,
                            compliance_evidence=evidence, reason=reason, request_id=request_id),
            start_to_close_timeout=SERVICE_TIMEOUT, retry_policy=SERVICE_RETRY)

    def _today(self) -> str:
        return (workflow.now().astimezone(CHINA) - timedelta(days=self.start.calendar_offset_days)).date().isoformat()

    def _status(self) -> None:
        deadline = (search_attributes.NEXT_DEADLINE.value_set(lift_moment(
            (date.fromisoformat(self.start.lapses_on) - timedelta(days=1)).isoformat(),
            self.start.calendar_offset_days)) if self.view_.stage in OPEN
            else search_attributes.NEXT_DEADLINE.value_unset())
        workflow.upsert_search_attributes([search_attributes.CASE_STATUS.value_set(self.view_.stage), deadline])
