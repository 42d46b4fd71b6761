"""The case workflows as this service drives them, through a Temporal client: the messages that
start one per case and tell it a reporter joined (committed with the report, sent through the
workflow outbox), and handlers' and supervisors' actions as updates. Temporal's answers become
the suite's errors here."""

from __future__ import annotations

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from suite.workflow_client import WorkflowClient
from suite.workflow_outbox import WorkflowMessage
from contracts import search_attributes
from contracts.case import (ACT_UPDATE, JOIN_SIGNAL, MERGE_IN_UPDATE, WORKFLOW_NAME, CaseAction, CaseMerger, CaseStart,
                            CaseView, ReporterRef)


def start_message(start: CaseStart) -> WorkflowMessage:
    """Start the case's workflow, or find it running: the workflow id is the case id. A case whose
    workflow has finished (archived) is never started again."""
    return WorkflowMessage.start(WORKFLOW_NAME, start.case_id, start, TypedSearchAttributes([
        SearchAttributePair(search_attributes.CASE_STAGE, "verification"),
        SearchAttributePair(search_attributes.CASE_STATUS, "received"),
        SearchAttributePair(search_attributes.REGION_CODE, start.region_code),
        SearchAttributePair(search_attributes.AGENCY_CREDIT_CODE, start.agency.credit_code),
        SearchAttributePair(search_attributes.VIOLATION_CATEGORY, start.category)]))


def join_message(case_id: str, reporter: ReporterRef) -> WorkflowMessage:
    """Tell the case another reporter joined; the workflow counts a reporter once."""
    return WorkflowMessage.signal(case_id, JOIN_SIGNAL, reporter, reporter.reference)


class CaseWorkflows(WorkflowClient):
    """The case workflows: one per case, its id the case id."""

    async def act(self, case_id: str, action: CaseAction) -> CaseView:
        return await self.update(case_id, ACT_UPDATE, action, f"act-{action.actor}-{action.request_id}",
                                 CaseView)

    async def merge_in(self, case_id: str, merger: CaseMerger) -> CaseView:
        """Another case merged into this one (并案): its reporters join."""
        return await self.update(case_id, MERGE_IN_UPDATE, merger,
                                 f"merge-in-{merger.actor}-{merger.request_id}", CaseView)
