"""Listings: ListObjects (v1), ListObjectsV2 and ListObjectVersions."""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any, Callable
from urllib.parse import quote

from ..meta.model import ListedVersion, ObjectsPage
from ..protocol.errors import AWSError
from ..protocol.model import operation
from ..protocol.xml_out import Raw, ResponseSerializer, RowsWriter, rows_writer_for, writer_for
from .http import S3Request, S3Response
from .service import S3Service, handles

MAX_KEYS = 1000


def _max_keys(params: dict[str, Any]) -> int:
    n = params.get("MaxKeys", MAX_KEYS)
    if n < 0:
        raise AWSError("InvalidArgument", "Argument maxKeys must be an integer between 0 and 2147483647",
                       ArgumentName="maxKeys", ArgumentValue=n)
    return min(n, MAX_KEYS)


def _encoder(params: dict[str, Any]) -> Callable[[str], str]:
    enc = params.get("EncodingType")
    if enc is None:
        return lambda s: s
    if enc != "url":
        raise AWSError("InvalidArgument", "Invalid Encoding Method specified in Request",
                       ArgumentName="encoding-type", ArgumentValue=enc)
    # botocore decodes with unquote_plus: '+' and ' ' must both be escaped
    return _url_quote


def _owner(svc: S3Service) -> dict[str, str]:
    return {"ID": svc.account_id, "DisplayName": "twinstore"}


_ROW_COLUMNS = ("Key", "LastModified", "ETag", "Size", "StorageClass", "ChecksumAlgorithm", "ChecksumType")


def _quote_etag(etag: str) -> str:
    return f'"{etag}"'


@functools.lru_cache(maxsize=None)
def _contents_writer(op_name: str, url: bool, owner: bool) -> RowsWriter:
    shape = operation("s3", op_name).output_shape.members["Contents"].member
    return rows_writer_for(shape, "Contents", _ROW_COLUMNS + (("Owner",) if owner else ()),
                           ("ChecksumAlgorithm", "ChecksumType"), (("Key",) if url else ()) + ("ETag",))


def _contents_xml(op_name: str, page: ObjectsPage, url: bool, owner: dict[str, str] | None) -> Raw:
    """The page's <Contents> elements, written straight from the store's row tuples."""
    rows: Any = page.rows
    if owner is not None:
        rows = [r + (owner,) for r in rows]
    write = _contents_writer(op_name, url, owner is not None)
    return Raw(write(rows, _url_quote, _quote_etag) if url else write(rows, _quote_etag))


def _url_quote(s: str) -> str:
    return quote(s, safe="/")


def _common(page_prefixes: list[str], enc: Callable[[str], str]) -> list[dict[str, str]]:
    return [{"Prefix": enc(p)} for p in page_prefixes]


