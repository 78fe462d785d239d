"""Policy evaluation on S3 requests, as a table of allow/deny cases run through boto3 by IAM users: explicit
deny over allow (identity and bucket policy both ways), bucket-policy-only grants, account delegation,
NotAction, NotResource, wildcards, bucket vs object resources, conditions; 403/404 on missing keys; per-key
DeleteObjects; Block Public Access; changes made in one region enforced by the other at once."""

from __future__ import annotations

import json
from typing import Any, Callable

import botocore
import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT_ID, allow, code, deny, doc, make_user, status, uname

from harness import create_bucket

Op = Callable[[Any, str, str], Any]  # (client, bucket, user name)


def get(key: str = "k") -> Op:
    return lambda c, b, u: c.get_object(Bucket=b, Key=key.replace("{user}", u))


def put(key: str = "new", **kw: Any) -> Op:
    return lambda c, b, u: c.put_object(Bucket=b, Key=key, Body=b"data", **kw)


def lst(**kw: Any) -> Op:
    return lambda c, b, u: c.list_objects_v2(Bucket=b, **kw)


def delete(key: str = "k") -> Op:
    return lambda c, b, u: c.delete_object(Bucket=b, Key=key + "-absent")


def tagging(key: str = "k") -> Op:
    return lambda c, b, u: c.get_object_tagging(Bucket=b, Key=key)


OBJ = "arn:aws:s3:::{bucket}/*"
BKT = "arn:aws:s3:::{bucket}"
USER = "{user_arn}"

