"""The service-principal path the replication engine uses: `Iam.service_session(role_arn, "s3.amazonaws.com")`
evaluates the role's trust policy for the service and returns temporary credentials that sign requests to
every region; what the session may do is decided by normal evaluation (a role without permissions is denied).
Also iam:PassRole, which S3 requires of a PutBucketReplication naming a role."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Awaitable, Callable, TypeVar

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT_ID, allow, code, doc, make_user, session_client, uname

from harness import create_bucket
from twinstore.auth.principal import Credential
from twinstore.iam.authority import Iam, RequestKeys
from twinstore.iam.evaluate import ALLOW
from twinstore.iam.sqlite_store import SqliteIamStore
from twinstore.iam.tokens import TokenCodec, load_secret
from twinstore.protocol.errors import AWSError

T = TypeVar("T")
TRUST_S3 = doc({"Effect": "Allow", "Principal": {"Service": ["s3.amazonaws.com"]}, "Action": ["sts:AssumeRole"]})


def with_iam(data_dir: str, fn: Callable[[Iam], Awaitable[T]]) -> T:
    """Runs `fn` against the deployment's IAM state, in process, as the replication engine would."""
    async def run() -> T:
        store = SqliteIamStore(os.path.join(data_dir, "iam.db"))
        try:
            return await fn(Iam(store, ACCOUNT_ID, TokenCodec(load_secret(data_dir))))
        finally:
            await store.close()
    return asyncio.run(run())


def _creds(c: Credential) -> dict[str, str]:
    return {"AccessKeyId": c.access_key_id, "SecretAccessKey": c.secret_access_key, "SessionToken": c.session_token}


def test_service_session_for_a_role_trusting_s3(east: Any, west: Any, iam: Any, deployment: Any) -> None:
    src = create_bucket(east.client(), "us-east-2")
    dst = create_bucket(west.client(), "us-west-2")
    east.client().put_object(Bucket=src, Key="k", Body=b"v")
    role = iam.create_role(RoleName=uname("repl"), AssumeRolePolicyDocument=TRUST_S3)["Role"]
    cred = with_iam(deployment.data_dir, lambda i: i.service_session(role["Arn"]))
    assert cred.principal.arn.startswith(f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role['RoleName']}/")
    # the lab's commented-out attachment: the role has no permissions, so every call is denied
    for region, bucket in ((east, src), (west, dst)):
        with pytest.raises(ClientError) as exc:
            session_client(region, _creds(cred)).list_objects_v2(Bucket=bucket)
        assert code(exc) == "AccessDenied"
    policy = iam.create_policy(PolicyName=uname("repl-policy"), PolicyDocument=doc(
        allow(["s3:Get*", "s3:ListBucket"], [f"arn:aws:s3:::{src}", f"arn:aws:s3:::{src}/*"]),
        allow(["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags", "s3:GetObjectVersionTagging"],
              f"arn:aws:s3:::{dst}/*")))["Policy"]
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=policy["Arn"])
    assert session_client(east, _creds(cred)).get_object(Bucket=src, Key="k")["Body"].read() == b"v"
    with pytest.raises(ClientError):
        session_client(west, _creds(cred)).put_object(Bucket=dst, Key="k", Body=b"v")  # only Replicate*

    async def decisions(i: Iam) -> list[str]:
        await i.refresh()
        p = cred.principal
        return [i.decide(p, a, r, RequestKeys(p)) for a, r in (
            ("s3:GetObjectVersionForReplication", f"arn:aws:s3:::{src}/k"),
            ("s3:GetReplicationConfiguration", f"arn:aws:s3:::{src}"),
            ("s3:ReplicateObject", f"arn:aws:s3:::{dst}/k"),
            ("s3:ReplicateObject", f"arn:aws:s3:::{src}/k"))]
    assert with_iam(deployment.data_dir, decisions) == [ALLOW, ALLOW, ALLOW, "ImplicitDeny"]


