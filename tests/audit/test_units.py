"""Pure pieces of the audit package: selectors, the delivery-policy evaluator, record fields by identity."""

from __future__ import annotations

import json

import pytest
from twinstore.audit.events import classify
from twinstore.audit.policy import service_allowed
from twinstore.audit.records import build_record
from twinstore.audit.selectors import advanced_matches, basic_matches, validate_advanced, validate_basic
from twinstore.auth.principal import Principal
from twinstore.auth.request import CallRecord
from twinstore.protocol.errors import AWSError

ACCT = "111122223333"
LAB = [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": False,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::p-crrlab-us-east-2/"]}]}]


@pytest.mark.parametrize("op,bucket,key,selected", [
    ("PutObject", "p-crrlab-us-east-2", "a.png", True),
    ("CopyObject", "p-crrlab-us-east-2", "b", True),
    ("DeleteObject", "p-crrlab-us-east-2", "b", True),
    ("CompleteMultipartUpload", "p-crrlab-us-east-2", "m", True),
    ("GetObject", "p-crrlab-us-east-2", "a.png", False),
    ("HeadObject", "p-crrlab-us-east-2", "a.png", False),
    ("PutObject", "p-crrlab-us-east-2-other", "a", False),  # the trailing slash keeps prefixes of names out
    ("PutObject", "logging-p-us-east-2", "a", False),
    ("PutBucketVersioning", "p-crrlab-us-east-2", None, False),  # management events are off
])
def test_lab_selector(op: str, bucket: str, key: str | None, selected: bool) -> None:
    sel = validate_basic(LAB)
    assert basic_matches(sel, classify("s3", op, bucket, key), "s3.amazonaws.com") is selected


def test_basic_selector_defaults_and_exclusions() -> None:
    sel = validate_basic([{"ReadWriteType": "All"}])
    assert basic_matches(sel, classify("iam", "CreateRole", None, None), "iam.amazonaws.com")
    assert not basic_matches(sel, classify("s3", "PutObject", "b", "k"), "s3.amazonaws.com")  # no data resources
    sel = validate_basic([{"ExcludeManagementEventSources": ["kms.amazonaws.com"]}])
    assert not basic_matches(sel, classify("kms", "Decrypt", None, None), "kms.amazonaws.com")
    every = validate_basic([{"DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]}])
    assert basic_matches(every, classify("s3", "GetObject", "any", "k"), "s3.amazonaws.com")
    prefix = validate_basic([{"DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/logs/"]}]}])
    assert basic_matches(prefix, classify("s3", "PutObject", "b", "logs/x"), "s3.amazonaws.com")
    assert not basic_matches(prefix, classify("s3", "PutObject", "b", "other/x"), "s3.amazonaws.com")


@pytest.mark.parametrize("bad", [
    [], [{}] * 6, [{"ReadWriteType": "Sometimes"}],
    [{"DataResources": [{"Type": "AWS::Lambda::Nope", "Values": ["arn:aws:s3:::b/"]}]}],
    [{"DataResources": [{"Type": "AWS::S3::Object", "Values": ["bucket/"]}]}],
])
def test_basic_selector_validation(bad: list[dict[str, object]]) -> None:
    with pytest.raises(AWSError) as e:
        validate_basic(bad)
    assert e.value.code == "InvalidEventSelectorsException"


def test_advanced_selectors_and_or_semantics() -> None:
    sel = validate_advanced([
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::a/", "arn:aws:s3:::b/"],
                             "NotEndsWith": [".tmp"]},
                            {"Field": "eventName", "NotEquals": ["DeleteObject", "DeleteObjects"]}]},
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["false"]}]}])

    def m(op: str, bucket: str | None, key: str | None, service: str = "s3") -> bool:
        return advanced_matches(sel, classify(service, op, bucket, key), {"eventName": op})
    assert m("PutObject", "a", "x") and m("GetObject", "b", "y")
    assert not m("PutObject", "c", "x")  # StartsWith values OR-ed
    assert not m("PutObject", "a", "x.tmp")  # operators of one field AND-ed
    assert not m("DeleteObject", "a", "x")  # NotEquals: none may match
    assert m("CreateRole", None, None, "iam")  # selectors OR-ed
    assert not m("ListRoles", None, None, "iam")
    with pytest.raises(AWSError):
        validate_advanced([{"FieldSelectors": [{"Field": "readOnly", "Equals": ["true"]}]}])
    with pytest.raises(AWSError):
        validate_advanced([{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                                               {"Field": "resources.type", "StartsWith": ["AWS"]}]}])


