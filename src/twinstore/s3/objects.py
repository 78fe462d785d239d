"""Object writes and deletes: PutObject, CopyObject, DeleteObject, DeleteObjects, object tagging."""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator
from urllib.parse import unquote

from ..meta.ids import is_valid_version_id
from ..meta.model import VERSIONING_ENABLED, VERSIONING_OFF, BlobSegment, Bucket, ObjectVersion
from ..protocol.errors import AWSError
from .checksums import ALGORITHMS
from .http import S3Request, S3Response
from .ingest import ingest_body
from .names import check_key
from .preconditions import check_copy_source, check_write
from .service import S3Service, handles
from .sse import (EncryptionPlan, OpenVersion, customer_key, opaque_etag, open_version,
                  output_headers, plaintext, plan_for, requested)
from .tags import check_tag_set, parse_tagging_header, tags_from_set, tags_to_set

STORAGE_CLASSES = {"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                   "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE"}
CONTENT_MEMBERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage",
                   "Expires", "WebsiteRedirectLocation")
MAX_META_BYTES = 2048
MAX_COPY_SIZE = 5 * 1024 ** 3


def content_headers(params: dict[str, Any]) -> dict[str, Any]:
    headers = {m: params[m] for m in CONTENT_MEMBERS if params.get(m) is not None}
    enc = headers.get("ContentEncoding")
    if enc is not None:
        kept = [e for e in (x.strip() for x in str(enc).split(",")) if e and e.lower() != "aws-chunked"]
        if kept:
            headers["ContentEncoding"] = ",".join(kept)
        else:
            del headers["ContentEncoding"]
    headers.setdefault("ContentType", "binary/octet-stream")
    return headers


def user_metadata(params: dict[str, Any]) -> dict[str, str]:
    meta: dict[str, str] = params.get("Metadata") or {}
    if sum(len(k.encode()) + len(v.encode()) for k, v in meta.items()) > MAX_META_BYTES:
        raise AWSError("MetadataTooLarge", MaxSizeAllowed=MAX_META_BYTES)
    return meta


def storage_class(params: dict[str, Any]) -> str:
    sc = params.get("StorageClass") or "STANDARD"
    if sc not in STORAGE_CLASSES:
        raise AWSError("InvalidStorageClass", StorageClassRequested=sc)
    return sc


def version_header(bucket: Bucket, v: ObjectVersion) -> str | None:
    """S3 sends x-amz-version-id only for buckets that have had versioning enabled."""
    return None if bucket.versioning == VERSIONING_OFF else v.version_id


def checksum_output(v: ObjectVersion) -> dict[str, str]:
    c = v.checksum
    if not c:
        return {}
    return {"Checksum" + c["algorithm"]: c["value"], "ChecksumType": c.get("type", "FULL_OBJECT")}


def new_version(svc: S3Service, bucket: Bucket, key: str, owner: str) -> ObjectVersion:
    vid, ts = svc.version_ids.new()
    return ObjectVersion(bucket_id=bucket.id, key=key, vid=vid, null_version=bucket.versioning != VERSIONING_ENABLED,
                         is_latest=True, delete_marker=False, last_modified_us=ts, owner=owner)


