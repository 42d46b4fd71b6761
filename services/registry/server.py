"""Wires the registry: its database, rules, servicer and the suite's gRPC server."""

from __future__ import annotations

from ipss.registry.v1 import registry_pb2, registry_pb2_grpc
from services.registry import domain, store
from services.registry.api import RegistryApi
from suite import config, db
from suite.grpc_server import ServiceBinding, SuiteServer

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name


def build(database_url: str | None = None, token_secret: str | None = None,
          shared_port: bool = False) -> tuple[SuiteServer, store.RegistryStore]:
    engine = db.create_engine(database_url or config.database_url("registry"))
    registry = store.RegistryStore(engine)
    api = RegistryApi(registry, domain.GradingRules.load())
    binding = ServiceBinding(SERVICE_NAME, registry_pb2_grpc.add_RegistryServiceServicer_to_server, api)
    server = SuiteServer("registry", [binding], token_secret, shared_port=shared_port)
    return server, registry
