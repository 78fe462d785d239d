"""Batched replication (small versions, delete markers) is authorized item by item exactly as a single replication
request is at the edge: the role's identity policies AND the destination bucket's policy (an explicit Deny there
wins), `s3:ReplicateObject` / `s3:ReplicateDelete` on the object's ARN, the request's condition keys. A refused
item ends FAILED at the source with its reason and can be re-driven once the policy allows it."""

from __future__ import annotations

import json
from typing import Any

from harness import create_bucket, signed_raw
from replication_helpers import ROLE, ensure_role, replicate, rule_v2, status, versions, wait_for, wait_status

SMALL = b"s" * 100        # batched (inline size)
LARGE = b"L" * (200 << 10)  # the single-request path


def _statement(effect: str, role: str, action: str, resource: str, **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Principal": {"AWS": role}, "Action": action, "Resource": resource, **extra}


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _failures(east: Any, bucket: str) -> dict[str, str]:
    st = json.loads(signed_raw(east.endpoint, "us-east-2", "GET", "/_twinstore/replication/status").body)
    return {f["key"]: f["reason"] for f in st["recent_failures"] if f["bucket"] == bucket}


def _redrive_failed(east: Any, bucket: str) -> dict[str, Any]:
    r = signed_raw(east.endpoint, "us-east-2", "POST",
                   f"/_twinstore/replication/backfill?bucket={bucket}&include-failed=true")
    assert r.status == 200, r.body
    return dict(json.loads(r.body))


def _setup(east: Any, west: Any, **rule: Any) -> tuple[Any, Any, str, str, str]:
    s3e, s3w = east.client(), west.client()
    eb = create_bucket(s3e, "us-east-2", versioned=True)
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "r", **rule))
    role = ensure_role(s3e, ROLE.format(region="us-east-2").rsplit("/", 1)[1])
    return s3e, s3w, eb, wb, role


