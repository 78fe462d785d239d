"""SSE-C: customer keys are never stored; a salted HMAC of the key is kept to recognise it."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def fingerprint(key: bytes, salt: bytes | None = None) -> tuple[bytes, bytes]:
    """(salt, HMAC-SHA256(salt, key))."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    return salt, hmac.new(salt, key, hashlib.sha256).digest()


def matches(key: bytes, salt: bytes, mac: bytes) -> bool:
    return hmac.compare_digest(fingerprint(key, salt)[1], mac)
