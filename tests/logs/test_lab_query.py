"""The reference lab's Logs Insights query, pasted verbatim, on lab-shaped CloudTrail records (east and west)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from harness import LAB_QUERY

from .conftest import rows, run_query

ACCOUNT = "123456789012"

# as pasted with the guide's indentation
LAB_QUERY_INDENTED = "\n".join("            " + line for line in LAB_QUERY.split("\n")) + "\n      \n"


def fmt(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_put(region: str, bucket: str, key: str, ms: int, identity: dict[str, Any], name: str = "PutObject",
             ip: str = "203.0.113.10") -> dict[str, Any]:
    return {
        "eventVersion": "1.09", "userIdentity": identity, "eventTime": iso(ms), "eventSource": "s3.amazonaws.com",
        "eventName": name, "awsRegion": region, "sourceIPAddress": ip,
        "userAgent": "[aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64 command/s3.cp]",
        "requestParameters": {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com", "key": key},
        "responseElements": {"x-amz-server-side-encryption": "AES256", "x-amz-version-id": uuid.uuid4().hex},
        "additionalEventData": {"SignatureVersion": "SigV4", "bytesTransferredIn": 48213,
                                "AuthenticationMethod": "AuthHeader", "bytesTransferredOut": 0},
        "requestID": uuid.uuid4().hex[:16].upper(), "eventID": str(uuid.uuid4()), "readOnly": False,
        "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                      {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        "eventType": "AwsApiCall", "managementEvent": False, "recipientAccountId": ACCOUNT, "eventCategory": "Data"}


def iam_user(name: str) -> dict[str, Any]:
    return {"type": "IAMUser", "principalId": "AIDAEXAMPLEUSER00001", "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "accountId": ACCOUNT, "accessKeyId": "AKIAEXAMPLEKEY000001", "userName": name}


def assumed(role: str, session: str, invoked_by: str | None = None) -> dict[str, Any]:
    ident: dict[str, Any] = {
        "type": "AssumedRole", "principalId": f"AROAEXAMPLEROLEID0001:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}", "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLETEMP00001",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID0001",
                                             "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "accountId": ACCOUNT,
                                             "userName": role},
                           "attributes": {"creationDate": "2025-03-10T14:05:40Z", "mfaAuthenticated": "false"}}}
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


def deliver(logs: Any, group: str, region: str, records: list[tuple[int, dict[str, Any]]]) -> None:
    """As CloudTrail does: one log event per record, stream <account>_CloudTrail_<region>."""
    logs.create_log_group(logGroupName=group)
    logs.put_retention_policy(logGroupName=group, retentionInDays=30)
    stream = f"{ACCOUNT}_CloudTrail_{region}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    for ms, rec in sorted(records, key=lambda r: r[0]):  # one delivery per record
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": ms, "message": json.dumps(rec)}])


@pytest.mark.parametrize("query", [LAB_QUERY, LAB_QUERY_INDENTED], ids=["verbatim", "indented"])
def test_lab_query_east(logs: Any, query: str) -> None:
    prefix = f"lab{uuid.uuid4().hex[:6]}"
    east_bucket, group = f"{prefix}-crrlab-us-east-2", f"CloudTrail/logs/{prefix}"
    repl_role = f"{prefix}-S3-Replication-Role-us-west-2"
    now = int(time.time()) * 1000
    t1, t2, t3 = now - 600_000, now - 480_000, now - 300_000
    deliver(logs, group, "us-east-2", [
        (t1, user_put("us-east-2", east_bucket, "TestObject_OhioRule1.png", t1, iam_user("alice"))),
        (t2, user_put("us-east-2", east_bucket, "TestObject_OhioAwsEast.png", t2,
                      assumed("WSParticipantRole", "Participant"))),
        (t3, user_put("us-east-2", east_bucket, "TestObject_OregonAwsWest.png", t3,
                      assumed(repl_role, "s3-replication", "AWS Internal"), ip="AWS Internal")),
        (now - 200_000, user_put("us-east-2", east_bucket, "TestObject_OhioRule1.png", now - 200_000,
                                 iam_user("alice"), name="DeleteObject")),
    ])
    res = run_query(logs, group, query)
    assert [[c["field"] for c in row] for row in res["results"]] == [
        ["@timestamp", "key", "bucket", "invokedBy", "arn", "UserName", "@ptr"],
        ["@timestamp", "key", "bucket", "arn", "UserName", "@ptr"],
        ["@timestamp", "key", "bucket", "arn", "@ptr"]]
    assert rows(res) == [
        {"@timestamp": fmt(t3), "key": "TestObject_OregonAwsWest.png", "bucket": east_bucket,
         "invokedBy": "AWS Internal", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{repl_role}/s3-replication",
         "UserName": repl_role},
        {"@timestamp": fmt(t2), "key": "TestObject_OhioAwsEast.png", "bucket": east_bucket,
         "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/WSParticipantRole/Participant", "UserName": "WSParticipantRole"},
        {"@timestamp": fmt(t1), "key": "TestObject_OhioRule1.png", "bucket": east_bucket,
         "arn": f"arn:aws:iam::{ACCOUNT}:user/alice"},
    ]


def test_lab_query_west_and_tuning_variant(west: Any) -> None:
    logs = west.client("logs")
    prefix = f"lab{uuid.uuid4().hex[:6]}"
    west_bucket, group = f"{prefix}-crrlab-us-west-2", f"CloudTrail/logs/{prefix}"
    east_role = f"{prefix}-S3-Replication-Role-us-east-2"
    now = int(time.time()) * 1000
    records = [
        (now - 900_000, user_put("us-west-2", west_bucket, "TestObject_OregonAwsWest.png", now - 900_000,
                                 iam_user("bob"))),
        (now - 700_000, user_put("us-west-2", west_bucket, "TestObject_OhioRule1.png", now - 700_000,
                                 assumed(east_role, "s3-replication", "AWS Internal"), ip="AWS Internal")),
        (now - 650_000, user_put("us-west-2", west_bucket, "TestObject_OhioAwsEast.png", now - 650_000,
                                 assumed(east_role, "s3-replication", "AWS Internal"), ip="AWS Internal")),
        # a write to another bucket that a broader trail would also record
        (now - 100_000, user_put("us-west-2", f"logging-{prefix}-us-west-2", "AWSLogs/x.json.gz", now - 100_000,
                                 iam_user("bob"))),
    ]
    deliver(logs, group, "us-west-2", records)
    res = rows(run_query(logs, group, LAB_QUERY))
    assert [r["key"] for r in res] == ["AWSLogs/x.json.gz", "TestObject_OhioAwsEast.png", "TestObject_OhioRule1.png",
                                       "TestObject_OregonAwsWest.png"]
    tuned = LAB_QUERY.replace("| filter eventName ='PutObject'",
                              "| filter eventName ='PutObject'\n| filter requestParameters.bucketName like'crrlab'")
    res = rows(run_query(logs, group, tuned))
    assert [(r["key"], r.get("invokedBy"), r.get("UserName")) for r in res] == [
        ("TestObject_OhioAwsEast.png", "AWS Internal", east_role),
        ("TestObject_OhioRule1.png", "AWS Internal", east_role),
        ("TestObject_OregonAwsWest.png", None, None)]
    assert all(r["bucket"] == west_bucket for r in res)
