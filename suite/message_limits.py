"""How large a request may be, read from the field rules (ipss.options.v1.rules).

A request whose fields all keep their rules cannot encode to more than a bound the rules imply:
a string of at most max_len characters is at most 4 bytes a character, a list of at most
max_items entries holds no more, a number is at most a ten-byte varint. The server refuses a
request larger than its RPC's bound before parsing it, so a hostile caller cannot make a service
decode, hold or validate megabytes that no valid request could be. A message with a field the
rules leave open (a string without max_len, a list without max_items, a map without
max_len for its keys and values, bytes) has no bound of its
own; the server's receive limit is its only one."""

from __future__ import annotations

from functools import lru_cache

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ipss.options.v1 import options_pb2

_T = FieldDescriptor

# The longest value a format rule admits, in ASCII characters: a phone number 0xxx-xxxxxxxx, a
# region code, a date YYYY-MM-DD, a resident id and a credit code of 18.
FORMAT_LENGTHS = (("phone", 13), ("region_code", 6), ("date", 10), ("resident_id", 18), ("credit_code", 18))

# Largest encoding of a scalar value, by field type (varints take up to ten bytes).
_SCALAR_BYTES = {
    _T.TYPE_BOOL: 1, _T.TYPE_ENUM: 10, _T.TYPE_INT32: 10, _T.TYPE_INT64: 10, _T.TYPE_UINT32: 5,
    _T.TYPE_UINT64: 10, _T.TYPE_SINT32: 5, _T.TYPE_SINT64: 10, _T.TYPE_FIXED32: 4, _T.TYPE_SFIXED32: 4,
    _T.TYPE_FLOAT: 4, _T.TYPE_FIXED64: 8, _T.TYPE_SFIXED64: 8, _T.TYPE_DOUBLE: 8,
}


def varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


@lru_cache(maxsize=None)
def request_bound(full_method: str) -> int | None:
    """The most bytes a valid request of an RPC (/package.Service/Method) can encode to; None
    when its rules leave it open or the RPC is not the suite's."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{method}")
    except KeyError:
        return None
    return message_bound(descriptor.input_type)


def message_bound(descriptor: Descriptor, enclosing: frozenset[str] = frozenset()) -> int | None:
    if descriptor.full_name in enclosing:
        return None  # a message that may hold itself has no depth the rules limit
    inside = enclosing | {descriptor.full_name}
    total = 0
    for field in descriptor.fields:
        size = _field_bound(field, inside)
        if size is None:
            return None
        total += size
    return total


def rules_of(field: FieldDescriptor) -> options_pb2.FieldRules:
    options = field.GetOptions()
    if options.HasExtension(options_pb2.rules):
        return options.Extensions[options_pb2.rules]
    return options_pb2.FieldRules()


def _field_bound(field: FieldDescriptor, enclosing: frozenset[str]) -> int | None:
    rules = rules_of(field)
    value = _value_bound(field, rules, enclosing)
    if value is None:
        return None
    entry = varint_size(field.number << 3) + value
    if not field.is_repeated:
        return entry
    # A list may come unpacked, each item with its own tag: the larger of the two encodings.
    return rules.max_items * entry if rules.max_items else None


def _value_bound(field: FieldDescriptor, rules: options_pb2.FieldRules, enclosing: frozenset[str]) -> int | None:
    if field.type in _SCALAR_BYTES:
        return _SCALAR_BYTES[field.type]
    if field.type == _T.TYPE_STRING:
        length = _string_bound(rules)
    elif field.type == _T.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        length = _map_entry_bound(field.message_type, rules)
    elif field.type == _T.TYPE_MESSAGE:
        length = message_bound(field.message_type, enclosing)
    else:  # bytes: the rules set no length for them
        length = None
    return None if length is None else varint_size(length) + length


def _map_entry_bound(entry: Descriptor, rules: options_pb2.FieldRules) -> int | None:
    """A map's max_len holds for each key and each value (its entries carry no rules)."""
    total = 0
    for field in entry.fields:
        if field.type in _SCALAR_BYTES:
            size = _SCALAR_BYTES[field.type]
        elif field.type == _T.TYPE_STRING and rules.max_len:
            size = varint_size(4 * rules.max_len) + 4 * rules.max_len
        else:
            return None
        total += varint_size(field.number << 3) + size
    return total


def _string_bound(rules: options_pb2.FieldRules) -> int | None:
    formats = [length for name, length in FORMAT_LENGTHS if getattr(rules, name)]
    if formats:
        return min(formats)
    return 4 * rules.max_len if rules.max_len else None
