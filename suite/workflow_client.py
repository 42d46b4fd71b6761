"""A service's side of its Temporal workflows: a client that connects on first use (so the
service serves, and heals, while Temporal starts), updates that wait a while for a worker and
attach to the first run on a retry, and Temporal's answers turned into the suite's errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from contracts import refusals
from suite import config, payload_codec, telemetry
from suite.errors import FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied, Unavailable

RETRY_LATER = "the workflow did not answer in time; retry with the same idempotency key"
NOT_ANSWERING = "WORKFLOW_NOT_ANSWERING"
# An update needs a worker to run it; without one it would wait for ever.
UPDATE_WAIT_SECONDS = 30.0


class WorkflowClient:
    def __init__(self, client: Client | None = None, settings: config.TemporalSettings | None = None,
                 update_wait_seconds: float = UPDATE_WAIT_SECONDS):
        self._client = client
        self._settings = settings or config.temporal()
        self._update_wait = update_wait_seconds
        self._connecting = asyncio.Lock()

    @property
    def task_queue(self) -> str:
        return self._settings.task_queue

    async def client(self) -> Client:
        async with self._connecting:
            if self._client is None:
                try:
                    self._client = await connect(self._settings)
                except RuntimeError:
                    raise Unavailable(NOT_ANSWERING, RETRY_LATER) from None
        return self._client

    async def update(self, workflow_id: str, update: str, argument, update_id: str, result_type):
        """Run the update and wait, for a while, for its answer. A retry with the same update id
        attaches to the first one rather than running it again."""
        handle = (await self.client()).get_workflow_handle(workflow_id)
        try:
            return await asyncio.wait_for(answered(lambda: handle.execute_update(
                update, argument, id=update_id, result_type=result_type), workflow_id), self._update_wait)
        except TimeoutError:
            raise Unavailable(NOT_ANSWERING, RETRY_LATER) from None

    async def start_or_attach(self, workflow: str, argument, workflow_id: str, **options) -> None:
        """Start the workflow under the id of the record it runs for, or attach to it if it runs: a
        service starts it after committing the record, and a retry of that start starts nothing
        twice. One that has finished is never started again (its record is closed)."""
        client = await self.client()
        try:
            await answered(lambda: client.start_workflow(
                workflow, argument, id=workflow_id, task_queue=self._settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, **options), workflow_id)
        except WorkflowAlreadyStartedError:
            pass


async def connect(settings: config.TemporalSettings, **options) -> Client:
    """A Temporal client as the settings say: the namespace, the suite's interceptors, payloads
    sealed (suite.payload_codec), and mutual TLS when they name a certificate directory (a
    cluster's frontend)."""
    return await Client.connect(settings.address, namespace=settings.namespace, tls=tls_config(settings),
                                interceptors=telemetry.temporal_interceptors(),
                                data_converter=payload_codec.data_converter(), **options)


def tls_config(settings: config.TemporalSettings) -> TLSConfig | bool:
    if settings.tls_dir is None:
        return False
    read = lambda name: (settings.tls_dir / name).read_bytes()  # noqa: E731 - three files of one Secret
    return TLSConfig(server_root_ca_cert=read("ca.crt"), client_cert=read("tls.crt"),
                     client_private_key=read("tls.key"), domain=settings.tls_server_name or None)


async def answered(call: Callable[[], Awaitable], workflow_id: str):
    """The call's answer; a refusal by the workflow as the status it names, a missing or finished
    workflow as FAILED_PRECONDITION, an unreachable Temporal as UNAVAILABLE."""
    try:
        return await call()
    except WorkflowUpdateFailedError as error:
        raise refusal(error.cause, workflow_id) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Unavailable(NOT_ANSWERING, RETRY_LATER) from None
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise FailedPrecondition("WORKFLOW_NOT_RUNNING", f"{workflow_id} has no running workflow: {error.message}",
                                     subject=workflow_id, workflow_id=workflow_id) from None
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
                            RPCStatusCode.RESOURCE_EXHAUSTED):
            raise Unavailable(NOT_ANSWERING, RETRY_LATER) from None
        raise


def refusal(cause: BaseException, workflow_id: str) -> Exception:
    """A workflow refuses with an ApplicationError typed like the status it means, its field,
    reason and metadata as details (contracts.refusals): the suite's error with that reason."""
    if not isinstance(cause, ApplicationError):
        return cause
    refused = refusals.read(cause)
    if cause.type == refusals.FAILED_PRECONDITION:
        return FailedPrecondition(refused.reason, cause.message, subject=workflow_id, **refused.metadata)
    if cause.type == refusals.PERMISSION_DENIED:
        return PermissionDenied(refused.reason, cause.message, **refused.metadata)
    if cause.type == refusals.INVALID_ARGUMENT:
        return InvalidArgument(FieldViolation(refused.field or "request", refused.reason, cause.message,
                                              refused.metadata))
    return cause
