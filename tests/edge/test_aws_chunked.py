"""aws-chunked request bodies built by hand on the wire: unsigned with a checksum trailer (what botocore sends
over HTTPS by default) and signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, Java/Go SDK v1 style)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import zlib

import pytest
from harness import SECRET_KEY, raw_request, sign_request

UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _unsigned_body(chunks: list[bytes], trailer: str) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return out + b"0\r\n" + trailer.encode() + b"\r\n\r\n"


def _http_chunked(body: bytes, piece: int = 7000) -> bytes:
    """Transport (Transfer-Encoding: chunked) framing on top of the aws-chunked body, as botocore does."""
    parts = [body[i:i + piece] for i in range(0, len(body), piece)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def _head_status(east, bucket: str, key: str) -> int:
    url = f"{east.endpoint}/{bucket}/{key}"
    return raw_request(east.endpoint, "HEAD", f"/{bucket}/{key}", sign_request("HEAD", url, east.name)).status


def _put_unsigned_trailer(east, bucket: str, key: str, chunks: list[bytes], trailer: str,
                          transfer_chunked: bool, content_encoding: str = "aws-chunked"):
    data = b"".join(chunks)
    body = _unsigned_body(chunks, trailer)
    headers = {"Content-Encoding": content_encoding, "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-decoded-content-length": str(len(data)), "x-amz-sdk-checksum-algorithm": "CRC32"}
    hdrs = sign_request("PUT", f"{east.endpoint}/{bucket}/{key}", east.name, headers=headers,
                        payload_hash=UNSIGNED_TRAILER)
    if transfer_chunked:
        hdrs["Transfer-Encoding"] = "chunked"
        wire = _http_chunked(body)
    else:
        hdrs["Content-Length"] = str(len(body))
        wire = body
    return raw_request(east.endpoint, "PUT", f"/{bucket}/{key}", hdrs, wire)


@pytest.mark.parametrize("transfer_chunked", [False, True], ids=["content-length", "transfer-chunked"])
def test_unsigned_trailer_upload(east, s3, bucket, transfer_chunked):
    chunks = [os.urandom(1 << 16), os.urandom(1000), b"tail"]
    data = b"".join(chunks)
    r = _put_unsigned_trailer(east, bucket, "tr.bin", chunks, f"x-amz-checksum-crc32:{_crc32_b64(data)}",
                              transfer_chunked)
    assert r.status == 200, r.body
    assert r.headers.get("x-amz-checksum-crc32") == _crc32_b64(data)
    got = s3.get_object(Bucket=bucket, Key="tr.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert "aws-chunked" not in got.get("ContentEncoding", "")
    assert got["ChecksumCRC32"] == _crc32_b64(data)


def test_aws_chunked_keeps_user_content_encoding(east, s3, bucket):
    data = b"gzipped-looking bytes"
    r = _put_unsigned_trailer(east, bucket, "gz", [data], f"x-amz-checksum-crc32:{_crc32_b64(data)}", False,
                              content_encoding="gzip,aws-chunked")
    assert r.status == 200, r.body
    assert s3.head_object(Bucket=bucket, Key="gz")["ContentEncoding"] == "gzip"


def test_unsigned_trailer_bad_checksum(east, s3, bucket):
    chunks = [b"hello ", b"world"]
    r = _put_unsigned_trailer(east, bucket, "bad.bin", chunks, f"x-amz-checksum-crc32:{_crc32_b64(b'nope')}",
                              False)
    assert r.status == 400
    assert r.error_code() == "BadDigest"
    assert _head_status(east, bucket, "bad.bin") == 404


def _signed_chunk_body(chunks: list[bytes], seed: str, amz_date: str, scope: str, key: bytes) -> bytes:
    out, prev = [], seed
    for c in chunks + [b""]:
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY_SHA256,
                         hashlib.sha256(c).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out.append(b"%x;chunk-signature=%s\r\n%s\r\n" % (len(c), sig.encode(), c))
        prev = sig
    return b"".join(out)


def _signing_key(date: str, region: str) -> bytes:
    k = hmac.new(("AWS4" + SECRET_KEY).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def _put_signed_chunks(east, bucket: str, key: str, chunks: list[bytes], corrupt_at: int | None = None,
                       decoded_length: int | None = None):
    data = b"".join(chunks)
    # The encoded length must be known before signing: it is a signed header.
    sig_len = 64
    encoded_len = sum(len(b"%x;chunk-signature=" % len(c)) + sig_len + 2 + len(c) + 2 for c in chunks + [b""])
    headers = {"Content-Encoding": "aws-chunked", "Content-Length": str(encoded_len),
               "x-amz-decoded-content-length": str(len(data) if decoded_length is None else decoded_length)}
    hdrs = sign_request("PUT", f"{east.endpoint}/{bucket}/{key}", east.name, headers=headers, payload_hash=SIGNED)
    m = re.search(r"Credential=[^/]+/([^,]+), SignedHeaders=[^,]+, Signature=([0-9a-f]{64})", hdrs["Authorization"])
    assert m, hdrs["Authorization"]
    scope, seed = m.group(1), m.group(2)
    amz_date = hdrs["X-Amz-Date"]
    body = _signed_chunk_body(chunks, seed, amz_date, scope, _signing_key(scope.split("/")[0], east.name))
    assert len(body) == encoded_len
    if corrupt_at is not None:
        b = bytearray(body)
        b[corrupt_at] ^= 0x01
        body = bytes(b)
    return raw_request(east.endpoint, "PUT", f"/{bucket}/{key}", hdrs, body)


def test_signed_chunks_upload(east, s3, bucket):
    chunks = [os.urandom(64 * 1024), os.urandom(64 * 1024), os.urandom(12345)]
    r = _put_signed_chunks(east, bucket, "signed.bin", chunks)
    assert r.status == 200, r.body
    got = s3.get_object(Bucket=bucket, Key="signed.bin")
    data = b"".join(chunks)
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert "aws-chunked" not in got.get("ContentEncoding", "")


def test_signed_chunks_corrupted_byte(east, s3, bucket):
    chunks = [b"a" * 9000, b"b" * 9000, b"c" * 100]
    # inside the second chunk's data: header of chunk 1 + 9000 data + CRLF + header of chunk 2 + a few bytes
    offset = len(b"2328;chunk-signature=") + 64 + 2 + 9000 + 2 + len(b"2328;chunk-signature=") + 64 + 2 + 10
    r = _put_signed_chunks(east, bucket, "corrupt.bin", chunks, corrupt_at=offset)
    assert r.status == 403
    assert r.error_code() == "SignatureDoesNotMatch"
    assert _head_status(east, bucket, "corrupt.bin") == 404


@pytest.mark.parametrize("declared", [6000, 4000], ids=["more", "less"])
def test_signed_chunks_decoded_length_mismatch(east, s3, bucket, declared):
    chunks = [b"x" * 5000, b"y" * 10]
    r = _put_signed_chunks(east, bucket, "short.bin", chunks, decoded_length=declared)
    assert r.status == 400
    assert r.error_code() == "IncompleteBody"
    assert _head_status(east, bucket, "short.bin") == 404


def _put_signed_trailer(east, bucket: str, key: str, chunks: list[bytes], checksum: str, bad_trailer_sig: bool):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks, then a checksum trailer with its own signature."""
    data = b"".join(chunks)
    headers = {"Content-Encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-decoded-content-length": str(len(data))}
    trailer = f"x-amz-checksum-crc32:{checksum}".encode()

    def build(seed: str, amz_date: str, scope: str) -> bytes:
        key_bytes = _signing_key(scope.split("/")[0], east.name)
        body = _signed_chunk_body(chunks, seed, amz_date, scope, key_bytes)
        last_sig = re.findall(rb"chunk-signature=([0-9a-f]{64})", body)[-1].decode()
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, last_sig,
                         hashlib.sha256(trailer + b"\n").hexdigest()])
        tsig = hmac.new(key_bytes, sts.encode(), hashlib.sha256).hexdigest()
        if bad_trailer_sig:
            tsig = "0" * 64
        return body[:-2] + trailer + b"\r\n" + f"x-amz-trailer-signature:{tsig}".encode() + b"\r\n\r\n"

    # the length is independent of the signature values: build once with placeholders to learn it
    headers["Content-Length"] = str(len(build("0" * 64, "20000101T000000Z", "20000101/x/s3/aws4_request")))
    hdrs = sign_request("PUT", f"{east.endpoint}/{bucket}/{key}", east.name, headers=headers,
                        payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
    m = re.search(r"Credential=[^/]+/([^,]+), SignedHeaders=[^,]+, Signature=([0-9a-f]{64})", hdrs["Authorization"])
    assert m
    body = build(m.group(2), hdrs["X-Amz-Date"], m.group(1))
    return raw_request(east.endpoint, "PUT", f"/{bucket}/{key}", hdrs, body)


def test_signed_chunks_with_trailer(east, s3, bucket):
    chunks = [os.urandom(20000), os.urandom(300)]
    data = b"".join(chunks)
    r = _put_signed_trailer(east, bucket, "st.bin", chunks, _crc32_b64(data), bad_trailer_sig=False)
    assert r.status == 200, r.body
    got = s3.get_object(Bucket=bucket, Key="st.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ChecksumCRC32"] == _crc32_b64(data)


@pytest.mark.parametrize("fault", ["trailer-signature", "checksum"])
def test_signed_chunks_with_bad_trailer(east, s3, bucket, fault):
    chunks = [os.urandom(5000)]
    checksum = _crc32_b64(b"other") if fault == "checksum" else _crc32_b64(chunks[0])
    r = _put_signed_trailer(east, bucket, "stbad.bin", chunks, checksum, bad_trailer_sig=fault == "trailer-signature")
    assert r.status == (403 if fault == "trailer-signature" else 400), r.body
    assert r.error_code() == ("SignatureDoesNotMatch" if fault == "trailer-signature" else "BadDigest")
    assert _head_status(east, bucket, "stbad.bin") == 404
