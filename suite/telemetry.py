"""Metrics and traces of the suite's processes (Prometheus and OpenTelemetry).

Metrics. Every gRPC service serves Prometheus' text format at http://<host>:<port>/metrics on a
port of its own (suite.config.metrics_port: IPSS_<SERVICE>_METRICS_PORT, 9151 registry, 9152
complaints, 9153 inspections, 9154 linkage; 0 or "off": none; a port another program holds is
logged and the service serves on without metrics): the RPCs answered by RPC and status code and
their latency by RPC (suite.grpc_server's interceptor; health checks and reflection are not
counted), what the service reads from its own database when it is scraped (`DatabaseGauges`:
cases per stage, outbox lag) and the process's own. A service served by several processes on one
port (IPSS_<SERVICE>_PROCESSES) has one endpoint, served by the parent process, adding up what
its serving processes counted (prometheus_client's multiprocess mode, in a temporary directory
the parent removes). The worker's metrics are the Temporal SDK's (`temporal_runtime`), on
IPSS_WORKER_METRICS_PORT (9155), with the deadlines its cases warned of and missed; the console
serves its own at /metrics on its port (console.app).

Traces. `start` gives the process an OpenTelemetry tracer provider: spans go to the collector at
IPSS_OTLP_ENDPOINT (OTLP over gRPC) when it is set, otherwise each process writes its spans as JSON
lines to var/traces/<component>-<pid>.jsonl (the embedded default, so that a trace can be found
with no collector running); IPSS_TRACES=off: none at all, and no instrumentation either. The
suite's gRPC servers open a server span per call of an ipss.* service and every grpc.aio channel
the process opens afterwards carries the caller's trace (traceparent) in its metadata
(opentelemetry-instrumentation-grpc); Temporal clients made with `temporal_interceptors()` carry it
in the workflow's headers to the workflow and its activities (temporalio.contrib.opentelemetry),
whose calls to the services join the same trace."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from suite import clock, config
from suite import logging as suite_logging

log = suite_logging.get("telemetry")

# -- metrics of the gRPC servers --------------------------------------------------------------------

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RPC_REQUESTS = Counter("ipss_grpc_server_requests", "RPCs answered, by RPC and gRPC status code",
                       ["rpc", "code"])
RPC_LATENCY = Histogram("ipss_grpc_server_latency_seconds", "Time from a call's arrival to its answer, by RPC",
                        ["rpc"], buckets=LATENCY_BUCKETS)


class RpcMetrics:
    """What the interceptor counts per call: one counter and one histogram observation, through
    children looked up once per RPC and code (a label lookup takes a lock and builds a key)."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str], Counter] = {}
        self._timers: dict[str, Histogram] = {}

    def observe(self, rpc: str, code: str, seconds: float) -> None:
        counter = self._counters.get((rpc, code))
        if counter is None:
            counter = self._counters[(rpc, code)] = RPC_REQUESTS.labels(rpc, code)
        timer = self._timers.get(rpc)
        if timer is None:
            timer = self._timers[rpc] = RPC_LATENCY.labels(rpc)
        counter.inc()
        timer.observe(seconds)


rpc_metrics = RpcMetrics()

# -- the metrics endpoint ----------------------------------------------------------------------------

# Set in the parent of a service's serving processes before it forks them: they count into files
# of a shared directory and the parent serves the sum (see serve_in_processes).
_shared_metrics_dir: str | None = None


