"""SSE-C: customer-provided keys on PUT, GET, HEAD, CopyObject (both sides), multipart and UploadPartCopy,
every error AWS answers, the AWS CLI's --sse-c options, and refusal over plain HTTP when configured."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from typing import Any, Iterator

import pytest
from botocore.exceptions import ClientError

from harness import RegionProcess, create_bucket

MIB = 1024 * 1024
KEY = os.urandom(32)
OTHER = os.urandom(32)
SSEC = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY}
SRC_SSEC = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": KEY}


def md5_b64(key: bytes) -> str:
    return base64.b64encode(hashlib.md5(key).digest()).decode()


def raw_ssec(key: bytes, md5: str | None = None, algorithm: str = "AES256") -> dict[str, str]:
    """The trio exactly as sent (botocore leaves them alone when the MD5 is given)."""
    return {"SSECustomerAlgorithm": algorithm, "SSECustomerKey": base64.b64encode(key).decode(),
            "SSECustomerKeyMD5": md5 if md5 is not None else md5_b64(key)}


def fails(call: Any, code: str, status: int) -> None:
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert e.value.response["Error"]["Code"] in (code, str(status))  # HEAD errors have no body: just the status


def test_put_get_head_with_customer_key(s3: Any, bucket: str) -> None:
    body = os.urandom(150_000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, **SSEC)
    assert put["SSECustomerAlgorithm"] == "AES256" and put["SSECustomerKeyMD5"] == md5_b64(KEY)
    assert "ServerSideEncryption" not in put
    assert put["ETag"] != f'"{hashlib.md5(body).hexdigest()}"'  # SSE-C ETags are not an MD5
    get = s3.get_object(Bucket=bucket, Key="k", **SSEC)
    assert get["Body"].read() == body and get["SSECustomerKeyMD5"] == md5_b64(KEY)
    assert s3.get_object(Bucket=bucket, Key="k", Range="bytes=70000-70009", **SSEC)["Body"].read() == \
        body[70000:70010]
    head = s3.head_object(Bucket=bucket, Key="k", **SSEC)
    assert head["SSECustomerAlgorithm"] == "AES256" and head["ContentLength"] == len(body)
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"], **raw_ssec(KEY))
    assert attrs["ObjectSize"] == len(body)
    fails(lambda: s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"]),
          "InvalidRequest", 400)


def test_read_without_or_with_wrong_key(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"tiny secret", **SSEC)
    fails(lambda: s3.get_object(Bucket=bucket, Key="k"), "InvalidRequest", 400)
    fails(lambda: s3.head_object(Bucket=bucket, Key="k"), "InvalidRequest", 400)
    fails(lambda: s3.get_object(Bucket=bucket, Key="k", SSECustomerAlgorithm="AES256", SSECustomerKey=OTHER),
          "AccessDenied", 403)
    fails(lambda: s3.head_object(Bucket=bucket, Key="k", SSECustomerAlgorithm="AES256", SSECustomerKey=OTHER),
          "AccessDenied", 403)
    # a key sent for an object that is not SSE-C
    s3.put_object(Bucket=bucket, Key="plain", Body=b"x")
    fails(lambda: s3.get_object(Bucket=bucket, Key="plain", **SSEC), "InvalidRequest", 400)


def test_bad_customer_keys_are_refused_and_store_nothing(s3: Any, bucket: str) -> None:
    bad = [raw_ssec(os.urandom(16)),  # 128-bit key
           raw_ssec(KEY, md5=md5_b64(OTHER)),  # MD5 of another key
           raw_ssec(KEY, algorithm="AES128")]
    for params in bad:
        fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", **params), "InvalidArgument", 400)
    fails(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256", **SSEC),
          "InvalidArgument", 400)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_copy_between_customer_keys_and_sse_s3(s3: Any, bucket: str) -> None:
    body = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="src", Body=body, **SSEC)
    # SSE-C source needs its key
    fails(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}),
          "InvalidRequest", 400)
    fails(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                                 CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=OTHER),
          "AccessDenied", 403)
    c = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"}, **SRC_SSEC)
    assert c["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body
    # to a new customer key
    c = s3.copy_object(Bucket=bucket, Key="dst2", CopySource={"Bucket": bucket, "Key": "src"}, **SRC_SSEC,
                       SSECustomerAlgorithm="AES256", SSECustomerKey=OTHER)
    assert c["SSECustomerKeyMD5"] == md5_b64(OTHER)
    assert s3.get_object(Bucket=bucket, Key="dst2", SSECustomerAlgorithm="AES256",
                         SSECustomerKey=OTHER)["Body"].read() == body
    fails(lambda: s3.get_object(Bucket=bucket, Key="dst2", **SSEC), "AccessDenied", 403)


def test_multipart_with_customer_key(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MIB), os.urandom(1000)]
    s3.put_object(Bucket=bucket, Key="src", Body=parts[1], **SSEC)
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", **SSEC)
    assert up["SSECustomerKeyMD5"] == md5_b64(KEY)
    # every part needs the upload's key
    fails(lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=parts[0]),
          "InvalidRequest", 400)
    fails(lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=parts[0],
                                 SSECustomerAlgorithm="AES256", SSECustomerKey=OTHER), "AccessDenied", 403)
    p1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=parts[0], **SSEC)
    assert p1["SSECustomerAlgorithm"] == "AES256"
    fails(lambda: s3.list_parts(Bucket=bucket, Key="mp", UploadId=up["UploadId"]), "InvalidRequest", 400)
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                                   **raw_ssec(KEY))["Parts"]] == [1]
    p2 = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "src"}, **SSEC, **SRC_SSEC)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="mp", **SSEC)["Body"].read() == b"".join(parts)
    fails(lambda: s3.get_object(Bucket=bucket, Key="mp"), "InvalidRequest", 400)


def test_aws_cli_sse_c(east: Any, s3: Any, tmp_path: Any) -> None:
    bucket = create_bucket(s3, "us-east-2")
    key_file = tmp_path / "k.bin"
    key_file.write_bytes(KEY)
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(300_000))
    east.aws("s3", "cp", str(src), f"s3://{bucket}/f", "--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}")
    res = east.aws("s3", "cp", f"s3://{bucket}/f", str(tmp_path / "nokey"), check=False)
    assert res.returncode != 0
    east.aws("s3", "cp", f"s3://{bucket}/f", str(tmp_path / "back"), "--sse-c", "AES256", "--sse-c-key",
             f"fileb://{key_file}")
    assert (tmp_path / "back").read_bytes() == src.read_bytes()


@pytest.fixture(scope="module")
def strict_region(tmp_path_factory: Any) -> Iterator[RegionProcess]:
    """A region that refuses SSE-C over plain HTTP even from loopback."""
    data_dir = str(tmp_path_factory.mktemp("strict"))
    r = RegionProcess("us-east-2", data_dir, args=["--sse-c-over-http", "never"])
    r.start()
    yield r
    r.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


def test_sse_c_over_plain_http_can_be_refused(strict_region: RegionProcess) -> None:
    s3 = strict_region.client()
    bucket = create_bucket(s3, "us-east-2")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", **SSEC)
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    assert "secure connection" in e.value.response["Error"]["Message"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")  # other encryption is unaffected
