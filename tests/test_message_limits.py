"""Per-RPC request size limits read from the field rules (suite/message_limits.py): the bound holds
every request the rules allow, and a server refuses a larger one, before decoding it, with
INVALID_ARGUMENT naming the bound."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ipss.complaints.v1 import complaints_pb2
from ipss.inspections.v1 import inspections_pb2
from ipss.linkage.v1 import linkage_pb2
from ipss.registry.v1 import registry_pb2
from suite import message_limits, validation
from suite.errors import InvalidArgument
from tests.conftest import metadata

_T = FieldDescriptor
SERVICES = [module.DESCRIPTOR.services_by_name[name] for module, name in (
    (registry_pb2, "RegistryService"), (complaints_pb2, "ComplaintsService"),
    (inspections_pb2, "InspectionsService"), (linkage_pb2, "AssociationLinkService"))]
# The requests whose rules leave them open: the upload's bytes (the server's receive limit bounds
# them) and the workflows' own progress records, whose size the workflow keeps.
OPEN = {"ipss.complaints.v1.ComplaintsService.UploadAttachment",
        "ipss.complaints.v1.ComplaintsService.RecordCaseProgress",
        "ipss.inspections.v1.InspectionsService.RecordCampaignProgress",
        "ipss.inspections.v1.InspectionsService.RecordTaskProgress"}
WIDEST_CHARACTER = "\U00020000"  # 𠀀: four bytes in UTF-8

METHODS = [method for service in SERVICES for method in service.methods]


def _longest_string(field: FieldDescriptor, salt: int = 0) -> str:
    rules = message_limits.rules_of(field)
    formats = [length for name, length in message_limits.FORMAT_LENGTHS if getattr(rules, name)]
    if formats:
        return ("0" * min(formats))[:-len(str(salt))] + str(salt) if salt else "0" * min(formats)
    return WIDEST_CHARACTER * (rules.max_len - 1) + chr(0x20000 + salt)


def _widest_scalar(field: FieldDescriptor):
    if field.type == _T.TYPE_BOOL:
        return True
    if field.type in (_T.TYPE_UINT32, _T.TYPE_FIXED32):
        return 2**32 - 1
    if field.type in (_T.TYPE_UINT64, _T.TYPE_FIXED64):
        return 2**64 - 1
    if field.type in (_T.TYPE_FLOAT, _T.TYPE_DOUBLE):
        return 1.5
    if field.type in (_T.TYPE_SINT32, _T.TYPE_SINT64):
        return -(2**31) if field.type == _T.TYPE_SINT32 else -(2**63)
    return -1  # int32, int64, enums: a ten-byte varint


def fill_widest(message: Message) -> Message:
    """Every field at the most the rules allow: the longest strings of four-byte characters,
    every list at max_items, ten-byte varints."""
    for field in message.DESCRIPTOR.fields:
        rules = message_limits.rules_of(field)
        entry = field.message_type if field.type == _T.TYPE_MESSAGE else None
        if entry is not None and entry.GetOptions().map_entry:
            target = getattr(message, field.name)
            widest_value = WIDEST_CHARACTER * rules.max_len
            for salt in range(rules.max_items):
                target[WIDEST_CHARACTER * (rules.max_len - 1) + chr(0x20000 + salt + 1)] = widest_value
        elif field.is_repeated:
            target = getattr(message, field.name)
            for salt in range(rules.max_items):
                if entry is not None:
                    fill_widest(target.add())
                elif field.type == _T.TYPE_STRING:
                    target.append(_longest_string(field, salt))
                else:
                    target.append(_widest_scalar(field))
        elif entry is not None:
            fill_widest(getattr(message, field.name))
        elif field.type == _T.TYPE_STRING:
            setattr(message, field.name, _longest_string(field))
        elif field.type != _T.TYPE_BYTES:
            setattr(message, field.name, _widest_scalar(field))
    return message


def _message_class(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory
    return message_factory.GetMessageClass(descriptor)


def test_every_request_but_the_named_few_has_a_bound():
    open_methods = {method.full_name for method in METHODS
                    if message_limits.message_bound(method.input_type) is None}
    assert open_methods == OPEN


@pytest.mark.parametrize("method", [m for m in METHODS if m.full_name not in OPEN], ids=lambda m: m.full_name)
def test_the_widest_request_the_rules_allow_fits_its_bound(method):
    widest = fill_widest(_message_class(method.input_type)())
    bound = message_limits.request_bound(f"/{method.containing_service.full_name}/{method.name}")
    assert widest.ByteSize() <= bound
    # Most of the bound is used: it is not so loose that it bounds nothing.
    assert widest.ByteSize() >= bound // 2


def test_a_list_of_strings_keeps_its_rules_per_item_and_a_map_per_key_and_value():
    request = registry_pb2.CountCreditListEntriesRequest(list=1, days=["2026-03-01", "2026-02-30", "x" * 11])
    with pytest.raises(InvalidArgument) as refused:
        validation.check(request)
    assert [(v.field, v.reason) for v in refused.value.violations] == [
        ("days[1]", "DATE_NOT_IN_CALENDAR"), ("days[2]", "DATE_FORMAT")]

    notice = complaints_pb2.NotifyReportersRequest(case_id="case-1", data={"reason": "长" * 2001})
    assert [(v.field, v.reason) for v in validation.violations(notice) if v.field.startswith("data")] == [
        ("data[reason]", "FIELD_TOO_LONG")]


def _raw(channel: grpc.aio.Channel, method: str):
    return channel.unary_unary(method, request_serializer=lambda data: data, response_deserializer=lambda data: data)


def _violation(error: grpc.aio.AioRpcError) -> error_details_pb2.BadRequest.FieldViolation:
    for detail in rpc_status.from_call(error).details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            return bad_request.field_violations[0]
    raise AssertionError("no BadRequest in the refusal")


async def test_a_request_larger_than_its_bound_is_refused_before_decoding(registry):
    method = "/ipss.registry.v1.RegistryService/GetAgency"
    bound = message_limits.request_bound(method)
    # Field 999 (tag bytes ba 3e) is unknown to the request: a parser would skip it; the size
    # check refuses it unparsed.
    oversized = b"\xba\x3e" + _varint(bound) + b"x" * bound
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _raw(registry.channel, method)(oversized, metadata=metadata("handler"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violation = _violation(refused.value)
    assert (violation.field, violation.reason) == ("request", "REQUEST_TOO_LARGE")


async def test_a_request_within_its_bound_reaches_the_handler(registry):
    method = "/ipss.registry.v1.RegistryService/GetAgency"
    request = registry_pb2.GetAgencyRequest(id="agency-that-is-not-there")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _raw(registry.channel, method)(request.SerializeToString(), metadata=metadata("handler"))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
