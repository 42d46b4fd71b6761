"""Wires the registry: its database, rules, servicer and the suite's gRPC server."""

from __future__ import annotations

from ipss.registry.v1 import registry_pb2, registry_pb2_grpc
from rules import Rules, WorkingDayCalendar
from services.registry import domain, store
from services.registry.api import RegistryApi
from suite import clock, config, db
from suite.grpc_server import ServiceBinding, SuiteServer

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name


def build(database_url: str | None = None, token_secret: str | None = None, shared_port: bool = False,
          legal_clock: clock.LegalClock | None = None) -> tuple[SuiteServer, store.RegistryStore]:
    """The server and its store. Tests replace the legal clock (the day a removal is asked on; see
    suite.clock.LegalClock)."""
    engine = db.create_engine(database_url or config.database_url("registry"))
    registry = store.RegistryStore(engine)
    api = RegistryApi(registry, domain.GradingRules.load(), Rules.load(), WorkingDayCalendar.load(),
                      legal_clock or clock.LegalClock(config.legal_offset_days()))
    binding = ServiceBinding(SERVICE_NAME, registry_pb2_grpc.add_RegistryServiceServicer_to_server, api)
    server = SuiteServer("registry", [binding], token_secret, shared_port=shared_port)
    return server, registry
