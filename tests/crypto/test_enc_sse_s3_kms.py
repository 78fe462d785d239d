"""Default bucket encryption (SSE-S3 unless configured), per-request overrides and SSE-KMS, through boto3 and
the AWS CLI: the headers on every response, ETags, multipart, copy and ranges of encrypted objects."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import create_bucket

MIB = 1024 * 1024


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def kms_key(east: Any) -> dict[str, Any]:
    kms = east.client("kms")
    meta = kms.create_key(Description="s3 tests")["KeyMetadata"]
    return dict(meta)


def test_every_bucket_encrypts_with_sse_s3_by_default(s3: Any, bucket: str) -> None:
    conf = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert conf["Rules"][0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    body = b"hello encrypted world"
    put = s3.put_object(Bucket=bucket, Key="k", Body=body)
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'  # SSE-S3 single part: MD5 of the plaintext
    get = s3.get_object(Bucket=bucket, Key="k")
    assert get["ServerSideEncryption"] == "AES256" and get["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"


def test_bucket_default_kms_then_delete_reverts_to_sse_s3(s3: Any, bucket: str, kms_key: dict[str, Any]) -> None:
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key["KeyId"]},
        "BucketKeyEnabled": True}]})
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == kms_key["KeyId"]
    assert rule["BucketKeyEnabled"] is True
    body = os.urandom(200_000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body)
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["SSEKMSKeyId"] == kms_key["Arn"]  # the full ARN, as S3 answers
    assert put["BucketKeyEnabled"] is True
    assert put["ETag"] != f'"{hashlib.md5(body).hexdigest()}"'  # SSE-KMS ETags are not an MD5
    get = s3.get_object(Bucket=bucket, Key="k")
    assert get["Body"].read() == body
    assert (get["ServerSideEncryption"], get["SSEKMSKeyId"], get["BucketKeyEnabled"]) == \
        ("aws:kms", kms_key["Arn"], True)
    assert get["ETag"] == put["ETag"]
    # a request header overrides the default
    assert s3.put_object(Bucket=bucket, Key="s3", Body=b"x", ServerSideEncryption="AES256")[
        "ServerSideEncryption"] == "AES256"
    s3.delete_bucket_encryption(Bucket=bucket)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.put_object(Bucket=bucket, Key="k2", Body=b"x")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body  # old objects keep their keys


def test_kms_without_key_id_uses_the_aws_s3_managed_key(east: Any, s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"data", ServerSideEncryption="aws:kms")
    managed = east.client("kms").describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert put["SSEKMSKeyId"] == managed["Arn"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


def test_kms_key_by_alias_and_encryption_context(east: Any, s3: Any, bucket: str, kms_key: dict[str, Any]) -> None:
    alias = "alias/s3-tests-" + os.urandom(4).hex()
    east.client("kms").create_alias(AliasName=alias, TargetKeyId=kms_key["KeyId"])
    ctx = "eyJwcm9qZWN0IjoidHdpbnN0b3JlIn0="  # base64 of {"project":"twinstore"}
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"abc", ServerSideEncryption="aws:kms", SSEKMSKeyId=alias,
                        SSEKMSEncryptionContext=ctx)
    assert put["SSEKMSKeyId"] == kms_key["Arn"] and put["SSEKMSEncryptionContext"] == ctx
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"abc"


def test_bad_encryption_requests_change_nothing(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES512")
    assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256", SSEKMSKeyId="abc")
    assert error_code(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId="no-such-key")
    assert error_code(e) == "KMS.NotFoundException"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "DES"}}]})
    assert error_code(e) == "MalformedXML"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_disabled_and_pending_deletion_keys_fail_as_s3_reports_them(east: Any, s3: Any, bucket: str) -> None:
    kms = east.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret", ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    kms.disable_key(KeyId=key)
    for call in (lambda: s3.get_object(Bucket=bucket, Key="k"),
                 lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ServerSideEncryption="aws:kms",
                                       SSEKMSKeyId=key)):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "KMS.DisabledException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert s3.head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "aws:kms"
    kms.enable_key(KeyId=key)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert error_code(e) == "KMS.KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=key)
    kms.enable_key(KeyId=key)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"


@pytest.mark.parametrize("sse", ["AES256", "aws:kms"])
def test_multipart_and_ranges(s3: Any, bucket: str, sse: str) -> None:
    parts = [os.urandom(5 * MIB + 12345), os.urandom(5 * MIB), os.urandom(777)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption=sse)
    assert up["ServerSideEncryption"] == sse
    etags = []
    for i, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=i, Body=data)
        assert r["ServerSideEncryption"] == sse
        etags.append(r["ETag"])
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, 1)]})
    assert done["ServerSideEncryption"] == sse and done["ETag"].endswith('-3"')
    whole = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["ServerSideEncryption"] == sse and got["Body"].read() == whole
    for start, end in [(0, 0), (65535, 65537), (5 * MIB + 12000, 5 * MIB + 12345 + 70000), (len(whole) - 5,
                                                                                          len(whole) - 1)]:
        rng = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={start}-{end}")["Body"].read()
        assert rng == whole[start:end + 1]
    assert s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)["Body"].read() == parts[1]


def test_copy_reencrypts_as_the_destination_asks(s3: Any, bucket: str, kms_key: dict[str, Any]) -> None:
    body = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key="src", Body=body)
    c = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                       ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key["KeyId"])
    assert c["ServerSideEncryption"] == "aws:kms" and c["SSEKMSKeyId"] == kms_key["Arn"]
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body
    # the same object copied onto itself, changing only its encryption, is allowed
    c = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "dst"},
                       ServerSideEncryption="AES256")
    assert c["ServerSideEncryption"] == "AES256"
    assert c["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body
    # UploadPartCopy from an encrypted source into a KMS upload
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms")
    pc = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=1000-99999")
    assert pc["ServerSideEncryption"] == "aws:kms"
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": pc["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body[1000:100000]


def test_aws_cli_encryption_commands(east: Any, s3: Any, kms_key: dict[str, Any], tmp_path: Any) -> None:
    bucket = create_bucket(s3, "us-east-2")
    east.aws("s3api", "put-bucket-encryption", "--bucket", bucket, "--server-side-encryption-configuration",
             json.dumps({"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}))
    out = json.loads(east.aws("s3api", "get-bucket-encryption", "--bucket", bucket).stdout)
    assert out["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"][
        "SSEAlgorithm"] == "AES256"
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(9 * MIB))  # the CLI uploads this in parts
    east.aws("s3", "cp", str(src), f"s3://{bucket}/f.bin", "--sse", "aws:kms", "--sse-kms-key-id", kms_key["KeyId"])
    head = json.loads(east.aws("s3api", "head-object", "--bucket", bucket, "--key", "f.bin").stdout)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms_key["Arn"]
    east.aws("s3", "cp", f"s3://{bucket}/f.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    east.aws("s3api", "delete-bucket-encryption", "--bucket", bucket)
    put = json.loads(east.aws("s3api", "put-object", "--bucket", bucket, "--key", "small", "--body",
                              str(src)).stdout)
    assert put["ServerSideEncryption"] == "AES256"


def test_bucket_default_applies_to_multipart_and_copies(s3: Any, kms_key: dict[str, Any]) -> None:
    src_bucket = create_bucket(s3, "us-east-2")
    bucket = create_bucket(s3, "us-east-2")
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key["Arn"]}}]})
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert (up["ServerSideEncryption"], up["SSEKMSKeyId"]) == ("aws:kms", kms_key["Arn"])
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"part")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert s3.head_object(Bucket=bucket, Key="mp")["SSEKMSKeyId"] == kms_key["Arn"]
    s3.put_object(Bucket=src_bucket, Key="src", Body=b"copied")  # SSE-S3 source
    c = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": src_bucket, "Key": "src"})
    assert (c["ServerSideEncryption"], c["SSEKMSKeyId"]) == ("aws:kms", kms_key["Arn"])
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"copied"


def test_bucket_keys_wrap_many_objects_under_one_kms_data_key(east: Any, s3: Any, bucket: str,
                                                              kms_key: dict[str, Any]) -> None:
    import sqlite3
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key["KeyId"]},
        "BucketKeyEnabled": True}]})
    bodies = {f"k{i}": os.urandom(1000 + i) for i in range(3)}
    for k, body in bodies.items():
        assert s3.put_object(Bucket=bucket, Key=k, Body=body)["BucketKeyEnabled"] is True
    s3.put_object(Bucket=bucket, Key="own", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key["KeyId"],
                  BucketKeyEnabled=False)
    db = sqlite3.connect(f"file:{east.data_dir}/regions/us-east-2/meta.db?mode=ro", uri=True)
    try:
        rows = dict(db.execute("SELECT v.key, v.encryption FROM versions v JOIN buckets b ON b.id = v.bucket_id "
                               "WHERE b.name = ?", (bucket,)).fetchall())
    finally:
        db.close()
    envs = {k.decode(): json.loads(v) for k, v in rows.items()}
    shared = {envs[k]["bkb"] for k in bodies}
    assert len(shared) == 1  # one bucket key from KMS ...
    assert len({envs[k]["wk"] for k in bodies}) == 3  # ... wrapping a distinct data key per object
    assert "bkb" not in envs["own"]
    for k, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == body
