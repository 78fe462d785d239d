"""A trail with CloudWatchLogsLogGroupArn + CloudWatchLogsRoleArn puts one log event per record into stream
`<account>_CloudTrail_<region>`; the lab's Logs Insights query then tells the writers apart."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from typing import Any

import pytest
from audit.helpers import logging_bucket, wait_for
from harness import ACCOUNT_ID, LAB_QUERY, create_bucket, unique_bucket



def _role(iam: Any, group: str, trusted: str = "cloudtrail.amazonaws.com") -> str:
    """The lab's CloudTrailWriteToLogGroupRole."""
    name = "ct-logs-" + uuid.uuid4().hex[:8]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": trusted},
                                                     "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="write-logs", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogStream",
                                                                             "logs:PutLogEvents"],
                                                "Resource": f"arn:aws:logs:us-east-2:{ACCOUNT_ID}:log-group:{group}"
                                                            f":log-stream:*"}]}))
    return str(arn)


def _create_trail_when_role_visible(ct: Any, **kw: Any) -> dict[str, Any]:
    def attempt() -> dict[str, Any] | None:
        try:
            return dict(ct.create_trail(**kw))
        except ct.exceptions.InvalidCloudWatchLogsRoleArnException:
            return None  # IAM state not yet visible in this region
    return wait_for(attempt, timeout=15)


@pytest.fixture()
def clients(east: Any) -> tuple[Any, Any, Any]:
    return east.client("cloudtrail"), east.client("logs"), east.client("iam")


def test_records_reach_the_log_group(s3: Any, clients: tuple[Any, Any, Any]) -> None:
    ct, logs, iam = clients
    group = f"CloudTrail/logs/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    group_arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"]
    assert group_arn.endswith(":*")
    bucket = create_bucket(s3, "us-east-2")
    name = unique_bucket("trail")
    _create_trail_when_role_visible(ct, Name=name, S3BucketName=logging_bucket(s3, "us-east-2"),
                                    CloudWatchLogsLogGroupArn=group_arn, CloudWatchLogsRoleArn=_role(iam, group))
    ct.put_event_selectors(TrailName=name, EventSelectors=[{
        "ReadWriteType": "WriteOnly", "IncludeManagementEvents": False,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket}/"]}]}])
    ct.start_logging(Name=name)
    for k in ("one", "two", "three"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"1")
    s3.get_object(Bucket=bucket, Key="one")["Body"].read()  # not selected (WriteOnly)
    stream = f"{ACCOUNT_ID}_CloudTrail_us-east-2"

    def three() -> list[dict[str, Any]] | None:
        try:
            ev = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        return ev if len(ev) >= 3 else None
    events = wait_for(three)
    assert len(events) == 3
    records = [json.loads(e["message"]) for e in events]
    assert sorted(r["requestParameters"]["key"] for r in records) == ["one", "three", "two"]
    for e, r in zip(events, records):
        assert "Records" not in r and r["eventName"] == "PutObject"
        t = datetime.datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        assert e["timestamp"] == int(t.timestamp()) * 1000
    status = ct.get_trail_status(Name=name)
    assert "LatestCloudWatchLogsDeliveryTime" in status and "LatestCloudWatchLogsDeliveryError" not in status

    now = int(time.time())
    qid = logs.start_query(logGroupName=group, startTime=now - 3600, endTime=now + 60, queryString=LAB_QUERY)["queryId"]
    res = wait_for(lambda: (r := logs.get_query_results(queryId=qid))["status"] == "Complete" and r)
    rows = [{f["field"]: f["value"] for f in row} for row in res["results"]]
    assert sorted(r["key"] for r in rows) == ["one", "three", "two"]
    assert all(r["bucket"] == bucket and r["arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root" and "invokedBy" not in r
               for r in rows)


def test_log_group_and_role_validation(s3: Any, clients: tuple[Any, Any, Any]) -> None:
    ct, logs, iam = clients
    logs_bucket = logging_bucket(s3, "us-east-2")
    group = f"CloudTrail/logs/{uuid.uuid4().hex[:8]}"
    group_arn = f"arn:aws:logs:us-east-2:{ACCOUNT_ID}:log-group:{group}:*"
    untrusted = _role(iam, group, trusted="ec2.amazonaws.com")  # CloudTrail may not assume it
    role = _role(iam, group)
    with pytest.raises(ct.exceptions.InvalidCloudWatchLogsLogGroupArnException):
        ct.create_trail(Name=unique_bucket("trail"), S3BucketName=logs_bucket, CloudWatchLogsLogGroupArn=group_arn,
                        CloudWatchLogsRoleArn=role)
    logs.create_log_group(logGroupName=group)
    with pytest.raises(ct.exceptions.InvalidCloudWatchLogsLogGroupArnException):
        ct.create_trail(Name=unique_bucket("trail"), S3BucketName=logs_bucket, CloudWatchLogsLogGroupArn="nope",
                        CloudWatchLogsRoleArn=role)
    _create_trail_when_role_visible(ct, Name=unique_bucket("trail"), S3BucketName=logs_bucket,
                                    CloudWatchLogsLogGroupArn=group_arn, CloudWatchLogsRoleArn=role)
    # the untrusted role was created first, so it is visible now too: refused for its trust policy alone
    with pytest.raises(ct.exceptions.InvalidCloudWatchLogsRoleArnException):
        ct.create_trail(Name=unique_bucket("trail"), S3BucketName=logs_bucket, CloudWatchLogsLogGroupArn=group_arn,
                        CloudWatchLogsRoleArn=untrusted)


def test_iam_user_needs_pass_role_for_the_log_group_role(s3: Any, east: Any,
                                                         clients: tuple[Any, Any, Any]) -> None:
    import boto3
    from botocore.exceptions import ClientError
    ct, logs, iam = clients
    logs_bucket = logging_bucket(s3, "us-east-2")
    group = f"CloudTrail/logs/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    group_arn = f"arn:aws:logs:us-east-2:{ACCOUNT_ID}:log-group:{group}:*"
    role = _role(iam, group)
    user = "trail-admin-" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="ct", PolicyDocument=json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    uct = boto3.client("cloudtrail", endpoint_url=east.endpoint, region_name="us-east-2",
                       aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])

    def attempt() -> str | None:
        try:
            uct.create_trail(Name=unique_bucket("trail"), S3BucketName=logs_bucket, CloudWatchLogsLogGroupArn=group_arn,
                             CloudWatchLogsRoleArn=role)
            return "created"
        except ClientError as e:
            code = e.response["Error"]["Code"]
            if code == "AccessDeniedException" and "iam:PassRole" in e.response["Error"]["Message"]:
                return "denied"
            return None  # user, key or role not yet visible
    assert wait_for(attempt, timeout=15) == "denied"
    iam.put_user_policy(UserName=user, PolicyName="pass", PolicyDocument=json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": role}]}))
    assert wait_for(lambda: attempt() == "created" or None, timeout=15)
