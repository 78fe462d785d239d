"""Which IAM action(s) and resource ARN(s) each S3 operation needs, and the S3 condition keys of a request.

Source: S3 User Guide "Amazon S3 actions" / Service Authorization Reference for S3. Object actions act on
`arn:aws:s3:::bucket/key`, bucket actions on `arn:aws:s3:::bucket`, ListAllMyBuckets on `*`.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import unquote

from ..auth.principal import Principal
from ..iam.authority import Iam, RequestKeys
from ..iam.conditions import PolicyError
from ..iam.policy import RESOURCE, Policy, compile_policy
from ..meta.model import Bucket

SERVICE, BUCKET, OBJECT = "service", "bucket", "object"

# operation -> (action, resource kind, action when a versionId is given)
ACTIONS: dict[str, tuple[str, str, str | None]] = {
    "ListBuckets": ("s3:ListAllMyBuckets", SERVICE, None),
    "ListDirectoryBuckets": ("s3:ListAllMyBuckets", SERVICE, None),
    "CreateBucket": ("s3:CreateBucket", BUCKET, None),
    "DeleteBucket": ("s3:DeleteBucket", BUCKET, None),
    "HeadBucket": ("s3:ListBucket", BUCKET, None),
    "ListObjects": ("s3:ListBucket", BUCKET, None),
    "ListObjectsV2": ("s3:ListBucket", BUCKET, None),
    "ListObjectVersions": ("s3:ListBucketVersions", BUCKET, None),
    "ListMultipartUploads": ("s3:ListBucketMultipartUploads", BUCKET, None),
    "GetBucketLocation": ("s3:GetBucketLocation", BUCKET, None),
    "GetBucketVersioning": ("s3:GetBucketVersioning", BUCKET, None),
    "PutBucketVersioning": ("s3:PutBucketVersioning", BUCKET, None),
    "GetBucketReplication": ("s3:GetReplicationConfiguration", BUCKET, None),
    "PutBucketReplication": ("s3:PutReplicationConfiguration", BUCKET, None),
    "DeleteBucketReplication": ("s3:PutReplicationConfiguration", BUCKET, None),
    "GetBucketEncryption": ("s3:GetEncryptionConfiguration", BUCKET, None),
    "PutBucketEncryption": ("s3:PutEncryptionConfiguration", BUCKET, None),
    "DeleteBucketEncryption": ("s3:PutEncryptionConfiguration", BUCKET, None),
    "GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock", BUCKET, None),
    "PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock", BUCKET, None),
    "DeletePublicAccessBlock": ("s3:PutBucketPublicAccessBlock", BUCKET, None),
    "GetBucketPolicy": ("s3:GetBucketPolicy", BUCKET, None),
    "PutBucketPolicy": ("s3:PutBucketPolicy", BUCKET, None),
    "DeleteBucketPolicy": ("s3:DeleteBucketPolicy", BUCKET, None),
    "GetBucketPolicyStatus": ("s3:GetBucketPolicyStatus", BUCKET, None),
    "GetBucketAcl": ("s3:GetBucketAcl", BUCKET, None),
    "PutBucketAcl": ("s3:PutBucketAcl", BUCKET, None),
    "GetBucketLogging": ("s3:GetBucketLogging", BUCKET, None),
    "PutBucketLogging": ("s3:PutBucketLogging", BUCKET, None),
    "GetBucketTagging": ("s3:GetBucketTagging", BUCKET, None),
    "PutBucketTagging": ("s3:PutBucketTagging", BUCKET, None),
    "DeleteBucketTagging": ("s3:PutBucketTagging", BUCKET, None),
    "GetBucketLifecycleConfiguration": ("s3:GetLifecycleConfiguration", BUCKET, None),
    "PutBucketLifecycleConfiguration": ("s3:PutLifecycleConfiguration", BUCKET, None),
    "DeleteBucketLifecycle": ("s3:PutLifecycleConfiguration", BUCKET, None),
    "GetBucketNotificationConfiguration": ("s3:GetBucketNotification", BUCKET, None),
    "PutBucketNotificationConfiguration": ("s3:PutBucketNotification", BUCKET, None),
    "GetBucketOwnershipControls": ("s3:GetBucketOwnershipControls", BUCKET, None),
    "PutBucketOwnershipControls": ("s3:PutBucketOwnershipControls", BUCKET, None),
    "DeleteBucketOwnershipControls": ("s3:PutBucketOwnershipControls", BUCKET, None),
    "GetObjectLockConfiguration": ("s3:GetBucketObjectLockConfiguration", BUCKET, None),
    "PutObjectLockConfiguration": ("s3:PutBucketObjectLockConfiguration", BUCKET, None),
    "GetBucketCors": ("s3:GetBucketCORS", BUCKET, None),
    "PutBucketCors": ("s3:PutBucketCORS", BUCKET, None),
    "DeleteBucketCors": ("s3:PutBucketCORS", BUCKET, None),
    "GetBucketWebsite": ("s3:GetBucketWebsite", BUCKET, None),
    "PutBucketWebsite": ("s3:PutBucketWebsite", BUCKET, None),
    "DeleteBucketWebsite": ("s3:DeleteBucketWebsite", BUCKET, None),
    "GetObject": ("s3:GetObject", OBJECT, "s3:GetObjectVersion"),
    "HeadObject": ("s3:GetObject", OBJECT, "s3:GetObjectVersion"),
    "GetObjectAttributes": ("s3:GetObjectAttributes", OBJECT, "s3:GetObjectVersionAttributes"),
    "PutObject": ("s3:PutObject", OBJECT, None),
    # replication's internal operations (s3/replica.py), requested by a role session of the source bucket's rule
    "ReplicateObject": ("s3:ReplicateObject", OBJECT, None),
    "ReplicateDelete": ("s3:ReplicateDelete", OBJECT, None),
    "ReplicateTags": ("s3:ReplicateTags", OBJECT, None),
    "CopyObject": ("s3:PutObject", OBJECT, None),
    "CreateMultipartUpload": ("s3:PutObject", OBJECT, None),
    "UploadPart": ("s3:PutObject", OBJECT, None),
    "UploadPartCopy": ("s3:PutObject", OBJECT, None),
    "CompleteMultipartUpload": ("s3:PutObject", OBJECT, None),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", OBJECT, None),
    "ListParts": ("s3:ListMultipartUploadParts", OBJECT, None),
    "DeleteObject": ("s3:DeleteObject", OBJECT, "s3:DeleteObjectVersion"),
    "DeleteObjects": ("s3:DeleteObject", BUCKET, None),  # per key in the handler; here: nothing bucket-wide
    "GetObjectAcl": ("s3:GetObjectAcl", OBJECT, "s3:GetObjectVersionAcl"),
    "PutObjectAcl": ("s3:PutObjectAcl", OBJECT, "s3:PutObjectVersionAcl"),
    "GetObjectTagging": ("s3:GetObjectTagging", OBJECT, "s3:GetObjectVersionTagging"),
    "PutObjectTagging": ("s3:PutObjectTagging", OBJECT, "s3:PutObjectVersionTagging"),
    "DeleteObjectTagging": ("s3:DeleteObjectTagging", OBJECT, "s3:DeleteObjectVersionTagging"),
    "GetObjectRetention": ("s3:GetObjectRetention", OBJECT, None),
    "PutObjectRetention": ("s3:PutObjectRetention", OBJECT, None),
    "GetObjectLegalHold": ("s3:GetObjectLegalHold", OBJECT, None),
    "PutObjectLegalHold": ("s3:PutObjectLegalHold", OBJECT, None),
    "RestoreObject": ("s3:RestoreObject", OBJECT, None),
}

# Actions only the replication engine's role session uses (no S3 API operation of their own).
REPLICATION_ACTIONS = ("s3:GetReplicationConfiguration", "s3:GetObjectVersionForReplication",
                       "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging", "s3:ReplicateObject",
                       "s3:ReplicateDelete", "s3:ReplicateTags")

Check = tuple[str, str]  # (action, resource ARN)


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def copy_source(value: str) -> tuple[str, str, str | None] | None:
    """(bucket, key, versionId) of an x-amz-copy-source value."""
    src, _, query = value.partition("?")
    src = unquote(src).lstrip("/")
    bucket, slash, key = src.partition("/")
    if not slash or not bucket or not key:
        return None
    vid = None
    for part in query.split("&"):
        k, _, v = part.partition("=")
        if k == "versionId":
            vid = v
    return bucket, key, vid


def checks(operation: str, bucket: str | None, key: str | None, params: Mapping[str, Any],
           headers: Mapping[str, str]) -> list[Check]:
    """Every (action, resource) the request needs, the main one first."""
    entry = ACTIONS.get(operation)
    if entry is None:
        return [(f"s3:{operation}", bucket_arn(bucket) if bucket else "*")]
    action, kind, versioned = entry
    if versioned and params.get("VersionId"):
        action = versioned
    if kind == SERVICE or not bucket:
        return [(action, "*")]
    if kind == BUCKET or key is None:
        out = [(action, bucket_arn(bucket))]
    else:
        out = [(action, object_arn(bucket, key))]
    if operation == "DeleteObjects":
        return []
    if operation in ("CopyObject", "UploadPartCopy"):
        src = copy_source(headers.get("x-amz-copy-source", ""))
        if src is not None:
            out.append(("s3:GetObjectVersion" if src[2] else "s3:GetObject", object_arn(src[0], src[1])))
    if operation in ("PutObject", "CopyObject", "CreateMultipartUpload") and "x-amz-tagging" in headers and key:
        out.append(("s3:PutObjectTagging", object_arn(bucket, key)))
    if operation in ("PutObject", "CreateMultipartUpload") and key and (
            "x-amz-object-lock-retain-until-date" in headers or "x-amz-object-lock-mode" in headers):
        out.append(("s3:PutObjectRetention", object_arn(bucket, key)))
    if operation in ("PutObject", "CreateMultipartUpload") and key and "x-amz-object-lock-legal-hold" in headers:
        out.append(("s3:PutObjectLegalHold", object_arn(bucket, key)))
    if operation == "CreateBucket":
        if "x-amz-bucket-object-lock-enabled" in headers:
            out += [("s3:PutBucketObjectLockConfiguration", out[0][1]), ("s3:PutBucketVersioning", out[0][1])]
        if "x-amz-object-ownership" in headers:
            out.append(("s3:PutBucketOwnershipControls", out[0][1]))
    return out


def pass_role_arn(operation: str, payload: Any) -> str | None:
    """The role a request hands to S3 (PutBucketReplication), which needs iam:PassRole."""
    if operation == "PutBucketReplication" and isinstance(payload, dict):
        role = payload.get("Role")
        return role if isinstance(role, str) and role else None
    return None


_HEADER_KEYS = {
    "s3:x-amz-acl": "x-amz-acl", "s3:x-amz-server-side-encryption": "x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id": "x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-copy-source": "x-amz-copy-source", "s3:x-amz-metadata-directive": "x-amz-metadata-directive",
    "s3:x-amz-storage-class": "x-amz-storage-class", "s3:x-amz-content-sha256": "x-amz-content-sha256",
    "s3:x-amz-grant-full-control": "x-amz-grant-full-control", "s3:x-amz-grant-read": "x-amz-grant-read",
    "s3:x-amz-grant-write": "x-amz-grant-write", "s3:object-lock-mode": "x-amz-object-lock-mode",
    "s3:object-lock-legal-hold": "x-amz-object-lock-legal-hold",
    "s3:object-lock-retain-until-date": "x-amz-object-lock-retain-until-date",
    "aws:useragent": "user-agent", "aws:referer": "referer",
}
_QUERY_KEYS = {"s3:prefix": "prefix", "s3:delimiter": "delimiter", "s3:max-keys": "max-keys",
               "s3:versionid": "versionId"}


class S3Keys(RequestKeys):
    """Condition keys of an S3 request, computed only when a policy condition asks for them."""

    __slots__ = ("headers", "query", "source_ip", "secure", "region", "bucket_owner", "presigned", "payload")

    def __init__(self, principal: Principal, headers: Mapping[str, str], query: Mapping[str, str],
                 source_ip: str, secure: bool, region: str, bucket_owner: str = "", presigned: bool = False,
                 payload: Any = None) -> None:
        super().__init__(principal)
        self.headers = headers
        self.query = query
        self.source_ip = source_ip
        self.secure = secure
        self.region = region
        self.bucket_owner = bucket_owner
        self.presigned = presigned
        self.payload = payload  # the parsed configuration body (CreateBucket: s3:LocationConstraint)

    def value(self, key: str) -> list[str] | None:
        h = _HEADER_KEYS.get(key)
        if h is not None:
            v = self.headers.get(h)
            return [v] if v is not None else None
        q = _QUERY_KEYS.get(key)
        if q is not None:
            v = self.query.get(q)
            return [v] if v is not None else None
        if key == "aws:sourceip":
            return [self.source_ip] if self.source_ip else None
        if key == "aws:securetransport":
            return ["true" if self.secure else "false"]
        if key == "aws:requestedregion":
            return [self.region]
        if key == "s3:locationconstraint":
            lc = self.payload.get("LocationConstraint") if isinstance(self.payload, dict) else None
            return [lc] if lc else None
        if key == "s3:resourceaccount":
            return [self.bucket_owner] if self.bucket_owner else None
        if key == "s3:signatureversion":
            return ["AWS4-HMAC-SHA256"] if self.principal.type != "Anonymous" else None
        if key == "s3:authtype":
            if self.principal.type == "Anonymous":
                return None
            return ["REST-QUERY-STRING" if self.presigned else "REST-HEADER"]
        if key == "s3:requestobjecttagkeys":
            tagging = self.headers.get("x-amz-tagging")
            if not tagging:
                return None
            return [unquote(p.partition("=")[0]) for p in tagging.split("&") if p]
        if key.startswith("s3:requestobjecttag/"):
            tagging = self.headers.get("x-amz-tagging") or ""
            want = key[len("s3:requestobjecttag/"):]
            for p in tagging.split("&"):
                k, _, v = p.partition("=")
                if unquote(k).lower() == want:
                    return [unquote(v)]
            return None
        if key == "aws:viaawsservice":
            invoked = self.principal.extra.get("invoked_by") if self.principal.extra else None
            return ["true" if invoked else "false"]
        return super().value(key)


def bucket_policy_of(bucket: Bucket) -> tuple[Policy | None, dict[str, str] | None]:
    """The bucket's stored policy (compiled, cached by text) and the principal ids it was bound to when saved."""
    text = bucket.configs.get("policy")
    if not text:
        return None, None
    try:
        return compile_policy(text, RESOURCE), bucket.configs.get("policyPrincipalIds")
    except PolicyError:
        return None, None


def decide_on_bucket(iam: Iam, principal: Principal, action: str, bucket: Bucket, key: str | None = None,
                     keys: RequestKeys | None = None) -> str:
    """Allow / Deny / ImplicitDeny for `action` on the bucket (key None) or one of its objects, as `principal`,
    against its identity policies and the bucket policy: what the replication engine asks, acting as the role
    session `Iam.service_session` gave it (e.g. s3:GetObjectVersionForReplication, s3:ReplicateObject)."""
    policy, bound = bucket_policy_of(bucket)
    resource = bucket_arn(bucket.name) if key is None else object_arn(bucket.name, key)
    return iam.decide(principal, action, resource, keys or RequestKeys(principal), policy, bound)
