"""Conditional GET/HEAD (304/412 and the precedence rules), conditional PUT, Range requests and
response-header overrides."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

BODY = b"0123456789abcdefghij"  # 20 bytes
OTHER_ETAG = '"0123456789abcdef0123456789abcdef"'
PAST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


@pytest.fixture()
def obj(s3: Any, bucket: str) -> dict[str, Any]:
    s3.put_object(Bucket=bucket, Key="o", Body=BODY)
    head = s3.head_object(Bucket=bucket, Key="o")
    lm: dt.datetime = head["LastModified"]
    return {"bucket": bucket, "etag": head["ETag"], "lm": lm, "future": dt.datetime.now(dt.timezone.utc)
            + dt.timedelta(days=1)}


def outcome(s3: Any, obj: dict[str, Any], method: str, **cond: Any) -> int:
    fn = s3.get_object if method == "GET" else s3.head_object
    try:
        resp = fn(Bucket=obj["bucket"], Key="o", **cond)
    except ClientError as e:
        return int(e.response["ResponseMetadata"]["HTTPStatusCode"])
    if method == "GET":
        assert resp["Body"].read() == BODY
    return int(resp["ResponseMetadata"]["HTTPStatusCode"])


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_single_conditions(s3: Any, obj: dict[str, Any], method: str) -> None:
    etag, lm, future = obj["etag"], obj["lm"], obj["future"]
    cases = [
        ({"IfMatch": etag}, 200),
        ({"IfMatch": etag.strip('"')}, 200),  # unquoted tags compare equal
        ({"IfMatch": "*"}, 200),
        ({"IfMatch": OTHER_ETAG}, 412),
        ({"IfMatch": f"{OTHER_ETAG}, {etag}"}, 200),
        ({"IfNoneMatch": etag}, 304),
        ({"IfNoneMatch": "*"}, 304),
        ({"IfNoneMatch": OTHER_ETAG}, 200),
        ({"IfModifiedSince": PAST}, 200),
        ({"IfModifiedSince": lm}, 304),  # not modified since exactly its own Last-Modified
        ({"IfModifiedSince": lm - dt.timedelta(seconds=1)}, 200),
        ({"IfUnmodifiedSince": future}, 200),
        ({"IfUnmodifiedSince": lm}, 200),
        ({"IfUnmodifiedSince": PAST}, 412),
    ]
    for cond, want in cases:
        assert outcome(s3, obj, method, **cond) == want, cond


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_precedence_rules(s3: Any, obj: dict[str, Any], method: str) -> None:
    etag, future = obj["etag"], obj["future"]
    cases = [
        # If-Match true + If-Unmodified-Since false => 200
        ({"IfMatch": etag, "IfUnmodifiedSince": PAST}, 200),
        # If-None-Match false (matches) + If-Modified-Since true => 304
        ({"IfNoneMatch": etag, "IfModifiedSince": PAST}, 304),
        # If-None-Match true (differs) + If-Modified-Since false => 200 (If-None-Match wins)
        ({"IfNoneMatch": OTHER_ETAG, "IfModifiedSince": future}, 200),
        # If-Match false beats everything else
        ({"IfMatch": OTHER_ETAG, "IfNoneMatch": OTHER_ETAG}, 412),
        ({"IfMatch": OTHER_ETAG, "IfModifiedSince": PAST}, 412),
        # If-Match true and If-None-Match matching => 304
        ({"IfMatch": etag, "IfNoneMatch": etag}, 304),
        # If-Unmodified-Since false + If-None-Match matching => 412 (412 checks first)
        ({"IfUnmodifiedSince": PAST, "IfNoneMatch": etag}, 412),
    ]
    for cond, want in cases:
        assert outcome(s3, obj, method, **cond) == want, cond


def test_304_carries_etag_and_last_modified(s3: Any, obj: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=obj["bucket"], Key="o", IfNoneMatch=obj["etag"])
    assert status(e) == 304
    h = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert h["etag"] == obj["etag"]
    assert "last-modified" in h
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=obj["bucket"], Key="o", IfMatch=OTHER_ETAG)
    assert code(e) == "PreconditionFailed"


def test_conditions_on_missing_key_are_404(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope", IfMatch=OTHER_ETAG)
    assert code(e) == "NoSuchKey"


def test_ranges(s3: Any, obj: dict[str, Any]) -> None:
    b = obj["bucket"]
    cases = [("bytes=0-4", BODY[0:5], "bytes 0-4/20"),
             ("bytes=5-", BODY[5:], "bytes 5-19/20"),
             ("bytes=-3", BODY[-3:], "bytes 17-19/20"),
             ("bytes=10-10", BODY[10:11], "bytes 10-10/20"),
             ("bytes=15-100", BODY[15:], "bytes 15-19/20"),  # end clamped
             ("bytes=-100", BODY, "bytes 0-19/20")]  # suffix longer than object
    for rng, data, content_range in cases:
        resp = s3.get_object(Bucket=b, Key="o", Range=rng)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 206, rng
        assert resp["Body"].read() == data, rng
        assert resp["ContentRange"] == content_range, rng
        assert resp["ContentLength"] == len(data), rng
        assert resp["AcceptRanges"] == "bytes"
        assert resp["ETag"] == obj["etag"]
    head = s3.head_object(Bucket=b, Key="o", Range="bytes=0-4")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentLength"] == 5


def test_unsatisfiable_range(s3: Any, obj: dict[str, Any]) -> None:
    for rng in ("bytes=20-", "bytes=25-30", "bytes=-0"):
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=obj["bucket"], Key="o", Range=rng)
        assert code(e) == "InvalidRange" and status(e) == 416, rng
        assert e.value.response["Error"]["ActualObjectSize"] == "20"


def test_ignored_ranges_return_whole_object(s3: Any, obj: dict[str, Any]) -> None:
    for rng in ("bytes=0-1,3-4", "items=0-4", "bytes=5-2"):
        resp = s3.get_object(Bucket=obj["bucket"], Key="o", Range=rng)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200, rng
        assert resp["Body"].read() == BODY
        assert "ContentRange" not in resp


def test_range_with_conditions(s3: Any, obj: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=obj["bucket"], Key="o", Range="bytes=0-1", IfMatch=OTHER_ETAG)
    assert status(e) == 412
    resp = s3.get_object(Bucket=obj["bucket"], Key="o", Range="bytes=0-1", IfMatch=obj["etag"])
    assert resp["Body"].read() == b"01"


def test_range_on_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="e", Body=b"")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="e", Range="bytes=0-4")
    assert code(e) == "InvalidRange"


def test_response_header_overrides(s3: Any, obj: dict[str, Any]) -> None:
    resp = s3.get_object(Bucket=obj["bucket"], Key="o", ResponseContentType="application/x-override",
                         ResponseContentDisposition='attachment; filename="x.bin"',
                         ResponseContentEncoding="identity", ResponseContentLanguage="nl",
                         ResponseCacheControl="no-store",
                         ResponseExpires=dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
    h = resp["ResponseMetadata"]["HTTPHeaders"]
    assert resp["ContentType"] == "application/x-override"
    assert resp["ContentDisposition"] == 'attachment; filename="x.bin"'
    assert resp["ContentEncoding"] == "identity"
    assert resp["ContentLanguage"] == "nl"
    assert resp["CacheControl"] == "no-store"
    assert h["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"
    assert resp["Body"].read() == BODY
    # the stored object is unchanged
    assert s3.head_object(Bucket=obj["bucket"], Key="o")["ContentType"] == "binary/octet-stream"


def test_conditional_put_if_none_match(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert code(e) == "PreconditionFailed" and status(e) == 412
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_conditional_put_if_none_match_after_delete_marker(s3: Any, vbucket: str) -> None:
    s3.put_object(Bucket=vbucket, Key="k", Body=b"1")
    s3.delete_object(Bucket=vbucket, Key="k")
    # a delete marker is not an object: the write goes through
    s3.put_object(Bucket=vbucket, Key="k", Body=b"2", IfNoneMatch="*")
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"2"


def test_conditional_put_if_match(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="cas", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="cas", Body=b"v2", IfMatch=OTHER_ETAG)
    assert code(e) == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key="cas", Body=b"v2", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="cas")["Body"].read() == b"v2"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=etag)
    assert code(e) == "NoSuchKey" and status(e) == 404


def test_conditional_complete_multipart(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="mp", Body=b"exists")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=b"part")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid, IfNoneMatch="*",
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert code(e) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"exists"
