"""Event history (LookupEvents: management events only) and secrets that never reach a record."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

import pytest
from audit.helpers import logging_bucket, records_for
from harness import ACCOUNT_ID, SECRET_KEY, create_bucket, unique_bucket


def test_lookup_events_has_management_events_only(s3: Any, east: Any) -> None:
    ct = east.client("cloudtrail")
    bucket = create_bucket(s3, "us-east-2")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="data-event", Body=b"1")
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": bucket}],
                              MaxResults=50)["Events"]
    names = [e["EventName"] for e in events]
    assert names[:2] == ["PutBucketVersioning", "CreateBucket"]  # newest first
    assert "PutObject" not in names
    ev = events[0]
    assert ev["EventSource"] == "s3.amazonaws.com" and ev["ReadOnly"] == "false" and ev["Username"] == "root"
    assert {"ResourceType": "AWS::S3::Bucket", "ResourceName": bucket} in ev["Resources"]
    full = json.loads(ev["CloudTrailEvent"])
    assert full["eventCategory"] == "Management" and full["managementEvent"] is True
    assert full["requestParameters"]["bucketName"] == bucket and full["requestParameters"]["versioning"] == ""
    by_name = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateBucket"}],
                               MaxResults=5)["Events"]
    assert by_name and all(e["EventName"] == "CreateBucket" for e in by_name)
    page1 = ct.lookup_events(MaxResults=1)
    page2 = ct.lookup_events(MaxResults=1, NextToken=page1["NextToken"])
    assert page1["Events"][0]["EventId"] != page2["Events"][0]["EventId"]
    with pytest.raises(ct.exceptions.InvalidLookupAttributesException):
        ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "a"},
                                           {"AttributeKey": "Username", "AttributeValue": "b"}])


def test_cloudtrail_calls_are_recorded_with_errors(east: Any) -> None:
    ct = east.client("cloudtrail")
    missing = unique_bucket("trail")
    with pytest.raises(ct.exceptions.TrailNotFoundException):
        ct.get_trail_status(Name=missing)
    ev = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "GetTrailStatus"}],
                          MaxResults=1)["Events"][0]
    rec = json.loads(ev["CloudTrailEvent"])
    assert rec["eventSource"] == "cloudtrail.amazonaws.com" and rec["errorCode"] == "TrailNotFoundException"
    assert rec["requestParameters"] == {"name": missing} and rec["responseElements"] is None
    assert rec["readOnly"] is True and rec["userIdentity"]["type"] == "Root"


def test_secrets_and_sse_c_keys_never_in_records(s3: Any, east: Any) -> None:
    ct = east.client("cloudtrail")
    logs = logging_bucket(s3, "us-east-2")
    bucket = create_bucket(s3, "us-east-2")
    name = unique_bucket("trail")
    ct.create_trail(Name=name, S3BucketName=logs)
    ct.put_event_selectors(TrailName=name, EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True,
                                                            "DataResources": [{"Type": "AWS::S3::Object",
                                                                               "Values": [f"arn:aws:s3:::{bucket}/"]}]}])
    ct.start_logging(Name=name)
    key = os.urandom(32)
    s3.put_object(Bucket=bucket, Key="ssec", Body=b"secret data", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    s3.get_object(Bucket=bucket, Key="ssec", SSECustomerAlgorithm="AES256", SSECustomerKey=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key="marker", Body=b"1")
    records_for(s3, logs, lambda r: r["requestParameters"].get("key") == "marker")
    recs = records_for(s3, logs, lambda r: r["requestParameters"].get("key") == "ssec", count=2)
    put = next(r for r in recs if r["eventName"] == "PutObject")
    assert put["requestParameters"]["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    text = json.dumps(recs)
    for secret in (base64.b64encode(key).decode(), base64.b64encode(hashlib.md5(key).digest()).decode(),
                   SECRET_KEY):
        assert secret not in text
    assert "authorization" not in text.lower() and "Signature=" not in text
    audit_db = os.path.join(east.data_dir, "regions", "us-east-2", "audit.db")
    for path in (audit_db, audit_db + "-wal"):
        if os.path.exists(path):
            with open(path, "rb") as f:
                raw = f.read()
            assert base64.b64encode(key) not in raw and SECRET_KEY.encode() not in raw
    assert recs[0]["recipientAccountId"] == ACCOUNT_ID


def test_iam_and_sts_secrets_hidden_in_records(east: Any) -> None:
    import uuid
    iam, ct = east.client("iam"), east.client("cloudtrail")
    user = "secret-keeper-" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    events = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateAccessKey"}],
                              MaxResults=50)["Events"]
    mine = [json.loads(e["CloudTrailEvent"]) for e in events if user in e["CloudTrailEvent"]]
    assert len(mine) == 1
    rec = mine[0]
    assert rec["eventSource"] == "iam.amazonaws.com" and rec["requestParameters"] == {"userName": user}
    assert rec["responseElements"]["accessKey"]["accessKeyId"] == key["AccessKeyId"]
    assert rec["responseElements"]["accessKey"]["secretAccessKey"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert key["SecretAccessKey"] not in json.dumps(mine)
