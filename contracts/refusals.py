"""A workflow's refusal of an update, as the service that asked reads it: an ApplicationError
typed like the gRPC status it means, its message in English, and as details the field it is
about (empty but for INVALID_ARGUMENT), its stable reason and the values its text needs. The
service answers with the reason (google.rpc.ErrorInfo), so the console words the refusal from
the reason and its values, whatever the English says. Details are data: a refusal changes no
workflow history."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from temporalio.exceptions import ApplicationError

FAILED_PRECONDITION = "FAILED_PRECONDITION"
INVALID_ARGUMENT = "INVALID_ARGUMENT"
PERMISSION_DENIED = "PERMISSION_DENIED"


def refuse(reason: str, message: str, /, *, field: str = "", **metadata: object) -> ApplicationError:
    """An action the workflow cannot take: FAILED_PRECONDITION, or INVALID_ARGUMENT naming a field."""
    return _refusal(INVALID_ARGUMENT if field else FAILED_PRECONDITION, field, reason, message, metadata)


def deny(reason: str, message: str, /, **metadata: object) -> ApplicationError:
    """An action the caller may not take (PERMISSION_DENIED)."""
    return _refusal(PERMISSION_DENIED, "", reason, message, metadata)


def step_failed(failure: Exception, subject: str, request_id: str) -> Exception:
    """What an action answers when it failed half-way and its state was put back: a refusal found
    on the way as it is; anything else (a service that would not do its part) as a refusal that
    says nothing changed, with the request id the operator finds in the worker's log."""
    if isinstance(failure, ApplicationError):
        return failure
    return refuse("ACTION_STEP_FAILED", f"操作未生效，{subject}保持原状：相关服务未能完成本次处理，请稍后重试；如仍不成功请联系运维人员"
                  f"（请求号 {request_id}）", request_id=request_id)


def _refusal(status: str, field: str, reason: str, message: str, metadata: dict[str, object]) -> ApplicationError:
    texts = {key: str(value) for key, value in metadata.items()}
    return ApplicationError(message, field, reason, texts, type=status, non_retryable=True)


@dataclass(frozen=True)
class Refusal:
    """What a refusal's details say."""

    field: str
    reason: str
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)


def read(error: ApplicationError) -> Refusal:
    """The details of a refusal. An update retried with its first id is answered from history,
    where one refused before refusals had reasons carries its field alone, or nothing: its
    status stands for its reason."""
    path, reason, metadata = (list(error.details) + ["", error.type or "", {}][len(error.details):])[:3]
    return Refusal(str(path), str(reason), {str(k): str(v) for k, v in dict(metadata).items()})
