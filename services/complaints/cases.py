"""The case workflows as this service drives them, through a Temporal client: start one per case
(idempotently, after the case record is committed), let a reporter join, and send handlers' and
supervisors' actions as updates. Temporal's answers become the suite's errors here."""

from __future__ import annotations

from temporalio.common import (SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy,
                               WorkflowIDReusePolicy)
from temporalio.exceptions import WorkflowAlreadyStartedError

from suite.workflow_client import WorkflowClient, answered
from workflows import search_attributes as sa
from workflows.case import model


class CaseWorkflows(WorkflowClient):
    """The case workflows: one per case, its id the case id."""

    async def ensure_started(self, start: model.CaseStart) -> None:
        """Start the case's workflow, or find it running: the workflow id is the case id. A case
        whose workflow has finished is never started again."""
        client = await self.client()
        try:
            await answered(lambda: client.start_workflow(
                model.WORKFLOW_NAME, start, id=start.case_id, task_queue=self._settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(sa.CASE_STAGE, "verification"),
                    SearchAttributePair(sa.CASE_STATUS, "received"),
                    SearchAttributePair(sa.REGION_CODE, start.region_code),
                    SearchAttributePair(sa.AGENCY_CREDIT_CODE, start.agency.credit_code),
                    SearchAttributePair(sa.VIOLATION_CATEGORY, start.category)])), start.case_id)
        except WorkflowAlreadyStartedError:
            pass  # it ran and finished: the case is archived

    async def join(self, case_id: str, reporter: model.ReporterRef) -> None:
        """Tell the case another reporter joined; the update id makes a retry join once."""
        await self.update(case_id, model.JOIN_UPDATE, reporter, f"join-{reporter.reference}", model.CaseView)

    async def act(self, case_id: str, action: model.CaseAction) -> model.CaseView:
        return await self.update(case_id, model.ACT_UPDATE, action, f"act-{action.actor}-{action.request_id}",
                                 model.CaseView)
