"""Sign-in sessions kept by the console (issue 15 item 7): the browser's cookie holds a random
session id, never the suite's bearer token, which stays in the console's memory under that id.
Signing out closes the session, so the old cookie is worth nothing afterwards, even if it was
copied; a session ends at the latest when its time is up (as the cookie's max-age), or when the
console restarts (everyone signs in again).

People's tokens are short-lived (minutes): a session whose sign-in can renew its token (the
office's OpenID provider's refresh token; the development user picker) gets a new one shortly
before it expires (console.app.SessionRenewal); one that cannot is signed in again.

The store is this process's memory: one console process per deployment (as `make run` and the
chart run it). Several console replicas behind one address would need the sessions in a shared
store (or sticky routing)."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Renewal(Protocol):
    """How a session's sign-in gets a new token, and is ended at the issuer on sign-out."""

    async def renew(self) -> str: ...

    async def end(self, token: str) -> None: ...


@dataclass
class Session:
    token: str
    ends_at: float
    renewal: Renewal | None = None
    renewing: asyncio.Lock = field(default_factory=asyncio.Lock)


class Sessions:
    def __init__(self, seconds: int, now: Callable[[], float] = time.monotonic, most: int = 100_000):
        self.seconds = seconds
        self.now = now
        self.most = most  # a bound on the memory a flood of sign-ins can take: the oldest go first
        self._open: dict[str, Session] = {}  # session id -> session, oldest first
        self._lock = threading.Lock()

    def open(self, token: str, renewal: Renewal | None = None) -> str:
        """A new session for the token; its id (256 random bits) is what the cookie holds."""
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._prune()
            while len(self._open) >= self.most:
                self._open.pop(next(iter(self._open)))
            self._open[session_id] = Session(token, self.now() + self.seconds, renewal)
        return session_id

    def session(self, session_id: str) -> Session | None:
        """An open session; None for an id never given, closed, or whose time is up."""
        if not session_id:
            return None
        with self._lock:
            found = self._open.get(session_id)
            if found is None:
                return None
            if self.now() >= found.ends_at:
                del self._open[session_id]
                return None
            return found

    def token(self, session_id: str) -> str | None:
        found = self.session(session_id)
        return found.token if found else None

    def close(self, session_id: str) -> Session | None:
        """The session closed (what it was, for the caller to end its sign-in at the issuer)."""
        with self._lock:
            return self._open.pop(session_id, None)

    def _prune(self) -> None:
        now = self.now()
        for session_id in [s for s, session in self._open.items() if now >= session.ends_at]:
            del self._open[session_id]
