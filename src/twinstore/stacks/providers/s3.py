"""AWS::S3::Bucket and AWS::S3::BucketPolicy, through the S3 API.

A bucket whose template asks for a canned ACL other than `Private` (the lab's logging bucket uses
`LogDeliveryWrite`) and sets no `OwnershipControls` is created with object ownership `ObjectWriter`: ACLs stay
enabled, as every bucket had before AWS changed the default to `BucketOwnerEnforced` in April 2023, so such
templates deploy as they did on AWS when they were written (on today's AWS they fail with
InvalidBucketAclWithObjectOwnership).
"""

from __future__ import annotations

from typing import Any

from .base import ProviderContext, ProviderError, as_bool, call, check_properties, ignore_not_found, policy_json, \
    tag_list

CANNED_ACLS = {"Private": "private", "PublicRead": "public-read", "PublicReadWrite": "public-read-write",
               "AuthenticatedRead": "authenticated-read", "LogDeliveryWrite": "log-delivery-write",
               "BucketOwnerRead": "bucket-owner-read", "BucketOwnerFullControl": "bucket-owner-full-control",
               "AwsExecRead": "aws-exec-read"}
BUCKET_PROPERTIES = {"BucketName", "AccessControl", "BucketEncryption", "VersioningConfiguration",
                     "ReplicationConfiguration", "LoggingConfiguration", "PublicAccessBlockConfiguration",
                     "OwnershipControls", "Tags"}


def bucket_attrs(name: str, region: str) -> dict[str, Any]:
    return {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            "DualStackDomainName": f"{name}.s3.dualstack.{region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website.{region}.amazonaws.com"}


def _encryption(cfg: dict[str, Any]) -> dict[str, Any]:
    rules = []
    for rule in cfg.get("ServerSideEncryptionConfiguration") or []:
        out: dict[str, Any] = {}
        default = rule.get("ServerSideEncryptionByDefault")
        if default:
            out["ApplyServerSideEncryptionByDefault"] = {
                k: str(v) for k, v in default.items() if k in ("SSEAlgorithm", "KMSMasterKeyID")}
        if "BucketKeyEnabled" in rule:
            out["BucketKeyEnabled"] = as_bool(rule["BucketKeyEnabled"])
        rules.append(out)
    return {"Rules": rules}


