"""Hostile requests for every RPC of the suite's services, drawn by Hypothesis from the request
messages' descriptors: strings that are empty, huge, malformed or built to hurt (backtracking bait,
NULs, direction overrides, SQL and path fragments, dates that do not exist), numbers at their
types' edges, enum values nobody declared, long lists, nested messages, and bytes that are no
message at all. The fault tests (tests/test_hostile_input.py) and `bench.fuzz` send them.

What every answer must be: a status the suite gives on purpose (never INTERNAL, UNKNOWN or
DATA_LOSS), within a second, and a refusal leaves nothing stored."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from suite import auth
from ipss.options.v1 import options_pb2

# The suite's gRPC APIs, by the service that serves each.
SERVICES = {"registry": "ipss.registry.v1.registry_pb2", "complaints": "ipss.complaints.v1.complaints_pb2",
            "inspections": "ipss.inspections.v1.inspections_pb2"}
# Answers no input may cause: the server did not decide them.
UNINTENDED = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS,
                        grpc.StatusCode.UNIMPLEMENTED})
ANSWER_SECONDS = 1.0

NASTY_TEXT = (
    "a@" + "." * 8000 + "@", "x" * 70_000, "\x00", "\x00" * 100, "\u202e\u2066evil\u2069", "😀" * 500,
    "'; DROP TABLE agencies; --", "../../../../etc/passwd", "%s%n%x", "${jndi:ldap://x}", "<script>alert(1)</script>",
    "2026-02-30", "0000-00-00", "9999-99-99", "-1", "1e309", "NaN", "９１１１０１０８ＭＡ０１２３４５６Ｘ",
    "91110108MA01234567", "11010519491231002X", "000000", "999999", "\r\n\r\n", " ", "\t", "\ufeff",
    "case-2026-110000-000001", "ag-" + "0" * 20, "Bearer x", "\ud7ff\ue000\U0010ffff",
)
INT_EDGES = {FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
             FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
             FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
             FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1), FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
             FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1)}


@dataclass(frozen=True)
class Rpc:
    service: str  # registry, complaints, inspections
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def request_type(self) -> type[Message]:
        return self.method.input_type._concrete_class

    @property
    def streaming(self) -> bool:
        return self.method.server_streaming

    def callers(self) -> list[str]:
        """The roles to call as: every role the RPC admits (so hostile input reaches its handler),
        and no token at all."""
        options = self.method.GetOptions()
        declared = auth.declared_roles(options.Extensions[options_pb2.access])
        return sorted(declared - {"public"}) + ["public"]

    def writes(self) -> bool:
        return "idempotency_key" in self.method.input_type.fields_by_name


def rpcs() -> Iterator[Rpc]:
    for service, module in SERVICES.items():
        for definition in importlib.import_module(module).DESCRIPTOR.services_by_name.values():
            for method in definition.methods:
                yield Rpc(service, method)


def texts() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=40), st.sampled_from(NASTY_TEXT),
                     st.builds(lambda c, n: c * n, st.characters(), st.integers(0, 20_000)))


def scalar(field: FieldDescriptor) -> st.SearchStrategy:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return texts()
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.binary(max_size=64), st.builds(lambda n: b"\xff" * n, st.integers(0, 200_000)))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_ENUM:
        return st.integers(-3, 3000)
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64)
    low, high = INT_EDGES[kind]
    return st.one_of(st.integers(low, high), st.sampled_from((low, high, 0, -1, 1)))


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """A message of this type, each field absent or hostile; nested to a depth of three."""
    fields = {}
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
                fields[field.name] = st.dictionaries(scalar(key), scalar(value) if value.type !=
                                                     FieldDescriptor.TYPE_MESSAGE else st.nothing(), max_size=5)
                continue
            if depth >= 3:
                continue
            inner = st.deferred(lambda d=field.message_type: messages(d, depth + 1))
        else:
            inner = scalar(field)
        fields[field.name] = st.lists(inner, max_size=300 if depth == 0 else 5) if field.is_repeated else inner
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: _build(descriptor, values))


def _build(descriptor: Descriptor, values: dict) -> Message:
    message = descriptor._concrete_class()
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        target = getattr(message, name)
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            target.update(value)
        elif field.is_repeated:
            (target.extend if field.type != FieldDescriptor.TYPE_MESSAGE else _extend_messages(target))(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def _extend_messages(container):
    def extend(items):
        for item in items:
            container.add().CopyFrom(item)
    return extend


def examples(rpc: Rpc, count: int, derandomize: bool = True) -> list[tuple[bytes, str]]:
    """`count` hostile (payload, caller role) pairs for the RPC, drawn by Hypothesis (the same ones
    each run when derandomized); sent afterwards, on the caller's own event loop."""
    drawn: list[tuple[bytes, str]] = []

    @settings(max_examples=count, deadline=None, derandomize=derandomize, database=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(payload=payloads(rpc), role=st.sampled_from(rpc.callers()))
    def draw(payload: bytes, role: str) -> None:
        drawn.append((payload, role))
    draw()
    return drawn


def payloads(rpc: Rpc) -> st.SearchStrategy[bytes]:
    """What goes on the wire: a hostile message, or bytes that do not parse as one."""
    return st.one_of(messages(rpc.method.input_type).map(lambda m: m.SerializeToString()),
                     st.binary(min_size=1, max_size=64))


def caller(role: str) -> tuple[tuple[str, str], ...]:
    """A bearer token for the role (an association's names one nobody registered); none for the public."""
    if role == "public":
        return ()
    if role == "machine":
        token = auth.machine_signer().mint("machine", "hostile-machine")
    else:
        token = auth.mint(role, f"hostile-{role}", association_id="as-hostile" if role == "association" else "")
    return (("authorization", f"Bearer {token}"),)


async def send(channel: grpc.aio.Channel, rpc: Rpc, payload: bytes, role: str) -> grpc.StatusCode:
    """The call's status; a stream is read to its end or its first refusal."""
    try:
        if rpc.streaming:
            async for _ in channel.unary_stream(rpc.path)(payload, metadata=caller(role), timeout=5):
                pass
        else:
            await channel.unary_unary(rpc.path)(payload, metadata=caller(role), timeout=5)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK
