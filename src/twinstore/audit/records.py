"""Building CloudTrail event records (eventVersion 1.09) from what the edge reports about each call."""

from __future__ import annotations

import datetime
import random
from urllib.parse import unquote
from typing import TYPE_CHECKING, Any

from ..auth.principal import Principal
from ..protocol.hostid import host_id as s3_host_id
from .events import EventClass, classify, event_source
from .redact import api_parameters, api_response, s3_header_members

if TYPE_CHECKING:
    from ..auth.request import CallRecord

EVENT_VERSION = "1.09"
AWS_INTERNAL = "AWS Internal"
MAX_USER_AGENT = 1024
# request headers S3 shows in requestParameters (never secrets, never the SSE-C key or its MD5)
_S3_PARAM_HEADERS = frozenset({
    "x-amz-acl", "x-amz-storage-class", "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-copy-source", "x-amz-metadata-directive", "x-amz-tagging-directive", "x-amz-bypass-governance-retention",
    "x-amz-object-lock-mode", "x-amz-object-lock-legal-hold", "x-amz-mfa", "x-amz-expected-bucket-owner",
    "x-amz-server-side-encryption-bucket-key-enabled"})
_PRESIGN_SHOWN = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                            "X-Amz-SignedHeaders"})
_S3_RESPONSE_HEADERS = frozenset({
    "x-amz-version-id", "x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm", "x-amz-delete-marker", "x-amz-expiration",
    "x-amz-copy-source-version-id", "x-amz-server-side-encryption-bucket-key-enabled"})


_last_second: list[Any] = [-1, ""]


