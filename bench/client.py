"""Minimal async S3 client (path-style, SigV4 header auth) over one aiohttp session."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from .sigv4 import EMPTY_SHA256, UNSIGNED_PAYLOAD, SigV4Signer, sha256_hex, uri_encode_path

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
VERSIONING_ENABLED = (
    f'<VersioningConfiguration xmlns="{S3_NS}"><Status>Enabled</Status></VersioningConfiguration>'
).encode()
_CODE_RE = re.compile(rb"<Code>([^<]*)</Code>")
_KEYCOUNT_RE = re.compile(rb"<KeyCount>(\d+)</KeyCount>")
_TRUNC_RE = re.compile(rb"<IsTruncated>(\w+)</IsTruncated>")
_VERSION_RE = re.compile(
    rb"<(?:Version|DeleteMarker)>.*?<Key>([^<]*)</Key>.*?<VersionId>([^<]*)</VersionId>.*?"
    rb"</(?:Version|DeleteMarker)>",
    re.S,
)
_NEXT_KEY_RE = re.compile(rb"<NextKeyMarker>([^<]*)</NextKeyMarker>")
_NEXT_VID_RE = re.compile(rb"<NextVersionIdMarker>([^<]*)</NextVersionIdMarker>")


class S3Error(Exception):
    """Non-2xx answer from the server."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        m = _CODE_RE.search(body)
        self.status = status
        self.code = m.group(1).decode() if m else ""
        super().__init__(f"{method} {path} -> HTTP {status} {self.code} {body[:300]!r}")


def _url_query(query: list[tuple[str, str]] | None) -> str:
    """Query as sent on the wire: ``?versioning`` style for empty values (like the AWS SDKs)."""
    if not query:
        return ""
    return "?" + "&".join(
        quote(k, safe="-_.~") + ("=" + quote(v, safe="-_.~") if v else "") for k, v in query
    )


