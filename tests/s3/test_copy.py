"""CopyObject: metadata and tagging directives, versioned sources, cross-bucket copies, self-copy rules and
copy-source preconditions."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import create_bucket


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def put_source(s3: Any, bucket: str, key: str = "src", body: bytes = b"source body") -> dict[str, Any]:
    return dict(s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/source",
                              CacheControl="no-cache", ContentDisposition="inline", Metadata={"a": "1", "b": "2"},
                              Tagging="t1=v1&t2=v%202"))


def test_copy_directive_copy_is_default(s3: Any, bucket: str) -> None:
    put_source(s3, bucket)
    resp = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert resp["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"source body").hexdigest()
    assert resp["CopyObjectResult"]["LastModified"].tzinfo is not None
    assert "VersionId" not in resp and "CopySourceVersionId" not in resp
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"source body"
    assert got["ContentType"] == "text/source"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentDisposition"] == "inline"
    assert got["Metadata"] == {"a": "1", "b": "2"}
    assert got["TagCount"] == 2
    # request metadata is ignored under COPY
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src", Metadata={"ignored": "yes"},
                   ContentType="text/ignored")
    got = s3.head_object(Bucket=bucket, Key="dst2")
    assert got["Metadata"] == {"a": "1", "b": "2"} and got["ContentType"] == "text/source"


def test_copy_directive_replace(s3: Any, bucket: str) -> None:
    put_source(s3, bucket)
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"new": "meta"}, ContentLanguage="fr")
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Metadata"] == {"new": "meta"}
    assert got["ContentType"] == "binary/octet-stream"  # not inherited under REPLACE
    assert got["ContentLanguage"] == "fr"
    assert "CacheControl" not in got and "ContentDisposition" not in got
    assert got["Body"].read() == b"source body"
    assert got["TagCount"] == 2  # tags follow TaggingDirective (COPY), not the metadata directive


def test_tagging_directive(s3: Any, bucket: str) -> None:
    put_source(s3, bucket)
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"})
    assert sorted((t["Key"], t["Value"]) for t in s3.get_object_tagging(Bucket=bucket, Key="copy")["TagSet"]) == \
        [("t1", "v1"), ("t2", "v 2")]
    s3.copy_object(Bucket=bucket, Key="replace", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="only=this")
    assert s3.get_object_tagging(Bucket=bucket, Key="replace")["TagSet"] == [{"Key": "only", "Value": "this"}]
    s3.copy_object(Bucket=bucket, Key="none", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE")
    assert s3.get_object_tagging(Bucket=bucket, Key="none")["TagSet"] == []


def test_copy_across_buckets(s3: Any, bucket: str) -> None:
    other = create_bucket(s3, "us-east-2")
    put_source(s3, bucket, key="dir/ключ +1")
    s3.copy_object(Bucket=other, Key="in/other ✓", CopySource={"Bucket": bucket, "Key": "dir/ключ +1"})
    got = s3.get_object(Bucket=other, Key="in/other ✓")
    assert got["Body"].read() == b"source body"
    assert got["Metadata"] == {"a": "1", "b": "2"}


def test_copy_missing_source(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code(e) == "NoSuchKey" and status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": "tb-no-such-source-bucket0", "Key": "k"})
    assert code(e) == "NoSuchBucket"


def test_copy_from_specific_version(s3: Any, vbucket: str) -> None:
    v1 = s3.put_object(Bucket=vbucket, Key="src", Body=b"version one")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="src", Body=b"version two")["VersionId"]
    resp = s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1})
    assert resp["CopySourceVersionId"] == v1
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-copy-source-version-id"] == v1
    assert resp["VersionId"] not in (None, "null", v1, v2)
    assert s3.get_object(Bucket=vbucket, Key="dst")["Body"].read() == b"version one"
    latest = s3.copy_object(Bucket=vbucket, Key="dst2", CopySource={"Bucket": vbucket, "Key": "src"})
    assert latest["CopySourceVersionId"] == v2
    assert s3.get_object(Bucket=vbucket, Key="dst2")["Body"].read() == b"version two"


def test_copy_from_delete_marker_and_bad_versions(s3: Any, vbucket: str) -> None:
    v1 = s3.put_object(Bucket=vbucket, Key="src", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=vbucket, Key="src")["VersionId"]
    with pytest.raises(ClientError) as e:  # current version is a delete marker
        s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src"})
    assert code(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:  # naming a delete marker by id
        s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": marker})
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src",
                                                               "VersionId": v1[:-1] + ("0" if v1[-1] != "0" else "1")})
    assert code(e) == "NoSuchVersion"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": "bad id"})
    assert code(e) == "InvalidArgument"
    # the old version is still copyable
    s3.copy_object(Bucket=vbucket, Key="dst", CopySource={"Bucket": vbucket, "Key": "src", "VersionId": v1})
    assert s3.get_object(Bucket=vbucket, Key="dst")["Body"].read() == b"x"


def test_self_copy_rules(s3: Any, bucket: str) -> None:
    put_source(s3, bucket, key="self")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert code(e) == "InvalidRequest" and status(e) == 400
    assert "without changing" in e.value.response["Error"]["Message"]
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"updated": "yes"}, ContentType="text/new")
    got = s3.get_object(Bucket=bucket, Key="self")
    assert got["Metadata"] == {"updated": "yes"}
    assert got["ContentType"] == "text/new"
    assert got["Body"].read() == b"source body"
    # changing the storage class is a change too
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   StorageClass="STANDARD_IA")
    assert s3.head_object(Bucket=bucket, Key="self")["StorageClass"] == "STANDARD_IA"


def test_self_copy_in_versioned_bucket_creates_version(s3: Any, vbucket: str) -> None:
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"x", Metadata={"a": "1"})["VersionId"]
    resp = s3.copy_object(Bucket=vbucket, Key="k", CopySource={"Bucket": vbucket, "Key": "k"},
                          MetadataDirective="REPLACE", Metadata={"a": "2"})
    assert resp["VersionId"] != v1
    assert s3.head_object(Bucket=vbucket, Key="k")["Metadata"] == {"a": "2"}
    assert s3.head_object(Bucket=vbucket, Key="k", VersionId=v1)["Metadata"] == {"a": "1"}


def test_copy_source_conditions(s3: Any, bucket: str) -> None:
    etag = put_source(s3, bucket)["ETag"]
    src = {"Bucket": bucket, "Key": "src"}
    past = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    failing = [{"CopySourceIfMatch": '"0123456789abcdef0123456789abcdef"'},
               {"CopySourceIfNoneMatch": etag},
               {"CopySourceIfUnmodifiedSince": past},
               {"CopySourceIfModifiedSince": future},
               # If-None-Match false wins over If-Modified-Since true
               {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": past}]
    for cond in failing:
        with pytest.raises(ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, **cond)
        assert code(e) == "PreconditionFailed" and status(e) == 412, cond
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="dst")
    passing = [{"CopySourceIfMatch": etag},
               {"CopySourceIfNoneMatch": '"0123456789abcdef0123456789abcdef"'},
               {"CopySourceIfUnmodifiedSince": future},
               {"CopySourceIfModifiedSince": past},
               # If-Match true wins over If-Unmodified-Since false
               {"CopySourceIfMatch": etag, "CopySourceIfUnmodifiedSince": past}]
    for i, cond in enumerate(passing):
        s3.copy_object(Bucket=bucket, Key=f"dst{i}", CopySource=src, **cond)
        assert s3.get_object(Bucket=bucket, Key=f"dst{i}")["Body"].read() == b"source body", cond


def test_copy_destination_if_none_match(s3: Any, bucket: str) -> None:
    put_source(s3, bucket)
    s3.put_object(Bucket=bucket, Key="taken", Body=b"mine")
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="taken", CopySource={"Bucket": bucket, "Key": "src"}, IfNoneMatch="*")
    assert code(e) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="taken")["Body"].read() == b"mine"
    s3.copy_object(Bucket=bucket, Key="free", CopySource={"Bucket": bucket, "Key": "src"}, IfNoneMatch="*")


def test_copy_multipart_source(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", Metadata={"from": "mpu"})["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=b"multi")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    resp = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "mp"})
    got = s3.get_object(Bucket=bucket, Key="copy")
    assert got["Body"].read() == b"multi"
    assert got["ETag"] == resp["CopyObjectResult"]["ETag"]
    assert got["Metadata"] == {"from": "mpu"}


def test_copy_with_cli(east: Any, s3: Any, bucket: str) -> None:
    put_source(s3, bucket)
    east.aws("s3", "cp", f"s3://{bucket}/src", f"s3://{bucket}/cli-copy")
    got = s3.get_object(Bucket=bucket, Key="cli-copy")
    assert got["Body"].read() == b"source body"
    assert got["ContentType"] == "text/source"


def test_copy_hostile_keys_and_versions(s3: Any, vbucket: str) -> None:
    for key in ("q?mark#hash", "sp ace+plus", "a%2Fb", "../x"):
        v = s3.put_object(Bucket=vbucket, Key=key, Body=key.encode())["VersionId"]
        s3.put_object(Bucket=vbucket, Key=key, Body=b"newer")
        s3.copy_object(Bucket=vbucket, Key="copy/" + key,
                       CopySource={"Bucket": vbucket, "Key": key, "VersionId": v})
        assert s3.get_object(Bucket=vbucket, Key="copy/" + key)["Body"].read() == key.encode(), key


def test_copy_preserves_checksum_algorithm(s3: Any, bucket: str) -> None:
    import base64
    s3.put_object(Bucket=bucket, Key="src", Body=b"checked", ChecksumAlgorithm="SHA1")
    resp = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    want = base64.b64encode(hashlib.sha1(b"checked").digest()).decode()
    assert resp["CopyObjectResult"]["ChecksumSHA1"] == want
    got = s3.get_object(Bucket=bucket, Key="dst", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"checked" and got["ChecksumSHA1"] == want
    # an explicit algorithm on the copy request wins
    resp = s3.copy_object(Bucket=bucket, Key="dst2", CopySource={"Bucket": bucket, "Key": "src"},
                          ChecksumAlgorithm="SHA256")
    assert resp["CopyObjectResult"]["ChecksumSHA256"] == \
        base64.b64encode(hashlib.sha256(b"checked").digest()).decode()
