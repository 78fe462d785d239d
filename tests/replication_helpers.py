"""Helpers for replication tests: rules, polling for a status (never a timing assertion), listings."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import boto3

from harness import ACCESS_KEY, SECRET_KEY

ROLE = "arn:aws:iam::123456789012:role/crrlab-S3-Replication-Role-{region}"
TRUST_S3 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}]}
# the lab's replication policy (both buckets), on every bucket of the test deployment
LAB_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:Get*", "s3:ListBucket"], "Resource": ["arn:aws:s3:::*"]},
    {"Effect": "Allow", "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags",
                                   "s3:GetObjectVersionTagging"], "Resource": "arn:aws:s3:::*/*"}]}


def iam_client(s3: Any) -> Any:
    return boto3.client("iam", endpoint_url=s3.meta.endpoint_url, region_name=s3.meta.region_name,
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def ensure_role(s3: Any, name: str, policy: dict[str, Any] | None = LAB_POLICY) -> str:
    """A role S3 may assume (trust s3.amazonaws.com) with `policy` inline (None: no permissions at all)."""
    iam = iam_client(s3)
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_S3))["Role"]["Arn"]
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="replication", PolicyDocument=json.dumps(policy))
    return str(arn)


def rule_v2(dest: str, rule_id: str = "r1", priority: int = 0, prefix: str = "", delete_markers: bool = False,
            **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"ID": rule_id, "Priority": priority, "Filter": {"Prefix": prefix}, "Status": "Enabled",
                            "DeleteMarkerReplication": {"Status": "Enabled" if delete_markers else "Disabled"},
                            "Destination": {"Bucket": f"arn:aws:s3:::{dest}"}}
    rule.update(extra)
    return rule


def replicate(s3: Any, source: str, region: str, *rules: dict[str, Any]) -> None:
    role = ensure_role(s3, ROLE.format(region=region).rsplit("/", 1)[1])
    s3.put_bucket_replication(Bucket=source, ReplicationConfiguration={"Role": role, "Rules": list(rules)})


def wait_for(fn: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Polls until fn() is truthy (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - not there yet
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


def status(s3: Any, bucket: str, key: str, version_id: str | None = None) -> str | None:
    kw = {"VersionId": version_id} if version_id else {}
    return s3.head_object(Bucket=bucket, Key=key, **kw).get("ReplicationStatus")


def wait_status(s3: Any, bucket: str, key: str, want: str, version_id: str | None = None,
                timeout: float = 60.0) -> None:
    wait_for(lambda: status(s3, bucket, key, version_id) == want, timeout, f"{bucket}/{key} {want}")


def versions(s3: Any, bucket: str) -> list[tuple[str, str, bool, bool, str]]:
    """(key, version id, is latest, is delete marker, etag) of every version, in listing order."""
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            out.append((v["Key"], v["VersionId"], v["IsLatest"], False, v["ETag"]))
        for m in page.get("DeleteMarkers", []):
            out.append((m["Key"], m["VersionId"], m["IsLatest"], True, ""))
    return sorted(out)
