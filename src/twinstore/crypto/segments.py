"""AES-256-GCM in fixed-size segments.

A stream (one object's data, or one part of a multipart object) is cut into plaintext segments of the stream's
segment size; each is sealed on its own with a 16-byte tag, so a range read decrypts only the segments it
touches. The nonce is a per-version random prefix and the (part, segment) position; the associated data binds
the object's identity, the part number, the segment index and whether the segment is the last one. Reordered,
spliced, truncated or extended streams, and any flipped byte, fail to decrypt.

The segment size is recorded per version (crypto/envelope.py). New data uses SEGMENT (256 KiB): four cipher calls
per MiB instead of sixteen (each with its nonce, associated data and slicing, all under the GIL), which took a
1 GiB encrypted GET from ~84% to ~88% of an unencrypted one; a 1 KiB range read still opens one or two
segments. Data written before sizes were recorded used LEGACY_SEGMENT (64 KiB) and still reads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Union

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TAG = 16
Buffer = Union[bytes, bytearray, memoryview]

SEGMENT = 256 * 1024
LEGACY_SEGMENT = 64 * 1024
SEGMENT_SIZES = (LEGACY_SEGMENT, SEGMENT)  # the sizes a stored or replicated envelope may name

class IntegrityError(Exception):
    """Stored ciphertext does not authenticate: tampered, truncated, reordered or the wrong key."""


def segment_count(size: int, segment: int) -> int:
    """Segments of a stream of `size` plaintext bytes (an empty stream still has one, empty, final segment)."""
    return max(1, -(-size // segment))


def sealed_size(size: int, segment: int) -> int:
    return size + TAG * segment_count(size, segment)


def sealed_range(size: int, start: int, length: int, segment: int) -> tuple[int, int, int, int]:
    """For plaintext bytes [start, start+length) of a `size`-byte stream: (first segment, sealed offset,
    sealed byte count, offset of `start` within the first decrypted segment)."""
    sealed = segment + TAG
    first = start // segment
    last = (start + length - 1) // segment if length else first
    end = min(sealed_size(size, segment), (last + 1) * sealed)
    return first, first * sealed, end - first * sealed, start - first * segment


@dataclass(slots=True, frozen=True)
class StreamContext:
    """What a stream's segments are bound to, and how long they are."""

    key: bytes  # 32-byte data key
    prefix: bytes  # 4 random bytes, per version
    identity: bytes  # object identity (see crypto/envelope.py), authenticated with every segment
    part: int = 0  # multipart part number; 0 for a single-part object
    segment: int = SEGMENT  # plaintext bytes per segment

    @property
    def sealed(self) -> int:
        return self.segment + TAG

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
        self._buf = b""  # held back: at most one segment
        self._index = 0

    def _seal_into(self, data: Buffer, out: memoryview, final: bool) -> None:
        i = self._index
        self._index += 1
        self._aead.encrypt_into(self.ctx.nonce(i), data, self.ctx.aad(i, final), out)

    def update(self, data: bytes) -> bytes | bytearray:
        seg, sealed = self.ctx.segment, self.ctx.sealed
        total = len(self._buf) + len(data)
        if total <= seg:
            self._buf = self._buf + data if self._buf else bytes(data)
            return b""
        n = (total - 1) // seg  # always keep 1..segment bytes back
        out = bytearray(n * sealed)
        view, src = memoryview(out), memoryview(data)
        pos = 0
        if self._buf:  # the held-back head and the start of `data` make the first segment
            take = seg - len(self._buf)
            self._seal_into(self._buf + bytes(src[:take]), view[:sealed], False)
            pos, first = take, 1
        else:
            first = 0
        for k in range(first, n):
            self._seal_into(src[pos:pos + seg], view[k * sealed:(k + 1) * sealed], False)
            pos += seg
        self._buf = bytes(src[pos:])
        return out

    def finish(self) -> bytes:
        out = bytearray(len(self._buf) + TAG)
        self._seal_into(self._buf, memoryview(out), True)
        self._buf = b""
        return bytes(out)


def encrypt_all(ctx: StreamContext, data: bytes) -> bytes:
    enc = SegmentEncryptor(ctx)
    return bytes(enc.update(data)) + enc.finish()


def decrypt_segments(ctx: StreamContext, sealed: Buffer, first: int, total: int,
                     start: int = 0, length: int | None = None, into: bytearray | None = None) -> bytes | bytearray:
    """Opens consecutive sealed segments starting at index `first` of a stream of `total` segments; returns
    plaintext bytes [start, start+length) of what they hold (all of it by default, without a copy). `into`,
    if given, is the buffer to decrypt into (exactly the plaintext's size) instead of a new one."""
    aead = AESGCM(ctx.key)
    seg, step = ctx.segment, ctx.sealed
    view = memoryview(sealed)
    n = -(-len(view) // step)
    if first + n > total:
        raise IntegrityError("more ciphertext than segments")
    size = len(view) - TAG * n
    plain = into if into is not None and len(into) == size else bytearray(size)
    out = memoryview(plain)
    for k in range(n):
        i = first + k
        chunk = view[k * step:(k + 1) * step]
        if len(chunk) < TAG:
            raise IntegrityError(f"segment {i} is truncated")
        try:
            aead.decrypt_into(ctx.nonce(i), chunk, ctx.aad(i, i == total - 1), out[k * seg:k * seg + len(chunk) - TAG])
        except InvalidTag:
            raise IntegrityError(f"segment {i} does not authenticate") from None
    end = len(plain) if length is None else start + length
    if start == 0 and end == len(plain):
        return plain
    return bytes(out[start:end])
