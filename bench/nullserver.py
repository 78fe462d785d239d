"""Do-nothing S3 responder (target ``null``): measures the load generator's own ceiling.

Answers every request from canned bytes without checking auth: PUT -> 200,
HEAD -> 200 (4 KiB), GET ``?versioning`` -> Enabled, GET ``?list-type=2`` -> 1,000 keys,
GET ``.../large/<size>`` -> ``<size>`` bytes, other GET -> 4 KiB.
Run: ``python -m bench.nullserver --port P``.
"""

from __future__ import annotations

import argparse
import asyncio

import httptools

from .scenarios import parse_size

_SMALL = b"x" * 4096
_CHUNK = b"\0" * (1 << 20)
_LIST = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Name>b</Name><Prefix></Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys>"
    b"<IsTruncated>false</IsTruncated>"
    + b"".join(
        b"<Contents><Key>list/%04d</Key><LastModified>2025-01-01T00:00:00.000Z</LastModified>"
        b'<ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>16</Size>'
        b"<StorageClass>STANDARD</StorageClass></Contents>" % i
        for i in range(1000)
    )
    + b"</ListBucketResult>"
)
_VERSIONING = (
    b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status>'
    b"</VersioningConfiguration>"
)


def _head(status: bytes, length: int, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(length).encode()
        + b'\r\nETag: "d41d8cd98f00b204e9800998ecf8427e"\r\n' + extra + b"\r\n"
    )


class _Proto(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.busy: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.t.close()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        method, url = self.parser.get_method(), self.url
        if method == b"HEAD":
            self.t.write(_head(b"200 OK", 4096))
        elif method != b"GET":
            self.t.write(_head(b"200 OK", 0))
        elif url.endswith(b"?versioning"):
            self.t.write(_head(b"200 OK", len(_VERSIONING)) + _VERSIONING)
        elif b"list-type=2" in url:
            self.t.write(_head(b"200 OK", len(_LIST), b"Content-Type: application/xml\r\n") + _LIST)
        elif b"/large/" in url:
            size = parse_size(url.rsplit(b"/", 1)[1].split(b"?")[0].decode())
            self.t.write(_head(b"200 OK", size))
            self.t.pause_reading()
            self.busy = asyncio.get_running_loop().create_task(self._stream(size))
        else:
            self.t.write(_head(b"200 OK", len(_SMALL)) + _SMALL)

    async def _stream(self, size: int) -> None:
        mv = memoryview(_CHUNK)
        while size > 0:
            await self.can_write.wait()
            n = min(size, len(mv))
            self.t.write(mv[:n])
            size -= n
        self.t.resume_reading()


async def _main(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Proto, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(_main(a.host, a.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
