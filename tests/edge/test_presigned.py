"""Presigned (query-string SigV4) URLs from boto3, used by plain HTTP clients."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests


def _replace_param(url: str, name: str, value: str) -> str:
    u = urlsplit(url)
    params = [(k, value if k == name else v) for k, v in parse_qsl(u.query, keep_blank_values=True)]
    return u._replace(query=urlencode(params)).geturl()


def _code(resp: requests.Response) -> str | None:
    m = re.search(r"<Code>([^<]*)</Code>", resp.text)
    return m.group(1) if m else None


def test_presigned_get_and_put(s3, bucket):
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p.bin"}, ExpiresIn=300)
    r = requests.put(put_url, data=b"via presigned put", timeout=30)
    assert r.status_code == 200, r.text
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.bin"}, ExpiresIn=300)
    r = requests.get(get_url, timeout=30)
    assert r.status_code == 200
    assert r.content == b"via presigned put"
    assert s3.get_object(Bucket=bucket, Key="p.bin")["Body"].read() == b"via presigned put"


def test_presigned_get_of_key_needing_encoding(s3, bucket):
    key = "dir/with space+plus/ü.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"odd key")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == b"odd key"


def test_presigned_url_expires(s3, bucket):
    s3.put_object(Bucket=bucket, Key="e.txt", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    r = requests.get(url, timeout=30)
    assert r.status_code == 403
    assert _code(r) == "AccessDenied"
    assert "Request has expired" in r.text


def test_presigned_expires_too_long(s3, bucket):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300)
    # botocore refuses nothing here, but the signature covers X-Amz-Expires; S3 checks the range first.
    r = requests.get(_replace_param(url, "X-Amz-Expires", "604801"), timeout=30)
    assert r.status_code == 400
    assert _code(r) == "AuthorizationQueryParametersError"


def test_presigned_seven_days_is_allowed(s3, bucket):
    s3.put_object(Bucket=bucket, Key="week.txt", Body=b"w")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "week.txt"},
                                    ExpiresIn=604800)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text


def test_presigned_tampered_signature(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t.txt", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "t.txt"}, ExpiresIn=300)
    sig = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    bad = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    r = requests.get(_replace_param(url, "X-Amz-Signature", bad), timeout=30)
    assert r.status_code == 403
    assert _code(r) == "SignatureDoesNotMatch"


def test_presigned_url_for_other_key_is_rejected(s3, bucket):
    s3.put_object(Bucket=bucket, Key="other.txt", Body=b"private")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "mine.txt"}, ExpiresIn=300)
    r = requests.get(url.replace("/mine.txt?", "/other.txt?"), timeout=30)
    assert r.status_code == 403
    assert _code(r) == "SignatureDoesNotMatch"


def test_presigned_put_method_cannot_be_used_for_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="m.txt", Body=b"x")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "m.txt"}, ExpiresIn=300)
    r = requests.get(url, timeout=30)
    assert r.status_code == 403
