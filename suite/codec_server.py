"""python -m suite.codec_server: the codec server the Temporal Web UI asks to show the suite's
sealed payloads (suite.payload_codec) in the clear: POST /decode and /encode take and give
{"payloads": [...]} as Temporal's JSON, and only the Web UI's origin may call them from a
browser (CORS). It opens whatever it is sent, so it listens on loopback by default
(IPSS_CODEC_SERVER_BIND, IPSS_CODEC_SERVER_PORT) and the UI's origins are the dev server's
(IPSS_TEMPORAL_UI_ORIGINS, comma-separated)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence

import uvicorn
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads

from suite import logging as suite_logging
from suite.payload_codec import SealingCodec

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def address() -> tuple[str, int]:
    return os.environ.get("IPSS_CODEC_SERVER_BIND", "127.0.0.1"), int(os.environ.get("IPSS_CODEC_SERVER_PORT", "8234"))


def ui_origins() -> frozenset[str]:
    """The dev server's Web UI, by either name of the loopback address."""
    explicit = os.environ.get("IPSS_TEMPORAL_UI_ORIGINS", "")
    if explicit:
        return frozenset(o.strip() for o in explicit.split(",") if o.strip())
    port = os.environ.get("IPSS_TEMPORAL_UI_PORT", "8233")
    return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})


def url() -> str:
    host, port = address()
    return f"http://{host}:{port}"


def app(codec: SealingCodec | None = None, origins: frozenset[str] | None = None) -> Starlette:
    codec = codec or SealingCodec()
    origins = origins or ui_origins()

    def cors(request: Request, response: Response) -> Response:
        """The Web UI calls from its own origin (a page the operator's browser loaded); no other
        page may have its script read payloads through the operator's browser."""
        origin = request.headers.get("origin", "")
        if origin in origins:
            response.headers.update({"access-control-allow-origin": origin, "access-control-allow-methods": "POST",
                                     "access-control-allow-headers": "content-type,x-namespace",
                                     "vary": "origin"})
        return response

    def endpoint(transform: Transform):
        async def handle(request: Request) -> Response:
            if request.method == "OPTIONS":
                return cors(request, Response(status_code=204))
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return cors(request, Response("expected application/json", status_code=415))
            try:
                payloads = json_format.Parse(await request.body(), Payloads())
            except json_format.ParseError:
                return cors(request, Response("expected {\"payloads\": [...]}", status_code=400))
            answer = Payloads(payloads=await transform(payloads.payloads))
            return cors(request, Response(json_format.MessageToJson(answer), media_type="application/json"))
        return handle

    async def health(request: Request) -> Response:
        return Response("ok")

    return Starlette(routes=[Route("/decode", endpoint(codec.decode), methods=["POST", "OPTIONS"]),
                             Route("/encode", endpoint(codec.encode), methods=["POST", "OPTIONS"]),
                             Route("/healthz", health)])


def main() -> None:
    suite_logging.configure("codec")
    host, port = address()
    uvicorn.run(app(), host=host, port=port, log_level="warning")


if __name__ == "__main__":
    main()
