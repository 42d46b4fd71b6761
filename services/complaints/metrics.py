"""What the complaints service tells Prometheus from its own records when it is scraped
(suite.telemetry.DatabaseGauges): its cases by stage and how many of them are overdue, and the lag
of its outboxes."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ipss.complaints.v1 import complaints_pb2 as pb
from services.complaints import store
from suite import db, telemetry

# Every stage a case can be in ("verification", ...), so that an empty stage reads 0, not absent.
STAGES = [value.name.removeprefix("CASE_STAGE_").lower() for value in pb.CaseStage.DESCRIPTOR.values if value.number]


def case_stages(engine: AsyncEngine):
    statement = (select(store.Case.stage, store.Case.overdue, func.count())
                 .group_by(store.Case.stage, store.Case.overdue))

    async def probe() -> list:
        async with engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
        counts = dict.fromkeys(STAGES, 0)
        overdue = dict.fromkeys(STAGES, 0)
        for stage, late, count in rows:
            counts[stage] = counts.get(stage, 0) + count
            if late:
                overdue[stage] = overdue.get(stage, 0) + count
        cases = GaugeMetricFamily("ipss_cases", "Cases by the stage their record shows", labels=["stage"])
        late = GaugeMetricFamily("ipss_cases_overdue", "Open cases one of whose office's deadlines was missed, by stage",
                                 labels=["stage"])
        for stage in counts:
            cases.add_metric([stage], counts[stage])
            late.add_metric([stage], overdue.get(stage, 0))
        return [cases, late]
    return probe


def register(engine: AsyncEngine) -> telemetry.DatabaseGauges:
    """In the service's event loop, after it is built."""
    reads = db.reader(engine)
    return (telemetry.outbox_gauges(reads, store.MemberEventOutbox, store.WorkflowOutbox)
            .add("cases", case_stages(reads)).register())
