"""The region a search, listing, queue or statistic covers, from the caller's region scope (the
principal's, see suite.auth): every service narrows what it reads the same way, so that no
caller reads past its scope, whatever it asks for."""

from __future__ import annotations

from suite import auth


def scoped_prefix(requested: str) -> str:
    """The significant digits of the region covered: the requested region, which must lie in the
    caller's scope (else PERMISSION_DENIED), or, when none is asked for, the whole scope."""
    if requested:
        auth.require_region(requested, "a request")
        return auth.region_prefix(requested)
    return auth.region_prefix(auth.current().region)


def code_range(prefix: str) -> tuple[str, str]:
    """The lowest and highest six-digit division codes under a prefix of significant digits: the
    bounds of a BETWEEN on a code column, which its index answers on every backend."""
    return prefix.ljust(6, "0"), prefix.ljust(6, "9")