def _lab_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{ACCT}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/deny/*"}]})


def test_delivery_policy() -> None:
    pol = _lab_policy("logs")
    ok = {"s3:x-amz-acl": "bucket-owner-full-control"}
    assert service_allowed(pol, "cloudtrail.amazonaws.com", "s3:PutObject", f"arn:aws:s3:::logs/AWSLogs/{ACCT}/x", ok)
    assert not service_allowed(pol, "cloudtrail.amazonaws.com", "s3:PutObject",
                               f"arn:aws:s3:::logs/AWSLogs/{ACCT}/x", {"s3:x-amz-acl": "private"})
    assert not service_allowed(pol, "cloudtrail.amazonaws.com", "s3:PutObject", "arn:aws:s3:::logs/other/x", ok)
    assert not service_allowed(pol, "logging.s3.amazonaws.com", "s3:PutObject",
                               f"arn:aws:s3:::logs/AWSLogs/{ACCT}/x", ok)
    assert not service_allowed(pol, "cloudtrail.amazonaws.com", "s3:PutObject", "arn:aws:s3:::logs/AWSLogs/deny/x",
                               ok)
    assert not service_allowed(None, "cloudtrail.amazonaws.com", "s3:PutObject", "arn:aws:s3:::logs/x", ok)


def _call(principal: Principal, **kw: object) -> CallRecord:
    base: dict[str, object] = dict(service="s3", operation="PutObject", region="us-east-2", principal=principal,
                                   request_id="7D4F1C2B9A8E6F01", time_us=1_741_615_331_000_000, status=200,
                                   source_ip="203.0.113.10", user_agent="aws-cli/2.15.30", bucket="b", key="k",
                                   params={"Bucket": "b", "Key": "k", "ACL": "bucket-owner-full-control",
                                           "SSECustomerKey": "HIDDEN_DUE_TO_SECURITY_REASONS"},
                                   output={"VersionId": "v1", "ServerSideEncryption": "AES256", "ETag": '"e"'},
                                   headers={"host": "b.s3.us-east-2.amazonaws.com", "authorization": "AWS4 secret"},
                                   bytes_in=48213)
    base.update(kw)
    return CallRecord(**base)  # type: ignore[arg-type]


def test_iam_user_record() -> None:
    p = Principal(ACCT, f"arn:aws:iam::{ACCT}:user/alice", "IAMUser", "AKIAEXAMPLEKEY000001", "AIDAEXAMPLEUSER00001",
                  extra={"user_name": "alice"})
    rec = build_record(_call(p), ACCT)
    assert rec["userIdentity"] == {"type": "IAMUser", "principalId": "AIDAEXAMPLEUSER00001",
                                   "arn": f"arn:aws:iam::{ACCT}:user/alice", "accountId": ACCT,
                                   "accessKeyId": "AKIAEXAMPLEKEY000001", "userName": "alice"}
    assert rec["eventTime"] == "2025-03-10T14:02:11Z"
    assert rec["userAgent"] == "[aws-cli/2.15.30]" and rec["sourceIPAddress"] == "203.0.113.10"
    assert rec["requestParameters"] == {"bucketName": "b", "Host": "b.s3.us-east-2.amazonaws.com", "key": "k",
                                        "x-amz-acl": "bucket-owner-full-control"}
    assert rec["responseElements"] == {"x-amz-server-side-encryption": "AES256", "x-amz-version-id": "v1"}
    assert rec["additionalEventData"]["SSEApplied"] == "Default_SSE_S3"  # the bucket default chose AES256
    assert rec["additionalEventData"]["bytesTransferredIn"] == 48213
    assert "secret" not in json.dumps(rec) and "HIDDEN" not in json.dumps(rec)


def test_replication_record_is_aws_internal() -> None:
    p = Principal(ACCT, f"arn:aws:sts::{ACCT}:assumed-role/p-S3-Replication-Role-us-west-2/s3-replication",
                  "AssumedRole", "ASIAEXAMPLETEMP00001", "AROAEXAMPLEROLEID0001:s3-replication",
                  extra={"role_arn": f"arn:aws:iam::{ACCT}:role/p-S3-Replication-Role-us-west-2",
                         "role_name": "p-S3-Replication-Role-us-west-2", "role_id": "AROAEXAMPLEROLEID0001",
                         "invoked_by": "AWS Internal"})
    rec = build_record(_call(p), ACCT)
    ui = rec["userIdentity"]
    assert ui["type"] == "AssumedRole" and ui["invokedBy"] == "AWS Internal"
    assert ui["principalId"] == "AROAEXAMPLEROLEID0001:s3-replication"
    assert ui["sessionContext"]["sessionIssuer"] == {
        "type": "Role", "principalId": "AROAEXAMPLEROLEID0001",
        "arn": f"arn:aws:iam::{ACCT}:role/p-S3-Replication-Role-us-west-2", "accountId": ACCT,
        "userName": "p-S3-Replication-Role-us-west-2"}
    assert ui["sessionContext"]["attributes"]["mfaAuthenticated"] == "false"
    assert rec["sourceIPAddress"] == "AWS Internal" and rec["userAgent"] == "AWS Internal"
    s3_session = Principal(ACCT, p.arn, "AssumedRole", "ASIA1", "AROA1:s", extra={"invoked_by": "s3.amazonaws.com"})
    assert build_record(_call(s3_session), ACCT)["userIdentity"]["invokedBy"] == "AWS Internal"


def test_failed_call_record() -> None:
    p = Principal(ACCT, f"arn:aws:iam::{ACCT}:root", "Root", "AKIA1")
    rec = build_record(_call(p, operation="GetObject", status=404, error_code="NoSuchKey",
                             error_message="The specified key does not exist.", output=None), ACCT)
    assert rec["errorCode"] == "NoSuchKey" and rec["errorMessage"] == "The specified key does not exist."
    assert rec["responseElements"] is None and rec["readOnly"] is True and rec["eventCategory"] == "Data"


def test_api_record_hides_sensitive_members() -> None:
    p = Principal(ACCT, f"arn:aws:iam::{ACCT}:root", "Root", "AKIA1")
    rec = build_record(_call(p, service="iam", operation="CreateLoginProfile", bucket=None, key=None,
                             params={"UserName": "bob", "Password": "hunter2-very-secret"},
                             output={"LoginProfile": {"UserName": "bob", "CreateDate": 1_741_615_331_000_000}}),
                       ACCT)
    assert rec["eventSource"] == "iam.amazonaws.com" and rec["eventCategory"] == "Management"
    assert rec["requestParameters"] == {"userName": "bob", "password": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    assert rec["responseElements"]["loginProfile"]["userName"] == "bob"
    assert "hunter2" not in json.dumps(rec) and "resources" not in rec


def test_delivery_keys() -> None:
    from twinstore.audit.layout import access_log_key, trail_log_key, trail_log_stream
    t = 1_438_395_000_000_000  # 2015-08-01T02:10:00Z
    assert trail_log_key("", "111122223333", "us-east-2", t, "Mu0KsOhtH1ar15ZZ") == (
        "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/"
        "111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz")
    assert trail_log_key("/ct/", "1", "r", t, "u").startswith("ct/AWSLogs/1/CloudTrail/r/2015/08/01/")
    assert trail_log_stream("111122223333", "us-west-2") == "111122223333_CloudTrail_us-west-2"
    assert access_log_key("logs/", None, "1", "us-east-2", "src", t, "ABC") == "logs/2015-08-01-02-10-00-ABC"
    assert access_log_key("logs/", {"PartitionedPrefix": {}}, "1", "us-east-2", "src", t, "ABC") == (
        "logs/1/us-east-2/src/2015/08/01/2015-08-01-02-10-00-ABC")


def test_presigned_record_shows_parameters_not_signature() -> None:
    p = Principal(ACCT, f"arn:aws:iam::{ACCT}:root", "Root", "AKIA1")
    uri = ("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA1%2F20250310%2Fus-east-2%2Fs3%2Faws4_request"
           "&X-Amz-Date=20250310T140211Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeef"
           "&X-Amz-Security-Token=sessiontoken")
    rec = build_record(_call(p, operation="GetObject", uri=uri, presigned=True, output=None), ACCT)
    rp = rec["requestParameters"]
    assert rp["X-Amz-Credential"] == "AKIA1/20250310/us-east-2/s3/aws4_request" and rp["X-Amz-Expires"] == "300"
    assert "deadbeef" not in json.dumps(rec) and "sessiontoken" not in json.dumps(rec)
    assert rec["additionalEventData"]["AuthenticationMethod"] == "QueryString"
