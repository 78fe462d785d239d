"""IAM decides CloudWatch Logs calls of non-root users on the log group / log stream ARN, as AWS does."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError


def test_logs_calls_are_authorized_by_iam(east: Any) -> None:
    iam = east.client("iam")
    name = f"logsuser-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    prefix = f"allowed-{uuid.uuid4().hex[:6]}"
    arn = f"arn:aws:logs:us-east-2:123456789012:log-group:{prefix}"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:DescribeLogStreams"], "Resource": f"{arn}*"},
        # the lab's CloudTrail role policy shape: stream-level actions on ...:log-stream:*
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": f"{arn}/app:log-stream:*"}]}
    iam.put_user_policy(UserName=name, PolicyName="logs", PolicyDocument=json.dumps(policy))
    user = east.client("logs", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    deadline = time.monotonic() + 10
    while True:  # the new key may take a moment to be known to the region
        try:
            user.create_log_group(logGroupName=f"{prefix}/app")
            break
        except ClientError as e:
            if e.response["Error"]["Code"] != "UnrecognizedClientException" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    user.create_log_stream(logGroupName=f"{prefix}/app", logStreamName="s")
    user.put_log_events(logGroupName=f"{prefix}/app", logStreamName="s",
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": "hello"}])
    assert [s["logStreamName"] for s in user.describe_log_streams(logGroupName=f"{prefix}/app")["logStreams"]] == ["s"]
    with pytest.raises(ClientError) as e:
        user.create_log_group(logGroupName=f"denied-{prefix}")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:  # not allowed to read events
        user.get_log_events(logGroupName=f"{prefix}/app", logStreamName="s")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert f"{arn}/app:log-stream:s" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        user.delete_log_group(logGroupName=f"{prefix}/app")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    root = east.client("logs")
    assert [g["logGroupName"] for g in root.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]] == [
        f"{prefix}/app"]
