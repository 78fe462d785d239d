"""SSE-C objects replicate (as AWS documents today) without the customer key ever being stored or sent: the
ciphertext and its envelope travel verbatim and the replica opens only with the customer's key."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from harness import Deployment, base_env, create_bucket
from replication_helpers import replicate, rule_v2, wait_for

MIB = 1024 * 1024
KEY = os.urandom(32)
SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY}
OTHER = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": os.urandom(32)}


def _buckets(east: Any, west: Any) -> tuple[Any, Any, str, str]:
    s3e, s3w = east.client(), west.client()
    eb, wb = create_bucket(s3e, "us-east-2", versioned=True), create_bucket(s3w, "us-west-2", versioned=True)
    replicate(s3e, eb, "us-east-2", rule_v2(wb))
    return s3e, s3w, eb, wb


def wait_status(s3: Any, bucket: str, key: str, want: str) -> None:
    """HEAD of an SSE-C object needs its key (without it: 400)."""
    wait_for(lambda: s3.head_object(Bucket=bucket, Key=key, **SSEC).get("ReplicationStatus") == want,
             what=f"{bucket}/{key} {want}")


def _status(err: ClientError) -> int:
    return err.response["ResponseMetadata"]["HTTPStatusCode"]


def _only_with_key(s3: Any, bucket: str, key: str, body: bytes) -> None:
    got = s3.get_object(Bucket=bucket, Key=key, **SSEC)
    assert got["Body"].read() == body and got["ReplicationStatus"] == "REPLICA"
    assert got["SSECustomerAlgorithm"] == "AES256"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key)
    assert _status(e.value) == 400
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key=key, **OTHER)
    assert _status(e.value) == 403
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert _status(e.value) == 400
    assert s3.head_object(Bucket=bucket, Key=key, **SSEC)["ReplicationStatus"] == "REPLICA"


def _marker_hits(data_dir: str, marker: bytes) -> list[str]:
    hits = []
    for root, _, files in os.walk(data_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                if marker in fh.read():
                    hits.append(os.path.join(root, f))
    return hits


def _blob_paths(region: Any, bucket: str, key: str, vid: str) -> list[str]:
    rdir = os.path.join(region.data_dir, "regions", region.name)
    db = sqlite3.connect(f"file:{os.path.join(rdir, 'meta.db')}?mode=ro", uri=True)
    try:
        (bid,) = db.execute("SELECT id FROM buckets WHERE name=?", (bucket,)).fetchone()
        (segs,) = db.execute("SELECT segments FROM versions WHERE bucket_id=? AND vid=?", (bid, vid)).fetchone()
    finally:
        db.close()
    segs = json.loads(segs) if isinstance(segs, str) else json.loads(segs.decode())
    return [os.path.join(rdir, "blobs", b[:2], b) for b, _ in segs]


def test_single_part_ssec_objects_replicate_as_ciphertext(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    marker = os.urandom(24)
    bodies = {"small": marker * 100, "large": (marker + os.urandom(1000)) * 3000, "empty": b""}
    puts = {k: s3e.put_object(Bucket=eb, Key=k, Body=b, **SSEC) for k, b in bodies.items()}
    for k, body in bodies.items():
        wait_status(s3e, eb, k, "COMPLETED")
        _only_with_key(s3w, wb, k, body)
        rep = s3w.head_object(Bucket=wb, Key=k, **SSEC)
        assert rep["VersionId"] == puts[k]["VersionId"] and rep["ETag"] == puts[k]["ETag"]
        assert rep["SSECustomerKeyMD5"] == puts[k]["SSECustomerKeyMD5"]
    assert _marker_hits(os.path.join(west.data_dir, "regions", west.name), marker) == []
    assert _marker_hits(os.path.join(west.data_dir, "regions", west.name), KEY) == []


def test_multipart_ssec_object_replicates(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    marker = os.urandom(24)
    up = s3e.create_multipart_upload(Bucket=eb, Key="mp", **SSEC)
    bodies, parts = [], []
    for n in (1, 2, 3):
        body = (marker + bytes([n])) * (-(-5 * MIB // 25) if n < 3 else 100)
        bodies.append(body)
        r = s3e.upload_part(Bucket=eb, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=body, **SSEC)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    done = s3e.complete_multipart_upload(Bucket=eb, Key="mp", UploadId=up["UploadId"],
                                         MultipartUpload={"Parts": parts}, **SSEC)
    wait_status(s3e, eb, "mp", "COMPLETED")
    _only_with_key(s3w, wb, "mp", b"".join(bodies))
    rep = s3w.head_object(Bucket=wb, Key="mp", **SSEC)
    assert rep["ETag"] == done["ETag"] and rep["VersionId"] == done["VersionId"]
    part2 = s3w.get_object(Bucket=wb, Key="mp", PartNumber=2, **SSEC)
    assert part2["Body"].read() == bodies[1] and part2["PartsCount"] == 3
    ranged = s3w.get_object(Bucket=wb, Key="mp", Range=f"bytes={5 * MIB - 10}-{5 * MIB + 9}", **SSEC)
    assert ranged["Body"].read() == b"".join(bodies)[5 * MIB - 10:5 * MIB + 10]
    assert _marker_hits(os.path.join(west.data_dir, "regions", west.name), marker) == []
    # a one-part multipart object small enough for a batch still keeps its part stream
    up = s3e.create_multipart_upload(Bucket=eb, Key="tiny", **SSEC)
    r = s3e.upload_part(Bucket=eb, Key="tiny", UploadId=up["UploadId"], PartNumber=1, Body=marker, **SSEC)
    s3e.complete_multipart_upload(Bucket=eb, Key="tiny", UploadId=up["UploadId"],
                                  MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]}, **SSEC)
    wait_status(s3e, eb, "tiny", "COMPLETED")
    _only_with_key(s3w, wb, "tiny", marker)


def test_tampered_replica_never_reads_back(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    body = os.urandom(2 * MIB)
    put = s3e.put_object(Bucket=eb, Key="t", Body=body, **SSEC)
    wait_status(s3e, eb, "t", "COMPLETED")
    assert s3w.get_object(Bucket=wb, Key="t", **SSEC)["Body"].read() == body
    (path,) = _blob_paths(west, wb, "t", put["VersionId"])
    with open(path, "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 1]))
    try:
        got = s3w.get_object(Bucket=wb, Key="t", **SSEC)["Body"].read()
    except (ClientError, BotoCoreError):
        got = None
    assert got is None, "a tampered replica read back"
    assert s3e.get_object(Bucket=eb, Key="t", **SSEC)["Body"].read() == body  # the source is untouched


def _envelope(region: Any, bucket: str, vid: str, change: Any = None) -> dict[str, Any]:
    """A version's stored envelope (optionally rewritten by `change`, as someone with the data dir could)."""
    rdir = os.path.join(region.data_dir, "regions", region.name)
    db = sqlite3.connect(os.path.join(rdir, "meta.db"), timeout=30)
    try:
        (bid,) = db.execute("SELECT id FROM buckets WHERE name=?", (bucket,)).fetchone()
        (raw,) = db.execute("SELECT encryption FROM versions WHERE bucket_id=? AND vid=?", (bid, vid)).fetchone()
        env = dict(json.loads(raw))
        if change is not None:
            change(env)
            with db:
                db.execute("UPDATE versions SET encryption=? WHERE bucket_id=? AND vid=?", (json.dumps(env), bid, vid))
        return env
    finally:
        db.close()


