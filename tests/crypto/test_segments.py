"""The segment format on its own: round trips at every boundary, and every kind of tampering detected."""

from __future__ import annotations

import os

import pytest

from twinstore.crypto.segments import (SEALED, SEGMENT, IntegrityError, SegmentEncryptor, StreamContext,
                                       decrypt_segments, encrypt_all, sealed_range, sealed_size, segment_count)


def ctx(part: int = 0, identity: bytes = b"bucket/key") -> StreamContext:
    return StreamContext(b"k" * 32, b"pref", identity, part)


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 7])
def test_round_trip_and_ranges(size: int) -> None:
    data = os.urandom(size)
    enc = SegmentEncryptor(ctx())
    sealed = b"".join(enc.update(data[i:i + 10_000]) for i in range(0, size, 10_000)) + enc.finish()
    assert len(sealed) == sealed_size(size)
    assert decrypt_segments(ctx(), sealed, 0, segment_count(size)) == data
    for start, length in [(0, size), (size // 3, size // 2), (max(size - 1, 0), min(size, 1))]:
        first, off, count, skip = sealed_range(size, start, length)
        plain = decrypt_segments(ctx(), sealed[off:off + count], first, segment_count(size))
        assert plain[skip:skip + length] == data[start:start + length]


def test_tampering_is_detected() -> None:
    data = os.urandom(3 * SEGMENT)
    sealed = encrypt_all(ctx(), data)
    total = segment_count(len(data))
    flipped = bytearray(sealed)
    flipped[SEGMENT + 100] ^= 1
    swapped = sealed[SEALED:2 * SEALED] + sealed[:SEALED] + sealed[2 * SEALED:]
    truncated = sealed[:2 * SEALED]  # drops the final segment: the new last one is not marked final
    cases = [(bytes(flipped), total), (swapped, total), (truncated, 2), (sealed + sealed[-SEALED:], total + 1)]
    for bad, n in cases:
        with pytest.raises(IntegrityError):
            decrypt_segments(ctx(), bad, 0, n)
    for other in (ctx(part=1), ctx(identity=b"bucket/other"), StreamContext(b"x" * 32, b"pref", b"bucket/key")):
        with pytest.raises(IntegrityError):
            decrypt_segments(other, sealed, 0, total)
