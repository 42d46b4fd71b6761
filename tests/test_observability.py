"""Observability end to end, on the processes `ipss up` starts (python -m ...: the registry on two
serving processes, complaints, the worker and the console) and a Temporal dev server of this
module's own (the session's numbers other tests' cases alike in its namespaces): one report filed
over gRPC, then each process's Prometheus endpoint scraped for what that report did, the report's
trace found in the trace files from its FileReport through the workflow and its activity back to
the complaints service, and the request, case and trace ids on the complaints service's log lines.
The worker's count of deadlines warned and missed is checked on its own, in an activity
environment (no real case reaches a deadline in a test's time)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import ActivityEnvironment

from bench.processes import token_keys
from contracts import search_attributes
from contracts.case import TimelineItem
from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.complaints.v1 import complaints_pb2_grpc as pb_grpc
from ipss.registry.v1 import registry_pb2_grpc as reg_grpc
from suite import clock, config, migrate, telemetry
from suite import logging as suite_logging
from suite.probes import healthy, http_ready
from tests.conftest import fresh_database
from tests.grpc_checks import eventually
from tests.test_complaints_intake import file, new_agency, real_name, report
from tests.test_serving_processes import free_port
from workflows.activities.service_client import request_id

LEGAL_DAY = date(2026, 3, 2)  # as in test_case_e2e: a year whose working days are known
FILE_REPORT = "/ipss.complaints.v1.ComplaintsService/FileReport"
RECORD_PROGRESS = "/ipss.complaints.v1.ComplaintsService/RecordCaseProgress"
STARTUP_SECONDS = 40


@pytest.fixture(scope="module")
async def temporal_address():
    from temporalio.testing import WorkflowEnvironment

    cli = Path(sys.executable).parent / "temporal"
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=str(cli),
                                                     search_attributes=search_attributes.ALL) as env:
        yield env.client.service_client.config.target_host


@dataclass
class Suite:
    var: Path
    ports: dict[str, int]
    logs: dict[str, Path]

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def metrics(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name + '_metrics']}/metrics"


@asynccontextmanager
async def running_suite(tmp_path: Path, temporal_address: str):
    ports = {name: free_port() for name in ("registry", "complaints", "console", "registry_metrics",
                                            "complaints_metrics", "worker_metrics")}
    with fresh_database("sqlite") as registry_url, fresh_database("sqlite") as complaints_url:
        migrate.upgrade("registry", database_url=registry_url)
        migrate.upgrade("complaints", database_url=complaints_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IPSS_OTLP", "IPSS_TRACE", "OTEL_"))}
        env.update(**token_keys(), IPSS_VAR_DIR=str(tmp_path), IPSS_BIND="127.0.0.1", IPSS_LOG_LEVEL="info",
                   IPSS_REGISTRY_DATABASE_URL=registry_url, IPSS_COMPLAINTS_DATABASE_URL=complaints_url,
                   IPSS_REGISTRY_PORT=str(ports["registry"]), IPSS_COMPLAINTS_PORT=str(ports["complaints"]),
                   IPSS_REGISTRY_PROCESSES="2", IPSS_CONSOLE_PORT=str(ports["console"]),
                   IPSS_INSPECTIONS_ADDR="127.0.0.1:1",  # not started: nothing here asks it
                   IPSS_REGISTRY_METRICS_PORT=str(ports["registry_metrics"]),
                   IPSS_COMPLAINTS_METRICS_PORT=str(ports["complaints_metrics"]),
                   IPSS_WORKER_METRICS_PORT=str(ports["worker_metrics"]),
                   IPSS_TEMPORAL_ADDRESS=temporal_address, IPSS_TEMPORAL_NAMESPACE="default",
                   IPSS_TEMPORAL_TASK_QUEUE=f"observability-{uuid.uuid4().hex[:8]}",
                   IPSS_LEGAL_OFFSET_DAYS=str((clock.today() - LEGAL_DAY).days),
                   OTEL_BSP_SCHEDULE_DELAY="100")
        commands = {"registry": ["-m", "services.registry"], "complaints": ["-m", "services.complaints"],
                    "worker": ["-m", "workflows.worker"], "console": ["-m", "console"]}
        logs = {name: tmp_path / f"{name}.log" for name in commands}
        processes = {}
        try:
            for name, argv in commands.items():
                with open(logs[name], "wb") as sink:
                    processes[name] = subprocess.Popen([sys.executable, *argv], env=env, stdout=sink,
                                                       stderr=subprocess.STDOUT, cwd=config.REPO_ROOT)
            suite = Suite(tmp_path, ports, logs)
            ready = {"registry": lambda: healthy(suite.address("registry")),
                     "complaints": lambda: healthy(suite.address("complaints")),
                     "console": lambda: http_ready(suite.address("console")),
                     "worker": lambda: _logged(logs["worker"], '"event": "polling"')}
            deadline = asyncio.get_running_loop().time() + STARTUP_SECONDS
            for name, check in ready.items():
                while not await check():
                    assert processes[name].poll() is None, f"{name} exited: {logs[name].read_text()}"
                    assert asyncio.get_running_loop().time() < deadline, f"{name} did not start: " \
                                                                          f"{logs[name].read_text()}"
                    await asyncio.sleep(0.2)
            yield suite
        finally:
            for process in processes.values():
                process.send_signal(signal.SIGTERM)
            for process in processes.values():
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


async def _logged(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text()


async def scrape(url: str) -> dict[str, list]:
    """The endpoint's samples by metric family name."""
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(url)
    assert answer.status_code == 200, answer.text
    return {family.name: family.samples for family in text_string_to_metric_families(answer.text)}