def iso_time(time_us: int) -> str:
    """`2025-03-10T14:02:11Z` (records of one second share the string)."""
    sec = time_us // 1_000_000
    if sec != _last_second[0]:
        _last_second[:] = [sec, datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")]
    return str(_last_second[1])


def event_id() -> str:
    """A random (version 4) UUID, without a syscall per record."""
    n = (random.getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    h = "%032x" % n
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def invoked_by(p: Principal) -> str:
    """The service acting for the principal. S3's own calls (replication) show as `AWS Internal`, as on AWS."""
    by = p.extra.get("invoked_by", "") if p.extra else ""
    return AWS_INTERNAL if by == "s3.amazonaws.com" else by


def user_identity(p: Principal, access_key_id: str) -> dict[str, Any]:
    """`userIdentity` by principal type (CloudTrail user guide, "userIdentity element")."""
    ident: dict[str, Any]
    extra = p.extra or {}
    if p.type == "Anonymous":
        return {"type": "AWSAccount", "principalId": "", "accountId": "anonymous"}
    if p.type == "Root":
        ident = {"type": "Root", "principalId": p.principal_id or p.account_id,
                 "arn": p.arn or f"arn:aws:iam::{p.account_id}:root", "accountId": p.account_id}
    elif p.type == "AWSService":
        ident = {"type": "AWSService", "invokedBy": extra.get("service", p.arn)}
        return ident
    else:
        ident = {"type": p.type, "principalId": p.principal_id, "arn": p.arn, "accountId": p.account_id}
    key = access_key_id or p.access_key_id
    if key:
        ident["accessKeyId"] = key
    if p.type == "IAMUser":
        ident["userName"] = extra.get("user_name") or p.arn.rpartition("/")[2]
    elif p.type in ("AssumedRole", "FederatedUser"):
        ident["sessionContext"] = session_context(p)
    by = invoked_by(p)
    if by:
        ident["invokedBy"] = by
    return ident


def session_context(p: Principal) -> dict[str, Any]:
    extra = p.extra or {}
    ctx: dict[str, Any] = {}
    if p.type == "AssumedRole":
        # arn:aws:sts::<acct>:assumed-role/<role-name>/<session>
        resource = p.arn.split(":", 5)[-1]
        role_name = extra.get("role_name") or (resource.split("/")[1] if resource.count("/") >= 2 else "")
        role_arn = extra.get("role_arn") or f"arn:aws:iam::{p.account_id}:role/{role_name}"
        role_id = extra.get("role_id") or p.principal_id.partition(":")[0]
        ctx["sessionIssuer"] = {"type": "Role", "principalId": role_id, "arn": role_arn,
                                "accountId": p.account_id, "userName": role_name}
    created = extra.get("session_created") or extra.get("creation_date")
    attrs: dict[str, Any] = {}
    if created:
        attrs["creationDate"] = created if "T" in str(created) else iso_time(int(created))
    attrs["mfaAuthenticated"] = extra.get("mfa_authenticated", "false")
    ctx["attributes"] = attrs
    if extra.get("source_identity"):
        ctx["sourceIdentity"] = extra["source_identity"]
    return ctx


def build_record(call: CallRecord, recipient_account: str, ec: EventClass | None = None) -> dict[str, Any]:
    """One CloudTrail record for one call. Secrets never enter: request headers are picked from an allow list,
    model members marked sensitive are hidden or dropped."""
    if ec is None:
        ec = classify(call.service, call.operation, call.bucket, call.key)
    p = call.principal
    headers = call.headers or {}
    by = invoked_by(p)
    internal = by == AWS_INTERNAL
    ua = AWS_INTERNAL if internal else (call.user_agent or "")[:MAX_USER_AGENT]
    rec: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity(p, p.access_key_id),
        "eventTime": iso_time(call.time_us),
        "eventSource": event_source(call.service),
        "eventName": call.operation,
        "awsRegion": call.region,
        # a service acting for the principal (AWS_INTERNAL, or e.g. CloudFormation) shows as the source
        "sourceIPAddress": by or call.source_ip or "",
        "userAgent": ua,
    }
    if call.error_code:
        rec["errorCode"] = call.error_code
        rec["errorMessage"] = call.error_message or ""
    if call.service == "s3":
        if not internal and ua:
            rec["userAgent"] = f"[{ua}]"
        _s3_fields(rec, call, ec, headers)
    else:
        rec["requestParameters"] = api_parameters(call.service, call.operation, call.params)
        rec["responseElements"] = (None if call.error_code or ec.read_only
                                   else api_response(call.service, call.operation, call.output))
    rec["requestID"] = call.request_id
    rec["eventID"] = event_id()
    rec["readOnly"] = ec.read_only
    if call.service == "s3" and call.bucket:
        rec["resources"] = s3_resources(call.bucket, call.key if ec.resource_type else None, recipient_account)
    rec["eventType"] = "AwsApiCall"
    rec["managementEvent"] = ec.management
    rec["recipientAccountId"] = recipient_account
    rec["eventCategory"] = ec.category
    if headers.get("x-twinstore-tls-version"):  # set by a TLS-terminating front, when there is one
        rec["tlsDetails"] = {"tlsVersion": headers["x-twinstore-tls-version"],
                             "cipherSuite": headers.get("x-twinstore-tls-cipher", ""),
                             "clientProvidedHostHeader": headers.get("host", "")}
    return rec


def _s3_fields(rec: dict[str, Any], call: CallRecord, ec: EventClass, headers: dict[str, str]) -> None:
    params: dict[str, Any] = {}
    if call.bucket:
        params["bucketName"] = call.bucket
    params["Host"] = headers.get("host", "")
    if call.key is not None and ec.resource_type:
        params["key"] = call.key
    params.update(s3_header_members("s3", call.operation, call.params, output=False, wanted=_S3_PARAM_HEADERS))
    _, _, query = call.uri.partition("?")
    for part in query.split("&") if query else ():
        name, eq, value = part.partition("=")
        if not eq and name and not name.lower().startswith("x-amz-"):
            params.setdefault(unquote(name), "")  # subresources as S3 shows them: "versioning": "", "tagging": ""
        elif name in _PRESIGN_SHOWN:  # a presigned URL's parameters, never its signature or session token
            params[name] = unquote(value)
    rec["requestParameters"] = params
    response = None
    if not call.error_code and not ec.read_only:
        response = s3_header_members("s3", call.operation, call.output, output=True,
                                     wanted=_S3_RESPONSE_HEADERS) or None
    rec["responseElements"] = response
    extra: dict[str, Any] = {}
    p = call.principal
    if p.type != "Anonymous":
        extra["SignatureVersion"] = "SigV4"
    if headers.get("x-twinstore-tls-cipher"):
        extra["CipherSuite"] = headers["x-twinstore-tls-cipher"]
    extra["bytesTransferredIn"] = call.bytes_in
    sse = (call.output or {}).get("ServerSideEncryption") if not call.error_code else None
    # which encryption the write got, and whether the bucket default chose it (a replica's was chosen at the source)
    if sse and not ec.read_only and invoked_by(p) != AWS_INTERNAL:
        requested = (call.params or {}).get("ServerSideEncryption")
        kind = {"AES256": "SSE_S3", "aws:kms": "SSE_KMS", "aws:kms:dsse": "DSSE_KMS"}.get(str(sse), str(sse))
        extra["SSEApplied"] = kind if requested else "Default_" + kind
    if p.type != "Anonymous":
        extra["AuthenticationMethod"] = "QueryString" if call.presigned else "AuthHeader"
    extra["x-amz-id-2"] = s3_host_id(call.request_id)
    extra["bytesTransferredOut"] = call.bytes_out if call.operation == "GetObject" and not call.error_code else 0
    rec["additionalEventData"] = extra


def s3_resources(bucket: str, key: str | None, account: str) -> list[dict[str, str]]:
    res: list[dict[str, str]] = []
    if key is not None:
        res.append({"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"})
    res.append({"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"})
    return res
