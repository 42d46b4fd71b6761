"""Production sign-in (issue 15 item 2): people sign in to the console with the office's OpenID
Connect provider, here a real one (the npm package oidc-provider, tests/oidc/provider.mjs) on
loopback. The browser (httpx, following the provider's own login form) goes through the
authorization code flow with PKCE; the console keeps the provider's JWT access token in its
session; the registry, configured for the provider, checks that token against its JWKS (issuer,
audience, the role, the region of a regional role). The session renews the token with the refresh
token, and signing out revokes it at the provider."""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest

from console.app import build
from console.settings import Settings
from console.signin import ProviderRefused
from console.web import SESSION_COOKIE
from ipss.registry.v1 import registry_pb2 as pb
from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
from suite import config
from tests.conftest import metadata, running_registry
from tests.grpc_checks import error_info

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_PACKAGE = ROOT / ".tools" / "node_modules" / "oidc-provider"
CONSOLE = "https://console"  # served through its ASGI app; https, as the console's cookies are Secure
CLIENT_SECRET = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def provider():
    """The provider on a free loopback port, until the module's tests are done."""
    if not PROVIDER_PACKAGE.is_dir():
        pytest.fail("oidc-provider is not installed: `make oidc-provider` (make test does it)")
    from bench.processes import free_port

    port = free_port()
    node = subprocess.Popen(["node", str(ROOT / "tests" / "oidc" / "provider.mjs"), str(PROVIDER_PACKAGE), str(port),
                             f"{CONSOLE}/signin/office/callback", CLIENT_SECRET],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = node.stdout.readline()
        assert line.startswith("listening "), f"the provider did not start: {line!r}"
        yield line.split()[1]
    finally:
        node.terminate()
        node.wait(timeout=10)


@pytest.fixture
async def office(provider, monkeypatch):
    """The registry and the console, both configured for the provider (as production is: the
    development sign-in key not trusted)."""
    for name, value in {"ISSUER": provider, "CLIENT_ID": "ipss-console", "CLIENT_SECRET": CLIENT_SECRET,
                        "AUDIENCE": "urn:ipss:services", "SCOPE": "openid ipss"}.items():
        monkeypatch.setenv(f"IPSS_OIDC_{name}", value)
    async with running_registry("sqlite") as registry:
        app = build(Settings(registry.address, "127.0.0.1:9", oidc=config.oidc(), public_url=CONSOLE))
        # The browser: the console through its ASGI app, the provider over the network.
        async with httpx.AsyncClient(mounts={CONSOLE: httpx.ASGITransport(app=app)}, follow_redirects=True,
                                     timeout=20) as browser:
            yield registry, app, browser
        await app.state.pages.provider.close()
        await app.state.backend.close()


async def sign_in(browser: httpx.AsyncClient, login: str) -> httpx.Response:
    """The office sign-in as a person does it: the console's link, the provider's login form (the
    development login takes any password), back to the console; in a fresh browser (the provider
    would otherwise remember who signed in last)."""
    browser.cookies.clear()
    page = await browser.get(f"{CONSOLE}/signin/office?next=/")
    assert str(page.url).startswith("http://127.0.0.1"), page.url  # at the provider's login page
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1)
    return await browser.post(httpx.URL(str(page.url)).join(action),
                              data={"prompt": "login", "login": login, "password": "any"})


def session_id_of(browser) -> str:
    return next(c.value for c in browser.cookies.jar if c.name == SESSION_COOKIE)


def session_of(app, browser):
    return app.state.pages.sessions.session(session_id_of(browser))


async def search(registry, token: str):
    api = pb_grpc.RegistryServiceStub(registry.channel)
    return await api.SearchAgencies(pb.SearchAgenciesRequest(query="北京", page_size=1),
                                    metadata=(("authorization", f"Bearer {token}"),))


async def test_a_handler_signs_in_with_the_office_and_the_services_take_the_providers_token(office):
    registry, app, browser = office
    landed = await sign_in(browser, "handler-zhou")
    assert landed.status_code == 200 and str(landed.url) == f"{CONSOLE}/", landed.url
    session = session_of(app, browser)
    principal = app.state.pages.verifier.verify(session.token)
    assert (principal.subject, principal.role, principal.region) == ("handler-zhou", "handler", "630000")
    await search(registry, session.token)  # admitted by the registry, which checked it against the JWKS
    # A human's token from the provider, operator or not, reaches no workflow-only RPC.
    await sign_in(browser, "operator-li")
    operator = session_of(app, browser).token
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await pb_grpc.RegistryServiceStub(registry.channel).AppendMemberEvents(
            pb.AppendMemberEventsRequest(), metadata=(("authorization", f"Bearer {operator}"),))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_provider_signs_no_machine_and_no_regional_role_without_its_region(office):
    registry, app, browser = office
    for login in ("impostor-machine", "handler-unplaced"):
        answer = await sign_in(browser, login)
        assert answer.status_code == 400 and str(answer.url).startswith(f"{CONSOLE}/signin/office/callback"), login
        assert SESSION_COOKIE not in {c.name for c in browser.cookies.jar}, login


async def test_under_the_provider_the_development_key_signs_nobody_in(office):
    registry, _, _ = office
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await pb_grpc.RegistryServiceStub(registry.channel).SearchAgencies(
            pb.SearchAgenciesRequest(query="北京"), metadata=metadata("handler"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_info(refused.value).reason == "TOKEN_INVALID"


async def test_the_session_renews_its_token_and_signing_out_revokes_the_sign_in(office):
    registry, app, browser = office
    await sign_in(browser, "handler-zhou")
    session = session_of(app, browser)
    first = session.token
    await asyncio.sleep(1.1)  # a new token is another token (its iat)
    renewed = await session.renewal.renew()
    assert renewed != first
    await search(registry, renewed)
    refresh_token, session_id = session.renewal.refresh_token, session_id_of(browser)
    assert (await browser.post(f"{CONSOLE}/signout")).status_code == 200
    assert app.state.pages.sessions.session(session_id) is None
    browser.cookies.clear()  # the old cookie, kept or copied, gets nothing
    page = await browser.get(f"{CONSOLE}/cases", headers={"cookie": f"{SESSION_COOKIE}={session_id}"},
                             follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/signin")
    with pytest.raises(ProviderRefused, match="invalid_grant"):
        await app.state.pages.provider.refresh(refresh_token)
