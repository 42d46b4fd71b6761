"""What every service's tests check of an answer over gRPC: the status of a refusal and its
google.rpc.ErrorInfo (every refusal names its reason, so that a client words it without reading
the English message), the fields its google.rpc.BadRequest names and the subjects of its
PreconditionFailure, and that a refused call left every stored row as it was."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine


REASON = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")


async def refused(call, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, f"{caught.value.code()}: {caught.value.details()}"
    error_info(caught.value)
    return caught.value


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The refusal's google.rpc.ErrorInfo: there is one, in the suite's domain, with a reason."""
    status = rpc_status.from_call(error)
    assert status is not None, f"a refusal without google.rpc.Status details: {error.details()}"
    infos = []
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            infos.append(info)
    assert len(infos) == 1 and infos[0].domain == "ipss", status.details
    assert REASON.fullmatch(infos[0].reason), infos[0].reason
    return infos[0]


def field_reasons(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """Each field google.rpc.BadRequest names, with its violation's reason."""
    status = rpc_status.from_call(error)
    reasons = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            reasons.update({v.field: v.reason for v in bad.field_violations})
    return reasons


def bad_fields(error: grpc.aio.AioRpcError) -> set[str]:
    """The fields google.rpc.BadRequest names in the error's rich status."""
    status = rpc_status.from_call(error)
    assert status is not None, "INVALID_ARGUMENT without google.rpc.Status details"
    named = set()
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            named |= {v.field for v in bad.field_violations if v.description}
    return named


def precondition_subjects(error: grpc.aio.AioRpcError) -> set[str]:
    status = rpc_status.from_call(error)
    found = set()
    for detail in status.details:
        failure = error_details_pb2.PreconditionFailure()
        if detail.Unpack(failure):
            found |= {v.subject for v in failure.violations}
    return found


async def invalid(call, *fields: str) -> None:
    error = await refused(call, grpc.StatusCode.INVALID_ARGUMENT)
    assert bad_fields(error) == set(fields), error.details()


async def stored(engine: AsyncEngine, metadata: MetaData) -> dict[str, list[tuple]]:
    """Every row of every table a service owns."""
    async with engine.connect() as connection:
        return {table.name: [tuple(row) for row in await connection.execute(
                    select(table).order_by(*table.primary_key.columns))]
                for table in metadata.sorted_tables}


@asynccontextmanager
async def nothing_stored_changes(engine: AsyncEngine, metadata: MetaData) -> AsyncIterator[None]:
    before = await stored(engine, metadata)
    yield
    assert await stored(engine, metadata) == before


async def eventually(probe, seconds: float = 10.0):
    """The visibility store answers a moment after a workflow starts or changes."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        answer = await probe()
        if answer or asyncio.get_running_loop().time() > deadline:
            return answer
        await asyncio.sleep(0.2)
