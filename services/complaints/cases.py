"""The case workflows as this service drives them, through a Temporal client: start one per case
(idempotently, after the case record is committed), let a reporter join, and send handlers' and
supervisors' actions as updates. Temporal's answers become the suite's errors here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import (SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy,
                               WorkflowIDReusePolicy)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from suite import config
from suite.errors import FailedPrecondition, FieldViolation, InvalidArgument, Unavailable
from workflows import search_attributes as sa
from workflows.case import model

RETRY_LATER = "the case workflow did not answer in time; retry with the same idempotency key"
# An update needs a worker to run it; without one it would wait for ever.
UPDATE_WAIT_SECONDS = 30.0


class CaseWorkflows:
    """Connects on first use, so that the service serves (and heals) while Temporal starts."""

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

    async def ensure_started(self, start: model.CaseStart) -> None:
        """Start the case's workflow, or find it running: the workflow id is the case id. A case
        whose workflow has finished is never started again."""
        client = await self.client()
        try:
            await _answered(lambda: client.start_workflow(
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
        await self._update(case_id, model.JOIN_UPDATE, reporter, f"join-{reporter.reference}")

    async def act(self, case_id: str, action: model.CaseAction) -> model.CaseView:
        return await self._update(case_id, model.ACT_UPDATE, action, f"act-{action.actor}-{action.request_id}")

    async def _update(self, case_id: str, update: str, argument, update_id: str) -> model.CaseView:
        """Run the update and wait, for a while, for its answer. A retry with the same update id
        attaches to the first one rather than running it again."""
        handle = (await self.client()).get_workflow_handle(case_id)
        try:
            return await asyncio.wait_for(_answered(lambda: handle.execute_update(
                update, argument, id=update_id, result_type=model.CaseView), case_id), self._update_wait)
        except TimeoutError:
            raise Unavailable(RETRY_LATER) from None


async def _answered(call: Callable[[], Awaitable], case_id: str):
    """The call's answer; a refusal by the workflow as the status it names, a missing or finished
    workflow as FAILED_PRECONDITION, an unreachable Temporal as UNAVAILABLE."""
    try:
        return await call()
    except WorkflowUpdateFailedError as error:
        raise refusal(error.cause, case_id) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Unavailable(RETRY_LATER) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise FailedPrecondition(f"case {case_id} has no running workflow: {error.message}",
                                     subject=case_id) from None
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
                            RPCStatusCode.RESOURCE_EXHAUSTED):
            raise Unavailable(RETRY_LATER) from None
        raise


def refusal(cause: BaseException, case_id: str) -> Exception:
    """The workflow's validator refuses with ApplicationError typed FAILED_PRECONDITION, or
    INVALID_ARGUMENT with the offending field as its first detail."""
    if isinstance(cause, ApplicationError):
        if cause.type == "FAILED_PRECONDITION":
            return FailedPrecondition(cause.message, subject=case_id)
        if cause.type == "INVALID_ARGUMENT":
            field = str(cause.details[0]) if cause.details else "action"
            return InvalidArgument(FieldViolation(field, cause.message))
    return cause
