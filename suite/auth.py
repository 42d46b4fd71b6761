"""Signed bearer tokens and the caller they name (the principal).

A token is an HS256 JWT with subject, role, region scope (a GB/T 2260 code; "000000" means the
whole country) and, for associations, the association id. A request without a token is made
by the `public` role; a bad or expired token is refused."""

from __future__ import annotations

import contextvars
import re
import time
from dataclasses import dataclass
from functools import lru_cache

import jwt

from ipss.options.v1 import options_pb2
from suite import config
from suite.errors import PermissionDenied, Unauthenticated
from suite.protos import enum_word

ROLES = ("public", "citizen", "handler", "supervisor", "inspector", "association", "operator", "admin")
NATIONWIDE = "000000"
REGION_CLAIM = re.compile(r"\d{6}")
ISSUER = "ipss"


def role_from_proto(value: int) -> str:
    return enum_word(options_pb2.Role.DESCRIPTOR, value)


def declared_roles(access: options_pb2.Access) -> frozenset[str]:
    """The roles an RPC's (ipss.options.v1.access) lets call it: every role for `any_caller`, else
    the roles it lists; none (denied to everyone) when it lists none."""
    if access.any_caller:
        return frozenset(ROLES)
    return frozenset(role_from_proto(role) for role in access.roles)


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    region: str = NATIONWIDE
    association_id: str = ""

    def covers_region(self, region_code: str) -> bool:
        """A scope covers the codes that start with its significant digits: 110000 covers
        110105; 110100 covers 110105 but not 120101."""
        return region_code.startswith(region_prefix(self.region))


ANONYMOUS = Principal(subject="anonymous", role="public")
_current: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal", default=ANONYMOUS)


def region_prefix(region_code: str) -> str:
    """Significant digits of a division code: 110000 → 11, 110100 → 1101, 000000 → ''."""
    if region_code in ("", NATIONWIDE):
        return ""
    if region_code.endswith("0000"):
        return region_code[:2]
    if region_code.endswith("00"):
        return region_code[:4]
    return region_code


def current() -> Principal:
    return _current.get()


def bind(principal: Principal) -> contextvars.Token:
    return _current.set(principal)


def mint(role: str, subject: str, region: str = NATIONWIDE, association_id: str = "",
         ttl_seconds: int = 8 * 3600, secret: str | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "association" and not association_id:
        raise ValueError("an association's token names its association (association_id)")
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": subject, "role": role, "region": region,
              "iat": now, "exp": now + ttl_seconds}
    if association_id:
        claims["association_id"] = association_id
    return jwt.encode(claims, secret or config.token_secret(), algorithm="HS256")


# A machine caller's token lives this long, and is minted again this long before it expires.
MACHINE_TOKEN_SECONDS = 300
MACHINE_TOKEN_MARGIN_SECONDS = 60


class MachineToken:
    """The short-lived token a suite process calls another with, reused until shortly before it
    expires (minting signs a JWT): no long-lived token sits in any process."""

    def __init__(self, role: str, subject: str, association_id: str = "", secret: str | None = None):
        self._claims = dict(role=role, subject=subject, association_id=association_id, secret=secret)
        self._token, self._renew_at = "", 0.0

    def __str__(self) -> str:
        if time.monotonic() >= self._renew_at:
            self._token = mint(ttl_seconds=MACHINE_TOKEN_SECONDS, **self._claims)
            self._renew_at = time.monotonic() + MACHINE_TOKEN_SECONDS - MACHINE_TOKEN_MARGIN_SECONDS
        return self._token


def verify(token: str, secret: str) -> Principal:
    try:
        principal, expires_at = _checked(token, secret)
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("TOKEN_EXPIRED", f"bad bearer token: {exc}") from None
    except jwt.PyJWTError as exc:
        raise Unauthenticated("TOKEN_INVALID", f"bad bearer token: {exc}") from None
    if time.time() >= expires_at:
        raise Unauthenticated("TOKEN_EXPIRED", "bad bearer token: Signature has expired")
    return principal


@lru_cache(maxsize=4096)
def _checked(token: str, secret: str) -> tuple[Principal, int]:
    """A token's caller and expiry, its signature and claims checked once: a token cannot change,
    only expire, which verify checks at every use. Checking the signature was most of what a call
    carrying a token cost in the server kit (165 of 224 µs measured here). A token refused is not
    kept."""
    # The region is required: a token that names none is not taken as nationwide.
    claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER,
                        options={"require": ["exp", "sub", "role", "region"]})
    if claims["role"] not in ROLES:
        raise jwt.InvalidTokenError(f"unknown role {claims['role']!r}")
    if not (isinstance(claims["region"], str) and REGION_CLAIM.fullmatch(claims["region"])):
        raise jwt.InvalidTokenError(f"region {claims['region']!r} is not a region code")
    if claims["role"] == "association" and not claims.get("association_id"):
        raise jwt.InvalidTokenError("an association's token names its association")
    return Principal(subject=claims["sub"], role=claims["role"], region=claims["region"],
                     association_id=claims.get("association_id", "")), claims["exp"]


def principal_from_metadata(metadata: dict[str, str], secret: str) -> Principal:
    header = metadata.get("authorization", "")
    if not header:
        return ANONYMOUS
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("AUTHORIZATION_MALFORMED", "authorization metadata must be 'Bearer <token>'")
    return verify(token, secret)


def require_region(region_code: str, what: str) -> None:
    """Refuse a caller whose region scope does not cover the thing asked about."""
    principal = current()
    if not principal.covers_region(region_code):
        raise PermissionDenied("OUTSIDE_REGION_SCOPE",
                               f"{what} in region {region_code} is outside the caller's scope {principal.region}",
                               region_code=region_code, scope=principal.region)