# (case id, identity statements, bucket policy statements, operation, allowed)
CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], Op, bool]] = [
    ("no-policy-implicit-deny", [], [], get(), False),
    ("identity-allow", [allow("s3:GetObject", OBJ)], [], get(), True),
    ("identity-deny-beats-identity-allow", [allow("s3:*"), deny("s3:GetObject", OBJ)], [], get(), False),
    ("bucket-deny-beats-identity-allow", [allow("s3:*")],
     [deny("s3:GetObject", OBJ, Principal={"AWS": USER})], get(), False),
    ("identity-deny-beats-bucket-allow", [deny("s3:GetObject")],
     [allow("s3:GetObject", OBJ, Principal={"AWS": USER})], get(), False),
    ("bucket-policy-only-grant", [], [allow("s3:GetObject", OBJ, Principal={"AWS": USER})], get(), True),
    ("bucket-policy-account-principal-delegates", [],
     [allow("s3:GetObject", OBJ, Principal={"AWS": ACCOUNT_ID})], get(), False),
    ("account-principal-plus-identity", [allow("s3:GetObject", OBJ)],
     [allow("s3:GetObject", OBJ, Principal={"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"})], get(), True),
    ("bucket-deny-star-binds-user", [allow("s3:*")], [deny("s3:GetObject", OBJ, Principal="*")], get(), False),
    ("bucket-policy-other-principal", [], [allow("s3:GetObject", OBJ, Principal={
        "AWS": "{other_arn}"})], get(), False),
    ("not-action-allows-others", [{"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"}], [],
     get(), True),
    ("not-action-excludes-listed", [{"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"}], [],
     delete(), False),
    ("not-resource-allows-others", [{"Effect": "Allow", "Action": "s3:GetObject",
                                     "NotResource": "arn:aws:s3:::{bucket}/secret/*"}], [], get(), True),
    ("not-resource-excludes-listed", [{"Effect": "Allow", "Action": "s3:GetObject",
                                       "NotResource": "arn:aws:s3:::{bucket}/secret/*"}], [], get("secret/x"),
     False),
    ("deny-not-resource", [allow("s3:*"), {"Effect": "Deny", "Action": "s3:*",
                                            "NotResource": "arn:aws:s3:::{bucket}/public/*"}], [], get(), False),
    ("wildcard-action-get-star", [allow("s3:Get*", OBJ)], [], tagging(), True),
    ("wildcard-action-question-mark", [allow("s3:?etObject", OBJ)], [], get(), True),
    ("action-case-insensitive", [allow("S3:getobject", OBJ)], [], get(), True),
    ("bucket-action-needs-bucket-arn", [allow("s3:ListBucket", OBJ)], [], lst(), False),
    ("bucket-action-on-bucket-arn", [allow("s3:ListBucket", BKT)], [], lst(), True),
    ("object-action-needs-object-arn", [allow("s3:GetObject", BKT)], [], get(), False),
    ("prefix-condition-match", [allow("s3:ListBucket", BKT, Condition={"StringLike": {"s3:prefix": "home/*"}})],
     [], lst(Prefix="home/x"), True),
    ("prefix-condition-mismatch", [allow("s3:ListBucket", BKT, Condition={"StringLike": {"s3:prefix": "home/*"}})],
     [], lst(Prefix="other/"), False),
    ("prefix-condition-absent-key", [allow("s3:ListBucket", BKT, Condition={"StringLike": {"s3:prefix": "home/*"}})],
     [], lst(), False),
    ("max-keys-numeric-ok", [allow("s3:ListBucket", BKT, Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}})],
     [], lst(MaxKeys=5), True),
    ("max-keys-numeric-too-many", [allow("s3:ListBucket", BKT,
                                         Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}})],
     [], lst(MaxKeys=50), False),
    ("null-sse-deny-without-header", [allow("s3:PutObject", OBJ), deny("s3:PutObject", OBJ, Condition={
        "Null": {"s3:x-amz-server-side-encryption": "true"}})], [], put(), False),
    ("null-sse-allow-with-header", [allow("s3:PutObject", OBJ), deny("s3:PutObject", OBJ, Condition={
        "Null": {"s3:x-amz-server-side-encryption": "true"}})], [], put(ServerSideEncryption="AES256"), True),
    ("string-equals-sse-in-bucket-policy", [allow("s3:PutObject", OBJ)], [deny(
        "s3:PutObject", OBJ, Principal="*", Condition={"StringNotEquals": {"s3:x-amz-server-side-encryption":
                                                                            "aws:kms"}})], put(), False),
    ("acl-if-exists-absent", [allow("s3:PutObject", OBJ, Condition={
        "StringEqualsIfExists": {"s3:x-amz-acl": "bucket-owner-full-control"}})], [], put(), True),
    ("acl-if-exists-other-value", [allow("s3:PutObject", OBJ, Condition={
        "StringEqualsIfExists": {"s3:x-amz-acl": "bucket-owner-full-control"}})], [], put(ACL="private"), False),
    ("acl-equals-required", [allow("s3:PutObject", OBJ, Condition={
        "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}})], [],
     put(ACL="bucket-owner-full-control"), True),
    ("source-ip-allowed", [allow("s3:GetObject", OBJ, Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})],
     [], get(), True),
    ("source-ip-not-ip-deny", [allow("s3:GetObject", OBJ), deny("s3:*", Condition={
        "NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})], [], get(), False),
    ("secure-transport-deny-http", [allow("s3:GetObject", OBJ)], [deny("s3:*", [BKT, OBJ], Principal="*", Condition={
        "Bool": {"aws:SecureTransport": "false"}})], get(), False),
    ("principal-arn-condition-match", [allow("s3:GetObject", OBJ, Condition={
        "ArnEquals": {"aws:PrincipalArn": USER}})], [], get(), True),
    ("principal-arn-condition-other", [allow("s3:GetObject", OBJ, Condition={
        "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/admin-*"}})], [], get(), False),
    ("current-time-after", [allow("s3:GetObject", OBJ, Condition={
        "DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}})], [], get(), True),
    ("current-time-before", [allow("s3:GetObject", OBJ, Condition={
        "DateLessThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}})], [], get(), False),
    ("policy-variable-own-home", [allow("s3:GetObject", "arn:aws:s3:::{bucket}/home/${aws:username}/*")], [],
     get("home/{user}/f"), True),
    ("policy-variable-other-home", [allow("s3:GetObject", "arn:aws:s3:::{bucket}/home/${aws:username}/*")], [],
     get("home/someone/f"), False),
]


def _fill(statements: list[dict[str, Any]], bucket: str, user_arn: str, other_arn: str = "") -> list[dict[str, Any]]:
    text = json.dumps(statements).replace("{bucket}", bucket).replace("{user_arn}", user_arn)
    text = text.replace("{other_arn}", other_arn)
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("case, identity, bucket_policy, operation, allowed", CASES, ids=[c[0] for c in CASES])
def test_evaluation_table(east: Any, iam: Any, case: str, identity: list[dict[str, Any]],
                          bucket_policy: list[dict[str, Any]], operation: Op, allowed: bool) -> None:
    root = east.client()
    bucket = create_bucket(root, "us-east-2") if bucket_policy else None
    user = make_user(iam)
    if bucket is None:
        bucket = _shared(east)
    else:
        for key in ("k", "secret/x", "home/someone/f"):
            root.put_object(Bucket=bucket, Key=key, Body=b"data")
    root.put_object(Bucket=bucket, Key=f"home/{user.name}/f", Body=b"data")
    if bucket_policy:
        other = make_user(iam).arn if "{other_arn}" in json.dumps(bucket_policy) else ""
        root.put_bucket_policy(Bucket=bucket, Policy=doc(*_fill(bucket_policy, bucket, user.arn, other)))
    if identity:
        iam.put_user_policy(UserName=user.name, PolicyName="p", PolicyDocument=doc(*_fill(identity, bucket,
                                                                                           user.arn)))
    client = user.client(east)
    if allowed:
        operation(client, bucket, user.name)
    else:
        with pytest.raises(ClientError) as exc:
            operation(client, bucket, user.name)
        assert code(exc) == "AccessDenied" and status(exc) == 403


_SHARED: dict[str, str] = {}


def _shared(east: Any) -> str:
    if "b" not in _SHARED:
        root = east.client()
        _SHARED["b"] = create_bucket(root, "us-east-2")
        for key in ("k", "secret/x", "home/someone/f"):
            root.put_object(Bucket=_SHARED["b"], Key=key, Body=b"data")
    return _SHARED["b"]


def test_missing_key_is_403_without_list_bucket_and_404_with_it(east: Any, iam: Any) -> None:
    bucket = _shared(east)
    reader = make_user(iam, allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*"))
    lister = make_user(iam, allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*"), allow("s3:ListBucket",
                                                                                       f"arn:aws:s3:::{bucket}"))
    for method in ("get_object", "head_object"):
        with pytest.raises(ClientError) as exc:
            getattr(reader.client(east), method)(Bucket=bucket, Key="no-such-key")
        assert status(exc) == 403
        with pytest.raises(ClientError) as exc:
            getattr(lister.client(east), method)(Bucket=bucket, Key="no-such-key")
        assert status(exc) == 404
    assert reader.client(east).get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


def test_delete_objects_checks_each_key(east: Any, iam: Any) -> None:
    root = east.client()
    bucket = create_bucket(root, "us-east-2")
    for key in ("a/1", "b/1"):
        root.put_object(Bucket=bucket, Key=key, Body=b"x")
    user = make_user(iam, allow("s3:DeleteObject", f"arn:aws:s3:::{bucket}/a/*"))
    out = user.client(east).delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a/1"}, {"Key": "b/1"}]})
    assert [d["Key"] for d in out["Deleted"]] == ["a/1"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("b/1", "AccessDenied")]
    assert [o["Key"] for o in root.list_objects_v2(Bucket=bucket)["Contents"]] == ["b/1"]


def test_copy_needs_read_on_the_source(east: Any, iam: Any) -> None:
    bucket = _shared(east)
    writer = make_user(iam, allow("s3:PutObject", f"arn:aws:s3:::{bucket}/*"))
    with pytest.raises(ClientError) as exc:
        writer.client(east).copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"})
    assert code(exc) == "AccessDenied"
    both = make_user(iam, allow(["s3:PutObject", "s3:GetObject"], f"arn:aws:s3:::{bucket}/*"))
    both.client(east).copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"})


def test_block_public_policy_and_anonymous_access(east: Any) -> None:
    root = east.client()
    bucket = create_bucket(root, "us-east-2")
    root.put_object(Bucket=bucket, Key="pub", Body=b"hello")
    public = doc(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*", Principal="*"))
    with pytest.raises(ClientError) as exc:
        root.put_bucket_policy(Bucket=bucket, Policy=public)
    assert code(exc) == "AccessDenied" and "BlockPublicPolicy" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        root.get_bucket_policy(Bucket=bucket)
    assert code(exc) == "NoSuchBucketPolicy"
    anon = east.client(config=botocore.config.Config(signature_version=botocore.UNSIGNED))
    with pytest.raises(ClientError) as exc:
        anon.get_object(Bucket=bucket, Key="pub")
    assert code(exc) == "AccessDenied"
    # a condition on the source IP makes a "*" grant non-public
    root.put_bucket_policy(Bucket=bucket, Policy=doc(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*",
                                                           Principal="*", Condition={
                                                               "IpAddress": {"aws:SourceIp": "127.0.0.1/32"}})))
    root.delete_public_access_block(Bucket=bucket)
    assert anon.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"hello"
    assert root.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    root.put_bucket_policy(Bucket=bucket, Policy=public)
    assert root.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    assert anon.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"hello"
    with pytest.raises(ClientError) as exc:
        anon.put_object(Bucket=bucket, Key="pub", Body=b"overwrite")
    assert code(exc) == "AccessDenied"


def test_bucket_policy_deny_binds_root_but_never_locks_it_out(east: Any) -> None:
    root = east.client()
    bucket = create_bucket(root, "us-east-2")
    root.put_bucket_policy(Bucket=bucket, Policy=doc(deny("s3:*", [f"arn:aws:s3:::{bucket}",
                                                                   f"arn:aws:s3:::{bucket}/*"], Principal="*")))
    with pytest.raises(ClientError) as exc:
        root.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert code(exc) == "AccessDenied"
    root.delete_bucket_policy(Bucket=bucket)
    root.put_object(Bucket=bucket, Key="k", Body=b"x")


def test_changes_through_one_region_are_enforced_by_the_other_at_once(east: Any, west: Any, iam: Any) -> None:
    bucket = create_bucket(west.client(), "us-west-2")
    west.client().put_object(Bucket=bucket, Key="k", Body=b"x")
    user = make_user(iam)
    s3_west = user.client(west)
    with pytest.raises(ClientError):
        s3_west.get_object(Bucket=bucket, Key="k")
    east.client("iam").put_user_policy(UserName=user.name, PolicyName="p",
                                       PolicyDocument=doc(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*")))
    assert s3_west.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
    east.client("iam").put_user_policy(UserName=user.name, PolicyName="p",
                                       PolicyDocument=doc(deny("s3:GetObject", f"arn:aws:s3:::{bucket}/*")))
    with pytest.raises(ClientError):
        s3_west.get_object(Bucket=bucket, Key="k")


def test_managed_policy_versions_take_effect(east: Any, iam: Any) -> None:
    bucket = _shared(east)
    user = make_user(iam)
    listing = doc(allow("s3:ListBucket", f"arn:aws:s3:::{bucket}"))
    arn = iam.create_policy(PolicyName=uname("mv"), PolicyDocument=listing)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user.name, PolicyArn=arn)
    client = user.client(east)
    with pytest.raises(ClientError):
        client.get_object(Bucket=bucket, Key="k")
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*")),
                              SetAsDefault=True)
    client.get_object(Bucket=bucket, Key="k")
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    with pytest.raises(ClientError):
        client.get_object(Bucket=bucket, Key="k")


def test_bucket_policy_must_name_existing_principals(east: Any) -> None:
    root = east.client()
    bucket = create_bucket(root, "us-east-2")
    ghost = doc(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*",
                      Principal={"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/{uname('ghost')}"}))
    with pytest.raises(ClientError) as exc:
        root.put_bucket_policy(Bucket=bucket, Policy=ghost)
    assert code(exc) == "MalformedPolicy" and "Invalid principal" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        root.get_bucket_policy(Bucket=bucket)
    assert code(exc) == "NoSuchBucketPolicy"


def test_principal_tag_condition(east: Any, iam: Any) -> None:
    bucket = _shared(east)
    statement = allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*",
                      Condition={"StringEquals": {"aws:PrincipalTag/team": "storage"}})
    user = make_user(iam, statement)
    with pytest.raises(ClientError):
        user.client(east).get_object(Bucket=bucket, Key="k")
    iam.tag_user(UserName=user.name, Tags=[{"Key": "Team", "Value": "storage"}])
    assert user.client(east).get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


def test_permissions_boundary_limits_identity_grants(east: Any, iam: Any) -> None:
    bucket = _shared(east)
    boundary = iam.create_policy(PolicyName=uname("boundary"), PolicyDocument=doc(
        allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*")))["Policy"]["Arn"]
    user = make_user(iam, allow("s3:*"))
    client = user.client(east)
    client.list_objects_v2(Bucket=bucket)
    iam.put_user_permissions_boundary(UserName=user.name, PermissionsBoundary=boundary)
    assert iam.get_user(UserName=user.name)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    assert iam.get_policy(PolicyArn=boundary)["Policy"]["PermissionsBoundaryUsageCount"] == 1
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"  # allowed by both
    with pytest.raises(ClientError) as exc:
        client.list_objects_v2(Bucket=bucket)  # identity allows, boundary does not
    assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=boundary)
    assert code(exc) == "DeleteConflict"
    iam.delete_user_permissions_boundary(UserName=user.name)
    client.list_objects_v2(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=uname("b"), AssumeRolePolicyDocument=doc({
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}),
            PermissionsBoundary=f"arn:aws:iam::{ACCOUNT_ID}:policy/{uname('nope')}")
    assert code(exc) == "NoSuchEntity"


def test_create_bucket_location_constraint_condition(east: Any, west: Any, iam: Any) -> None:
    user = make_user(iam, allow("s3:CreateBucket", Condition={
        "StringEquals": {"s3:LocationConstraint": "us-west-2"}}))
    with pytest.raises(ClientError) as exc:
        user.client(east).create_bucket(Bucket=uname("lc"), CreateBucketConfiguration={
            "LocationConstraint": "us-east-2"})
    assert code(exc) == "AccessDenied"
    name = uname("lc")
    user.client(west).create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    west.client().delete_bucket(Bucket=name)


def test_forwarding_headers_do_not_change_who_is_asking_or_how(east: Any) -> None:
    """twinstore is the HTTP endpoint itself: X-Forwarded-For / X-Forwarded-Proto from a client (even one on
    loopback) must not become aws:SourceIp or aws:SecureTransport, or a client could walk past a bucket policy
    that enforces TLS or pins networks."""
    root = east.client()
    bucket = create_bucket(root, "us-east-2")
    objects = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    root.put_bucket_policy(Bucket=bucket, Policy=doc(
        deny("s3:GetObject", objects, Principal="*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
        deny("s3:PutObject", objects, Principal="*", Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})))
    spoofing = east.client()

    def spoof(request: Any, **_: Any) -> None:
        request.headers["X-Forwarded-For"] = "203.0.113.9"
        request.headers["X-Forwarded-Proto"] = "https"
    spoofing.meta.events.register("before-sign.s3.*", spoof)
    spoofing.put_object(Bucket=bucket, Key="k", Body=b"x")  # the address is loopback's, not the header's
    with pytest.raises(ClientError) as exc:  # still plain HTTP
        spoofing.get_object(Bucket=bucket, Key="k")
    assert code(exc) == "AccessDenied"
    root.delete_bucket_policy(Bucket=bucket)
