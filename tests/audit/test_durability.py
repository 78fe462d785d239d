"""Accepted audit records survive kill -9 of the region, before and during delivery."""

from __future__ import annotations

import collections
import json
import shutil
from typing import Any, Iterator

import pytest
from audit.helpers import logging_bucket, trail_records, wait_for
from harness import ACCOUNT_ID, Deployment, RegionProcess, create_bucket, unique_bucket


@pytest.fixture()
def lone_region(monkeypatch: pytest.MonkeyPatch) -> Iterator[RegionProcess]:
    monkeypatch.setenv("TWINSTORE_AUDIT_DELIVERY_SECONDS", "3600")  # nothing is delivered until restarted
    dep = Deployment(regions=("us-east-2",)).start()
    yield dep["us-east-2"]
    dep.stop()
    shutil.rmtree(dep.data_dir, ignore_errors=True)


def _trail(ct: Any, bucket: str, logs: str, **kw: Any) -> None:
    name = unique_bucket("trail")
    wait_for(lambda: _created(ct, Name=name, S3BucketName=logs, **kw), timeout=15)
    ct.put_event_selectors(TrailName=name, EventSelectors=[{
        "ReadWriteType": "WriteOnly", "IncludeManagementEvents": False,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket}/"]}]}])
    ct.start_logging(Name=name)


def _created(ct: Any, **kw: Any) -> bool:
    try:
        ct.create_trail(**kw)
    except ct.exceptions.InvalidCloudWatchLogsRoleArnException:
        return False  # the new role is not yet visible
    return True


def test_kill9_before_and_during_delivery_loses_nothing(lone_region: RegionProcess,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    s3, ct = lone_region.client(), lone_region.client("cloudtrail")
    cwl, iam = lone_region.client("logs"), lone_region.client("iam")
    logs = logging_bucket(s3, "us-east-2")
    bucket = create_bucket(s3, "us-east-2")
    group = "CloudTrail/logs/durability"
    cwl.create_log_group(logGroupName=group)
    role = iam.create_role(RoleName="ct-logs", AssumeRolePolicyDocument=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="ct-logs", PolicyName="w", PolicyDocument=json.dumps({"Statement": [{
        "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]}))
    _trail(ct, bucket, logs, CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-2:{ACCOUNT_ID}:log-group:{group}:*",
           CloudWatchLogsRoleArn=role["Role"]["Arn"])
    keys = [f"obj-{i:04d}" for i in range(300)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    ct.lookup_events(MaxResults=1)  # returns once every earlier call's record is committed (accepted)
    lone_region.kill9()

    # restart with prompt delivery; kill again as soon as the first file lands (mid-delivery or just after)
    monkeypatch.setenv("TWINSTORE_AUDIT_DELIVERY_SECONDS", "0.2")
    lone_region.start()
    wait_for(lambda: s3.list_objects_v2(Bucket=logs).get("KeyCount", 0), interval=0.01)
    lone_region.kill9()
    lone_region.start()

    def all_there() -> list[dict[str, Any]] | None:
        recs = trail_records(s3, logs)
        return recs if {r["requestParameters"]["key"] for r in recs} >= set(keys) else None
    recs = wait_for(all_there, timeout=30)
    counts = collections.Counter(r["requestID"] for r in recs)
    assert max(counts.values()) == 1, "a retried delivery duplicated records"
    assert len(recs) == len(keys)

    def log_events() -> set[str] | None:  # CloudWatch Logs delivery is at least once: duplicates allowed
        found = set()
        token = None
        while True:
            kw = {"nextToken": token} if token else {}
            page = cwl.filter_log_events(logGroupName=group, **kw)
            found |= {json.loads(e["message"])["requestParameters"]["key"] for e in page["events"]}
            token = page.get("nextToken")
            if not token:
                break
        return found if found >= set(keys) else None
    wait_for(log_events, timeout=30)
