"""The linkage endpoint's own rules, without I/O: each association's quota (a token bucket of
calls and a number of open watches) and how long a certificate's registry record is trusted
before it is asked for again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from suite.config import LinkageQuota
from suite.errors import ResourceExhausted

# A revoked certificate is refused within this many seconds of its revocation.
CERTIFICATE_TRUST_SECONDS = 30.0


@dataclass
class _Bucket:
    tokens: float
    filled_at: float


@dataclass
class Quotas:
    """Per association: `calls_per_second` calls on average, `burst` at once, `watches` open
    watches. A call over quota is RESOURCE_EXHAUSTED with the wait after which one call fits."""

    quota: LinkageQuota
    now: Callable[[], float]
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _watching: dict[str, int] = field(default_factory=dict)

    def take_call(self, association_id: str) -> None:
        now = self.now()
        bucket = self._buckets.setdefault(association_id, _Bucket(float(self.quota.burst), now))
        bucket.tokens = min(float(self.quota.burst), bucket.tokens + (now - bucket.filled_at) * self.quota.calls_per_second)
        bucket.filled_at = now
        if bucket.tokens < 1.0:
            wait = (1.0 - bucket.tokens) / self.quota.calls_per_second
            raise ResourceExhausted("ASSOCIATION_RATE_LIMITED",
                                    f"more than {self.quota.calls_per_second:g} calls a second; retry in {wait:.2f} s",
                                    retry_after_seconds=wait, association_id=association_id,
                                    calls_per_second=self.quota.calls_per_second)
        bucket.tokens -= 1.0

    def open_watch(self, association_id: str) -> None:
        if self._watching.get(association_id, 0) >= self.quota.watches:
            raise ResourceExhausted("ASSOCIATION_WATCHES_EXHAUSTED",
                                    f"{self.quota.watches} watches are open already; close one first",
                                    retry_after_seconds=1.0, association_id=association_id,
                                    watches=self.quota.watches)
        self._watching[association_id] = self._watching.get(association_id, 0) + 1

    def close_watch(self, association_id: str) -> None:
        self._watching[association_id] -= 1


@dataclass
class TrustedCertificates:
    """Which association each certificate fingerprint names, as the registry last said, kept for
    `trust_seconds`."""

    now: Callable[[], float]
    trust_seconds: float = CERTIFICATE_TRUST_SECONDS
    _known: dict[str, tuple[str, float]] = field(default_factory=dict)

    def association_of(self, fingerprint: str) -> str | None:
        known = self._known.get(fingerprint)
        if known is None or self.now() - known[1] >= self.trust_seconds:
            return None
        return known[0]

    def remember(self, fingerprint: str, association_id: str) -> None:
        self._known[fingerprint] = (association_id, self.now())
