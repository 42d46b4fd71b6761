"""Domain errors, raised by domain and store code, mapped to gRPC status codes (with
google.rpc error details) in one place: the server kit's interceptor.

Every error names its refusal by a stable `reason` (UPPER_SNAKE, google.rpc.ErrorInfo) and
carries in `metadata` the values its text needs; a client words the refusal from the reason and
the metadata, never from the message, which is English for logs and people and may be reworded."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import grpc


def _texts(metadata: Mapping[str, object]) -> dict[str, str]:
    """google.rpc.ErrorInfo metadata is text: numbers and dates as they print."""
    return {key: str(value) for key, value in metadata.items()}


@dataclass(frozen=True)
class FieldViolation:
    """One field's problem: where (`field`, its path in the request), why for good (`reason`),
    in English (`description`), and the values its text needs (`metadata`)."""

    field: str
    reason: str
    description: str
    metadata: Mapping[str, object] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", _texts(self.metadata))


class DomainError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, reason: str, message: str, /, **metadata: object):
        super().__init__(message)
        self.reason, self.message, self.metadata = reason, message, _texts(metadata)


class InvalidArgument(DomainError):
    """Bad input: every violation names its field and its own reason (google.rpc.BadRequest)."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    REASON = "INVALID_FIELDS"

    def __init__(self, violations: list[FieldViolation] | FieldViolation):
        self.violations = violations if isinstance(violations, list) else [violations]
        fields = ", ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(self.REASON, f"invalid request: {fields}",
                         fields=", ".join(dict.fromkeys(v.field for v in self.violations)))


class NotFound(DomainError):
    """Nothing of `kind` has `key`; the reason is the kind's (case -> CASE_NOT_FOUND)."""

    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, kind: str, key: str):
        super().__init__(f"{kind.upper().replace(' ', '_')}_NOT_FOUND", f"{kind} {key!r} not found", key=key)
        self.kind, self.key = kind, key


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    """The request is well formed but the state forbids it (google.rpc.PreconditionFailure)."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, reason: str, message: str, /, subject: str = "", violation_type: str = "STATE",
                 **metadata: object):
        super().__init__(reason, message, **metadata)
        self.subject, self.violation_type = subject, violation_type


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class Unavailable(DomainError):
    """A service this one depends on did not answer; the same request may succeed when retried."""

    code = grpc.StatusCode.UNAVAILABLE


class OutOfRange(DomainError):
    """A position or page outside what is kept (a feed position older than the oldest kept):
    the metadata says what is still available."""

    code = grpc.StatusCode.OUT_OF_RANGE


class ResourceExhausted(DomainError):
    """The caller's quota is spent for now (google.rpc.RetryInfo says when to try again)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, reason: str, message: str, /, retry_after_seconds: float, **metadata: object):
        super().__init__(reason, message, **metadata)
        self.retry_after_seconds = retry_after_seconds
