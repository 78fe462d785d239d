"""Multipart uploads: create, upload part (and part copy), complete, abort, list parts and uploads."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from ..crypto.envelope import Envelope
from ..meta.model import BlobSegment, MultipartUpload, UploadPart
from ..protocol.errors import AWSError
from ..protocol.timefmt import now_us
from .checksums import composite, output_member
from .http import S3Request, S3Response
from .ingest import ingest_body
from .names import check_key
from .objects import (checksum_output, content_headers, copy_data, copy_source_version, new_version,
                      storage_class, user_metadata, version_header)
from .preconditions import check_write
from .service import S3Service, handles
from .sse import EncryptionPlan, check_customer, customer_key, data_key_of, output_headers, plan_for, requested
from .tags import parse_tagging_header

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 ** 3
MAX_PARTS = 10000
_COPY_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d+)$")


async def _upload(svc: S3Service, req: S3Request) -> MultipartUpload:
    bucket = await svc.bucket(req.bucket)
    upload_id = req.params.get("UploadId") or ""
    u = await svc.store.get_upload(upload_id)
    if u is None or u.bucket_id != bucket.id or u.key != req.key:
        raise AWSError("NoSuchUpload", UploadId=upload_id)
    return u


@handles("CreateMultipartUpload")
async def create_multipart_upload(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await svc.bucket(req.bucket)
    key = req.key or ""
    check_key(key)
    p = req.params
    algo = (p.get("ChecksumAlgorithm") or "").upper()
    # ListMultipartUploads orders a key's uploads by initiation time yet pages with "upload ids greater than
    # upload-id-marker": ids that sort by initiation time make both rules one order
    stamp, initiated = svc.version_ids.new()
    u = MultipartUpload(upload_id=stamp + secrets.token_urlsafe(36), bucket_id=bucket.id, key=key,
                        initiated_us=initiated,
                        owner=req.principal.account_id, headers=content_headers(p), user_meta=user_metadata(p),
                        tags=parse_tagging_header(p["Tagging"]) if p.get("Tagging") else {},
                        checksum_algorithm=algo, storage_class=storage_class(p))
    plan = await plan_for(svc.sse, requested(p, bucket, req.source_ip, req.secure, svc.sse), bucket, key)
    u.encryption = plan.envelope.to_json() if plan is not None else {}
    await svc.store.create_upload(u)
    out: dict[str, Any] = {"Bucket": bucket.name, "Key": key, "UploadId": u.upload_id,
                           **output_headers(plan.envelope if plan is not None else None, with_context=True)}
    if algo:
        out["ChecksumAlgorithm"] = algo
        out["ChecksumType"] = "COMPOSITE"
    return S3Response(out)


async def _part_plan(svc: S3Service, req: S3Request, u: MultipartUpload) -> EncryptionPlan | None:
    """The upload's data key, for a part (an SSE-C upload needs the same customer key on every part)."""
    ck = customer_key(req.params, req.source_ip, req.secure, svc.sse)
    if not u.encryption:
        if ck is not None:
            raise AWSError("InvalidRequest", "The encryption parameters are not applicable to this upload.")
        return None
    env = Envelope.from_json(u.encryption)
    bucket = await svc.bucket(req.bucket)
    return EncryptionPlan(env, await data_key_of(svc.sse, env, bucket.name, u.key, ck), u.bucket_id, u.key)


