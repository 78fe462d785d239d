"""The destination half of replication: internal operations that write a replica with its ORIGINAL version id.

A replication worker (replication/worker.py) sends the ordinary S3 request for the change (PUT object, DELETE
object, PUT ?tagging), signed as the configuration's role, plus the header `x-amz-twinstore-replication`: the
source version's identity and metadata as base64 JSON. The edge routes such requests here, as the operations
ReplicateObject / ReplicateDelete / ReplicateTags (the IAM actions `s3:ReplicateObject`, ...), instead of to
PutObject / DeleteObject / PutObjectTagging.

A replica keeps key, version id, Last-Modified, ETag, checksum, content headers, user metadata, tags, storage
class and multipart layout; it is marked REPLICA, which is what stops it being replicated again. Writing is
idempotent (a version id already present is acknowledged without change) and the data is verified end to end:
the MD5 (per part for multipart objects, giving the `-N` ETag) and the full-object checksum must match the
source's, or nothing is stored. SSE-C versions travel as ciphertext with their envelope (s3/ssec_replica.py)
and are verified by the ciphertext's length and SHA-256 instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from ..crypto.envelope import SSE_C, SSE_KMS, SSE_S3
from ..meta.ids import timestamp_of
from ..meta.model import VERSIONING_ENABLED, BlobSegment, Bucket, ObjectVersion
from ..protocol.errors import AWSError
from .checksums import ALGORITHMS, new_checksum
from .http import S3Request, S3Response
from .ingest import HASH_ON_LOOP_MAX, INLINE_MAX, MAX_PUT_SIZE, _hash_all
from .names import check_key
from .service import S3Service, handles
from .sse import EncryptionPlan, Keyring, Requested, bucket_default, plan_for
from .ssec_replica import CiphertextCheck, is_ciphertext, replica_envelope, write_blobs

REPLICATION_HEADER = "x-amz-twinstore-replication"
REPLICA = "REPLICA"
INTERNAL_OPERATIONS = {"PutObject": "ReplicateObject", "DeleteObject": "ReplicateDelete",
                       "PutObjectTagging": "ReplicateTags"}


def replication_operation(operation: str, headers: dict[str, str]) -> str:
    """The internal operation a replication request asks for (else `operation` unchanged)."""
    if REPLICATION_HEADER in headers:
        return INTERNAL_OPERATIONS.get(operation, operation)
    return operation


def encode_descriptor(d: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(d, separators=(",", ":")).encode()).decode()


def _descriptor(req: S3Request) -> dict[str, Any]:
    try:
        d = json.loads(base64.b64decode(req.headers[REPLICATION_HEADER], validate=True))
    except (binascii.Error, ValueError, KeyError):
        raise AWSError("InvalidArgument", "Invalid replication descriptor", ArgumentName=REPLICATION_HEADER) from None
    if not isinstance(d, dict) or not isinstance(d.get("vid"), str) or timestamp_of(d["vid"]) is None \
            or not isinstance(d.get("lm"), int):
        raise AWSError("InvalidArgument", "Invalid replication descriptor", ArgumentName=REPLICATION_HEADER)
    return d


async def _destination(svc: S3Service, req: S3Request) -> Bucket:
    bucket = await replica_bucket(svc, req.bucket)
    check_key(req.key or "")
    return bucket


async def replica_bucket(svc: S3Service, name: str | None) -> Bucket:
    """The destination bucket, which must have versioning Enabled (else FAILED with DstBucketUnversioned)."""
    bucket = await svc.bucket(name)
    if bucket.versioning != VERSIONING_ENABLED:
        raise AWSError("InvalidRequest", "Destination bucket must have versioning enabled.",
                       headers={"x-amz-twinstore-replication-failure": "DstBucketUnversioned"})
    return bucket


def _replica(bucket: Bucket, key: str, d: dict[str, Any]) -> ObjectVersion:
    return ObjectVersion(bucket_id=bucket.id, key=key, vid=d["vid"], null_version=False, is_latest=True,
                         delete_marker=bool(d.get("dm")), last_modified_us=d["lm"], owner=str(d.get("owner", "")),
                         extra={"replication": {"status": REPLICA, "src": str(d.get("src", ""))}})


class _PartMd5:
    """MD5 of each part of a multipart object, cut at the source's part boundaries."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = list(sizes)
        self.digests: list[bytes] = []
        self._cur = hashlib.md5()
        self._left = self.sizes[0] if self.sizes else 0
        self._i = 0

    def update(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._left == 0:
                self._next()
                if self._i >= len(self.sizes):
                    raise AWSError("IncompleteBody")
            n = min(self._left, len(view))
            self._cur.update(view[:n])
            self._left -= n
            view = view[n:]

    def _next(self) -> None:
        self.digests.append(self._cur.digest())
        self._cur = hashlib.md5()
        self._i += 1
        self._left = self.sizes[self._i] if self._i < len(self.sizes) else 0

    def etag(self) -> str:
        while self._i < len(self.sizes):
            self._next()
        return f"{hashlib.md5(b''.join(self.digests)).hexdigest()}-{len(self.sizes)}"


async def replica_plan(svc: S3Service, bucket: Bucket, key: str, d: dict[str, Any]) -> EncryptionPlan | None:
    """How the replica is encrypted here, with this region's keys: SSE-S3 stays SSE-S3, SSE-KMS is re-encrypted
    under the rule's ReplicaKmsKeyID, anything else gets the destination bucket's default."""
    sse = d.get("sse") or {}
    alg = sse.get("alg")
    if alg == SSE_KMS:
        req = Requested(SSE_KMS, sse.get("kms") or None)
    elif alg == SSE_S3:
        req = Requested(SSE_S3)
    else:
        req = bucket_default(bucket)
    return await plan_for(svc.sse, req, bucket, key)


def _opaque_etag(d: dict[str, Any]) -> bool:
    """SSE-KMS and SSE-C ETags are not the data's MD5: only the checksum can verify such data."""
    return (d.get("sse") or {}).get("alg") in (SSE_KMS, SSE_C)


def small_replica(bucket: Bucket, key: str, d: dict[str, Any], data: bytes,
                  plan: EncryptionPlan | None = None, keyring: Keyring | None = None) -> ObjectVersion:
    """A replica (or replicated delete marker) whose data came whole in a batch, digests verified, sealed by
    `plan` (SSE-C ciphertext: kept as sent, its origin tagged with `keyring`); runs off-loop."""
    v = _replica(bucket, key, d)
    if v.delete_marker:
        return v
    check_key(key)
    if is_ciphertext(d):
        _fill(v, d)
        check = CiphertextCheck(d)
        if not check.inline:
            raise AWSError("InvalidArgument", "Invalid replication descriptor (SSE-C layout)")
        check.update(data)
        check.verify()
        v.inline, v.encryption = data, replica_envelope(keyring, bucket.id, key, d)
        return v
    if len(data) != int(d.get("size", -1)) or len(data) > INLINE_MAX:
        raise AWSError("IncompleteBody")
    _fill(v, d)
    md5 = hashlib.md5(data)
    if v.part_sizes:
        parts = _PartMd5(v.part_sizes)
        parts.update(data)
        etag = parts.etag()
    else:
        etag = md5.hexdigest()
    full = _full_checksum(v)
    if (etag != v.etag and not _opaque_etag(d)) or (full is not None and _digest(full["algorithm"], data) != full["value"]):
        raise AWSError("BadDigest", "The replicated data does not match the source version's digests.")
    v.inline = plan.seal_inline(data) if plan is not None else data
    if plan is not None:
        v.encryption = plan.envelope.to_json()
    return v


def _fill(v: ObjectVersion, d: dict[str, Any]) -> None:
    v.size, v.etag = int(d.get("size", 0)), str(d.get("etag", ""))
    v.headers, v.user_meta, v.tags = dict(d.get("headers") or {}), dict(d.get("meta") or {}), dict(d.get("tags") or {})
    v.storage_class = str(d.get("sc") or "STANDARD")
    v.checksum = dict(d.get("checksum") or {})
    v.part_sizes = list(d.get("parts") or [])
    if d.get("part_checksums"):
        v.extra["part_checksums"] = d["part_checksums"]


def _full_checksum(v: ObjectVersion) -> dict[str, str] | None:
    c = v.checksum
    return c if c.get("type", "FULL_OBJECT") == "FULL_OBJECT" and c.get("algorithm") in ALGORITHMS else None


def _digest(algorithm: str, data: bytes) -> str:
    c = new_checksum(algorithm)
    c.update(data)
    return c.b64digest()


@handles("ReplicateObject")
async def replicate_object(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await _destination(svc, req)
    d = _descriptor(req)
    key = req.key or ""
    if is_ciphertext(d):
        return await _replicate_ciphertext(svc, req, bucket, key, d)
    size = int(d.get("size", -1))
    if req.body.length is None or req.body.length != size or size > MAX_PUT_SIZE:
        raise AWSError("IncompleteBody", "The request body does not match the replicated version's size")
    if size > INLINE_MAX:  # a retry of a delivery that already committed: skip the body (put_replica re-checks)
        existing = await svc.store.get_version(bucket.id, key, d["vid"])
        if existing is not None:
            return S3Response({"ETag": f'"{existing.etag}"', "VersionId": existing.vid})
    v = _replica(bucket, key, d)
    _fill(v, d)
    md5 = hashlib.md5()
    parts = _PartMd5(v.part_sizes) if v.part_sizes else None
    full = _full_checksum(v)
    checksum = new_checksum(full["algorithm"]) if full else None
    hashers: list[Any] = [h for h in (md5, parts, checksum) if h is not None]

    def verify() -> None:
        etag = parts.etag() if parts is not None else md5.hexdigest()
        if (etag != v.etag and not _opaque_etag(d)) or \
                (checksum is not None and full is not None and checksum.b64digest() != full["value"]):
            raise AWSError("BadDigest", "The replicated data does not match the source version's digests.")

    blob_id = ""
    plan = await replica_plan(svc, bucket, key, d)
    if plan is not None:
        v.encryption = plan.envelope.to_json()
    if size <= INLINE_MAX:
        data = await req.body.read_all(INLINE_MAX)
        if len(data) != size:
            raise AWSError("IncompleteBody")
        if len(data) <= HASH_ON_LOOP_MAX:
            _hash_all(hashers, data)
        else:
            await svc.blobs.pool.run(_hash_all, hashers, data)
        verify()
        v.inline = plan.seal_inline(data) if plan is not None else data
    else:
        writer = svc.blobs.writer(hashers, plan.transform(0) if plan is not None else None)
        try:
            async for chunk in req.body.chunks():
                await writer.write(chunk)
                if writer.size > size:
                    raise AWSError("IncompleteBody")
            await writer.finish_hashing()
            if writer.size != size:
                raise AWSError("IncompleteBody")
            verify()
            blob_id = await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        v.segments = [BlobSegment(blob_id, size)]
    try:
        inserted, freed = await svc.store.put_replica(v)
    except BaseException:
        if blob_id:
            await svc.blobs.delete([blob_id])
        raise
    if not inserted and blob_id:
        freed.append(BlobSegment(blob_id, size))
    svc.free_later(freed)
    return S3Response({"ETag": f'"{v.etag}"', "VersionId": v.vid})


async def _replicate_ciphertext(svc: S3Service, req: S3Request, bucket: Bucket, key: str,
                                d: dict[str, Any]) -> S3Response:
    """An SSE-C version: its sealed segments stored as sent, its envelope verbatim (plus the origin record)."""
    check = CiphertextCheck(d)
    if req.body.length is None or req.body.length != check.length or int(d["size"]) > MAX_PUT_SIZE:
        raise AWSError("IncompleteBody", "The request body does not match the replicated version's size")
    existing = await svc.store.get_version(bucket.id, key, d["vid"])
    if existing is not None:  # a retry of a delivery that already committed
        return S3Response({"ETag": f'"{existing.etag}"', "VersionId": existing.vid})
    v = _replica(bucket, key, d)
    _fill(v, d)
    v.encryption = replica_envelope(svc.sse.keyring, bucket.id, key, d)
    if check.inline:
        data = await req.body.read_all(INLINE_MAX + (1 << 12))
        check.update(data)
        check.verify()
        v.inline = data
    else:
        v.segments = await write_blobs(svc, check, req.body.chunks())
    try:
        inserted, freed = await svc.store.put_replica(v)
    except BaseException:
        if v.segments:
            await svc.blobs.delete([s.blob_id for s in v.segments])
        raise
    if not inserted:
        freed.extend(v.segments)
    svc.free_later(freed)
    return S3Response({"ETag": f'"{v.etag}"', "VersionId": v.vid})


@handles("ReplicateDelete")
async def replicate_delete(svc: S3Service, req: S3Request) -> S3Response:
    """A delete marker, replicated with its id (a delete of a specific version is never replicated)."""
    bucket = await _destination(svc, req)
    d = _descriptor(req)
    marker = _replica(bucket, req.key or "", d)
    marker.delete_marker = True
    _, freed = await svc.store.put_replica(marker)
    svc.free_later(freed)
    return S3Response({"DeleteMarker": True, "VersionId": marker.vid}, status=204)


@handles("ReplicateTags")
async def replicate_tags(svc: S3Service, req: S3Request) -> S3Response:
    """A tag change of a version made in the other bucket (source change, or a replica's with ReplicaModifications)."""
    bucket = await svc.bucket(req.bucket)
    d = _descriptor(req)
    found = await svc.store.replicate_tags(bucket.id, req.key or "", d["vid"], dict(d.get("tags") or {}))
    if not found:
        raise AWSError("NoSuchVersion", Key=req.key, VersionId=d["vid"])
    return S3Response({"VersionId": d["vid"]})
