"""`Iam.forward_session(principal, via)`: credentials with exactly a caller's permissions for a service acting
on its behalf (CloudFormation without a service role). Self-authenticating like STS sessions (every region
verifies them); a user deleted or recreated under its name has none."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import allow, code, doc, make_user, session_client, uname
from test_service_session import _creds, with_iam

from harness import create_bucket
from twinstore.auth.principal import Principal
from twinstore.protocol.errors import AWSError

VIA = "cloudformation.amazonaws.com"


def _user_principal(iam: Any, name: str) -> Principal:
    u = iam.get_user(UserName=name)["User"]
    return Principal(u["Arn"].split(":")[4], u["Arn"], "IAMUser", principal_id=u["UserId"],
                     extra={"user_name": name})


def test_forward_session_has_the_users_permissions(east: Any, west: Any, iam: Any, deployment: Any) -> None:
    mine, other = create_bucket(east.client(), "us-east-2"), create_bucket(west.client(), "us-west-2")
    user = make_user(iam, allow("s3:ListBucket", f"arn:aws:s3:::{mine}"))
    cred = with_iam(deployment.data_dir, lambda i: i.forward_session(_user_principal(iam, user.name), VIA))
    assert cred.principal.arn == user.arn and cred.principal.extra["invoked_by"] == VIA
    ident = session_client(west, _creds(cred), "sts").get_caller_identity()
    assert ident["Arn"] == user.arn
    assert session_client(east, _creds(cred)).list_objects_v2(Bucket=mine)["KeyCount"] == 0
    with pytest.raises(ClientError) as exc:
        session_client(west, _creds(cred)).list_objects_v2(Bucket=other)
    assert code(exc) == "AccessDenied"
    # altered token: refused
    bad = dict(_creds(cred), SessionToken=cred.session_token[:-2] + "AA")
    with pytest.raises(ClientError) as exc:
        session_client(east, bad).list_objects_v2(Bucket=mine)
    assert code(exc) in ("InvalidToken", "InvalidClientTokenId", "SignatureDoesNotMatch")


def test_deleted_or_recreated_user_has_nothing(east: Any, iam: Any, deployment: Any) -> None:
    bucket = create_bucket(east.client(), "us-east-2")
    name = uname("fw")
    user = make_user(iam, allow("s3:*"), name=name)
    p = _user_principal(iam, name)
    cred = with_iam(deployment.data_dir, lambda i: i.forward_session(p, VIA))
    assert session_client(east, _creds(cred)).list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    iam.delete_access_key(UserName=name, AccessKeyId=user.access_key)
    iam.delete_user_policy(UserName=name, PolicyName="inline")
    iam.delete_user(UserName=name)
    make_user(iam, allow("s3:*"), name=name)  # same name, another user
    with pytest.raises(ClientError) as exc:
        session_client(east, _creds(cred)).list_objects_v2(Bucket=bucket)
    assert code(exc) == "AccessDenied"
    with pytest.raises(AWSError) as err:
        with_iam(deployment.data_dir, lambda i: i.forward_session(p, VIA))
    assert err.value.code == "InvalidClientTokenId" and "no longer exists" in err.value.message


def test_forward_session_of_a_role_session_keeps_its_session_policy(east: Any, iam: Any, deployment: Any) -> None:
    a, b = create_bucket(east.client(), "us-east-2"), create_bucket(east.client(), "us-east-2")
    user = make_user(iam, allow("sts:AssumeRole"))
    role = iam.create_role(RoleName=uname("fr"), AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"}))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="p", PolicyDocument=doc(allow("s3:ListBucket")))
    sts = user.client(east, "sts")
    got = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="fs",
                          Policy=doc(allow("s3:ListBucket", f"arn:aws:s3:::{a}")))
    caller = session_client(east, got["Credentials"], "sts").get_caller_identity()
    p = Principal(caller["Account"], caller["Arn"], "AssumedRole", principal_id=caller["UserId"], extra={
        "role_arn": role["Arn"], "role_name": role["RoleName"], "role_id": role["RoleId"], "session_name": "fs",
        "policy": doc(allow("s3:ListBucket", f"arn:aws:s3:::{a}"))})
    cred = with_iam(deployment.data_dir, lambda i: i.forward_session(p, VIA))
    assert cred.principal.arn == caller["Arn"]
    assert session_client(east, _creds(cred)).list_objects_v2(Bucket=a)["KeyCount"] == 0
    with pytest.raises(ClientError) as exc:
        session_client(east, _creds(cred)).list_objects_v2(Bucket=b)
    assert code(exc) == "AccessDenied"
