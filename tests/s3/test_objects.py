"""PutObject / GetObject / HeadObject / DeleteObject(s): metadata, content headers, digests, checksums,
key rules and hostile keys, driven through boto3 and the AWS CLI against real region processes."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import zlib
from typing import Any

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError
from botocore.handlers import set_list_objects_encoding_type_url

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"

HOSTILE_KEYS = [
    "../x",
    "a//b",
    "./x",
    "dir/",
    "lit%2Fslash",
    "ключ/日本語 ✓",
    "sp ace+plus",
    "q?mark#hash",
    "amp&lt<gt>\"quote'",
    "percent%20not-a-space",
    "tilde~star*(paren)",
    "trailing space ",
]


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def headers_of(resp: Any) -> dict[str, str]:
    return dict(resp["ResponseMetadata"]["HTTPHeaders"])


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def expected_checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "CRC32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "CRC32C":
        return b64(crt.crc32c(data).to_bytes(4, "big"))
    if algorithm == "CRC64NVME":
        return b64(crt.crc64nvme(data).to_bytes(8, "big"))
    return b64(hashlib.new(algorithm.lower(), data).digest())


def unencoded_client(east: Any) -> Any:
    """A client that lists without `encoding-type=url` (botocore adds it by default)."""
    c = east.client()
    for op in ("ListObjects", "ListObjectsV2", "ListObjectVersions"):
        c.meta.events.unregister(f"before-parameter-build.s3.{op}", set_list_objects_encoding_type_url)
    return c


# ---- basic round trips --------------------------------------------------------------------------------------

def test_put_response_has_quoted_md5_etag_and_no_version_id_when_unversioned(s3: Any, bucket: str) -> None:
    resp = s3.put_object(Bucket=bucket, Key="k", Body=b"abc")
    assert resp["ETag"] == '"%s"' % hashlib.md5(b"abc").hexdigest()
    assert "VersionId" not in resp
    assert "x-amz-version-id" not in headers_of(resp)


def test_user_metadata_round_trip(s3: Any, bucket: str) -> None:
    meta = {"color": "blue", "Mixed-Case": "Value With Spaces", "empty": ""}
    s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata=meta)
    expected = {k.lower(): v for k, v in meta.items()}
    assert s3.head_object(Bucket=bucket, Key="m")["Metadata"] == expected
    got = s3.get_object(Bucket=bucket, Key="m")
    assert got["Metadata"] == expected
    assert headers_of(got)["x-amz-meta-color"] == "blue"


def test_default_content_type(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="noct", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="noct")["ContentType"] == "binary/octet-stream"
    assert s3.get_object(Bucket=bucket, Key="noct")["ContentType"] == "binary/octet-stream"


def test_content_headers_round_trip(s3: Any, bucket: str) -> None:
    expires = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    s3.put_object(Bucket=bucket, Key="ch", Body=b"data", ContentType="text/plain; charset=utf-8",
                  ContentEncoding="gzip", ContentDisposition='attachment; filename="a b.txt"',
                  CacheControl="max-age=60, public", ContentLanguage="de-DE", Expires=expires)
    for resp in (s3.head_object(Bucket=bucket, Key="ch"), s3.get_object(Bucket=bucket, Key="ch")):
        h = headers_of(resp)
        assert resp["ContentType"] == "text/plain; charset=utf-8"
        assert resp["ContentEncoding"] == "gzip"
        assert resp["ContentDisposition"] == 'attachment; filename="a b.txt"'
        assert resp["CacheControl"] == "max-age=60, public"
        assert resp["ContentLanguage"] == "de-DE"
        assert h["expires"] == "Tue, 06 May 2031 07:08:09 GMT"
        assert resp["ContentLength"] == 4
        assert h["accept-ranges"] == "bytes"
        assert "last-modified" in h


def test_zero_byte_object(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == f'"{EMPTY_MD5}"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ETag"] == f'"{EMPTY_MD5}"'
    head = s3.head_object(Bucket=bucket, Key="empty")
    assert head["ContentLength"] == 0
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("empty", 0)]


def test_overwrite_replaces_data_and_metadata(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"first", Metadata={"a": "1"}, ContentType="text/a")
    s3.put_object(Bucket=bucket, Key="o", Body=b"second!")
    got = s3.get_object(Bucket=bucket, Key="o")
    assert got["Body"].read() == b"second!"
    assert got["Metadata"] == {}
    assert got["ContentType"] == "binary/octet-stream"


def test_get_missing_key_and_bucket(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="nope")
    assert code(e) == "NoSuchKey" and status(e) == 404
    assert e.value.response["Error"]["Key"] == "nope"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="nope")
    assert code(e) == "404"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="tb-no-such-bucket-0000000000", Key="k")
    assert code(e) == "NoSuchBucket" and status(e) == 404


def test_delete_object_unversioned(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="d", Body=b"x")
    resp = s3.delete_object(Bucket=bucket, Key="d")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "DeleteMarker" not in resp and "VersionId" not in resp
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="d")
    assert code(e) == "NoSuchKey"
    # deleting a missing key is idempotent
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204


# ---- digests and checksums ----------------------------------------------------------------------------------

def test_content_md5_good(s3: Any, bucket: str) -> None:
    body = b"integrity matters"
    s3.put_object(Bucket=bucket, Key="md5", Body=body, ContentMD5=b64(hashlib.md5(body).digest()))
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == body


def test_content_md5_mismatch_is_bad_digest_and_stores_nothing(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"abc", ContentMD5=b64(hashlib.md5(b"abd").digest()))
    assert code(e) == "BadDigest" and status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="md5")
    assert code(e) == "404"


@pytest.mark.parametrize("bad", ["not-base64!!", b64(b"short")])
def test_content_md5_malformed_is_invalid_digest(s3: Any, bucket: str, bad: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"abc", ContentMD5=bad)
    assert code(e) == "InvalidDigest" and status(e) == 400


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_flexible_checksum_round_trip(s3: Any, east: Any, bucket: str, algorithm: str) -> None:
    body = os.urandom(3000) + b"checksum"
    want = expected_checksum(algorithm, body)
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == want
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == want
    assert got["Body"].read() == body
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == want
    # a partial response must never carry the full-object checksum (botocore would validate it)
    part = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED", Range="bytes=0-9")
    assert part["Body"].read() == body[:10]
    assert not any(k.startswith("x-amz-checksum-") for k in headers_of(part))
    # without checksum mode the header is not sent (botocore asks for it by default: opt out)
    from botocore.config import Config
    plain = east.client(config=Config(response_checksum_validation="when_required")).get_object(
        Bucket=bucket, Key="c")
    assert plain["Body"].read() == body
    assert not any(k.startswith("x-amz-checksum-") and k != "x-amz-checksum-type" for k in headers_of(plain))


@pytest.mark.parametrize("algorithm,member", [("CRC32", "ChecksumCRC32"), ("SHA256", "ChecksumSHA256"),
                                              ("CRC32C", "ChecksumCRC32C")])
def test_flexible_checksum_mismatch_is_bad_digest(s3: Any, bucket: str, algorithm: str, member: str) -> None:
    wrong = expected_checksum(algorithm, b"something else")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"payload", **{member: wrong})
    assert code(e) == "BadDigest" and status(e) == 400
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


def test_default_checksum_is_validated_on_get(s3: Any, bucket: str) -> None:
    """botocore sends CRC32 by default and validates whatever checksum GetObject returns."""
    body = b"default checksum" * 100
    s3.put_object(Bucket=bucket, Key="dflt", Body=body)
    got = s3.get_object(Bucket=bucket, Key="dflt", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got["ChecksumCRC32"] == expected_checksum("CRC32", body)


# ---- size limits --------------------------------------------------------------------------------------------

def test_metadata_too_large(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="big-meta", Body=b"x", Metadata={"k": "v" * 2100})
    assert code(e) == "MetadataTooLarge" and status(e) == 400
    # just under the limit is fine
    s3.put_object(Bucket=bucket, Key="ok-meta", Body=b"x", Metadata={"k": "v" * 2000})
    assert s3.head_object(Bucket=bucket, Key="ok-meta")["Metadata"] == {"k": "v" * 2000}


def test_key_length_limit(s3: Any, bucket: str) -> None:
    ok = "k" * 1024
    s3.put_object(Bucket=bucket, Key=ok, Body=b"x")
    assert s3.get_object(Bucket=bucket, Key=ok)["Body"].read() == b"x"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert code(e) == "KeyTooLongError" and status(e) == 400
    # the limit is in UTF-8 bytes, not characters: 342 * 3 bytes = 1026, 341 * 3 + 1 = 1024
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="日" * 342, Body=b"x")
    assert code(e) == "KeyTooLongError"
    s3.put_object(Bucket=bucket, Key="日" * 341 + "k", Body=b"y")
    assert s3.get_object(Bucket=bucket, Key="日" * 341 + "k")["Body"].read() == b"y"


# ---- hostile keys -------------------------------------------------------------------------------------------

def test_hostile_keys_round_trip(s3: Any, east: Any, bucket: str) -> None:
    for i, key in enumerate(HOSTILE_KEYS):
        s3.put_object(Bucket=bucket, Key=key, Body=f"body-{i}".encode())
    for i, key in enumerate(HOSTILE_KEYS):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == f"body-{i}".encode(), key
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(f"body-{i}"), key
    expected = sorted(HOSTILE_KEYS, key=lambda k: k.encode())
    encoded = s3.list_objects_v2(Bucket=bucket)
    assert encoded.get("EncodingType") == "url"
    assert [o["Key"] for o in encoded["Contents"]] == expected
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == expected
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [v["Key"] for v in versions] == expected
    raw = unencoded_client(east)
    plain = raw.list_objects_v2(Bucket=bucket)
    assert "EncodingType" not in plain
    assert [o["Key"] for o in plain["Contents"]] == expected
    assert [o["Key"] for o in raw.list_objects(Bucket=bucket)["Contents"]] == expected
    assert [v["Key"] for v in raw.list_object_versions(Bucket=bucket)["Versions"]] == expected


def test_hostile_keys_prefix_and_delimiter(s3: Any, east: Any, bucket: str) -> None:
    for key in ("ключ/日本語 ✓", "ключ/b+c", "sp ace/1", "sp ace/2", "plain"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    for client in (s3, unencoded_client(east)):
        resp = client.list_objects_v2(Bucket=bucket, Delimiter="/")
        assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["sp ace/", "ключ/"]
        assert [o["Key"] for o in resp["Contents"]] == ["plain"]
        resp = client.list_objects_v2(Bucket=bucket, Prefix="ключ/")
        assert [o["Key"] for o in resp["Contents"]] == ["ключ/b+c", "ключ/日本語 ✓"]
        assert resp["Prefix"] == "ключ/"


def test_hostile_keys_delete_objects(s3: Any, bucket: str) -> None:
    for key in HOSTILE_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in HOSTILE_KEYS]})
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(HOSTILE_KEYS)
    assert not resp.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_hostile_keys_single_delete(s3: Any, bucket: str) -> None:
    for key in HOSTILE_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    for key in HOSTILE_KEYS:
        s3.delete_object(Bucket=bucket, Key=key)
        with pytest.raises(ClientError) as e:
            s3.head_object(Bucket=bucket, Key=key)
        assert code(e) == "404", key
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_similar_keys_are_distinct(s3: Any, bucket: str) -> None:
    """No normalisation: these name five different objects."""
    keys = ["a/b", "a//b", "a/./b", "a/../a/b", "a%2Fb"]
    for i, k in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=k, Body=str(i).encode())
    for i, k in enumerate(keys):
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == str(i).encode()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 5


def test_aws_cli_cp_hostile_key(east: Any, s3: Any, bucket: str, tmp_path: Any) -> None:
    src = tmp_path / "src.txt"
    src.write_bytes(b"via the cli")
    key = "cli dir/ключ+1.txt"
    east.aws("s3", "cp", str(src), f"s3://{bucket}/{key}")
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == b"via the cli"
    assert got["ContentType"] == "text/plain"  # the CLI guesses by extension
    out = east.aws("s3", "ls", f"s3://{bucket}/cli dir/")
    assert "ключ+1.txt" in out.stdout
    dst = tmp_path / "dst.txt"
    east.aws("s3", "cp", f"s3://{bucket}/{key}", str(dst))
    assert dst.read_bytes() == b"via the cli"
    east.aws("s3", "rm", f"s3://{bucket}/{key}")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# ---- DeleteObjects ------------------------------------------------------------------------------------------

def test_delete_objects_verbose_and_quiet(s3: Any, bucket: str) -> None:
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    verbose = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "missing"}]})
    assert sorted(d["Key"] for d in verbose["Deleted"]) == ["a", "missing"]
    assert all("DeleteMarker" not in d and "VersionId" not in d for d in verbose["Deleted"])
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b"}, {"Key": "c"}], "Quiet": True})
    assert not quiet.get("Deleted")
    assert not quiet.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_too_many_keys(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert code(e) == "MalformedXML" and status(e) == 400
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1000)],
                                                    "Quiet": True})
    assert not resp.get("Errors")


def test_delete_objects_versioned(s3: Any, vbucket: str) -> None:
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"2")["VersionId"]
    s3.put_object(Bucket=vbucket, Key="other", Body=b"o")
    resp = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [
        {"Key": "k", "VersionId": v1}, {"Key": "other"},
        {"Key": "k", "VersionId": "not-a-version-id"}]})
    deleted = {(d["Key"], d.get("VersionId")): d for d in resp["Deleted"]}
    assert ("k", v1) in deleted
    assert "DeleteMarker" not in deleted[("k", v1)]
    other = deleted[("other", None)]
    assert other["DeleteMarker"] is True
    marker_id = other["DeleteMarkerVersionId"]
    assert [(e["Key"], e["Code"]) for e in resp["Errors"]] == [("k", "InvalidArgument")]
    # deleting the marker by version id reports DeleteMarker true and restores the object
    resp = s3.delete_objects(Bucket=vbucket, Delete={"Objects": [{"Key": "other", "VersionId": marker_id}]})
    # (DeletedObject docs: for a specific version, DeleteMarkerVersionId is the id of the version deleted)
    assert resp["Deleted"] == [{"Key": "other", "VersionId": marker_id, "DeleteMarker": True,
                                "DeleteMarkerVersionId": marker_id}]
    assert s3.get_object(Bucket=vbucket, Key="other")["Body"].read() == b"o"
    versions = s3.list_object_versions(Bucket=vbucket, Prefix="k")["Versions"]
    assert [v["VersionId"] for v in versions] == [v2]


def test_delete_objects_requires_digest(east: Any, bucket: str) -> None:
    """Without Content-MD5 or x-amz-checksum-* S3 refuses DeleteObjects."""
    from botocore.config import Config
    c = east.client(config=Config(request_checksum_calculation="when_required"))
    c.meta.events.register("before-sign.s3.DeleteObjects", _strip_digests)
    with pytest.raises(ClientError) as e:
        c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}]})
    assert code(e) == "InvalidRequest" and status(e) == 400


def _strip_digests(request: Any, **_: Any) -> None:
    for h in list(request.headers.keys()):
        if h.lower() == "content-md5" or h.lower().startswith("x-amz-checksum-") \
                or h.lower() == "x-amz-sdk-checksum-algorithm":
            del request.headers[h]


# ---- aws-chunked bodies (what botocore sends over TLS), signed here by hand -----------------------------------

def _put_aws_chunked(east: Any, bucket: str, key: str, data: bytes, trailer_value: str,
                     content_encoding: str) -> tuple[int, bytes]:
    import urllib.request
    from urllib.parse import quote

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from harness import ACCESS_KEY, SECRET_KEY
    chunks = [data[i:i + 1000] for i in range(0, len(data), 1000)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    body += b"0\r\nx-amz-checksum-crc32:" + trailer_value.encode() + b"\r\n\r\n"
    headers = {"Content-Encoding": content_encoding, "X-Amz-Trailer": "x-amz-checksum-crc32",
               "X-Amz-Decoded-Content-Length": str(len(data)), "Content-Length": str(len(body)),
               "X-Amz-Sdk-Checksum-Algorithm": "CRC32"}
    req = AWSRequest(method="PUT", url=f"{east.endpoint}/{bucket}/{quote(key)}", data=body, headers=headers)
    req.context["checksum"] = {"request_algorithm": {"in": "trailer"}}
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", east.name).add_auth(req)
    assert req.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    raw = urllib.request.Request(req.url, data=body, method="PUT", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(raw, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_aws_chunked_trailer_upload(east: Any, s3: Any, bucket: str) -> None:
    data = os.urandom(2500)
    crc = expected_checksum("CRC32", data)
    st, _ = _put_aws_chunked(east, bucket, "chunked", data, crc, "gzip,aws-chunked")
    assert st == 200
    got = s3.get_object(Bucket=bucket, Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ContentEncoding"] == "gzip"  # aws-chunked is transport framing, never stored
    assert got["ChecksumCRC32"] == crc
    st, _ = _put_aws_chunked(east, bucket, "plain-chunked", data, crc, "aws-chunked")
    assert st == 200
    assert "ContentEncoding" not in s3.head_object(Bucket=bucket, Key="plain-chunked")


def test_aws_chunked_bad_trailer_checksum(east: Any, s3: Any, bucket: str) -> None:
    st, body = _put_aws_chunked(east, bucket, "bad", b"payload" * 100, expected_checksum("CRC32", b"x"),
                                "aws-chunked")
    assert st == 400 and b"<Code>BadDigest</Code>" in body
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


# ---- odds and ends ------------------------------------------------------------------------------------------

def test_storage_class_round_trip_and_invalid(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="ia", Body=b"x", StorageClass="STANDARD_IA")
    assert s3.head_object(Bucket=bucket, Key="ia")["StorageClass"] == "STANDARD_IA"
    s3.put_object(Bucket=bucket, Key="std", Body=b"x")
    assert "StorageClass" not in s3.head_object(Bucket=bucket, Key="std")  # STANDARD is not sent
    assert s3.list_objects_v2(Bucket=bucket, Prefix="ia")["Contents"][0]["StorageClass"] == "STANDARD_IA"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"x", StorageClass="PLATINUM")
    assert code(e) == "InvalidStorageClass"


def test_delete_objects_quiet_still_reports_errors(s3: Any, vbucket: str) -> None:
    s3.put_object(Bucket=vbucket, Key="a", Body=b"x")
    resp = s3.delete_objects(Bucket=vbucket, Delete={"Quiet": True, "Objects": [
        {"Key": "a"}, {"Key": "a", "VersionId": "###"}]})
    assert not resp.get("Deleted")
    assert [(e["Key"], e["Code"]) for e in resp["Errors"]] == [("a", "InvalidArgument")]
