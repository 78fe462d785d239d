"""Further IAM/STS behaviour: presigned URLs with session tokens, IAM calls by role sessions, role chaining,
size limits, and acknowledged IAM writes surviving kill -9."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT_ID, allow, code, doc, make_user, session_client, uname

from harness import Deployment, create_bucket


def _trust(arn: str) -> str:
    return doc({"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "sts:AssumeRole"})


def test_presigned_urls_for_users_and_sessions(east: Any, iam: Any) -> None:
    bucket = create_bucket(east.client(), "us-east-2")
    east.client().put_object(Bucket=bucket, Key="k", Body=b"presigned")
    user = make_user(iam, allow(["s3:GetObject"], f"arn:aws:s3:::{bucket}/*"), allow("sts:AssumeRole"))
    url = user.client(east).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"presigned"
    role = iam.create_role(RoleName=uname("pre"), AssumeRolePolicyDocument=_trust(user.arn))["Role"]
    creds = user.client(east, "sts").assume_role(RoleArn=role["Arn"], RoleSessionName="pre")["Credentials"]
    url = session_client(east, creds).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    assert "X-Amz-Security-Token" in url
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url)
    assert exc.value.code == 403  # the role has no permissions
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="r",
                        PolicyDocument=doc(allow("s3:GetObject", f"arn:aws:s3:::{bucket}/*")))
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"presigned"


def test_role_session_calls_iam_and_chains_roles(east: Any, west: Any, iam: Any) -> None:
    user = make_user(iam, allow("sts:AssumeRole"))
    first = iam.create_role(RoleName=uname("first"), AssumeRolePolicyDocument=_trust(user.arn),
                            MaxSessionDuration=7200)["Role"]
    iam.put_role_policy(RoleName=first["RoleName"], PolicyName="p", PolicyDocument=doc(
        allow(["iam:ListRoles", "iam:GetRole", "sts:AssumeRole"])))
    creds = user.client(east, "sts").assume_role(RoleArn=first["Arn"], RoleSessionName="one",
                                                 DurationSeconds=7200)["Credentials"]
    session_iam = session_client(west, creds, "iam")
    assert session_iam.get_role(RoleName=first["RoleName"])["Role"]["Arn"] == first["Arn"]
    with pytest.raises(ClientError) as exc:
        session_iam.create_user(UserName=uname("no"))
    assert code(exc) == "AccessDenied"
    second = iam.create_role(RoleName=uname("second"), AssumeRolePolicyDocument=_trust(first["Arn"]),
                             MaxSessionDuration=7200)["Role"]
    sts = session_client(east, creds, "sts")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=second["Arn"], RoleSessionName="two", DurationSeconds=7200)
    assert code(exc) == "ValidationError" and "role chaining" in exc.value.response["Error"]["Message"]
    chained = sts.assume_role(RoleArn=second["Arn"], RoleSessionName="two")
    assert chained["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{second['RoleName']}/two"


def test_policy_size_limits(iam: Any) -> None:
    big = doc(*[allow(f"s3:GetObject{i:04d}", f"arn:aws:s3:::bucket-{i:04d}/*") for i in range(120)])
    name = uname("big")
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=name, PolicyDocument=big)
    assert code(exc) == "LimitExceeded" and "6144" in exc.value.response["Error"]["Message"]
    assert name not in [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    user = uname("big")
    iam.create_user(UserName=user)
    with pytest.raises(ClientError) as exc:
        iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=big)
    assert code(exc) == "LimitExceeded"
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []


def test_acknowledged_iam_writes_survive_kill9() -> None:
    dep = Deployment(regions=("us-east-2",)).start()
    try:
        region = dep["us-east-2"]
        iam = region.client("iam")
        user = make_user(iam, allow("s3:ListAllMyBuckets"))
        region.kill9()
        region.start()
        assert region.client("iam").get_user(UserName=user.name)["User"]["Arn"] == user.arn
        user.client(region).list_buckets()
    finally:
        dep.stop()
        shutil.rmtree(dep.data_dir, ignore_errors=True)


def test_aws_cli_s3_as_an_iam_user(east: Any, iam: Any, tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    from harness import base_env
    bucket = create_bucket(east.client(), "us-east-2")
    user = make_user(iam)
    arn = iam.create_policy(PolicyName=uname("cli-s3"), PolicyDocument=doc(
        allow(["s3:PutObject", "s3:GetObject"], f"arn:aws:s3:::{bucket}/*"),
        allow("s3:ListBucket", f"arn:aws:s3:::{bucket}")))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user.name, PolicyArn=arn)
    env = base_env()
    env.update({"AWS_ENDPOINT_URL": east.endpoint, "AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-east-2",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_PAGER": "",
                "AWS_ACCESS_KEY_ID": user.access_key, "AWS_SECRET_ACCESS_KEY": user.secret_key})
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024))  # multipart upload through the CLI

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "awscli", *args], env=env, capture_output=True, text=True,
                              timeout=300)
    res = aws("s3", "cp", str(src), f"s3://{bucket}/f.bin")
    assert res.returncode == 0, res.stderr
    res = aws("s3", "ls", f"s3://{bucket}/")
    assert res.returncode == 0 and "f.bin" in res.stdout
    res = aws("s3", "cp", f"s3://{bucket}/f.bin", str(tmp_path / "back.bin"))
    assert res.returncode == 0 and (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    res = aws("s3", "rm", f"s3://{bucket}/f.bin")
    assert res.returncode != 0 and "AccessDenied" in res.stderr
    res = aws("s3", "ls")
    assert res.returncode != 0 and "AccessDenied" in res.stderr
