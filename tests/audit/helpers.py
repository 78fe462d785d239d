"""Shared steps of the audit tests: a logging bucket with the lab's CloudTrail policy, trails, waiting for
deliveries (polling with a deadline; no timing is asserted)."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any, Callable, TypeVar

from harness import ACCOUNT_ID, create_bucket

T = TypeVar("T")


def cloudtrail_policy(bucket: str, prefix: str = "") -> str:
    """The reference setup's logging-bucket policy (s3_bucket.yaml CloudTrailWriteToS3Policy)."""
    path = f"{prefix.strip('/')}/AWSLogs" if prefix.strip("/") else "AWSLogs"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/{path}/{ACCOUNT_ID}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}]})


def logging_bucket(s3: Any, region: str, prefix: str = "") -> str:
    name = create_bucket(s3, region)
    s3.put_bucket_policy(Bucket=name, Policy=cloudtrail_policy(name, prefix))
    return name


def wait_for(fn: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(interval)


def trail_records(s3: Any, bucket: str, prefix: str = "AWSLogs/") -> list[dict[str, Any]]:
    """Every record of every delivered CloudTrail file in `bucket` (gunzipped, parsed)."""
    out: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            out.extend(json.loads(gzip.decompress(body))["Records"])
    return out


def records_for(s3: Any, log_bucket: str, pred: Callable[[dict[str, Any]], bool], count: int = 1,
                timeout: float = 20.0) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]] | None:
        recs = [r for r in trail_records(s3, log_bucket) if pred(r)]
        return recs if len(recs) >= count else None
    return wait_for(found, timeout)
