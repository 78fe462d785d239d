"""GetObjectAttributes: ETag, ObjectSize, StorageClass, ObjectParts for multipart objects, Checksum."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

ALL = ["ETag", "ObjectSize", "StorageClass", "Checksum", "ObjectParts"]
PART = 5 * 1024 * 1024


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_single_part_object(s3: Any, bucket: str) -> None:
    body = b"attributes!"
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256")
    resp = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    assert resp["ETag"] == hashlib.md5(body).hexdigest()  # unquoted in this API
    assert resp["ObjectSize"] == len(body)
    assert resp["StorageClass"] == "STANDARD"
    assert resp["Checksum"]["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert "ObjectParts" not in resp
    assert resp["LastModified"].tzinfo is not None


def test_only_requested_attributes(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", StorageClass="STANDARD_IA")
    resp = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert resp["ObjectSize"] == 1
    assert "ETag" not in resp and "StorageClass" not in resp and "Checksum" not in resp
    resp = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["StorageClass"])
    assert resp["StorageClass"] == "STANDARD_IA"


def test_multipart_object_parts(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
    data = [os.urandom(PART), b"last part"]
    parts = []
    for i, d in enumerate(data, start=1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=i, Body=d, ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": parts})
    resp = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL)
    assert resp["ETag"] == done["ETag"].strip('"')
    assert resp["ETag"].endswith("-2")
    assert resp["ObjectSize"] == PART + len(data[1])
    op = resp["ObjectParts"]
    assert op["TotalPartsCount"] == 2
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(1, PART), (2, len(data[1]))]
    assert [p["ChecksumCRC32"] for p in op["Parts"]] == [p["ChecksumCRC32"] for p in parts]
    assert resp["Checksum"]["ChecksumCRC32"] == done["ChecksumCRC32"]
    assert resp["Checksum"]["ChecksumType"] == "COMPOSITE"
    page = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1)
    assert [p["PartNumber"] for p in page["ObjectParts"]["Parts"]] == [1]
    assert page["ObjectParts"]["IsTruncated"] is True
    assert page["ObjectParts"]["NextPartNumberMarker"] == 1
    rest = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=1,
                                    PartNumberMarker=1)
    assert [p["PartNumber"] for p in rest["ObjectParts"]["Parts"]] == [2]
    assert rest["ObjectParts"]["IsTruncated"] is False


def test_versions_and_errors(s3: Any, vbucket: str) -> None:
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"one")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="k", Body=b"three")
    resp = s3.get_object_attributes(Bucket=vbucket, Key="k", VersionId=v1, ObjectAttributes=["ObjectSize"])
    assert resp["ObjectSize"] == 3 and resp["VersionId"] == v1
    assert s3.get_object_attributes(Bucket=vbucket, Key="k", ObjectAttributes=["ObjectSize"])["ObjectSize"] == 5
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=vbucket, Key="missing", ObjectAttributes=["ETag"])
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=vbucket, Key="k", ObjectAttributes=["Bogus"])
    assert code(e) == "InvalidArgument"
    s3.delete_object(Bucket=vbucket, Key="k")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=vbucket, Key="k", ObjectAttributes=["ETag"])
    assert code(e) == "NoSuchKey"


def test_multipart_without_checksum_lists_only_the_count(s3: Any, bucket: str) -> None:
    """S3 returns Part elements only for objects uploaded with an additional checksum."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key="plain")["UploadId"]
    parts = []
    for i, d in enumerate([b"a" * PART, b"tail"], start=1):
        parts.append({"PartNumber": i, "ETag": s3.upload_part(Bucket=bucket, Key="plain", UploadId=uid,
                                                              PartNumber=i, Body=d)["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key="plain", UploadId=uid, MultipartUpload={"Parts": parts})
    resp = s3.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["ObjectParts", "ObjectSize"])
    assert resp["ObjectParts"]["TotalPartsCount"] == 2
    assert "Parts" not in resp["ObjectParts"]
    assert resp["ObjectSize"] == PART + 4
