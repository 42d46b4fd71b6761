"""Small conversions between proto values and domain values, shared by every api.py. They run
for every field of every answer, so the enum tables are built once per enum."""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import cache

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@cache
def _words(enum: EnumDescriptor) -> dict[int, str]:
    """AGENCY_KIND_PATENT → 'patent': the enum's prefix taken off, lower case."""
    prefix = enum.values[0].name.removesuffix("UNSPECIFIED")
    return {value.number: value.name.removeprefix(prefix).lower() for value in enum.values}


@cache
def _numbers(enum: EnumDescriptor) -> dict[str, int]:
    return {word: number for number, word in _words(enum).items()}


def enum_word(enum: EnumDescriptor, value: int) -> str:
    return _words(enum)[value]


def enum_value(enum: EnumDescriptor, word: str) -> int:
    """The number of a word; an empty word is the unspecified value (0), as an unset field reads."""
    return _numbers(enum)[word.lower()] if word else 0


def optional_word(enum: EnumDescriptor, value: int) -> str:
    """The word of a field that may be left unset: empty for the unspecified value, as enum_value
    reads it back."""
    return _words(enum)[value] if value else ""


def enum_words(enum: EnumDescriptor) -> list[str]:
    """The words of every value but the unspecified one, in the order the proto declares them:
    what a form or a filter may offer."""
    return [_words(enum)[value.number] for value in enum.values[1:]]


def parse_date(text: str) -> date | None:
    """Dates arrive validated (YYYY-MM-DD) by the field rules; empty means absent."""
    return date.fromisoformat(text) if text else None


def format_date(value: date | None) -> str:
    return value.isoformat() if value else ""


def timestamp(value: datetime) -> Timestamp:
    """As Timestamp.FromDatetime (a naive value is UTC), without its general-purpose detour."""
    since = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)) - _EPOCH
    return Timestamp(seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000)
