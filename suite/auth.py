"""Signed bearer tokens and the caller they name (the principal).

A token is a JWT with subject, role, region scope (a GB/T 2260 code; "000000" means the whole
country) and, for associations, the association id. It is signed with an asymmetric key whose
private half only its issuer holds; everyone else verifies with public keys, and each issuer is
trusted for some roles only:

- the machine key (suite.config.machine_key) signs the suite's own calls: the worker's, and one
  service's to another, as the `machine` role; and the linkage endpoint's calls made as the
  association whose client certificate it checked. It signs no person's role, so a process that
  holds it (a service, the worker) cannot make itself a handler, an operator or an admin;
- the sign-in key (development: `ipss token` and the console's user picker) signs people's roles,
  never `machine`;
- in production people sign in with the office's OpenID Connect provider: its access tokens are
  verified against its published keys (JWKS), for people's roles only, never `machine`.

A request without a token is made by the `public` role; a bad or expired token is refused."""

from __future__ import annotations

import contextvars
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ipss.options.v1 import options_pb2
from suite import config
from suite.errors import PermissionDenied, Unauthenticated, Unavailable
from suite.protos import enum_word

ROLES = ("public", "citizen", "handler", "supervisor", "inspector", "association", "operator", "admin", "machine")
# The roles a person may hold; `machine` is the suite's own processes.
PEOPLE = frozenset(ROLES) - {"machine"}
# What the machine key may sign: the suite's calls, and the linkage endpoint's on an association's behalf.
MACHINE_KEY_ROLES = frozenset({"machine", "association"})
# Roles whose scope is a region: a token of one must name it (none is not taken as nationwide).
REGIONAL_ROLES = frozenset({"handler", "supervisor", "inspector", "operator", "admin"})
NATIONWIDE = "000000"
REGION_CLAIM = re.compile(r"\d{6}")
MACHINE_ISSUER = "ipss-machine"
SIGNIN_ISSUER = "ipss-signin"
ALGORITHM = "EdDSA"
# The algorithms an OpenID provider signs access tokens with (never "none", never HMAC: its
# published key must not be usable as a shared secret).
PROVIDER_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]


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


# ---- signing -------------------------------------------------------------------------------------

class Signer:
    """An issuer's private key and the roles it may sign."""

    def __init__(self, issuer: str, key: Ed25519PrivateKey, roles: Iterable[str]):
        self.issuer, self.key, self.roles = issuer, key, frozenset(roles)

    def mint(self, role: str, subject: str, region: str = NATIONWIDE, association_id: str = "",
             ttl_seconds: int = 900) -> str:
        if role not in self.roles:
            raise ValueError(f"{self.issuer} does not sign role {role!r}; one of {', '.join(sorted(self.roles))}")
        if role == "association" and not association_id:
            raise ValueError("an association's token names its association (association_id)")
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "role": role, "region": region, "iat": now,
                  "exp": now + ttl_seconds, "jti": uuid.uuid4().hex}
        if association_id:
            claims["association_id"] = association_id
        return jwt.encode(claims, self.key, algorithm=ALGORITHM)


def machine_signer() -> Signer:
    return Signer(MACHINE_ISSUER, config.machine_key(), MACHINE_KEY_ROLES)


def signin_signer() -> Signer:
    """The development sign-in key's signer: `ipss token` and the console's user picker."""
    return Signer(SIGNIN_ISSUER, config.signin_key(), PEOPLE)


def mint(role: str, subject: str, region: str = NATIONWIDE, association_id: str = "",
         ttl_seconds: int | None = None) -> str:
    """A person's token signed with the development sign-in key (config.human_token_minutes long)."""
    ttl = config.human_token_minutes() * 60 if ttl_seconds is None else ttl_seconds
    return signin_signer().mint(role, subject, region, association_id, ttl)


# A machine caller's token lives this long, and is minted again this long before it expires.
MACHINE_TOKEN_SECONDS = 300
MACHINE_TOKEN_MARGIN_SECONDS = 60


class MachineToken:
    """The short-lived token a suite process calls another with (the machine key's), reused until
    shortly before it expires (minting signs a JWT): no long-lived token sits in any process.
    `machine` by default; the linkage endpoint's are an association's."""

    def __init__(self, subject: str, role: str = "machine", association_id: str = "",
                 signer: Signer | None = None):
        self._claims = dict(role=role, subject=subject, association_id=association_id)
        self._signer = signer
        self._token, self._renew_at = "", 0.0

    def __str__(self) -> str:
        if time.monotonic() >= self._renew_at:
            self._signer = self._signer or machine_signer()
            self._token = self._signer.mint(ttl_seconds=MACHINE_TOKEN_SECONDS, **self._claims)
            self._renew_at = time.monotonic() + MACHINE_TOKEN_SECONDS - MACHINE_TOKEN_MARGIN_SECONDS
        return self._token


# ---- verifying -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClaimNames:
    """Where a token says the caller's role, region and association."""

    role: str = "role"
    region: str = "region"
    association: str = "association_id"


@dataclass(frozen=True, eq=False)
class TrustedIssuer:
    """An issuer the suite takes tokens from: the key that checks its signatures (by token, for a
    provider that publishes several), the roles it may name, its audience if it sets one."""

    issuer: str
    key_for: Callable[[str], object]
    roles: frozenset[str]
    algorithms: tuple[str, ...] = (ALGORITHM,)
    audience: str | None = None
    claims: ClaimNames = ClaimNames()
    # The suite's own tokens always name a region; a provider's name one for regional roles only.
    region_always: bool = True