@handles("ListObjectsV2")
async def list_objects_v2(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await svc.bucket(req.bucket)
    p = req.params
    enc = _encoder(p)
    max_keys = _max_keys(p)
    prefix, delimiter = p.get("Prefix", ""), p.get("Delimiter", "")
    token = p.get("ContinuationToken")
    after = p.get("StartAfter", "")
    if token is not None:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise AWSError("InvalidArgument", "The continuation token provided is incorrect",
                           ArgumentName="continuation-token") from None
    page = await svc.store.list_objects(bucket.id, prefix, delimiter, after, max_keys)
    owner = _owner(svc) if p.get("FetchOwner") else None
    out: dict[str, Any] = {
        "Name": bucket.name, "Prefix": enc(prefix), "MaxKeys": max_keys, "KeyCount": len(page.rows)
        + len(page.common_prefixes), "IsTruncated": page.truncated,
        "CommonPrefixes": _common(page.common_prefixes, enc)}
    if delimiter:
        out["Delimiter"] = enc(delimiter)
    if p.get("EncodingType"):
        out["EncodingType"] = "url"
    if token is not None:
        out["ContinuationToken"] = token
    if p.get("StartAfter") is not None:
        out["StartAfter"] = enc(p["StartAfter"])
    if page.truncated and page.next_key is not None:
        out["NextContinuationToken"] = base64.urlsafe_b64encode(page.next_key.encode()).decode()
    out["Contents"] = _contents_xml("ListObjectsV2", page, enc is _url_quote, owner)
    return S3Response(out)


@handles("ListObjects")
async def list_objects(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await svc.bucket(req.bucket)
    p = req.params
    enc = _encoder(p)
    max_keys = _max_keys(p)
    prefix, delimiter, marker = p.get("Prefix", ""), p.get("Delimiter", ""), p.get("Marker", "")
    page = await svc.store.list_objects(bucket.id, prefix, delimiter, marker, max_keys)
    owner = _owner(svc)
    out: dict[str, Any] = {
        "Name": bucket.name, "Prefix": enc(prefix), "Marker": enc(marker), "MaxKeys": max_keys,
        "IsTruncated": page.truncated, "CommonPrefixes": _common(page.common_prefixes, enc)}
    if delimiter:
        out["Delimiter"] = enc(delimiter)
    if p.get("EncodingType"):
        out["EncodingType"] = "url"
    if page.truncated and page.next_key is not None:
        out["NextMarker"] = enc(page.next_key)
    out["Contents"] = _contents_xml("ListObjects", page, enc is _url_quote, owner)
    return S3Response(out)


@handles("ListObjectVersions")
async def list_object_versions(svc: S3Service, req: S3Request) -> S3Response:
    bucket = await svc.bucket(req.bucket)
    p = req.params
    enc = _encoder(p)
    max_keys = _max_keys(p)
    prefix, delimiter = p.get("Prefix", ""), p.get("Delimiter", "")
    key_marker, vid_marker = p.get("KeyMarker", ""), p.get("VersionIdMarker", "")
    if vid_marker and not key_marker:
        raise AWSError("InvalidArgument", "A version-id marker cannot be specified without a key marker.",
                       ArgumentName="version-id-marker", ArgumentValue=vid_marker)
    if vid_marker == "null":
        null = await svc.store.get_version(bucket.id, key_marker, "null")
        vid_marker = null.vid if null else ""
    page = await svc.store.list_versions(bucket.id, prefix, delimiter, key_marker, vid_marker, max_keys)
    owner = _owner(svc)
    entries = [_version_entry(v, enc, owner) for v in page.versions]
    out: dict[str, Any] = {
        "Name": bucket.name, "Prefix": enc(prefix), "KeyMarker": enc(key_marker),
        "VersionIdMarker": p.get("VersionIdMarker", ""), "MaxKeys": max_keys, "IsTruncated": page.truncated,
        "CommonPrefixes": _common(page.common_prefixes, enc)}
    if delimiter:
        out["Delimiter"] = enc(delimiter)
    if p.get("EncodingType"):
        out["EncodingType"] = "url"
    if page.truncated and page.next_key is not None:
        out["NextKeyMarker"] = enc(page.next_key)
        if page.next_vid is not None:
            nv = next((v for v in reversed(page.versions) if v.vid == page.next_vid), None)
            out["NextVersionIdMarker"] = nv.version_id if nv else page.next_vid
    return S3Response(out, raw_body=_versions_body(out, entries))


def _version_entry(v: ListedVersion, enc: Callable[[str], str],
                   owner: dict[str, str]) -> tuple[bool, dict[str, Any]]:
    """(is delete marker, the entry's members)."""
    base: dict[str, Any] = {"Key": enc(v.key), "VersionId": v.version_id, "IsLatest": v.is_latest,
                            "LastModified": v.last_modified_us, "Owner": owner}
    if v.delete_marker:
        return True, base
    base.update({"ETag": f'"{v.etag}"', "Size": v.size, "StorageClass": v.storage_class})
    if v.checksum:
        base["ChecksumAlgorithm"] = [v.checksum["algorithm"]]
        base["ChecksumType"] = v.checksum.get("type", "FULL_OBJECT")
    return False, base


@functools.lru_cache(maxsize=None)
def _versions_writers() -> tuple[ResponseSerializer, Any, Any]:
    op = operation("s3", "ListObjectVersions")
    shape = op.output_shape
    return (ResponseSerializer(op, "ListVersionsResult"), writer_for(shape.members["Versions"].member),
            writer_for(shape.members["DeleteMarkers"].member))


def _versions_body(out: dict[str, Any], entries: list[tuple[bool, dict[str, Any]]]) -> bytes:
    """ListVersionsResult with <Version> and <DeleteMarker> interleaved in the one listing order (key
    ascending, newest first), as S3 sends them; the model's two flattened lists would group them by kind."""
    serializer, version_writer, marker_writer = _versions_writers()
    parts: list[str] = []
    for is_marker, entry in entries:
        tag = "DeleteMarker" if is_marker else "Version"
        parts.append(f"<{tag}>")
        (marker_writer if is_marker else version_writer)(entry, parts.append)
        parts.append(f"</{tag}>")
    return serializer.body(out, parts) or b""
