"""STS through boto3 and the AWS CLI: caller identity, AssumeRole under trust policies, session credentials on
S3 in every region, expiry and tampering."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT_ID, allow, code, doc, make_user, session_client, status, uname

from harness import base_env, create_bucket


def trust_for(*principals: Any) -> str:
    return doc({"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"})


def test_caller_identity_root_and_user(east: Any, iam: Any) -> None:
    me = east.client("sts").get_caller_identity()
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root" and me["Account"] == ACCOUNT_ID
    user = make_user(iam)
    ident = user.client(east, "sts").get_caller_identity()
    assert ident["Arn"] == user.arn and ident["UserId"].startswith("AIDA")


def test_assume_role_allowed_by_trust_policy(east: Any, west: Any, iam: Any) -> None:
    user = make_user(iam)
    role = uname("ar")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust_for(user.arn))["Role"]["Arn"]
    before = datetime.datetime.now(datetime.timezone.utc)
    out = user.client(west, "sts").assume_role(RoleArn=arn, RoleSessionName="sess-1")
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    assert datetime.timedelta(minutes=59) < creds["Expiration"] - before < datetime.timedelta(minutes=61)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/sess-1"
    assert out["AssumedRoleUser"]["AssumedRoleId"].endswith(":sess-1")
    for region in (east, west):  # tokens verify in every region process
        ident = session_client(region, creds, "sts").get_caller_identity()
        assert ident["Arn"] == out["AssumedRoleUser"]["Arn"]
    # the role session may do what the role's policies allow, nothing more
    bucket = create_bucket(east.client(), "us-east-2")
    s3 = session_client(east, creds)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert code(exc) == "AccessDenied"
    iam.put_role_policy(RoleName=role, PolicyName="w", PolicyDocument=doc(allow("s3:PutObject",
                                                                                f"arn:aws:s3:::{bucket}/*")))
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    # deleting the role ends what its sessions may do
    iam.delete_role_policy(RoleName=role, PolicyName="w")
    iam.delete_role(RoleName=role)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert code(exc) == "AccessDenied"


def test_assume_role_refused_by_trust_policy(east: Any, iam: Any) -> None:
    user, other = make_user(iam), make_user(iam)
    role = uname("nr")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust_for(other.arn))["Role"]["Arn"]
    with pytest.raises(ClientError) as exc:
        user.client(east, "sts").assume_role(RoleArn=arn, RoleSessionName="s1")
    assert code(exc) == "AccessDenied" and status(exc) == 403
    assert exc.value.response["Error"]["Message"].startswith(
        f"User: {user.arn} is not authorized to perform: sts:AssumeRole on resource: {arn}")
    with pytest.raises(ClientError) as exc:  # a role that does not exist looks the same
        user.client(east, "sts").assume_role(RoleArn=arn + "-missing", RoleSessionName="s1")
    assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:  # a service-only trust refuses users
        svc_role = iam.create_role(RoleName=uname("svc"), AssumeRolePolicyDocument=doc({
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}))
        other.client(east, "sts").assume_role(RoleArn=svc_role["Role"]["Arn"], RoleSessionName="s1")
    assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        east.client("sts").assume_role(RoleArn=arn, RoleSessionName="root")
    assert code(exc) == "AccessDenied" and "root" in exc.value.response["Error"]["Message"]


def test_trust_naming_the_account_needs_identity_permission(east: Any, iam: Any) -> None:
    role = uname("acct")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust_for(ACCOUNT_ID))["Role"]["Arn"]
    plain = make_user(iam)
    with pytest.raises(ClientError) as exc:
        plain.client(east, "sts").assume_role(RoleArn=arn, RoleSessionName="s1")
    assert code(exc) == "AccessDenied"
    allowed = make_user(iam, allow("sts:AssumeRole", arn))
    allowed.client(east, "sts").assume_role(RoleArn=arn, RoleSessionName="s1")
    denied = make_user(iam, allow("sts:AssumeRole", arn), {"Effect": "Deny", "Action": "sts:*", "Resource": "*"})
    with pytest.raises(ClientError) as exc:
        denied.client(east, "sts").assume_role(RoleArn=arn, RoleSessionName="s1")
    assert code(exc) == "AccessDenied"


def test_duration_limits_and_session_policy(east: Any, iam: Any) -> None:
    user = make_user(iam)
    role = uname("dur")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust_for(user.arn))["Role"]["Arn"]
    sts = user.client(east, "sts")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=7200)
    assert code(exc) == "ValidationError" and "MaxSessionDuration" in exc.value.response["Error"]["Message"]
    assert sts.assume_role(RoleArn=arn, RoleSessionName="s1", DurationSeconds=900)["Credentials"]
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=arn, RoleSessionName="s1", Policy="{not json")
    assert code(exc) == "MalformedPolicyDocument"
    # a session policy narrows what the role's policies allow
    bucket = create_bucket(east.client(), "us-east-2")
    iam.put_role_policy(RoleName=role, PolicyName="all", PolicyDocument=doc(allow("s3:*")))
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="narrow",
                            Policy=doc(allow("s3:GetObject")))["Credentials"]
    with pytest.raises(ClientError) as exc:
        session_client(east, creds).put_object(Bucket=bucket, Key="k", Body=b"x")
    assert code(exc) == "AccessDenied"
    full = sts.assume_role(RoleArn=arn, RoleSessionName="full")["Credentials"]
    session_client(east, full).put_object(Bucket=bucket, Key="k", Body=b"x")
    assert session_client(east, creds).get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def _mint(data_dir: str, role_arn: str, role_id: str, expires_us: int) -> dict[str, str]:
    """Temporary credentials for `role_arn` signed with the deployment's own token key (what AssumeRole issues),
    with an expiry we choose: AWS's minimum duration is 900 s, too long to wait for in a test."""
    from twinstore.iam.tokens import Session, TokenCodec, load_secret
    codec = TokenCodec(load_secret(data_dir))
    akid = "ASIA" + uname("T").replace("-", "").upper()[:16]
    token = codec.encode(Session(akid, role_arn, role_id, "expired", expires_us))
    return {"AccessKeyId": akid, "SecretAccessKey": codec.secret_for(akid), "SessionToken": token}


