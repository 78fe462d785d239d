"""Writing an object through the S3 layer in process, as a service principal (CloudTrail, S3 logging): the
same handler a client's PutObject runs, so versioning, default encryption and the inline/blob rules apply."""

from __future__ import annotations

from typing import Any, AsyncIterator

from ..auth.principal import Principal
from ..s3 import objects  # noqa: F401  (registers PutObject)
from ..s3.http import S3Request
from ..s3.service import HANDLERS, S3Service

CLOUDTRAIL = Principal(account_id="", arn="cloudtrail.amazonaws.com", type="AWSService",
                       extra={"service": "cloudtrail.amazonaws.com"})
S3_LOGGING = Principal(account_id="", arn="logging.s3.amazonaws.com", type="AWSService",
                       extra={"service": "logging.s3.amazonaws.com"})


class BytesBody:
    """A request body already in memory."""

    chunked_transfer = False
    aws_chunked = False
    expected_sha256: str | None = None

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.content_length: int | None = len(data)
        self.trailers: dict[str, str] = {}
        self.declared_trailers: list[str] = []

    @property
    def length(self) -> int | None:
        return len(self.data)

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self.data:
            yield self.data

    def chunks(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def read_all(self, limit: int) -> bytes:
        return self.data


async def put_object(svc: S3Service, bucket: str, key: str, data: bytes, principal: Principal,
                     content_type: str, request_id: str, acl: str = "bucket-owner-full-control") -> dict[str, Any]:
    """PutObject in this region; raises AWSError as the handler does (NoSuchBucket, redirect, ...)."""
    headers = {"content-length": str(len(data)), "content-type": content_type, "x-amz-acl": acl}
    params: dict[str, Any] = {"Bucket": bucket, "Key": key, "ContentLength": len(data), "ContentType": content_type,
                              "ACL": acl}
    req = S3Request("PutObject", bucket, key, params, headers, {}, BytesBody(data), principal, request_id)
    resp = await HANDLERS["PutObject"](svc, req)
    return resp.output