def share_metrics_among_processes() -> str:
    """Before forking a service's serving processes: their metrics go to files in a fresh directory
    (prometheus_client's multiprocess mode), for the parent to serve. Every metric of the suite is
    labelled, so each value is made after this, in the process that counts it."""
    global _shared_metrics_dir
    _shared_metrics_dir = tempfile.mkdtemp(prefix="ipss-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _shared_metrics_dir
    values.ValueClass = values.MultiProcessValue()
    return _shared_metrics_dir


def stop_sharing_metrics(directory: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def serve_metrics(component: str, shared_dir: str | None = None) -> int | None:
    """Serve the process's metrics (or, given `shared_dir`, its serving processes' sum) on the
    component's metrics port in a thread of its own; the port, or None when off or taken."""
    port = config.metrics_port(component)
    if port is None:
        return None
    registry = REGISTRY
    if shared_dir is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=shared_dir)
    host = config.bind_host()
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        log.error("metrics not served: the port is taken", component=component, port=port, error=str(error))
        return None
    log.info("metrics", component=component, address=f"http://{host}:{port}/metrics")
    return port


def metrics_address(component: str) -> str:
    """Where `ipss up` says the component's metrics are ("off" when they are)."""
    port = config.metrics_port(component)
    return f"http://127.0.0.1:{port}/metrics" if port else "off"


class DatabaseGauges:
    """Gauges a service reads from its own database when Prometheus scrapes it: each probe runs on
    the service's event loop (its engine lives there), the scrape's thread waiting for it at most
    `timeout` seconds; a probe that fails or is late is left out of that scrape and logged."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, timeout: float = 5.0):
        self._loop = loop or asyncio.get_running_loop()
        self._timeout = timeout
        self._probes: list[tuple[str, Callable[[], Awaitable[Iterable[Metric]]]]] = []

    def add(self, name: str, probe: Callable[[], Awaitable[Iterable[Metric]]]) -> DatabaseGauges:
        self._probes.append((name, probe))
        return self

    def register(self, registry: CollectorRegistry = REGISTRY) -> DatabaseGauges:
        registry.register(self)
        return self

    def describe(self) -> list:
        return []  # not collected when registered: the loop may not run yet

    def collect(self) -> Iterable[Metric]:
        for name, probe in self._probes:
            future = asyncio.run_coroutine_threadsafe(probe(), self._loop)
            try:
                metrics = future.result(self._timeout)
            except Exception as error:  # noqa: BLE001 - the other metrics are still served
                future.cancel()
                log.warning("metric not read", metric=name, error=f"{type(error).__name__}: {error}"[:300])
                continue
            yield from metrics


def outbox_lag(engine, outboxes: dict[str, tuple]) -> Callable[[], Awaitable[list[Metric]]]:
    """A probe of outboxes' lag: for each outbox by name, (its pending column, its since column),
    how many of its rows wait (the pending column is NULL) and how long the oldest has waited,
    from its since column. One family per metric, a label value per outbox."""
    from sqlalchemy import func, select

    statements = {name: select(func.count(), func.min(since)).where(pending.is_(None))
                  for name, (pending, since) in outboxes.items()}

    async def probe() -> list[Metric]:
        waiting = GaugeMetricFamily("ipss_outbox_pending", "Outbox rows not yet sent on", labels=["outbox"])
        age = GaugeMetricFamily("ipss_outbox_oldest_pending_seconds",
                                "How long the oldest unsent outbox row has waited (0: none waits)", labels=["outbox"])
        now = clock.now()
        async with engine.connect() as connection:
            for name, statement in statements.items():
                count, oldest = (await connection.execute(statement)).one()
                if isinstance(oldest, str):  # SQLite may give min() of a typed column back as stored text
                    oldest = datetime.fromisoformat(oldest)
                if oldest is not None and oldest.tzinfo is None:
                    oldest = oldest.replace(tzinfo=now.tzinfo)
                waiting.add_metric([name], count)
                age.add_metric([name], max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
        return [waiting, age]
    return probe


def outbox_gauges(engine, member_events: type | None = None, workflows: type | None = None) -> DatabaseGauges:
    """The lag of a service's outboxes (suite.outbox's member events, from when each event occurred;
    suite.workflow_outbox's workflow messages, from when each was committed), read when scraped
    through `engine` (db.reader's: on SQLite, connections of its own beside the writer's);
    `register()` it."""
    outboxes = {}
    if member_events is not None:
        outboxes["member_events"] = (member_events.relayed_at, member_events.occurred_at)
    if workflows is not None:
        outboxes["workflow"] = (workflows.sent_at, workflows.created_at)
    return DatabaseGauges().add("outboxes", outbox_lag(engine, outboxes))


# -- traces ------------------------------------------------------------------------------------------

_tracing = False


def tracing() -> bool:
    return _tracing


def _traced(details) -> bool:
    """Spans for the suite's own RPCs only: not for health checks nor reflection."""
    method = details.method
    if isinstance(method, bytes):
        method = method.decode()
    return method.startswith("/ipss.")


def span_line(span: ReadableSpan) -> str:
    """A finished span as one line of JSON: its trace, span and parent ids (hex), name, kind,
    process (service.name), start and end (ns since the epoch), status, attributes and events.
    Leaner than ReadableSpan.to_json (about a third of its time): it runs for every span."""
    context, parent = span.context, span.parent
    line = {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}",
            "parent_id": f"{parent.span_id:016x}" if parent else None, "name": span.name, "kind": span.kind.name,
            "service": span.resource.attributes.get("service.name"), "start": span.start_time, "end": span.end_time,
            "status": span.status.status_code.name, "attributes": dict(span.attributes or {})}
    if span.status.description:
        line["status_description"] = span.status.description
    if span.events:
        line["events"] = [{"name": event.name, "at": event.timestamp, "attributes": dict(event.attributes or {})}
                          for event in span.events]
    return json.dumps(line, ensure_ascii=False, default=str)