def test_bucket_policy_deny_fails_batched_and_single_then_redrive_completes(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb, role = _setup(east, west)
    s3w.put_bucket_policy(Bucket=wb, Policy=_policy(
        _statement("Deny", role, "s3:ReplicateObject", f"arn:aws:s3:::{wb}/*")))
    small = [s3e.put_object(Bucket=eb, Key=f"small/{i}", Body=SMALL)["VersionId"] for i in range(5)]
    large = s3e.put_object(Bucket=eb, Key="large", Body=LARGE)["VersionId"]
    for i in range(5):
        wait_status(s3e, eb, f"small/{i}", "FAILED")
    wait_status(s3e, eb, "large", "FAILED")
    assert versions(s3w, wb) == []
    reasons = _failures(east, eb)
    assert {k: reasons.get(k) for k in [f"small/{i}" for i in range(5)] + ["large"]} == \
        {k: "DstPutObjectNotPermitted" for k in [f"small/{i}" for i in range(5)] + ["large"]}

    s3w.delete_bucket_policy(Bucket=wb)
    _redrive_failed(east, eb)
    for i in range(5):
        wait_status(s3e, eb, f"small/{i}", "COMPLETED")
    wait_status(s3e, eb, "large", "COMPLETED")
    assert sorted(vid for _, vid, *_ in versions(s3w, wb)) == sorted(small + [large])
    assert status(s3w, wb, "small/0") == status(s3w, wb, "large") == "REPLICA"
    assert s3w.get_object(Bucket=wb, Key="small/3")["Body"].read() == SMALL


def test_deny_on_one_prefix_fails_only_those_keys(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb, role = _setup(east, west)
    s3w.put_bucket_policy(Bucket=wb, Policy=_policy(
        _statement("Deny", role, "s3:ReplicateObject", f"arn:aws:s3:::{wb}/secret/*")))
    keys = [f"{p}/{i}" for i in range(4) for p in ("secret", "public")]  # interleaved: same batches
    for k in keys:
        s3e.put_object(Bucket=eb, Key=k, Body=SMALL)
    s3e.put_object(Bucket=eb, Key="secret/large", Body=LARGE)
    s3e.put_object(Bucket=eb, Key="public/large", Body=LARGE)
    for k in keys + ["secret/large", "public/large"]:
        wait_status(s3e, eb, k, "FAILED" if k.startswith("secret/") else "COMPLETED")
    assert sorted({k for k, *_ in versions(s3w, wb)}) == sorted(k for k in keys + ["public/large"]
                                                                 if k.startswith("public/"))
    reasons = _failures(east, eb)
    assert reasons == {k: "DstPutObjectNotPermitted" for k in keys + ["secret/large"]
                                                  if k.startswith("secret/")}


def test_condition_keys_and_delete_markers_in_batches(east: Any, west: Any) -> None:
    """A Deny conditioned on aws:SecureTransport=false (these requests are plain HTTP) holds for batches too;
    a Deny of s3:ReplicateDelete fails replicated delete markers with DstDelObjNotPermitted."""
    s3e, s3w, eb, wb, role = _setup(east, west, delete_markers=True)
    s3w.put_bucket_policy(Bucket=wb, Policy=_policy(
        _statement("Deny", role, "s3:ReplicateObject", f"arn:aws:s3:::{wb}/tls-only/*",
                   Condition={"Bool": {"aws:SecureTransport": "false"}}),
        _statement("Deny", role, "s3:ReplicateDelete", f"arn:aws:s3:::{wb}/*")))
    s3e.put_object(Bucket=eb, Key="tls-only/a", Body=SMALL)
    s3e.put_object(Bucket=eb, Key="tls-only/b", Body=LARGE)
    plain = s3e.put_object(Bucket=eb, Key="plain", Body=SMALL)["VersionId"]
    wait_status(s3e, eb, "tls-only/a", "FAILED")
    wait_status(s3e, eb, "tls-only/b", "FAILED")
    wait_status(s3e, eb, "plain", "COMPLETED")
    assert s3e.delete_object(Bucket=eb, Key="plain")["DeleteMarker"]
    wait_for(lambda: _failures(east, eb).get("plain") == "DstDelObjNotPermitted", what="delete marker FAILED")
    assert [(k, vid, dm) for k, vid, _, dm, _ in versions(s3w, wb)] == [("plain", plain, False)]  # no marker


def test_bucket_policy_grant_suffices_without_identity_permission(east: Any, west: Any) -> None:
    """Same account: a bucket policy naming the role grants s3:ReplicateObject even when the role's own policies
    do not (as for a single request); without it the same items fail."""
    s3e, s3w = east.client(), west.client()
    eb = create_bucket(s3e, "us-east-2", versioned=True)
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    role = ensure_role(s3e, "repl-source-only", policy={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::*"}]})
    s3w.put_bucket_policy(Bucket=wb, Policy=_policy(
        _statement("Allow", role, "s3:ReplicateObject", f"arn:aws:s3:::{wb}/granted/*")))
    s3e.put_bucket_replication(Bucket=eb, ReplicationConfiguration={"Role": role, "Rules": [rule_v2(wb, "r")]})
    for k, body in (("granted/s", SMALL), ("granted/l", LARGE), ("other/s", SMALL), ("other/l", LARGE)):
        s3e.put_object(Bucket=eb, Key=k, Body=body)
    for k in ("granted/s", "granted/l"):
        wait_status(s3e, eb, k, "COMPLETED")
    for k in ("other/s", "other/l"):
        wait_status(s3e, eb, k, "FAILED")
    assert sorted(k for k, *_ in versions(s3w, wb)) == ["granted/l", "granted/s"]


def test_source_bucket_policy_deny_of_the_read_fails_both_paths(east: Any, west: Any) -> None:
    """The role's read at the source is decided the same way: a source bucket policy denying
    s3:GetObjectVersionForReplication on a prefix fails those keys (SrcGetObjectNotPermitted), batched or not."""
    s3e, s3w, eb, wb, role = _setup(east, west)
    s3e.put_bucket_policy(Bucket=eb, Policy=_policy(
        _statement("Deny", role, "s3:GetObjectVersionForReplication", f"arn:aws:s3:::{eb}/private/*")))
    for k, body in (("private/s", SMALL), ("private/l", LARGE), ("shared/s", SMALL), ("shared/l", LARGE)):
        s3e.put_object(Bucket=eb, Key=k, Body=body)
    for k in ("shared/s", "shared/l"):
        wait_status(s3e, eb, k, "COMPLETED")
    for k in ("private/s", "private/l"):
        wait_status(s3e, eb, k, "FAILED")
    assert _failures(east, eb) == {"private/s": "SrcGetObjectNotPermitted", "private/l": "SrcGetObjectNotPermitted"}
    assert sorted(k for k, *_ in versions(s3w, wb)) == ["shared/l", "shared/s"]