def _filter(f: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "Prefix" in f:
        out["Prefix"] = f["Prefix"]
    if "TagFilter" in f:
        out["Tag"] = {"Key": f["TagFilter"]["Key"], "Value": f["TagFilter"]["Value"]}
    if "And" in f:
        a = f["And"]
        out["And"] = {k: v for k, v in {"Prefix": a.get("Prefix"), "Tags": [
            {"Key": t["Key"], "Value": t["Value"]} for t in a.get("TagFilters") or []] or None}.items()
            if v is not None}
    return out


def _destination(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Bucket": d["Bucket"]}
    for k in ("Account", "StorageClass", "AccessControlTranslation"):
        if k in d:
            out[k] = d[k]
    if "EncryptionConfiguration" in d:
        out["EncryptionConfiguration"] = {"ReplicaKmsKeyID": d["EncryptionConfiguration"]["ReplicaKmsKeyID"]}
    if "Metrics" in d:
        m = d["Metrics"]
        out["Metrics"] = {"Status": m["Status"], **({"EventThreshold": {"Minutes": int(
            m["EventThreshold"]["Minutes"])}} if "EventThreshold" in m else {})}
    if "ReplicationTime" in d:
        t = d["ReplicationTime"]
        out["ReplicationTime"] = {"Status": t["Status"], "Time": {"Minutes": int(t["Time"]["Minutes"])}}
    return out


def _replication(cfg: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's spelling (Id, TagFilter) -> the S3 API's (ID, Tag)."""
    rules = []
    for r in cfg.get("Rules") or []:
        out: dict[str, Any] = {"Status": r["Status"], "Destination": _destination(r["Destination"])}
        if "Id" in r:
            out["ID"] = r["Id"]
        if "Priority" in r:
            out["Priority"] = int(r["Priority"])
        if "Filter" in r:
            out["Filter"] = _filter(r["Filter"])
        elif "Prefix" in r:
            out["Prefix"] = r["Prefix"]
        if "DeleteMarkerReplication" in r:
            out["DeleteMarkerReplication"] = {"Status": r["DeleteMarkerReplication"]["Status"]}
        if "SourceSelectionCriteria" in r:
            out["SourceSelectionCriteria"] = {k: {"Status": v["Status"]}
                                              for k, v in r["SourceSelectionCriteria"].items()}
        rules.append(out)
    return {"Role": cfg["Role"], "Rules": rules}


class BucketProvider:
    type = "AWS::S3::Bucket"

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, BUCKET_PROPERTIES)
        name = str(props.get("BucketName") or ctx.generated_name(63, lower=True))
        acl_name = props.get("AccessControl")
        if acl_name is not None and acl_name not in CANNED_ACLS:
            raise ProviderError(f"Properties validation failed for resource {ctx.logical_id} with message: "
                                f"#/AccessControl: {acl_name} is not a valid enum value", "InvalidRequest")
        acl = CANNED_ACLS.get(acl_name) if acl_name else None
        ownership = None
        rules = (props.get("OwnershipControls") or {}).get("Rules") or []
        if rules:
            ownership = rules[0].get("ObjectOwnership")
        elif acl and acl != "private":
            ownership = "ObjectWriter"  # see the module docstring
        config = {"LocationConstraint": ctx.region} if ctx.region != "us-east-1" else None
        ctx.planned(name)
        try:
            call(ctx, "s3", "create_bucket", Bucket=name, ACL=acl, ObjectOwnership=ownership,
                 CreateBucketConfiguration=config)
        except ProviderError as e:
            if e.code in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
                raise ProviderError(f"{name} already exists", e.code) from None
            raise
        ctx.initiated(name)
        if "BucketEncryption" in props:
            call(ctx, "s3", "put_bucket_encryption", Bucket=name,
                 ServerSideEncryptionConfiguration=_encryption(props["BucketEncryption"]))
        if "PublicAccessBlockConfiguration" in props:
            call(ctx, "s3", "put_public_access_block", Bucket=name, PublicAccessBlockConfiguration={
                k: as_bool(v) for k, v in props["PublicAccessBlockConfiguration"].items()})
        if "VersioningConfiguration" in props:
            call(ctx, "s3", "put_bucket_versioning", Bucket=name,
                 VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]})
        if "ReplicationConfiguration" in props:
            call(ctx, "s3", "put_bucket_replication", Bucket=name,
                 ReplicationConfiguration=_replication(props["ReplicationConfiguration"]))
        if "LoggingConfiguration" in props:
            lc = props["LoggingConfiguration"]
            call(ctx, "s3", "put_bucket_logging", Bucket=name, BucketLoggingStatus={"LoggingEnabled": {
                "TargetBucket": lc.get("DestinationBucketName") or name, "TargetPrefix": lc.get("LogFilePrefix", "")}})
        tags = tag_list(ctx, props)
        if tags:
            call(ctx, "s3", "put_bucket_tagging", Bucket=name, Tagging={"TagSet": tags})
        return name, bucket_attrs(name, ctx.region)

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        ignore_not_found(lambda: call(ctx, "s3", "delete_bucket", Bucket=physical_id))

    def created_since(self, ctx: ProviderContext, name: str, since_us: int) -> bool:
        for b in call(ctx, "s3", "list_buckets").get("Buckets", []):
            if b["Name"] == name:
                return bool(b["CreationDate"].timestamp() * 1e6 >= since_us - 1000)  # ms precision
        return False


class BucketPolicyProvider:
    type = "AWS::S3::BucketPolicy"

    def create(self, ctx: ProviderContext, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        check_properties(self.type, props, {"Bucket", "PolicyDocument"}, {"Bucket", "PolicyDocument"})
        bucket = str(props["Bucket"])
        call(ctx, "s3", "put_bucket_policy", Bucket=bucket, Policy=policy_json(props["PolicyDocument"]))
        ctx.initiated(bucket)
        return bucket, {}

    def delete(self, ctx: ProviderContext, physical_id: str, props: dict[str, Any], attrs: dict[str, Any]) -> None:
        ignore_not_found(lambda: call(ctx, "s3", "delete_bucket_policy", Bucket=physical_id))
