"""Every payload the suite hands Temporal (workflow inputs and results, signals, updates, queries,
activity arguments and results, failures' details) is sealed under the payload key
(suite.config.temporal_payload_key, AES-256-GCM) before it leaves the process. No reporter's
identity is in them (workflows know reporters by reference), but a case's subject may be a
practitioner, and a handler's typed reason or an inspector's findings may name anyone: the
Temporal server, its database and whoever reads its histories see none of it. Operators read
them in the Web UI through the codec server (suite.codec_server)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import temporalio.converter
from temporalio.api.common.v1 import Payload

from suite import config
from suite.sealing import Sealer

ENCODING = b"binary/encrypted"
# What a sealed payload is bound to: it opens as a Temporal payload of the suite and nothing else.
CONTEXT = b"ipss/temporal-payload"


class SealingCodec(temporalio.converter.PayloadCodec):
    def __init__(self, key: bytes | None = None):
        self._sealer = Sealer(key or config.temporal_payload_key())

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata={"encoding": ENCODING}, data=self._sealer.seal(p.SerializeToString(), CONTEXT))
                for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Sealed payloads opened; others as they are: histories written before payloads were
        sealed still replay and read."""
        return [Payload.FromString(self._sealer.open(p.data, CONTEXT)) if p.metadata.get("encoding") == ENCODING
                else p for p in payloads]


def data_converter(key: bytes | None = None) -> temporalio.converter.DataConverter:
    """Temporal's default converter, its payloads sealed (the configured key unless given)."""
    return dataclasses.replace(temporalio.converter.default(), payload_codec=SealingCodec(key))
