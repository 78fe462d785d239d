"""Stack providers act with the permissions of the principal that started the operation (as AWS
CloudFormation without a service role does), never with the root's: CreateStack is no privilege escalation."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from harness import Deployment
from stackutil import events, unique, wait_settled

ACCOUNT = "123456789012"


def _template(bucket: str, role: str) -> str:
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    return (f"Resources:\n"
            f"  Bucket:\n    Type: AWS::S3::Bucket\n    Properties: {{BucketName: {bucket}}}\n"
            f"  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: {role}\n"
            f"      AssumeRolePolicyDocument: {trust}\n")


def _user(iam: Any, region: Any, actions: list[str]) -> tuple[str, Any, Any]:
    """An IAM user allowed exactly `actions`; (name, its CloudFormation client, its access key)."""
    name = unique("cfn")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, region.client("cloudformation", access_key=key["AccessKeyId"],
                               secret_key=key["SecretAccessKey"]), key


def _create(cf: Any, body: str) -> str:
    return str(cf.create_stack(StackName=unique(), TemplateBody=body,
                               Capabilities=["CAPABILITY_NAMED_IAM"])["StackId"])


def _bucket_exists(s3: Any, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
        return True
    except ClientError:
        return False


def _role_exists(iam: Any, name: str) -> bool:
    try:
        iam.get_role(RoleName=name)
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchEntity"
        return False


def _reason(evs: list[tuple[str, str, str]], lid: str, status: str) -> str:
    return next(r for l_, s, r in evs if l_ == lid and s == status)


def test_caller_without_service_permissions_creates_nothing(east: Any, s3: Any) -> None:
    iam = east.client("iam")
    user, cf, _ = _user(iam, east, ["cloudformation:*"])
    bucket, role = unique("cfnb"), unique("cfnr")
    stack_id = _create(cf, _template(bucket, role))
    s = wait_settled(cf, stack_id)
    assert s["StackStatus"] == "ROLLBACK_COMPLETE", events(cf, stack_id)
    evs = events(cf, stack_id)
    arn = f"arn:aws:iam::{ACCOUNT}:user/{user}"
    bucket_reason = _reason(evs, "Bucket", "CREATE_FAILED")
    role_reason = _reason(evs, "Role", "CREATE_FAILED")
    assert f"User: {arn} is not authorized to perform: s3:CreateBucket" in bucket_reason, bucket_reason
    assert f"User: {arn} is not authorized to perform: iam:CreateRole on resource: " \
           f"arn:aws:iam::{ACCOUNT}:role/{role}" in role_reason, role_reason
    assert "HandlerErrorCode: AccessDenied" in role_reason
    assert not _bucket_exists(s3, bucket) and not _role_exists(iam, role)
    cf.delete_stack(StackName=stack_id)
    assert wait_settled(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"


def test_partial_permissions_roll_back_what_was_made(east: Any, s3: Any) -> None:
    iam = east.client("iam")
    user, cf, _ = _user(iam, east, ["cloudformation:*", "s3:*"])
    bucket, role = unique("cfnb"), unique("cfnr")
    stack_id = _create(cf, _template(bucket, role))
    s = wait_settled(cf, stack_id)
    assert s["StackStatus"] == "ROLLBACK_COMPLETE", events(cf, stack_id)
    evs = events(cf, stack_id)
    assert "is not authorized to perform: iam:CreateRole" in _reason(evs, "Role", "CREATE_FAILED")
    # the bucket was made as the user (it may have been cancelled after), then deleted by the rollback
    assert ("Bucket", "CREATE_IN_PROGRESS", "Resource creation Initiated") in evs, evs
    assert ("Bucket", "DELETE_COMPLETE", "") in evs, evs
    assert not _bucket_exists(s3, bucket) and not _role_exists(iam, role)


def test_caller_with_permissions_creates_and_deletes(east: Any, s3: Any) -> None:
    iam = east.client("iam")
    user, cf, _ = _user(iam, east, ["cloudformation:*", "s3:*", "iam:*"])
    bucket, role = unique("cfnb"), unique("cfnr")
    stack_id = _create(cf, _template(bucket, role))
    assert wait_settled(cf, stack_id)["StackStatus"] == "CREATE_COMPLETE", events(cf, stack_id)
    assert _bucket_exists(s3, bucket) and _role_exists(iam, role)
    # CloudTrail shows the user as the caller, invoked by CloudFormation
    ct = east.client("cloudtrail")
    deadline = time.monotonic() + 30
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        for e in ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateRole"}]
                                  )["Events"]:
            rec = json.loads(e["CloudTrailEvent"])
            if (rec.get("requestParameters") or {}).get("roleName") == role:
                found.append(rec)
        time.sleep(0.2)
    assert found, "no CreateRole record"
    ident = found[0]["userIdentity"]
    assert ident["type"] == "IAMUser" and ident["arn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}"
    assert ident["invokedBy"] == "cloudformation.amazonaws.com"
    assert found[0]["sourceIPAddress"] == "cloudformation.amazonaws.com"
    assert found[0]["userAgent"] == "cloudformation.amazonaws.com"
    cf.delete_stack(StackName=stack_id)
    assert wait_settled(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE", events(cf, stack_id)
    assert not _bucket_exists(s3, bucket) and not _role_exists(iam, role)


def test_delete_acts_as_the_deleting_caller(east: Any, s3: Any) -> None:
    """A stack the root made, deleted by a user who may not delete buckets: DELETE_FAILED, bucket kept."""
    iam = east.client("iam")
    bucket = unique("cfnb")
    root_cf = east.client("cloudformation")
    stack_id = root_cf.create_stack(StackName=unique(), TemplateBody=(
        f"Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties: {{BucketName: {bucket}}}\n"))["StackId"]
    assert wait_settled(root_cf, stack_id)["StackStatus"] == "CREATE_COMPLETE"
    _, cf, _ = _user(iam, east, ["cloudformation:*"])
    cf.delete_stack(StackName=stack_id)
    assert wait_settled(cf, stack_id)["StackStatus"] == "DELETE_FAILED"
    assert "is not authorized to perform: s3:DeleteBucket" in _reason(events(cf, stack_id), "Bucket",
                                                                      "DELETE_FAILED")
    assert _bucket_exists(s3, bucket)
    root_cf.delete_stack(StackName=stack_id)
    assert wait_settled(root_cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert not _bucket_exists(s3, bucket)


def test_resumed_operation_of_a_deleted_user_never_acts_as_root(own_deployment: Deployment) -> None:
    """The user that started a creation is deleted while its region is down: after the restart the rollback
    cannot act as that user (ROLLBACK_FAILED, with the reason) and nothing more is made or deleted."""
    east, west = own_deployment["us-east-2"], own_deployment["us-west-2"]
    iam = west.client("iam")
    user, cf, key = _user(iam, east, ["cloudformation:*", "s3:*"])
    prefix = unique("rz")
    body = "Resources:\n"
    for i in range(25):
        body += f"  B{i}:\n    Type: AWS::S3::Bucket\n    Properties: {{BucketName: {prefix}-{i}}}\n"
        body += f"    DependsOn: B{i - 1}\n" if i else ""
    stack_id = _create(cf, body)
    deadline = time.monotonic() + 60
    while sum(1 for e in events(cf, stack_id) if e[1] == "CREATE_COMPLETE") < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    east.kill9()
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName=user, PolicyName="p")
    iam.delete_user(UserName=user)
    east.start()
    root_cf = east.client("cloudformation")
    s = wait_settled(root_cf, stack_id)
    s3 = east.client()
    made = {b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(prefix)}
    if s["StackStatus"] == "CREATE_COMPLETE":  # raced to the end before the kill
        assert len(made) == 25
    else:
        assert s["StackStatus"] == "ROLLBACK_FAILED", events(root_cf, stack_id)
        assert made, "the buckets made before the restart were deleted: the rollback acted as someone else"
        reasons = [r for _, st, r in events(root_cf, stack_id) if st == "DELETE_FAILED"]
        assert reasons and all("no longer exists" in r for r in reasons), reasons
    # the root deletes it as itself
    root_cf.delete_stack(StackName=stack_id)
    assert wait_settled(root_cf, stack_id)["StackStatus"] == "DELETE_COMPLETE", events(root_cf, stack_id)
    assert not {b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(prefix)}


def test_called_via_cloudformation_condition(east: Any) -> None:
    """A user allowed IAM only through CloudFormation (aws:CalledVia) may not call IAM directly but its stacks
    may: the providers' calls carry the service that makes them."""
    iam = east.client("iam")
    name = unique("cfn")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"},
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*", "Condition": {
                "ForAnyValue:StringEquals": {"aws:CalledVia": "cloudformation.amazonaws.com"}}}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    creds = {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
    role = unique("cfnr")
    with pytest.raises(ClientError) as e:
        east.client("iam", **creds).create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}]}))
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    cf = east.client("cloudformation", **creds)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    stack_id = _create(cf, f"Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n"
                           f"      RoleName: {role}\n      AssumeRolePolicyDocument: {trust}\n")
    assert wait_settled(cf, stack_id)["StackStatus"] == "CREATE_COMPLETE", events(cf, stack_id)
    assert _role_exists(iam, role)
    cf.delete_stack(StackName=stack_id)
    assert wait_settled(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE", events(cf, stack_id)
    assert not _role_exists(iam, role)
