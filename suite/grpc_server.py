"""The gRPC server every service runs: health checking, reflection, and one interceptor that,
before any handler, names the request (request id, RPC and the case id it names on every log
line), authenticates the bearer token, authorizes the role the RPC declares in its proto (deny by
default) and validates the request's field rules; after it, maps domain errors to gRPC status
codes with google.rpc details and counts the call and its latency (suite.telemetry). With traces
on, OpenTelemetry's server interceptor comes first: a span per call, current while the suite's
interceptor and the handler run."""

from __future__ import annotations

import asyncio
import datetime
import gc
import multiprocessing
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import grpc
import structlog
from google.protobuf import any_pb2, descriptor_pool, duration_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from ipss.options.v1 import options_pb2
from suite import auth, db, message_limits, telemetry, validation
from suite import logging as suite_logging
from suite.errors import (DomainError, FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied,
                          ResourceExhausted, Unauthenticated)

# Infrastructure services every server offers without a token.
OPEN_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                 "grpc.reflection.v1.ServerReflection")

log = suite_logging.get("grpc")


@lru_cache(maxsize=None)
def allowed_roles(full_method: str) -> frozenset[str] | None:
    """Roles declared by the RPC's (ipss.options.v1.access) option; None when undeclared."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    try:
        descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{method}")
    except KeyError:
        return None
    options = descriptor.GetOptions()
    if not options.HasExtension(options_pb2.access):
        return None
    return auth.declared_roles(options.Extensions[options_pb2.access])


def is_open(full_method: str) -> bool:
    return full_method.lstrip("/").split("/")[0] in OPEN_SERVICES


# google.rpc.ErrorInfo.domain of every refusal the suite's services give.
ERROR_DOMAIN = "ipss"


def error_info(error: DomainError) -> error_details_pb2.ErrorInfo:
    """The refusal's stable reason and the values its text needs. BadRequest has no metadata of
    its own: a field violation's values ride here, under field_violations.<its index>.<key>."""
    metadata = dict(error.metadata)
    for index, violation in enumerate(error.violations if isinstance(error, InvalidArgument) else ()):
        metadata.update({f"field_violations.{index}.{key}": value for key, value in violation.metadata.items()})
    return error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata)


def rich_status(error: DomainError) -> grpc.Status:
    details = [error_info(error)]
    if isinstance(error, InvalidArgument):
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description, reason=v.reason)
            for v in error.violations]))
    elif isinstance(error, FailedPrecondition):
        details.append(error_details_pb2.PreconditionFailure(violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type=error.violation_type, subject=error.subject, description=error.message)]))
    elif isinstance(error, ResourceExhausted):
        delay = duration_pb2.Duration()
        delay.FromTimedelta(datetime.timedelta(seconds=error.retry_after_seconds))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    return rpc_status.to_status(status_pb2.Status(
        code=error.code.value[0], message=error.message, details=packed))


def _authorize(full_method: str, principal: auth.Principal) -> None:
    roles = allowed_roles(full_method)
    if roles is None:
        raise PermissionDenied("RPC_UNDECLARED", f"{full_method} declares no roles and is denied to everyone",
                               method=full_method)
    if principal.role not in roles:
        if principal is auth.ANONYMOUS:
            raise Unauthenticated("TOKEN_REQUIRED", f"{full_method} needs a bearer token", method=full_method)
        raise PermissionDenied("ROLE_NOT_ALLOWED", f"role {principal.role!r} may not call {full_method}",
                               role=principal.role, method=full_method)


# A refusal another suite service gave to a call made on the caller's behalf is the caller's
# refusal too (the linkage endpoint relays the registry's NOT_FOUND, not an INTERNAL).
RELAYED_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                           grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION,
                           grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.PERMISSION_DENIED,
                           grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE})

# Who is calling, from the call's metadata and its connection (a bearer token by default; the
# linkage endpoint's client certificate).
Authenticate = Callable[[dict[str, str], grpc.aio.ServicerContext], Awaitable[auth.Principal]]


class SuiteInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, verifier: auth.Verifier, authenticate: Authenticate | None = None):
        self._verifier = verifier
        self._authenticate = authenticate or self._bearer

    async def _bearer(self, metadata: dict[str, str], context: grpc.aio.ServicerContext) -> auth.Principal:
        return auth.principal_from_metadata(metadata, self._verifier)

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or is_open(method):
            return handler
        metadata = {m.key: m.value for m in handler_call_details.invocation_metadata or ()}
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._guard(method, metadata, handler.unary_unary),
                request_deserializer=_decoded(method, handler.request_deserializer),
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._guard_stream(method, metadata, handler.unary_stream),
                request_deserializer=_decoded(method, handler.request_deserializer),
                response_serializer=handler.response_serializer)
        raise RuntimeError(f"{method}: only unary and server-streaming RPCs are supported by the suite interceptor")

    async def _admit(self, method: str, metadata: dict[str, str], request,
                     context: grpc.aio.ServicerContext) -> auth.Principal:
        caller = await self._authenticate(metadata, context)
        _authorize(method, caller)
        if isinstance(request, Undecodable):
            raise InvalidArgument(FieldViolation("request", request.reason, request.problem, request.metadata))
        validation.check(request)
        auth.bind(caller)
        return caller

    def _guard(self, method: str, metadata: dict[str, str], behaviour: Callable[..., Awaitable]):
        async def guarded(request, context: grpc.aio.ServicerContext):
            call = _Call(method, metadata, request)
            with structlog.contextvars.bound_contextvars(**call.names()):
                try:
                    call.caller = await self._admit(method, metadata, request, context)
                    response = await behaviour(request, context)
                    call.answered(response)
                    return response
                except BaseException as error:  # noqa: BLE001 - mapped to a status, or raised on
                    await call.refused(error, context)
                finally:
                    call.log()
        return guarded

    def _guard_stream(self, method: str, metadata: dict[str, str], behaviour: Callable):
        async def guarded(request, context: grpc.aio.ServicerContext):
            call = _Call(method, metadata, request)
            with structlog.contextvars.bound_contextvars(**call.names()):
                try:
                    call.caller = await self._admit(method, metadata, request, context)
                    async for response in behaviour(request, context):
                        yield response
                except BaseException as error:  # noqa: BLE001 - mapped to a status, or raised on
                    await call.refused(error, context)
                finally:
                    call.log()
        return guarded


@dataclass(frozen=True)
class Undecodable:
    """Bytes that are not a request the RPC could take (corrupt, truncated, bad UTF-8, or larger
    than any valid request): refused as INVALID_ARGUMENT once the caller is known, not answered
    UNKNOWN with the parser's words."""

    reason: str
    problem: str
    metadata: dict = field(default_factory=dict)


NOT_DECODABLE = Undecodable("REQUEST_NOT_DECODABLE", "is not a well-formed request message of this RPC")


def _decoded(method: str, deserializer: Callable[[bytes], object] | None) -> Callable[[bytes], object] | None:
    if deserializer is None:
        return None
    bound = message_limits.request_bound(method)
    too_large = bound is not None and Undecodable(
        "REQUEST_TOO_LARGE", f"is larger than the {bound} bytes any request its field rules allow can be",
        {"max_bytes": bound})

    def decode(data: bytes):
        # Measured before parsing: a request no valid one could be is not decoded at all.
        if too_large and len(data) > bound:
            return too_large
        try:
            return deserializer(data)
        except DecodeError:
            return NOT_DECODABLE
    return decode


def _case_id(message) -> str:
    """The case a request or an answer names in a field of its own (case_id), if any."""
    case_id = getattr(message, "case_id", "")
    return case_id if isinstance(case_id, str) else ""


class _Call:
    """One call as the interceptor sees it: its request id, the case it names, its caller and
    final status."""

    def __init__(self, method: str, metadata: dict[str, str], request):
        self.method, self.request_id = method, metadata.get("x-request-id") or uuid.uuid4().hex
        self.case_id = _case_id(request)
        self.caller, self.code, self.started = auth.ANONYMOUS, grpc.StatusCode.OK, time.perf_counter()

    def names(self) -> dict[str, str]:
        """What every log line of the call carries."""
        if self.case_id:
            return {"request_id": self.request_id, "rpc": self.method, "case_id": self.case_id}
        return {"request_id": self.request_id, "rpc": self.method}

    def answered(self, response) -> None:
        """A case the answer names (a report filed opens or joins one) goes on the call's last line."""
        if not self.case_id:
            self.case_id = _case_id(response)

    async def refused(self, error: BaseException, context: grpc.aio.ServicerContext) -> None:
        """Abort with the status the error maps to; raise what is not the call's to map."""
        unavailable = db.unreachable(error) if isinstance(error, Exception) else None
        if unavailable is not None:
            # The class only: a statement's text may carry its parameters.
            log.warning("database unreachable", error=type(error).__name__)
            error = unavailable
        if isinstance(error, DomainError):
            self.code = error.code
            status = rich_status(error)
            await context.abort(status.code, status.details,
                                tuple(status.trailing_metadata) + (("x-request-id", self.request_id),))
        if isinstance(error, asyncio.CancelledError):
            self.code = grpc.StatusCode.CANCELLED
            raise error
        if isinstance(error, grpc.aio.AbortError) or not isinstance(error, Exception):
            raise error
        if isinstance(error, grpc.aio.AioRpcError) and error.code() in RELAYED_CODES:
            self.code = error.code()
            relayed = tuple((k, v) for k, v in error.trailing_metadata() or () if k == "grpc-status-details-bin")
            await context.abort(error.code(), error.details(), relayed + (("x-request-id", self.request_id),))
        self.code = grpc.StatusCode.INTERNAL
        log.exception("unhandled error")
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error; quote request id {self.request_id}")

    def log(self) -> None:
        seconds = time.perf_counter() - self.started
        telemetry.rpc_metrics.observe(self.method, self.code.name, seconds)
        if self.case_id:
            log.info("rpc", code=self.code.name, ms=round(seconds * 1000, 2), role=self.caller.role,
                     case_id=self.case_id)
        else:
            log.info("rpc", code=self.code.name, ms=round(seconds * 1000, 2), role=self.caller.role)


