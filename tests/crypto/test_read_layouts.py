"""The read path (`s3/sse.plaintext`) over real blob files and the I/O pool, for both segment layouts: data
written before segment sizes were recorded (64 KiB segments, no "seg" in the envelope) must keep reading after
the switch to 1 MiB segments, whole and by range, single-part and multipart."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from twinstore.aio.pool import ThreadPool
from twinstore.crypto.envelope import SSE_S3, Envelope
from twinstore.crypto.segments import LEGACY_SEGMENT, SEGMENT, IntegrityError, encrypt_all
from twinstore.meta.model import BlobSegment, ObjectVersion
from twinstore.s3.sse import OpenVersion, plaintext

DATA_KEY = os.urandom(32)


def stored(tmp_path: os.PathLike[str], segment: int, parts: list[bytes]) -> tuple[OpenVersion, ObjectVersion,
                                                                                   list[int]]:
    env = Envelope(SSE_S3, b"wrapped", segment=segment, parts=list(range(1, len(parts) + 1)) if len(parts) > 1
                   else [])
    record = env.to_json()
    if segment == LEGACY_SEGMENT:
        del record["seg"]  # exactly what the previous release stored
    env = Envelope.from_json(record)
    v = ObjectVersion(7, "dir/key", "v1", False, True, False, 0, size=sum(map(len, parts)), encryption=record)
    fds = []
    for i, data in enumerate(parts):
        path = os.path.join(tmp_path, f"blob{i}")
        with open(path, "wb") as f:
            f.write(encrypt_all(env.stream(DATA_KEY, 7, "dir/key", env.parts[i] if env.parts else 0), data))
        fds.append(os.open(path, os.O_RDONLY))
        v.segments.append(BlobSegment(f"{i:032x}", len(data)))
    return OpenVersion(env, DATA_KEY), v, fds


async def read(opened: OpenVersion, v: ObjectVersion, fds: list[int], start: int, length: int) -> bytes:
    pool = ThreadPool(4, "test-io")
    try:
        return b"".join([bytes(c) async for c in plaintext(pool, opened, v, fds, start, length)])
    finally:
        pool.shutdown()


@pytest.mark.parametrize("segment", [LEGACY_SEGMENT, SEGMENT])
@pytest.mark.parametrize("part_sizes", [[3 * SEGMENT + 12345], [5 * 1024 * 1024, 2 * SEGMENT + 1]])
def test_both_layouts_read_whole_and_by_range(tmp_path: os.PathLike[str], segment: int,
                                              part_sizes: list[int]) -> None:
    parts = [os.urandom(n) for n in part_sizes]
    whole = b"".join(parts)
    opened, v, fds = stored(tmp_path, segment, parts)
    try:
        assert opened.envelope.segment == segment
        assert asyncio.run(read(opened, v, fds, 0, len(whole))) == whole
        rng = random.Random(segment)
        spans = [(0, 1), (len(whole) - 1, 1), (segment - 5, 10), (part_sizes[0] - 3, 6)]
        spans += [(s, rng.randrange(1, 3 * segment)) for s in (rng.randrange(len(whole)) for _ in range(8))]
        for start, length in spans:
            length = min(length, len(whole) - start)
            assert asyncio.run(read(opened, v, fds, start, length)) == whole[start:start + length], (start, length)
    finally:
        for fd in fds:
            os.close(fd)


def test_a_layout_mismatch_never_reads(tmp_path: os.PathLike[str]) -> None:
    """A record naming the wrong segment size (or a damaged file) fails; it never yields wrong bytes."""
    opened, v, fds = stored(tmp_path, LEGACY_SEGMENT, [os.urandom(3 * SEGMENT)])
    try:
        wrong = OpenVersion(Envelope.from_json({**v.encryption, "seg": SEGMENT}), DATA_KEY)
        with pytest.raises(IntegrityError):
            asyncio.run(read(wrong, v, fds, 0, v.size))
    finally:
        for fd in fds:
            os.close(fd)


def test_plaintext_buffers_are_reused_only_when_nothing_else_holds_them() -> None:
    from twinstore.s3.sse import _Buffers
    buffers = _Buffers()
    first, second = buffers.free(1024), buffers.free(1024)
    assert first is not second  # both still held here
    del first
    third = buffers.free(1024)  # the first one, let go of: reused
    assert third is not second
    held_elsewhere = memoryview(third)  # e.g. a write still queued in the transport
    del third
    assert buffers.free(1024) is not held_elsewhere.obj
    target = id(held_elsewhere.obj)
    held_elsewhere.release()
    assert id(buffers.free(2048)) != target  # never for another size
    assert id(buffers.free(1024)) == target  # let go of: reused
