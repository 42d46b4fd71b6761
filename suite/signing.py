"""Signed documents for other departments (the registry's joint-punishment lists, 联合惩戒名单):
an Ed25519 signature over the document's bytes exactly as given, by a key the registry holds
(suite.config.registry_signing_key). A partner department verifies with the public key the office
gave it (`ipss joint-punishments key`), never with one that came with the document."""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


class Signer:
    def __init__(self, private_key: bytes):
        self._key = Ed25519PrivateKey.from_private_bytes(private_key)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(self.public_key)

    def sign(self, content: bytes) -> bytes:
        return self._key.sign(content)


def key_id(public_key: bytes) -> str:
    """What a signature names its key by: the SHA-256 (hex) of the raw public key."""
    return hashlib.sha256(public_key).hexdigest()


def verify(content: bytes, signature: bytes, public_key: bytes) -> bool:
    """True when `signature` is the key's Ed25519 signature of exactly these bytes."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, content)
    except (InvalidSignature, ValueError):
        return False
    return True


def encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def decode(text: str) -> bytes:
    return base64.b64decode(text.strip(), validate=True)
