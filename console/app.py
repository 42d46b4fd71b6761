"""The console as an ASGI application (Starlette): routes, sign-in, the language switch and the
pages every visitor sees; the officers' and the public's pages are in their own modules. Every
request is counted and timed by route, method and status, and is a span of its own when traces
are on (suite.telemetry); /metrics answers Prometheus without sign-in, as the services' metrics
ports do (counts and latencies by route only: no case, no person)."""

from __future__ import annotations

import contextlib
import time

import httpx
import jwt
from pathlib import Path
from urllib.parse import urlsplit

from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console import credit, i18n, inspections, officers, public, refusals, schedules
from console.backend import Backend
from console.sessions import Renewal
from console.settings import Settings
from console.signin import DevelopmentSignIn, ProviderRefused, ProviderSignIn, mint_development
from console.web import LANG_COOKIE, SESSION_COOKIE, SESSION_SECONDS, Pages, language
from suite import auth, codes, telemetry
from suite import logging as suite_logging
from suite.errors import Unauthenticated

STATIC = Path(__file__).parent / "static"
log = suite_logging.get("console")
# Roles the development picker offers: the console's users.
DEV_ROLES = ("handler", "supervisor", "inspector", "operator", "citizen", "public")
# The cookie that ties a browser to the sign-in it was sent to the provider with.
SIGNIN_STATE_COOKIE = "ipss_signin_state"
# A session's token is renewed when it has less than this left.
RENEW_MARGIN_SECONDS = 60


def local_path(target: str, fallback: str = "/") -> str:
    """Only a path on this site: a `next` that points elsewhere goes home instead."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not (parts.path or "").startswith("/") or target.startswith("//"):
        return fallback
    return target


async def home(request: Request) -> Response:
    return request.app.state.pages.render(request, "home.html")


async def health(request: Request) -> Response:
    return PlainTextResponse("ok")


async def metrics(request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def switch_language(request: Request) -> Response:
    lang = request.path_params["lang"]
    response = RedirectResponse(local_path(request.query_params.get("next", "/")), status_code=303)
    if lang in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True,
                            secure=request.app.state.pages.settings.secure_cookies)
    return response


async def signin_page(request: Request) -> Response:
    return _signin(request)


def _signin(request: Request, error: str = "", status_code: int = 200, **values) -> Response:
    return request.app.state.pages.render(request, "signin.html", status_code=status_code, error=error,
                                          dev_roles=DEV_ROLES, next=local_path(request.query_params.get("next", "")),
                                          values=values, office_signin=request.app.state.pages.provider is not None)


async def _signed_in(request: Request, token: str, next_path: str, default: str,
                     renewal: Renewal | None = None) -> Response:
    """A new session for the token (a session the browser held before is closed: a fresh id at
    every sign-in); the cookie holds its id only."""
    pages: Pages = request.app.state.pages
    await _end(pages, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse(local_path(next_path, default), status_code=303)
    response.set_cookie(SESSION_COOKIE, pages.sessions.open(token, renewal), max_age=SESSION_SECONDS, httponly=True,
                        samesite="lax", secure=pages.settings.secure_cookies)
    return response


async def _signed_out(request: Request, response: Response) -> Response:
    """The session closed on the console's side (its old cookie, kept or copied, is worth nothing),
    its sign-in ended at the provider, and the cookie removed."""
    await _end(request.app.state.pages, request.cookies.get(SESSION_COOKIE, ""))
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax",
                           secure=request.app.state.pages.settings.secure_cookies)
    return response


async def _end(pages: Pages, session_id: str) -> None:
    session = pages.sessions.close(session_id)
    if session is not None and session.renewal is not None:
        try:
            await session.renewal.end(session.token)
        except (ProviderRefused, httpx.HTTPError) as error:  # the session is closed here all the same
            log.warning("signout_not_ended_at_provider", error=str(error))


def _landing(role: str) -> str:
    if role == "inspector":
        return "/inspections"
    return "/cases" if role in ("handler", "supervisor", "operator", "admin") else "/portal"


async def signin(request: Request) -> Response:
    """Sign in with a bearer token the suite issued."""
    pages: Pages = request.app.state.pages
    form = await request.form()
    token = str(form.get("token", "")).strip().removeprefix("Bearer ").strip()
    try:
        principal = pages.verifier.verify(token)
    except Unauthenticated:
        return _signin(request, i18n.text(language(request), "signin.bad_token"), 400)
    return await _signed_in(request, token, str(form.get("next", "")), _landing(principal.role))


async def signin_dev(request: Request) -> Response:
    """The development user picker: a token of the development sign-in key for the chosen role, renewed
    while the session lasts (off in production)."""
    pages: Pages = request.app.state.pages
    if not pages.settings.dev_signin:
        return PlainTextResponse("the development sign-in is off", status_code=404)
    form = await request.form()
    role = str(form.get("role", ""))
    subject = str(form.get("subject", "")).strip() or f"dev-{role}"
    region = str(form.get("region", "")).strip() or auth.NATIONWIDE
    problem = None if region == auth.NATIONWIDE else codes.region_code_problem(region)
    if role not in DEV_ROLES or problem:
        lang = language(request)
        said = refusals.own(lang, problem.reason) if problem else i18n.text(lang, "signin.unknown_role")
        return _signin(request, said, 400, role=role, subject=subject, region=region)
    if role == "public":
        return await _signed_out(request, RedirectResponse(local_path(str(form.get("next", "")), "/register"),
                                                           status_code=303))
    principal = auth.Principal(subject=subject, role=role, region=region)
    return await _signed_in(request, mint_development(principal), str(form.get("next", "")), _landing(role),
                            DevelopmentSignIn(principal))


async def signin_office(request: Request) -> Response:
    """Off to the office's OpenID provider (authorization code with PKCE); the browser keeps the
    sign-in's state in a cookie, to come back with."""
    pages: Pages = request.app.state.pages
    if pages.provider is None:
        return PlainTextResponse("sign-in with the office's provider is not configured", status_code=404)
    state, pending = pages.pending.start(local_path(request.query_params.get("next", "")))
    response = RedirectResponse(await pages.provider.authorization_url(state, pending.verifier), status_code=303)
    response.set_cookie(SIGNIN_STATE_COOKIE, state, max_age=600, httponly=True, samesite="lax",
                        secure=pages.settings.secure_cookies)
    return response


