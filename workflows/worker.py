"""python -m workflows.worker: the suite's Temporal worker: every workflow, and activities
that reach the services over gRPC as the worker's operator identity. Its metrics are the
Temporal SDK's (and the deadlines its cases warned of and missed) on IPSS_WORKER_METRICS_PORT;
its spans continue the traces the workflows' starters began (suite.telemetry)."""

from __future__ import annotations

import asyncio
import py_compile
import signal
import sys
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.worker import Worker

from suite import config, telemetry
from suite.workflow_client import connect
from suite import logging as suite_logging
from workflows.activities.complaints import ComplaintsActivities
from workflows.activities.inspections import InspectionActivities
from workflows.activities.registry import RegistryActivities
from workflows.activities.periods import PeriodActivities
from workflows.agency_suspension import AgencySuspensionWorkflow
from workflows.association_discipline import AssociationDisciplineWorkflow, rules_version
from workflows.calendar_watch import CalendarWatch
from workflows.credit_lists import CreditListsWorkflow, listing_day, start_credit_lists
from workflows.credit_repair import CreditRepairWorkflow
from workflows.case.workflow import CaseWorkflow
from workflows.inspections.campaign import CampaignWorkflow
from workflows.inspections.task import InspectionTaskWorkflow

WORKFLOWS = [CaseWorkflow, AgencySuspensionWorkflow, InspectionTaskWorkflow, CampaignWorkflow,
             AssociationDisciplineWorkflow, CreditListsWorkflow, CreditRepairWorkflow]


@dataclass
class Activities:
    registry: RegistryActivities
    complaints: ComplaintsActivities
    periods: PeriodActivities
    inspections: InspectionActivities

    @classmethod
    def connect(cls, registry_address: str | None = None, complaints_address: str | None = None,
                token: str | None = None, inspections_address: str | None = None,
                periods: PeriodActivities | None = None) -> Activities:
        return cls(RegistryActivities(registry_address, token), ComplaintsActivities(complaints_address, token),
                   periods or PeriodActivities(), InspectionActivities(inspections_address, complaints_address, token))

    def all(self) -> list:
        return [self.registry.change_agency_status, self.registry.reinstate_agency, self.registry.record_credit_event,
                self.registry.withdraw_credit_event, self.registry.get_agency,
                self.registry.record_association_discipline, self.registry.record_publicity_ended, rules_version,
                self.registry.list_non_filers, self.registry.move_to_serious_list, listing_day,
                self.registry.record_repair_step,
                self.complaints.record_progress, self.complaints.notify_reporters,
                self.periods.rules, self.periods.plan_period, self.periods.last_day_of_months,
                *self.inspections.all()]

    async def close(self) -> None:
        await self.registry.close()
        await self.complaints.close()
        await self.inspections.close()


def cache_workflow_bytecode() -> None:
    """The sandbox imports a workflow's module afresh for every run it starts. Where bytecode is
    not cached (PYTHONDONTWRITEBYTECODE, as on this suite's machines) each case would compile the
    module's source again, about 10 ms of the worker's time; compile it once here. A read-only
    tree keeps the old cost rather than failing."""
    for definition in WORKFLOWS:
        source = sys.modules[definition.__module__].__file__
        try:
            py_compile.compile(source, doraise=True)
        except (OSError, py_compile.PyCompileError):
            pass


def build_worker(client: Client, activities: Activities, task_queue: str) -> Worker:
    cache_workflow_bytecode()
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities.all())


async def main() -> None:
    suite_logging.configure("worker")
    telemetry.start("worker")
    log = suite_logging.get("worker")
    settings = config.temporal()
    client = await connect(settings, runtime=telemetry.temporal_runtime("worker"))
    activities = Activities.connect()
    worker = build_worker(client, activities, settings.task_queue)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    watch = asyncio.create_task(
        CalendarWatch(client, activities.periods).run(stopping, config.calendar_watch_seconds()))
    async with worker:
        await start_credit_lists(client, settings.task_queue, config.legal_offset_days())
        log.info("polling", task_queue=settings.task_queue, temporal=settings.address)
        await stopping.wait()
    await watch
    await activities.close()
    log.info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
