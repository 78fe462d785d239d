"""Request bodies as streams: transport framing, Content-Length accounting and aws-chunked decoding
(unsigned with trailers, and signed chunks whose signatures are verified as they arrive).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, AsyncIterator, Awaitable, Callable

from ..auth.sigv4 import SignedRequest, chunk_signature, trailer_signature
from ..protocol.errors import AWSError

Receive = Callable[[], Awaitable[dict[str, Any]]]

MAX_CHUNK_HEADER = 4096
SIGNED_STREAMING = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")


class RequestBody:
    def __init__(self, receive: Receive, headers: dict[str, str], signed: SignedRequest | None) -> None:
        self._receive = receive
        self.signed = signed
        cl = headers.get("content-length")
        try:
            self.content_length: int | None = int(cl) if cl is not None else None
        except ValueError:
            raise AWSError("InvalidArgument", "Invalid Content-Length") from None
        self.chunked_transfer = "chunked" in headers.get("transfer-encoding", "").lower()
        payload_hash = signed.payload_hash if signed else headers.get("x-amz-content-sha256", "")
        encodings = [e.strip().lower() for e in headers.get("content-encoding", "").split(",") if e.strip()]
        self.aws_chunked = "aws-chunked" in encodings or payload_hash.startswith("STREAMING-")
        self.signed_chunks = payload_hash in SIGNED_STREAMING
        self.expected_sha256 = payload_hash.lower() if len(payload_hash) == 64 else None
        dl = headers.get("x-amz-decoded-content-length")
        try:
            self.decoded_length: int | None = int(dl) if dl is not None else None
        except ValueError:
            raise AWSError("InvalidArgument", "Invalid x-amz-decoded-content-length") from None
        self.trailers: dict[str, str] = {}
        self.declared_trailers = [t.strip().lower() for t in headers.get("x-amz-trailer", "").split(",")
                                  if t.strip()]
        self.consumed = False
        # RFC 9110 §10.1.1: a client that sent `Expect: 100-continue` waits for our go-ahead; an error
        # answered before the body was read must not solicit it (reading would send "100 Continue" and then
        # wait for a body the client will not send). The connection is closed instead of drained.
        self.expects_continue = headers.get("expect", "").strip().lower() == "100-continue"
        self.abandoned = False

    @classmethod
    def unread(cls, receive: Receive, headers: dict[str, str]) -> "RequestBody":
        """The body of a request refused before it was looked at (authentication), so it can be drained."""
        try:
            return cls(receive, headers, None)
        except AWSError:  # unparseable lengths: drain by transport framing alone
            return cls(receive, {k: v for k, v in headers.items()
                                 if k not in ("content-length", "x-amz-decoded-content-length")}, None)

    @property
    def length(self) -> int | None:
        """Payload size when known up front."""
        if self.aws_chunked:
            return self.decoded_length
        return self.content_length

    async def _raw(self) -> AsyncIterator[bytes]:
        self.consumed = True
        total = 0
        while True:
            msg = await self._receive()
            if msg["type"] == "http.disconnect":
                raise AWSError("IncompleteBody")
            data = msg.get("body", b"")
            if data:
                total += len(data)
                if self.content_length is not None and total > self.content_length:
                    raise AWSError("IncompleteBody")
                yield data
            if not msg.get("more_body", False):
                break
        if self.content_length is not None and total != self.content_length:
            raise AWSError("IncompleteBody")

    def chunks(self) -> AsyncIterator[bytes]:
        """The decoded payload. Integrity errors are raised when they are detected (at the latest at EOF)."""
        if self.aws_chunked:
            return self._decode_aws_chunked()
        return self._raw()

    async def read_all(self, limit: int) -> bytes:
        parts: list[bytes] = []
        n = 0
        async for c in self.chunks():
            n += len(c)
            if n > limit:
                raise AWSError("EntityTooLarge" if limit > 1 << 20 else "MalformedXML",
                               "Your request was too big.")
            parts.append(c)
        data = b"".join(parts)
        if self.expected_sha256 is not None and hashlib.sha256(data).hexdigest() != self.expected_sha256:
            raise AWSError("XAmzContentSHA256Mismatch",
                           ClientComputedContentSHA256=self.expected_sha256,
                           S3ComputedContentSHA256=hashlib.sha256(data).hexdigest())
        return data

    async def drain(self) -> None:
        """Reads what the handler left unread, so the connection can carry the next request."""
        if not self.consumed and self.expects_continue:
            self.abandoned = True  # the caller must answer with `Connection: close`
            return
        if not self.consumed:
            try:
                async for _ in self._raw():
                    pass
            except AWSError:
                pass

    async def _decode_aws_chunked(self) -> AsyncIterator[bytes]:
        raw = self._raw().__aiter__()
        buf = b""
        signed = self.signed if self.signed_chunks else None
        previous = signed.signature if signed else ""
        total = 0

        async def more() -> bytes:
            try:
                return await raw.__anext__()
            except StopAsyncIteration:
                raise AWSError("IncompleteBody") from None

        while True:
            while True:
                idx = buf.find(b"\r\n")
                if idx >= 0:
                    break
                if len(buf) > MAX_CHUNK_HEADER:
                    raise AWSError("InvalidRequest", "Invalid chunk header")
                buf += await more()
            line, buf = buf[:idx], buf[idx + 2:]
            size_hex, _, ext = line.partition(b";")
            try:
                size = int(size_hex.strip(), 16)
            except ValueError:
                raise AWSError("InvalidRequest", "Invalid chunk size") from None
            sig = ""
            if ext.startswith(b"chunk-signature="):
                sig = ext[len(b"chunk-signature="):].decode("ascii", "replace")
            if signed and not sig:
                raise AWSError("InvalidRequest", "Missing chunk signature")
            h = hashlib.sha256() if signed else None
            remaining = size
            while remaining > 0:
                if not buf:
                    buf = await more()
                piece = buf[:remaining] if len(buf) > remaining else buf
                buf = buf[len(piece):]
                remaining -= len(piece)
                if h is not None:
                    h.update(piece)
                total += len(piece)
                yield piece
            if signed:
                assert h is not None
                expected = chunk_signature(signed, previous, h.hexdigest())
                if not hmac.compare_digest(expected, sig):
                    raise AWSError("SignatureDoesNotMatch", "The request signature we calculated does not match "
                                                            "the signature you provided (chunk signature).")
                previous = sig
            if size == 0:
                break
            while len(buf) < 2:
                buf += await more()
            if buf[:2] != b"\r\n":
                raise AWSError("IncompleteBody")
            buf = buf[2:]
        # trailers: "name:value\r\n" ... then "\r\n"
        trailer_lines: list[bytes] = []
        while True:
            while b"\r\n" not in buf:
                if len(buf) > MAX_CHUNK_HEADER:
                    raise AWSError("InvalidRequest", "Invalid trailer")
                try:
                    buf += await raw.__anext__()
                except StopAsyncIteration:
                    break
            if b"\r\n" not in buf:
                if buf.strip():
                    trailer_lines.append(buf.strip())
                break
            line, buf = buf.split(b"\r\n", 1)
            if not line:
                if trailer_lines or not self.declared_trailers:
                    break
                continue
            trailer_lines.append(line)
        async for _ in raw:  # consume the rest (nothing expected)
            pass
        trailer_sig = ""
        signed_part = b""
        for line in trailer_lines:
            name, _, value = line.decode("utf-8", "replace").partition(":")
            name = name.strip().lower()
            if name == "x-amz-trailer-signature":
                trailer_sig = value.strip()
            else:
                self.trailers[name] = value.strip()
                signed_part += line + b"\n"
        if signed and self.declared_trailers:
            if not trailer_sig or not hmac.compare_digest(trailer_signature(signed, previous, signed_part),
                                                          trailer_sig):
                raise AWSError("SignatureDoesNotMatch", "The trailer signature does not match.")
        for name in self.declared_trailers:
            if name not in self.trailers:
                raise AWSError("InvalidRequest", f"The trailer {name} was declared but not sent.")
        if self.decoded_length is not None and total != self.decoded_length:
            raise AWSError("IncompleteBody")
