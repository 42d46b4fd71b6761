"""Temporal payloads sealed (suite.payload_codec) and the codec server the Web UI asks to open
them (suite.codec_server): what the Temporal server stores holds no plaintext; the suite's
client and the codec server read it back; only the Web UI's origin may call the server from a
browser."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client

from suite import codec_server, payload_codec
from suite.sealing import Unsealable

SENTINEL = "编解码哨兵-5c1e"
UI = "http://127.0.0.1:8233"


async def test_a_sealed_payload_holds_no_plaintext_and_opens_only_under_its_key():
    codec = payload_codec.SealingCodec(b"k" * 32)
    plain = payload_codec.data_converter(b"k" * 32).payload_converter.to_payloads([{"name": SENTINEL}])
    [sealed] = await codec.encode(plain)
    assert sealed.metadata["encoding"] == payload_codec.ENCODING and SENTINEL.encode() not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == plain
    # A payload written before payloads were sealed is read as it is.
    assert await codec.decode(plain) == plain
    with pytest.raises(Unsealable):
        await payload_codec.SealingCodec(b"x" * 32).decode([sealed])


async def test_histories_hold_sealed_payloads_that_the_suites_client_reads(temporal_env):
    address = temporal_env.client.service_client.config.target_host
    sealing = await Client.connect(address, data_converter=payload_codec.data_converter(b"k" * 32))
    workflow_id = f"codec-{uuid.uuid4().hex}"
    handle = await sealing.start_workflow("Case", {"reason": SENTINEL}, id=workflow_id, task_queue="no-worker-here")
    try:
        raw = await temporal_env.client.get_workflow_handle(workflow_id).fetch_history()
        assert SENTINEL.encode() not in raw.to_json().encode() and SENTINEL not in raw.to_json()
        started = raw.events[0].workflow_execution_started_event_attributes
        [payload] = started.input.payloads
        assert payload.metadata["encoding"] == payload_codec.ENCODING
        [opened] = await payload_codec.SealingCodec(b"k" * 32).decode([payload])
        assert json.loads(opened.data) == {"reason": SENTINEL}  # the check above can fail: the value is there
    finally:
        await handle.terminate()


def web_ui(codec: payload_codec.SealingCodec) -> httpx.AsyncClient:
    app = codec_server.app(codec, frozenset({UI}))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")


async def test_the_codec_server_opens_payloads_for_the_web_ui():
    codec = payload_codec.SealingCodec(b"k" * 32)
    sealed = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(SENTINEL).encode())])
    async with web_ui(codec) as ui:
        answer = await ui.post("/decode", content=json_format.MessageToJson(Payloads(payloads=sealed)),
                               headers={"content-type": "application/json", "origin": UI, "x-namespace": "default"})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == UI
        [opened] = json_format.Parse(answer.content, Payloads()).payloads
        assert json.loads(opened.data) == SENTINEL

        encoded = await ui.post("/encode", content=json_format.MessageToJson(Payloads(payloads=[opened])),
                                headers={"content-type": "application/json"})
        [again] = json_format.Parse(encoded.content, Payloads()).payloads
        assert again.metadata["encoding"] == payload_codec.ENCODING and await codec.decode([again]) == [opened]


async def test_only_the_web_uis_origin_may_call_the_codec_server_from_a_browser():
    async with web_ui(payload_codec.SealingCodec(b"k" * 32)) as ui:
        preflight = await ui.options("/decode", headers={"origin": UI, "access-control-request-method": "POST"})
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == UI
        assert "x-namespace" in preflight.headers["access-control-allow-headers"]
        other = await ui.options("/decode", headers={"origin": "http://evil.example",
                                                     "access-control-request-method": "POST"})
        assert "access-control-allow-origin" not in other.headers
        refused = await ui.post("/decode", content="payloads", headers={"content-type": "text/plain"})
        assert refused.status_code == 415