async def signin_office_callback(request: Request) -> Response:
    """Back from the provider: the code redeemed for the tokens (with the PKCE verifier), the access
    token checked as the services will check it, and a session opened."""
    pages: Pages = request.app.state.pages
    if pages.provider is None:
        return PlainTextResponse("sign-in with the office's provider is not configured", status_code=404)
    state = request.query_params.get("state", "")
    pending = pages.pending.finish(state) if state == request.cookies.get(SIGNIN_STATE_COOKIE) else None
    code = request.query_params.get("code", "")
    if pending is None or not code:
        return _signin(request, i18n.text(language(request), "signin.bad_token"), 400)
    try:
        tokens = await pages.provider.redeem(code, pending.verifier)
        principal = pages.verifier.verify(tokens["access_token"])
    except (ProviderRefused, Unauthenticated, KeyError) as refused:
        log.warning("office_signin_refused", error=str(refused))
        return _signin(request, i18n.text(language(request), "signin.bad_token"), 400)
    renewal = ProviderSignIn(pages.provider, tokens["refresh_token"]) if tokens.get("refresh_token") else None
    response = await _signed_in(request, tokens["access_token"], pending.next_path, _landing(principal.role), renewal)
    response.delete_cookie(SIGNIN_STATE_COOKIE, httponly=True, samesite="lax", secure=pages.settings.secure_cookies)
    return response


async def signout(request: Request) -> Response:
    return await _signed_out(request, RedirectResponse("/", status_code=303))


# Every answer: scripts, styles and images from the console itself only, no framing by another
# site (clickjacking of an officer's forms), no guessing of content types, no full URLs (with a
# case id) sent to other sites.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                                 b"form-action 'self'; frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)
        await self.app(scope, receive, with_headers)


