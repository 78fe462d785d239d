"""The IAM query API through boto3 and the AWS CLI: each operation, AWS's limits and errors, global state."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT_ID, allow, code, doc, status, uname

from harness import ACCESS_KEY, SECRET_KEY

TRUST_S3 = doc({"Effect": "Allow", "Principal": {"Service": ["s3.amazonaws.com"]}, "Action": ["sts:AssumeRole"]})


def test_users_create_get_list_delete(iam: Any, west: Any) -> None:
    name = uname("user")
    user = iam.create_user(UserName=name, Path="/team/")["User"]
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/team/{name}"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert iam.get_user(UserName=name)["User"]["UserId"] == user["UserId"]
    # global: the other region serves the same state
    assert name in [u["UserName"] for u in west.client("iam").list_users(PathPrefix="/team/")["Users"]]
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=name)
    assert code(exc) == "EntityAlreadyExists" and status(exc) == 409
    iam.delete_user(UserName=name)
    with pytest.raises(ClientError) as exc:
        west.client("iam").get_user(UserName=name)
    assert code(exc) == "NoSuchEntity" and status(exc) == 404
    assert "cannot be found" in exc.value.response["Error"]["Message"]


def test_list_users_paginates(iam: Any) -> None:
    path = f"/{uname('p')}/"
    names = sorted(uname("pg") for _ in range(5))
    for n in names:
        iam.create_user(UserName=n, Path=path)
    pages = iam.get_paginator("list_users").paginate(PathPrefix=path, PaginationConfig={"PageSize": 2})
    seen = [u["UserName"] for page in pages for u in page["Users"]]
    assert seen == names


def test_access_keys_lifecycle_and_limit(iam: Any, east: Any) -> None:
    name = uname("keys")
    iam.create_user(UserName=name)
    k1 = iam.create_access_key(UserName=name)["AccessKey"]
    assert k1["AccessKeyId"].startswith("AKIA") and len(k1["AccessKeyId"]) == 20
    assert len(k1["SecretAccessKey"]) == 40 and k1["Status"] == "Active"
    iam.create_access_key(UserName=name)
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName=name)
    assert code(exc) == "LimitExceeded"
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert len(listed) == 2 and all("SecretAccessKey" not in k for k in listed)
    # the key authenticates (GetCallerIdentity is never denied), until deactivated
    sts = east.client("sts", access_key=k1["AccessKeyId"], secret_key=k1["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"].endswith(f":user/{name}")
    iam.update_access_key(UserName=name, AccessKeyId=k1["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert code(exc) == "InvalidClientTokenId"
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=name)
    assert code(exc) == "DeleteConflict" and "access keys" in exc.value.response["Error"]["Message"]
    for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        iam.delete_access_key(UserName=name, AccessKeyId=k1["AccessKeyId"])
    assert code(exc) == "NoSuchEntity"
    iam.delete_user(UserName=name)


def test_roles_and_trust_policy(iam: Any) -> None:
    name = uname("role")
    role = iam.create_role(RoleName=name, Path="/service-role/", AssumeRolePolicyDocument=TRUST_S3,
                           Description="replication", MaxSessionDuration=7200)["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/service-role/{name}"
    assert role["RoleId"].startswith("AROA")
    got = iam.get_role(RoleName=name)["Role"]
    assert got["AssumeRolePolicyDocument"] == json.loads(TRUST_S3)  # URL-encoded on the wire, decoded by botocore
    assert got["MaxSessionDuration"] == 7200 and got["Description"] == "replication"
    new_trust = doc({"Effect": "Allow", "Principal": {"AWS": ACCOUNT_ID}, "Action": "sts:AssumeRole"})
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=new_trust)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)
    assert name in [r["RoleName"] for r in iam.list_roles(PathPrefix="/service-role/")["Roles"]]
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as exc:
        iam.get_role(RoleName=name)
    assert code(exc) == "NoSuchEntity"


def test_documents_are_url_encoded_on_the_wire(east: Any) -> None:
    client = east.client("iam")
    name = uname("wire")
    client.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_S3)
    raw: list[bytes] = []
    client.meta.events.register("after-call.iam.GetRole", lambda http_response, **_: raw.append(http_response.content))
    client.get_role(RoleName=name)
    text = raw[0].decode()
    assert "<AssumeRolePolicyDocument>%7B%22Version%22" in text
    assert 'xmlns="https://iam.amazonaws.com/doc/2010-05-08/"' in text


@pytest.mark.parametrize("role_name, expected", [("r" * 65, "ValidationError"), ("bad/name", "ValidationError")])
def test_role_name_limits(iam: Any, role_name: str, expected: str) -> None:
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=TRUST_S3)
    assert code(exc) == expected and status(exc) == 400
    if len(role_name) > 64:
        assert "Member must have length less than or equal to 64" in exc.value.response["Error"]["Message"]
    assert role_name not in [r["RoleName"] for r in iam.list_roles()["Roles"]]


@pytest.mark.parametrize("kind, document, reason", [
    ("trust", doc({"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole",
                   "Resource": "*"}), "Has prohibited field Resource"),
    ("trust", doc({"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "s3:GetObject"}),
     "AssumeRole policy may only specify STS AssumeRole actions"),
    ("identity", doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
     "should not specify a principal"),
    ("identity", '{"Version": "2012-10-17", "Statement": [', "invalid Json"),
    ("identity", json.dumps({"Version": 2012, "Statement": [allow("s3:*")]}), "Syntax errors"),
    ("identity", doc({"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}), "Invalid effect"),
    ("identity", doc({"Effect": "Allow", "Action": "s3:*"}), "must contain resources"),
    ("identity", doc({"Effect": "Allow", "Action": "getobject", "Resource": "*"}), "prefaced by a vendor"),
    ("identity", doc({"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"}), "must be in ARN format"),
    ("identity", doc(allow("s3:*", Condition={"StringFuzzy": {"s3:prefix": "a"}})), "Invalid Condition type"),
])
def test_malformed_policy_documents(iam: Any, kind: str, document: str, reason: str) -> None:
    name = uname("bad")
    with pytest.raises(ClientError) as exc:
        if kind == "trust":
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)
        else:
            iam.create_policy(PolicyName=name, PolicyDocument=document)
    assert code(exc) == "MalformedPolicyDocument" and status(exc) == 400
    assert reason in exc.value.response["Error"]["Message"]
    # nothing half-created
    assert name not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert name not in [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]


def test_unknown_actions_are_accepted(iam: Any) -> None:
    arn = iam.create_policy(PolicyName=uname("unk"), PolicyDocument=doc(allow("s3:NoSuchActionAtAll")))["Policy"]["Arn"]
    iam.delete_policy(PolicyArn=arn)


def test_inline_role_and_user_policies(iam: Any) -> None:
    role = uname("inl")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_S3)
    pdoc = doc(allow("s3:GetObject", "arn:aws:s3:::b/*"))
    iam.put_role_policy(RoleName=role, PolicyName="read", PolicyDocument=pdoc)
    got = iam.get_role_policy(RoleName=role, PolicyName="read")
    assert got["PolicyDocument"] == json.loads(pdoc) and got["RoleName"] == role
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["read"]
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=role)
    assert code(exc) == "DeleteConflict" and "must delete policies first" in exc.value.response["Error"]["Message"]
    iam.delete_role_policy(RoleName=role, PolicyName="read")
    with pytest.raises(ClientError) as exc:
        iam.get_role_policy(RoleName=role, PolicyName="read")
    assert code(exc) == "NoSuchEntity"
    iam.delete_role(RoleName=role)
    user = uname("inlu")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=pdoc)
    assert iam.get_user_policy(UserName=user, PolicyName="p")["PolicyDocument"] == json.loads(pdoc)
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["p"]
    iam.delete_user_policy(UserName=user, PolicyName="p")
    iam.delete_user(UserName=user)


def test_managed_policies_versions_attachments_and_delete_conflict(iam: Any, west: Any) -> None:
    pname, role, user = uname("mp"), uname("mpr"), uname("mpu")
    v1 = doc(allow("s3:GetObject"))
    pol = iam.create_policy(PolicyName=pname, PolicyDocument=v1, Description="d")["Policy"]
    assert pol["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:policy/{pname}" and pol["DefaultVersionId"] == "v1"
    assert pol["PolicyId"].startswith("ANPA")
    arn = pol["Arn"]
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName=pname, PolicyDocument=v1)
    assert code(exc) == "EntityAlreadyExists"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_S3)
    iam.create_user(UserName=user)
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == [{"PolicyName": pname,
                                                                                  "PolicyArn": arn}]
    assert west.client("iam").get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 2
    ents = iam.list_entities_for_policy(PolicyArn=arn)
    assert [r["RoleName"] for r in ents["PolicyRoles"]] == [role]
    assert [u["UserName"] for u in ents["PolicyUsers"]] == [user]
    # versions
    v2 = doc(allow(["s3:GetObject", "s3:PutObject"]))
    assert iam.create_policy_version(PolicyArn=arn, PolicyDocument=v2, SetAsDefault=True)["PolicyVersion"][
        "VersionId"] == "v2"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"] == json.loads(v2)
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v2", "v1"]
    with pytest.raises(ClientError) as exc:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert code(exc) == "DeleteConflict"
    for _ in range(3):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=v1)
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=v1)
    assert code(exc) == "LimitExceeded"
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    # the lab's DetachIAMPolicy troubleshooting
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName=role)
    assert code(exc) == "DeleteConflict" and status(exc) == 409
    assert exc.value.response["Error"]["Message"] == "Cannot delete entity, must detach all policies first."
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert code(exc) == "DeleteConflict"
    assert exc.value.response["Error"]["Message"] == "Cannot delete a policy attached to entities."
    iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    iam.detach_user_policy(UserName=user, PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    assert code(exc) == "NoSuchEntity"
    iam.delete_role(RoleName=role)
    iam.delete_user(UserName=user)
    for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not v["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as exc:
        iam.get_policy(PolicyArn=arn)
    assert code(exc) == "NoSuchEntity"


def test_attach_missing_policy_and_aws_managed(iam: Any) -> None:
    role = uname("am")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_S3)
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=role, PolicyArn=f"arn:aws:iam::{ACCOUNT_ID}:policy/nope")
    assert code(exc) == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.attach_role_policy(RoleName=role, PolicyArn="not-an-arn-at-all-but-long")
    assert code(exc) == "InvalidInput"
    iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    assert [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]] == [
        "AmazonS3ReadOnlyAccess"]
    iam.detach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    iam.delete_role(RoleName=role)


def test_groups(iam: Any, east: Any) -> None:
    group, user = uname("g"), uname("gu")
    iam.create_group(GroupName=group)
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=user)
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [user]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    iam.put_group_policy(GroupName=group, PolicyName="list", PolicyDocument=doc(allow("s3:ListAllMyBuckets")))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    s3 = east.client(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    s3.list_buckets()  # granted through the group
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName=group)
    assert code(exc) == "DeleteConflict"
    iam.remove_user_from_group(GroupName=group, UserName=user)
    with pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert code(exc) == "AccessDenied"
    iam.delete_group_policy(GroupName=group, PolicyName="list")
    iam.delete_group(GroupName=group)


def test_aws_cli_iam(east: Any, west: Any) -> None:
    name = uname("cli")
    out = json.loads(east.aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document",
                              TRUST_S3).stdout)
    assert out["Role"]["RoleName"] == name
    got = json.loads(west.aws("iam", "get-role", "--role-name", name).stdout)
    assert got["Role"]["AssumeRolePolicyDocument"] == json.loads(TRUST_S3)
    res = east.aws("iam", "get-role", "--role-name", name + "x", check=False)
    assert res.returncode != 0 and "NoSuchEntity" in res.stderr
    east.aws("iam", "delete-role", "--role-name", name)


def test_iam_callers_need_iam_permissions(iam: Any, east: Any) -> None:
    from conftest import make_user
    reader = make_user(iam, allow(["iam:GetUser", "iam:ListUsers"]))
    client = reader.client(east, "iam")
    assert client.get_user()["User"]["UserName"] == reader.name
    client.list_users()
    with pytest.raises(ClientError) as exc:
        client.create_user(UserName=uname("nope"))
    assert code(exc) == "AccessDenied" and status(exc) == 403
    assert ACCESS_KEY and SECRET_KEY  # the root keeps full access (used by every other test)


def test_role_tags_and_description(iam: Any) -> None:
    name = uname("tags")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_S3, Tags=[{"Key": "a", "Value": "1"}])
    iam.tag_role(RoleName=name, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}]
    iam.untag_role(RoleName=name, TagKeys=["a"])
    assert iam.get_role(RoleName=name)["Role"]["Tags"] == [{"Key": "b", "Value": "2"}]
    assert iam.update_role_description(RoleName=name, Description="x")["Role"]["Description"] == "x"
    iam.delete_role(RoleName=name)


def test_simulate_principal_policy(iam: Any) -> None:
    from conftest import deny, make_user
    user = make_user(iam, allow("s3:Get*", "arn:aws:s3:::b/*"), deny("s3:GetObject", "arn:aws:s3:::b/secret/*"))
    out = iam.simulate_principal_policy(PolicySourceArn=user.arn, ActionNames=["s3:GetObject", "s3:PutObject"],
                                        ResourceArns=["arn:aws:s3:::b/k", "arn:aws:s3:::b/secret/k"])
    got = {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in out["EvaluationResults"]}
    assert got == {("s3:GetObject", "arn:aws:s3:::b/k"): "allowed",
                   ("s3:GetObject", "arn:aws:s3:::b/secret/k"): "explicitDeny",
                   ("s3:PutObject", "arn:aws:s3:::b/k"): "implicitDeny",
                   ("s3:PutObject", "arn:aws:s3:::b/secret/k"): "implicitDeny"}


def test_trust_policy_must_name_existing_principals(iam: Any) -> None:
    ghost = f"arn:aws:iam::{ACCOUNT_ID}:user/{uname('ghost')}"
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName=uname("tr"), AssumeRolePolicyDocument=doc({
            "Effect": "Allow", "Principal": {"AWS": ghost}, "Action": "sts:AssumeRole"}))
    assert code(exc) == "MalformedPolicyDocument"
    assert exc.value.response["Error"]["Message"] == f'Invalid principal in policy: "AWS":"{ghost}"'


def test_iam_actions_act_on_the_entity_arn(iam: Any, east: Any) -> None:
    from conftest import make_user
    role = uname("scoped")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_S3)["Role"]["Arn"]
    pol = iam.create_policy(PolicyName=uname("scoped-p"), PolicyDocument=doc(allow("s3:GetObject")))["Policy"]["Arn"]
    admin = make_user(iam, allow(["iam:AttachRolePolicy", "iam:DetachRolePolicy"], arn))
    client = admin.client(east, "iam")
    client.attach_role_policy(RoleName=role, PolicyArn=pol)
    client.detach_role_policy(RoleName=role, PolicyArn=pol)
    other = iam.create_role(RoleName=uname("other"), AssumeRolePolicyDocument=TRUST_S3)["Role"]["RoleName"]
    with pytest.raises(ClientError) as exc:
        client.attach_role_policy(RoleName=other, PolicyArn=pol)
    assert code(exc) == "AccessDenied"


def test_account_authorization_details(iam: Any) -> None:
    role = uname("gaad")
    pdoc = doc(allow("s3:GetObject"))
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_S3)
    iam.put_role_policy(RoleName=role, PolicyName="inline", PolicyDocument=pdoc)
    iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    out = iam.get_account_authorization_details(Filter=["Role", "AWSManagedPolicy"])
    mine = [r for r in out["RoleDetailList"] if r["RoleName"] == role][0]
    assert mine["AssumeRolePolicyDocument"] == json.loads(TRUST_S3)
    assert mine["RolePolicyList"] == [{"PolicyName": "inline", "PolicyDocument": json.loads(pdoc)}]
    assert mine["AttachedManagedPolicies"][0]["PolicyName"] == "AmazonS3ReadOnlyAccess"
    assert out["UserDetailList"] == []
    assert any(p["PolicyName"] == "AmazonS3ReadOnlyAccess" and p["PolicyVersionList"][0]["Document"]["Statement"]
               for p in out["Policies"])
    iam.detach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")


def test_raw_query_requests_missing_required_members(east: Any) -> None:
    """What boto3 would refuse client-side, sent raw: AWS's ValidationError, nothing created."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    name = uname("raw")
    body = f"Action=CreateRole&Version=2010-05-08&RoleName={name}".encode()
    req = AWSRequest(method="POST", url=east.endpoint + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "iam", "us-east-1").add_auth(req)
    raw = urllib.request.Request(req.url, data=body, headers=dict(req.headers.items()), method="POST")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(raw)
    assert exc.value.code == 400
    text = exc.value.read().decode()
    assert "<Code>ValidationError</Code>" in text and "assumeRolePolicyDocument" in text
    assert name not in [r["RoleName"] for r in east.client("iam").list_roles()["Roles"]]