def test_expired_and_tampered_tokens(east: Any, west: Any, iam: Any, deployment: Any) -> None:
    import time
    user = make_user(iam)
    role = iam.create_role(RoleName=uname("exp"), AssumeRolePolicyDocument=trust_for(user.arn))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="all", PolicyDocument=doc(allow("s3:*")))
    live = _mint(deployment.data_dir, role["Arn"], role["RoleId"], int((time.time() + 600) * 1e6))
    session_client(east, live).list_buckets()  # the minted form is the real one
    expired = _mint(deployment.data_dir, role["Arn"], role["RoleId"], int((time.time() - 1) * 1e6))
    for region in (east, west):
        with pytest.raises(ClientError) as exc:
            session_client(region, expired).list_buckets()
        assert code(exc) == "ExpiredToken" and status(exc) == 400
        with pytest.raises(ClientError) as exc:
            session_client(region, expired, "sts").get_caller_identity()
        assert code(exc) == "ExpiredToken"
    real = user.client(east, "sts").assume_role(RoleArn=role["Arn"], RoleSessionName="s1")["Credentials"]
    body = real["SessionToken"].split(".")
    tampered = dict(real, SessionToken=".".join([body[0], body[1][:-2] + "AA", body[2]]))
    with pytest.raises(ClientError) as exc:
        session_client(east, tampered).list_buckets()
    assert code(exc) == "InvalidToken"
    with pytest.raises(ClientError) as exc:
        session_client(east, tampered, "sts").get_caller_identity()
    assert code(exc) == "InvalidClientTokenId"
    no_token = dict(real, SessionToken="")
    with pytest.raises(ClientError) as exc:
        east.client(access_key=no_token["AccessKeyId"], secret_key=no_token["SecretAccessKey"]).list_buckets()
    assert code(exc) == "InvalidAccessKeyId"


def test_aws_cli_with_session_credentials(east: Any, iam: Any) -> None:
    user = make_user(iam)
    role = uname("clis")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust_for(user.arn))["Role"]["Arn"]
    creds = user.client(east, "sts").assume_role(RoleArn=arn, RoleSessionName="cli")["Credentials"]
    env = base_env()
    env.update({"AWS_ENDPOINT_URL": east.endpoint, "AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-east-2",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_PAGER": "",
                "AWS_ACCESS_KEY_ID": creds["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                "AWS_SESSION_TOKEN": creds["SessionToken"]})
    res = subprocess.run([sys.executable, "-m", "awscli", "sts", "get-caller-identity"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/cli"
    res = subprocess.run([sys.executable, "-m", "awscli", "s3api", "list-buckets"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "AccessDenied" in res.stderr


def test_recreated_principals_do_not_inherit_policies(east: Any, iam: Any) -> None:
    """Trust and bucket policies bind the unique id of the users they name at save time (AWS)."""
    name = uname("recreated")
    first = make_user(iam, name=name)
    role = iam.create_role(RoleName=uname("bind"), AssumeRolePolicyDocument=trust_for(first.arn))["Role"]
    bucket = create_bucket(east.client(), "us-east-2")
    east.client().put_object(Bucket=bucket, Key="k", Body=b"x")
    east.client().put_bucket_policy(Bucket=bucket, Policy=doc(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*",
                                                                    Principal={"AWS": first.arn})))
    first.client(east, "sts").assume_role(RoleArn=role["Arn"], RoleSessionName="first")
    first.client(east).get_object(Bucket=bucket, Key="k")
    for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    iam.delete_user(UserName=name)
    second = make_user(iam, name=name)
    assert second.arn == first.arn
    with pytest.raises(ClientError) as exc:
        second.client(east, "sts").assume_role(RoleArn=role["Arn"], RoleSessionName="second")
    assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        second.client(east).get_object(Bucket=bucket, Key="k")
    assert code(exc) == "AccessDenied"
    iam.update_assume_role_policy(RoleName=role["RoleName"], PolicyDocument=trust_for(second.arn))  # re-bind
    second.client(east, "sts").assume_role(RoleArn=role["Arn"], RoleSessionName="second")
