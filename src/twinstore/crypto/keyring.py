"""The region master keyring: the keys that wrap SSE-S3 data keys (and KMS key material).

Stored as JSON in `<region dir>/keys/master-keys.json` (mode 0600, written atomically), or in a file the
operator names, or given as one base64 key in the environment (`TWINSTORE_MASTER_KEY`, not rotatable). Each
key has an id; wrapped keys name the id that wrapped them, so old keys keep unwrapping while a rotation
re-wraps everything under the new current key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..aio.files import write_private_file
from .segments import IntegrityError

ENV_KEY = "TWINSTORE_MASTER_KEY"
KEYRING_FILE = os.path.join("keys", "master-keys.json")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s)


def wrap_with(key: bytes | AESGCM, secret: bytes, label: bytes) -> bytes:
    """AES-256-GCM key wrap: nonce || ciphertext || tag, bound to `label`."""
    nonce = secrets.token_bytes(12)
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    return nonce + aead.encrypt(nonce, secret, b"twinstore-wrap1" + label)


def unwrap_with(key: bytes | AESGCM, wrapped: bytes, label: bytes) -> bytes:
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    try:
        return aead.decrypt(wrapped[:12], wrapped[12:], b"twinstore-wrap1" + label)
    except (InvalidTag, ValueError):
        raise IntegrityError("wrapped key does not authenticate") from None


@dataclass
class MasterKeyring:
    keys: dict[str, bytes]
    current: str
    path: str | None = None  # None: from the environment, not rotatable
    created: dict[str, str] = field(default_factory=dict)
    _aead: dict[str, AESGCM] = field(default_factory=dict, repr=False)  # key schedules, per key id

    def _cipher(self, kid: str) -> AESGCM | None:
        aead = self._aead.get(kid)
        if aead is None and kid in self.keys:
            aead = self._aead[kid] = AESGCM(self.keys[kid])
        return aead

    # ---- wrapping ---------------------------------------------------------------------------------------
    def wrap(self, secret: bytes, context: bytes = b"") -> tuple[str, bytes]:
        """(key id, wrapped secret) under the current master key."""
        aead = self._cipher(self.current)
        assert aead is not None
        return self.current, wrap_with(aead, secret, self.current.encode() + b"|" + context)

    def unwrap(self, kid: str, wrapped: bytes, context: bytes = b"") -> bytes:
        aead = self._cipher(kid)
        if aead is None:
            raise IntegrityError(f"master key {kid} is not in the keyring")
        return unwrap_with(aead, wrapped, kid.encode() + b"|" + context)

    # ---- persistence ------------------------------------------------------------------------------------
    @classmethod
    def load(cls, region_dir: str, path: str | None = None, create: bool = True) -> MasterKeyring:
        env = os.environ.get(ENV_KEY)
        if env and path is None:
            key = base64.b64decode(env)
            if len(key) != 32:
                raise ValueError(f"{ENV_KEY} must be the base64 of 32 bytes")
            kid = "env-" + hashlib.sha256(key).hexdigest()[:16]
            return cls({kid: key}, kid)
        path = path or os.path.join(region_dir, KEYRING_FILE)
        try:
            with open(path) as f:
                doc = json.load(f)
        except FileNotFoundError:
            if not create:
                raise
            ring = cls({}, "", path)
            ring.add_key()
            return ring
        return cls({k: _unb64(v["material"]) for k, v in doc["keys"].items()}, doc["current"], path,
                   {k: v.get("created", "") for k, v in doc["keys"].items()})

    def add_key(self) -> str:
        """Creates a new master key, makes it current and saves the ring."""
        import datetime
        kid = "mk-" + secrets.token_hex(8)
        self.keys[kid] = secrets.token_bytes(32)
        self.created[kid] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.current = kid
        self.save()
        return kid

    def retire_others(self) -> list[str]:
        """Drops every key but the current one (after a rotation re-wrapped everything)."""
        old = [k for k in self.keys if k != self.current]
        for k in old:
            del self.keys[k]
            self.created.pop(k, None)
        self.save()
        return old

    def save(self) -> None:
        if self.path is None:
            raise ValueError("a keyring from the environment cannot be changed")
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        doc = {"current": self.current,
               "keys": {k: {"material": _b64(v), "created": self.created.get(k, "")} for k, v in self.keys.items()}}
        write_private_file(self.path, json.dumps(doc, indent=1).encode())
