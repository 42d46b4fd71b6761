"""The case workflows as this service drives them, through a Temporal client: start one per case
(idempotently, after the case record is committed), let a reporter join, and send handlers' and
supervisors' actions as updates. Temporal's answers become the suite's errors here."""

from __future__ import annotations

from temporalio.common import (SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy,
                               WorkflowIDReusePolicy)
from temporalio.exceptions import WorkflowAlreadyStartedError

from suite.workflow_client import WorkflowClient, answered
from contracts import search_attributes
from contracts.case import ACT_UPDATE, CaseAction, CaseStart, CaseView, JOIN_UPDATE, ReporterRef, WORKFLOW_NAME


class CaseWorkflows(WorkflowClient):
    """The case workflows: one per case, its id the case id."""

    async def ensure_started(self, start: CaseStart) -> None:
        """Start the case's workflow, or find it running: the workflow id is the case id. A case
        whose workflow has finished is never started again."""
        client = await self.client()
        try:
            await answered(lambda: client.start_workflow(
                WORKFLOW_NAME, start, id=start.case_id, task_queue=self._settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(search_attributes.CASE_STAGE, "verification"),
                    SearchAttributePair(search_attributes.CASE_STATUS, "received"),
                    SearchAttributePair(search_attributes.REGION_CODE, start.region_code),
                    SearchAttributePair(search_attributes.AGENCY_CREDIT_CODE, start.agency.credit_code),
                    SearchAttributePair(search_attributes.VIOLATION_CATEGORY, start.category)])), start.case_id)
        except WorkflowAlreadyStartedError:
            pass  # it ran and finished: the case is archived

    async def join(self, case_id: str, reporter: ReporterRef) -> None:
        """Tell the case another reporter joined; the update id makes a retry join once."""
        await self.update(case_id, JOIN_UPDATE, reporter, f"join-{reporter.reference}", CaseView)

    async def act(self, case_id: str, action: CaseAction) -> CaseView:
        return await self.update(case_id, ACT_UPDATE, action, f"act-{action.actor}-{action.request_id}",
                                 CaseView)
