"""Bucket operations: create/delete/list/head/location, and the configuration subresources that are stored
per bucket (versioning, tagging, public access block, policy, logging, ownership controls, ACL)."""

from __future__ import annotations

import functools
import json
from typing import Any

from ..iam.conditions import PolicyError
from ..iam.policy import RESOURCE, Policy, compile_policy, is_public
from ..meta.model import VERSIONING_ENABLED, VERSIONING_OFF, VERSIONING_SUSPENDED, Bucket
from ..meta.store import BucketNameTaken
from ..protocol.errors import AWSError
from ..protocol.model import service_model
from ..protocol.timefmt import now_us
from .http import S3Request, S3Response
from .names import check_bucket_name
from .service import S3Service, handles
from .tags import check_tag_set, tags_from_set, tags_to_set

_CANNED_PRIVATE = {"private", "bucket-owner-full-control"}
DEFAULT_PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                               "RestrictPublicBuckets": True}
OWNERSHIP_VALUES = ("BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter")
MAX_POLICY_BYTES = 20 * 1024


def owner_of(svc: S3Service) -> dict[str, str]:
    return {"ID": svc.account_id, "DisplayName": "twinstore"}


@handles("ListBuckets")
async def list_buckets(svc: S3Service, req: S3Request) -> S3Response:
    p = req.params
    regs = await svc.global_store.list_registrations(owner=req.principal.account_id,
                                                     region=p.get("BucketRegion"))
    regs = [r for r in regs if r.state == "active" and r.name.startswith(p.get("Prefix", ""))]
    token = p.get("ContinuationToken")
    if token:
        regs = [r for r in regs if r.name > token]
    out: dict[str, Any] = {"Owner": owner_of(svc)}
    max_buckets = p.get("MaxBuckets")
    if max_buckets is not None:
        if not 1 <= max_buckets <= 10000:
            raise AWSError("InvalidArgument", "Argument max-buckets must be an integer between 1 and 10000")
        if len(regs) > max_buckets:
            regs = regs[:max_buckets]
            out["ContinuationToken"] = regs[-1].name
    out["Buckets"] = [{"Name": r.name, "CreationDate": r.created_us, "BucketRegion": r.region} for r in regs]
    if p.get("Prefix"):
        out["Prefix"] = p["Prefix"]
    return S3Response(out)


@functools.lru_cache(maxsize=1)
def _model_regions() -> frozenset[str]:
    """Every region S3's model knows as a LocationConstraint (its enum), plus the legacy us-east-1 name."""
    return frozenset(service_model("s3").shape_for("BucketLocationConstraint").enum) | {"us-east-1"}


async def _location_constraint(svc: S3Service, config: dict[str, Any] | None) -> None:
    constraint = (config or {}).get("LocationConstraint") or ""
    if constraint and constraint not in _model_regions() and \
            constraint not in await svc.global_store.region_endpoints():
        # Not a region at all (not even one of this deployment): InvalidLocationConstraint, before the
        # endpoint-compatibility checks below.
        raise AWSError("InvalidLocationConstraint", LocationConstraint=constraint)
    if svc.region == "us-east-1":
        if constraint == "us-east-1":
            raise AWSError("InvalidLocationConstraint", LocationConstraint=constraint)
        if constraint and constraint != "EU":
            raise AWSError("IllegalLocationConstraintException",
                           f"The {constraint} location constraint is incompatible for the region specific "
                           f"endpoint this request was sent to.")
        return
    if not constraint:
        raise AWSError("IllegalLocationConstraintException")
    if constraint != svc.region:
        raise AWSError("IllegalLocationConstraintException",
                       f"The {constraint} location constraint is incompatible for the region specific "
                       f"endpoint this request was sent to.")


