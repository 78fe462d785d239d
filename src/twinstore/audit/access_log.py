"""S3 server access log lines, in AWS's format (Amazon S3 user guide, "Server access log format")."""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from ..auth.request import CallRecord

_SPECIAL = {
    "PutObject": "PUT.OBJECT", "CopyObject": "COPY.OBJECT", "GetObject": "GET.OBJECT", "HeadObject": "HEAD.OBJECT",
    "DeleteObject": "DELETE.OBJECT", "DeleteObjects": "POST.MULTI_OBJECT_DELETE",
    "CreateMultipartUpload": "POST.UPLOADS", "UploadPart": "PUT.PART", "UploadPartCopy": "COPY.PART",
    "CompleteMultipartUpload": "POST.UPLOAD", "AbortMultipartUpload": "DELETE.UPLOAD", "ListParts": "GET.UPLOAD",
    "ListObjects": "GET.BUCKET", "ListObjectsV2": "GET.BUCKET", "ListObjectVersions": "GET.BUCKETVERSIONS",
    "ListMultipartUploads": "GET.UPLOADS", "HeadBucket": "HEAD.BUCKET", "CreateBucket": "PUT.BUCKET",
    "DeleteBucket": "DELETE.BUCKET", "ListBuckets": "GET.SERVICE", "GetBucketLocation": "GET.LOCATION",
    "PutObjectTagging": "PUT.OBJECT_TAGGING", "GetObjectTagging": "GET.OBJECT_TAGGING",
    "DeleteObjectTagging": "DELETE.OBJECT_TAGGING", "GetObjectAttributes": "GET.OBJECT_ATTRIBUTES",
    "PutBucketLogging": "PUT.LOGGING_STATUS", "GetBucketLogging": "GET.LOGGING_STATUS",
    "PutBucketPolicy": "PUT.BUCKETPOLICY", "GetBucketPolicy": "GET.BUCKETPOLICY",
    "DeleteBucketPolicy": "DELETE.BUCKETPOLICY", "PutObjectAcl": "PUT.ACL", "GetObjectAcl": "GET.ACL", "GetBucketAcl": "GET.ACL", "PutBucketAcl": "PUT.ACL",
}
_BUCKET_CONFIG = re.compile(r"^(Put|Get|Delete)Bucket(\w+?)(Configuration)?$")


def log_operation(operation: str) -> str:
    """`REST.PUT.OBJECT`, `REST.GET.VERSIONING`, ..."""
    op = _SPECIAL.get(operation)
    if op is None:
        m = _BUCKET_CONFIG.match(operation)
        if m:
            op = f"{m.group(1).upper()}.{m.group(2).upper()}"
        else:
            op = operation.upper()
    return "REST." + op


def _dash(v: Any) -> str:
    if v is None or v == "" or v == 0:
        return "-"
    return str(v)


def _quoted(v: str) -> str:
    return '"' + (v.replace('"', '\\"') if v else "-") + '"'


_BEARER = re.compile(r"((?:^|[?&])(?:X-Amz-Signature|X-Amz-Security-Token|Signature)=)[^&]*", re.I)


def _redact(uri: str) -> str:
    """A presigned URL is a bearer credential until it expires: its signature and session token stay out."""
    return _BEARER.sub(r"\1REDACTED", uri) if "?" in uri else uri


def log_time(time_us: int) -> str:
    t = datetime.datetime.fromtimestamp(time_us / 1e6, datetime.timezone.utc)
    return t.strftime("[%d/%b/%Y:%H:%M:%S +0000]")


def requester(call: CallRecord) -> str:
    p = call.principal
    if p.type == "Anonymous":
        return "-"
    if p.type == "Root":
        return p.account_id
    return p.arn or "-"


def access_log_line(call: CallRecord, bucket_owner: str, host_id: str) -> str:
    """One line; fields separated by spaces, `-` for none."""
    headers = call.headers or {}
    out = call.output or {}
    request_line = f"{call.method} {_redact(call.uri)} HTTP/1.1" if call.method else "-"
    sent = call.bytes_out if call.method != "HEAD" else 0
    size: Any = None
    if call.operation in ("PutObject", "UploadPart"):
        size = out.get("Size") or headers.get("x-amz-decoded-content-length") or headers.get("content-length")
    elif call.operation in ("GetObject", "HeadObject"):
        size = out.get("ContentLength")
    total_ms = call.duration_us // 1000 if call.duration_us else None
    signed = call.principal.type != "Anonymous"
    fields = [
        bucket_owner, call.bucket or "-", log_time(call.time_us), call.source_ip or "-", requester(call),
        call.request_id, log_operation(call.operation),
        quote(call.key, safe="/") if call.key else "-",
        _quoted(request_line), str(call.status), _dash(call.error_code), _dash(sent), _dash(size),
        _dash(total_ms), "-", _quoted(headers.get("referer", "")), _quoted(call.user_agent or ""),
        _dash((out.get("VersionId") if out else None)), host_id,
        "SigV4" if signed else "-", _dash(headers.get("x-twinstore-tls-cipher")),
        ("QueryString" if call.presigned else "AuthHeader") if signed else "-",
        _dash(headers.get("host")), _dash(headers.get("x-twinstore-tls-version")), "-", "-",
    ]
    return " ".join(fields)