def value(families: dict[str, list], sample: str, **labels) -> float | None:
    """The value of the sample with these labels (among others), or None."""
    for samples in families.values():
        for found in samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return None


def spans_by_trace(var: Path) -> dict[str, list[dict]]:
    traces = defaultdict(list)
    for path in (var / "traces").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            span = json.loads(line)
            traces[span["trace_id"]].append(span)
    return traces


@pytest.mark.slow
async def test_one_reports_metrics_trace_and_log_lines(tmp_path, temporal_address):
    async with running_suite(tmp_path, temporal_address) as suite:
        async with grpc.aio.insecure_channel(suite.address("registry")) as registry_channel, \
                grpc.aio.insecure_channel(suite.address("complaints")) as complaints_channel:
            agency = await new_agency(reg_grpc.RegistryServiceStub(registry_channel))
            api = pb_grpc.ComplaintsServiceStub(complaints_channel)
            filed = await file(api, report(agency, real_name(), occurred_on="2026-01-15"))

            async def recorded():  # the worker has written the case's first step back
                answer = await api.GetReportStatus(pb.GetReportStatusRequest(
                    tracking_code=filed.tracking_code, tracking_secret=filed.tracking_secret))
                return answer if answer.next_deadline else None
            assert await eventually(recorded, 20), "the worker did not record the case"

        async with httpx.AsyncClient(timeout=10) as client:
            assert (await client.get(f"http://{suite.address('console')}/register")).status_code == 200

        # -- metrics --
        complaints = await scrape(suite.metrics("complaints"))
        assert value(complaints, "ipss_grpc_server_requests_total", rpc=FILE_REPORT, code="OK") >= 1
        assert value(complaints, "ipss_grpc_server_latency_seconds_count", rpc=FILE_REPORT) >= 1
        assert value(complaints, "ipss_grpc_server_latency_seconds_bucket", rpc=FILE_REPORT, le="+Inf") >= 1
        assert value(complaints, "ipss_grpc_server_requests_total", rpc=RECORD_PROGRESS, code="OK") >= 1
        assert value(complaints, "ipss_cases", stage="verification") == 1
        assert value(complaints, "ipss_cases", stage="investigation") == 0
        assert value(complaints, "ipss_outbox_pending", outbox="workflow") == 0
        assert value(complaints, "ipss_outbox_pending", outbox="member_events") is not None
        assert value(complaints, "ipss_outbox_oldest_pending_seconds", outbox="workflow") == 0

        # Two serving processes, one endpoint: the agency's creation and the complaints
        # service's look-up, wherever the kernel sent them, are added up by the parent.
        registry = await scrape(suite.metrics("registry"))
        assert value(registry, "ipss_grpc_server_requests_total",
                     rpc="/ipss.registry.v1.RegistryService/CreateAgency", code="OK") == 1
        assert sum(s.value for s in registry["ipss_grpc_server_requests"] if s.name.endswith("_total")) >= 2

        worker = await scrape(suite.metrics("worker"))
        temporal_metrics = [name for name in worker if name.startswith("temporal_")]
        assert "temporal_workflow_completed" in temporal_metrics or len(temporal_metrics) > 5, temporal_metrics
        assert value(worker, "temporal_activity_execution_latency_count",
                     activity_type="complaints.record_progress") or \
            value(worker, "temporal_local_activity_execution_latency_count",
                  activity_type="complaints.record_progress"), sorted(worker)

        console = await scrape(f"http://{suite.address('console')}/metrics")
        assert value(console, "ipss_console_requests_total", route="/register", method="GET", status="200") == 1
        assert value(console, "ipss_console_latency_seconds_count", route="/register", method="GET") == 1

        # -- the report's trace --
        async def report_trace():
            for spans in spans_by_trace(suite.var).values():
                names = {(s["service"], s["name"]) for s in spans}
                if ("ipss-complaints", FILE_REPORT) in names and ("ipss-complaints", RECORD_PROGRESS) in names:
                    return spans
            return None
        spans = await eventually(report_trace, 10)
        assert spans, {trace: sorted(s["name"] for s in found) for trace, found in spans_by_trace(suite.var).items()}
        by_id = {s["span_id"]: s for s in spans}

        def one(service: str, name: str) -> dict:
            [span] = [s for s in spans if s["service"] == service and s["name"] == name]
            return span

        def ancestors(span: dict) -> list[str]:
            chain = []
            while span.get("parent_id") in by_id:
                span = by_id[span["parent_id"]]
                chain.append(span["name"])
            return chain

        filed_span = one("ipss-complaints", FILE_REPORT)
        assert filed_span["parent_id"] is None and filed_span["kind"] == "SERVER"
        assert filed_span["attributes"]["rpc.grpc.status_code"] == 0
        # complaints asked the registry which agency was reported, in the same trace
        lookups = [s for s in spans if s["service"] == "ipss-registry"]
        assert lookups and all(FILE_REPORT in ancestors(s) for s in lookups)
        assert FILE_REPORT in ancestors(one("ipss-complaints", "StartWorkflow:Case"))
        assert ancestors(one("ipss-worker", "RunWorkflow:Case"))[:1] == ["StartWorkflow:Case"]
        # The workflow's spans (Temporal's tracing interceptor) hang from its start: its run, the
        # activity it scheduled (a local activity here) and that activity's run.
        activity = one("ipss-worker", "RunActivity:complaints.record_progress")
        assert ancestors(activity)[:2] == ["StartActivity:complaints.record_progress", "StartWorkflow:Case"]
        recorded_span = one("ipss-complaints", RECORD_PROGRESS)
        assert ancestors(recorded_span)[:2] == [RECORD_PROGRESS, "RunActivity:complaints.record_progress"]
        assert ancestors(recorded_span)[-1] == FILE_REPORT

        # -- log lines: request id, case id and trace id --
        lines = [json.loads(line) for line in suite.logs["complaints"].read_text().splitlines()
                 if line.startswith("{")]
        trace_id = filed_span["trace_id"]
        [filed_line] = [line for line in lines if line.get("event") == "report filed"]
        assert filed_line["case_id"] == filed.case_id and filed_line["trace_id"] == trace_id
        [rpc_line] = [line for line in lines if line.get("event") == "rpc" and line.get("rpc") == FILE_REPORT]
        assert rpc_line["request_id"] == filed_line["request_id"] and rpc_line["case_id"] == filed.case_id
        recorded_lines = [line for line in lines if line.get("rpc") == RECORD_PROGRESS]
        assert recorded_lines and all(line["case_id"] == filed.case_id and line["request_id"] == filed.case_id
                                      and line["trace_id"] == trace_id for line in recorded_lines)


