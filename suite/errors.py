"""Domain errors, raised by domain and store code, mapped to gRPC status codes (with
google.rpc error details) in one place: the server kit's interceptor."""

from __future__ import annotations

from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """Bad input: every violation names its field (google.rpc.BadRequest)."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: list[FieldViolation] | FieldViolation):
        self.violations = violations if isinstance(violations, list) else [violations]
        fields = ", ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(f"invalid request: {fields}")


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, kind: str, key: str):
        super().__init__(f"{kind} {key!r} not found")
        self.kind, self.key = kind, key


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    """The request is well formed but the state forbids it (google.rpc.PreconditionFailure)."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, subject: str = "", violation_type: str = "STATE"):
        super().__init__(message)
        self.subject, self.violation_type = subject, violation_type


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class Unavailable(DomainError):
    """A service this one depends on did not answer; the same request may succeed when retried."""

    code = grpc.StatusCode.UNAVAILABLE