@handles("CreateBucket")
async def create_bucket(svc: S3Service, req: S3Request) -> S3Response:
    name = req.bucket or ""
    check_bucket_name(name)
    config = req.payload
    await _location_constraint(svc, config)
    ownership = req.params.get("ObjectOwnership") or "BucketOwnerEnforced"
    if ownership not in OWNERSHIP_VALUES:
        raise AWSError("InvalidArgument", "Invalid x-amz-object-ownership header", ArgumentName="x-amz-object-ownership")
    acl = req.params.get("ACL")
    if acl and acl not in _CANNED_PRIVATE and ownership == "BucketOwnerEnforced":
        raise AWSError("InvalidBucketAclWithObjectOwnership",
                       "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
    try:
        await svc.global_store.register_bucket(name, svc.region, req.principal.account_id)
    except BucketNameTaken as taken:
        existing = taken.existing
        if existing.owner != req.principal.account_id:
            raise AWSError("BucketAlreadyExists", BucketName=name) from None
        if svc.region == "us-east-1" and existing.region == "us-east-1":
            return S3Response({"Location": f"/{name}"})  # us-east-1 legacy: re-creating your own bucket is OK
        raise AWSError("BucketAlreadyOwnedByYou", BucketName=name) from None
    bucket = Bucket(id=0, name=name, region=svc.region, owner=req.principal.account_id, created_us=now_us(),
                    object_ownership=ownership,
                    configs={"publicAccessBlock": dict(DEFAULT_PUBLIC_ACCESS_BLOCK)})
    if acl:
        bucket.configs["acl"] = acl
    try:
        await svc.store.create_bucket(bucket)
    except BaseException:
        await svc.global_store.unregister_bucket(name)
        raise
    await svc.global_store.set_bucket_state(name, "active")
    return S3Response({"Location": f"/{name}"})


@handles("HeadBucket")
async def head_bucket(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    return S3Response({"BucketRegion": b.region, "AccessPointAlias": False})


@handles("DeleteBucket")
async def delete_bucket(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    await svc.global_store.set_bucket_state(b.name, "deleting")
    if not await svc.store.delete_bucket_if_empty(b):
        await svc.global_store.set_bucket_state(b.name, "active")
        raise AWSError("BucketNotEmpty", BucketName=b.name)
    await svc.global_store.unregister_bucket(b.name)
    return S3Response(status=204)


@handles("GetBucketLocation")
async def get_bucket_location(svc: S3Service, req: S3Request) -> S3Response:
    # Answered from any region: clients call it to find out where a bucket lives.
    reg = await svc.global_store.lookup_bucket(req.bucket or "")
    if reg is None or reg.state != "active":
        raise AWSError("NoSuchBucket", BucketName=req.bucket)
    text = "" if reg.region == "us-east-1" else reg.region
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint '
            f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{text}</LocationConstraint>')
    return S3Response(raw_body=body.encode())


# ---- versioning ------------------------------------------------------------------------------------------------
@handles("PutBucketVersioning")
async def put_bucket_versioning(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    config = req.payload
    if config is None:
        raise AWSError("MalformedXML")
    status = config.get("Status")
    if config.get("MFADelete") == "Enabled":
        raise AWSError("InvalidRequest", "MFA Delete is not supported by this server")
    if status not in (VERSIONING_ENABLED, VERSIONING_SUSPENDED):
        if status is None and b.versioning == VERSIONING_OFF:
            return S3Response()
        raise AWSError("MalformedXML")
    if status == VERSIONING_SUSPENDED and b.configs.get("replication"):
        raise AWSError("InvalidBucketState", "A replication configuration is present on this bucket, so you cannot "
                                             "change the versioning state. To change the versioning state, first "
                                             "delete the replication configuration.")
    b.versioning = status
    await svc.store.update_bucket(b)
    return S3Response()


@handles("GetBucketVersioning")
async def get_bucket_versioning(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    out: dict[str, Any] = {}
    if b.versioning:
        out["Status"] = b.versioning
    return S3Response(out, raw_body=None if out else (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'))


# ---- generic stored configurations ---------------------------------------------------------------------------
async def _put_config(svc: S3Service, req: S3Request, name: str, value: Any) -> S3Response:
    b = await svc.bucket(req.bucket)
    b.configs[name] = value
    await svc.store.update_bucket(b)
    return S3Response()


async def _delete_config(svc: S3Service, req: S3Request, name: str) -> S3Response:
    b = await svc.bucket(req.bucket)
    if b.configs.pop(name, None) is not None:
        await svc.store.update_bucket(b)
    return S3Response(status=204)


@handles("PutBucketTagging")
async def put_bucket_tagging(svc: S3Service, req: S3Request) -> S3Response:
    tagging = req.payload
    if tagging is None:
        raise AWSError("MalformedXML")
    check_tag_set(tagging.get("TagSet", []), limit=50)
    return await _put_config(svc, req, "tagging", tags_from_set(tagging.get("TagSet", [])))


@handles("GetBucketTagging")
async def get_bucket_tagging(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    tags = b.configs.get("tagging")
    if not tags:
        raise AWSError("NoSuchTagSet", BucketName=b.name)
    return S3Response({"TagSet": tags_to_set(tags)})


@handles("DeleteBucketTagging")
async def delete_bucket_tagging(svc: S3Service, req: S3Request) -> S3Response:
    return await _delete_config(svc, req, "tagging")


@handles("PutPublicAccessBlock")
async def put_public_access_block(svc: S3Service, req: S3Request) -> S3Response:
    config = req.payload
    if config is None:
        raise AWSError("MalformedXML")
    value = {k: bool(config.get(k, False)) for k in DEFAULT_PUBLIC_ACCESS_BLOCK}
    return await _put_config(svc, req, "publicAccessBlock", value)


@handles("GetPublicAccessBlock")
async def get_public_access_block(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    value = b.configs.get("publicAccessBlock")
    if value is None:
        raise AWSError("NoSuchPublicAccessBlockConfiguration", BucketName=b.name)
    return S3Response({"PublicAccessBlockConfiguration": value})


@handles("DeletePublicAccessBlock")
async def delete_public_access_block(svc: S3Service, req: S3Request) -> S3Response:
    return await _delete_config(svc, req, "publicAccessBlock")


def validate_policy(text: str, bucket: str) -> Policy:
    """What S3 checks at PutBucketPolicy: size, the IAM policy grammar (resource-policy rules: Principal and
    Resource required), S3 actions only, resources within this bucket."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise AWSError("MalformedPolicy", "Policies must be less than 20 KB")
    if not text.lstrip().startswith("{"):
        raise AWSError("MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'")
    try:
        policy = compile_policy(text, RESOURCE)
    except PolicyError as e:
        reason = str(e)
        if reason == "This policy contains invalid Json":
            reason = "Policies must be valid JSON and the first byte must be '{'"
        raise AWSError("MalformedPolicy", reason) from None
    doc = json.loads(text)
    statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    arn_prefix = f"arn:aws:s3:::{bucket}"
    for st in statements:
        actions = st.get("Action", st.get("NotAction"))
        for a in actions if isinstance(actions, list) else [actions]:
            if not (a == "*" or a.lower().startswith("s3:")):
                raise AWSError("MalformedPolicy", "Policy has invalid action")
        resources = st.get("Resource", st.get("NotResource"))
        for r in resources if isinstance(resources, list) else [resources]:
            if not (r == arn_prefix or r.startswith(arn_prefix + "/") or r == "*" or r.startswith(arn_prefix + "*")):
                raise AWSError("MalformedPolicy", "Policy has invalid resource")
    return policy


@handles("PutBucketPolicy")
async def put_bucket_policy(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    text = req.payload or ""
    policy = validate_policy(text, b.name)
    ids: dict[str, str] = {}
    if svc.principal_ids is not None:
        try:
            ids = svc.principal_ids(policy)
        except PolicyError:
            raise AWSError("MalformedPolicy", "Invalid principal in policy") from None
    if (b.configs.get("publicAccessBlock") or {}).get("BlockPublicPolicy") and is_public(policy):
        raise AWSError("AccessDenied", f"User: {req.principal.arn} is not authorized to perform: s3:PutBucketPolicy "
                                       f"on resource: \"arn:aws:s3:::{b.name}\" because public policies are blocked "
                                       "by the BlockPublicPolicy block public access setting.")
    b.configs["policy"] = text
    b.configs["policyPrincipalIds"] = ids
    await svc.store.update_bucket(b)
    return S3Response(status=204)


@handles("GetBucketPolicy")
async def get_bucket_policy(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    text = b.configs.get("policy")
    if text is None:
        raise AWSError("NoSuchBucketPolicy", BucketName=b.name)
    return S3Response({"Policy": text}, headers=[("Content-Type", "application/json")])


@handles("GetBucketPolicyStatus")
async def get_bucket_policy_status(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    text = b.configs.get("policy")
    if text is None:
        raise AWSError("NoSuchBucketPolicy", BucketName=b.name)
    return S3Response({"PolicyStatus": {"IsPublic": is_public(compile_policy(text, RESOURCE))}})


@handles("DeleteBucketPolicy")
async def delete_bucket_policy(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    if b.configs.pop("policy", None) is not None:
        b.configs.pop("policyPrincipalIds", None)
        await svc.store.update_bucket(b)
    return S3Response(status=204)


@handles("PutBucketLogging")
async def put_bucket_logging(svc: S3Service, req: S3Request) -> S3Response:
    status = req.payload
    if status is None:
        raise AWSError("MalformedXML")
    enabled = status.get("LoggingEnabled")
    if enabled:
        target = enabled.get("TargetBucket", "")
        if svc.store.cached_bucket(target) is None:
            raise AWSError("InvalidTargetBucketForLogging", "The target bucket for logging does not exist",
                           TargetBucket=target)
        return await _put_config(svc, req, "logging", enabled)
    await _delete_config(svc, req, "logging")
    return S3Response()


@handles("GetBucketLogging")
async def get_bucket_logging(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    enabled = b.configs.get("logging")
    if not enabled:
        return S3Response(raw_body=b'<?xml version="1.0" encoding="UTF-8"?>\n'
                                   b'<BucketLoggingStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>')
    return S3Response({"LoggingEnabled": enabled})


@handles("PutBucketOwnershipControls")
async def put_ownership_controls(svc: S3Service, req: S3Request) -> S3Response:
    config = req.payload
    rules = (config or {}).get("Rules") or []
    if len(rules) != 1 or rules[0].get("ObjectOwnership") not in OWNERSHIP_VALUES:
        raise AWSError("MalformedXML")
    b = await svc.bucket(req.bucket)
    b.object_ownership = rules[0]["ObjectOwnership"]
    b.configs["ownershipControls"] = True
    await svc.store.update_bucket(b)
    return S3Response()


@handles("GetBucketOwnershipControls")
async def get_ownership_controls(svc: S3Service, req: S3Request) -> S3Response:
    b = await svc.bucket(req.bucket)
    return S3Response({"OwnershipControls": {"Rules": [{"ObjectOwnership": b.object_ownership}]}})


@handles("DeleteBucketOwnershipControls")
async def delete_ownership_controls(svc: S3Service, req: S3Request) -> S3Response:
    return await _delete_config(svc, req, "ownershipControls")


def owner_full_control(svc: S3Service) -> dict[str, Any]:
    owner = owner_of(svc)
    return {"Owner": owner, "Grants": [{"Grantee": {**owner, "Type": "CanonicalUser"},
                                        "Permission": "FULL_CONTROL"}]}


@handles("GetBucketAcl")
async def get_bucket_acl(svc: S3Service, req: S3Request) -> S3Response:
    await svc.bucket(req.bucket)
    return S3Response(owner_full_control(svc))


# ---- default encryption -----------------------------------------------------------------------------------------
SSE_ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
DEFAULT_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                                 "BucketKeyEnabled": False}]}


@handles("PutBucketEncryption")
async def put_bucket_encryption(svc: S3Service, req: S3Request) -> S3Response:
    config = req.payload
    rules = (config or {}).get("Rules") or []
    if len(rules) != 1:
        raise AWSError("MalformedXML")
    default = rules[0].get("ApplyServerSideEncryptionByDefault")
    if not default or default.get("SSEAlgorithm") not in SSE_ALGORITHMS:
        raise AWSError("MalformedXML")
    if default.get("KMSMasterKeyID") and default["SSEAlgorithm"] == "AES256":
        raise AWSError("InvalidArgument", "a KMSMasterKeyID is not applicable if the default sse algorithm is not "
                                          "aws:kms or aws:kms:dsse", ArgumentName="ApplyServerSideEncryptionByDefault")
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": {
        k: default[k] for k in ("SSEAlgorithm", "KMSMasterKeyID") if default.get(k)}}
    rule["BucketKeyEnabled"] = bool(rules[0].get("BucketKeyEnabled", False))
    await _put_config(svc, req, "encryption", {"Rules": [rule]})
    return S3Response()


@handles("GetBucketEncryption")
async def get_bucket_encryption(svc: S3Service, req: S3Request) -> S3Response:
    # every bucket is encrypted (SSE-S3 unless configured otherwise), as on AWS since January 2023
    b = await svc.bucket(req.bucket)
    return S3Response({"ServerSideEncryptionConfiguration": b.configs.get("encryption") or DEFAULT_ENCRYPTION})


@handles("DeleteBucketEncryption")
async def delete_bucket_encryption(svc: S3Service, req: S3Request) -> S3Response:
    return await _delete_config(svc, req, "encryption")
