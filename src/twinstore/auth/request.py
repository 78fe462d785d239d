"""What the edge hands to the services after authenticating a request, and what it reports when it is done.

- `ApiRequest` / `ApiService`: a verified call to a non-S3 service (IAM, STS, KMS, CloudWatch Logs,
  CloudTrail, CloudFormation), its parameters already parsed from the wire by the botocore model.
- `CallRecord`: one finished request of any service, success or error, for the audit sink.
- `RequestContext`: what an internal endpoint that authorizes per item needs of its request (condition keys,
  audit records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .principal import Principal


@dataclass(slots=True)
class ApiRequest:
    service: str            # botocore service name: "iam", "sts", "kms", "logs", "cloudtrail", "cloudformation"
    operation: str          # e.g. "CreateRole"
    params: dict[str, Any]  # input-shape members; timestamps as int µs UTC, blobs as bytes
    principal: Principal
    region: str             # the region serving the call
    request_id: str
    source_ip: str = ""
    user_agent: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    session_token: str = ""


class ApiService(Protocol):
    service: str  # botocore service name

    async def call(self, req: ApiRequest) -> dict[str, Any]:
        """Output-shape members; raises protocol.errors.AWSError with an explicit status on failure."""
        ...


@dataclass(slots=True)
class CallRecord:
    """One finished request, as the edge saw it. Secrets (signatures, SSE-C keys, secret keys) are not in it."""

    service: str                 # "s3", "iam", ...
    operation: str               # "" when the request could not be routed
    region: str
    principal: Principal
    request_id: str
    time_us: int
    status: int
    source_ip: str = ""
    user_agent: str = ""
    bucket: str | None = None
    key: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] | None = None
    error_code: str = ""
    error_message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_out: int = 0
    presigned: bool = False
    method: str = ""             # HTTP method and request URI (path and query, as sent): S3 access logs
    uri: str = ""
    duration_us: int = 0         # from the request's arrival to its response


CallSink = Callable[[CallRecord], None]


@dataclass(slots=True)
class RequestContext:
    """The transport facts of one request: headers (lower-case names), client address, TLS, request id."""

    headers: dict[str, str]
    source_ip: str
    secure: bool
    request_id: str
    method: str = ""
    uri: str = ""
