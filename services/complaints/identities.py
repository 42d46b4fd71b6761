"""Reporters' identities at rest (issue 15 item 3): the identity fields of a reporter (name,
phone, resident id, organisation, e-mail) are kept as one value sealed under the reporter key
(suite.config.reporter_key, AES-256-GCM), bound to the reporter's reference, so that neither a
copy of the database nor a value moved to another reporter's row tells who reported. Whether a
reporter gave their name stays plain: the workflow and the notices need it, and it identifies
no one."""

from __future__ import annotations

import json

from services.complaints.domain import ReporterIdentity
from suite import config
from suite.sealing import Sealer


def context(reference: str) -> bytes:
    """What a sealed identity is bound to: its row, by the reporter's reference."""
    return f"reporters/{reference}".encode()


class ReporterIdentities:
    def __init__(self, key: bytes | None = None):
        self._sealer = Sealer(key or config.reporter_key())

    def seal(self, reference: str, identity: ReporterIdentity) -> bytes:
        fields = {name: getattr(identity, name) for name in ReporterIdentity.IDENTITY_FIELDS}
        return self._sealer.seal(json.dumps(fields, ensure_ascii=False, sort_keys=True).encode(), context(reference))

    def open(self, reference: str, real_name: bool, sealed: bytes) -> ReporterIdentity:
        fields = json.loads(self._sealer.open(sealed, context(reference)))
        return ReporterIdentity(real_name, **{name: fields.get(name, "") for name in ReporterIdentity.IDENTITY_FIELDS})
