"""`ipss draw verify RECORD`: recompute a published draw record from its public data and say
whether it matches, and whether the draw kept the commitment its plan published before it
(seed source, snapshot, pool, algorithm; made before the draw). RECORD is an exported record (the document ExportDrawRecord gives, as a
file, gzip-compressed or not) or a plan id, whose record is then fetched from the inspections
service without a token, as anyone may."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import sys
from pathlib import Path

import grpc

from ipss.inspections.v1 import inspections_pb2 as pb
from ipss.inspections.v1 import inspections_pb2_grpc as pb_grpc
from services.inspections.domain import draw
from suite import config

GZIP_MAGIC = b"\x1f\x8b"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class RecordUnavailable(Exception):
    pass


def read_document(content: bytes) -> dict:
    if content.startswith(GZIP_MAGIC):
        content = gzip.decompress(content)
    return json.loads(content)


async def fetch(plan_id: str, address: str) -> tuple[bytes, str]:
    """The record of a plan, and the hash of the commitment the service publishes for the plan
    apart from it ("" for a plan drawn before commitments)."""
    options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        stub = pb_grpc.InspectionsServiceStub(channel)
        try:
            answer = await stub.ExportDrawRecord(pb.ExportDrawRecordRequest(plan_id=plan_id), timeout=60)
        except grpc.aio.AioRpcError as error:
            raise RecordUnavailable(f"{address} did not give the record of {plan_id}: {error.code().name} "
                                    f"{error.details()}") from None
        try:
            committed = (await stub.GetDrawCommitment(pb.GetDrawCommitmentRequest(plan_id=plan_id), timeout=60)
                         ).commitment.commitment_sha256
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise RecordUnavailable(f"{address} did not give the commitment of {plan_id}: "
                                        f"{error.code().name} {error.details()}") from None
            committed = ""
    content = gzip.decompress(answer.document)
    if hashlib.sha256(content).hexdigest() != answer.document_sha256:
        raise RecordUnavailable("the fetched document does not match the sha256 the service gave with it")
    return content, committed


def load(record: str, address: str | None) -> tuple[dict, str | None]:
    """The record, and the commitment hash published apart from it (None for a file)."""
    path = Path(record)
    if path.is_file():
        return read_document(path.read_bytes()), None
    content, committed = asyncio.run(fetch(record, address or config.service_address("inspections")))
    return read_document(content), committed


def run(record: str, address: str | None = None, out=sys.stdout) -> int:
    """0 when the record matches its recomputation, 1 when it does not, 2 when it cannot be read."""
    try:
        document, committed = load(record, address)
    except (RecordUnavailable, OSError, ValueError) as error:
        print(f"ipss draw verify: {error}", file=sys.stderr)
        return 2
    if not isinstance(document, dict):
        print("ipss draw verify: the document is not a draw record", file=sys.stderr)
        return 2
    verdict = draw.check_record(document)
    if committed is not None and committed != document.get("commitment_sha256", ""):
        verdict = draw.DrawCheck(False, [*verdict.problems, f"the plan's published commitment hashes to "
                                         f"{committed or '(none)'}, the record's to "
                                         f"{document.get('commitment_sha256') or '(none)'}"],
                                 verdict.targets, verdict.targets_only)
    plan = (document.get("plan") or {}).get("plan_id", "?")
    if verdict.matches:
        print(f"MATCHES: plan {plan}, {verdict.targets} targets, algorithm {document['algorithm_version']}, "
              f"result {document['result_hash']}", file=out)
        if document.get("commitment_sha256"):
            committed = document["commitment"]
            print(f"  committed {committed['committed_at']} to seed source {committed['seed_source']!r} "
                  f"(published {committed['seed_available_on']}), commitment {document['commitment_sha256']}",
                  file=out)
        if verdict.targets_only:
            print("  the pairings are published with the results: the targets alone were recomputed", file=out)
        return 0
    print(f"DOES NOT MATCH: plan {plan}", file=out)
    for problem in verdict.problems:
        print(f"  - {problem}", file=out)
    return 1
