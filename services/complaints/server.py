"""Wires the complaints service: its database, the rules file and calendar, the registry and
Temporal clients, the servicer and the suite's gRPC server."""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from temporalio.client import Client

from ipss.complaints.v1 import complaints_pb2, complaints_pb2_grpc
from rules import Rules, WorkingDayCalendar
from services.complaints import domain, store
from services.complaints.api import ComplaintsApi
from services.complaints.cases import CaseWorkflows
from services.complaints.registry_client import ReportedAgencyLookup
from services.complaints.uploads import UploadSweeper
from suite import clock, config, db, outbox, workflow_outbox
from suite.grpc_server import ServiceBinding, SuiteServer
from suite.workflow_client import UPDATE_WAIT_SECONDS

SERVICE_NAME = complaints_pb2.DESCRIPTOR.services_by_name["ComplaintsService"].full_name
TRACKING_KEY_ENV = "IPSS_COMPLAINTS_TRACKING_KEY"
DUPLICATE_WINDOW_PERIOD = "duplicate_merge_window"


@dataclass
class Complaints:
    """What the running service holds, to reach in tests and to close on stop."""

    store: store.ComplaintsStore
    registry: ReportedAgencyLookup
    cases: CaseWorkflows
    # Relays the member events the case records commit to the registry's feed.
    relay: outbox.OutboxRelay
    # Sends the case workflow messages committed with the reports.
    workflow_relay: workflow_outbox.WorkflowRelay
    # Deletes the uploads no case references a day after they were uploaded.
    upload_sweeper: UploadSweeper | None = None

    async def close(self) -> None:
        if self.upload_sweeper is not None:
            await self.upload_sweeper.stop()
        await self.workflow_relay.stop()
        await self.relay.stop()
        await self.registry.close()
        await self.store.engine.dispose()


def tracking_key() -> bytes:
    """The key tracking secrets are derived under. Every replica must share it ($IPSS_COMPLAINTS_
    TRACKING_KEY, a cluster secret); on one machine it is made once and kept in var/."""
    explicit = os.environ.get(TRACKING_KEY_ENV)
    if explicit:
        return explicit.encode()
    path = config.var_dir() / "complaints-tracking-key"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def intake_rules(calendar: Callable[[], WorkingDayCalendar] | None = None) -> domain.IntakeRules:
    rules = Rules.load()
    if calendar is None:
        installed = WorkingDayCalendar.load()
        calendar = lambda: installed  # noqa: E731 - the installed schedules, read once
    return domain.IntakeRules(rules_version=rules.version, duplicate_window=rules.periods[DUPLICATE_WINDOW_PERIOD],
                              calendar_source=calendar)


def build(database_url: str | None = None, registry_address: str | None = None,
          temporal_client: Client | None = None, temporal_settings: config.TemporalSettings | None = None,
          update_wait_seconds: float = UPDATE_WAIT_SECONDS, key: bytes | None = None,
          legal_clock: clock.LegalClock | None = None, calendar: Callable[[], WorkingDayCalendar] | None = None
          ) -> tuple[SuiteServer, Complaints]:
    """The server and what it holds. Tests and training replace the clients, the key, the legal
    clock (the day intake counts from; see suite.clock.LegalClock) and where the working-day
    calendar is read (the installed schedules by default)."""
    engine = db.create_engine(database_url or config.database_url("complaints"), hide_parameters=True)
    relay = outbox.OutboxRelay(engine, store.MemberEventOutbox, "complaints", registry_address)
    cases = CaseWorkflows(temporal_client, temporal_settings, update_wait_seconds)
    complaints = Complaints(store.ComplaintsStore(engine), ReportedAgencyLookup(registry_address),
                            cases, relay, workflow_outbox.WorkflowRelay(engine, store.WorkflowOutbox, "complaints", cases))
    complaints.store.on_member_events = relay.wake
    relay.start()
    complaints.workflow_relay.start()
    complaints.upload_sweeper = UploadSweeper(complaints.store)
    complaints.upload_sweeper.start()
    api = ComplaintsApi(complaints.store, complaints.registry, complaints.cases, complaints.workflow_relay,
                        intake_rules(calendar),
                        functools.partial(domain.tracking_secret, key or tracking_key()),
                        legal_clock or clock.LegalClock(config.legal_offset_days()))
    server = SuiteServer("complaints", [ServiceBinding(
        SERVICE_NAME, complaints_pb2_grpc.add_ComplaintsServiceServicer_to_server, api)],
        options=[("grpc.max_receive_message_length", domain.MAX_UPLOAD_MESSAGE_BYTES)])
    return server, complaints
