"""A trail selecting a bucket's data events delivers CloudTrail records to its S3 bucket."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import pytest
from audit.helpers import logging_bucket, records_for, wait_for
from harness import ACCESS_KEY, ACCOUNT_ID, create_bucket, unique_bucket


@pytest.fixture()
def ct(east: Any) -> Any:
    return east.client("cloudtrail")


def _trail(ct: Any, bucket: str, log_bucket: str, rw: str = "WriteOnly", mgmt: bool = False) -> str:
    name = unique_bucket("trail")
    ct.create_trail(Name=name, S3BucketName=log_bucket, IsMultiRegionTrail=False, EnableLogFileValidation=False,
                    IncludeGlobalServiceEvents=False)
    ct.put_event_selectors(TrailName=name, EventSelectors=[{
        "ReadWriteType": rw, "IncludeManagementEvents": mgmt,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{bucket}/"]}]}])
    ct.start_logging(Name=name)
    return name


def test_put_object_by_root_golden_record(s3: Any, ct: Any, east: Any) -> None:
    logs = logging_bucket(s3, "us-east-2")
    bucket = create_bucket(s3, "us-east-2", versioned=True)
    name = _trail(ct, bucket, logs)
    put = s3.put_object(Bucket=bucket, Key="dir/TestObject.png", Body=b"x" * 1234)
    rec, = records_for(s3, logs, lambda r: r["eventName"] == "PutObject")
    assert rec["eventVersion"] == "1.09"
    assert rec["userIdentity"] == {"type": "Root", "principalId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:root",
                                   "accountId": ACCOUNT_ID, "accessKeyId": ACCESS_KEY}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["eventTime"])
    assert rec["eventSource"] == "s3.amazonaws.com"
    assert rec["eventName"] == "PutObject"
    assert rec["awsRegion"] == "us-east-2"
    assert rec["sourceIPAddress"] == "127.0.0.1"
    assert rec["userAgent"].startswith("[Boto3/") and rec["userAgent"].endswith("]")
    assert rec["requestParameters"] == {"bucketName": bucket, "Host": f"127.0.0.1:{east.port}",
                                        "key": "dir/TestObject.png"}
    assert rec["responseElements"] == {"x-amz-server-side-encryption": "AES256", "x-amz-version-id": put["VersionId"]}
    extra = rec["additionalEventData"]
    assert extra["SignatureVersion"] == "SigV4"
    assert extra["SSEApplied"] == "Default_SSE_S3"  # every bucket's default encryption (SSE-S3)
    assert extra["AuthenticationMethod"] == "AuthHeader"
    assert extra["bytesTransferredIn"] == 1234
    assert extra["bytesTransferredOut"] == 0
    assert extra["x-amz-id-2"] == put["ResponseMetadata"]["HTTPHeaders"]["x-amz-id-2"]
    assert rec["requestID"] == put["ResponseMetadata"]["RequestId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", rec["eventID"])
    assert rec["readOnly"] is False
    assert rec["resources"] == [
        {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/dir/TestObject.png"},
        {"accountId": ACCOUNT_ID, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]
    assert rec["eventType"] == "AwsApiCall"
    assert rec["managementEvent"] is False
    assert rec["recipientAccountId"] == ACCOUNT_ID
    assert rec["eventCategory"] == "Data"
    assert "errorCode" not in rec
    status = ct.get_trail_status(Name=name)
    assert status["IsLogging"] is True
    assert "LatestDeliveryTime" in status and "LatestDeliveryError" not in status


def test_delivery_file_layout(s3: Any, ct: Any) -> None:
    logs = logging_bucket(s3, "us-east-2")
    bucket = create_bucket(s3, "us-east-2")
    _trail(ct, bucket, logs)
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    keys = wait_for(lambda: [o["Key"] for o in s3.list_objects_v2(Bucket=logs).get("Contents", [])])
    key, = keys
    assert re.fullmatch(rf"AWSLogs/{ACCOUNT_ID}/CloudTrail/us-east-2/\d{{4}}/\d\d/\d\d/{ACCOUNT_ID}_CloudTrail_"
                        rf"us-east-2_\d{{8}}T\d{{4}}Z_[A-Za-z0-9]{{16}}\.json\.gz", key), key
    body = s3.get_object(Bucket=logs, Key=key)["Body"].read()
    doc = json.loads(gzip.decompress(body))
    assert list(doc) == ["Records"] and len(doc["Records"]) == 1


def test_selectors_include_and_exclude(s3: Any, ct: Any) -> None:
    logs = logging_bucket(s3, "us-east-2")
    bucket = create_bucket(s3, "us-east-2")
    other = create_bucket(s3, "us-east-2")
    _trail(ct, bucket, logs)
    s3.put_object(Bucket=other, Key="not-selected", Body=b"1")  # another bucket
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    s3.get_object(Bucket=bucket, Key="a")["Body"].read()  # read: WriteOnly excludes it
    s3.head_object(Bucket=bucket, Key="a")
    s3.copy_object(Bucket=bucket, Key="b", CopySource={"Bucket": bucket, "Key": "a"})
    s3.delete_object(Bucket=bucket, Key="b")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})  # management
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    s3.put_object(Bucket=bucket, Key="last", Body=b"1")
    records_for(s3, logs, lambda r: r["requestParameters"].get("key") == "last")
    names = sorted(r["eventName"] for r in records_for(s3, logs, lambda r: True, count=1))
    assert names == sorted(["PutObject", "CopyObject", "DeleteObject", "CreateMultipartUpload", "UploadPart",
                            "CompleteMultipartUpload", "PutObject"])
    assert all(r["requestParameters"]["bucketName"] == bucket for r in records_for(s3, logs, lambda r: True))


def test_read_only_and_management_selectors(s3: Any, ct: Any) -> None:
    logs = logging_bucket(s3, "us-east-2")
    bucket = create_bucket(s3, "us-east-2")
    _trail(ct, bucket, logs, rw="ReadOnly", mgmt=True)
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    s3.get_object(Bucket=bucket, Key="a")["Body"].read()
    s3.get_bucket_versioning(Bucket=bucket)  # read-only management event
    recs = records_for(s3, logs, lambda r: r["eventName"] == "GetBucketVersioning")
    assert recs[0]["eventCategory"] == "Management" and recs[0]["managementEvent"] is True
    got = records_for(s3, logs, lambda r: r["eventName"] == "GetObject")
    assert got[0]["readOnly"] is True and got[0]["additionalEventData"]["bytesTransferredOut"] == 1
    assert not [r for r in records_for(s3, logs, lambda r: True) if r["eventName"] == "PutObject"]


def test_advanced_selectors(s3: Any, ct: Any) -> None:
    logs = logging_bucket(s3, "us-east-2")
    bucket = create_bucket(s3, "us-east-2")
    name = unique_bucket("trail")
    ct.create_trail(Name=name, S3BucketName=logs)
    ct.put_event_selectors(TrailName=name, AdvancedEventSelectors=[{"Name": "writes-under-in", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "readOnly", "Equals": ["false"]},
        {"Field": "eventName", "NotEquals": ["DeleteObject"]},
        {"Field": "resources.ARN", "StartsWith": [f"arn:aws:s3:::{bucket}/in/"]}]}])
    got = ct.get_event_selectors(TrailName=name)
    assert got["AdvancedEventSelectors"][0]["Name"] == "writes-under-in" and "EventSelectors" not in got
    ct.start_logging(Name=name)
    s3.put_object(Bucket=bucket, Key="out/x", Body=b"1")
    s3.put_object(Bucket=bucket, Key="in/x", Body=b"1")
    s3.delete_object(Bucket=bucket, Key="in/x")
    s3.get_object(Bucket=bucket, Key="out/x")["Body"].read()
    s3.put_object(Bucket=bucket, Key="in/y", Body=b"1")
    recs = records_for(s3, logs, lambda r: True, count=2)
    assert sorted((r["eventName"], r["requestParameters"]["key"]) for r in recs) == [
        ("PutObject", "in/x"), ("PutObject", "in/y")]


def test_create_trail_validation(s3: Any, ct: Any) -> None:
    plain = create_bucket(s3, "us-east-2")
    with pytest.raises(ct.exceptions.InsufficientS3BucketPolicyException):
        ct.create_trail(Name=unique_bucket("trail"), S3BucketName=plain)
    with pytest.raises(ct.exceptions.S3BucketDoesNotExistException):
        ct.create_trail(Name=unique_bucket("trail"), S3BucketName=unique_bucket("missing"))
    logs = logging_bucket(s3, "us-east-2")
    with pytest.raises(ct.exceptions.InvalidTrailNameException):
        ct.create_trail(Name="-bad", S3BucketName=logs)
    with pytest.raises(ct.exceptions.InvalidParameterCombinationException):
        ct.create_trail(Name=unique_bucket("trail"), S3BucketName=logs,
                        CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-2:{ACCOUNT_ID}:log-group:g:*")
    name = unique_bucket("trail")
    out = ct.create_trail(Name=name, S3BucketName=logs)
    assert out["TrailARN"] == f"arn:aws:cloudtrail:us-east-2:{ACCOUNT_ID}:trail/{name}"
    with pytest.raises(ct.exceptions.TrailAlreadyExistsException):
        ct.create_trail(Name=name, S3BucketName=logs)
    assert ct.get_trail_status(Name=name)["IsLogging"] is False
    with pytest.raises(ct.exceptions.InvalidEventSelectorsException):
        ct.put_event_selectors(TrailName=name, EventSelectors=[{"ReadWriteType": "All", "DataResources": [
            {"Type": "AWS::S3::Object", "Values": ["not-an-arn"]}]}])
    with pytest.raises(ct.exceptions.InvalidEventSelectorsException):
        ct.put_event_selectors(TrailName=name, AdvancedEventSelectors=[{"FieldSelectors": [
            {"Field": "readOnly", "Equals": ["true"]}]}])
    trails = {t["Name"]: t for t in ct.describe_trails(trailNameList=[name])["trailList"]}
    assert trails[name]["S3BucketName"] == logs and trails[name]["HomeRegion"] == "us-east-2"
    ct.delete_trail(Name=out["TrailARN"])
    with pytest.raises(ct.exceptions.TrailNotFoundException):
        ct.get_trail_status(Name=name)



def test_trail_tags_and_update(s3: Any, ct: Any) -> None:
    logs = logging_bucket(s3, "us-east-2")
    name = unique_bucket("trail")
    arn = ct.create_trail(Name=name, S3BucketName=logs, TagsList=[{"Key": "lab", "Value": "crr"}])["TrailARN"]
    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "team", "Value": "ops"}])
    ct.remove_tags(ResourceId=arn, TagsList=[{"Key": "lab"}])
    assert ct.list_tags(ResourceIdList=[arn])["ResourceTagList"] == [
        {"ResourceId": arn, "TagsList": [{"Key": "team", "Value": "ops"}]}]
    other = logging_bucket(s3, "us-east-2", prefix="p")
    out = ct.update_trail(Name=name, S3BucketName=other, S3KeyPrefix="p")
    assert out["S3BucketName"] == other and out["S3KeyPrefix"] == "p"
    with pytest.raises(ct.exceptions.InsufficientS3BucketPolicyException):
        ct.update_trail(Name=name, S3KeyPrefix="elsewhere")  # the policy only allows p/AWSLogs/...
    assert ct.get_trail(Name=name)["Trail"]["S3KeyPrefix"] == "p"
    assert name in [t["Name"] for t in ct.list_trails()["Trails"]]


def test_failed_delivery_is_retried_until_allowed(s3: Any, ct: Any) -> None:
    logs = logging_bucket(s3, "us-east-2")
    policy = s3.get_bucket_policy(Bucket=logs)["Policy"]
    bucket = create_bucket(s3, "us-east-2")
    name = _trail(ct, bucket, logs)
    s3.delete_bucket_policy(Bucket=logs)  # CloudTrail may no longer write there
    s3.put_object(Bucket=bucket, Key="while-denied", Body=b"1")
    status = wait_for(lambda: (st := ct.get_trail_status(Name=name)).get("LatestDeliveryError") and st)
    assert status["LatestDeliveryError"] == "AccessDenied"
    assert not s3.list_objects_v2(Bucket=logs).get("Contents")
    s3.put_bucket_policy(Bucket=logs, Policy=policy)
    rec, = records_for(s3, logs, lambda r: r["requestParameters"].get("key") == "while-denied")
    assert rec["eventName"] == "PutObject"
    assert "LatestDeliveryError" not in ct.get_trail_status(Name=name)


def test_trails_are_regional(s3: Any, ct: Any, west: Any) -> None:
    w3, wct = west.client(), west.client("cloudtrail")
    logs = logging_bucket(w3, "us-west-2")
    west_bucket = create_bucket(w3, "us-west-2")
    east_bucket = create_bucket(s3, "us-east-2")
    name = unique_bucket("trail")
    wct.create_trail(Name=name, S3BucketName=logs)
    wct.put_event_selectors(TrailName=name, EventSelectors=[{
        "ReadWriteType": "WriteOnly", "IncludeManagementEvents": False,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]}])  # every bucket
    wct.start_logging(Name=name)
    s3.put_object(Bucket=east_bucket, Key="east-write", Body=b"1")  # served by us-east-2: not this trail's
    w3.put_object(Bucket=west_bucket, Key="west-write", Body=b"1")
    recs = records_for(w3, logs, lambda r: r["requestParameters"].get("key") == "west-write")
    assert recs[0]["awsRegion"] == "us-west-2"
    assert not [r for r in records_for(w3, logs, lambda r: True) if r["requestParameters"].get("key") == "east-write"]
    assert name not in [t["Name"] for t in ct.describe_trails()["trailList"]]  # us-east-2 does not have it
