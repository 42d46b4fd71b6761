"""Wires the inspections service: its database, the registry and Temporal clients, the servicer
and the suite's gRPC server."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client

from ipss.inspections.v1 import inspections_pb2, inspections_pb2_grpc
from services.inspections import store
from services.inspections.api import InspectionsApi
from services.inspections.registry_client import InspectionTargets
from services.inspections.workflow_client import InspectionWorkflows
from suite import clock, config, db, outbox, workflow_outbox
from suite.grpc_server import ServiceBinding, SuiteServer
from suite.workflow_client import UPDATE_WAIT_SECONDS

SERVICE_NAME = inspections_pb2.DESCRIPTOR.services_by_name["InspectionsService"].full_name
# A published draw record carries the whole snapshot (100,000 agencies: a few MB compressed).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass
class Inspections:
    """What the running service holds, to reach in tests and to close on stop."""

    store: store.InspectionsStore
    registry: InspectionTargets
    workflows: InspectionWorkflows
    # Relays the member events the task records commit to the registry's feed.
    relay: outbox.OutboxRelay
    # Sends the campaign workflow starts committed with the campaigns.
    workflow_relay: workflow_outbox.WorkflowRelay

    async def close(self) -> None:
        await self.workflow_relay.stop()
        await self.relay.stop()
        await self.registry.close()
        await self.store.engine.dispose()


def build(database_url: str | None = None, registry_address: str | None = None,
          temporal_client: Client | None = None, temporal_settings: config.TemporalSettings | None = None,
          update_wait_seconds: float = UPDATE_WAIT_SECONDS, legal_clock: clock.LegalClock | None = None,
          batch_size: int = 200, progress_interval_seconds: int = 30, history_limit: int = 3000
          ) -> tuple[SuiteServer, Inspections]:
    """The server and what it holds. Tests and benchmarks replace the clients, the legal clock
    (see suite.clock.LegalClock) and the campaigns' batch size, progress interval and history limit."""
    engine = db.create_engine(database_url or config.database_url("inspections"))
    relay = outbox.OutboxRelay(engine, store.MemberEventOutbox, "inspections", registry_address)
    workflows = InspectionWorkflows(temporal_client, temporal_settings, update_wait_seconds)
    inspections = Inspections(store.InspectionsStore(engine), InspectionTargets(registry_address),
                              workflows, relay,
                              workflow_outbox.WorkflowRelay(engine, store.WorkflowOutbox, "inspections", workflows))
    inspections.store.on_member_events = relay.wake
    relay.start()
    inspections.workflow_relay.start()
    api = InspectionsApi(inspections.store, inspections.registry, inspections.workflows, inspections.workflow_relay,
                         legal_clock or clock.LegalClock(config.legal_offset_days()), batch_size,
                         progress_interval_seconds, history_limit)
    server = SuiteServer("inspections", [ServiceBinding(
        SERVICE_NAME, inspections_pb2_grpc.add_InspectionsServiceServicer_to_server, api)],
        options=[("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])
    return server, inspections