class _Meter:
    """A Temporal metric meter that remembers what was added to which counter."""

    def __init__(self):
        self.added = defaultdict(int)

    def with_additional_attributes(self, attributes):
        return self

    def create_counter(self, name, description=None, unit=None):
        meter = self

        class Counter:
            def add(self, value, attributes=None):
                meter.added[(name, tuple(sorted((attributes or {}).items())))] += value
        return Counter()


async def test_the_worker_counts_deadlines_warned_and_missed():
    def entry(action: str, **data) -> TimelineItem:
        return TimelineItem(revision=3, at="2026-03-18T00:00:00+08:00", actor="system", action=action,
                            internal=True, data=data)
    environment = ActivityEnvironment()
    environment.metric_meter = meter = _Meter()
    environment.run(telemetry.count_deadline_events, [
        entry("due_soon", period_id="verify_and_open"), entry("opened"),
        entry("deadline_missed", period_id="investigate"), entry("due_soon", period_id="verify_and_open")])
    assert dict(meter.added) == {
        ("ipss_case_deadlines_warned", (("period", "verify_and_open"),)): 2,
        ("ipss_case_deadlines_missed", (("period", "investigate"),)): 1}


def test_an_activitys_log_lines_name_its_case():
    """A line the worker writes in a case's activity carries the case id, and the request id its
    calls to the services carry; in another workflow's activity the workflow id alone."""
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, workflow_id="case-2026-110000-000007",
                                           workflow_type="Case", activity_type="complaints.record_progress")
    line = environment.run(lambda: suite_logging.add_trace_and_case(None, "info", {"event": "x"}))
    assert line == {"event": "x", "workflow_id": "case-2026-110000-000007", "case_id": "case-2026-110000-000007",
                    "request_id": "case-2026-110000-000007", "activity": "complaints.record_progress"}
    environment.info = dataclasses.replace(environment.info, workflow_id="京知协惩字〔2026〕12号",
                                           workflow_type="AssociationDiscipline")
    line = environment.run(lambda: suite_logging.add_trace_and_case(None, "info", {"event": "x"}))
    assert "case_id" not in line and line["workflow_id"] == "京知协惩字〔2026〕12号"
    assert line["request_id"] == request_id("京知协惩字〔2026〕12号")
    # Temporal's own loggers name the workflow in an extra of the record.
    record = logging.LogRecord("temporalio.workflow", logging.WARNING, __file__, 1, "m", (), None)
    record.temporal_workflow = {"workflow_id": "case-2026-110000-000008", "workflow_type": "Case"}
    assert suite_logging.add_temporal_extras(None, "warning", {"_record": record})["case_id"] == \
        "case-2026-110000-000008"
