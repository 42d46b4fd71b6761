"""The CreditRepair workflows as the registry drives them, through a Temporal client: the start of an
application's workflow (committed with the application, sent through the workflow outbox), and the
handler's check and the supervisor's decision as updates. Temporal's answers become the suite's
errors in suite.workflow_client."""

from __future__ import annotations

from contracts.credit_repair import (CHECK_UPDATE, CREDIT_REPAIR_WORKFLOW, DECIDE_UPDATE, CreditRepairStart,
                                     CreditRepairView, RepairAction, workflow_id)
from suite.workflow_client import WorkflowClient
from suite.workflow_outbox import WorkflowMessage


def repair_start_message(start: CreditRepairStart) -> WorkflowMessage:
    """Start the application's workflow, or find it running; one that has finished never starts again."""
    return WorkflowMessage.start(CREDIT_REPAIR_WORKFLOW, workflow_id(start.repair_id), start)


class RepairWorkflows(WorkflowClient):
    async def check(self, repair_id: str, action: RepairAction) -> CreditRepairView:
        return await self.update(workflow_id(repair_id), CHECK_UPDATE, action, f"check-{action.request_id}",
                                 CreditRepairView)

    async def decide(self, repair_id: str, action: RepairAction) -> CreditRepairView:
        return await self.update(workflow_id(repair_id), DECIDE_UPDATE, action, f"decide-{action.request_id}",
                                 CreditRepairView)
