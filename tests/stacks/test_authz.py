"""IAM authorizes CloudFormation calls on the stack they name (`stack/<name>/*`), as on AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stackutil import deploy, unique


def test_iam_policy_scoped_to_one_stack(east: Any) -> None:
    cf, iam = east.client("cloudformation"), east.client("iam")
    mine = deploy(cf, "Resources:\n  B:\n    Type: AWS::S3::Bucket\n")
    other = deploy(cf, "Resources:\n  B:\n    Type: AWS::S3::Bucket\n")
    user = unique("cfuser")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="one-stack", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents"],
            "Resource": f"arn:aws:cloudformation:us-east-2:123456789012:stack/{mine['StackName']}/*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = east.client("cloudformation", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    assert as_user.describe_stacks(StackName=mine["StackName"])["Stacks"][0]["StackId"] == mine["StackId"]
    assert as_user.describe_stack_events(StackName=mine["StackName"])["StackEvents"]
    for call in (lambda: as_user.describe_stacks(StackName=other["StackName"]),
                 lambda: as_user.create_stack(StackName=unique(), TemplateBody="Resources:\n  B:\n"
                                                                              "    Type: AWS::S3::Bucket\n"),
                 lambda: as_user.delete_stack(StackName=mine["StackName"])):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert cf.describe_stacks(StackName=mine["StackName"])["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    for s in (mine, other):
        cf.delete_stack(StackName=s["StackId"])


def test_template_url_needs_read_access_to_the_object(east: Any, s3: Any) -> None:
    iam = east.client("iam")
    holder = unique("tpl")
    s3.create_bucket(Bucket=holder, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    body = "Resources:\n  B:\n    Type: AWS::S3::Bucket\n"
    s3.put_object(Bucket=holder, Key="ok.yaml", Body=body.encode())
    s3.put_object(Bucket=holder, Key="secret.yaml", Body=body.encode())
    user = unique("tpluser")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "cloudformation:ValidateTemplate", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{holder}/ok.yaml"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = east.client("cloudformation", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    url = f"https://{holder}.s3.us-east-2.amazonaws.com/"
    assert as_user.validate_template(TemplateURL=url + "ok.yaml")["Parameters"] == []
    with pytest.raises(ClientError) as e:
        as_user.validate_template(TemplateURL=url + "secret.yaml")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "to which you have access" in e.value.response["Error"]["Message"]
    # the bucket policy's explicit deny binds the user too
    s3.put_bucket_policy(Bucket=holder, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::123456789012:user/{user}"}, "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{holder}/*"}]}))
    with pytest.raises(ClientError):
        as_user.validate_template(TemplateURL=url + "ok.yaml")
