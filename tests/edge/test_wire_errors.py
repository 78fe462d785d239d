"""Wire-level behaviour: truncated bodies, malformed XML, unimplemented subresources, the error body shape,
HEAD errors without a body, and Expect: 100-continue."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError
from harness import raw_request, sign_request, signed_raw

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def _connect(endpoint: str) -> socket.socket:
    u = urlsplit(endpoint)
    sock = socket.create_connection((u.hostname, u.port), timeout=15)
    return sock


def _request_head(method: str, path: str, headers: dict[str, str], host: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_until_close(sock: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not data:
            break
        out += data
    return out


def _head_status(east, bucket: str, key: str) -> int:
    url = f"{east.endpoint}/{bucket}/{key}"
    return raw_request(east.endpoint, "HEAD", f"/{bucket}/{key}", sign_request("HEAD", url, east.name)).status


# ---- truncated bodies --------------------------------------------------------------------------------------
def test_truncated_body_stores_nothing(east, s3, bucket):
    body = b"z" * 100_000
    path = f"/{bucket}/truncated.bin"
    hdrs = sign_request("PUT", east.endpoint + path, east.name, body, payload_hash="UNSIGNED-PAYLOAD")
    hdrs["Content-Length"] = str(len(body))
    host = urlsplit(east.endpoint).netloc
    sock = _connect(east.endpoint)
    try:
        sock.sendall(_request_head("PUT", path, hdrs, host) + body[:40_000])
        sock.shutdown(socket.SHUT_WR)  # the client goes away mid-body
        answer = _read_until_close(sock)
    finally:
        sock.close()
    if answer:  # a response is optional once the client is gone; if there is one it must say why
        assert b" 400 " in answer.split(b"\r\n", 1)[0], answer[:200]
        assert b"<Code>IncompleteBody</Code>" in answer
    assert _head_status(east, bucket, "truncated.bin") == 404
    listed = s3.list_objects_v2(Bucket=bucket)
    assert listed["KeyCount"] == 0


def test_truncated_body_does_not_replace_existing_object(east, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"original")
    body = b"new" * 1000
    path = f"/{bucket}/keep.txt"
    hdrs = sign_request("PUT", east.endpoint + path, east.name, body, payload_hash="UNSIGNED-PAYLOAD")
    hdrs["Content-Length"] = str(len(body) + 500)
    sock = _connect(east.endpoint)
    try:
        sock.sendall(_request_head("PUT", path, hdrs, urlsplit(east.endpoint).netloc) + body)
        sock.shutdown(socket.SHUT_WR)
        _read_until_close(sock)
    finally:
        sock.close()
    assert s3.get_object(Bucket=bucket, Key="keep.txt")["Body"].read() == b"original"


# ---- XML payloads --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    b"<VersioningConfiguration><Status>Enabled</Status>",
    b"not xml at all",
    b"<WrongRoot><Status>Enabled</Status></WrongRoot>",
    f"<VersioningConfiguration {NS}><Status>Sometimes</Status></VersioningConfiguration>".encode(),
], ids=["truncated", "garbage", "wrong-root", "bad-enum"])
def test_malformed_versioning_xml(east, s3, bucket, body):
    r = signed_raw(east.endpoint, east.name, "PUT", f"/{bucket}?versioning", body)
    assert r.status == 400
    assert r.error_code() == "MalformedXML"
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_xml_with_doctype_entity_is_rejected(east, s3, bucket):
    body = (b'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY e "Enabled">]>'
            b"<VersioningConfiguration><Status>&e;</Status></VersioningConfiguration>")
    r = signed_raw(east.endpoint, east.name, "PUT", f"/{bucket}?versioning", body)
    assert r.status == 400
    assert r.error_code() == "MalformedXML"
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_well_formed_versioning_xml_is_accepted(east, s3, bucket):
    body = f"<VersioningConfiguration {NS}><Status>Enabled</Status></VersioningConfiguration>".encode()
    r = signed_raw(east.endpoint, east.name, "PUT", f"/{bucket}?versioning", body)
    assert r.status == 200, r.body
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


# ---- unimplemented subresources -------------------------------------------------------------------------------
@pytest.mark.parametrize("query", ["website", "inventory", "analytics", "accelerate"])
def test_unimplemented_subresource(east, bucket, query):
    r = signed_raw(east.endpoint, east.name, "GET", f"/{bucket}?{query}")
    assert r.status == 501, r.body
    assert r.error_code() == "NotImplemented"


# ---- error shape -----------------------------------------------------------------------------------------------
def test_error_body_shape(east, bucket):
    r = signed_raw(east.endpoint, east.name, "GET", f"/{bucket}/no/such/key")
    assert r.status == 404
    assert r.headers["content-type"].startswith("application/xml")
    text = r.body.decode()
    m = re.fullmatch(r'<\?xml version="1.0" encoding="UTF-8"\?>\s*<Error><Code>NoSuchKey</Code>'
                     r"<Message>[^<]+</Message>(.*)<RequestId>([^<]+)</RequestId><HostId>([^<]+)</HostId></Error>",
                     text, re.S)
    assert m, text
    assert "<Key>no/such/key</Key>" in m.group(1)
    assert m.group(2) == r.headers["x-amz-request-id"]
    assert r.headers.get("x-amz-id-2")


def test_no_such_bucket_names_the_bucket(east):
    r = signed_raw(east.endpoint, east.name, "GET", "/tb-this-bucket-does-not-exist?list-type=2")
    assert r.status == 404
    assert r.error_code() == "NoSuchBucket"
    assert b"<BucketName>tb-this-bucket-does-not-exist</BucketName>" in r.body


def test_head_error_has_no_body(east, bucket):
    path = f"/{bucket}/missing"
    hdrs = sign_request("HEAD", east.endpoint + path, east.name)
    hdrs["Connection"] = "close"
    sock = _connect(east.endpoint)
    try:
        sock.sendall(_request_head("HEAD", path, hdrs, urlsplit(east.endpoint).netloc))
        answer = _read_until_close(sock)
    finally:
        sock.close()
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 "), head
    assert rest == b""
    assert re.search(rb"(?i)\r\nx-amz-request-id: \S+", head)


def test_head_error_code_in_boto3(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="missing")
    assert exc.value.response["Error"]["Code"] == "404"
    assert exc.value.response["ResponseMetadata"]["RequestId"]


# ---- Expect: 100-continue --------------------------------------------------------------------------------------
def test_expect_100_continue_put(east, s3, bucket):
    body = b"after the interim response" * 100
    path = f"/{bucket}/expect.txt"
    hdrs = sign_request("PUT", east.endpoint + path, east.name, body)
    hdrs.update({"Content-Length": str(len(body)), "Expect": "100-continue", "Connection": "close"})
    sock = _connect(east.endpoint)
    try:
        sock.sendall(_request_head("PUT", path, hdrs, urlsplit(east.endpoint).netloc))
        interim = sock.recv(4096)  # the server must answer before the body is sent
        assert interim.startswith(b"HTTP/1.1 100"), interim
        sock.sendall(body)
        answer = interim.partition(b"\r\n\r\n")[2] + _read_until_close(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert s3.get_object(Bucket=bucket, Key="expect.txt")["Body"].read() == body


@pytest.mark.parametrize("failure", ["NoSuchBucket", "InvalidAccessKeyId", "AuthorizationHeaderMalformed"])
def test_expect_100_continue_rejected_early(east, bucket, failure):
    """A request that fails before the body is read gets its final status instead of 100 Continue."""
    path = f"/{bucket}/k" if failure != "NoSuchBucket" else "/tb-no-such-bucket-for-expect/k"
    body = b"x" * 1000
    kwargs = {"access_key": "AKIAUNKNOWN000000000"} if failure == "InvalidAccessKeyId" else {}
    region = "eu-north-1" if failure == "AuthorizationHeaderMalformed" else east.name
    hdrs = sign_request("PUT", east.endpoint + path, region, body, **kwargs)
    # keep-alive requested: the server must still close, since the unsent body cannot be told from the
    # next request on this connection
    hdrs.update({"Content-Length": str(len(body)), "Expect": "100-continue"})
    sock = _connect(east.endpoint)
    try:
        sock.sendall(_request_head("PUT", path, hdrs, urlsplit(east.endpoint).netloc))
        answer = _read_until_close(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 4"), answer[:300]
    assert f"<Code>{failure}</Code>".encode() in answer
    assert re.search(rb"(?i)\r\nconnection: close\r\n", answer.partition(b"\r\n\r\n")[0])


def test_boto3_file_upload_uses_expect(s3, bucket, tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"file body" * 5000)
    with open(p, "rb") as f:
        s3.put_object(Bucket=bucket, Key="file.bin", Body=f)
    assert s3.get_object(Bucket=bucket, Key="file.bin")["Body"].read() == p.read_bytes()