def test_service_session_refused_when_trust_does_not_name_the_service(iam: Any, deployment: Any) -> None:
    role = iam.create_role(RoleName=uname("ct"), AssumeRolePolicyDocument=doc({
        "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "sts:AssumeRole"}))["Role"]
    with pytest.raises(AWSError) as exc:
        with_iam(deployment.data_dir, lambda i: i.service_session(role["Arn"], "s3.amazonaws.com"))
    assert exc.value.code == "AccessDenied"
    cred = with_iam(deployment.data_dir, lambda i: i.service_session(role["Arn"], "cloudtrail.amazonaws.com"))
    assert cred.access_key_id.startswith("ASIA")
    with pytest.raises(AWSError):
        with_iam(deployment.data_dir, lambda i: i.service_session(f"arn:aws:iam::{ACCOUNT_ID}:role/nope"))


def test_pass_role_for_replication(iam: Any, east: Any, deployment: Any) -> None:
    role = iam.create_role(RoleName=uname("pr"), AssumeRolePolicyDocument=TRUST_S3)["Role"]
    plain = make_user(iam, allow("s3:*"))
    passer = make_user(iam, allow("s3:*"), allow("iam:PassRole", role["Arn"], Condition={
        "StringEquals": {"iam:PassedToService": "s3.amazonaws.com"}}))

    async def check(i: Iam) -> list[str]:
        await i.refresh()
        out = []
        for user, service in ((plain, "s3.amazonaws.com"), (passer, "s3.amazonaws.com"),
                              (passer, "ec2.amazonaws.com")):
            cred = i.lookup(user.access_key)
            assert cred is not None
            try:
                i.pass_role(cred.principal, role["Arn"], service)
                out.append("allowed")
            except AWSError as e:
                out.append(e.code)
        return out
    assert with_iam(deployment.data_dir, check) == ["AccessDenied", "allowed", "AccessDenied"]


def test_service_principal_credentials_are_granted_only_by_resource_policies(east: Any, deployment: Any) -> None:
    """CloudTrail-style delivery: the bucket policy grants the service principal PutObject only with
    `s3:x-amz-acl = bucket-owner-full-control` (the lab's CloudTrailWriteToS3Policy)."""
    root = east.client()
    logs, other = create_bucket(root, "us-east-2"), create_bucket(root, "us-east-2")
    root.put_bucket_policy(Bucket=logs, Policy=doc(
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:GetBucketAcl",
         "Resource": f"arn:aws:s3:::{logs}"},
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{logs}/AWSLogs/{ACCOUNT_ID}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}))

    async def mint(i: Iam) -> Credential:
        return i.service_credential("cloudtrail.amazonaws.com")
    s3 = session_client(east, _creds(with_iam(deployment.data_dir, mint)))
    key = f"AWSLogs/{ACCOUNT_ID}/CloudTrail/x.json.gz"
    s3.put_object(Bucket=logs, Key=key, Body=b"{}", ACL="bucket-owner-full-control")
    s3.get_bucket_acl(Bucket=logs)
    for bucket, kw in ((logs, {}), (other, {"ACL": "bucket-owner-full-control"})):
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=bucket, Key=key, Body=b"{}", **kw)
        assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError):
        s3.get_object(Bucket=logs, Key=key)


def test_service_credentials_carry_source_arn_and_account(east: Any, deployment: Any) -> None:
    root = east.client()
    bucket = create_bucket(root, "us-east-2")
    trail = f"arn:aws:cloudtrail:us-east-2:{ACCOUNT_ID}:trail/lab"
    root.put_bucket_policy(Bucket=bucket, Policy=doc(
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/*", "Condition": {"StringEquals": {
             "aws:SourceArn": trail, "aws:SourceAccount": ACCOUNT_ID}}}))

    async def mint(i: Iam, source_arn: str) -> Credential:
        return i.service_credential("cloudtrail.amazonaws.com", source_arn=source_arn, source_account=ACCOUNT_ID)
    ok = with_iam(deployment.data_dir, lambda i: mint(i, trail))
    session_client(east, _creds(ok)).put_object(Bucket=bucket, Key="k", Body=b"x")
    other = with_iam(deployment.data_dir, lambda i: mint(i, trail + "-other"))
    with pytest.raises(ClientError) as exc:
        session_client(east, _creds(other)).put_object(Bucket=bucket, Key="k", Body=b"x")
    assert code(exc) == "AccessDenied"


def test_replication_decisions_on_a_bucket_include_its_policy(east: Any, iam: Any, deployment: Any) -> None:
    """What the replication engine asks for each replicated object, acting as the role session: identity
    policies of the role and the destination bucket's policy (here an explicit Deny on a prefix)."""
    from twinstore.meta.model import Bucket
    from twinstore.s3.actions import decide_on_bucket
    root = east.client()
    dst = create_bucket(root, "us-east-2")
    role = iam.create_role(RoleName=uname("rd"), AssumeRolePolicyDocument=TRUST_S3)["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="w", PolicyDocument=doc(
        allow(["s3:ReplicateObject", "s3:ReplicateDelete"], f"arn:aws:s3:::{dst}/*")))
    text = doc({"Effect": "Deny", "Principal": {"AWS": role["Arn"]}, "Action": "s3:ReplicateObject",
                "Resource": f"arn:aws:s3:::{dst}/private/*"})
    root.put_bucket_policy(Bucket=dst, Policy=text)
    bucket = Bucket(0, dst, "us-east-2", ACCOUNT_ID, 0, configs={"policy": text})

    async def run(i: Iam) -> list[str]:
        cred = await i.service_session(role["Arn"])
        p = cred.principal
        return [decide_on_bucket(i, p, "s3:ReplicateObject", bucket, "a/k"),
                decide_on_bucket(i, p, "s3:ReplicateObject", bucket, "private/k"),
                decide_on_bucket(i, p, "s3:ReplicateTags", bucket, "a/k")]
    assert with_iam(deployment.data_dir, run) == [ALLOW, "Deny", "ImplicitDeny"]
