"""Object tagging: Put/Get/DeleteObjectTagging (incl. versionId), x-amz-tagging on PUT, TagCount, limits."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def tags(resp: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((t["Key"], t["Value"]) for t in resp["TagSet"])


def test_tagging_header_on_put(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="env=prod&team=a%20b&empty=&sym=%2B%26%3D")
    assert tags(s3.get_object_tagging(Bucket=bucket, Key="k")) == [
        ("empty", ""), ("env", "prod"), ("sym", "+&="), ("team", "a b")]
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["TagCount"] == 4
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "4"
    assert s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "4"


def test_no_tags_no_tag_count(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []


def test_put_get_delete_object_tagging(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="old=1")
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [
        {"Key": "a", "Value": "1"}, {"Key": "ключ", "Value": "значение ✓"}]})
    # replaces, not merges
    assert tags(s3.get_object_tagging(Bucket=bucket, Key="k")) == [("a", "1"), ("ключ", "значение ✓")]
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ETag"] == etag  # tagging does not change the object
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2
    resp = s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")


def test_tagging_missing_object(s3: Any, bucket: str) -> None:
    for call in (lambda: s3.get_object_tagging(Bucket=bucket, Key="nope"),
                 lambda: s3.put_object_tagging(Bucket=bucket, Key="nope",
                                               Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}),
                 lambda: s3.delete_object_tagging(Bucket=bucket, Key="nope")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NoSuchKey" and status(e) == 404


def test_tagging_versions(s3: Any, vbucket: str) -> None:
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"1", Tagging="v=1")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"2", Tagging="v=2")["VersionId"]
    latest = s3.get_object_tagging(Bucket=vbucket, Key="k")
    assert tags(latest) == [("v", "2")] and latest["VersionId"] == v2
    old = s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)
    assert tags(old) == [("v", "1")] and old["VersionId"] == v1
    put = s3.put_object_tagging(Bucket=vbucket, Key="k", VersionId=v1,
                                Tagging={"TagSet": [{"Key": "v", "Value": "one"}]})
    assert put["VersionId"] == v1
    assert tags(s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)) == [("v", "one")]
    assert tags(s3.get_object_tagging(Bucket=vbucket, Key="k")) == [("v", "2")]
    dele = s3.delete_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)
    assert dele["VersionId"] == v1
    assert s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=v1)["TagSet"] == []
    assert tags(s3.get_object_tagging(Bucket=vbucket, Key="k")) == [("v", "2")]
    # unknown version / delete marker
    unknown = v1[:-1] + ("0" if v1[-1] != "0" else "1")
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=unknown)
    assert code(e) == "NoSuchVersion"
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId="not valid")
    assert code(e) == "InvalidArgument"
    marker = s3.delete_object(Bucket=vbucket, Key="k")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=vbucket, Key="k", VersionId=marker)
    assert code(e) == "MethodNotAllowed" and status(e) == 405
    # unlike GetObject, tagging a key whose current version is a delete marker is 405 even without an id
    # (observed on AWS: localstack/localstack#11180, scality/cloudserver#709)
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=vbucket, Key="k")
    assert code(e) == "MethodNotAllowed"


def test_tag_limits(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    bad_sets = [
        [{"Key": f"k{i}", "Value": "v"} for i in range(11)],  # more than 10
        [{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}],
        [{"Key": "k" * 129, "Value": "v"}],
        [{"Key": "k", "Value": "v" * 257}],
        [{"Key": "aws:reserved", "Value": "v"}],
    ]
    for tag_set in bad_sets:
        with pytest.raises(ClientError) as e:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set})
        assert code(e) == "InvalidTag" and status(e) == 400
    s3.put_object_tagging(Bucket=bucket, Key="k",
                          Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v" * 256} for i in range(10)]})
    assert len(s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]) == 10
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k2", Body=b"x", Tagging="&".join(f"t{i}=v" for i in range(11)))
    assert code(e) == "InvalidTag"


def test_multipart_tagging_header(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="from=mpu")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=b"x")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert tags(s3.get_object_tagging(Bucket=bucket, Key="mp")) == [("from", "mpu")]


def test_cli_object_tagging(east: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="cli", Body=b"x")
    east.aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", "cli",
             "--tagging", "TagSet=[{Key=cli,Value=yes}]")
    out = east.aws("s3api", "get-object-tagging", "--bucket", bucket, "--key", "cli").stdout
    assert '"Key": "cli"' in out and '"Value": "yes"' in out
