"""kill -9 at any moment: acknowledged writes survive, unacknowledged ones leave nothing behind."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import threading
import time
from typing import Any, Iterator

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from harness import ACCESS_KEY, SECRET_KEY, Deployment, create_bucket


@pytest.fixture()
def solo() -> Iterator[Any]:
    dep = Deployment(regions=("us-east-2",)).start()
    yield dep["us-east-2"]
    dep.stop()
    shutil.rmtree(dep.data_dir, ignore_errors=True)


def _blob_files(region: Any) -> list[str]:
    root = os.path.join(region.data_dir, "regions", region.name, "blobs")
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]


def _signed_put_head(region: Any, bucket: str, key: str, length: int) -> bytes:
    """Request head for a PUT whose body the caller sends (or not) byte by byte."""
    url = f"{region.endpoint}/{bucket}/{key}"
    req = AWSRequest("PUT", url, headers={"Content-Length": str(length),
                                          "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", region.name).add_auth(req)
    lines = [f"PUT /{bucket}/{key} HTTP/1.1", f"Host: 127.0.0.1:{region.port}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_acknowledged_objects_survive_kill9(solo: Any) -> None:
    s3 = solo.client()
    bucket = create_bucket(s3, solo.name, versioned=True)
    # small bodies live inline in the metadata row, larger ones in blob files: both paths must survive
    bodies = {f"k{i}": os.urandom(1000 + i * 37) for i in range(60)}
    bodies.update({f"big{i}": os.urandom(100_000 + i) for i in range(10)})
    versions = {}
    for k, b in bodies.items():
        versions[k] = s3.put_object(Bucket=bucket, Key=k, Body=b)["VersionId"]
    solo.kill9()
    solo.start()
    s3 = solo.client()
    for k, b in bodies.items():
        got = s3.get_object(Bucket=bucket, Key=k)
        assert got["Body"].read() == b
        assert got["VersionId"] == versions[k]
        assert got["ETag"] == f'"{hashlib.md5(b).hexdigest()}"'


def test_interrupted_uploads_leave_no_object_and_no_files(solo: Any) -> None:
    s3 = solo.client()
    bucket = create_bucket(s3, solo.name)
    s3.put_object(Bucket=bucket, Key="kept", Body=b"x" * 200_000)  # large enough for a blob file
    # several uploads stuck half-way through their bodies when the process dies
    socks = []
    for i in range(4):
        sock = socket.create_connection(("127.0.0.1", solo.port))
        sock.sendall(_signed_put_head(solo, bucket, f"partial{i}", 4 << 20))
        sock.sendall(os.urandom(3 << 20))  # 3 of 4 MiB
        socks.append(sock)
    time.sleep(0.5)  # let the server write what it received
    solo.kill9()
    for sock in socks:
        sock.close()
    solo.start()
    s3 = solo.client()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["kept"]
    for i in range(4):
        with pytest.raises(s3.exceptions.ClientError) as e:
            s3.head_object(Bucket=bucket, Key=f"partial{i}")
        assert e.value.response["Error"]["Code"] == "404"
    files = _blob_files(solo)
    assert len(files) == 1, files  # only "kept"'s data: no .tmp, no orphan


def test_kill9_under_concurrent_load_keeps_every_acknowledged_write(solo: Any) -> None:
    s3 = solo.client()
    bucket = create_bucket(s3, solo.name, versioned=True)
    acked: dict[str, tuple[str, bytes]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        c = solo.client()
        i = 0
        while not stop.is_set():
            key = f"w{n}/{i}"
            body = os.urandom(2048 + i)
            try:
                r = c.put_object(Bucket=bucket, Key=key, Body=body)
            except Exception:  # noqa: BLE001 - the server died under us: not acknowledged
                return
            with lock:
                acked[key] = (r["VersionId"], body)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    solo.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 20
    solo.start()
    s3 = solo.client()
    for key, (vid, body) in acked.items():
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["VersionId"] == vid
        assert got["Body"].read() == body


def test_concurrent_writers_to_one_key_never_tear(solo: Any) -> None:
    s3 = solo.client()
    bucket = create_bucket(s3, solo.name)
    bodies = [bytes([65 + n]) * (300_000 + n * 1000) for n in range(5)]
    digests = {hashlib.md5(b).hexdigest(): b for b in bodies}
    errors: list[str] = []

    def writer(n: int) -> None:
        c = solo.client()
        for _ in range(20):
            c.put_object(Bucket=bucket, Key="contended", Body=bodies[n])

    def reader() -> None:
        c = solo.client()
        for _ in range(60):
            try:
                got = c.get_object(Bucket=bucket, Key="contended")
                data = got["Body"].read()
            except c.exceptions.NoSuchKey:
                continue
            except Exception as exc:  # noqa: BLE001 - a body cut short is a torn read too
                errors.append(f"broken read: {exc!r}")
                continue
            etag = got["ETag"].strip('"')
            if digests.get(etag) != data:
                errors.append(f"torn read: etag {etag} len {len(data)}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(5)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    final = s3.get_object(Bucket=bucket, Key="contended")
    assert final["Body"].read() in bodies