@dataclass
class ServiceBinding:
    """A servicer and the generated function that adds it to a server."""

    name: str  # full proto service name, e.g. ipss.registry.v1.RegistryService
    add_to_server: Callable[[object, grpc.aio.Server], None]
    servicer: object


class SuiteServer:
    def __init__(self, component: str, bindings: Sequence[ServiceBinding], verifier: auth.Verifier | None = None,
                 options: Sequence[tuple[str, object]] = (), shared_port: bool = False,
                 authenticate: Authenticate | None = None, credentials: grpc.ServerCredentials | None = None):
        self.component = component
        self.bindings = list(bindings)
        self.credentials = credentials
        self.health = health_aio.HealthServicer()
        # A port is shared only among the processes of one service (serve_in_processes checks
        # that nobody else holds it); otherwise a port taken is an error, not a silent sharer.
        self.server = grpc.aio.server(
            interceptors=[*telemetry.server_interceptors(),
                          SuiteInterceptor(verifier or auth.suite_verifier(), authenticate)],
            options=[("grpc.so_reuseport", int(shared_port)), *options],
        )
        for binding in self.bindings:
            binding.add_to_server(binding.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [b.name for b in self.bindings] + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                                                    reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, self.server)

    async def start(self, address: str) -> int:
        port = (self.server.add_secure_port(address, self.credentials) if self.credentials
                else self.server.add_insecure_port(address))
        if port == 0:
            raise OSError(f"{self.component}: cannot listen on {address}")
        await self.server.start()
        for name in [""] + [b.name for b in self.bindings]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("listening", address=address, port=port, services=[b.name for b in self.bindings])
        return port

    async def stop(self, grace: float = 5.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def run_until_signalled(server: SuiteServer, address: str,
                              on_stop: Callable[[], Awaitable[None]] | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then drain in-flight calls and stop."""
    await server.start(address)
    # What start-up allocated lives as long as the process: out of the collector's sight, the
    # full collections that would walk it on the request path (tens of milliseconds) are gone.
    gc.collect()
    gc.freeze()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("stopping")
    await server.stop()
    if on_stop is not None:
        await on_stop()
    telemetry.stop_tracing()


def serve_in_processes(serve: Callable[[bool], Awaitable[None]], processes: int, address: str,
                       component: str | None = None) -> None:
    """Run `serve(shared_port)` in `processes` processes listening on one port (SO_REUSEPORT:
    the kernel spreads new connections over them), so a read-heavy service uses every core a
    Python process alone cannot. The parent only checks the port, serves the metrics its children
    count (the component's, suite.telemetry), then forwards SIGINT and SIGTERM and waits. One
    process serves in this process itself."""
    if processes <= 1:
        asyncio.run(serve(False))
        return
    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, int(port)))  # raises if another program holds the port
    shared_metrics = None
    if component:
        suite_logging.configure(component)
        shared_metrics = telemetry.share_metrics_among_processes()
    # Forked before any gRPC server or event loop exists in this process, as gRPC requires.
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=lambda: asyncio.run(serve(True)), daemon=False) for _ in range(processes)]
    for child in children:
        child.start()
    if shared_metrics:
        telemetry.serve_metrics(component, shared_metrics)  # a thread: started after the forks

    def forward(signum, _frame) -> None:
        for child in children:
            if child.is_alive():
                os.kill(child.pid, signal.SIGTERM)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    for child in children:
        child.join()
    if shared_metrics:
        telemetry.stop_sharing_metrics(shared_metrics)
    failed = [child.exitcode for child in children if child.exitcode]
    if failed:
        raise SystemExit(f"a serving process exited with {failed[0]}")
