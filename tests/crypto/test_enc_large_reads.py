"""Long encrypted reads reuse their plaintext buffers once nothing refers to them any more (s3/sse.py,
`_Buffers`). A buffer still queued in the HTTP transport must never be overwritten: several concurrent GETs of
the same large object, some read slowly so the server's socket buffers fill and writes stay pending, must all
return exactly the stored bytes; so must ranges that start and end mid-segment."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import shutil
import time
from typing import Any, Iterator

import pytest
from botocore.config import Config

from harness import RegionProcess, create_bucket

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def region(tmp_path_factory: Any) -> Iterator[RegionProcess]:
    r = RegionProcess("us-east-2", str(tmp_path_factory.mktemp("large-reads")))
    r.start()
    yield r
    r.stop()
    shutil.rmtree(r.data_dir, ignore_errors=True)


def test_concurrent_slow_and_fast_readers_get_exact_bytes(region: RegionProcess) -> None:
    s3 = region.client(config=Config(max_pool_connections=8))
    bucket = create_bucket(s3, "us-east-2")
    body = os.urandom(40 * MIB + 12345)
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    want = hashlib.sha256(body).hexdigest()

    def read(slow: bool) -> str:
        stream = s3.get_object(Bucket=bucket, Key="big")["Body"]
        h = hashlib.sha256()
        while piece := stream.read(256 * 1024 if slow else 8 * MIB):
            h.update(piece)
            if slow:
                time.sleep(0.002)
        return h.hexdigest()

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(read, [True, False, True, False, False, True]))
    assert results == [want] * 6

    for start, end in [(1, 3 * MIB + 7), (MIB - 3, 9 * MIB), (5 * MIB + 11, len(body) - 2)]:
        got = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={start}-{end}")["Body"].read()
        assert got == body[start:end + 1]
