"""What is on disk: no plaintext anywhere in the region's data directory, and tampered data never read back
as data. Each test runs its own region process, so the files it inspects are its own."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from typing import Any, Iterator

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from harness import RegionProcess, create_bucket
from twinstore.crypto.segments import SEGMENT, TAG

MIB = 1024 * 1024
SEALED = SEGMENT + TAG  # one encrypted segment on disk


def region(tmp_path_factory: Any, name: str, *args: str) -> RegionProcess:
    r = RegionProcess("us-east-2", str(tmp_path_factory.mktemp(name)), args=list(args))
    r.start()
    return r


@pytest.fixture()
def solo(tmp_path_factory: Any) -> Iterator[RegionProcess]:
    r = region(tmp_path_factory, "solo")
    yield r
    r.stop()
    shutil.rmtree(r.data_dir, ignore_errors=True)


def marker_hits(data_dir: str, marker: bytes) -> list[str]:
    hits = []
    for root, _, files in os.walk(data_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                if marker in fh.read():
                    hits.append(os.path.relpath(os.path.join(root, f), data_dir))
    return hits


def blob_files(r: RegionProcess) -> set[str]:
    root = os.path.join(r.data_dir, "regions", r.name, "blobs")
    return {os.path.join(root, d, f) for d in os.listdir(root) for f in os.listdir(os.path.join(root, d))}


def write_everything(r: RegionProcess, marker: bytes) -> tuple[Any, str, dict[str, bytes]]:
    s3 = r.client()
    bucket = create_bucket(s3, "us-east-2")
    objects = {"large": (marker + os.urandom(100)) * 30_000, "inline": marker * 20, "empty": b""}
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    objects["kms"] = marker * 5000
    s3.put_object(Bucket=bucket, Key="kms", Body=objects["kms"], ServerSideEncryption="aws:kms")
    objects["ssec"] = marker * 3
    s3.put_object(Bucket=bucket, Key="ssec", Body=objects["ssec"], SSECustomerAlgorithm="AES256",
                  SSECustomerKey=b"k" * 32)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    part = marker * (5 * MIB // len(marker) + 1)
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=part)["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    objects["mp"] = part
    return s3, bucket, objects


def test_no_plaintext_on_disk(solo: RegionProcess, tmp_path_factory: Any) -> None:
    marker = b"TWINSTORE-PLAINTEXT-MARKER-" + os.urandom(6).hex().encode()
    s3, bucket, objects = write_everything(solo, marker)
    for key, body in objects.items():
        extra = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b"k" * 32} if key == "ssec" else {}
        assert s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read() == body
    assert marker_hits(solo.data_dir, marker) == []
    keyring = os.path.join(solo.data_dir, "regions", "us-east-2", "keys", "master-keys.json")
    assert stat.S_IMODE(os.stat(keyring).st_mode) == 0o600
    # the same scan finds the marker when encryption at rest is switched off (the scan can see plaintext)
    plain = region(tmp_path_factory, "plain", "--unencrypted-for-benchmarks")
    try:
        write_everything(plain, marker)
        hits = marker_hits(plain.data_dir, marker)
        assert any(h.endswith("meta.db") or "meta.db-wal" in h for h in hits)  # inline objects
        assert any("blobs" in h for h in hits)
    finally:
        plain.stop()
        shutil.rmtree(plain.data_dir, ignore_errors=True)


def read_fails(s3: Any, bucket: str, key: str, **kw: Any) -> None:
    """GET answers an error, or aborts the body: never the full (or wrong) data."""
    try:
        got = s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()
    except (ClientError, BotoCoreError):
        return
    pytest.fail(f"GET of tampered {key} returned {len(got)} bytes")


def test_tampered_data_never_reads_back(solo: RegionProcess) -> None:
    s3 = solo.client()
    bucket = create_bucket(s3, "us-east-2")
    bodies: dict[str, bytes] = {}
    files: dict[str, str] = {}
    for key in ("flip-early", "flip-late", "swap", "truncated", "intact"):
        before = blob_files(solo)
        bodies[key] = os.urandom(3 * MIB)
        s3.put_object(Bucket=bucket, Key=key, Body=bodies[key])
        (files[key],) = blob_files(solo) - before
    s3.put_object(Bucket=bucket, Key="small", Body=b"inline data kept in meta.db")

    def patch(path: str, fn: Any) -> None:
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            fn(data)
            f.seek(0)
            f.write(data)

    def flip(at: int) -> Any:
        def fn(d: bytearray) -> None:
            d[at] ^= 0x01
        return fn

    def swap(d: bytearray) -> None:
        d[0:2 * SEALED] = d[SEALED:2 * SEALED] + d[0:SEALED]

    patch(files["flip-early"], flip(100))
    patch(files["flip-late"], flip(2 * MIB + 5))
    patch(files["swap"], swap)
    os.truncate(files["truncated"], 2 * MIB)  # a long read maps the file: it must refuse, not fault

    with pytest.raises(ClientError) as e:  # first segment bad: an error before any data
        s3.get_object(Bucket=bucket, Key="flip-early")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    read_fails(s3, bucket, "flip-late")  # found mid-body: the connection is cut short
    read_fails(s3, bucket, "swap")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="truncated")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert solo.proc.poll() is None  # the region is still up
    # ranges that do not touch the damaged segment still read, and nothing else is affected
    assert s3.get_object(Bucket=bucket, Key="flip-late", Range="bytes=0-99999")["Body"].read() == \
        bodies["flip-late"][:100000]
    assert s3.get_object(Bucket=bucket, Key="intact")["Body"].read() == bodies["intact"]

    # an inline object's ciphertext in meta.db
    db = sqlite3.connect(os.path.join(solo.data_dir, "regions", "us-east-2", "meta.db"))
    try:
        (row,) = db.execute("SELECT inline_data FROM versions WHERE key=?", (b"small",)).fetchall()
        damaged = bytearray(row[0])
        damaged[3] ^= 0x80
        db.execute("UPDATE versions SET inline_data=? WHERE key=?", (bytes(damaged), b"small"))
        db.commit()
    finally:
        db.close()
    read_fails(s3, bucket, "small")
    assert s3.get_object(Bucket=bucket, Key="intact")["Body"].read() == bodies["intact"]
