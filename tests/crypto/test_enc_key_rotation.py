"""`twinstore keys rotate`: a new master key re-wraps every data key (and KMS key material) while objects
exist; after a restart everything still reads, with only the new key left in the keyring."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from harness import RegionProcess, base_env, create_bucket

MIB = 1024 * 1024
SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b"c" * 32}


def rotate(data_dir: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "twinstore.cli.main", "keys", "rotate", "--data-dir", data_dir,
                           "--region", "us-east-2"], env=base_env(), capture_output=True, text=True, timeout=60)


def keyring(data_dir: str) -> dict[str, Any]:
    with open(os.path.join(data_dir, "regions", "us-east-2", "keys", "master-keys.json")) as f:
        return dict(json.load(f))


def test_rotate_then_restart_reads_everything(tmp_path: Any) -> None:
    r = RegionProcess("us-east-2", str(tmp_path / "dep"))
    os.makedirs(r.data_dir)
    r.start()
    try:
        s3 = r.client()
        kms = r.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"kms secret")["CiphertextBlob"]
        bucket = create_bucket(s3, "us-east-2", versioned=True)
        bodies = {"large": os.urandom(2 * MIB + 5), "small": b"small object", "kms": os.urandom(70_000),
                  "ssec": os.urandom(1000)}
        s3.put_object(Bucket=bucket, Key="large", Body=bodies["large"])
        old_version = s3.put_object(Bucket=bucket, Key="small", Body=b"first version")["VersionId"]
        s3.put_object(Bucket=bucket, Key="small", Body=bodies["small"])
        s3.put_object(Bucket=bucket, Key="kms", Body=bodies["kms"], ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=key_id)
        s3.put_object(Bucket=bucket, Key="ssec", Body=bodies["ssec"], **SSEC)
        bodies["bucket-key"] = os.urandom(5000)  # its bucket key is opened by KMS again after the restart
        s3.put_object(Bucket=bucket, Key="bucket-key", Body=bodies["bucket-key"], ServerSideEncryption="aws:kms",
                      SSEKMSKeyId=key_id, BucketKeyEnabled=True)
        up = s3.create_multipart_upload(Bucket=bucket, Key="mp")  # in progress across the rotation
        part1 = os.urandom(5 * MIB)
        e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=part1)["ETag"]
        before = keyring(r.data_dir)

        running = rotate(r.data_dir)  # refused while the region runs
        assert running.returncode != 0 and "running" in running.stderr
        assert keyring(r.data_dir) == before

        r.stop()
        done = rotate(r.data_dir)
        assert done.returncode == 0, done.stderr
        after = keyring(r.data_dir)
        assert list(after["keys"]) == [after["current"]] and after["current"] not in before["keys"]
        r.start()

        for key, body in bodies.items():
            extra = SSEC if key == "ssec" else {}
            assert s3.get_object(Bucket=bucket, Key=key, **extra)["Body"].read() == body
        assert s3.get_object(Bucket=bucket, Key="small", VersionId=old_version)["Body"].read() == b"first version"
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kms secret"
        part2 = os.urandom(100)
        e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=2, Body=part2)["ETag"]
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
        assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == part1 + part2

        r.stop()  # and a second rotation, then a restart, still reads it all
        assert rotate(r.data_dir).returncode == 0
        r.start()
        assert s3.get_object(Bucket=bucket, Key="large")["Body"].read() == bodies["large"]
        assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == part1 + part2
    finally:
        r.stop()
        shutil.rmtree(r.data_dir, ignore_errors=True)


def test_a_region_without_its_master_key_refuses_to_start(tmp_path: Any) -> None:
    r = RegionProcess("us-east-2", str(tmp_path / "dep"))
    os.makedirs(r.data_dir)
    r.start()
    ring_path = os.path.join(r.data_dir, "regions", "us-east-2", "keys", "master-keys.json")
    try:
        s3 = r.client()
        bucket = create_bucket(s3, "us-east-2")
        s3.put_object(Bucket=bucket, Key="k", Body=b"needs its key")
        r.stop()
        saved = tmp_path / "saved.json"
        shutil.move(ring_path, saved)
        with pytest.raises(RuntimeError):
            r.start()  # it never becomes healthy: it would otherwise write with a new key what it cannot read
        assert "not in the keyring" in r.read_log()
        r.stop()
        shutil.copy(saved, ring_path)
        r.start()
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"needs its key"
    finally:
        r.stop()
        shutil.rmtree(r.data_dir, ignore_errors=True)