class S3Client:
    """Async S3 mini client. One instance == one aiohttp ``ClientSession``."""

    def __init__(
        self, endpoint: str, access_key: str, secret_key: str, region: str, concurrency: int = 16
    ) -> None:
        parts = urlsplit(endpoint)
        self.host = parts.netloc  # signed "host" header, e.g. 127.0.0.1:9000
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.signer = SigV4Signer(access_key, secret_key, region)
        self.region = region
        connector = aiohttp.TCPConnector(
            limit=concurrency, limit_per_host=concurrency, keepalive_timeout=120, ttl_dns_cache=None
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=600),
        )

    async def close(self) -> None:
        """Close the session and its pooled connections."""
        await self.session.close()

    async def __aenter__(self) -> S3Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _prep(
        self,
        method: str,
        bucket: str,
        key: str | None,
        query: list[tuple[str, str]] | None,
        payload_hash: str,
        extra: dict[str, str] | None = None,
    ) -> tuple[URL, dict[str, str]]:
        path = uri_encode_path(f"/{bucket}/{key}" if key is not None else f"/{bucket}")
        headers = self.signer.sign(method, self.host, path, query, payload_hash, extra_headers=extra)
        return URL(self.base + path + _url_query(query), encoded=True), headers

    async def request(
        self,
        method: str,
        bucket: str,
        key: str | None = None,
        query: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        ok: tuple[int, ...] = (200, 204),
    ) -> tuple[int, bytes]:
        """Generic signed request with a small in-memory body; raises S3Error unless status in ``ok``."""
        phash = sha256_hex(body) if body else EMPTY_SHA256
        extra = {"Content-Length": str(len(body))} if method in ("PUT", "POST") else None
        url, headers = self._prep(method, bucket, key, query, phash)
        if extra:
            headers.update(extra)
        async with self.session.request(method, url, data=body or None, headers=headers) as r:
            data = await r.read()
            if r.status not in ok:
                raise S3Error(method, url.raw_path_qs, r.status, data)
            return r.status, data

    # -- bucket ops -----------------------------------------------------------------
    async def create_bucket(self, bucket: str) -> None:
        """CreateBucket with a LocationConstraint body (omitted for us-east-1)."""
        body = b""
        if self.region != "us-east-1":
            body = (
                f'<CreateBucketConfiguration xmlns="{S3_NS}"><LocationConstraint>{self.region}'
                "</LocationConstraint></CreateBucketConfiguration>"
            ).encode()
        await self.request("PUT", bucket, body=body)

    async def put_versioning(self, bucket: str) -> None:
        """PutBucketVersioning Status=Enabled."""
        await self.request("PUT", bucket, query=[("versioning", "")], body=VERSIONING_ENABLED)

    async def get_versioning(self, bucket: str) -> bytes:
        """GetBucketVersioning raw XML."""
        return (await self.request("GET", bucket, query=[("versioning", "")]))[1]

    async def delete_bucket(self, bucket: str) -> None:
        """DeleteBucket (must be empty)."""
        await self.request("DELETE", bucket)

    # -- object ops (hot paths: minimal work) ---------------------------------------
    async def put(self, bucket: str, key: str, body: bytes, payload_hash: str | None = None) -> int:
        """PutObject with an in-memory body signed with its real sha256."""
        url, headers = self._prep("PUT", bucket, key, None, payload_hash or sha256_hex(body))
        headers["Content-Length"] = str(len(body))
        async with self.session.put(url, data=body, headers=headers) as r:
            if r.status != 200:
                raise S3Error("PUT", key, r.status, await r.read())
            await r.release()
            return r.status

    async def put_stream(self, bucket: str, key: str, size: int, chunk: bytes) -> int:
        """PutObject of ``size`` bytes streamed by repeating ``chunk`` (UNSIGNED-PAYLOAD)."""

        async def gen() -> AsyncIterator[bytes]:
            mv = memoryview(chunk)
            left = size
            while left > 0:
                n = min(left, len(mv))
                yield mv[:n] if n < len(mv) else chunk
                left -= n

        url, headers = self._prep("PUT", bucket, key, None, UNSIGNED_PAYLOAD)
        headers["Content-Length"] = str(size)
        async with self.session.put(url, data=gen(), headers=headers) as r:
            if r.status != 200:
                raise S3Error("PUT", key, r.status, await r.read())
            await r.release()
            return r.status

    async def get(self, bucket: str, key: str) -> int:
        """GetObject, body fully read (into memory: use for small objects). Returns byte count."""
        url, headers = self._prep("GET", bucket, key, None, EMPTY_SHA256)
        async with self.session.get(url, headers=headers) as r:
            data = await r.read()
            if r.status != 200:
                raise S3Error("GET", key, r.status, data)
            return len(data)

    async def get_discard(self, bucket: str, key: str) -> int:
        """GetObject of a large body, discarded. Returns the byte count.

        The body is read on a worker thread from a plain blocking socket into one reused buffer, so the load
        generator spends about a kernel copy per byte (aiohttp's reader costs ~3x that, a core at ~3 GB/s on
        this machine, and would be what a large GET measures)."""
        url, headers = self._prep("GET", bucket, key, None, EMPTY_SHA256)
        parts = urlsplit(self.base)
        if parts.scheme != "http":  # an https --endpoint: aiohttp does the TLS
            async with self.session.get(url, headers=headers) as r:
                if r.status != 200:
                    raise S3Error("GET", key, r.status, await r.read())
                n = 0
                async for piece in r.content.iter_any():
                    n += len(piece)
                return n
        return await asyncio.to_thread(_get_discard_sync, parts.hostname or "127.0.0.1", parts.port or 80,
                                       self.host, url.raw_path_qs, headers)

    async def get_range(self, bucket: str, key: str, start: int, length: int) -> int:
        """GetObject of bytes [start, start+length) (expects 206); returns the byte count."""
        url, headers = self._prep("GET", bucket, key, None, EMPTY_SHA256)
        headers["Range"] = f"bytes={start}-{start + length - 1}"
        async with self.session.get(url, headers=headers) as r:
            data = await r.read()
            if r.status != 206:
                raise S3Error("GET", key, r.status, data)
            return len(data)

    async def head(self, bucket: str, key: str) -> int:
        """HeadObject; returns Content-Length."""
        url, headers = self._prep("HEAD", bucket, key, None, EMPTY_SHA256)
        async with self.session.head(url, headers=headers) as r:
            if r.status != 200:
                raise S3Error("HEAD", key, r.status, b"")
            return int(r.headers.get("Content-Length", "0"))

    async def list_v2(self, bucket: str, max_keys: int = 1000, prefix: str | None = None) -> bytes:
        """ListObjectsV2 raw XML."""
        q = [("list-type", "2"), ("max-keys", str(max_keys))]
        if prefix is not None:
            q.append(("prefix", prefix))
        url, headers = self._prep("GET", bucket, None, q, EMPTY_SHA256)
        async with self.session.get(url, headers=headers) as r:
            data = await r.read()
            if r.status != 200:
                raise S3Error("GET", url.raw_path_qs, r.status, data)
            return data

    async def delete(self, bucket: str, key: str, version_id: str | None = None) -> None:
        """DeleteObject (optionally a specific version)."""
        q = [("versionId", version_id)] if version_id else None
        await self.request("DELETE", bucket, key, query=q)

    async def list_versions(self, bucket: str) -> list[tuple[str, str]]:
        """All (key, versionId) pairs incl. delete markers (ListObjectVersions, paginated)."""
        out: list[tuple[str, str]] = []
        q: list[tuple[str, str]] = [("versions", "")]
        while True:
            _, body = await self.request("GET", bucket, query=q)
            out += [(k.decode(), v.decode()) for k, v in _VERSION_RE.findall(body)]
            if not is_truncated(body):
                return out
            nk, nv = _NEXT_KEY_RE.search(body), _NEXT_VID_RE.search(body)
            q = [("versions", "")]
            if nk:
                q.append(("key-marker", nk.group(1).decode()))
            if nv:
                q.append(("version-id-marker", nv.group(1).decode()))


def key_count(list_xml: bytes) -> int:
    """``<KeyCount>`` of a ListObjectsV2 answer (-1 if absent)."""
    m = _KEYCOUNT_RE.search(list_xml)
    return int(m.group(1)) if m else -1


def is_truncated(list_xml: bytes) -> bool:
    """``<IsTruncated>`` of a list answer."""
    m = _TRUNC_RE.search(list_xml)
    return bool(m and m.group(1) == b"true")


_DISCARD_BUFFER = 4 << 20


def _get_discard_sync(host: str, port: int, host_header: str, target: str, headers: dict[str, str]) -> int:
    """One GET on its own connection; the body goes into a reused buffer and is counted."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host_header}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    with socket.create_connection((host, port), timeout=600) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError(f"GET {target}: connection closed before the response head")
            head += data
        head, _, rest = head.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        fields = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines if ":" in h)}
        if status != 200 or "content-length" not in fields:
            body = rest
            while data := sock.recv(65536):
                body += data
            raise S3Error("GET", target, status, body)
        length = int(fields["content-length"])
        got = len(rest)
        view = memoryview(bytearray(_DISCARD_BUFFER))
        while got < length:
            n = sock.recv_into(view, min(len(view), length - got))
            if not n:
                raise ConnectionError(f"GET {target}: body ended after {got} of {length} bytes")
            got += n
        return got
