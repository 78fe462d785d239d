"""Multipart uploads: create/upload/complete, the md5-of-md5s ETag, ListParts, ListMultipartUploads, abort,
the part-level errors, part re-upload, subsets, GET by part number, UploadPartCopy and s3transfer uploads."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

MIB = 1024 * 1024
PART = 5 * MIB


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def mpu_etag(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


@pytest.fixture(scope="module")
def blobs() -> list[bytes]:
    """Two full-size parts and a small last part, random so ETags mean something."""
    return [os.urandom(PART), os.urandom(PART), os.urandom(1234)]


def upload_parts(s3: Any, bucket: str, key: str, upload_id: str, parts: list[bytes],
                 first: int = 1) -> list[dict[str, Any]]:
    out = []
    for i, data in enumerate(parts, start=first):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=i, Body=data)["ETag"]
        assert etag == '"%s"' % hashlib.md5(data).hexdigest()
        out.append({"PartNumber": i, "ETag": etag})
    return out


def test_complete_etag_and_content(s3: Any, bucket: str, blobs: list[bytes]) -> None:
    create = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/x-mp",
                                        Metadata={"origin": "mpu"})
    assert create["Bucket"] == bucket and create["Key"] == "mp"
    uid = create["UploadId"]
    parts = upload_parts(s3, bucket, "mp", uid, blobs)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                        MultipartUpload={"Parts": parts})
    assert done["ETag"] == mpu_etag(blobs)
    assert done["Bucket"] == bucket and done["Key"] == "mp"
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["ETag"] == mpu_etag(blobs)
    assert got["ContentLength"] == 2 * PART + 1234
    assert got["ContentType"] == "text/x-mp"
    assert got["Metadata"] == {"origin": "mpu"}
    assert got["Body"].read() == b"".join(blobs)
    head = s3.head_object(Bucket=bucket, Key="mp")
    assert head["PartsCount"] == 3
    # the upload is gone once completed
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert code(e) == "NoSuchUpload" and status(e) == 404
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_get_by_part_number(s3: Any, bucket: str, blobs: list[bytes]) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="pn")["UploadId"]
    parts = upload_parts(s3, bucket, "pn", uid, blobs)
    s3.complete_multipart_upload(Bucket=bucket, Key="pn", UploadId=uid, MultipartUpload={"Parts": parts})
    total = 2 * PART + 1234
    got = s3.get_object(Bucket=bucket, Key="pn", PartNumber=2)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["PartsCount"] == 3
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-amz-mp-parts-count"] == "3"
    assert got["ContentRange"] == f"bytes {PART}-{2 * PART - 1}/{total}"
    assert got["ContentLength"] == PART
    assert got["Body"].read() == blobs[1]
    last = s3.get_object(Bucket=bucket, Key="pn", PartNumber=3)
    assert last["Body"].read() == blobs[2]
    assert last["ContentRange"] == f"bytes {2 * PART}-{total - 1}/{total}"
    head = s3.head_object(Bucket=bucket, Key="pn", PartNumber=1)
    assert head["ContentLength"] == PART and head["PartsCount"] == 3
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="pn", PartNumber=4)
    assert status(e) == 416


def test_list_parts_and_uploads(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="lp")["UploadId"]
    other = s3.create_multipart_upload(Bucket=bucket, Key="another/key")["UploadId"]
    chunks = [b"one" * 10, b"two" * 20, b"three" * 30]
    for i, data in enumerate(chunks, start=1):
        s3.upload_part(Bucket=bucket, Key="lp", UploadId=uid, PartNumber=i, Body=data)
    resp = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid)
    assert resp["UploadId"] == uid and resp["Key"] == "lp" and resp["Bucket"] == bucket
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in resp["Parts"]] == [
        (i, len(d), '"%s"' % hashlib.md5(d).hexdigest()) for i, d in enumerate(chunks, start=1)]
    assert resp["IsTruncated"] is False
    page = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2]
    assert page["IsTruncated"] is True and page["NextPartNumberMarker"] == 2
    rest = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("another/key", other), ("lp", uid)]
    assert s3.list_multipart_uploads(Bucket=bucket, Prefix="lp")["Uploads"][0]["UploadId"] == uid
    # the wrong key for an upload id is NoSuchUpload
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="another/key", UploadId=uid)
    assert code(e) == "NoSuchUpload"
    for key, u in (("lp", uid), ("another/key", other)):
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=u)


def test_abort(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ab")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="ab", UploadId=uid, PartNumber=1, Body=b"data")
    resp = s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    for call in (lambda: s3.list_parts(Bucket=bucket, Key="ab", UploadId=uid),
                 lambda: s3.upload_part(Bucket=bucket, Key="ab", UploadId=uid, PartNumber=2, Body=b"x"),
                 lambda: s3.complete_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid, MultipartUpload={
                     "Parts": [{"PartNumber": 1, "ETag": '"%s"' % hashlib.md5(b"data").hexdigest()}]}),
                 lambda: s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid)):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "NoSuchUpload" and status(e) == 404
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="ab")
    assert code(e) == "404"


def test_entity_too_small(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    parts = upload_parts(s3, bucket, "small", uid, [b"a" * 100, b"b" * 100])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=uid, MultipartUpload={"Parts": parts})
    assert code(e) == "EntityTooSmall" and status(e) == 400
    # a single small part is fine: it is the last one
    done = s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=uid,
                                        MultipartUpload={"Parts": parts[:1]})
    assert done["ETag"] == mpu_etag([b"a" * 100])
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"a" * 100


def test_invalid_part_order_and_invalid_part(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ord")["UploadId"]
    parts = upload_parts(s3, bucket, "ord", uid, [b"x" * PART, b"y" * 10])
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="ord", UploadId=uid,
                                     MultipartUpload={"Parts": list(reversed(parts))})
    assert code(e) == "InvalidPartOrder" and status(e) == 400
    wrong = [parts[0], {"PartNumber": 2, "ETag": '"%s"' % ("0" * 32)}]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="ord", UploadId=uid, MultipartUpload={"Parts": wrong})
    assert code(e) == "InvalidPart" and status(e) == 400
    missing = parts + [{"PartNumber": 7, "ETag": parts[1]["ETag"]}]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="ord", UploadId=uid, MultipartUpload={"Parts": missing})
    assert code(e) == "InvalidPart"
    # the upload survives failed completions; unquoted ETags are accepted too
    unquoted = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"].strip('"')} for p in parts]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="ord", UploadId=uid,
                                        MultipartUpload={"Parts": unquoted})
    assert done["ETag"] == mpu_etag([b"x" * PART, b"y" * 10])


def test_invalid_part_number(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="num")["UploadId"]
    for n in (0, 10001):
        with pytest.raises(ClientError) as e:
            s3.upload_part(Bucket=bucket, Key="num", UploadId=uid, PartNumber=n, Body=b"x")
        assert code(e) == "InvalidArgument"
    s3.abort_multipart_upload(Bucket=bucket, Key="num", UploadId=uid)


def test_reupload_part_last_wins_and_subset(s3: Any, bucket: str, blobs: list[bytes]) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="re")["UploadId"]
    upload_parts(s3, bucket, "re", uid, [b"z" * PART])  # replaced below
    p1 = upload_parts(s3, bucket, "re", uid, blobs[:1])[0]
    p2 = upload_parts(s3, bucket, "re", uid, [b"unused" * 1000], first=2)[0]
    p3 = upload_parts(s3, bucket, "re", uid, [b"tail"], first=3)[0]
    listed = s3.list_parts(Bucket=bucket, Key="re", UploadId=uid)["Parts"]
    assert [p["ETag"] for p in listed] == [p1["ETag"], p2["ETag"], p3["ETag"]]
    # the old ETag of part 1 no longer matches
    stale = {"PartNumber": 1, "ETag": '"%s"' % hashlib.md5(b"z" * PART).hexdigest()}
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=uid, MultipartUpload={"Parts": [stale, p3]})
    assert code(e) == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=uid, MultipartUpload={"Parts": [p1, p3]})
    assert done["ETag"] == mpu_etag([blobs[0], b"tail"])
    got = s3.get_object(Bucket=bucket, Key="re")
    assert got["Body"].read() == blobs[0] + b"tail"
    assert got["PartsCount"] == 2


def test_upload_part_copy(s3: Any, bucket: str, blobs: list[bytes]) -> None:
    src = blobs[0] + blobs[2]
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="pc")["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="pc", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{PART - 1}")
    assert r1["CopyPartResult"]["ETag"] == '"%s"' % hashlib.md5(blobs[0]).hexdigest()
    assert "LastModified" in r1["CopyPartResult"]
    r2 = s3.upload_part_copy(Bucket=bucket, Key="pc", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes={PART}-{PART + 9}")
    r3 = s3.upload_part_copy(Bucket=bucket, Key="pc", UploadId=uid, PartNumber=3,
                             CopySource=f"{bucket}/src")  # the whole source
    parts = [{"PartNumber": i, "ETag": r["CopyPartResult"]["ETag"]} for i, r in enumerate((r1, r2), start=1)]
    with pytest.raises(ClientError) as e:  # part 2 is only 10 bytes and not last
        s3.complete_multipart_upload(Bucket=bucket, Key="pc", UploadId=uid,
                                     MultipartUpload={"Parts": parts + [{"PartNumber": 3,
                                                                         "ETag": r3["CopyPartResult"]["ETag"]}]})
    assert code(e) == "EntityTooSmall"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="pc", UploadId=uid, MultipartUpload={"Parts": parts})
    expected = [blobs[0], blobs[2][:10]]
    assert done["ETag"] == mpu_etag(expected)
    assert s3.get_object(Bucket=bucket, Key="pc")["Body"].read() == b"".join(expected)


def test_upload_part_copy_bad_range(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="pc")["UploadId"]
    for rng in ("bytes=5-100", "bytes=7-3", "0-5"):
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(Bucket=bucket, Key="pc", UploadId=uid, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=rng)
        assert code(e) in ("InvalidArgument", "InvalidRange"), rng
    with pytest.raises(ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="pc", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "missing"})
    assert code(e) == "NoSuchKey"
    s3.abort_multipart_upload(Bucket=bucket, Key="pc", UploadId=uid)


def test_complete_in_versioned_bucket(s3: Any, vbucket: str) -> None:
    first = s3.put_object(Bucket=vbucket, Key="v", Body=b"old")["VersionId"]
    uid = s3.create_multipart_upload(Bucket=vbucket, Key="v")["UploadId"]
    parts = upload_parts(s3, vbucket, "v", uid, [b"new"])
    done = s3.complete_multipart_upload(Bucket=vbucket, Key="v", UploadId=uid, MultipartUpload={"Parts": parts})
    assert done["VersionId"] not in (None, "null", first)
    assert s3.get_object(Bucket=vbucket, Key="v")["VersionId"] == done["VersionId"]
    assert s3.get_object(Bucket=vbucket, Key="v", VersionId=first)["Body"].read() == b"old"


def test_multipart_with_checksum_algorithm(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ck", ChecksumAlgorithm="SHA256")["UploadId"]
    data = [os.urandom(PART), b"end"]
    parts = []
    for i, d in enumerate(data, start=1):
        r = s3.upload_part(Bucket=bucket, Key="ck", UploadId=uid, PartNumber=i, Body=d, ChecksumAlgorithm="SHA256")
        assert r["ChecksumSHA256"]
        parts.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="ck", UploadId=uid, MultipartUpload={"Parts": parts})
    assert done["ChecksumSHA256"].endswith("-2")
    got = s3.get_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(data)
    assert got["ChecksumSHA256"] == done["ChecksumSHA256"]


def test_upload_file_uses_multipart(s3: Any, bucket: str, tmp_path: Any) -> None:
    data = os.urandom(20 * MIB + 17)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    s3.upload_file(str(src), bucket, "big.bin")
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')  # s3transfer: 8 MiB parts -> 8 + 8 + 4
    chunks = [data[i:i + 8 * MIB] for i in range(0, len(data), 8 * MIB)]
    assert head["ETag"] == mpu_etag(chunks)
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(dst))
    assert dst.read_bytes() == data


def test_aws_cli_cp_multipart(east: Any, s3: Any, bucket: str, tmp_path: Any) -> None:
    data = os.urandom(20 * MIB)
    src = tmp_path / "cli.bin"
    src.write_bytes(data)
    east.aws("s3", "cp", str(src), f"s3://{bucket}/cli/big.bin")
    head = s3.head_object(Bucket=bucket, Key="cli/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')
    dst = tmp_path / "cli-back.bin"
    east.aws("s3", "cp", f"s3://{bucket}/cli/big.bin", str(dst))
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_list_uploads_pagination_same_key(s3: Any, bucket: str) -> None:
    """Several uploads of one key, listed one per page: each exactly once, in initiation order."""
    ids = [s3.create_multipart_upload(Bucket=bucket, Key="same")["UploadId"] for _ in range(6)]
    ids.append(s3.create_multipart_upload(Bucket=bucket, Key="zzz")["UploadId"])
    seen: list[str] = []
    kw: dict[str, Any] = {}
    for _ in range(20):
        resp = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1, **kw)
        seen += [u["UploadId"] for u in resp.get("Uploads", [])]
        if not resp["IsTruncated"]:
            break
        kw = {"KeyMarker": resp["NextKeyMarker"], "UploadIdMarker": resp["NextUploadIdMarker"]}
    assert seen == ids
    pages = s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
    assert [u["UploadId"] for u in pages.search("Uploads")] == ids
    for i, uid in enumerate(ids):
        s3.abort_multipart_upload(Bucket=bucket, Key="same" if i < 6 else "zzz", UploadId=uid)


def test_range_across_part_boundary(s3: Any, bucket: str, blobs: list[bytes]) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="rng")["UploadId"]
    parts = upload_parts(s3, bucket, "rng", uid, blobs)
    s3.complete_multipart_upload(Bucket=bucket, Key="rng", UploadId=uid, MultipartUpload={"Parts": parts})
    whole = b"".join(blobs)
    for start, end in ((PART - 10, PART + 9), (2 * PART - 1, 2 * PART + 5), (0, 2 * PART + 1233)):
        got = s3.get_object(Bucket=bucket, Key="rng", Range=f"bytes={start}-{end}")
        assert got["Body"].read() == whole[start:end + 1]
    with pytest.raises(ClientError) as e:  # S3 refuses partNumber together with Range
        s3.get_object(Bucket=bucket, Key="rng", PartNumber=1, Range="bytes=0-1")
    assert code(e) == "InvalidRequest" and status(e) == 400


def test_complete_rejects_wrong_part_checksum(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ck", ChecksumAlgorithm="CRC32")["UploadId"]
    r = s3.upload_part(Bucket=bucket, Key="ck", UploadId=uid, PartNumber=1, Body=b"abc", ChecksumAlgorithm="CRC32")
    wrong = "AAAAAA=="
    assert r["ChecksumCRC32"] != wrong
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="ck", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": wrong}]})
    assert code(e) == "InvalidPart"
    s3.complete_multipart_upload(Bucket=bucket, Key="ck", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]}]})


def test_upload_part_copy_computes_upload_checksum(s3: Any, bucket: str, blobs: list[bytes]) -> None:
    """The part checksum follows the upload's algorithm, whatever the copy source was stored with."""
    s3.put_object(Bucket=bucket, Key="src", Body=blobs[0], ChecksumAlgorithm="CRC32")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst", ChecksumAlgorithm="SHA256")["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"})
    r2 = s3.upload_part(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2, Body=b"end",
                        ChecksumAlgorithm="SHA256")
    listed = s3.list_parts(Bucket=bucket, Key="dst", UploadId=uid)["Parts"]
    want = base64.b64encode(hashlib.sha256(blobs[0]).digest()).decode()
    assert listed[0]["ChecksumSHA256"] == want
    done = s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"], "ChecksumSHA256": want},
        {"PartNumber": 2, "ETag": r2["ETag"], "ChecksumSHA256": r2["ChecksumSHA256"]}]})
    assert done["ChecksumSHA256"].endswith("-2")
