"""Conditional requests: If-Match / If-None-Match / If-(Un)Modified-Since on reads, writes and copy sources."""

from __future__ import annotations

from typing import Any

from ..meta.model import ObjectVersion
from ..meta.store import LatestCheck
from ..protocol.errors import AWSError
from ..protocol.timefmt import rfc1123


def _etags(value: str) -> list[str]:
    return [t.strip().strip('"') for t in value.split(",")]


def _matches(value: str, etag: str) -> bool:
    tags = _etags(value)
    return "*" in tags or etag in tags


def _seconds(us: int) -> int:
    return us // 1_000_000


def _time(v: Any) -> int | None:
    return v if isinstance(v, int) else None


def check_read(params: dict[str, Any], v: ObjectVersion) -> None:
    """Raises 412 PreconditionFailed or 304 NotModified per RFC 7232 as S3 applies it."""
    if_match = params.get("IfMatch")
    if_none = params.get("IfNoneMatch")
    ims = _time(params.get("IfModifiedSince"))
    ius = _time(params.get("IfUnmodifiedSince"))
    lm = _seconds(v.last_modified_us)
    if if_match is not None:
        if not _matches(if_match, v.etag):
            raise AWSError("PreconditionFailed", Condition="If-Match")
    elif ius is not None and lm > _seconds(ius):
        raise AWSError("PreconditionFailed", Condition="If-Unmodified-Since")
    headers = {"ETag": f'"{v.etag}"', "Last-Modified": rfc1123(v.last_modified_us)}
    if if_none is not None:
        if _matches(if_none, v.etag):
            raise AWSError("NotModified", headers=headers)
    elif ims is not None and lm <= _seconds(ims):
        raise AWSError("NotModified", headers=headers)


def check_write(params: dict[str, Any]) -> LatestCheck | None:
    """A check run inside the write transaction, against the key's current version."""
    if_none = params.get("IfNoneMatch")
    if_match = params.get("IfMatch")
    if if_none is None and if_match is None:
        return None
    if if_none is not None and if_none.strip() != "*":
        raise AWSError("NotImplemented", "If-None-Match only supports *", Header="If-None-Match")

    def check(latest: ObjectVersion | None) -> None:
        live = latest if latest is not None and not latest.delete_marker else None
        if if_none is not None and live is not None:
            raise AWSError("PreconditionFailed", Condition="If-None-Match")
        if if_match is not None:
            if live is None:
                raise AWSError("NoSuchKey")
            if not _matches(if_match, live.etag):
                raise AWSError("PreconditionFailed", Condition="If-Match")
    return check


def check_copy_source(params: dict[str, Any], src: ObjectVersion) -> None:
    lm = _seconds(src.last_modified_us)
    if_match = params.get("CopySourceIfMatch")
    if_none = params.get("CopySourceIfNoneMatch")
    ims = _time(params.get("CopySourceIfModifiedSince"))
    ius = _time(params.get("CopySourceIfUnmodifiedSince"))
    if if_match is not None and not _matches(if_match, src.etag):
        raise AWSError("PreconditionFailed", Condition="x-amz-copy-source-If-Match")
    if if_match is None and ius is not None and lm > _seconds(ius):
        raise AWSError("PreconditionFailed", Condition="x-amz-copy-source-If-Unmodified-Since")
    if if_none is not None and _matches(if_none, src.etag):
        raise AWSError("PreconditionFailed", Condition="x-amz-copy-source-If-None-Match")
    if if_none is None and ims is not None and lm <= _seconds(ims):
        raise AWSError("PreconditionFailed", Condition="x-amz-copy-source-If-Modified-Since")
