"""The audit log (审计日志): a record that shows tampering. Every state-changing call a service
commits appends an entry to its own append-only table `audit_log` in the same transaction (so an
entry exists exactly when the change committed): who (subject, role), what (the RPC), when, the
request id, and the SHA-256 digests of before and after (for a write through an idempotency key:
the request and the response; for a publication: the published document).

The entries form one hash chain: entry_hash = SHA-256(prev_hash, the entry's canonical bytes), the
first entry's prev_hash 64 zeros. Every CHECKPOINT_EVERY entries (and on demand, `checkpoint`) the
position and entry hash are signed with the office's Ed25519 audit key (suite.signing) into
`audit_checkpoints`. `verify` walks the chain and the checkpoints and names the first entry that
was changed, removed, inserted or moved; a rewrite of the chain after a change (every later hash
recomputed) is caught by the next signed checkpoint.

- `AuditEntryMixin`, `AuditCheckpointMixin`: the tables, mixed into a service's declarative Base
  (its migration creates them);
- `append(session, entry_type, entries)`: inside the caller's open write transaction; takes the
  chain head under a lock (PostgreSQL: a transaction-scoped advisory lock; SQLite: its single
  writer, the transaction began IMMEDIATE), hashes the batch in Python and inserts it with one
  executemany;
- `verify(url)`: synchronous, for `ipss audit verify` and the public."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone

import structlog
from sqlalchemy import Integer, String, create_engine, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from suite import auth, clock, config, db, signing

ENTRY_TABLE = "audit_log"
CHECKPOINT_TABLE = "audit_checkpoints"
GENESIS = "0" * 64
CHECKPOINT_EVERY = 1000
SIGNED_FORMAT = "ipss-audit/1"
# The advisory lock key a service's appends serialize on (PostgreSQL): one chain per database.
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"ipss audit_log head").digest()[:8], "big", signed=True)
_FIELDS = ("at", "subject", "role", "rpc", "request_id", "digest_before", "digest_after")


class AuditEntryMixin:
    """One state change, chained to the entry before it."""

    __tablename__ = ENTRY_TABLE
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(db.Instant)
    subject: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    rpc: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(100))
    digest_before: Mapped[str] = mapped_column(String(64))
    digest_after: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpointMixin:
    """The chain's head at `position`, signed (SIGNED_FORMAT, position, entry_hash)."""

    __tablename__ = CHECKPOINT_TABLE
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(100))  # base64
    signed_at: Mapped[datetime] = mapped_column(db.Instant)


