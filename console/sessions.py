"""Sign-in sessions kept by the console (issue 15 item 7): the browser's cookie holds a random
session id, never the suite's bearer token, which stays in the console's memory under that id.
Signing out closes the session, so the old cookie is worth nothing afterwards, even if it was
copied; a session ends at the latest when its time is up (as the cookie's max-age), or when the
console restarts (everyone signs in again).

The store is this process's memory: one console process per deployment (as `make run` and the
chart run it). Several console replicas behind one address would need the sessions in a shared
store (or sticky routing)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable


class Sessions:
    def __init__(self, seconds: int, now: Callable[[], float] = time.monotonic, most: int = 100_000):
        self.seconds = seconds
        self.now = now
        self.most = most  # a bound on the memory a flood of sign-ins can take: the oldest go first
        self._open: dict[str, tuple[str, float]] = {}  # session id -> (token, ends at), oldest first
        self._lock = threading.Lock()

    def open(self, token: str) -> str:
        """A new session for the token; its id (256 random bits) is what the cookie holds."""
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._prune()
            while len(self._open) >= self.most:
                self._open.pop(next(iter(self._open)))
            self._open[session_id] = (token, self.now() + self.seconds)
        return session_id

    def token(self, session_id: str) -> str | None:
        """The token of an open session; None for an id never given, closed, or whose time is up."""
        if not session_id:
            return None
        with self._lock:
            found = self._open.get(session_id)
            if found is None:
                return None
            token, ends_at = found
            if self.now() >= ends_at:
                del self._open[session_id]
                return None
            return token

    def close(self, session_id: str) -> None:
        with self._lock:
            self._open.pop(session_id, None)

    def _prune(self) -> None:
        now = self.now()
        for session_id in [s for s, (_, ends_at) in self._open.items() if now >= ends_at]:
            del self._open[session_id]
