"""The inspection workflows as this service drives them, through a Temporal client: start a
campaign's workflow (idempotently, after its record is committed), and send inspectors' and
supervisors' actions as updates. Temporal's answers become the suite's errors here."""

from __future__ import annotations

from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from suite.workflow_client import WorkflowClient, answered
from workflows.inspections import model as m


class InspectionWorkflows(WorkflowClient):
    """The campaign and inspection task workflows."""

    async def start_campaign(self, state: m.CampaignState) -> None:
        """Start the campaign's workflow, or find it running; its id is the campaign id. A campaign
        whose workflow has finished is never started again."""
        client = await self.client()
        try:
            await answered(lambda: client.start_workflow(
                m.CAMPAIGN_WORKFLOW, state, id=state.start.campaign_id, task_queue=self._settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE), state.start.campaign_id)
        except WorkflowAlreadyStartedError:
            pass

    async def act(self, task_id: str, action: m.TaskAction) -> m.TaskView:
        return await self.update(task_id, m.ACT_UPDATE, action, f"{action.action}-{action.request_id}", m.TaskView)

    async def close(self, campaign_id: str, order: m.CloseOrder) -> m.CampaignReport:
        return await self.update(campaign_id, m.CLOSE_UPDATE, order, f"close-{order.request_id}", m.CampaignReport)

    async def extend(self, campaign_id: str, order: m.ExtendOrder) -> m.CampaignProgressView:
        return await self.update(campaign_id, m.EXTEND_UPDATE, order, f"extend-{order.request_id}",
                                  m.CampaignProgressView)

    async def add_targets(self, campaign_id: str, order: m.AddTargetsOrder) -> m.CampaignProgressView:
        return await self.update(campaign_id, m.ADD_TARGETS_UPDATE, order, f"add-{order.request_id}",
                                  m.CampaignProgressView)

    async def progress(self, campaign_id: str) -> m.CampaignProgressView:
        handle = (await self.client()).get_workflow_handle(campaign_id)
        return await answered(lambda: handle.query(m.PROGRESS_QUERY, result_type=m.CampaignProgressView),
                               campaign_id)
