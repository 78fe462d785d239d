"""What an S3 handler receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Protocol

from ..auth.principal import Principal


class RequestBody(Protocol):
    """The request body as the edge decoded it (transport and aws-chunked framing removed)."""

    content_length: int | None
    chunked_transfer: bool
    aws_chunked: bool
    expected_sha256: str | None  # hex digest the signature covers, when the client sent a real one
    trailers: dict[str, str]  # filled once the body has been read to the end
    declared_trailers: list[str]

    @property
    def length(self) -> int | None: ...
    def chunks(self) -> AsyncIterator[bytes]: ...
    async def read_all(self, limit: int) -> bytes: ...


@dataclass(slots=True)
class S3Request:
    operation: str
    bucket: str | None
    key: str | None
    params: dict[str, Any]  # members of the operation's input shape, from headers and query
    headers: dict[str, str]  # lowercase names
    query: dict[str, str]
    body: RequestBody
    principal: Principal
    request_id: str
    payload: Any = None  # the parsed XML (or text) payload member, for configuration operations
    source_ip: str = ""
    secure: bool = False
    # authorizes a further (action, resource ARN) as this request's principal, raising AccessDenied
    # (DeleteObjects checks each key); None when the caller is not subject to IAM (internal calls)
    authorize: Callable[[str, str], None] | None = None


@dataclass(slots=True)
class S3Response:
    output: dict[str, Any] = field(default_factory=dict)  # members of the operation's output shape
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)  # extra headers beyond the model
    stream: AsyncIterator[bytes] | None = None  # streamed body (GetObject)
    content_length: int | None = None
    raw_body: bytes | None = None