@dataclasses.dataclass(frozen=True)
class Entry:
    rpc: str
    digest_before: str
    digest_after: str
    subject: str = ""
    role: str = ""
    request_id: str = ""
    at: datetime | None = None


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def canonical(at: datetime, subject: str, role: str, rpc: str, request_id: str, digest_before: str,
              digest_after: str) -> bytes:
    """The entry's bytes its hash covers: the moment in microseconds since 1970 (UTC), then each
    field, separated by NUL (which no field holds: PostgreSQL keeps none in text, `Entry` strips it)."""
    return "\0".join((str((at - _EPOCH) // _MICROSECOND), subject, role, rpc, request_id, digest_before,
                      digest_after)).encode()


def chain_hash(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()


def signed_content(position: int, entry_hash: str) -> bytes:
    return f"{SIGNED_FORMAT}\n{position}\n{entry_hash}".encode()


def signing_key() -> bytes:
    """The office's audit key (32 raw Ed25519 bytes): IPSS_AUDIT_SIGNING_KEY (base64) in production;
    in development made once and kept in var/, as the registry's signing key is."""
    explicit = os.environ.get("IPSS_AUDIT_SIGNING_KEY", "").strip()
    if explicit:
        return base64.b64decode(explicit, validate=True)
    path = config.var_dir() / "audit-signing-key"
    if not path.exists():
        path.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
        path.chmod(0o600)
    return base64.b64decode(path.read_text().strip(), validate=True)


_signers: dict[bytes, signing.Signer] = {}


def signer() -> signing.Signer:
    key = signing_key()
    if key not in _signers:
        _signers[key] = signing.Signer(key)
    return _signers[key]


def public_key() -> bytes:
    return signer().public_key


_entry_types: dict[type, type | None] = {}


def entry_type_for(model: type) -> type | None:
    """The audit table mixed into the same declarative Base as `model` (None: the service keeps none)."""
    if model not in _entry_types:
        _entry_types[model] = next((mapper.class_ for mapper in model.registry.mappers
                                    if issubclass(mapper.class_, AuditEntryMixin)), None)
    return _entry_types[model]


def _checkpoint_type(entry_type: type) -> type:
    return next(mapper.class_ for mapper in entry_type.registry.mappers
                if issubclass(mapper.class_, AuditCheckpointMixin))


def for_call(rpc: str, digest_before: str, digest_after: str) -> Entry:
    """An entry for the call being served: its caller and the request id the interceptor bound."""
    try:
        principal = auth.current()
    except LookupError:  # a write of the service's own, outside any call
        principal = auth.Principal(subject="system", role="system")
    request_id = str(structlog.contextvars.get_contextvars().get("request_id", ""))
    return Entry(rpc=rpc, digest_before=digest_before, digest_after=digest_after,
                 subject=principal.subject.replace("\0", ""), role=principal.role,
                 request_id=request_id.replace("\0", "")[:100])


async def _lock_head(session: AsyncSession, entry_type: type) -> tuple[int, str]:
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    # SQLite: the transaction holds the one write lock already (begun IMMEDIATE, db.WRITE).
    table = entry_type.__table__
    head = (await connection.execute(select(table.c.position, table.c.entry_hash)
                                     .order_by(table.c.position.desc()).limit(1))).first()
    return (head.position, head.entry_hash) if head else (0, GENESIS)


async def append(session: AsyncSession, entry_type: type, entries: Sequence[Entry]) -> int:
    """Append `entries` to the chain inside the session's open transaction; the last position.
    Signs a checkpoint whenever the chain passes a multiple of CHECKPOINT_EVERY."""
    if not entries:
        return 0
    position, prev = await _lock_head(session, entry_type)
    now = clock.now()
    rows = []
    checkpoints = []
    every, sha256, epoch, microsecond = CHECKPOINT_EVERY, hashlib.sha256, _EPOCH, _MICROSECOND
    # canonical() and chain_hash() written out in the loop: a million entries feel each call.
    for entry in entries:
        position += 1
        at = entry.at or now
        content = "\0".join((str((at - epoch) // microsecond), entry.subject, entry.role, entry.rpc, entry.request_id,
                             entry.digest_before, entry.digest_after))
        entry_hash = sha256(f"{prev}\n{content}".encode()).hexdigest()
        rows.append({"position": position, "at": at, "subject": entry.subject, "role": entry.role, "rpc": entry.rpc,
                     "request_id": entry.request_id, "digest_before": entry.digest_before,
                     "digest_after": entry.digest_after, "prev_hash": prev, "entry_hash": entry_hash})
        if position % every == 0:
            checkpoints.append((position, entry_hash))
        prev = entry_hash
    connection = await session.connection()
    await connection.execute(insert(entry_type.__table__), rows)
    if checkpoints:
        await _sign(connection, _checkpoint_type(entry_type), checkpoints, now)
    return position


async def _sign(connection, checkpoint_type: type, heads: Iterable[tuple[int, str]], now: datetime) -> None:
    key = signer()
    await connection.execute(insert(checkpoint_type.__table__), [
        {"position": position, "entry_hash": entry_hash, "key_id": key.key_id,
         "signature": signing.encode(key.sign(signed_content(position, entry_hash))), "signed_at": now}
        for position, entry_hash in heads])


async def checkpoint(session: AsyncSession, entry_type: type) -> int:
    """Sign the chain's head now (if it is not signed yet); its position (0: the chain is empty)."""
    position, head = await _lock_head(session, entry_type)
    checkpoint_type = _checkpoint_type(entry_type)
    if position and await session.get(checkpoint_type, position) is None:
        await _sign(await session.connection(), checkpoint_type, [(position, head)], clock.now())
    return position


# What the public is shown -------------------------------------------------------------------

PUBLICATIONS = ("PublishPenalty", "PublishDrawRecord")


def published(url: str) -> dict:
    """The chain's publication entries (position, moment, RPC, the published document's digest,
    entry hash) and every signed checkpoint: what the office publishes so that anyone holding a
    penalty or draw record it was shown can find its digest in the chain, and check each
    checkpoint's signature with the office's audit key (`ipss audit key`)."""
    engine = create_engine(db.sync_url(url))
    try:
        with engine.connect() as connection:
            entries = [{"position": row.position, "at": _moment(row.at).isoformat(), "rpc": row.rpc,
                        "document_sha256": row.digest_after, "entry_hash": row.entry_hash}
                       for row in connection.execute(text(
                           f"SELECT position, at, rpc, digest_after, entry_hash FROM {ENTRY_TABLE} "
                           f"WHERE rpc IN ({', '.join(repr(rpc) for rpc in PUBLICATIONS)}) ORDER BY position"))]
            checkpoints = [{"position": row.position, "entry_hash": row.entry_hash, "key_id": row.key_id,
                            "signature": row.signature, "signed": signed_content(row.position, row.entry_hash).decode()}
                           for row in connection.execute(text(
                               f"SELECT position, entry_hash, key_id, signature FROM {CHECKPOINT_TABLE} "
                               f"ORDER BY position"))]
    finally:
        engine.dispose()
    return {"format": SIGNED_FORMAT, "publications": entries, "checkpoints": checkpoints}


# Verification --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Problem:
    position: int
    kind: str  # changed, removed, inserted, reordered, checkpoint
    detail: str

    def __str__(self) -> str:
        return f"entry {self.position}: {self.kind}: {self.detail}"


@dataclasses.dataclass(frozen=True)
class Report:
    entries: int
    checkpoints: int
    signed_through: int  # the last position a valid checkpoint covers
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


_ENTRY_QUERY = text(f"SELECT position, at, subject, role, rpc, request_id, digest_before, digest_after, prev_hash, "
                    f"entry_hash FROM {ENTRY_TABLE} ORDER BY position")


def verify(url: str, key: bytes | None = None, batch: int = 10000) -> Report:
    """Walk the chain of the database at `url` and its checkpoints (signatures checked with the
    public `key`, the office's audit key by default); the first problem found, named."""
    key = key if key is not None else public_key()
    engine = create_engine(db.sync_url(url))
    try:
        with engine.connect() as connection:
            checkpoints = {row.position: row for row in connection.execute(
                text(f"SELECT position, entry_hash, key_id, signature FROM {CHECKPOINT_TABLE} ORDER BY position"))}
            return _walk(connection, checkpoints, key, batch)
    finally:
        engine.dispose()


def _moment(value) -> datetime:
    if isinstance(value, str):  # SQLite through the plain driver: the stored UTC wall time
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _walk(connection, checkpoints: dict, key: bytes, batch: int) -> Report:
    expected, prev, before_prev = 1, GENESIS, None
    signed_through = 0
    result = connection.execution_options(stream_results=True, yield_per=batch).execute(_ENTRY_QUERY)
    count = 0

    def report(problem: Problem | None) -> Report:
        return Report(count, len(checkpoints), signed_through, problem)

    for row in result:
        position = row.position
        content = canonical(_moment(row.at), row.subject, row.role, row.rpc, row.request_id, row.digest_before,
                            row.digest_after)
        if position != expected:
            if position > expected:
                missing = str(expected) if position == expected + 1 else f"{expected} to {position - 1}"
                return report(Problem(expected, "removed",
                                      f"entry {missing} is missing (the log goes on at {position})"))
            return report(Problem(position, "inserted", f"a second entry numbered {position}"))
        if chain_hash(row.prev_hash, content) != row.entry_hash:
            if row.prev_hash != prev and _successor(connection, prev) is not None:
                return report(Problem(position, "inserted", "it follows no entry of the log and its hash does not "
                                      f"match; the entry that follows entry {position - 1} comes later"))
            return report(Problem(position, "changed", "its content does not match its hash"))
        if row.prev_hash != prev:
            return report(_broken_link(connection, position, row.prev_hash, prev, before_prev))
        checkpoint = checkpoints.get(position)
        if checkpoint is not None:
            problem = _check_signature(checkpoint, key)
            if problem:
                return report(problem)
            if checkpoint.entry_hash != row.entry_hash:
                return report(Problem(position, "changed", "the chain up to here differs from the one signed at this "
                                      "position (entries before it were changed and the chain recomputed)"))
            signed_through = position
        before_prev, prev = prev, row.entry_hash
        expected += 1
        count += 1
    beyond = [position for position in checkpoints if position >= expected]
    if beyond:
        return report(Problem(expected, "removed", f"the log ends at {expected - 1} but a checkpoint signs entry "
                              f"{beyond[0]}"))
    return report(None)


def _check_signature(checkpoint, key: bytes) -> Problem | None:
    try:
        signature = signing.decode(checkpoint.signature)
    except ValueError:
        signature = b""
    if checkpoint.key_id != signing.key_id(key) or not signing.verify(
            signed_content(checkpoint.position, checkpoint.entry_hash), signature, key):
        return Problem(checkpoint.position, "checkpoint", "the checkpoint's signature does not verify with the "
                       "office's audit key")
    return None


def _successor(connection, entry_hash: str):
    return connection.execute(text(f"SELECT position FROM {ENTRY_TABLE} WHERE prev_hash = :hash"),
                              {"hash": entry_hash}).first()


def _broken_link(connection, position: int, links_to: str, prev: str, before_prev: str | None) -> Problem:
    """Entry `position` hashes right but does not follow the entry before it: say why."""
    if links_to == before_prev:
        return Problem(position - 1, "inserted", f"entry {position} follows entry {position - 2}; entry "
                       f"{position - 1} was put between them")
    linked = connection.execute(text(f"SELECT position FROM {ENTRY_TABLE} WHERE entry_hash = :hash"),
                                {"hash": links_to}).first()
    if linked is not None:
        return Problem(position, "reordered", f"it follows entry {linked.position} in the chain, not entry "
                       f"{position - 1}")
    successor = _successor(connection, prev)
    if successor is not None:
        return Problem(position, "inserted", f"it follows no entry of the log; entry {successor.position} follows "
                       f"entry {position - 1}")
    return Problem(position, "removed", f"the entry that followed entry {position - 1} is missing (the later "
                   f"entries were renumbered)")
