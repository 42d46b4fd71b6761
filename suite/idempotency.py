"""Idempotency keys: a retried write with the same key returns the first answer and changes
nothing twice. Each service keeps its own table (it owns its data); the key is scoped by the
RPC and the caller, and the stored answer is the serialized response message."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import LargeBinary, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from suite import audit, auth, clock, db
from suite.errors import AlreadyExists, FieldViolation, InvalidArgument

Response = TypeVar("Response", bound=Message)


class IdempotencyRecordMixin:
    __tablename__ = "idempotency_keys"
    method: Mapped[str] = mapped_column(String(100), primary_key=True)
    caller: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(db.Instant)


def _fingerprint(request: Message) -> str:
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


def _caller_scope(principal: auth.Principal, fingerprint: str) -> str:
    """Whose key space a key is looked up in. A caller with a token has its own (its subject). The
    public has no identity: every anonymous caller is the one subject "anonymous", so its keys
    would be one space, and a key guessed or seen in another's request would replay that filer's
    answer (a tracking code and its secret) or, with another body, say the key is taken. An
    anonymous key is therefore scoped by the digest of the whole request (key included): only the
    identical request, which only its sender holds, replays; any other request with that key is
    a first call of its own. A retry resends the same bytes, so retries still file once."""
    if principal.role == "public":
        return f"{principal.subject}:{fingerprint}"
    return principal.subject


async def run_once(sessions: async_sessionmaker, record_type: type, method: str, request: Message,
                   response_type: type[Response],
                   write: Callable[[AsyncSession], Awaitable[Response]]) -> Response:
    """Run `write` in one transaction with the key's record and its audit entry (suite.audit, when
    the service keeps an audit log), or replay the stored response."""
    fingerprint = _fingerprint(request)
    caller = _caller_scope(auth.current(), fingerprint)
    identity = (method, caller, request.idempotency_key)
    for _attempt in range(2):
        try:
            # The look-up opens the transaction the write runs in (a session begins on first use).
            async with sessions() as session, session.begin():
                await session.connection(execution_options=db.WRITE)
                stored = await session.get(record_type, identity)
                if stored is not None:
                    return _replay(stored, fingerprint, response_type)
                response = await write(session)
                serialized = response.SerializeToString()
                audit_type = audit.entry_type_for(record_type)
                if audit_type is not None:
                    # The audit entry commits with the change (digests: the request, the response).
                    await audit.append(session, audit_type,
                                       [audit.for_call(method, fingerprint, audit.digest(serialized))])
                session.add(record_type(method=method, caller=caller, key=request.idempotency_key,
                                        request_sha256=fingerprint, response=serialized,
                                        created_at=clock.now()))
            return response
        except (IntegrityError, AlreadyExists) as error:
            # A concurrent retry with the same key may have won the race (the write then collides
            # with, or its own duplicate check sees, the winner's rows); look again: a stored key
            # answers, anything else is the write's own conflict.
            async with sessions() as fresh:
                if await fresh.get(record_type, identity) is None:
                    if isinstance(error, AlreadyExists):
                        raise
                    raise AlreadyExists("REQUEST_COLLIDES",
                                        f"{method}: the request collides with a record stored meanwhile") from None
    raise AssertionError("a stored idempotency key is replayed on the second attempt")


def runner(sessions: async_sessionmaker, record_type: type) -> Callable[..., Awaitable[Message]]:
    """run_once bound to a service's sessions and its table of keys, as its api calls it:
    `once(method, request, response_type, write)`."""
    return functools.partial(run_once, sessions, record_type)


def _replay(stored, fingerprint: str, response_type: type[Response]) -> Response:
    if stored.request_sha256 != fingerprint:
        raise InvalidArgument(FieldViolation("idempotency_key", "IDEMPOTENCY_KEY_REUSED",
                                             "was already used for a different request"))
    return response_type.FromString(stored.response)