@handles("PutObject")
async def put_object(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await svc.bucket(req.bucket)
    key = req.key or ""
    check_key(key)
    p = req.params
    headers = content_headers(p)
    meta = user_metadata(p)
    sc = storage_class(p)
    tags = parse_tagging_header(p["Tagging"]) if p.get("Tagging") else {}
    check = check_write(p)
    plan = await plan_for(svc.sse, requested(p, bucket, req.source_ip, req.secure, svc.sse), bucket, key)
    data = await ingest_body(svc, req, allow_inline=True, plan=plan)
    v = new_version(svc, bucket, key, req.principal.account_id)
    env = plan.envelope if plan is not None else None
    v.size, v.etag, v.checksum = data.size, opaque_etag(env, data.md5_hex), data.checksum
    v.encryption = env.to_json() if env is not None else {}
    v.headers, v.user_meta, v.storage_class, v.tags = headers, meta, sc, tags
    v.inline = data.inline
    v.segments = [BlobSegment(data.blob_id, data.size)] if data.blob_id and data.size else []
    outbox = svc.plan_replication(bucket, v, "put")
    try:
        freed = await svc.store.put_version(v, bucket.versioning, check, outbox=outbox)
    except BaseException:
        if data.blob_id:
            await svc.blobs.delete([data.blob_id])
        raise
    svc.replication_queued(outbox)
    if data.blob_id and not data.size:
        freed.append(BlobSegment(data.blob_id, 0))
    svc.free_later(freed)
    out: dict[str, Any] = {"ETag": f'"{v.etag}"', "VersionId": version_header(bucket, v), "Size": v.size}
    out.update(checksum_output(v))
    out.update(output_headers(env, with_context=True))
    return S3Response(out)


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    src = value
    version_id = None
    if "?" in src:
        src, _, q = src.partition("?")
        for part in q.split("&"):
            k, _, val = part.partition("=")
            if k == "versionId":
                version_id = unquote(val)
    src = unquote(src)
    if src.startswith("/"):
        src = src[1:]
    bucket, _, key = src.partition("/")
    if not bucket or not key:
        raise AWSError("InvalidArgument", "Invalid copy source object key", ArgumentName="x-amz-copy-source",
                       ArgumentValue=value)
    if version_id is not None and not is_valid_version_id(version_id):
        raise AWSError("InvalidArgument", "Invalid version id specified", ArgumentName="x-amz-copy-source",
                       ArgumentValue=value)
    return bucket, key, version_id


async def copy_source_version(svc: S3Service, req: S3Request) -> tuple[Bucket, ObjectVersion, OpenVersion | None]:
    """The copy source, its preconditions checked and its data key unwrapped (SSE-C source: with the
    x-amz-copy-source-server-side-encryption-customer-* key)."""
    src_bucket_name, src_key, src_vid = parse_copy_source(req.params.get("CopySource", ""))
    src_bucket = await svc.bucket(src_bucket_name)
    src = await svc.store.get_version(src_bucket.id, src_key, src_vid)
    if src is None:
        if src_vid is not None:
            raise AWSError("NoSuchVersion", Key=src_key, VersionId=src_vid)
        raise AWSError("NoSuchKey", Key=src_key)
    if src.delete_marker:
        if src_vid is not None:
            raise AWSError("InvalidRequest", "The source of a copy request may not specifically refer to a "
                                             "delete marker by version id.")
        raise AWSError("NoSuchKey", Key=src_key)
    check_copy_source(req.params, src)
    ck = customer_key(req.params, req.source_ip, req.secure, svc.sse, prefix="CopySource")
    return src_bucket, src, await open_version(svc.sse, src_bucket, src, ck)


async def copy_data(svc: S3Service, src: ObjectVersion, opened: OpenVersion | None, start: int, length: int,
                    algorithm: str | None = None, plan: EncryptionPlan | None = None,
                    part: int = 0) -> tuple[str, int, str, Any]:
    """Streams a byte range of `src`'s plaintext into a new blob, encrypted by `plan` (as part `part`);
    returns (blob id, plaintext size, md5 hex, checksum).

    The checksum uses `algorithm` (e.g. the multipart upload's), else the source's, else S3's default."""
    return await store_plaintext(svc, read_data(svc, src, start, length, opened=opened),
                                 algorithm or src.checksum.get("algorithm") or "CRC64NVME", plan, part)


async def store_plaintext(svc: S3Service, chunks: AsyncIterator[bytes], algorithm: str,
                          plan: EncryptionPlan | None = None, part: int = 0) -> tuple[str, int, str, Any]:
    """Writes plaintext to a new blob, encrypted by `plan` (from `sse.plan_for`, as part `part`); returns
    (blob id, plaintext size, md5 hex, checksum). The blob is durable but unreferenced until metadata commits
    a version with `plan.envelope` (what CopyObject, UploadPartCopy and replication do)."""
    import hashlib

    from .checksums import new_checksum
    md5 = hashlib.md5()
    checksum = new_checksum(algorithm)
    writer = svc.blobs.writer([md5, checksum], plan.transform(part) if plan is not None else None)
    try:
        async for chunk in chunks:
            await writer.write(chunk)
        blob_id = await writer.commit()
    except BaseException:
        await writer.abort()
        raise
    return blob_id, writer.size, md5.hexdigest(), checksum


async def read_data(svc: S3Service, v: ObjectVersion, start: int, length: int,
                    fds: list[int] | None = None, opened: OpenVersion | None = None) -> AsyncIterator[bytes]:
    """A byte range of a version's plaintext, wherever it lives (inline in metadata, or blob segments),
    decrypted with `opened` (from `sse.open_version`) when the version is encrypted.

    With `fds` (from `open_data`), reads the already-open segments and closes them when done."""
    if v.encryption:
        if opened is None:
            raise AWSError("InternalError", "encrypted data read without its key")
        if fds is None:
            fds = await open_data(svc, v)
            if fds is None:
                raise AWSError("InternalError", "The object changed while being read; retry.")
        try:
            async for chunk in plaintext(svc.blobs.pool, opened, v, fds, start, length):
                yield chunk
        finally:
            svc.blobs.close_all(fds)
        return
    if v.inline is not None:
        yield v.inline[start:start + length]
        return
    if fds is None:
        async for chunk in read_segments(svc, v.segments, start, length):
            yield chunk
        return
    try:
        for i, lo, n in segment_ranges(v.segments, start, length):
            async for chunk in svc.blobs.stream_fd(fds[i], lo, n):
                yield chunk
    finally:
        svc.blobs.close_all(fds)


async def open_data(svc: S3Service, v: ObjectVersion) -> list[int] | None:
    """Opens a version's blob segments; None if one is gone (a concurrent overwrite freed it)."""
    if v.inline is not None or not v.segments:
        return []
    try:
        return await svc.blobs.open_all([s.blob_id for s in v.segments])
    except FileNotFoundError:
        return None


def segment_ranges(segments: list[BlobSegment], start: int, length: int) -> Iterator[tuple[int, int, int]]:
    """(segment index, offset in segment, byte count) covering bytes [start, start+length) of the object."""
    pos, end = 0, start + length
    for i, seg in enumerate(segments):
        seg_start, seg_end = pos, pos + seg.size
        pos = seg_end
        if seg_end <= start or seg_start >= end:
            continue
        lo = max(start, seg_start) - seg_start
        yield i, lo, min(end, seg_end) - seg_start - lo


async def read_segments(svc: S3Service, segments: list[BlobSegment], start: int,
                        length: int) -> AsyncIterator[bytes]:
    for i, lo, n in segment_ranges(segments, start, length):
        async for chunk in svc.blobs.stream(segments[i].blob_id, lo, n):
            yield chunk


@handles("CopyObject")
async def copy_object(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await svc.bucket(req.bucket)
    key = req.key or ""
    check_key(key)
    p = req.params
    src_bucket, src, opened = await copy_source_version(svc, req)
    if src.size > MAX_COPY_SIZE:
        raise AWSError("InvalidRequest", "The specified copy source is larger than the maximum allowable size "
                                         "for a copy source: 5368709120")
    directive = (p.get("MetadataDirective") or "COPY").upper()
    tag_directive = (p.get("TaggingDirective") or "COPY").upper()
    if directive not in ("COPY", "REPLACE") or tag_directive not in ("COPY", "REPLACE"):
        raise AWSError("InvalidArgument", "Unknown metadata directive.")
    sc = storage_class(p)
    same = src_bucket.id == bucket.id and src.key == key
    if same and directive == "COPY" and not p.get("StorageClass") and not p.get("WebsiteRedirectLocation") \
            and not p.get("ServerSideEncryption") and not p.get("SSECustomerAlgorithm"):
        raise AWSError("InvalidRequest", "This copy request is illegal because it is trying to copy an object to "
                                         "itself without changing the object's metadata, storage class, website "
                                         "redirect location or encryption attributes.")
    if directive == "REPLACE":
        headers, meta = content_headers(p), user_metadata(p)
    else:
        headers, meta = dict(src.headers), dict(src.user_meta)
    tags = (parse_tagging_header(p["Tagging"]) if p.get("Tagging") else {}) if tag_directive == "REPLACE" \
        else dict(src.tags)
    check = check_write(p)
    # x-amz-checksum-algorithm asks for the destination's checksum; otherwise the source's algorithm is kept
    algorithm = (p.get("ChecksumAlgorithm") or "").upper() or None
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise AWSError("InvalidRequest", "Value for x-amz-checksum-algorithm header is invalid.")
    plan = await plan_for(svc.sse, requested(p, bucket, req.source_ip, req.secure, svc.sse), bucket, key)
    env = plan.envelope if plan is not None else None
    blob_id, size, md5_hex, checksum = await copy_data(svc, src, opened, 0, src.size, algorithm, plan)
    v = new_version(svc, bucket, key, req.principal.account_id)
    v.size, v.headers, v.user_meta, v.storage_class, v.tags = size, headers, meta, sc, tags
    v.encryption = env.to_json() if env is not None else {}
    # a copy of a multipart object gets a single-part ETag, as S3 does for copies up to 5 GiB
    v.etag = opaque_etag(env, md5_hex)
    v.checksum = {"algorithm": checksum.algorithm, "value": checksum.b64digest(), "type": "FULL_OBJECT"}
    v.segments = [BlobSegment(blob_id, size)] if size else []
    outbox = svc.plan_replication(bucket, v, "put")
    try:
        freed = await svc.store.put_version(v, bucket.versioning, check, outbox=outbox)
    except BaseException:
        await svc.blobs.delete([blob_id])
        raise
    svc.replication_queued(outbox)
    if not size:
        freed.append(BlobSegment(blob_id, 0))
    svc.free_later(freed)
    result: dict[str, Any] = {"ETag": f'"{v.etag}"', "LastModified": v.last_modified_us}
    result.update({k: val for k, val in checksum_output(v).items() if k != "ChecksumType"})
    out: dict[str, Any] = {"CopyObjectResult": result, "VersionId": version_header(bucket, v),
                           **output_headers(env, with_context=True)}
    if src_bucket.versioning != VERSIONING_OFF:
        out["CopySourceVersionId"] = src.version_id
    return S3Response(out)


async def delete_one(svc: S3Service, bucket: Bucket, key: str, version_id: str | None,
                     owner: str) -> dict[str, Any]:
    """DeleteObject semantics; returns the output members (VersionId, DeleteMarker)."""
    if version_id is not None:
        if not is_valid_version_id(version_id):
            raise AWSError("InvalidArgument", "Invalid version id specified", ArgumentName="versionId",
                           ArgumentValue=version_id)
        removed, freed = await svc.store.delete_version(bucket.id, key, version_id)
        svc.free_later(freed)
        out: dict[str, Any] = {"VersionId": version_id}
        if removed is not None and removed.delete_marker:
            out["DeleteMarker"] = True
        return out
    if bucket.versioning == VERSIONING_OFF:
        _, freed = await svc.store.delete_version(bucket.id, key, "null")
        svc.free_later(freed)
        return {}
    marker = new_version(svc, bucket, key, owner)
    marker.delete_marker = True
    marker.headers = {}
    outbox = svc.plan_replication(bucket, marker, "delete")
    freed = await svc.store.put_version(marker, bucket.versioning, outbox=outbox)
    svc.replication_queued(outbox)
    svc.free_later(freed)
    return {"DeleteMarker": True, "VersionId": marker.version_id}


@handles("DeleteObject")
async def delete_object(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await svc.bucket(req.bucket)
    key = req.key or ""
    check_key(key)
    out = await delete_one(svc, bucket, key, req.params.get("VersionId"), req.principal.account_id)
    return S3Response(out, status=204)


MAX_DELETE_KEYS = 1000


@handles("DeleteObjects")
async def delete_objects(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await svc.bucket(req.bucket)
    delete = req.payload
    if delete is None:
        raise AWSError("MalformedXML")
    objects = delete.get("Objects") or []
    if not objects or len(objects) > MAX_DELETE_KEYS:
        raise AWSError("MalformedXML")
    quiet = bool(delete.get("Quiet"))
    deleted: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for obj in objects:
        key = obj.get("Key", "")
        vid = obj.get("VersionId")
        try:
            check_key(key)
            if req.authorize is not None:
                req.authorize("s3:DeleteObjectVersion" if vid else "s3:DeleteObject",
                              f"arn:aws:s3:::{bucket.name}/{key}")
            out = await delete_one(svc, bucket, key, vid, req.principal.account_id)
        except AWSError as e:
            errors.append({"Key": key, "VersionId": vid, "Code": e.code, "Message": e.message})
            continue
        if not quiet:
            entry: dict[str, Any] = {"Key": key}
            if vid is not None:
                entry["VersionId"] = vid
                if out.get("DeleteMarker"):  # a delete marker removed by id: AWS names it in both members
                    entry["DeleteMarker"] = True
                    entry["DeleteMarkerVersionId"] = vid
            elif out.get("DeleteMarker"):
                entry["DeleteMarker"] = True
                entry["DeleteMarkerVersionId"] = out["VersionId"]
            deleted.append(entry)
    return S3Response({"Deleted": deleted, "Errors": errors})


async def _tag_target(svc: S3Service, req: S3Request) -> ObjectVersion:
    bucket = await svc.bucket(req.bucket)
    key = req.key or ""
    vid = req.params.get("VersionId")
    if vid is not None and not is_valid_version_id(vid):
        raise AWSError("InvalidArgument", "Invalid version id specified", ArgumentName="versionId",
                       ArgumentValue=vid)
    v = await svc.store.get_version(bucket.id, key, vid)
    if v is None:
        raise AWSError("NoSuchVersion", Key=key, VersionId=vid) if vid else AWSError("NoSuchKey", Key=key)
    if v.delete_marker:
        raise AWSError("MethodNotAllowed", headers={"x-amz-delete-marker": "true", "Allow": "DELETE"})
    return v


@handles("GetObjectTagging")
async def get_object_tagging(svc: S3Service, req: S3Request) -> S3Response:
    v = await _tag_target(svc, req)
    return S3Response({"TagSet": tags_to_set(v.tags), "VersionId": v.version_id})


@handles("PutObjectTagging")
async def put_object_tagging(svc: S3Service, req: S3Request) -> S3Response:
    tagging = req.payload
    if tagging is None:
        raise AWSError("MalformedXML")
    check_tag_set(tagging.get("TagSet", []), limit=10)
    v = await _tag_target(svc, req)
    v.tags = tags_from_set(tagging.get("TagSet", []))
    await _update_tags(svc, req, v)
    return S3Response({"VersionId": v.version_id})


async def _update_tags(svc: S3Service, req: S3Request, v: ObjectVersion) -> None:
    outbox = svc.plan_replication(await svc.bucket(req.bucket), v, "tags")
    await svc.store.update_version(v, outbox=outbox)
    svc.replication_queued(outbox)


@handles("DeleteObjectTagging")
async def delete_object_tagging(svc: S3Service, req: S3Request) -> S3Response:
    v = await _tag_target(svc, req)
    v.tags = {}
    await _update_tags(svc, req, v)
    return S3Response({"VersionId": v.version_id}, status=204)


@handles("GetObjectAcl")
async def get_object_acl(svc: S3Service, req: S3Request) -> S3Response:
    from .buckets import owner_full_control
    await _tag_target(svc, req)
    return S3Response(owner_full_control(svc))
