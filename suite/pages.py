"""Page tokens: where the next page of a listing starts, handed to the caller as an opaque string
and taken back with the next request. A listing's store decides what its key is (the last row's
sort values); this module only writes and reads the token, the same way for every service.

A token names the kind of listing that issued it, so a token handed to a listing of another
kind is refused like a forged one rather than read as a key of the wrong shape. Tokens are
opaque, not secret or signed: a caller who writes its own can only start a page where it likes,
within its scope."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from suite.errors import FieldViolation, InvalidArgument


def encode(listing: str, *key: str) -> str:
    """The token of the page that starts after `key` in `listing`."""
    return base64.urlsafe_b64encode(json.dumps([listing, *key], ensure_ascii=False).encode()).decode()


def decode(token: str, listing: str, *readers: Callable[[str], Any]) -> tuple | None:
    """The key a token of `listing` carries, one value for each reader (`str`, `date.fromisoformat`)
    and read by it; None when there is no token, for the first page. Anything else, a value its
    reader refuses included, is refused on `page_token`, as bad input."""
    if not token:
        return None
    try:
        tag, *values = json.loads(base64.urlsafe_b64decode(token.encode()))
        if tag == listing and len(values) == len(readers) and all(isinstance(v, str) for v in values):
            return tuple(read(value) for read, value in zip(readers, values))
    except (ValueError, TypeError):
        pass
    raise InvalidArgument(FieldViolation("page_token", "PAGE_TOKEN_INVALID", "is not a token this service issued"))
