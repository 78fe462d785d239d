"""AES-256-GCM in fixed-size segments.

A stream (one object's data, or one part of a multipart object) is cut into SEGMENT-byte plaintext segments;
each is sealed on its own with a 16-byte tag, so a range read decrypts only the segments it touches. The nonce
is a per-version random prefix and the (part, segment) position; the associated data binds the object's
identity, the part number, the segment index and whether the segment is the last one. Reordered, spliced,
truncated or extended streams, and any flipped byte, fail to decrypt.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEGMENT = 64 * 1024
TAG = 16
SEALED = SEGMENT + TAG


class IntegrityError(Exception):
    """Stored ciphertext does not authenticate: tampered, truncated, reordered or the wrong key."""


def segment_count(size: int) -> int:
    """Segments of a stream of `size` plaintext bytes (an empty stream still has one, empty, final segment)."""
    return max(1, -(-size // SEGMENT))


def sealed_size(size: int) -> int:
    return size + TAG * segment_count(size)


@dataclass(slots=True, frozen=True)
class StreamContext:
    """What a stream's segments are bound to."""

    key: bytes  # 32-byte data key
    prefix: bytes  # 4 random bytes, per version
    identity: bytes  # object identity (see s3/sse.py), authenticated with every segment
    part: int = 0  # multipart part number; 0 for a single-part object

    def nonce(self, index: int) -> bytes:
        return self.prefix + struct.pack(">Q", (self.part << 32) | index)

    def aad(self, index: int, final: bool) -> bytes:
        return b"twinstore-seg1" + struct.pack(">IQB", self.part, index, final) + self.identity


class SegmentEncryptor:
    """Incremental encryption. `update` returns the sealed segments it can complete; the last (possibly
    partial) segment is held back until `finish`, which seals it with the final flag."""

    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        self._aead = AESGCM(ctx.key)
        self._buf = bytearray()
        self._index = 0

    def _seal(self, data: bytes | memoryview, final: bool) -> bytes:
        i = self._index
        self._index += 1
        return self._aead.encrypt(self.ctx.nonce(i), bytes(data), self.ctx.aad(i, final))

    def update(self, data: bytes) -> bytes:
        self._buf += data
        if len(self._buf) <= SEGMENT:
            return b""
        n = (len(self._buf) - 1) // SEGMENT  # always keep 1..SEGMENT bytes back
        view = memoryview(self._buf)
        out = [self._seal(view[i * SEGMENT:(i + 1) * SEGMENT], False) for i in range(n)]
        view.release()
        del self._buf[:n * SEGMENT]
        return b"".join(out)

    def finish(self) -> bytes:
        out = self._seal(self._buf, True)
        self._buf = bytearray()
        return out


def encrypt_all(ctx: StreamContext, data: bytes) -> bytes:
    enc = SegmentEncryptor(ctx)
    return enc.update(data) + enc.finish()


def decrypt_segments(ctx: StreamContext, sealed: bytes | memoryview, first: int, total: int) -> bytes:
    """Opens consecutive sealed segments starting at index `first` of a stream of `total` segments."""
    aead = AESGCM(ctx.key)
    out = []
    view = memoryview(sealed)
    i = first
    pos = 0
    while pos < len(view):
        chunk = view[pos:pos + SEALED]
        if i >= total:
            raise IntegrityError("more ciphertext than segments")
        try:
            out.append(aead.decrypt(ctx.nonce(i), bytes(chunk), ctx.aad(i, i == total - 1)))
        except InvalidTag:
            raise IntegrityError(f"segment {i} does not authenticate") from None
        pos += len(chunk)
        i += 1
    return b"".join(out)


def sealed_range(size: int, start: int, length: int) -> tuple[int, int, int, int]:
    """For plaintext bytes [start, start+length) of a `size`-byte stream: (first segment, sealed offset,
    sealed byte count, offset of `start` within the first decrypted segment)."""
    first = start // SEGMENT
    last = (start + length - 1) // SEGMENT if length else first
    end = min(sealed_size(size), (last + 1) * SEALED)
    return first, first * SEALED, end - first * SEALED, start - first * SEGMENT
