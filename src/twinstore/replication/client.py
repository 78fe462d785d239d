"""HTTP to other regions: one keep-alive connection pool per region process (aiohttp), SigV4-signed requests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, AsyncIterable
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from ..auth.principal import Credential
from .signer import EMPTY_SHA256, UNSIGNED_PAYLOAD, sign

_CODE = re.compile(rb"<Code>([^<]*)</Code>")
_STATUS = re.compile(rb"<Status>([^<]*)</Status>")


@dataclass(slots=True)
class Reply:
    status: int
    code: str = ""  # AWS error code, if any
    failure: str = ""  # x-amz-twinstore-replication-failure (a replication failure reason) if sent
    body: bytes = b""


class RegionClient:
    def __init__(self, limit: int = 128) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(total=None, connect=5, sock_read=60), auto_decompress=False,
                skip_auto_headers=("User-Agent", "Content-Type"))
        return self._session

    async def request(self, method: str, endpoint: str, path: str, credential: Credential, region: str,
                      headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
                      body: bytes | AsyncIterable[bytes] | None = None, size: int | None = None) -> Reply:
        """Sends a signed request; raises aiohttp.ClientError / OSError / TimeoutError when unreachable."""
        host = urlsplit(endpoint).netloc
        hdrs = dict(headers or {})
        payload_hash = EMPTY_SHA256 if body is None else UNSIGNED_PAYLOAD
        if body is not None:
            hdrs["Content-Length"] = str(size if size is not None else len(body))  # type: ignore[arg-type]
        signed = sign(method, host, path, query or {}, hdrs, credential, region, payload_hash)
        qs = "&".join(f"{k}={v}" if v else k for k, v in (query or {}).items())
        url = URL(endpoint + path + (f"?{qs}" if qs else ""), encoded=True)
        data: Any = body
        async with self.session().request(method, url, headers=signed, data=data) as resp:
            raw = await resp.read()
            reply = Reply(resp.status, body=raw, failure=resp.headers.get("x-amz-twinstore-replication-failure", ""))
            if resp.status >= 300:
                m = _CODE.search(raw)
                reply.code = m.group(1).decode() if m else ""
            return reply

    async def bucket_versioning(self, endpoint: str, bucket: str, credential: Credential, region: str) -> str | None:
        """A remote bucket's versioning status ("" never enabled); None if it does not exist there."""
        reply = await self.request("GET", endpoint, "/" + bucket, credential, region, query={"versioning": ""})
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise ConnectionError(f"GetBucketVersioning {bucket}: {reply.status} {reply.code}")
        m = _STATUS.search(reply.body)
        return m.group(1).decode() if m else ""

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
