"""The case workflows as this service drives them, through a Temporal client: start one per case
(idempotently, after the case record is committed), let a reporter join, and send handlers' and
supervisors' actions as updates. Temporal's answers become the suite's errors here."""

from __future__ import annotations

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from suite.workflow_client import WorkflowClient
from contracts import search_attributes
from contracts.case import ACT_UPDATE, CaseAction, CaseStart, CaseView, JOIN_UPDATE, ReporterRef, WORKFLOW_NAME


class CaseWorkflows(WorkflowClient):
    """The case workflows: one per case, its id the case id."""

    async def ensure_started(self, start: CaseStart) -> None:
        """Start the case's workflow, or find it running: the workflow id is the case id. A case
        whose workflow has finished (archived) is never started again."""
        await self.start_or_attach(WORKFLOW_NAME, start, start.case_id, search_attributes=TypedSearchAttributes([
            SearchAttributePair(search_attributes.CASE_STAGE, "verification"),
            SearchAttributePair(search_attributes.CASE_STATUS, "received"),
            SearchAttributePair(search_attributes.REGION_CODE, start.region_code),
            SearchAttributePair(search_attributes.AGENCY_CREDIT_CODE, start.agency.credit_code),
            SearchAttributePair(search_attributes.VIOLATION_CATEGORY, start.category)]))

    async def join(self, case_id: str, reporter: ReporterRef) -> None:
        """Tell the case another reporter joined; the update id makes a retry join once."""
        await self.update(case_id, JOIN_UPDATE, reporter, f"join-{reporter.reference}", CaseView)

    async def act(self, case_id: str, action: CaseAction) -> CaseView:
        return await self.update(case_id, ACT_UPDATE, action, f"act-{action.actor}-{action.request_id}",
                                 CaseView)
