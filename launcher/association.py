"""An industry association's side of the linkage endpoint, from the command line:

- `ipss certs` (services.linkage.enrolment): the development CA, the endpoint's server
  certificate and a client certificate per association, registered with the registry.
- `ipss association watch`: follow the member events feed as JSON lines, resuming after the last
  position printed (kept in a state file) across disconnects and restarts."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf.json_format import MessageToDict
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ipss.linkage.v1 import linkage_pb2 as pb
from ipss.linkage.v1 import linkage_pb2_grpc as pb_grpc
from suite import tls

RECONNECT_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class Watch:
    """Where a watch connects, as whom, and where it keeps the last position it printed."""

    address: str
    authority: Path
    client: tls.KeyPair
    state: Path
    after: int | None = None
    idle_exit_seconds: float = 0.0

    def resume_position(self) -> int | None:
        if self.after is not None:
            return self.after
        if self.state.exists():
            return int(self.state.read_text().strip() or 0)
        return None

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(self.address, tls.client_credentials(self.authority, self.client))


def event_line(event) -> str:
    fields = MessageToDict(event, preserving_proto_field_name=True)
    fields["position"] = int(fields.get("position", 0))
    return json.dumps(fields, ensure_ascii=False, sort_keys=True)


async def watch(spec: Watch, out=sys.stdout) -> int:
    """Print every event as a JSON line, resuming after the last one printed whenever the stream
    breaks. Exits 0 after `idle_exit_seconds` without an event (when set), 3 when the position
    is older than the feed keeps, 4 when the certificate is refused."""
    position, attempt = spec.resume_position(), 0
    while True:
        request = pb.WatchMemberEventsRequest() if position is None else pb.WatchMemberEventsRequest(
            after_position=position)
        try:
            async with spec.channel() as channel:
                stream = pb_grpc.AssociationLinkServiceStub(channel).WatchMemberEvents(request)
                while True:
                    timeout = spec.idle_exit_seconds or None
                    answer = await asyncio.wait_for(stream.read(), timeout)
                    if answer is grpc.aio.EOF:
                        break
                    for event in answer.events:
                        out.write(event_line(event) + "\n")
                        position = event.position
                    out.flush()
                    spec.state.parent.mkdir(parents=True, exist_ok=True)
                    spec.state.write_text(str(position))
                    attempt = 0
        except TimeoutError:
            return 0
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.OUT_OF_RANGE:
                print(f"ipss association watch: {error.details()} ({_metadata_of(error)})", file=sys.stderr)
                return 3
            if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                print(f"ipss association watch: refused: {error.details()}", file=sys.stderr)
                return 4
            print(f"ipss association watch: {error.code().name}: {error.details()}; resuming after {position}",
                  file=sys.stderr)
        await asyncio.sleep(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])
        attempt += 1


def _metadata_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    if status is None:
        return ""
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return ", ".join(f"{k}={v}" for k, v in sorted(info.metadata.items()))
    return ""
