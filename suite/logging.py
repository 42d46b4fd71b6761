"""JSON logs through structlog. Every line of a request carries its request id and RPC name,
bound in context variables by the gRPC server kit; message bodies are never logged, so a
reporter's identity cannot reach a log line."""

from __future__ import annotations

import logging
import sys

import structlog

from suite import config


def configure(component: str) -> None:
    level = getattr(logging, config.log_level().upper(), logging.INFO)
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level)
    # aiosqlite logs every statement with its bound values (a reporter's identity) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(max(level, logging.INFO))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
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
