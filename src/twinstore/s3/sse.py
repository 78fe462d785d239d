"""Server-side encryption of object data: which encryption a write gets (request headers, else the bucket's
default, else SSE-S3), envelopes and data keys, and the two reusable paths every writer and reader uses:
`EncryptionPlan.transform`/`seal_inline` on ingest and `plaintext` on read. Replication uses the same
functions: read a version's plaintext with `open_version` + `plaintext`, write it elsewhere with `plan_for`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import ipaddress
import json
import mmap
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Protocol

from ..crypto import customer
from ..crypto.envelope import SSE_C, SSE_KMS, SSE_S3, Envelope
from ..crypto.keyring import unwrap_with, wrap_with
from ..crypto.segments import (TAG, IntegrityError, SegmentEncryptor, StreamContext, decrypt_segments, encrypt_all,
                               sealed_range, sealed_size, segment_count)
from ..meta.model import Bucket, ObjectVersion
from ..protocol.errors import AWSError

SSE_VALUES = {SSE_S3: SSE_S3, "aws:kms": SSE_KMS, "aws:kms:dsse": SSE_KMS}
READ_BYTES = 1 << 20  # plaintext bytes per read from disk (whole segments: at least one)
READ_AHEAD = 4  # reads in flight beyond the one being sent
UNMAP_BEHIND = 1 << 20  # see _open_mapped
ON_LOOP_MAX = 16 * 1024  # below this, encrypting/decrypting costs less than a hop to the I/O pool


class DataKeyService(Protocol):
    """What S3 needs from KMS (kms/ implements it; region.py wires it)."""

    async def generate_data_key(self, key_id: str | None, context: dict[str, str]) -> tuple[str, bytes, bytes]:
        """(key ARN, plaintext data key, ciphertext blob); key_id None: the aws/s3 managed key."""
        ...

    async def decrypt_data_key(self, blob: bytes, context: dict[str, str]) -> bytes: ...


class Keyring(Protocol):
    def wrap(self, secret: bytes, context: bytes = b"") -> tuple[str, bytes]: ...
    def unwrap(self, kid: str, wrapped: bytes, context: bytes = b"") -> bytes: ...


BUCKET_KEY_TTL = 300.0  # seconds an S3 Bucket Key is reused / kept open before KMS is asked again
BUCKET_KEY_CACHE = 1024


@dataclass
class SSEConfig:
    """A region's encryption settings (S3Service.sse), and its S3 Bucket Keys: with BucketKeyEnabled, a
    time-limited bucket-level key from KMS wraps the objects' data keys, so KMS is asked once per bucket and
    period instead of once per object (what S3 Bucket Keys are for)."""

    keyring: Keyring | None = None
    kms: DataKeyService | None = None
    at_rest: bool = True  # False only for benchmarks (twinstore server --unencrypted-for-benchmarks)
    sse_c_over_http: str = "loopback"  # never | loopback | always
    _made: dict[tuple[int, str | None, str], tuple[float, str, bytes, bytes]] = field(default_factory=dict)
    _opened: dict[bytes, tuple[float, bytes]] = field(default_factory=dict)

    async def bucket_key(self, bucket_id: int, key_id: str | None, context: dict[str, str]) \
            -> tuple[str, bytes, bytes]:
        """(KMS key ARN, bucket key, its KMS ciphertext blob), reused for BUCKET_KEY_TTL seconds."""
        assert self.kms is not None
        cache_key = (bucket_id, key_id, json.dumps(context, sort_keys=True))
        now = time.monotonic()
        found = self._made.get(cache_key)
        if found is not None and found[0] > now:
            return found[1], found[2], found[3]
        arn, plain, blob = await self.kms.generate_data_key(key_id, context)
        _bounded(self._made)[cache_key] = (now + BUCKET_KEY_TTL, arn, plain, blob)
        _bounded(self._opened)[blob] = (now + BUCKET_KEY_TTL, plain)
        return arn, plain, blob

    async def open_bucket_key(self, blob: bytes, context: dict[str, str]) -> bytes:
        now = time.monotonic()
        found = self._opened.get(blob)
        if found is not None and found[0] > now:
            return found[1]
        assert self.kms is not None
        plain = await self.kms.decrypt_data_key(blob, context)
        _bounded(self._opened)[blob] = (now + BUCKET_KEY_TTL, plain)
        return plain


def _bounded(cache: dict[Any, Any]) -> dict[Any, Any]:
    if len(cache) >= BUCKET_KEY_CACHE:
        cache.clear()
    return cache


@dataclass(slots=True)
class CustomerKey:
    key: bytes
    md5: str  # base64, as sent


@dataclass(slots=True)
class Requested:
    """The encryption a write asked for (or inherits from the bucket)."""

    algorithm: str  # SSE_S3 | SSE_KMS | SSE_C
    kms_key_id: str | None = None
    bucket_key: bool = False
    context_header: str = ""  # x-amz-server-side-encryption-context as sent (base64 JSON)
    customer: CustomerKey | None = None


# ---- request parsing -----------------------------------------------------------------------------------------
def customer_key(params: dict[str, Any], source_ip: str, secure: bool, sse: SSEConfig,
                 prefix: str = "") -> CustomerKey | None:
    """The SSE-C key trio of a request (`prefix` "CopySource" for the copy source's), validated."""
    algo = params.get(prefix + "SSECustomerAlgorithm")
    key_b64 = params.get(prefix + "SSECustomerKey")
    md5_b64 = params.get(prefix + "SSECustomerKeyMD5")
    if algo is None and key_b64 is None and md5_b64 is None:
        return None
    header = "x-amz-copy-source-server-side-encryption-customer-" if prefix else \
        "x-amz-server-side-encryption-customer-"
    if not _transport_ok(source_ip, secure, sse):
        raise AWSError("InvalidRequest", "Requests specifying Server Side Encryption with Customer provided keys "
                                         "must be made over a secure connection.")
    if algo is None:
        raise AWSError("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided keys "
                                          "must provide a valid encryption algorithm.",
                       ArgumentName=header + "algorithm")
    if algo != "AES256":
        raise AWSError("InvalidArgument", "The encryption algorithm specified is not valid.",
                       ArgumentName=header + "algorithm", ArgumentValue=algo)
    if key_b64 is None:
        raise AWSError("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided keys "
                                          "must provide an appropriate secret key.", ArgumentName=header + "key")
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise AWSError("InvalidArgument", "The secret key was invalid for the specified algorithm.",
                       ArgumentName=header + "key")
    if md5_b64 is None:
        raise AWSError("InvalidArgument", "Requests specifying Server Side Encryption with Customer provided keys "
                                          "must provide the client calculated MD5 of the secret key.",
                       ArgumentName=header + "key-MD5")
    if base64.b64encode(hashlib.md5(key).digest()).decode() != md5_b64:
        raise AWSError("InvalidArgument", "The calculated MD5 hash of the key did not match the hash that was "
                                          "provided.", ArgumentName=header + "key-MD5")
    return CustomerKey(key, md5_b64)


def _transport_ok(source_ip: str, secure: bool, sse: SSEConfig) -> bool:
    if secure or sse.sse_c_over_http == "always":
        return True
    if sse.sse_c_over_http != "loopback":
        return False
    try:
        return ipaddress.ip_address(source_ip).is_loopback
    except ValueError:
        return False


def bucket_default(bucket: Bucket) -> Requested:
    """The bucket's default encryption (SSE-S3 when it has none, as AWS since 2023)."""
    config = bucket.configs.get("encryption")
    if config:
        rule = (config.get("Rules") or [{}])[0]
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        algo = SSE_VALUES.get(default.get("SSEAlgorithm", SSE_S3), SSE_S3)
        return Requested(algo, default.get("KMSMasterKeyID") or None,
                         bool(rule.get("BucketKeyEnabled")) and algo == SSE_KMS)
    return Requested(SSE_S3)


def requested(params: dict[str, Any], bucket: Bucket, source_ip: str = "", secure: bool = False,
              sse: SSEConfig | None = None) -> Requested:
    """What encryption a write gets: SSE-C headers, else x-amz-server-side-encryption, else the bucket's."""
    sse = sse or SSEConfig()
    value = params.get("ServerSideEncryption")
    kms_key = params.get("SSEKMSKeyId")
    ck = customer_key(params, source_ip, secure, sse)
    if ck is not None:
        if value is not None:
            raise AWSError("InvalidArgument", "Server Side Encryption with Customer provided key is incompatible "
                                              "with the encryption method specified",
                           ArgumentName="x-amz-server-side-encryption", ArgumentValue=value)
        return Requested(SSE_C, customer=ck)
    if value is not None:
        algo = SSE_VALUES.get(value)
        if algo is None:
            raise AWSError("InvalidArgument", "The encryption method specified is not supported",
                           ArgumentName="x-amz-server-side-encryption", ArgumentValue=value)
        if kms_key and algo != SSE_KMS:
            raise AWSError("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header "
                                              "x-amz-server-side-encryption : aws:kms",
                           ArgumentName="x-amz-server-side-encryption-aws-kms-key-id")
        bucket_key = params.get("BucketKeyEnabled")
        context = params.get("SSEKMSEncryptionContext") or ""
        if context:
            _context_from_header(context)
        if algo == SSE_KMS:
            default = bucket_default(bucket)
            return Requested(SSE_KMS, kms_key or None,
                             bool(bucket_key) if bucket_key is not None else default.bucket_key, context)
        return Requested(SSE_S3)
    if kms_key:
        raise AWSError("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header "
                                          "x-amz-server-side-encryption : aws:kms",
                       ArgumentName="x-amz-server-side-encryption-aws-kms-key-id")
    return bucket_default(bucket)


def _context_from_header(value: str) -> dict[str, str]:
    try:
        doc = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        doc = None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
        raise AWSError("InvalidArgument", "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded "
                                          "UTF-8 string holding JSON which represents a string-string map",
                       ArgumentName="x-amz-server-side-encryption-context")
    return doc


def _kms_context(env: Envelope, bucket: str, key: str) -> dict[str, str]:
    if env.context:
        return _context_from_header(env.context)
    return {"aws:s3:arn": f"arn:aws:s3:::{bucket}" if env.bucket_key else f"arn:aws:s3:::{bucket}/{key}"}


def kms_error(err: AWSError) -> AWSError:
    """A KMS failure as S3 reports it (KMS.DisabledException, KMS.KMSInvalidStateException, ...)."""
    code = err.code if err.code.startswith("KMS.") else "KMS." + err.code
    return AWSError(code, err.message, status=400 if err.status < 500 else err.status)


# ---- envelopes -------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class EncryptionPlan:
    """A new version's (or upload's) envelope with its data key in hand."""

    envelope: Envelope
    data_key: bytes
    bucket_id: int
    key: str

    def stream(self, part: int = 0) -> StreamContext:
        return self.envelope.stream(self.data_key, self.bucket_id, self.key, part)

    def transform(self, part: int = 0) -> SegmentEncryptor:
        return SegmentEncryptor(self.stream(part))

    def seal_inline(self, data: bytes) -> bytes:
        return encrypt_all(self.stream(), data)


async def plan_for(sse: SSEConfig, req: Requested, bucket: Bucket, key: str) -> EncryptionPlan | None:
    """A fresh data key and its envelope for data written to `bucket`/`key` (None: encryption at rest is off)."""
    if not sse.at_rest:
        return None
    rnd = os.urandom(48)  # data key, nonce prefix, stream id: one syscall
    data_key, prefix, sid = rnd[:32], rnd[32:36], rnd[36:]
    if req.algorithm == SSE_C:
        assert req.customer is not None
        salt, mac = customer.fingerprint(req.customer.key)
        env = Envelope(SSE_C, b"", prefix, sid, customer_md5=req.customer.md5, customer_salt=salt,
                       customer_mac=mac)
        env.wrapped_key = wrap_with(req.customer.key, data_key, env.sid)
    elif req.algorithm == SSE_KMS:
        if sse.kms is None:
            raise AWSError("KMS.NotFoundException", "KMS is not available in this region", status=400)
        env = Envelope(SSE_KMS, b"", prefix, sid, bucket_key=req.bucket_key, context=req.context_header)
        context = _kms_context(env, bucket.name, key)
        try:
            if req.bucket_key:
                arn, bucket_key, env.bucket_key_blob = await sse.bucket_key(bucket.id, req.kms_key_id, context)
                env.wrapped_key, env.kms_key = wrap_with(bucket_key, data_key, env.sid), arn
            else:
                arn, data_key, blob = await sse.kms.generate_data_key(req.kms_key_id, context)
                env.wrapped_key, env.kms_key = blob, arn
        except AWSError as e:
            raise kms_error(e) from None
    else:
        assert sse.keyring is not None
        env = Envelope(SSE_S3, b"", prefix, sid)
        env.kid, env.wrapped_key = sse.keyring.wrap(data_key, env.sid)
    return EncryptionPlan(env, data_key, bucket.id, key)


def check_customer(env: Envelope, ck: CustomerKey | None, copy_source: bool = False) -> None:
    """An SSE-C object needs its key; other objects must not be sent one."""
    if env.algorithm == SSE_C:
        if ck is None:
            raise AWSError("InvalidRequest", "The object was stored using a form of Server Side Encryption. The "
                                             "correct parameters must be provided to retrieve the object.")
        if not customer.matches(ck.key, env.customer_salt, env.customer_mac):
            raise AWSError("AccessDenied", "Access Denied")
    elif ck is not None:
        raise AWSError("InvalidRequest", "The encryption parameters are not applicable to this object.")


async def data_key_of(sse: SSEConfig, env: Envelope, bucket: str, key: str, ck: CustomerKey | None) -> bytes:
    """Unwraps an envelope's data key (checks the SSE-C key first)."""
    check_customer(env, ck)
    try:
        if env.algorithm == SSE_C:
            assert ck is not None
            return unwrap_with(ck.key, env.wrapped_key, env.sid)
        if env.algorithm == SSE_KMS:
            if sse.kms is None:
                raise AWSError("KMS.NotFoundException", "KMS is not available in this region", status=400)
            try:
                context = _kms_context(env, bucket, key)
                if env.bucket_key_blob:
                    bucket_key = await sse.open_bucket_key(env.bucket_key_blob, context)
                    return unwrap_with(bucket_key, env.wrapped_key, env.sid)
                return await sse.kms.decrypt_data_key(env.wrapped_key, context)
            except AWSError as e:
                raise kms_error(e) from None
        assert sse.keyring is not None
        return sse.keyring.unwrap(env.kid, env.wrapped_key, env.sid)
    except IntegrityError:
        raise AWSError("InternalError", "The object's encryption key could not be unwrapped.") from None


def envelope_of(v: ObjectVersion) -> Envelope | None:
    return Envelope.from_json(v.encryption) if v.encryption else None


def output_headers(env: Envelope | None, with_context: bool = False) -> dict[str, Any]:
    """The response members that describe how data is encrypted."""
    if env is None:
        return {}
    if env.algorithm == SSE_C:
        return {"SSECustomerAlgorithm": "AES256", "SSECustomerKeyMD5": env.customer_md5}
    if env.algorithm == SSE_KMS:
        out: dict[str, Any] = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": env.kms_key}
        if env.bucket_key:
            out["BucketKeyEnabled"] = True
        if with_context and env.context:
            out["SSEKMSEncryptionContext"] = env.context
        return out
    return {"ServerSideEncryption": SSE_S3}


def opaque_etag(env: Envelope | None, md5_hex: str) -> str:
    """S3's ETag: the plaintext MD5 for SSE-S3 (and unencrypted) single-part data, opaque otherwise."""
    if env is not None and env.algorithm in (SSE_KMS, SSE_C):
        return os.urandom(16).hex()
    return md5_hex


# ---- reading ---------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class OpenVersion:
    """A version's envelope and data key, ready to read plaintext."""

    envelope: Envelope
    data_key: bytes


async def open_version(sse: SSEConfig, bucket: Bucket, v: ObjectVersion, ck: CustomerKey | None) \
        -> OpenVersion | None:
    env = envelope_of(v)
    if env is None:
        if ck is not None:
            raise AWSError("InvalidRequest", "The encryption parameters are not applicable to this object.")
        return None
    opened = OpenVersion(env, await data_key_of(sse, env, bucket.name, v.key, ck))
    if env.origin is not None:  # an SSE-C replica: its sealed-under record must be one this region wrote
        try:
            if sse.keyring is None:
                raise IntegrityError("no master keyring")
            sse.keyring.unwrap(env.origin_kid, env.origin_tag, env.origin_label(v.bucket_id, v.key, v.vid))
        except IntegrityError:
            raise AWSError("InternalError", "The object's encryption record does not authenticate.") from None
    return opened


def _open_sync(ctx: StreamContext, fd: int, offset: int, count: int, first: int, total: int, skip: int,
               length: int) -> bytes | bytearray:
    """On an I/O thread: read sealed segments, open them, keep plaintext bytes [skip, skip+length)."""
    sealed = os.pread(fd, count, offset)
    if len(sealed) != count:
        raise IntegrityError("blob is shorter than its metadata says")
    return decrypt_segments(ctx, sealed, first, total, skip, length)


def _map_sync(fd: int, size: int) -> mmap.mmap:
    """Maps a blob for reading, once its size matches the metadata (a shorter file is damage, reported as such;
    touching a mapping past the end of its file would kill the process). Blob files are never truncated while
    they exist: they are written once under a temporary name, then only read and unlinked."""
    if os.fstat(fd).st_size != size:
        raise IntegrityError("blob size does not match its metadata")
    return mmap.mmap(fd, size, access=mmap.ACCESS_READ)


def _open_mapped(ctx: StreamContext, mapped: mmap.mmap, offset: int, count: int, first: int, total: int,
                 skip: int, length: int, into: bytearray | None = None) -> bytes | bytearray:
    """On an I/O thread: open sealed segments straight from the page cache through the blob's mapping (one copy
    fewer per byte than reading them), then unmap those pages again, so the process's resident memory does not
    grow with the object. The kernel maps a few neighbouring pages on every fault ("fault-around"), including
    some below `offset` that an earlier read had already unmapped: those are unmapped again too."""
    try:
        with memoryview(mapped) as view:
            return decrypt_segments(ctx, view[offset:offset + count], first, total, skip, length, into)
    finally:
        lo = max(0, offset - offset % mmap.PAGESIZE - UNMAP_BEHIND)
        mapped.madvise(mmap.MADV_DONTNEED, lo, offset + count - lo)


class _Buffers:
    """Plaintext buffers of one long read, reused once every consumer has let go of them. A fresh 1 MiB
    buffer costs zero-filling and page faults under the GIL on every read; a reused one is warm in cache. A
    chunk is only reused when nothing but this list refers to it (CPython reference counts: the HTTP
    transport, a consumer or a pending write that still holds it, directly or through a memoryview, keeps the
    count up), so data that is still to be sent is never overwritten. What "nothing else" reads as is measured
    on a sentinel that only the list holds, looked at the same way, rather than assumed: interpreters differ in
    how many references a loop variable and a call argument take."""

    KEEP = READ_AHEAD + 6  # buffers remembered (a chunk is held by a few consumers and the transport for a while)

    def __init__(self) -> None:
        self._all: list[bytearray] = [bytearray(0)]  # [0]: the sentinel

    def free(self, size: int) -> bytearray:
        alone = -1
        for buf in self._all:
            count = sys.getrefcount(buf)
            if alone < 0:
                alone = count  # the sentinel: referred to by the list only
            elif len(buf) == size and count == alone:
                return buf
        buf = bytearray(size)
        self._all.append(buf)
        if len(self._all) > self.KEEP + 1:
            del self._all[1]
        return buf


async def plaintext(pool: Any, opened: OpenVersion, v: ObjectVersion, fds: list[int], start: int,
                    length: int) -> AsyncIterator[bytes | bytearray]:
    """Plaintext bytes [start, start+length) of an encrypted version; reads and decrypts only the segments the
    range touches, on the I/O pool, reading ahead. Raises IntegrityError on tampered data."""
    from .objects import segment_ranges
    env = opened.envelope
    if v.inline is not None:
        ctx = env.stream(opened.data_key, v.bucket_id, v.key)
        first, off, count, skip = sealed_range(v.size, start, length, ctx.segment)
        sealed = v.inline[off:off + count]
        if len(sealed) != count:
            raise IntegrityError("inline data is shorter than its metadata says")
        total = segment_count(v.size, ctx.segment)
        args = (ctx, sealed, first, total, skip, length)
        yield decrypt_segments(*args) if count <= ON_LOOP_MAX else await pool.run(decrypt_segments, *args)
        return
    for i, lo, n in segment_ranges(v.segments, start, length):
        seg = v.segments[i]
        ctx = env.stream(opened.data_key, v.bucket_id, v.key, env.parts[i] if env.parts else 0)
        first, off, count, skip = sealed_range(seg.size, lo, n, ctx.segment)
        total = segment_count(seg.size, ctx.segment)
        per_read = max(1, READ_BYTES // ctx.segment)  # segments per read
        # reads of whole sealed segments: (sealed offset, count, first index, skip, plaintext length)
        reads = []
        pos, idx, remaining = off, first, n
        while pos < off + count:
            c = min(per_read * ctx.sealed, off + count - pos)
            take = min(remaining, c - TAG * (-(-c // ctx.sealed)) - skip)
            reads.append((pos, c, idx, skip, take))
            pos, idx, remaining, skip = pos + c, idx + per_read, remaining - take, 0
        # a long read decrypts from a mapping of the blob; a short one (a range) just reads
        mapped = await pool.run(_map_sync, fds[i], sealed_size(seg.size, ctx.segment)) if len(reads) > 1 else None
        pending: list[Any] = []
        buffers = _Buffers()
        try:
            for r in reads:
                if mapped is not None:
                    into = buffers.free(r[4]) if r[3] == 0 and r[4] == READ_BYTES else None
                    pending.append(pool.run(_open_mapped, ctx, mapped, *r[:3], total, *r[3:], into))
                else:
                    pending.append(pool.run(_open_sync, ctx, fds[i], *r[:3], total, *r[3:]))
                if len(pending) > READ_AHEAD:
                    fut = pending[0]
                    await fut  # stays in `pending` until done, so `finally` waits for it
                    pending.pop(0)
                    yield fut.result()
                    del fut  # no reference of ours left on the chunk: its buffer can be reused
            while pending:
                fut = pending[0]
                await fut
                pending.pop(0)
                yield fut.result()
                del fut
        finally:
            for fut in pending:  # reads still in flight when the response ends early: let them finish
                with contextlib.suppress(OSError, IntegrityError):
                    await fut
            if mapped is not None:
                with contextlib.suppress(BufferError):  # a read still holds it (never expected): unmapped when collected
                    mapped.close()