class JsonLinesSpanExporter(SpanExporter):
    """Each finished span as a line of JSON (`span_line`) appended to a file; past `max_bytes`
    the file is moved aside to <name>.1 (replacing the one before) and begun anew."""

    def __init__(self, path: Path, max_bytes: int = 64 * 1024 * 1024):
        self.path, self._max_bytes = path, max_bytes
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(span_line(span) + "\n" for span in spans)
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.write(lines)
            self._file.flush()
            if self._file.tell() > self._max_bytes:
                self._file.close()
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                self._file = open(self.path, "a", encoding="utf-8")
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()


def traces_dir() -> Path:
    return config.var_dir() / "traces"


def start_tracing(component: str) -> None:
    """Give the process its tracer provider and instrument the grpc.aio channels it opens from now
    on (see the module's docstring); nothing when IPSS_TRACES=off."""
    global _tracing
    where = config.traces()
    if where == "off" or _tracing:
        return
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(resource=Resource.create({"service.name": f"ipss-{component}",
                                                        "service.instance.id": f"{os.uname().nodename}-{os.getpid()}"}),
                              sampler=ParentBased(TraceIdRatioBased(config.trace_sample_ratio())))
    if where == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        endpoint = config.otlp_endpoint()
        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
        provider.add_span_processor(BatchSpanProcessor(exporter))
    else:
        exporter = JsonLinesSpanExporter(traces_dir() / f"{component}-{os.getpid()}.jsonl")
        # Written within a second unless OTEL_BSP_SCHEDULE_DELAY says otherwise.
        delay = None if os.environ.get("OTEL_BSP_SCHEDULE_DELAY") else 1000
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=delay))
    trace.set_tracer_provider(provider)
    GrpcAioInstrumentorClient(filter_=_traced).instrument(tracer_provider=provider)
    _tracing = True
    log.info("tracing", component=component, to=config.otlp_endpoint() if where == "otlp" else str(exporter.path))


def stop_tracing() -> None:
    """Write out the spans still buffered (a serving process forked by multiprocessing leaves with
    os._exit, which runs no exit handlers)."""
    provider = trace.get_tracer_provider()
    if _tracing and hasattr(provider, "shutdown"):
        provider.shutdown()


def server_interceptors() -> list:
    """The interceptors a suite gRPC server puts before its own: a server span per call."""
    if not _tracing:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor(filter_=_traced)]


def temporal_interceptors() -> list:
    """The interceptors of a Temporal client that starts or runs workflows: spans for the start,
    the workflow, its activities, its updates and signals, carried in the workflow's headers."""
    if not _tracing:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


# -- a process's start ----------------------------------------------------------------------------

def start(component: str) -> None:
    """At a process's start, before it builds its servers and clients (and, for a serving process,
    after its fork): its traces, and a gRPC service's metrics endpoint unless the parent of its
    serving processes serves it."""
    start_tracing(component)
    if _shared_metrics_dir is None and component in config.DEFAULT_METRICS_PORTS and component != "worker":
        serve_metrics(component)


def temporal_runtime(component: str = "worker"):
    """A Temporal runtime serving the SDK's metrics (and those the worker records through it) in
    Prometheus' format on the component's metrics port; None when off or the port is taken."""
    port = config.metrics_port(component)
    if port is None:
        return None
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    address = f"{config.bind_host()}:{port}"
    try:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    except Exception as error:  # noqa: BLE001 - the worker works on without metrics
        log.error("metrics not served", component=component, port=port, error=f"{type(error).__name__}: {error}")
        return None
    log.info("metrics", component=component, address=f"http://{address}/metrics")
    return runtime


# -- what the worker counts -----------------------------------------------------------------------

DEADLINE_EVENTS = {"due_soon": ("ipss_case_deadlines_warned", "Statutory deadlines a case was warned of"),
                   "deadline_missed": ("ipss_case_deadlines_missed", "Statutory deadlines of the office a case missed")}


def count_deadline_events(entries: Iterable) -> None:
    """In an activity that has just recorded a case's new timeline entries (once: a retry records
    nothing new): a warning or a missed deadline among them counted by its period, through the
    worker's Temporal runtime (its Prometheus endpoint)."""
    from temporalio import activity

    meter = None
    for entry in entries:
        named = DEADLINE_EVENTS.get(entry.action)
        if named is None:
            continue
        meter = meter or activity.metric_meter()
        meter.create_counter(*named).add(1, {"period": str(entry.data.get("period_id", ""))})
