"""KMS operations (the `kms` ApiService) and the data-key calls S3 makes for SSE-KMS."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from ..auth.request import ApiRequest
from ..protocol.errors import AWSError
from ..protocol.timefmt import now_us
from .keys import DAY_US, Key, KeyStore, kms_error
MAX_PLAINTEXT = 4096
Op = Callable[["KmsService", ApiRequest], Awaitable[dict[str, Any]]]
OPS: dict[str, Op] = {}


def op(name: str) -> Callable[[Op], Op]:
    def register(fn: Op) -> Op:
        OPS[name] = fn
        return fn
    return register


class KmsService:
    service = "kms"

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._lock = asyncio.Lock()

    async def call(self, req: ApiRequest) -> dict[str, Any]:
        fn = OPS.get(req.operation)
        if fn is None:
            raise AWSError("UnsupportedOperationException", f"twinstore does not implement {req.operation}",
                           status=400)
        async with self._lock:
            try:
                return await fn(self, req)
            finally:
                await self.persist()

    async def persist(self) -> None:
        """Writes changed key metadata durably (off the event loop) before the caller is answered."""
        if self.store.dirty:
            await asyncio.to_thread(self.store.write, self.store.snapshot())

    # ---- for S3 (s3/sse.py DataKeyService) ---------------------------------------------------------------
    async def generate_data_key(self, key_id: str | None, context: dict[str, str]) -> tuple[str, bytes, bytes]:
        async with self._lock:
            try:
                now = now_us()
                key = self.store.s3_managed_key(now) if key_id is None else self.store.resolve(key_id, now)
                import secrets
                plaintext = secrets.token_bytes(32)
                return key.arn, plaintext, self.store.encrypt(key, plaintext, context, now)
            finally:
                await self.persist()

    async def decrypt_data_key(self, blob: bytes, context: dict[str, str]) -> bytes:
        return self.store.decrypt(blob, context, now_us())[1]

    def metadata(self, key: Key) -> dict[str, Any]:
        md: dict[str, Any] = {
            "AWSAccountId": self.store.account_id, "KeyId": key.key_id, "Arn": key.arn,
            "CreationDate": key.created_us, "Enabled": key.state == "Enabled", "Description": key.description,
            "KeyUsage": key.key_usage, "KeyState": key.state, "Origin": "AWS_KMS", "KeyManager": key.manager,
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": False}
        if key.state == "PendingDeletion":
            md["DeletionDate"] = key.deletion_us
            md["PendingDeletionWindowInDays"] = key.pending_days
        return md

    def key(self, req: ApiRequest, member: str = "KeyId") -> Key:
        return self.store.resolve(req.params.get(member), now_us())

    def customer_key(self, req: ApiRequest) -> Key:
        key = self.key(req)
        if key.manager == "AWS":
            raise AWSError("NotAuthorizedException", f"{key.arn} is an AWS managed key; it cannot be changed.",
                           status=400)
        return key


def _context(req: ApiRequest) -> dict[str, str]:
    ctx = req.params.get("EncryptionContext") or {}
    return {str(k): str(v) for k, v in ctx.items()}


def _page(items: list[Any], req: ApiRequest) -> tuple[list[Any], dict[str, Any]]:
    limit = req.params.get("Limit") or 100
    if not 1 <= limit <= 1000:
        raise AWSError("ValidationException", "Limit must be between 1 and 1000", status=400)
    start = 0
    marker = req.params.get("Marker")
    if marker:
        try:
            start = int(marker)
        except ValueError:
            raise AWSError("InvalidMarkerException", "Invalid marker", status=400) from None
    page = items[start:start + limit]
    out: dict[str, Any] = {"Truncated": start + limit < len(items)}
    if out["Truncated"]:
        out["NextMarker"] = str(start + limit)
    return page, out


@op("CreateKey")
async def create_key(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    p = req.params
    spec = p.get("KeySpec") or p.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if spec != "SYMMETRIC_DEFAULT" or (p.get("KeyUsage") or "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        raise AWSError("UnsupportedOperationException", "twinstore supports symmetric encryption keys only",
                       status=400)
    if (p.get("Origin") or "AWS_KMS") != "AWS_KMS":
        raise AWSError("UnsupportedOperationException", "twinstore supports Origin AWS_KMS only", status=400)
    key = svc.store.create(now_us(), p.get("Description") or "")
    return {"KeyMetadata": svc.metadata(key)}


@op("DescribeKey")
async def describe_key(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    return {"KeyMetadata": svc.metadata(svc.key(req))}


@op("ListKeys")
async def list_keys(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    svc.store.expire(now_us())
    keys = sorted(svc.store.keys.values(), key=lambda k: (k.created_us, k.key_id))
    page, out = _page(keys, req)
    out["Keys"] = [{"KeyId": k.key_id, "KeyArn": k.arn} for k in page]
    return out


@op("CreateAlias")
async def create_alias(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    name = req.params.get("AliasName") or ""
    if not name.startswith("alias/") or len(name) <= 6:
        raise AWSError("ValidationException", "Alias must start with the prefix \"alias/\".", status=400)
    if name.startswith("alias/aws/"):
        raise AWSError("NotAuthorizedException", "Cannot create alias with prefix 'alias/aws/'", status=400)
    target = req.params.get("TargetKeyId") or ""
    if target.startswith("alias/") or target.startswith("arn:") and ":alias/" in target:
        raise AWSError("ValidationException", "Aliases must refer to keys. Not aliases", status=400)
    key = svc.store.resolve(target, now_us())
    if name in svc.store.aliases:
        raise AWSError("AlreadyExistsException", f"An alias with the name {svc.store._alias_arn(name)} already "
                                                 "exists", status=400)
    now = now_us()
    svc.store.aliases[name] = {"target": key.key_id, "created_us": now, "updated_us": now}
    svc.store.dirty = True
    return {}


@op("DeleteAlias")
async def delete_alias(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    name = req.params.get("AliasName") or ""
    if name.startswith("alias/aws/"):
        raise AWSError("NotAuthorizedException", "Cannot delete alias with prefix 'alias/aws/'", status=400)
    if svc.store.aliases.pop(name, None) is None:
        raise kms_error("NotFoundException", f"Alias {svc.store._alias_arn(name)} is not found.")
    svc.store.dirty = True
    return {}


@op("ListAliases")
async def list_aliases(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    target = svc.key(req).key_id if req.params.get("KeyId") else None
    rows = sorted(svc.store.aliases.items())
    rows = [(n, a) for n, a in rows if target is None or a["target"] == target]
    page, out = _page(rows, req)
    out["Aliases"] = [{"AliasName": n, "AliasArn": svc.store._alias_arn(n), "TargetKeyId": a["target"],
                       "CreationDate": a["created_us"], "LastUpdatedDate": a["updated_us"]} for n, a in page]
    return out


@op("Encrypt")
async def encrypt(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    plaintext = req.params.get("Plaintext") or b""
    if not 1 <= len(plaintext) <= MAX_PLAINTEXT:
        raise AWSError("ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy "
                                              "constraint: Member must have length between 1 and 4096",
                       status=400)
    key = svc.key(req)
    return {"CiphertextBlob": svc.store.encrypt(key, plaintext, _context(req), now_us()), "KeyId": key.arn,
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


@op("Decrypt")
async def decrypt(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    expected = svc.key(req) if req.params.get("KeyId") else None
    key, plaintext = svc.store.decrypt(req.params.get("CiphertextBlob") or b"", _context(req), now_us(), expected)
    return {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


def _data_key_size(req: ApiRequest) -> int:
    spec, n = req.params.get("KeySpec"), req.params.get("NumberOfBytes")
    if (spec is None) == (n is None):
        raise AWSError("ValidationException", "Please specify either number of bytes or key spec.", status=400)
    if spec is not None:
        if spec not in ("AES_256", "AES_128"):
            raise AWSError("ValidationException", f"Invalid KeySpec {spec}", status=400)
        return 32 if spec == "AES_256" else 16
    if not 1 <= n <= 1024:
        raise AWSError("ValidationException", "NumberOfBytes must be between 1 and 1024", status=400)
    return int(n)


@op("GenerateDataKey")
async def generate_data_key(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    import secrets
    size = _data_key_size(req)
    key = svc.key(req)
    plaintext = secrets.token_bytes(size)
    return {"CiphertextBlob": svc.store.encrypt(key, plaintext, _context(req), now_us()), "Plaintext": plaintext,
            "KeyId": key.arn}


@op("GenerateDataKeyWithoutPlaintext")
async def generate_data_key_without_plaintext(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    out = await generate_data_key(svc, req)
    del out["Plaintext"]
    return out


@op("EnableKeyRotation")
async def enable_key_rotation(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    key = svc.customer_key(req)
    days = req.params.get("RotationPeriodInDays") or 365
    if not 90 <= days <= 2560:
        raise AWSError("ValidationException", "RotationPeriodInDays must be between 90 and 2560", status=400)
    _enabled_or_invalid(key)
    if not key.rotation:
        key.rotated_us = now_us()  # the first automatic rotation comes one period after enabling
    key.rotation, key.rotation_days = True, int(days)
    svc.store.dirty = True
    return {}


@op("DisableKeyRotation")
async def disable_key_rotation(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    key = svc.customer_key(req)
    _enabled_or_invalid(key)
    key.rotation = False
    svc.store.dirty = True
    return {}


@op("GetKeyRotationStatus")
async def get_key_rotation_status(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    key = svc.key(req)
    out: dict[str, Any] = {"KeyRotationEnabled": key.rotation, "KeyId": key.key_id}
    if key.rotation:
        out["RotationPeriodInDays"] = key.rotation_days
        out["NextRotationDate"] = key.rotated_us + key.rotation_days * DAY_US
    return out


@op("RotateKeyOnDemand")
async def rotate_key_on_demand(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    key = svc.customer_key(req)
    _enabled_or_invalid(key)
    svc.store.rotate(key, now_us(), "ON_DEMAND")
    return {"KeyId": key.key_id}


@op("ListKeyRotations")
async def list_key_rotations(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    key = svc.key(req)
    page, out = _page(key.rotations, req)
    out["Rotations"] = [{"KeyId": key.key_id, "RotationDate": r["date"], "RotationType": r["type"]} for r in page]
    return out


def _enabled_or_invalid(key: Key) -> None:
    if key.state == "Disabled":
        raise AWSError("DisabledException", f"{key.arn} is disabled.", status=400)
    if key.state == "PendingDeletion":
        raise AWSError("KMSInvalidStateException", f"{key.arn} is pending deletion.", status=400)


@op("ScheduleKeyDeletion")
async def schedule_key_deletion(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    key = svc.customer_key(req)
    days = req.params.get("PendingWindowInDays") or 30
    if not 7 <= days <= 30:
        raise AWSError("ValidationException", "PendingWindowInDays must be between 7 and 30", status=400)
    if key.state == "PendingDeletion":
        raise AWSError("KMSInvalidStateException", f"{key.arn} is pending deletion.", status=400)
    key.state, key.pending_days = "PendingDeletion", int(days)
    key.deletion_us = now_us() + days * DAY_US
    svc.store.dirty = True
    return {"KeyId": key.arn, "DeletionDate": key.deletion_us, "KeyState": key.state,
            "PendingWindowInDays": key.pending_days}


@op("CancelKeyDeletion")
async def cancel_key_deletion(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    key = svc.customer_key(req)
    if key.state != "PendingDeletion":
        raise AWSError("KMSInvalidStateException", f"{key.arn} is not pending deletion.", status=400)
    key.state, key.deletion_us, key.pending_days = "Disabled", 0, 0
    svc.store.dirty = True
    return {"KeyId": key.arn}


def _set_state(svc: KmsService, req: ApiRequest, state: str) -> dict[str, Any]:
    """Enable/DisableKey: any state but pending deletion may change to `state`."""
    key = svc.customer_key(req)
    if key.state == "PendingDeletion":
        raise AWSError("KMSInvalidStateException", f"{key.arn} is pending deletion.", status=400)
    key.state = state
    svc.store.dirty = True
    return {}


@op("DisableKey")
async def disable_key(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    return _set_state(svc, req, "Disabled")


@op("EnableKey")
async def enable_key(svc: KmsService, req: ApiRequest) -> dict[str, Any]:
    return _set_state(svc, req, "Enabled")


