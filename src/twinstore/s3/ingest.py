"""Taking an object body in: stream to a blob while hashing, verify every digest the client declared,
and only then make the blob durable. Nothing is visible until the caller commits metadata."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

from ..blob.files import BlobWriter
from ..protocol.errors import AWSError
from .checksums import ALGORITHMS, Checksum, new_checksum
from .http import S3Request
from .service import S3Service
from .sse import ON_LOOP_MAX, EncryptionPlan

MAX_PUT_SIZE = 5 * 1024 ** 3
DEFAULT_ALGORITHM = "CRC64NVME"  # what S3 computes when the client asks for none


INLINE_MAX = 64 * 1024  # bodies up to this size live in the metadata row (see docs/architecture.md)
HASH_ON_LOOP_MAX = 16 * 1024  # below this, hashing costs less than a hop to the I/O pool


@dataclass(slots=True)
class Ingested:
    blob_id: str  # "" when the data is inline
    size: int
    md5_hex: str
    checksum: dict[str, str]  # {"algorithm", "value", "type"}
    inline: bytes | None = None


def requested_checksum(req: S3Request) -> tuple[str, str | None, bool]:
    """(algorithm, value declared in a header or None, value arrives in a trailer?)."""
    h = req.headers
    for algo in ALGORITHMS:
        v = h.get("x-amz-checksum-" + algo.lower())
        if v is not None:
            return algo, v, False
    for t in req.body.declared_trailers:
        if t.startswith("x-amz-checksum-"):
            algo = t[len("x-amz-checksum-"):].upper()
            if algo not in ALGORITHMS:
                raise AWSError("InvalidRequest", f"Unsupported checksum trailer {t}")
            return algo, None, True
    algo = (h.get("x-amz-sdk-checksum-algorithm") or "").upper()
    if algo:
        if algo not in ALGORITHMS:
            raise AWSError("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid.")
        return algo, None, False
    return DEFAULT_ALGORITHM, None, False


def content_md5(headers: Mapping[str, str]) -> bytes | None:
    v = headers.get("content-md5")
    if v is None:
        return None
    try:
        raw = base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise AWSError("InvalidDigest", ContentMD5=v) from None
    if len(raw) != 16:
        raise AWSError("InvalidDigest", ContentMD5=v)
    return raw


async def ingest_body(svc: S3Service, req: S3Request, max_size: int = MAX_PUT_SIZE,
                      checksum_algorithm: str | None = None, allow_inline: bool = False,
                      plan: EncryptionPlan | None = None, part: int = 0) -> Ingested:
    """Streams the body to storage (encrypted by `plan`, as part `part` of a multipart upload)."""
    body = req.body
    if body.length is None and not body.chunked_transfer and not body.aws_chunked:
        raise AWSError("MissingContentLength")
    if body.length is not None and body.length > max_size:
        raise AWSError("EntityTooLarge", ProposedSize=body.length, MaxSizeAllowed=max_size)
    if checksum_algorithm:
        algo, declared, in_trailer = checksum_algorithm, None, False
        algo2, declared2, in_trailer2 = requested_checksum(req)
        if algo2 == algo:
            declared, in_trailer = declared2, in_trailer2
    else:
        algo, declared, in_trailer = requested_checksum(req)
    expected_md5 = content_md5(req.headers)
    md5 = hashlib.md5()
    checksum: Checksum = new_checksum(algo)
    hashers: list[Any] = [md5, checksum]
    sha = hashlib.sha256() if body.expected_sha256 else None
    if sha is not None:
        hashers.append(sha)

    def verify(value: str) -> None:
        if sha is not None and sha.hexdigest() != body.expected_sha256:
            raise AWSError("XAmzContentSHA256Mismatch", ClientComputedContentSHA256=body.expected_sha256,
                           S3ComputedContentSHA256=sha.hexdigest())
        if expected_md5 is not None and md5.digest() != expected_md5:
            raise AWSError("BadDigest", ExpectedDigest=base64.b64encode(expected_md5).decode())
        expected = body.trailers.get("x-amz-checksum-" + algo.lower()) if in_trailer else declared
        if expected is not None and expected != value:
            raise AWSError("BadDigest", f"The {algo} you specified did not match the calculated checksum.")

    if allow_inline and body.length is not None and body.length <= INLINE_MAX:
        parts: list[bytes] = []
        n = 0
        async for chunk in body.chunks():
            n += len(chunk)
            if n > INLINE_MAX:
                raise AWSError("IncompleteBody")
            parts.append(chunk)
        data = b"".join(parts)
        if len(data) <= HASH_ON_LOOP_MAX:
            _hash_all(hashers, data)
        else:
            await svc.blobs.pool.run(_hash_all, hashers, data)
        value = checksum.b64digest()
        verify(value)
        stored = data
        if plan is not None:
            stored = plan.seal_inline(data) if len(data) <= ON_LOOP_MAX else \
                await svc.blobs.pool.run(plan.seal_inline, data)
        return Ingested("", len(data), md5.hexdigest(), {"algorithm": algo, "value": value,
                                                         "type": "FULL_OBJECT"}, inline=stored)
    writer: BlobWriter = svc.blobs.writer(hashers, plan.transform(part) if plan is not None else None)
    try:
        async for chunk in body.chunks():
            await writer.write(chunk)
            if writer.size > max_size:
                raise AWSError("EntityTooLarge", MaxSizeAllowed=max_size)
        await writer.finish_hashing()
        value = checksum.b64digest()
        verify(value)
        blob_id = await writer.commit()
    except BaseException:
        await writer.abort()
        raise
    return Ingested(blob_id, writer.size, md5.hexdigest(), {"algorithm": algo, "value": value,
                                                            "type": "FULL_OBJECT"})


def _hash_all(hashers: list[Any], data: bytes) -> None:
    for h in hashers:
        h.update(data)
