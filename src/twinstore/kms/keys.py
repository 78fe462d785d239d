"""A region's KMS keys: metadata, aliases and key material, kept in `<region dir>/keys/kms-keys.json` (0600,
rewritten atomically). Key material is stored wrapped by the region master keyring, never in the clear.

Ciphertext blobs name their key (and key-material version), so Decrypt needs no KeyId:
    b"TSK1" | u8 len | key id | u16 material | 12-byte nonce | AES-256-GCM(ciphertext || tag)
the encryption context (canonical JSON) and the key id are the associated data.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..aio.files import write_private_file
from ..crypto.keyring import MasterKeyring
from ..crypto.segments import IntegrityError
from ..protocol.errors import AWSError

MAGIC = b"TSK1"
S3_ALIAS = "alias/aws/s3"
STORE_FILE = os.path.join("keys", "kms-keys.json")
DAY_US = 86_400 * 1_000_000


def kms_error(code: str, message: str) -> AWSError:
    return AWSError(code, message, status=400)


@dataclass
class Key:
    key_id: str
    arn: str
    created_us: int
    description: str = ""
    state: str = "Enabled"  # Enabled | Disabled | PendingDeletion
    manager: str = "CUSTOMER"  # CUSTOMER | AWS
    key_usage: str = "ENCRYPT_DECRYPT"
    rotation: bool = False
    rotation_days: int = 365
    deletion_us: int = 0
    pending_days: int = 0
    materials: list[dict[str, str]] = field(default_factory=list)  # [{"kid", "wk"}]: wrapped by the master key
    rotated_us: int = 0  # when the current material was made (creation or last rotation)
    rotations: list[dict[str, Any]] = field(default_factory=list)  # [{"date", "type"}], oldest first

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def canonical_context(context: dict[str, str] | None) -> bytes:
    return json.dumps(context or {}, sort_keys=True, separators=(",", ":")).encode()


class KeyStore:
    def __init__(self, region_dir: str, region: str, account_id: str, keyring: MasterKeyring) -> None:
        self.path = os.path.join(region_dir, STORE_FILE)
        self.region = region
        self.account_id = account_id
        self.keyring = keyring
        self.keys: dict[str, Key] = {}
        self.aliases: dict[str, dict[str, Any]] = {}  # name -> {"target", "created_us", "updated_us"}
        self._material: dict[tuple[str, int], bytes] = {}
        self.dirty = False  # changed in memory since the last save
        try:
            with open(self.path) as f:
                doc = json.load(f)
        except FileNotFoundError:
            doc = {"keys": {}, "aliases": {}}
        self.keys = {k: Key(**v) for k, v in doc["keys"].items()}
        self.aliases = doc["aliases"]

    # ---- persistence ------------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The store's content as saved (taken on the event loop; written by `write` on a thread)."""
        self.dirty = False
        return json.dumps({"keys": {k: v.to_json() for k, v in self.keys.items()}, "aliases": self.aliases}).encode()

    def save(self) -> None:
        self.write(self.snapshot())

    def write(self, content: bytes) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        write_private_file(self.path, content)

    def rewrap(self, keyring: MasterKeyring) -> int:
        """Re-wraps every key's material under the keyring's current master key (`twinstore keys rotate`)."""
        n = 0
        for key in self.keys.values():
            for i, m in enumerate(key.materials):
                if m["kid"] != keyring.current:
                    secret = keyring.unwrap(m["kid"], base64.b64decode(m["wk"]), _label(key.key_id, i))
                    kid, wk = keyring.wrap(secret, _label(key.key_id, i))
                    key.materials[i] = {"kid": kid, "wk": base64.b64encode(wk).decode()}
                    n += 1
        self.save()
        return n

    # ---- keys -------------------------------------------------------------------------------------------
    def arn_of(self, key_id: str) -> str:
        return f"arn:aws:kms:{self.region}:{self.account_id}:key/{key_id}"

    def create(self, now_us: int, description: str = "", manager: str = "CUSTOMER") -> Key:
        key_id = str(uuid.uuid4())
        key = Key(key_id, self.arn_of(key_id), now_us, description, manager=manager,
                  rotation=manager == "AWS", rotated_us=now_us)
        self._add_material(key)
        self.keys[key_id] = key
        self.dirty = True
        return key

    def _add_material(self, key: Key) -> None:
        secret = secrets.token_bytes(32)
        index = len(key.materials)
        kid, wk = self.keyring.wrap(secret, _label(key.key_id, index))
        key.materials.append({"kid": kid, "wk": base64.b64encode(wk).decode()})
        self._material[(key.key_id, index)] = secret

    def rotate(self, key: Key, now_us: int, kind: str) -> None:
        """New key material for new encryptions; the old material keeps decrypting what it encrypted."""
        self._add_material(key)
        key.rotated_us = now_us
        key.rotations.append({"date": now_us, "type": kind})
        self.dirty = True

    def rotate_if_due(self, key: Key, now_us: int) -> None:
        """Automatic rotation: once rotation is enabled, every `rotation_days` after the last one."""
        if key.rotation and key.state == "Enabled" and now_us >= key.rotated_us + key.rotation_days * DAY_US:
            self.rotate(key, now_us, "AUTOMATIC")

    def material(self, key: Key, index: int) -> bytes:
        found = self._material.get((key.key_id, index))
        if found is None:
            if index >= len(key.materials):
                raise kms_error("InvalidCiphertextException", "The ciphertext refers to key material that does "
                                                              "not exist.")
            m = key.materials[index]
            found = self._material[(key.key_id, index)] = self.keyring.unwrap(
                m["kid"], base64.b64decode(m["wk"]), _label(key.key_id, index))
        return found

    def expire(self, now_us: int) -> None:
        """Deletes keys whose deletion window has passed."""
        gone = [k for k, v in self.keys.items() if v.state == "PendingDeletion" and v.deletion_us <= now_us]
        for k in gone:
            del self.keys[k]
            self.aliases = {a: v for a, v in self.aliases.items() if v["target"] != k}
        if gone:
            self.dirty = True

    def resolve(self, ref: str | None, now_us: int) -> Key:
        """A key by id, key ARN, alias name or alias ARN."""
        self.expire(now_us)
        if not ref:
            raise AWSError("ValidationException", "KeyId is required", status=400)
        name = ref
        if ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) != 6 or parts[2] != "kms":
                raise kms_error("NotFoundException", f"Invalid keyId '{ref}'")
            if parts[3] != self.region or parts[4] != self.account_id:
                raise kms_error("NotFoundException", f"Key '{ref}' does not exist")
            name = parts[5]
            if name.startswith("key/"):
                name = name[4:]
        if name.startswith("alias/"):
            if name == S3_ALIAS and name not in self.aliases:
                return self.s3_managed_key(now_us)
            alias = self.aliases.get(name)
            if alias is None:
                raise kms_error("NotFoundException", f"Alias '{self._alias_arn(name)}' is not found.")
            name = alias["target"]
        key = self.keys.get(name)
        if key is None:
            raise kms_error("NotFoundException", f"Key '{self.arn_of(name)}' does not exist")
        return key

    def s3_managed_key(self, now_us: int) -> Key:
        """The AWS managed key for S3 (alias/aws/s3), created on first use."""
        alias = self.aliases.get(S3_ALIAS)
        if alias is not None and alias["target"] in self.keys:
            return self.keys[alias["target"]]
        key = self.create(now_us, "Default key that protects my S3 objects when no other key is defined",
                          manager="AWS")
        self.aliases[S3_ALIAS] = {"target": key.key_id, "created_us": now_us, "updated_us": now_us}
        self.dirty = True
        return key

    def _alias_arn(self, name: str) -> str:
        return f"arn:aws:kms:{self.region}:{self.account_id}:{name}"

    @staticmethod
    def usable(key: Key) -> None:
        """Cryptographic operations need an enabled key."""
        if key.state == "Disabled":
            raise kms_error("DisabledException", f"{key.arn} is disabled.")
        if key.state == "PendingDeletion":
            raise kms_error("KMSInvalidStateException", f"{key.arn} is pending deletion.")

    # ---- cryptography -----------------------------------------------------------------------------------
    def encrypt(self, key: Key, plaintext: bytes, context: dict[str, str] | None, now_us: int = 0) -> bytes:
        self.usable(key)
        if now_us:
            self.rotate_if_due(key, now_us)
        index = len(key.materials) - 1
        kid = key.key_id.encode()
        nonce = secrets.token_bytes(12)
        header = MAGIC + bytes([len(kid)]) + kid + struct.pack(">H", index)
        sealed = AESGCM(self.material(key, index)).encrypt(nonce, plaintext, header + canonical_context(context))
        return header + nonce + sealed

    def decrypt(self, blob: bytes, context: dict[str, str] | None, now_us: int,
                expected: Key | None = None) -> tuple[Key, bytes]:
        try:
            if blob[:4] != MAGIC:
                raise ValueError
            n = blob[4]
            key_id = blob[5:5 + n].decode()
            (index,) = struct.unpack(">H", blob[5 + n:7 + n])
            header, nonce, sealed = blob[:7 + n], blob[7 + n:19 + n], blob[19 + n:]
        except (ValueError, IndexError, struct.error, UnicodeDecodeError):
            raise kms_error("InvalidCiphertextException", "The ciphertext is invalid.") from None
        self.expire(now_us)
        key = self.keys.get(key_id)
        if key is None:
            raise kms_error("InvalidCiphertextException", "The ciphertext refers to a key that does not exist.")
        if expected is not None and expected.key_id != key.key_id:
            raise kms_error("IncorrectKeyException", "The key ID in the request does not identify a CMK that can "
                                                     "perform this operation.")
        self.usable(key)
        try:
            plaintext = AESGCM(self.material(key, index)).decrypt(nonce, sealed, header + canonical_context(context))
        except (InvalidTag, ValueError, IntegrityError):
            raise kms_error("InvalidCiphertextException", "The ciphertext is invalid or the encryption context "
                                                          "does not match.") from None
        return key, plaintext


def _label(key_id: str, index: int) -> bytes:
    return f"kms|{key_id}|{index}".encode()
