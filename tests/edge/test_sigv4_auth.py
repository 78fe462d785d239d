"""SigV4 header authentication on the wire: requests signed by botocore's S3SigV4Auth, sent by http.client."""

from __future__ import annotations

import hashlib
import re

import pytest
from harness import ACCESS_KEY, raw_request, sign_request, signed_raw


def _put(east, bucket: str, key: str, body: bytes, **kw):
    return signed_raw(east.endpoint, east.name, "PUT", f"/{bucket}/{key}", body, **kw)


def test_good_signed_put_and_get(east, s3, bucket):
    r = _put(east, bucket, "good.txt", b"signed body")
    assert r.status == 200, r.body
    g = signed_raw(east.endpoint, east.name, "GET", f"/{bucket}/good.txt")
    assert g.status == 200
    assert g.body == b"signed body"


def test_signed_query_string_request(east, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"x")
    r = signed_raw(east.endpoint, east.name, "GET", f"/{bucket}?list-type=2&prefix=a%2F")
    assert r.status == 200, r.body
    assert b"<Key>a/b.txt</Key>" in r.body


def test_tampered_header_is_rejected(east, bucket):
    hdrs = sign_request("PUT", f"{east.endpoint}/{bucket}/t.txt", east.name, b"abc",
                        headers={"x-amz-meta-color": "red"})
    hdrs["x-amz-meta-color"] = "blue"
    r = raw_request(east.endpoint, "PUT", f"/{bucket}/t.txt", {**hdrs, "Content-Length": "3"}, b"abc")
    assert r.status == 403
    assert r.error_code() == "SignatureDoesNotMatch"


def test_tampered_query_is_rejected(east, s3, bucket):
    hdrs = sign_request("GET", f"{east.endpoint}/{bucket}?list-type=2&prefix=a", east.name)
    r = raw_request(east.endpoint, "GET", f"/{bucket}?list-type=2&prefix=b", hdrs)
    assert r.status == 403
    assert r.error_code() == "SignatureDoesNotMatch"


def test_tampered_path_is_rejected(east, s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"1")
    s3.put_object(Bucket=bucket, Key="two", Body=b"2")
    hdrs = sign_request("GET", f"{east.endpoint}/{bucket}/one", east.name)
    r = raw_request(east.endpoint, "GET", f"/{bucket}/two", hdrs)
    assert r.status == 403
    assert r.error_code() == "SignatureDoesNotMatch"
    assert b"2" not in r.body.split(b"<Code>")[0]


def test_wrong_secret_is_rejected(east, bucket):
    r = signed_raw(east.endpoint, east.name, "GET", f"/{bucket}?list-type=2", secret_key="not-the-secret")
    assert r.status == 403
    assert r.error_code() == "SignatureDoesNotMatch"
    assert f"<AWSAccessKeyId>{ACCESS_KEY}</AWSAccessKeyId>".encode() in r.body


def test_unknown_access_key(east, bucket):
    r = signed_raw(east.endpoint, east.name, "GET", f"/{bucket}?list-type=2", access_key="AKIAUNKNOWN000000000")
    assert r.status == 403
    assert r.error_code() == "InvalidAccessKeyId"


