"""The lab end to end: a trail per region selecting the lab bucket's S3 data events (WriteOnly), delivering to a
logging bucket and a log group; the lab's two replication rules and roles; an object put in each bucket. Writes
performed by replication are recorded in the DESTINATION region as the source bucket's role session, with
`invokedBy` and `sourceIPAddress` = "AWS Internal": for the batched path (small objects) and the single-request
path (large objects). The lab's Logs Insights query, pasted verbatim, tells the two kinds of writes apart, and the
trail files in the logging bucket hold the same records as the log group."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from audit.helpers import logging_bucket, trail_records, wait_for
from harness import ACCOUNT_ID, LAB_QUERY, create_bucket, unique_bucket
from replication_helpers import ROLE, replicate, rule_v2, wait_status


REGIONS = ("us-east-2", "us-west-2")
SMALL = b"small object, replicated in a batch"
LARGE = b"L" * (300 << 10)  # above the inline size: replicated by its own request
ROOT_ARN = f"arn:aws:iam::{ACCOUNT_ID}:root"


def _role_name(region: str) -> str:
    return ROLE.format(region=region).rsplit("/", 1)[1]


def _log_role(iam: Any, region: str, group: str) -> str:
    """The lab's CloudTrailWriteToLogGroupRole for one region."""
    name = "ct-logs-" + uuid.uuid4().hex[:8]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                     "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="write-logs", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{group}:log-stream:*"}]}))
    return str(arn)


