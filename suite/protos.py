"""Small conversions between proto values and domain values, shared by every api.py."""

from __future__ import annotations

from datetime import date, datetime

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.timestamp_pb2 import Timestamp


def enum_word(enum: EnumDescriptor, value: int) -> str:
    """AGENCY_KIND_PATENT → 'patent': the enum's prefix taken off, lower case."""
    prefix = _prefix(enum)
    return enum.values_by_number[value].name.removeprefix(prefix).lower()


def enum_value(enum: EnumDescriptor, word: str) -> int:
    return enum.values_by_name[_prefix(enum) + word.upper()].number


def _prefix(enum: EnumDescriptor) -> str:
    return enum.values[0].name.removesuffix("UNSPECIFIED")


def parse_date(text: str) -> date | None:
    """Dates arrive validated (YYYY-MM-DD) by the field rules; empty means absent."""
    return date.fromisoformat(text) if text else None


def format_date(value: date | None) -> str:
    return value.isoformat() if value else ""


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp
