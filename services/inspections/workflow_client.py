"""The inspection workflows as this service drives them, through a Temporal client: start a
campaign's workflow (idempotently, after its record is committed), and send inspectors' and
supervisors' actions as updates. Temporal's answers become the suite's errors here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from suite import config
from suite.errors import FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied, Unavailable
from workflows.inspections import model as m

RETRY_LATER = "the workflow did not answer in time; retry with the same idempotency key"
# An update needs a worker to run it; without one it would wait for ever.
UPDATE_WAIT_SECONDS = 30.0


class InspectionWorkflows:
    """Connects on first use, so that the service serves while Temporal starts."""

    def __init__(self, client: Client | None = None, settings: config.TemporalSettings | None = None,
                 update_wait_seconds: float = UPDATE_WAIT_SECONDS):
        self._client = client
        self._settings = settings or config.temporal()
        self._update_wait = update_wait_seconds
        self._connecting = asyncio.Lock()

    async def client(self) -> Client:
        async with self._connecting:
            if self._client is None:
                try:
                    self._client = await Client.connect(self._settings.address, namespace=self._settings.namespace)
                except RuntimeError:
                    raise Unavailable(RETRY_LATER) from None
        return self._client

    async def start_campaign(self, state: m.CampaignState) -> None:
        """Start the campaign's workflow, or find it running; its id is the campaign id. A campaign
        whose workflow has finished is never started again."""
        client = await self.client()
        try:
            await _answered(lambda: client.start_workflow(
                m.CAMPAIGN_WORKFLOW, state, id=state.start.campaign_id, task_queue=self._settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE), state.start.campaign_id)
        except WorkflowAlreadyStartedError:
            pass

    async def act(self, task_id: str, action: m.TaskAction) -> m.TaskView:
        return await self._update(task_id, m.ACT_UPDATE, action, f"{action.action}-{action.request_id}", m.TaskView)

    async def close(self, campaign_id: str, order: m.CloseOrder) -> m.CampaignReport:
        return await self._update(campaign_id, m.CLOSE_UPDATE, order, f"close-{order.request_id}", m.CampaignReport)

    async def extend(self, campaign_id: str, order: m.ExtendOrder) -> m.CampaignProgressView:
        return await self._update(campaign_id, m.EXTEND_UPDATE, order, f"extend-{order.request_id}",
                                  m.CampaignProgressView)

    async def add_targets(self, campaign_id: str, order: m.AddTargetsOrder) -> m.CampaignProgressView:
        return await self._update(campaign_id, m.ADD_TARGETS_UPDATE, order, f"add-{order.request_id}",
                                  m.CampaignProgressView)

    async def progress(self, campaign_id: str) -> m.CampaignProgressView:
        handle = (await self.client()).get_workflow_handle(campaign_id)
        return await _answered(lambda: handle.query(m.PROGRESS_QUERY, result_type=m.CampaignProgressView),
                               campaign_id)

    async def _update(self, workflow_id: str, update: str, argument, update_id: str, result_type):
        """Run the update and wait, for a while, for its answer. A retry with the same update id
        attaches to the first one rather than running it again."""
        handle = (await self.client()).get_workflow_handle(workflow_id)
        try:
            return await asyncio.wait_for(_answered(lambda: handle.execute_update(
                update, argument, id=update_id, result_type=result_type), workflow_id), self._update_wait)
        except TimeoutError:
            raise Unavailable(RETRY_LATER) from None


async def _answered(call: Callable[[], Awaitable], workflow_id: str):
    try:
        return await call()
    except WorkflowUpdateFailedError as error:
        raise refusal(error.cause, workflow_id) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Unavailable(RETRY_LATER) from None
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise FailedPrecondition(f"{workflow_id} has no running workflow: {error.message}",
                                     subject=workflow_id) from None
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
                            RPCStatusCode.RESOURCE_EXHAUSTED):
            raise Unavailable(RETRY_LATER) from None
        raise


def refusal(cause: BaseException, workflow_id: str) -> Exception:
    """A validator refuses with an ApplicationError typed like the status it means; an
    INVALID_ARGUMENT carries the offending field as its first detail."""
    if isinstance(cause, ApplicationError):
        if cause.type == "FAILED_PRECONDITION":
            return FailedPrecondition(cause.message, subject=workflow_id)
        if cause.type == "PERMISSION_DENIED":
            return PermissionDenied(cause.message)
        if cause.type == "INVALID_ARGUMENT":
            field = str(cause.details[0]) if cause.details else "request"
            return InvalidArgument(FieldViolation(field, cause.message))
    return cause