def _lab_region(proc: Any, region: str) -> dict[str, Any]:
    """Lab bucket, logging bucket, log group and a logging trail selecting the lab bucket's write data events."""
    s3, ct, logs = proc.client(), proc.client("cloudtrail"), proc.client("logs")
    bucket = create_bucket(s3, region, versioned=True)
    logs_bucket = logging_bucket(s3, region)
    group = f"CloudTrail/logs/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    group_arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"]
    role = _log_role(proc.client("iam"), region, group)
    name = unique_bucket("trail")

    def create() -> dict[str, Any] | None:
        try:
            return dict(ct.create_trail(Name=name, S3BucketName=logs_bucket, CloudWatchLogsLogGroupArn=group_arn,
                                        CloudWatchLogsRoleArn=role))
        except ct.exceptions.InvalidCloudWatchLogsRoleArnException:
            return None  # the new role is not yet visible in this region
    wait_for(create, timeout=15)
    ct.put_event_selectors(TrailName=name, EventSelectors=[{
        "ReadWriteType": "WriteOnly", "IncludeManagementEvents": False,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket}/"]}]}])
    ct.start_logging(Name=name)
    return {"s3": s3, "logs": logs, "bucket": bucket, "logs_bucket": logs_bucket, "group": group}


def _log_events(logs: Any, group: str, region: str, count: int) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        try:
            ev = logs.get_log_events(logGroupName=group, logStreamName=f"{ACCOUNT_ID}_CloudTrail_{region}",
                                     startFromHead=True)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        return ev if len(ev) >= count else None
    return [json.loads(e["message"]) for e in wait_for(enough, timeout=30)]


def _lab_query(logs: Any, group: str) -> list[dict[str, str]]:
    now = int(time.time())
    qid = logs.start_query(logGroupName=group, startTime=now - 3600, endTime=now + 60,
                           queryString=LAB_QUERY)["queryId"]
    res = wait_for(lambda: (r := logs.get_query_results(queryId=qid))["status"] == "Complete" and r)
    return [{f["field"]: f["value"] for f in row} for row in res["results"]]


def test_replication_writes_are_recorded_as_aws_internal_in_the_destination(east: Any, west: Any) -> None:
    lab = {r: _lab_region(p, r) for r, p in zip(REGIONS, (east, west))}
    e, w = lab["us-east-2"], lab["us-west-2"]
    replicate(e["s3"], e["bucket"], "us-east-2", rule_v2(w["bucket"], "east to west"))
    replicate(w["s3"], w["bucket"], "us-west-2", rule_v2(e["bucket"], "west to east"))

    # east's object is small (batched to west), west's is large (its own request to east): both paths audited
    objects = {"us-east-2": ("TestObject_OhioAwsEast.txt", SMALL), "us-west-2": ("TestObject_OregonAwsWest.bin",
                                                                                 LARGE)}
    vids = {}
    for region, (key, body) in objects.items():
        vids[region] = lab[region]["s3"].put_object(Bucket=lab[region]["bucket"], Key=key, Body=body)["VersionId"]
    for region, (key, _) in objects.items():
        wait_status(lab[region]["s3"], lab[region]["bucket"], key, "COMPLETED")

    replication_records = {}
    for region, other, proc in (("us-east-2", "us-west-2", east), ("us-west-2", "us-east-2", west)):
        here = lab[region]
        own_key, replicated_key = objects[region][0], objects[other][0]
        role = _role_name(other)  # the SOURCE bucket's replication role wrote the replica here

        # the log group: one event per record; the lab's query returns the lab's rows
        events = _log_events(here["logs"], here["group"], region, 2)
        assert len(events) == 2 and {r["eventName"] for r in events} == {"PutObject"}
        rows = _lab_query(here["logs"], here["group"])
        assert len(rows) == 2
        assert [r["@timestamp"] for r in rows] == sorted((r["@timestamp"] for r in rows), reverse=True)
        by_key = {r["key"]: r for r in rows}
        user, repl = by_key[own_key], by_key[replicated_key]
        assert user["bucket"] == repl["bucket"] == here["bucket"]
        assert "invokedBy" not in user and user["arn"] == ROOT_ARN and "UserName" not in user
        assert repl["invokedBy"] == "AWS Internal"
        assert repl["arn"] == f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/s3-replication"  # reference §4.3
        assert repl["UserName"] == role
        assert all("@ptr" in r for r in rows)

        # the replication record, field by field (CloudTrail user guide; reference §4.3)
        rec = next(r for r in events if r["requestParameters"]["key"] == replicated_key)
        ui = rec["userIdentity"]
        assert ui["type"] == "AssumedRole" and ui["invokedBy"] == "AWS Internal" and ui["arn"] == repl["arn"]
        assert ui["accountId"] == ACCOUNT_ID and ui["accessKeyId"] and ui["principalId"].endswith(
            ":" + repl["arn"].rsplit("/", 1)[1])
        issuer = ui["sessionContext"]["sessionIssuer"]
        assert issuer == {"type": "Role", "principalId": ui["principalId"].split(":")[0],
                          "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{role}", "accountId": ACCOUNT_ID,
                          "userName": role}
        assert rec["sourceIPAddress"] == "AWS Internal" and rec["userAgent"] == "AWS Internal"
        assert rec["awsRegion"] == region and rec["eventSource"] == "s3.amazonaws.com"
        assert rec["eventCategory"] == "Data" and rec["managementEvent"] is False and rec["readOnly"] is False
        assert rec["requestParameters"] == {"bucketName": here["bucket"], "Host": urlparse(proc.endpoint).netloc,
                                            "key": replicated_key}
        # the replica keeps the source's version id and is stored SSE-S3 with this region's keys
        assert rec["responseElements"] == {"x-amz-server-side-encryption": "AES256",
                                           "x-amz-version-id": vids[other]}
        assert "SSEApplied" not in rec["additionalEventData"]  # the source's encryption, not a bucket default
        assert rec["additionalEventData"]["bytesTransferredIn"] == len(objects[other][1])
        assert rec["resources"] == [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{here['bucket']}/{replicated_key}"},
            {"accountId": ACCOUNT_ID, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{here['bucket']}"}]
        assert "errorCode" not in rec
        replication_records[region] = rec

        own = next(r for r in events if r["requestParameters"]["key"] == own_key)
        assert "invokedBy" not in own["userIdentity"] and own["sourceIPAddress"] == "127.0.0.1"
        assert own["userIdentity"]["arn"] == ROOT_ARN

        # the trail files in the logging bucket hold the same records
        def delivered() -> list[dict[str, Any]] | None:
            recs = [r for r in trail_records(here["s3"], here["logs_bucket"]) if r.get("eventName") == "PutObject"]
            return recs if len(recs) >= 2 else None
        files = wait_for(delivered, timeout=30)
        assert sorted(files, key=lambda r: r["eventID"]) == sorted(events, key=lambda r: r["eventID"])

    # the batched path (recorded in west) and the single-request path (recorded in east) give the same record
    batched, single = replication_records["us-west-2"], replication_records["us-east-2"]
    assert set(batched) == set(single) and set(batched["userIdentity"]) == set(single["userIdentity"])
    assert set(batched["requestParameters"]) == set(single["requestParameters"])
    assert set(batched["additionalEventData"]) == set(single["additionalEventData"])


def test_refused_replication_writes_are_recorded_alike_for_both_paths(east: Any, west: Any) -> None:
    """A destination bucket policy denying the role: the refused writes are audited in the destination as the
    role session's PutObject with AccessDenied, whether they came batched (small) or alone (large)."""
    s3e, s3w, ct = east.client(), west.client(), west.client("cloudtrail")
    eb = create_bucket(s3e, "us-east-2", versioned=True)
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    logs_bucket = logging_bucket(s3w, "us-west-2")
    name = unique_bucket("trail")
    ct.create_trail(Name=name, S3BucketName=logs_bucket)
    ct.put_event_selectors(TrailName=name, EventSelectors=[{
        "ReadWriteType": "WriteOnly", "IncludeManagementEvents": False,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{wb}/"]}]}])
    ct.start_logging(Name=name)
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "east to west"))
    role = _role_name("us-east-2")
    s3w.put_bucket_policy(Bucket=wb, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"},
        "Action": "s3:ReplicateObject", "Resource": f"arn:aws:s3:::{wb}/*"}]}))
    s3e.put_object(Bucket=eb, Key="small", Body=SMALL)
    s3e.put_object(Bucket=eb, Key="large", Body=LARGE)
    wait_status(s3e, eb, "small", "FAILED")
    wait_status(s3e, eb, "large", "FAILED")

    def refused() -> dict[str, dict[str, Any]] | None:
        recs = {r["requestParameters"]["key"]: r for r in trail_records(s3w, logs_bucket)
                if r.get("eventName") == "PutObject" and r.get("errorCode")}
        return recs if len(recs) >= 2 else None
    recs = wait_for(refused, timeout=30)
    assert sorted(recs) == ["large", "small"]
    session_arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/s3-replication"
    for key, rec in recs.items():
        assert rec["errorCode"] == "AccessDenied" and rec["awsRegion"] == "us-west-2"
        assert rec["errorMessage"] == (f'User: {session_arn} is not authorized to perform: s3:ReplicateObject on '
                                       f'resource: "arn:aws:s3:::{wb}/{key}" with an explicit deny in a '
                                       f'resource-based policy')
        assert rec["userIdentity"]["arn"] == session_arn and rec["userIdentity"]["invokedBy"] == "AWS Internal"
        assert rec["sourceIPAddress"] == rec["userAgent"] == "AWS Internal" and rec["responseElements"] is None
    assert set(recs["small"]) == set(recs["large"])
    assert set(recs["small"]["requestParameters"]) == set(recs["large"]["requestParameters"])
