"""The trail lifecycle with the real AWS CLI (`aws cloudtrail ...`), as the lab's users run it."""

from __future__ import annotations

import json
from typing import Any

from audit.helpers import logging_bucket, trail_records, wait_for
from harness import ACCOUNT_ID, create_bucket, unique_bucket


def test_trail_lifecycle_with_aws_cli(s3: Any, east: Any) -> None:
    logs = logging_bucket(s3, "us-east-2", prefix="ct")
    bucket = create_bucket(s3, "us-east-2")
    name = unique_bucket("trail")
    out = json.loads(east.aws("cloudtrail", "create-trail", "--name", name, "--s3-bucket-name", logs,
                              "--s3-key-prefix", "ct", "--no-include-global-service-events").stdout)
    assert out["TrailARN"] == f"arn:aws:cloudtrail:us-east-2:{ACCOUNT_ID}:trail/{name}"
    assert out["S3KeyPrefix"] == "ct" and out["IncludeGlobalServiceEvents"] is False
    selectors = json.dumps([{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": False, "DataResources": [
        {"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket}/"]}]}])
    east.aws("cloudtrail", "put-event-selectors", "--trail-name", name, "--event-selectors", selectors)
    got = json.loads(east.aws("cloudtrail", "get-event-selectors", "--trail-name", name).stdout)
    assert got["EventSelectors"][0]["DataResources"] == [{"Type": "AWS::S3::Object",
                                                         "Values": [f"arn:aws:s3:::{bucket}/"]}]
    assert got["EventSelectors"][0]["ReadWriteType"] == "WriteOnly"
    east.aws("cloudtrail", "start-logging", "--name", name)
    east.aws("s3", "cp", "-", f"s3://{bucket}/from-cli.txt", input=b"hello")
    rec, = wait_for(lambda: [r for r in trail_records(s3, logs, prefix=f"ct/AWSLogs/{ACCOUNT_ID}/CloudTrail/")
                             if r["requestParameters"].get("key") == "from-cli.txt"])
    assert rec["userAgent"].startswith("[aws-cli/")
    desc = json.loads(east.aws("cloudtrail", "describe-trails", "--trail-name-list", name).stdout)["trailList"]
    assert desc[0]["HasCustomEventSelectors"] is True and desc[0]["S3BucketName"] == logs
    status = json.loads(east.aws("cloudtrail", "get-trail-status", "--name", name).stdout)
    assert status["IsLogging"] is True and "LatestDeliveryTime" in status
    east.aws("cloudtrail", "stop-logging", "--name", name)
    assert json.loads(east.aws("cloudtrail", "get-trail-status", "--name", name).stdout)["IsLogging"] is False
    east.aws("cloudtrail", "delete-trail", "--name", name)
    res = east.aws("cloudtrail", "get-trail", "--name", name, check=False)
    assert res.returncode != 0 and "TrailNotFoundException" in res.stderr