def own_issuer(issuer: str, public_key: Ed25519PublicKey, roles: Iterable[str]) -> TrustedIssuer:
    return TrustedIssuer(issuer, lambda token: public_key, frozenset(roles))


def provider_issuer(settings: config.OidcSettings) -> TrustedIssuer:
    """The office's OpenID provider: its keys fetched from its JWKS (kept five minutes, fetched
    again for a key id not seen), its access tokens for the suite's audience, people's roles only."""
    keys = jwt.PyJWKClient(settings.jwks_uri, cache_keys=True, timeout=10)
    return TrustedIssuer(settings.issuer, lambda token: keys.get_signing_key_from_jwt(token).key, PEOPLE,
                         tuple(PROVIDER_ALGORITHMS), settings.audience,
                         ClaimNames(settings.role_claim, settings.region_claim, settings.association_claim),
                         region_always=False)


class Verifier:
    """Checks tokens against the issuers it trusts, each for its own roles."""

    def __init__(self, issuers: Iterable[TrustedIssuer]):
        self.issuers = {issuer.issuer: issuer for issuer in issuers}

    def verify(self, token: str) -> Principal:
        try:
            principal, expires_at = _checked(self, token)
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("TOKEN_EXPIRED", f"bad bearer token: {exc}") from None
        except jwt.PyJWKClientConnectionError as exc:  # the token may be good: ask again later
            raise Unavailable("SIGNIN_PROVIDER_UNAVAILABLE", f"the sign-in provider's keys are out of reach: {exc}"
                              ) from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated("TOKEN_INVALID", f"bad bearer token: {exc}") from None
        if time.time() >= expires_at:
            raise Unauthenticated("TOKEN_EXPIRED", "bad bearer token: Signature has expired")
        return principal

    def check(self, token: str) -> tuple[Principal, int]:
        """A token's caller and expiry, its issuer, signature and claims checked."""
        issuer = self.issuers.get(jwt.decode(token, options={"verify_signature": False}).get("iss"))
        if issuer is None:
            raise jwt.InvalidIssuerError("the token's issuer is not one the suite trusts")
        # A token that must name a region and names none is not taken as nationwide.
        required = ["exp", "sub", issuer.claims.role] + ([issuer.claims.region] if issuer.region_always else [])
        claims = jwt.decode(token, issuer.key_for(token), algorithms=list(issuer.algorithms), issuer=issuer.issuer,
                            audience=issuer.audience, options={"require": required})
        return principal_of(claims, issuer), claims["exp"]


def principal_of(claims: dict, issuer: TrustedIssuer) -> Principal:
    names = issuer.claims
    role = claims[names.role]
    if role not in issuer.roles:
        raise jwt.InvalidTokenError(f"{issuer.issuer} may not sign role {role!r}")
    region = claims.get(names.region)
    if region is None and role not in REGIONAL_ROLES:
        region = NATIONWIDE  # a citizen's or an association's scope is not a region
    if not (isinstance(region, str) and REGION_CLAIM.fullmatch(region)):
        raise jwt.InvalidTokenError(f"region {region!r} is not a region code")
    association_id = claims.get(names.association) or ""
    if role == "association" and not association_id:
        raise jwt.InvalidTokenError("an association's token names its association")
    return Principal(subject=claims["sub"], role=role, region=region, association_id=association_id)


@lru_cache(maxsize=4096)
def _checked(verifier: Verifier, token: str) -> tuple[Principal, int]:
    """A token's caller and expiry, its signature and claims checked once: a token cannot change,
    only expire, which Verifier.verify checks at every use. Checking the signature was most of what
    a call carrying a token cost in the server kit. A token refused is not kept."""
    return verifier.check(token)


def people_issuers(provider: config.OidcSettings | None) -> list[TrustedIssuer]:
    """Who signs people's tokens: the office's OpenID provider when one is configured; the sign-in
    key without one (development), or beside it when its public half is given explicitly."""
    issuers = [provider_issuer(provider)] if provider is not None else []
    if provider is None or config.signin_public_key_given():
        issuers.append(own_issuer(SIGNIN_ISSUER, config.signin_public_key(), PEOPLE))
    return issuers


def suite_verifier() -> Verifier:
    """What a service trusts: people's issuers, and the machine key for the suite's own calls."""
    return Verifier([*people_issuers(config.oidc()),
                     own_issuer(MACHINE_ISSUER, config.machine_public_key(), MACHINE_KEY_ROLES)])


def people_verifier(provider: config.OidcSettings | None) -> Verifier:
    """What the console trusts: people's issuers only (no machine token signs anyone in)."""
    return Verifier(people_issuers(provider))


def principal_from_metadata(metadata: dict[str, str], verifier: Verifier) -> Principal:
    header = metadata.get("authorization", "")
    if not header:
        return ANONYMOUS
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("AUTHORIZATION_MALFORMED", "authorization metadata must be 'Bearer <token>'")
    return verifier.verify(token)


def require_region(region_code: str, what: str) -> None:
    """Refuse a caller whose region scope does not cover the thing asked about."""
    principal = current()
    if not principal.covers_region(region_code):
        raise PermissionDenied("OUTSIDE_REGION_SCOPE",
                               f"{what} in region {region_code} is outside the caller's scope {principal.region}",
                               region_code=region_code, scope=principal.region)
