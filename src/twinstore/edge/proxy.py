"""Streams a request to another region's endpoint and its response back, untouched (the signature stays
valid because the original Host header is kept)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import aiohttp

from ..protocol.errors import AWSError

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
               "expect"}
# Response headers the local server writes itself (uvicorn adds Date): forwarding them would duplicate them.
_LOCAL_RESPONSE_HEADERS = _HOP_BY_HOP | {"date"}


class ClientGone(Exception):
    """The client disconnected mid-body: abort the upstream request instead of sending it short (the peer
    would wait for the missing bytes, and so would we, for its answer)."""


class RegionProxy:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64), auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        return self._session

    async def forward(self, endpoint: str, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        qs = scope.get("query_string", b"").decode("latin-1")
        url = endpoint.rstrip("/") + raw_path + (("?" + qs) if qs else "")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in _HOP_BY_HOP]
        chunked = any(k.lower() == b"transfer-encoding" for k, _ in scope["headers"])

        gone = False

        async def body() -> Any:
            nonlocal gone
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    gone = True
                    raise ClientGone()
                if msg.get("body"):
                    yield msg["body"]
                if not msg.get("more_body"):
                    return

        try:
            await self._exchange(scope["method"], url, headers, body(), chunked, send)
        except aiohttp.ClientConnectorError:
            # the owning region is down: a retryable 503, as a client of an unavailable region gets from AWS
            raise AWSError("ServiceUnavailable", f"The region that holds this bucket ({endpoint}) is not "
                                                 f"reachable right now. Please retry.") from None
        except Exception:
            if gone:  # aiohttp reports the aborted body as a connection error: nobody is left to answer
                return
            raise

    async def _exchange(self, method: str, url: str, headers: list[tuple[str, str]], data: Any, chunked: bool,
                        send: Send) -> None:
        async with self.session().request(method, aiohttp.client.URL(url, encoded=True),
                                          headers=headers, data=data, skip_auto_headers={"Content-Type"},
                                          chunked=None if not chunked else True) as resp:
            out_headers = [(k, v) for k, v in resp.raw_headers
                           if k.decode("latin-1").lower() not in _LOCAL_RESPONSE_HEADERS]
            await send({"type": "http.response.start", "status": resp.status, "headers": out_headers})
            async for chunk in resp.content.iter_chunked(1 << 20):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
