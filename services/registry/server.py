"""Wires the registry service: its database, the Temporal client its credit repair workflows are
started and driven with (and the relay of their starts), the servicer and the suite's gRPC server."""

from __future__ import annotations

from temporalio.client import Client

from ipss.registry.v1 import registry_pb2, registry_pb2_grpc
from rules import Rules, WorkingDayCalendar
from services.registry import domain, store
from services.registry.api import RegistryApi
from services.registry.workflow_client import RepairWorkflows
from suite import clock, config, db, signing, workflow_outbox
from suite.grpc_server import ServiceBinding, SuiteServer
from suite.workflow_client import UPDATE_WAIT_SECONDS

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name


def build(database_url: str | None = None, shared_port: bool = False,
          legal_clock: clock.LegalClock | None = None, temporal_client: Client | None = None,
          temporal_settings: config.TemporalSettings | None = None,
          update_wait_seconds: float = UPDATE_WAIT_SECONDS) -> tuple[SuiteServer, store.RegistryStore]:
    """The server and its store (whose close also stops the workflow relay). Tests replace the
    legal clock (the day a removal or a repair is asked on; see suite.clock.LegalClock) and the
    Temporal client."""
    engine = db.create_engine(database_url or config.database_url("registry"))
    registry = store.RegistryStore(engine)
    workflows = RepairWorkflows(temporal_client, temporal_settings, update_wait_seconds)
    relay = workflow_outbox.WorkflowRelay(engine, store.WorkflowOutbox, "registry", workflows)
    relay.start()
    registry.on_close.append(relay.stop)
    api = RegistryApi(registry, domain.GradingRules.load(), Rules.load(), WorkingDayCalendar.load(),
                      legal_clock or clock.LegalClock(config.legal_offset_days()), workflows, relay,
                      signing.Signer(config.registry_signing_key()))
    binding = ServiceBinding(SERVICE_NAME, registry_pb2_grpc.add_RegistryServiceServicer_to_server, api)
    server = SuiteServer("registry", [binding], shared_port=shared_port)
    return server, registry
