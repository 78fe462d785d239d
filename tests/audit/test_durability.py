"""Accepted audit records survive kill -9 of the region, before and during delivery."""

from __future__ import annotations

import collections
import shutil
from typing import Any, Iterator

import pytest
from audit.helpers import logging_bucket, trail_records, wait_for
from harness import Deployment, RegionProcess, create_bucket, unique_bucket


@pytest.fixture()
def lone_region(monkeypatch: pytest.MonkeyPatch) -> Iterator[RegionProcess]:
    monkeypatch.setenv("TWINSTORE_AUDIT_DELIVERY_SECONDS", "3600")  # nothing is delivered until restarted
    dep = Deployment(regions=("us-east-2",)).start()
    yield dep["us-east-2"]
    dep.stop()
    shutil.rmtree(dep.data_dir, ignore_errors=True)


def _trail(ct: Any, bucket: str, logs: str) -> None:
    name = unique_bucket("trail")
    ct.create_trail(Name=name, S3BucketName=logs)
    ct.put_event_selectors(TrailName=name, EventSelectors=[{
        "ReadWriteType": "WriteOnly", "IncludeManagementEvents": False,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket}/"]}]}])
    ct.start_logging(Name=name)


def test_kill9_before_and_during_delivery_loses_nothing(lone_region: RegionProcess,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    s3, ct = lone_region.client(), lone_region.client("cloudtrail")
    logs = logging_bucket(s3, "us-east-2")
    bucket = create_bucket(s3, "us-east-2")
    _trail(ct, bucket, logs)
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
