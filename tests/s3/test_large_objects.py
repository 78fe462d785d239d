"""Objects of several GiB through multipart upload, streamed both ways, verified end to end."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

from boto3.s3.transfer import TransferConfig

GIB = 1024 ** 3
BLOCK = os.urandom(1 << 20)


class PatternReader(io.RawIOBase):
    """A deterministic, incompressible stream of `size` bytes that is never held in memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), self.size - self.pos)
        if n <= 0:
            return 0
        out = memoryview(buf)[:n]
        done = 0
        while done < n:
            block_no, off = divmod(self.pos + done, len(BLOCK))
            take = min(n - done, len(BLOCK) - off)
            out[done:done + take] = BLOCK[off:off + take]
            out[done] = (out[done] + block_no) % 256 if off == 0 else out[done]
            done += take
        self.pos += n
        return n


def _expected_md5(size: int) -> str:
    h = hashlib.md5()
    r = PatternReader(size)
    buf = bytearray(8 << 20)
    while True:
        n = r.readinto(buf)
        if not n:
            return h.hexdigest()
        h.update(memoryview(buf)[:n])


class _Hashing(io.RawIOBase):
    def __init__(self) -> None:
        self.h = hashlib.md5()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.h.update(b)
        self.size += len(b)
        return len(b)


def test_multi_gib_object_round_trip(s3: Any, bucket: str) -> None:
    size = 2 * GIB + 12345  # several GiB in principle; 2 GiB + change keeps CI time reasonable
    cfg = TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20, max_concurrency=4)
    s3.upload_fileobj(PatternReader(size), bucket, "big/object.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big/object.bin")
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"').endswith("-33")  # 2 GiB / 64 MiB = 32 full parts + 1
    sink = _Hashing()
    s3.download_fileobj(bucket, "big/object.bin", sink, Config=cfg)
    assert sink.size == size
    assert sink.h.hexdigest() == _expected_md5(size)
    tail = s3.get_object(Bucket=bucket, Key="big/object.bin", Range="bytes=-5")["Body"].read()
    r = PatternReader(size)
    r.pos = size - 5
    expected = bytearray(5)
    r.readinto(expected)
    assert tail == bytes(expected)
