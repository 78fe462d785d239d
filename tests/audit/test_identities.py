"""Golden userIdentity of PutObject records made by an IAM user and by an assumed-role session."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from audit.helpers import logging_bucket, records_for, wait_for
from botocore.exceptions import ClientError
from harness import ACCOUNT_ID, create_bucket, unique_bucket

S3_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


def _client(east: Any, service: str, key: str, secret: str, token: str | None = None) -> Any:
    return boto3.client(service, endpoint_url=east.endpoint, region_name="us-east-2", aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token)


def _trail(s3: Any, east: Any, bucket: str) -> str:
    ct = east.client("cloudtrail")
    logs = logging_bucket(s3, "us-east-2")
    name = unique_bucket("trail")
    ct.create_trail(Name=name, S3BucketName=logs)
    ct.put_event_selectors(TrailName=name, EventSelectors=[{
        "ReadWriteType": "WriteOnly", "IncludeManagementEvents": False,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket}/"]}]}])
    ct.start_logging(Name=name)
    return logs


def _put_when_usable(client: Any, bucket: str, key: str) -> dict[str, Any]:
    def attempt() -> dict[str, Any] | None:
        try:
            return dict(client.put_object(Bucket=bucket, Key=key, Body=b"data"))
        except ClientError as e:
            if e.response["Error"]["Code"] in ("InvalidAccessKeyId", "AccessDenied", "InvalidToken"):
                return None  # new IAM state not yet visible to this region
            raise
    return wait_for(attempt, timeout=15)


@pytest.fixture()
def iam(east: Any) -> Any:
    return east.client("iam")


def test_put_object_by_iam_user(s3: Any, east: Any, iam: Any) -> None:
    bucket = create_bucket(s3, "us-east-2")
    logs = _trail(s3, east, bucket)
    name = "alice-" + uuid.uuid4().hex[:8]
    user = iam.create_user(UserName=name)["User"]
    iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=S3_ALL)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    alice = _client(east, "s3", key["AccessKeyId"], key["SecretAccessKey"])
    _put_when_usable(alice, bucket, "by-alice")
    rec, = records_for(s3, logs, lambda r: r["requestParameters"].get("key") == "by-alice")
    assert rec["userIdentity"] == {"type": "IAMUser", "principalId": user["UserId"], "arn": user["Arn"],
                                   "accountId": ACCOUNT_ID, "accessKeyId": key["AccessKeyId"], "userName": name}
    assert rec["sourceIPAddress"] == "127.0.0.1" and "invokedBy" not in rec["userIdentity"]
    assert key["SecretAccessKey"] not in json.dumps(rec)


def test_put_object_by_assumed_role(s3: Any, east: Any, iam: Any) -> None:
    bucket = create_bucket(s3, "us-east-2")
    logs = _trail(s3, east, bucket)
    role_name = "writer-" + uuid.uuid4().hex[:8]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}]})
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(RoleName=role_name, PolicyName="s3", PolicyDocument=S3_ALL)
    user = "assumer-" + uuid.uuid4().hex[:8]  # roles may not be assumed by the root account
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="assume", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Resource": role["Arn"]}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    sts = _client(east, "sts", key["AccessKeyId"], key["SecretAccessKey"])

    def assume() -> dict[str, Any] | None:
        try:
            return dict(sts.assume_role(RoleArn=role["Arn"], RoleSessionName="nightly-job")["Credentials"])
        except ClientError as e:
            if e.response["Error"]["Code"] in ("InvalidClientTokenId", "AccessDenied"):
                return None
            raise
    creds = wait_for(assume, timeout=15)
    session = _client(east, "s3", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    _put_when_usable(session, bucket, "by-role")
    rec, = records_for(s3, logs, lambda r: r["requestParameters"].get("key") == "by-role")
    ui = rec["userIdentity"]
    assert ui["type"] == "AssumedRole"
    assert ui["principalId"] == f"{role['RoleId']}:nightly-job"
    assert ui["arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_name}/nightly-job"
    assert ui["accountId"] == ACCOUNT_ID and ui["accessKeyId"] == creds["AccessKeyId"]
    assert ui["sessionContext"]["sessionIssuer"] == {"type": "Role", "principalId": role["RoleId"],
                                                     "arn": role["Arn"], "accountId": ACCOUNT_ID,
                                                     "userName": role_name}
    assert ui["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"
    assert "invokedBy" not in ui and rec["sourceIPAddress"] == "127.0.0.1"
    text = json.dumps(rec)
    assert creds["SessionToken"] not in text and creds["SecretAccessKey"] not in text