class SessionRenewal:
    """ASGI middleware: a session whose token has less than a minute left gets a new one from its
    sign-in (the provider's refresh token, the development picker) before the request is served;
    one whose sign-in cannot renew it is signed in again when it expires."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            request = Request(scope)
            session = request.app.state.pages.sessions.session(request.cookies.get(SESSION_COOKIE, ""))
            if session is not None and session.renewal is not None:
                await renew(session)
        await self.app(scope, receive, send)


async def renew(session) -> None:
    async with session.renewing:  # one renewal at a time: a refresh token is good once
        if _seconds_left(session.token) > RENEW_MARGIN_SECONDS:
            return
        try:
            session.token = await session.renewal.renew()
        except (ProviderRefused, httpx.HTTPError, KeyError) as error:
            log.info("session_not_renewed", error=str(error))


def _seconds_left(token: str) -> float:
    """What is left of a token the session holds (checked when it was taken)."""
    return jwt.decode(token, options={"verify_signature": False}).get("exp", 0) - time.time()


# Answers that show no navigation, or that the counts would only slow down.
UNCOUNTED_PREFIXES = ("/static/", "/metrics", "/healthz", "/lang/", "/signin", "/signout")


class NavigationCounts:
    """ASGI middleware: before an officer's page is built, the counts its navigation shows beside
    the inbox and the notifications (officers.badges), in the request's state; pages read
    `badges` from there. Only pages got (GET): a posted form answers with a redirect."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["path"].startswith(UNCOUNTED_PREFIXES):
            request = Request(scope)
            pages, backend = request.app.state.pages, request.app.state.backend
            visitor = pages.visitor(request)
            if visitor.token and visitor.is_officer:
                request.state.badges = await officers.badges(backend, visitor)
        await self.app(scope, receive, send)


REQUESTS = Counter("ipss_console_requests", "Console requests answered, by route, method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("ipss_console_latency_seconds", "Time to answer a console request, by route and method",
                    ["route", "method"], buckets=telemetry.LATENCY_BUCKETS)
tracer = trace.get_tracer("console")


class RequestMetrics:
    """ASGI middleware: each HTTP request counted by its route's path template (not the path a
    visitor typed: no case id in a label), method and status, timed, and a server span (its gRPC
    calls to the services go in the same trace)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def counted(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
        with tracer.start_as_current_span("console", kind=trace.SpanKind.SERVER) as span:
            try:
                await self.app(scope, receive, counted)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                method = scope["method"]
                REQUESTS.labels(route, method, str(status)).inc()
                LATENCY.labels(route, method).observe(time.perf_counter() - started)
                if span.is_recording():
                    span.update_name(f"{method} {route}")
                    span.set_attributes({"http.request.method": method, "http.route": route,
                                         "http.response.status_code": status})


def build(settings: Settings, backend: Backend | None = None) -> Starlette:
    backend = backend or Backend(settings.registry_address, settings.complaints_address, settings.inspections_address)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await backend.close()
        if app.state.pages.provider is not None:
            await app.state.pages.provider.close()

    app = Starlette(routes=[
        Route("/", home),
        Route("/healthz", health),
        Route("/metrics", metrics),
        Route("/lang/{lang}", switch_language),
        Route("/signin", signin_page),
        Route("/signin", signin, methods=["POST"]),
        Route("/signin/dev", signin_dev, methods=["POST"]),
        Route("/signin/office", signin_office),
        Route("/signin/office/callback", signin_office_callback),
        Route("/signout", signout, methods=["POST"]),
        *officers.routes(),
        *inspections.routes(),
        *public.routes(),
        *schedules.routes(),
        *credit.routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], lifespan=lifespan, middleware=[Middleware(RequestMetrics), Middleware(SecurityHeaders),
                                      Middleware(SessionRenewal), Middleware(NavigationCounts)])
    app.state.pages = Pages(settings)
    app.state.backend = backend
    return app
