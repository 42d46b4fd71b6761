"""Signing people in: with the office's OpenID Connect provider in production (the authorization
code flow with PKCE: the console is a confidential client, and the provider's JWT access token for
the suite's audience is the token the console calls the services with), and in development with
the user picker, which signs with the development sign-in key. Either way the token is short-lived
and the session renews it (console.sessions.Renewal); signing out ends the sign-in at the provider
too (its refresh token revoked, so no new access token comes of it)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from suite import auth
from suite.config import OidcSettings

# How long a browser has to come back from the provider's sign-in page.
PENDING_SECONDS = 600
PROVIDER_SECONDS = 10


class ProviderRefused(Exception):
    """The provider answered the console's request with an error (a code used twice, a refresh
    token revoked)."""


class Provider:
    """The console's client of the office's OpenID provider (endpoints from its discovery document)."""

    def __init__(self, settings: OidcSettings, redirect_uri: str):
        self.settings, self.redirect_uri = settings, redirect_uri
        self._http = httpx.AsyncClient(timeout=PROVIDER_SECONDS)
        self._discovered: dict | None = None

    async def close(self) -> None:
        await self._http.aclose()

    async def endpoint(self, name: str) -> str:
        if self._discovered is None:
            answer = await self._http.get(self.settings.discovery_url)
            answer.raise_for_status()
            self._discovered = answer.json()
        return str(self._discovered[name])

    async def authorization_url(self, state: str, verifier: str) -> str:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {"response_type": "code", "client_id": self.settings.client_id, "redirect_uri": self.redirect_uri,
                 "scope": self.settings.scope, "state": state, "code_challenge": challenge,
                 "code_challenge_method": "S256", "resource": self.settings.audience}
        return f"{await self.endpoint('authorization_endpoint')}?{urlencode(query)}"

    async def redeem(self, code: str, verifier: str) -> dict:
        """The tokens for an authorization code: access_token (for the suite), refresh_token if given."""
        return await self._token({"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                                  "code_verifier": verifier, "resource": self.settings.audience})

    async def refresh(self, refresh_token: str) -> dict:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token,
                                  "resource": self.settings.audience})

    async def revoke(self, token: str, hint: str) -> None:
        answer = await self._http.post(await self.endpoint("revocation_endpoint"), auth=self._client_auth(),
                                       data={"token": token, "token_type_hint": hint})
        if answer.status_code != 200:
            raise ProviderRefused(answer.text)

    async def _token(self, form: dict) -> dict:
        answer = await self._http.post(await self.endpoint("token_endpoint"), data=form, auth=self._client_auth())
        if answer.status_code != 200:
            raise ProviderRefused(answer.text)
        return answer.json()

    def _client_auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.settings.client_id, self.settings.client_secret)


@dataclass
class ProviderSignIn:
    """A session's sign-in at the provider: renewed with its refresh token (rotated as the provider
    gives a new one), ended by revoking it. Without a refresh token the session signs in again."""

    provider: Provider
    refresh_token: str

    async def renew(self) -> str:
        tokens = await self.provider.refresh(self.refresh_token)
        self.refresh_token = tokens.get("refresh_token", self.refresh_token)
        return tokens["access_token"]

    async def end(self, token: str) -> None:
        # A JWT access token cannot be revoked (it is checked where it is used, without asking the
        # provider): it lives minutes; the refresh token, which would make new ones, is revoked.
        await self.provider.revoke(self.refresh_token, "refresh_token")


@dataclass
class DevelopmentSignIn:
    """The user picker's sign-in: a new token of the development sign-in key for the same person."""

    principal: auth.Principal

    async def renew(self) -> str:
        return mint_development(self.principal)

    async def end(self, token: str) -> None:
        """Nothing is kept anywhere but the session."""


def mint_development(principal: auth.Principal) -> str:
    return auth.mint(principal.role, principal.subject, region=principal.region,
                     association_id=principal.association_id)


@dataclass(frozen=True)
class Pending:
    verifier: str  # the PKCE code verifier, which only the console knows
    next_path: str
    started: float


class PendingSignIns:
    """Sign-ins sent to the provider and not yet back, by `state` (which the browser's cookie must
    also hold: a callback another browser was sent is not taken)."""

    def __init__(self, most: int = 10_000):
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()
        self.most = most

    def start(self, next_path: str) -> tuple[str, Pending]:
        state = secrets.token_urlsafe(32)
        pending = Pending(secrets.token_urlsafe(48), next_path, time.monotonic())
        with self._lock:
            for old in [s for s, p in self._pending.items() if time.monotonic() - p.started > PENDING_SECONDS]:
                del self._pending[old]
            while len(self._pending) >= self.most:
                self._pending.pop(next(iter(self._pending)))
            self._pending[state] = pending
        return state, pending

    def finish(self, state: str) -> Pending | None:
        """The pending sign-in of that state, once; None when unknown or too old."""
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or time.monotonic() - pending.started > PENDING_SECONDS:
            return None
        return pending