def test_anonymous_request_is_denied(east, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    r = raw_request(east.endpoint, "GET", f"/{bucket}/k")
    assert r.status == 403
    assert r.error_code() == "AccessDenied"
    assert b"secret" not in r.body


def test_clock_skew(east, bucket):
    r = signed_raw(east.endpoint, east.name, "GET", f"/{bucket}?list-type=2", skew_seconds=20 * 60)
    assert r.status == 403
    assert r.error_code() == "RequestTimeTooSkewed"
    r = signed_raw(east.endpoint, east.name, "GET", f"/{bucket}?list-type=2", skew_seconds=-20 * 60)
    assert r.error_code() == "RequestTimeTooSkewed"


def test_small_skew_is_accepted(east, bucket):
    r = signed_raw(east.endpoint, east.name, "GET", f"/{bucket}?list-type=2", skew_seconds=-10 * 60)
    assert r.status == 200, r.body


def test_region_outside_deployment(east, bucket):
    r = signed_raw(east.endpoint, "eu-central-1", "GET", f"/{bucket}?list-type=2")
    assert r.status == 400
    assert r.error_code() == "AuthorizationHeaderMalformed"
    assert re.search(rb"<Region>us-east-2</Region>", r.body), r.body


def test_missing_content_sha256(east, bucket):
    hdrs = sign_request("GET", f"{east.endpoint}/{bucket}?list-type=2", east.name)
    hdrs = {k: v for k, v in hdrs.items() if k.lower() != "x-amz-content-sha256"}
    r = raw_request(east.endpoint, "GET", f"/{bucket}?list-type=2", hdrs)
    assert r.status == 400
    assert r.error_code() == "InvalidRequest"
    assert b"x-amz-content-sha256" in r.body


def test_content_sha256_mismatch_stores_nothing(east, s3, bucket):
    wrong = hashlib.sha256(b"something else").hexdigest()
    r = _put(east, bucket, "mismatch.txt", b"actual body", payload_hash=wrong)
    assert r.status == 400
    assert r.error_code() == "XAmzContentSHA256Mismatch"
    head = raw_request(east.endpoint, "HEAD", f"/{bucket}/mismatch.txt",
                       sign_request("HEAD", f"{east.endpoint}/{bucket}/mismatch.txt", east.name))
    assert head.status == 404


def test_content_sha256_mismatch_on_config_body(east, s3, bucket):
    body = (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<Status>Enabled</Status></VersioningConfiguration>")
    r = signed_raw(east.endpoint, east.name, "PUT", f"/{bucket}?versioning", body,
                   payload_hash=hashlib.sha256(b"other").hexdigest())
    assert r.error_code() == "XAmzContentSHA256Mismatch"
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_unsigned_payload_is_accepted(east, s3, bucket):
    r = _put(east, bucket, "unsigned.txt", b"payload", payload_hash="UNSIGNED-PAYLOAD")
    assert r.status == 200, r.body
    assert s3.get_object(Bucket=bucket, Key="unsigned.txt")["Body"].read() == b"payload"


@pytest.mark.parametrize("where", ["header", "query"])
def test_sigv2_is_not_supported(east, bucket, where):
    if where == "header":
        r = raw_request(east.endpoint, "GET", f"/{bucket}", {"Authorization": f"AWS {ACCESS_KEY}:c2lnbmF0dXJl",
                                                             "Date": "Wed, 01 Jan 2025 12:00:00 GMT"})
    else:
        r = raw_request(east.endpoint, "GET", f"/{bucket}?AWSAccessKeyId={ACCESS_KEY}&Expires=9999999999"
                                              f"&Signature=c2lnbmF0dXJl")
    assert r.status == 400
    assert r.error_code() == "InvalidRequest"
    assert b"AWS4-HMAC-SHA256" in r.body


@pytest.mark.parametrize("service", ["iam", "sts", "s3-object-lambda"])
def test_scope_for_another_service_is_rejected(east, s3, bucket, service):
    """A signature scoped to another service must not be accepted (nor skipped) by the S3 endpoint."""
    amz_date = sign_request("GET", east.endpoint + "/", east.name)["X-Amz-Date"]
    auth = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{amz_date[:8]}/{east.name}/{service}/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}")
    r = raw_request(east.endpoint, "PUT", f"/{bucket}/forged", {"Authorization": auth, "X-Amz-Date": amz_date,
                                                                "Content-Length": "6"}, b"forged")
    assert r.status == 400, r.body
    assert r.error_code() == "AuthorizationHeaderMalformed"
    assert f"'{service}'".encode() in r.body
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_presigned_scope_for_another_service_is_rejected(east, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    amz_date = sign_request("GET", east.endpoint + "/", east.name)["X-Amz-Date"]
    q = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={ACCESS_KEY}%2F{amz_date[:8]}%2F{east.name}%2Fsts"
         f"%2Faws4_request&X-Amz-Date={amz_date}&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
         f"&X-Amz-Signature={'0' * 64}")
    r = raw_request(east.endpoint, "GET", f"/{bucket}/k?{q}")
    assert r.status in (400, 403)
    assert b"secret" not in r.body


def test_credential_date_must_match_amz_date(east, bucket):
    hdrs = sign_request("GET", f"{east.endpoint}/{bucket}?list-type=2", east.name)
    day = hdrs["X-Amz-Date"][:8]
    other = "20200101" if day != "20200101" else "20200102"
    hdrs["Authorization"] = hdrs["Authorization"].replace(f"/{day}/", f"/{other}/")
    r = raw_request(east.endpoint, "GET", f"/{bucket}?list-type=2", hdrs)
    assert r.status == 400
    assert r.error_code() == "AuthorizationHeaderMalformed"


@pytest.mark.parametrize("value", ["garbage", "STREAMING-SOMETHING-ELSE", "ab" * 31])
def test_invalid_content_sha256_value(east, s3, bucket, value):
    r = _put(east, bucket, "weird.txt", b"body", payload_hash=value)
    assert r.status == 400
    assert r.error_code() == "InvalidArgument"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