def test_replica_origin_record_is_authenticated(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    vids = {k: s3e.put_object(Bucket=eb, Key=k, Body=k.encode() * 1000, **SSEC)["VersionId"] for k in ("a", "b")}
    for k in vids:
        wait_status(s3e, eb, k, "COMPLETED")
    env = _envelope(west, wb, vids["a"])
    assert env["alg"] == "SSE-C" and isinstance(env["ob"], int) and env["okid"] and env["otag"]
    assert s3w.get_object(Bucket=wb, Key="a", **SSEC)["Body"].read() == b"a" * 1000

    def other_origin(e: dict[str, Any]) -> None:
        e["ob"] += 1

    _envelope(west, wb, vids["a"], other_origin)
    with pytest.raises(ClientError) as e:  # a forged sealed-under record: refused, no data
        s3w.get_object(Bucket=wb, Key="a", **SSEC)
    assert _status(e.value) == 500
    tag_of_b = _envelope(west, wb, vids["b"])["otag"]

    def moved_tag(e: dict[str, Any]) -> None:
        e["ob"] -= 1
        e["otag"] = tag_of_b

    _envelope(west, wb, vids["a"], moved_tag)  # another version's (valid) record does not fit this one
    with pytest.raises(ClientError) as e:
        s3w.get_object(Bucket=wb, Key="a", **SSEC)
    assert _status(e.value) == 500
    assert s3w.get_object(Bucket=wb, Key="b", **SSEC)["Body"].read() == b"b" * 1000


def test_master_key_rotation_keeps_ssec_replicas_readable(tmp_path: Any) -> None:
    os.makedirs(tmp_path / "dep")
    dep = Deployment(data_dir=str(tmp_path / "dep")).start()
    try:
        east, west = dep["us-east-2"], dep["us-west-2"]
        s3e, s3w, eb, wb = _buckets(east, west)
        body = os.urandom(MIB)
        s3e.put_object(Bucket=eb, Key="r", Body=body, **SSEC)
        wait_status(s3e, eb, "r", "COMPLETED")
        west.stop()
        done = subprocess.run([sys.executable, "-m", "twinstore.cli.main", "keys", "rotate", "--data-dir",
                               west.data_dir, "--region", "us-west-2"], env=base_env(), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        west.start()
        assert s3w.get_object(Bucket=wb, Key="r", **SSEC)["Body"].read() == body
    finally:
        dep.stop()
