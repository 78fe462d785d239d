"""SSE-C replication as ciphertext: the customer's key is never stored, so an SSE-C version cannot be decrypted
and re-encrypted for its destination. It is copied as it is stored instead: the sealed segments byte for byte
and the envelope (data key wrapped by the customer key, salted HMAC key check, algorithm, key MD5) verbatim.
The replica then opens with the same customer key, and only with it (400 without, 403 with another).

Segments are bound (AEAD associated data) to the identity they were sealed under: bucket id, stream id, key.
The replica keeps the key and stream id; its bucket differs, so its envelope records the bucket id the segments
were sealed under (`origin`) and a tag by the destination region's master key authenticating that record for
exactly this bucket, key, version and stream (`Envelope.origin_label`), checked on every read. A forged or moved
record fails that check; a wrong origin fails every segment; segments swapped, reordered, truncated or moved
between objects still fail to open, as at the source.

End-to-end check: the source's plaintext digests cannot be recomputed without the key (and an SSE-C ETag is
not an MD5 anyway), so the descriptor carries the ciphertext stream's length and SHA-256, computed from the
source's files before sending, and the destination verifies both (and that the length is exactly what the
segment layout implies) before committing anything.
"""

from __future__ import annotations

import hashlib
from typing import Any, AsyncIterator

from ..crypto.envelope import SSE_C, Envelope
from ..crypto.segments import LEGACY_SEGMENT, sealed_size
from ..meta.model import BlobSegment, ObjectVersion
from ..protocol.errors import AWSError
from .sse import Keyring

READ = 1 << 20


def is_ciphertext(d: dict[str, Any]) -> bool:
    """Whether a replication descriptor carries SSE-C ciphertext (the body is sealed segments, not plaintext)."""
    sse = d.get("sse") or {}
    return sse.get("alg") == SSE_C and isinstance(sse.get("env"), dict)


def _sealed_sizes(v: ObjectVersion) -> list[int]:
    if v.inline is not None or not v.segments:
        return [len(v.inline or b"")]
    segment = Envelope.from_json(v.encryption).segment if v.encryption else LEGACY_SEGMENT
    return [sealed_size(s.size, segment) for s in v.segments]


async def ciphertext(svc: Any, v: ObjectVersion, fds: list[int]) -> AsyncIterator[bytes]:
    """The stored bytes of an SSE-C version (inline, or its open blob segments in order; the caller closes)."""
    if v.inline is not None:
        yield v.inline
        return
    for fd, n in zip(fds, _sealed_sizes(v)):
        async for chunk in svc.blobs.stream_fd(fd, 0, n):
            yield chunk


def _digest_sync(fds: list[int], sizes: list[int]) -> str:
    import os
    h = hashlib.sha256()
    for fd, n in zip(fds, sizes):
        pos = 0
        while pos < n:
            data = os.pread(fd, min(READ, n - pos), pos)
            if not data:
                raise AWSError("InternalError", "blob is shorter than its metadata says")
            h.update(data)
            pos += len(data)
    return h.hexdigest()


async def source_fields(svc: Any, v: ObjectVersion, env: Envelope, fds: list[int]) -> dict[str, Any]:
    """The descriptor's `sse` member for an SSE-C version: envelope, layout and ciphertext digest (a first
    read of the open files; the body is a second one, so memory stays bounded)."""
    sizes = _sealed_sizes(v)
    if v.inline is not None:
        digest = hashlib.sha256(v.inline).hexdigest()
    else:
        digest = await svc.blobs.pool.run(_digest_sync, fds, sizes)
    sent = Envelope.from_json(env.to_json())
    sent.origin = env.origin if env.origin is not None else v.bucket_id  # the identity the segments carry
    sent.origin_kid, sent.origin_tag = "", b""  # the destination authenticates the record with its own key
    return {"alg": SSE_C, "env": sent.to_json(), "inline": v.inline is not None,
            "segs": [s.size for s in v.segments] if v.inline is None else [],
            "ctlen": sum(sizes), "ctsha256": digest}


class CiphertextCheck:
    """Length and SHA-256 of a received ciphertext stream, against the descriptor."""

    def __init__(self, d: dict[str, Any]) -> None:
        sse = d["sse"]
        self.inline = bool(sse.get("inline"))
        self.segs = [int(n) for n in sse.get("segs") or []]
        size = int(d.get("size", -1))
        try:
            segment = Envelope.from_json(sse["env"]).segment
        except (KeyError, TypeError, ValueError):
            raise AWSError("InvalidArgument", "Invalid replication descriptor (SSE-C envelope)") from None
        self.sealed = [sealed_size(size, segment)] if self.inline else [sealed_size(n, segment) for n in self.segs]
        if (not self.inline and (not self.segs or sum(self.segs) != size or min(self.segs) < 0)) \
                or sum(self.sealed) != sse.get("ctlen"):
            raise AWSError("InvalidArgument", "Invalid replication descriptor (SSE-C layout)")
        self.length = sum(self.sealed)
        self.expected = str(sse.get("ctsha256", ""))
        self._h = hashlib.sha256()
        self.got = 0

    def update(self, data: bytes) -> None:
        self._h.update(data)
        self.got += len(data)

    def verify(self) -> None:
        if self.got != self.length or self._h.hexdigest() != self.expected:
            raise AWSError("BadDigest", "The replicated ciphertext does not match the source version's digest.")


def replica_envelope(keyring: Keyring | None, bucket_id: int, key: str, d: dict[str, Any]) -> dict[str, Any]:
    """The replica's envelope: the source's verbatim, with its origin record tagged by this region's key."""
    if keyring is None:
        raise AWSError("InvalidRequest", "This region cannot hold SSE-C replicas (no encryption at rest)")
    try:
        env = Envelope.from_json(d["sse"]["env"])
    except (KeyError, TypeError, ValueError):
        raise AWSError("InvalidArgument", "Invalid replication descriptor (SSE-C envelope)") from None
    if env.algorithm != SSE_C or env.origin is None or not env.customer_mac:
        raise AWSError("InvalidArgument", "Invalid replication descriptor (SSE-C envelope)")
    env.origin_kid, env.origin_tag = keyring.wrap(b"", env.origin_label(bucket_id, key, str(d["vid"])))
    return env.to_json()


async def write_blobs(svc: Any, check: CiphertextCheck, chunks: AsyncIterator[bytes]) -> list[BlobSegment]:
    """Stores the streamed ciphertext as one blob per source segment (each multipart part keeps its own
    stream); verifies length and digest before returning; removes what it wrote on any failure."""
    done: list[BlobSegment] = []
    writer: Any = None
    idx, left = 0, check.sealed[0]
    try:
        writer = svc.blobs.writer([check])
        async for chunk in chunks:
            view = memoryview(chunk)
            while view:
                if left == 0:
                    if idx + 1 >= len(check.sealed):
                        raise AWSError("IncompleteBody")
                    await writer.finish_hashing()
                    done.append(BlobSegment(await writer.commit(), check.segs[idx]))
                    idx += 1
                    left, writer = check.sealed[idx], svc.blobs.writer([check])
                n = min(left, len(view))
                await writer.write(bytes(view[:n]))
                left -= n
                view = view[n:]
        await writer.finish_hashing()
        if left or idx + 1 != len(check.sealed):
            raise AWSError("IncompleteBody")
        check.verify()
        done.append(BlobSegment(await writer.commit(), check.segs[idx]))
        writer = None
        return done
    except BaseException:
        if writer is not None:
            await writer.abort()
        if done:
            await svc.blobs.delete([s.blob_id for s in done])
        raise
