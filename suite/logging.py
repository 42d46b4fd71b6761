"""JSON logs through structlog. Every line of a request carries its request id and RPC name,
bound in context variables by the gRPC server kit, and the case id where the call names one;
every line written while a span is current carries its trace id (suite.telemetry). A worker's
line written in an activity or a workflow carries the workflow id, and the case id when the
workflow is a case's: the services log the worker's calls under that id as their request id.
Lines of the standard library's loggers (Temporal's workflow and activity loggers among them)
go out as the same JSON. Message bodies are never logged, so a reporter's identity cannot reach
a log line."""

from __future__ import annotations

import logging
import string
import sys
from urllib.parse import quote

import structlog
from opentelemetry import trace
from temporalio import activity

from contracts.case import WORKFLOW_NAME as CASE_WORKFLOW
from suite import config


def _workflow_ids(event_dict: dict, workflow_id: str, workflow_type: str) -> None:
    event_dict.setdefault("workflow_id", workflow_id)
    if workflow_type == CASE_WORKFLOW:
        event_dict.setdefault("case_id", workflow_id)
    # The request id the worker's calls to the services carry (workflows.activities.service_client).
    event_dict.setdefault("request_id", workflow_id if workflow_id.isascii()
                          else quote(workflow_id, safe=string.punctuation))


def add_trace_and_case(_logger, _method: str, event_dict: dict) -> dict:
    """The current span's trace id, and inside an activity its workflow's ids."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
    if activity.in_activity():
        info = activity.info()
        _workflow_ids(event_dict, info.workflow_id, info.workflow_type)
        event_dict.setdefault("activity", info.activity_type)
    return event_dict


def add_temporal_extras(_logger, _method: str, event_dict: dict) -> dict:
    """A standard-library record from Temporal's workflow or activity logger names its workflow in
    an extra: the same ids as the suite's own lines."""
    record = event_dict.get("_record")
    details = getattr(record, "temporal_workflow", None) or getattr(record, "temporal_activity", None)
    if isinstance(details, dict) and details.get("workflow_id"):
        _workflow_ids(event_dict, str(details["workflow_id"]), str(details.get("workflow_type", "")))
    return event_dict


def configure(component: str) -> None:
    level = getattr(logging, config.log_level().upper(), logging.INFO)
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_and_case,
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, add_temporal_extras],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, structlog.processors.JSONRenderer(ensure_ascii=False)]))
    logging.basicConfig(handlers=[handler], level=level, force=True)
    # aiosqlite logs every statement with its bound values (a reporter's identity) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(max(level, logging.INFO))
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(component=component)


def get(name: str | None = None) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)
