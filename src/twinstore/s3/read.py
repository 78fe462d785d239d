"""Object reads: GetObject, HeadObject (versions, delete markers, conditions, ranges, part numbers,
response-header overrides) and GetObjectAttributes."""

from __future__ import annotations

import logging
import re
from typing import Any, AsyncIterator

from ..crypto.segments import IntegrityError
from ..meta.ids import is_valid_version_id
from ..meta.model import Bucket, ObjectVersion
from ..protocol.errors import AWSError
from ..protocol.timefmt import rfc1123
from .http import S3Request, S3Response
from .objects import checksum_output, open_data, read_data, version_header
from .preconditions import check_read
from .service import S3Service, handles
from .sse import OpenVersion, check_customer, customer_key, envelope_of, open_version, output_headers

log = logging.getLogger("twinstore.s3")
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
OVERRIDES = {"ResponseContentType": "ContentType", "ResponseContentLanguage": "ContentLanguage",
             "ResponseExpires": "Expires", "ResponseCacheControl": "CacheControl",
             "ResponseContentDisposition": "ContentDisposition", "ResponseContentEncoding": "ContentEncoding"}


async def lookup(svc: S3Service, req: S3Request) -> tuple[Bucket, ObjectVersion]:
    bucket = await svc.bucket(req.bucket)
    key = req.key or ""
    vid = req.params.get("VersionId")
    if vid is not None and not is_valid_version_id(vid):
        raise AWSError("InvalidArgument", "Invalid version id specified", ArgumentName="versionId",
                       ArgumentValue=vid)
    v = await svc.store.get_version(bucket.id, key, vid)
    if v is None:
        if vid is not None:
            raise AWSError("NoSuchVersion", Key=key, VersionId=vid)
        raise AWSError("NoSuchKey", Key=key)
    if v.delete_marker:
        headers = {"x-amz-delete-marker": "true", "x-amz-version-id": v.version_id}
        if vid is not None:  # asking for a delete marker by id: 405, as S3 answers
            headers.update({"Allow": "DELETE", "Last-Modified": rfc1123(v.last_modified_us)})
            raise AWSError("MethodNotAllowed", headers=headers, Method=req.operation.removesuffix("Object").upper(),
                           ResourceType="DeleteMarker")
        raise AWSError("NoSuchKey", headers=headers, Key=key)
    return bucket, v


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """(start, length) for a single satisfiable range; None to ignore the header (as S3 does for
    multiple or malformed ranges); raises InvalidRange when unsatisfiable."""
    m = _RANGE_RE.match(value.strip())
    if not m:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":
        n = int(last)
        if n == 0:
            raise AWSError("InvalidRange", RangeRequested=value, ActualObjectSize=size)
        n = min(n, size)
        return size - n, n
    start = int(first)
    # the start is checked first: for `bytes=<size>-` the implied end (size - 1) is below the start, yet
    # that is an unsatisfiable range (416), not a malformed one to ignore
    if start >= size:
        raise AWSError("InvalidRange", RangeRequested=value, ActualObjectSize=size)
    end = int(last) if last else size - 1
    if end < start:
        return None
    end = min(end, size - 1)
    return start, end - start + 1


def object_output(bucket: Bucket, v: ObjectVersion) -> dict[str, Any]:
    out: dict[str, Any] = dict(v.headers)
    out.update({"ETag": f'"{v.etag}"', "LastModified": v.last_modified_us, "ContentLength": v.size,
                "AcceptRanges": "bytes", "VersionId": version_header(bucket, v)})
    if v.user_meta:
        out["Metadata"] = v.user_meta
    if v.storage_class != "STANDARD":
        out["StorageClass"] = v.storage_class
    replication = v.extra.get("replication")
    if replication:
        out["ReplicationStatus"] = replication["status"]
    if v.tags:
        out["TagCount"] = len(v.tags)
    if v.part_sizes:
        out["PartsCount"] = len(v.part_sizes)
    out.update(output_headers(envelope_of(v)))
    return out


async def _read(svc: S3Service, req: S3Request, with_body: bool) -> S3Response:
    ck = customer_key(req.params, req.source_ip, req.secure, svc.sse)
    for _ in range(5):
        bucket, v = await lookup(svc, req)
        env = envelope_of(v)
        opened: OpenVersion | None = None
        if with_body:
            opened = await open_version(svc.sse, bucket, v, ck)
        elif env is not None:
            check_customer(env, ck)
        elif ck is not None:
            raise AWSError("InvalidRequest", "The encryption parameters are not applicable to this object.")
        # open the data before answering: once open, a concurrent overwrite cannot tear the body
        fds = await open_data(svc, v) if with_body else []
        if fds is not None:
            break
    else:
        raise AWSError("InternalError", "The object changed too often while being read; retry.")
    try:
        resp = _respond(svc, req, bucket, v, with_body, fds, opened)
    except BaseException:
        svc.blobs.close_all(fds)
        raise
    if resp.stream is not None and opened is not None:
        resp.stream = await _primed(resp.stream)
    return resp