def test_concurrent_creates_through_both_regions(east: Any, west: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor
    names = [uname("race") for _ in range(5)]

    def create(args: tuple[Any, str]) -> str:
        region, name = args
        try:
            region.client("iam").create_user(UserName=name)
            return "created"
        except ClientError as e:
            return str(e.response["Error"]["Code"])
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(create, [(r, n) for n in names for r in (east, west)]))
    for i in range(len(names)):
        assert sorted(results[2 * i: 2 * i + 2]) == ["EntityAlreadyExists", "created"]


def test_every_operation_answers_aws_errors_for_nonsense(east: Any) -> None:
    """Each implemented IAM operation, called with its required members set to values naming nothing that
    exists: an AWS error (never InternalFailure)."""
    import botocore.session

    from twinstore.iam.service import OPS
    model = botocore.session.get_session().get_service_model("iam")
    client = east.client("iam")

    def dummy(shape: Any) -> Any:
        if shape.type_name == "string":
            if "arn" in shape.name.lower():
                return f"arn:aws:iam::{ACCOUNT_ID}:policy/zz-nonexistent"
            if shape.enum:
                return shape.enum[0]
            if "policyDocument" in shape.name:
                return doc(allow("s3:GetObject"))
            value = "zz-nonexistent"
            return value.ljust(int(shape.metadata.get("min", 0)), "z")
        if shape.type_name == "list":
            return [dummy(shape.member)]
        if shape.type_name == "structure":
            return {k: dummy(v) for k, v in shape.members.items() if k in shape.required_members}
        if shape.type_name in ("integer", "long"):
            return int(shape.metadata.get("min", 1))
        if shape.type_name == "boolean":
            return False
        return None
    for name in sorted(OPS):
        op = model.operation_model(name)
        params = {k: dummy(v) for k, v in op.input_shape.members.items()
                  if k in op.input_shape.required_members} if op.input_shape else {}
        method = getattr(client, __import__("botocore").xform_name(name))
        try:
            method(**params)
        except ClientError as e:
            assert e.response["Error"]["Code"] != "InternalFailure", name
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] < 500, name
