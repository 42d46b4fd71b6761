"""The inspection workflows as this service drives them, through a Temporal client: the message that
starts a campaign's workflow (committed with its record, sent through the workflow outbox), and
inspectors' and supervisors' actions as updates. Temporal's answers become the suite's errors here."""

from __future__ import annotations

from suite.workflow_client import WorkflowClient, answered
from suite.workflow_outbox import WorkflowMessage
from contracts.inspections import (ACT_UPDATE, ADD_TARGETS_UPDATE, AddTargetsOrder, CAMPAIGN_WORKFLOW, CLOSE_UPDATE,
                                   CampaignProgressView, CampaignReport, CampaignState, CloseOrder, EXTEND_UPDATE,
                                   ExtendOrder, PROGRESS_QUERY, TaskAction, TaskView)


def campaign_start_message(state: CampaignState) -> WorkflowMessage:
    """Start the campaign's workflow, or find it running; its id is the campaign id. A campaign
    whose workflow has finished is never started again."""
    return WorkflowMessage.start(CAMPAIGN_WORKFLOW, state.start.campaign_id, state)


class InspectionWorkflows(WorkflowClient):
    """The campaign and inspection task workflows."""

    async def act(self, task_id: str, action: TaskAction) -> TaskView:
        return await self.update(task_id, ACT_UPDATE, action, f"{action.action}-{action.request_id}", TaskView)

    async def close(self, campaign_id: str, order: CloseOrder) -> CampaignReport:
        return await self.update(campaign_id, CLOSE_UPDATE, order, f"close-{order.request_id}", CampaignReport)

    async def extend(self, campaign_id: str, order: ExtendOrder) -> CampaignProgressView:
        return await self.update(campaign_id, EXTEND_UPDATE, order, f"extend-{order.request_id}",
                                  CampaignProgressView)

    async def add_targets(self, campaign_id: str, order: AddTargetsOrder) -> CampaignProgressView:
        return await self.update(campaign_id, ADD_TARGETS_UPDATE, order, f"add-{order.request_id}",
                                  CampaignProgressView)

    async def progress(self, campaign_id: str) -> CampaignProgressView:
        handle = (await self.client()).get_workflow_handle(campaign_id)
        return await answered(lambda: handle.query(PROGRESS_QUERY, result_type=CampaignProgressView),
                               campaign_id)