async def _primed(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Reads (and so authenticates) the first piece before the response starts: tampered data then gets an
    error response; tampering found later aborts the connection mid-body. Never wrong data."""
    try:
        first = await stream.__anext__()
    except StopAsyncIteration:
        first = b""
    except IntegrityError:
        await stream.aclose()  # type: ignore[attr-defined]
        raise AWSError("InternalError", "The object's stored data failed its integrity check.") from None

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            async for chunk in stream:
                yield chunk
        except IntegrityError:
            log.error("stored data failed its integrity check mid-body; response aborted")
            raise
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
    return rest()


def _respond(svc: S3Service, req: S3Request, bucket: Bucket, v: ObjectVersion, with_body: bool,
             fds: list[int], opened: OpenVersion | None = None) -> S3Response:
    p = req.params
    check_read(p, v)
    out = object_output(bucket, v)
    for param, member in OVERRIDES.items():
        if p.get(param) is not None:
            out[member] = p[param]
    start, length, status = 0, v.size, 200
    part_number = p.get("PartNumber")
    if part_number is not None and p.get("Range"):
        raise AWSError("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
    if part_number is not None:
        sizes = v.part_sizes or [v.size]
        if not 1 <= part_number <= len(sizes):
            raise AWSError("InvalidPartNumber", "The requested partnumber is not satisfiable", status=416,
                           PartNumberRequested=part_number, ActualPartCount=len(sizes))
        start = sum(sizes[: part_number - 1])
        length = sizes[part_number - 1]
        if v.part_sizes:
            status = 206
            out["PartsCount"] = len(sizes)
            out["ContentRange"] = f"bytes {start}-{start + length - 1}/{v.size}"
    elif p.get("Range") and v.size > 0:
        rng = parse_range(p["Range"], v.size)
        if rng is not None:
            start, length = rng
            status = 206
            out["ContentRange"] = f"bytes {start}-{start + length - 1}/{v.size}"
    elif p.get("Range") and v.size == 0 and _RANGE_RE.match(p["Range"].strip()):
        raise AWSError("InvalidRange", RangeRequested=p["Range"], ActualObjectSize=0)
    out["ContentLength"] = length
    if status == 200 and (p.get("ChecksumMode") or "").upper() == "ENABLED":
        out.update(checksum_output(v))  # never on partial content: clients validate it against the body
    resp = S3Response(out, status=status, content_length=length)
    if with_body and length:
        resp.stream = read_data(svc, v, start, length, fds, opened)
    else:
        svc.blobs.close_all(fds)
    return resp


@handles("GetObject")
async def get_object(svc: S3Service, req: S3Request) -> S3Response:
    return await _read(svc, req, True)


@handles("HeadObject")
async def head_object(svc: S3Service, req: S3Request) -> S3Response:
    return await _read(svc, req, False)


ATTRIBUTES = {"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"}


@handles("GetObjectAttributes")
async def get_object_attributes(svc: S3Service, req: S3Request) -> S3Response:
    wanted = {a.strip() for a in (req.headers.get("x-amz-object-attributes") or "").split(",") if a.strip()}
    if not wanted or not wanted <= ATTRIBUTES:
        raise AWSError("InvalidArgument", "Invalid attribute name specified.")
    bucket, v = await lookup(svc, req)
    env = envelope_of(v)
    ck = customer_key(req.params, req.source_ip, req.secure, svc.sse)
    if env is not None:
        check_customer(env, ck)  # an SSE-C object's attributes need its key too
    out: dict[str, Any] = {"LastModified": v.last_modified_us, "VersionId": version_header(bucket, v)}
    if "ETag" in wanted:
        out["ETag"] = v.etag
    if "ObjectSize" in wanted:
        out["ObjectSize"] = v.size
    if "StorageClass" in wanted:
        out["StorageClass"] = v.storage_class
    if "Checksum" in wanted and v.checksum:
        out["Checksum"] = {k: val for k, val in checksum_output(v).items()}
    if "ObjectParts" in wanted and v.part_sizes:
        out["ObjectParts"] = object_parts(v, req.params)
    return S3Response(out)


def object_parts(v: ObjectVersion, params: dict[str, Any]) -> dict[str, Any]:
    """GetObjectAttributes' ObjectParts, paginated by MaxParts / PartNumberMarker. S3 lists the individual
    parts only for objects uploaded with an additional checksum; otherwise just the count."""
    max_parts = min(params.get("MaxParts", 1000), 1000)
    marker = params.get("PartNumberMarker") or 0
    out: dict[str, Any] = {"TotalPartsCount": len(v.part_sizes), "PartNumberMarker": marker,
                           "MaxParts": max_parts, "IsTruncated": False}
    part_checksums: list[str] = v.extra.get("part_checksums") or []
    if not part_checksums or not v.checksum:
        return out
    member = "Checksum" + v.checksum["algorithm"]
    numbers = range(marker + 1, len(v.part_sizes) + 1)
    page = list(numbers)[:max_parts]
    out["Parts"] = [{"PartNumber": n, "Size": v.part_sizes[n - 1], member: part_checksums[n - 1]} for n in page]
    if len(numbers) > len(page):
        out["IsTruncated"] = True
        out["NextPartNumberMarker"] = page[-1] if page else marker
    return out
