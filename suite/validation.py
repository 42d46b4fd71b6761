"""Request validation from the field rules declared in the proto (ipss.options.v1.rules).

Rules are read from the message descriptors once per message type and checked before any
handler runs; every bad field is reported, by its path and its reason, in one INVALID_ARGUMENT."""

from __future__ import annotations

from functools import lru_cache

import re2

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from ipss.options.v1 import options_pb2
from suite import codes
from suite.codes import Problem
from suite.errors import FieldViolation, InvalidArgument

_T = FieldDescriptor


@lru_cache(maxsize=None)
def _rules_of(descriptor: Descriptor) -> tuple[tuple[FieldDescriptor, options_pb2.FieldRules | None], ...]:
    """(field, rules) for every field that has rules or holds messages that may have some."""
    checked = []
    for field in descriptor.fields:
        options = field.GetOptions()
        rules = options.Extensions[options_pb2.rules] if options.HasExtension(options_pb2.rules) else None
        if rules is not None or field.type == _T.TYPE_MESSAGE:
            checked.append((field, rules))
    return tuple(checked)


@lru_cache(maxsize=None)
def _pattern(expression: str) -> re2._Regexp:
    """RE2 matches in time linear in the input whatever the pattern: a pattern that would
    backtrack (a public request's field is the attacker's to choose) cannot stall the server."""
    return re2.compile(expression)


def violations(message: Message, prefix: str = "") -> list[FieldViolation]:
    found: list[FieldViolation] = []
    for field, rules in _rules_of(message.DESCRIPTOR):
        path = prefix + field.name
        value = getattr(message, field.name)
        repeated = field.is_repeated
        if rules is not None:
            found.extend(FieldViolation(path, p.reason, p.description, p.metadata)
                         for p in _field_problems(field, rules, value, repeated))
            if repeated:
                found.extend(FieldViolation(item_path, p.reason, p.description, p.metadata)
                             for item_path, p in _item_problems(field, rules, value, path))
        if field.type == _T.TYPE_MESSAGE and not field.message_type.GetOptions().map_entry:
            items = list(value) if repeated else ([value] if message.HasField(field.name) else [])
            for index, item in enumerate(items):
                found.extend(violations(item, f"{path}[{index}]." if repeated else f"{path}."))
    return found


def check(message: Message) -> None:
    found = violations(message)
    if found:
        raise InvalidArgument(found)


REQUIRED = Problem("FIELD_REQUIRED", "is required")


def _field_problems(field: FieldDescriptor, rules: options_pb2.FieldRules, value, repeated: bool) -> list[Problem]:
    if repeated:
        problems = []
        if rules.required and len(value) == 0:
            problems.append(REQUIRED)
        if rules.max_items and len(value) > rules.max_items:
            problems.append(Problem("FIELD_TOO_MANY_ITEMS", f"has more than {rules.max_items} items",
                                    {"max_items": rules.max_items}))
        if field.type == _T.TYPE_ENUM:
            problems.extend(_enum_problem(field, item, required=True) for item in value)
        return [p for p in problems if p]
    if field.type == _T.TYPE_STRING:
        return _string_problems(rules, value)
    if field.type == _T.TYPE_ENUM:
        problem = _enum_problem(field, value, rules.required)
        return [problem] if problem else []
    if field.type == _T.TYPE_MESSAGE:
        return [REQUIRED] if rules.required and value.ByteSize() == 0 else []
    if field.type == _T.TYPE_BOOL:
        return []
    return _number_problems(rules, value)


def _item_problems(field: FieldDescriptor, rules: options_pb2.FieldRules, value, path: str):
    """A list's string rules hold for each of its items; a map's max_len for each key and value
    (a map's entries cannot carry rules of their own)."""
    if field.type == _T.TYPE_STRING:
        for index, item in enumerate(value):
            for problem in _string_problems(rules, item):
                yield f"{path}[{index}]", problem
    elif field.type == _T.TYPE_MESSAGE and field.message_type.GetOptions().map_entry and rules.max_len:
        for key, item in value.items():
            if len(key) > rules.max_len or (isinstance(item, str) and len(item) > rules.max_len):
                yield f"{path}[{key[:rules.max_len]}]", _too_long(rules)


def _too_long(rules: options_pb2.FieldRules) -> Problem:
    return Problem("FIELD_TOO_LONG", f"must be at most {rules.max_len} characters", {"max_len": rules.max_len})


def _enum_problem(field: FieldDescriptor, value: int, required: bool) -> Problem | None:
    if field.enum_type.values_by_number.get(value) is None:
        return Problem("FIELD_UNKNOWN_ENUM_VALUE", f"{value} is not a value of {field.enum_type.name}",
                       {"value": value, "enum": field.enum_type.name})
    if required and value == 0:
        return REQUIRED
    return None


def _string_problems(rules: options_pb2.FieldRules, value: str) -> list[Problem]:
    if not value:
        return [REQUIRED] if rules.required else []
    if rules.max_len and len(value) > rules.max_len:
        # Nothing else is read of an oversized value.
        return [_too_long(rules)]
    problems = []
    if rules.min_len and len(value) < rules.min_len:
        problems.append(Problem("FIELD_TOO_SHORT", f"must be at least {rules.min_len} characters",
                                {"min_len": rules.min_len}))
    if rules.pattern and not _pattern(rules.pattern).fullmatch(value):
        problems.append(Problem("FIELD_PATTERN_MISMATCH", f"must match {rules.pattern}", {"pattern": rules.pattern}))
    for enabled, check_format in (
        (rules.credit_code, codes.credit_code_problem),
        (rules.region_code, codes.region_code_problem),
        (rules.date, codes.date_problem),
        (rules.resident_id, codes.resident_id_problem),
        (rules.phone, codes.phone_problem),
    ):
        problem = enabled and check_format(value)
        if problem:
            problems.append(problem)
    return problems


def _number_problems(rules: options_pb2.FieldRules, value: int) -> list[Problem]:
    if value == 0:
        return [REQUIRED] if rules.required else []
    problems = []
    if rules.HasField("min") and value < rules.min:
        problems.append(Problem("FIELD_BELOW_MIN", f"must be at least {rules.min}", {"min": rules.min}))
    if rules.HasField("max") and value > rules.max:
        problems.append(Problem("FIELD_ABOVE_MAX", f"must be at most {rules.max}", {"max": rules.max}))
    return problems
