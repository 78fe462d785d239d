"""The segment format on its own: round trips at every boundary for both segment sizes, and every kind of
tampering detected."""

from __future__ import annotations

import os

import pytest
from twinstore.crypto.envelope import SSE_S3, Envelope
from twinstore.crypto.segments import (LEGACY_SEGMENT, SEGMENT, IntegrityError, SegmentEncryptor, StreamContext,
                                       decrypt_segments, encrypt_all, sealed_range, sealed_size, segment_count)


def ctx(part: int = 0, identity: bytes = b"bucket/key", segment: int = SEGMENT) -> StreamContext:
    return StreamContext(b"k" * 32, b"pref", identity, part, segment)


@pytest.mark.parametrize("segment", [LEGACY_SEGMENT, SEGMENT])
@pytest.mark.parametrize("mult,extra", [(0, 0), (0, 1), (1, -1), (1, 0), (1, 1), (3, 0), (3, 7)])
def test_round_trip_and_ranges(segment: int, mult: int, extra: int) -> None:
    size = mult * segment + extra
    data = os.urandom(size)
    c = ctx(segment=segment)
    enc = SegmentEncryptor(c)
    step = 300_001  # writes that straddle segment boundaries
    sealed = b"".join(enc.update(data[i:i + step]) for i in range(0, size, step)) + enc.finish()
    assert len(sealed) == sealed_size(size, segment)
    total = segment_count(size, segment)
    assert decrypt_segments(c, sealed, 0, total) == data
    for start, length in [(0, size), (size // 3, size // 2), (max(size - 1, 0), min(size, 1))]:
        first, off, count, skip = sealed_range(size, start, length, segment)
        plain = decrypt_segments(c, sealed[off:off + count], first, total)
        assert plain[skip:skip + length] == data[start:start + length]
    for i in range(total):  # each segment opens on its own
        one = sealed[i * c.sealed:(i + 1) * c.sealed]
        assert decrypt_segments(c, one, i, total) == data[i * segment:(i + 1) * segment]


@pytest.mark.parametrize("segment", [LEGACY_SEGMENT, SEGMENT])
def test_tampering_is_detected(segment: int) -> None:
    c = ctx(segment=segment)
    sealed_len = c.sealed
    data = os.urandom(3 * segment)
    sealed = encrypt_all(c, data)
    total = segment_count(len(data), segment)
    flipped = bytearray(sealed)
    flipped[segment + 100] ^= 1
    swapped = sealed[sealed_len:2 * sealed_len] + sealed[:sealed_len] + sealed[2 * sealed_len:]
    truncated = sealed[:2 * sealed_len]  # drops the final segment: the new last one is not marked final
    cases = [(bytes(flipped), total), (swapped, total), (truncated, 2), (sealed + sealed[-sealed_len:], total + 1)]
    for bad, n in cases:
        with pytest.raises(IntegrityError):
            decrypt_segments(c, bad, 0, n)
    with pytest.raises(IntegrityError):
        decrypt_segments(c, bytes(flipped[sealed_len:2 * sealed_len]), 1, total)
    with pytest.raises(IntegrityError):  # a segment moved to another position
        decrypt_segments(c, sealed[:sealed_len], 1, total)
    others = (ctx(part=1, segment=segment), ctx(identity=b"bucket/other", segment=segment),
              StreamContext(b"x" * 32, b"pref", b"bucket/key", 0, segment))
    for other in others:
        with pytest.raises(IntegrityError):
            decrypt_segments(other, sealed, 0, total)


def test_envelope_records_its_segment_size() -> None:
    env = Envelope(SSE_S3, b"wk")
    assert env.segment == SEGMENT and Envelope.from_json(env.to_json()).segment == SEGMENT
    legacy = env.to_json()
    del legacy["seg"]  # written before segment sizes were recorded
    assert Envelope.from_json(legacy).segment == LEGACY_SEGMENT
    for bad in (4096, 65536.0, True, "65536", None):
        with pytest.raises(ValueError):
            Envelope.from_json({**env.to_json(), "seg": bad})
