"""Sealing personal data with AES-256-GCM (the `cryptography` library): reporters' identities at
rest in the complaints database, and the payloads the suite hands Temporal. A sealed value is a
version byte, a random 96-bit nonce and the ciphertext with its tag; the context it is sealed in
(the row and column it belongs to, say) is authenticated, so a sealed value copied elsewhere
does not open."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# The format of a sealed value; a value of another version (a later format or key) is refused.
VERSION = b"\x01"
NONCE_BYTES = 12
KEY_BYTES = 32


class Unsealable(ValueError):
    """The value was not sealed under this key and context, or was altered since."""


class Sealer:
    def __init__(self, key: bytes):
        if len(key) != KEY_BYTES:
            raise ValueError(f"a sealing key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if not sealed.startswith(VERSION):
            raise Unsealable("not a sealed value of this version")
        nonce, ciphertext = sealed[1:1 + NONCE_BYTES], sealed[1 + NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, context)
        except InvalidTag as error:
            raise Unsealable("the value does not open under this key and context") from error