def _part_number(req: S3Request) -> int:
    n = req.params.get("PartNumber")
    if n is None or not 1 <= n <= MAX_PARTS:
        raise AWSError("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                       ArgumentName="partNumber", ArgumentValue=n)
    return int(n)


@handles("UploadPart")
async def upload_part(svc: S3Service, req: S3Request) -> S3Response:
    number = _part_number(req)
    u = await _upload(svc, req)
    plan = await _part_plan(svc, req, u)
    data = await ingest_body(svc, req, max_size=MAX_PART_SIZE, checksum_algorithm=u.checksum_algorithm or None,
                             plan=plan, part=number)
    part = UploadPart(u.upload_id, number, data.blob_id, data.size, data.md5_hex, now_us(),
                      data.checksum if u.checksum_algorithm else {})
    try:
        freed = await svc.store.put_part(part)
    except BaseException:
        await svc.blobs.delete([data.blob_id])
        raise
    svc.free_later(freed)
    out: dict[str, Any] = {"ETag": f'"{part.etag}"', **output_headers(plan.envelope if plan else None)}
    if part.checksum:
        out["Checksum" + part.checksum["algorithm"]] = part.checksum["value"]
    return S3Response(out)


@handles("UploadPartCopy")
async def upload_part_copy(svc: S3Service, req: S3Request) -> S3Response:
    number = _part_number(req)
    u = await _upload(svc, req)
    plan = await _part_plan(svc, req, u)
    _, src, opened = await copy_source_version(svc, req)
    start, length = 0, src.size
    rng = req.params.get("CopySourceRange")
    if rng:
        m = _COPY_RANGE_RE.match(rng)
        if not m or int(m.group(2)) < int(m.group(1)) or int(m.group(2)) >= src.size:
            raise AWSError("InvalidArgument", "The x-amz-copy-source-range value must be of the form "
                                              "bytes=first-last where first and last are the zero-based offsets "
                                              "of the first and last bytes to copy",
                           ArgumentName="x-amz-copy-source-range", ArgumentValue=rng)
        start, length = int(m.group(1)), int(m.group(2)) - int(m.group(1)) + 1
    if length > MAX_PART_SIZE:
        raise AWSError("EntityTooLarge")
    blob_id, size, md5_hex, checksum = await copy_data(svc, src, opened, start, length,
                                                       u.checksum_algorithm or None, plan, number)
    part = UploadPart(u.upload_id, number, blob_id, size, md5_hex, now_us(),
                      {"algorithm": checksum.algorithm, "value": checksum.b64digest(), "type": "FULL_OBJECT"}
                      if u.checksum_algorithm else {})
    try:
        freed = await svc.store.put_part(part)
    except BaseException:
        await svc.blobs.delete([blob_id])
        raise
    svc.free_later(freed)
    out: dict[str, Any] = {"CopyPartResult": {"ETag": f'"{md5_hex}"', "LastModified": part.last_modified_us},
                           **output_headers(plan.envelope if plan else None)}
    if src.version_id != "null" or req.params.get("CopySource", "").find("versionId") >= 0:
        out["CopySourceVersionId"] = src.version_id
    return S3Response(out)


def _part_checksum_matches(item: dict[str, Any], part: UploadPart) -> bool:
    """A checksum listed for a part in CompleteMultipartUpload must be the one the part was stored with."""
    if not part.checksum:
        return True
    listed = item.get(output_member(part.checksum["algorithm"]))
    return listed is None or listed == part.checksum["value"]


@handles("CompleteMultipartUpload")
async def complete_multipart_upload(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await svc.bucket(req.bucket)
    u = await _upload(svc, req)
    listed = (req.payload or {}).get("Parts") or []
    if not listed:
        raise AWSError("MalformedXML", "The XML you provided was not well-formed or did not validate against "
                                       "our published schema")
    stored = {p.part_number: p for p in await svc.store.list_parts(u.upload_id, 0, MAX_PARTS)}
    chosen: list[UploadPart] = []
    last = 0
    for item in listed:
        n = item.get("PartNumber")
        if n is None or n <= last:
            raise AWSError("InvalidPartOrder")
        last = n
        part = stored.get(n)
        etag = (item.get("ETag") or "").strip().strip('"')
        if part is None or etag != part.etag or not _part_checksum_matches(item, part):
            raise AWSError("InvalidPart", UploadId=u.upload_id, PartNumber=n, ETag=item.get("ETag"))
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise AWSError("EntityTooSmall", ProposedSize=part.size, MinSizeAllowed=MIN_PART_SIZE,
                           PartNumber=part.part_number, ETag=f'"{part.etag}"')
    md5s = b"".join(bytes.fromhex(p.etag) for p in chosen)
    v = new_version(svc, bucket, u.key, u.owner)
    v.etag = f"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"
    v.size = sum(p.size for p in chosen)
    v.headers, v.user_meta, v.tags, v.storage_class = u.headers, u.user_meta, u.tags, u.storage_class
    v.segments = [BlobSegment(p.blob_id, p.size) for p in chosen if p.size]
    v.part_sizes = [p.size for p in chosen]
    env = Envelope.from_json(u.encryption) if u.encryption else None
    if env is not None:
        env.parts = [p.part_number for p in chosen if p.size]  # each blob segment's part number (its AAD)
        v.encryption = env.to_json()
    if u.checksum_algorithm and all(p.checksum for p in chosen):
        v.checksum = {"algorithm": u.checksum_algorithm, "type": "COMPOSITE",
                      "value": composite(u.checksum_algorithm, [p.checksum["value"] for p in chosen])}
        # kept for GetObjectAttributes, which lists each part's checksum
        v.extra["part_checksums"] = [p.checksum["value"] for p in chosen]
    outbox = svc.plan_replication(bucket, v, "put")
    freed = await svc.store.complete_upload(u, v, bucket.versioning, check_write(req.params), outbox=outbox)
    svc.replication_queued(outbox)
    svc.free_later(freed)
    out: dict[str, Any] = {"Location": f"/{bucket.name}/{u.key}", "Bucket": bucket.name, "Key": u.key,
                           "ETag": f'"{v.etag}"', "VersionId": version_header(bucket, v)}
    out.update(checksum_output(v))
    out.update(output_headers(env))
    return S3Response(out)


@handles("AbortMultipartUpload")
async def abort_multipart_upload(svc: S3Service, req: S3Request) -> S3Response:
    u = await _upload(svc, req)
    freed = await svc.store.abort_upload(u.upload_id)
    if freed is None:
        raise AWSError("NoSuchUpload", UploadId=u.upload_id)
    svc.free_later(freed)
    return S3Response(status=204)


@handles("ListParts")
async def list_parts(svc: S3Service, req: S3Request) -> S3Response:
    u = await _upload(svc, req)
    if u.encryption:  # an SSE-C upload's parts are listed only with its key, as S3 does
        check_customer(Envelope.from_json(u.encryption), customer_key(req.params, req.source_ip, req.secure,
                                                                       svc.sse))
    p = req.params
    max_parts = min(p.get("MaxParts", 1000), 1000)
    marker = p.get("PartNumberMarker", 0) or 0
    parts = await svc.store.list_parts(u.upload_id, int(marker), max_parts + 1)
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    owner = {"ID": u.owner, "DisplayName": "twinstore"}
    out: dict[str, Any] = {
        "Bucket": req.bucket, "Key": u.key, "UploadId": u.upload_id, "PartNumberMarker": int(marker),
        "MaxParts": max_parts, "IsTruncated": truncated, "Initiator": owner, "Owner": owner,
        "StorageClass": u.storage_class,
        "Parts": [{"PartNumber": x.part_number, "LastModified": x.last_modified_us, "ETag": f'"{x.etag}"',
                   "Size": x.size, **({"Checksum" + x.checksum["algorithm"]: x.checksum["value"]}
                                      if x.checksum else {})} for x in parts]}
    if parts:
        out["NextPartNumberMarker"] = parts[-1].part_number
    if u.checksum_algorithm:
        out["ChecksumAlgorithm"] = u.checksum_algorithm
        out["ChecksumType"] = "COMPOSITE"
    return S3Response(out)


@handles("ListMultipartUploads")
async def list_multipart_uploads(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await svc.bucket(req.bucket)
    p = req.params
    max_uploads = min(p.get("MaxUploads", 1000), 1000)
    prefix = p.get("Prefix", "")
    key_marker, upload_marker = p.get("KeyMarker", ""), p.get("UploadIdMarker", "")
    uploads = await svc.store.list_uploads(bucket.id, prefix, key_marker, upload_marker, max_uploads + 1)
    truncated = len(uploads) > max_uploads
    uploads = uploads[:max_uploads]
    out: dict[str, Any] = {
        "Bucket": bucket.name, "KeyMarker": key_marker, "UploadIdMarker": upload_marker, "Prefix": prefix,
        "MaxUploads": max_uploads, "IsTruncated": truncated,
        "Uploads": [{"UploadId": x.upload_id, "Key": x.key, "Initiated": x.initiated_us,
                     "StorageClass": x.storage_class, "Owner": {"ID": x.owner}, "Initiator": {"ID": x.owner},
                     **({"ChecksumAlgorithm": x.checksum_algorithm} if x.checksum_algorithm else {})}
                    for x in uploads]}
    if truncated and uploads:
        out["NextKeyMarker"] = uploads[-1].key
        out["NextUploadIdMarker"] = uploads[-1].upload_id
    return S3Response(out)
