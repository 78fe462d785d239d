"""The query and JSON wire protocols (IAM, STS, KMS, Logs, CloudTrail, CloudFormation), checked against
botocore's own client-side serializers and parsers, and the edge's handling of calls to those services."""

from __future__ import annotations

import datetime
from typing import Any

import botocore.parsers
import botocore.serialize
import pytest
from botocore.exceptions import ClientError
from harness import SECRET_KEY, RegionProcess

from twinstore.protocol import rpc
from twinstore.protocol.model import service_model


def _client_request(service: str, op: str, params: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    model = service_model(service)
    opm = model.operation_model(op)
    ser = botocore.serialize.create_serializer(model.protocol)
    req = ser.serialize_to_request(params, opm)
    body = req["body"]
    if isinstance(body, dict):  # query: botocore leaves the form as a dict until sending
        from urllib.parse import urlencode
        body = urlencode(body)
    if isinstance(body, str):
        body = body.encode()
    return {k.lower(): v for k, v in req["headers"].items()}, body


QUERY_CASES = [
    ("iam", "CreateRole", {"RoleName": "r1", "Path": "/x/", "AssumeRolePolicyDocument": '{"Version":"2012-10-17"}',
                           "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}], "MaxSessionDuration": 3600}),
    ("iam", "ListUsers", {}),
    ("iam", "DetachRolePolicy", {"RoleName": "r", "PolicyArn": "arn:aws:iam::123456789012:policy/p"}),
    ("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s1",
                           "DurationSeconds": 900, "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/x"}]}),
    ("cloudformation", "CreateStack", {"StackName": "s", "TemplateBody": "{}", "Capabilities": ["CAPABILITY_IAM"],
                                       "Parameters": [{"ParameterKey": "K", "ParameterValue": "V&x=1"}],
                                       "Tags": [{"Key": "k", "Value": "v"}], "DisableRollback": False}),
]

JSON_CASES = [
    ("kms", "Encrypt", {"KeyId": "alias/aws/s3", "Plaintext": b"\x00\x01secret",
                        "EncryptionContext": {"bucket": "b"}}),
    ("logs", "PutLogEvents", {"logGroupName": "g", "logStreamName": "s",
                              "logEvents": [{"timestamp": 1700000000000, "message": "m1"}]}),
    ("cloudtrail", "PutEventSelectors", {"TrailName": "t", "EventSelectors": [{
        "ReadWriteType": "All", "IncludeManagementEvents": True,
        "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}]}]}),
    ("logs", "StartQuery", {"logGroupName": "g", "startTime": 1700000000, "endTime": 1700003600,
                            "queryString": "fields @timestamp | limit 5"}),
]


@pytest.mark.parametrize("service,op,params", QUERY_CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_query_requests_parse_to_what_botocore_serialized(service: str, op: str, params: dict[str, Any]) -> None:
    headers, body = _client_request(service, op, params)
    form = rpc.parse_form(body)
    call = rpc.identify(service, headers, form)
    assert call.operation.name == op
    assert rpc.parse_query_params(call.operation.input_shape, form) == params


@pytest.mark.parametrize("service,op,params", JSON_CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_json_requests_parse_to_what_botocore_serialized(service: str, op: str, params: dict[str, Any]) -> None:
    headers, body = _client_request(service, op, params)
    call = rpc.identify(service, headers, None)
    assert call.operation.name == op
    assert rpc.parse_json_params(call.operation.input_shape, body) == params


def _parse_response(service: str, op: str, body: bytes, status: int = 200) -> dict[str, Any]:
    model = service_model(service)
    parser = botocore.parsers.create_parser(model.protocol)
    return dict(parser.parse({"status_code": status, "headers": {}, "body": body},
                             model.operation_model(op).output_shape))


def test_query_responses_parse_in_botocore_including_lists_maps_and_timestamps() -> None:
    created = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    role = {"Path": "/", "RoleName": "r<&>", "RoleId": "AROAX", "Arn": "arn:aws:iam::123456789012:role/r",
            "CreateDate": int(created.timestamp() * 1_000_000), "Tags": [{"Key": "k", "Value": "v"}]}
    op = service_model("iam").operation_model("GetRole")
    parsed = _parse_response("iam", "GetRole", rpc.query_response(op, {"Role": role}, "REQ1"))
    assert parsed["ResponseMetadata"]["RequestId"] == "REQ1"
    assert parsed["Role"]["RoleName"] == "r<&>" and parsed["Role"]["CreateDate"] == created
    assert parsed["Role"]["Tags"] == [{"Key": "k", "Value": "v"}]
    op = service_model("iam").operation_model("GetAccountSummary")
    parsed = _parse_response("iam", "GetAccountSummary",
                             rpc.query_response(op, {"SummaryMap": {"Users": 3, "Roles": 1}}, "R"))
    assert parsed["SummaryMap"] == {"Users": 3, "Roles": 1}


def test_json_responses_parse_in_botocore() -> None:
    created = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    op = service_model("kms").operation_model("GenerateDataKey")
    body = rpc.json_response(op, {"KeyId": "k", "Plaintext": b"\xff" * 32, "CiphertextBlob": b"ct"})
    parsed = _parse_response("kms", "GenerateDataKey", body)
    assert parsed["Plaintext"] == b"\xff" * 32 and parsed["CiphertextBlob"] == b"ct"
    op = service_model("kms").operation_model("DescribeKey")
    body = rpc.json_response(op, {"KeyMetadata": {"KeyId": "k", "CreationDate": created, "Enabled": True}})
    assert _parse_response("kms", "DescribeKey", body)["KeyMetadata"]["CreationDate"] == created


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"KeyId": 5}', b'{"Plaintext": "***"}'])
def test_malformed_json_bodies_are_serialization_errors(body: bytes) -> None:
    shape = service_model("kms").operation_model("Encrypt").input_shape
    with pytest.raises(Exception) as info:
        rpc.parse_json_params(shape, body)
    assert getattr(info.value, "code", "") == "SerializationException"


# ---- through a real region process -----------------------------------------------------------------------
def test_unknown_access_key_is_refused_in_each_protocols_words(east: RegionProcess) -> None:
    iam = east.client("iam", access_key="AKIANOSUCHKEY0000000", secret_key="x")
    with pytest.raises(ClientError) as info:
        iam.list_users()
    assert info.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    kms = east.client("kms", access_key="AKIANOSUCHKEY0000000", secret_key="x")
    with pytest.raises(ClientError) as info:
        kms.list_keys()
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_wrong_secret_is_a_signature_mismatch(east: RegionProcess) -> None:
    from harness import ACCESS_KEY
    sts = east.client("sts", access_key=ACCESS_KEY, secret_key=SECRET_KEY[::-1])
    with pytest.raises(ClientError) as info:
        sts.get_caller_identity()
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    logs = east.client("logs", access_key=ACCESS_KEY, secret_key=SECRET_KEY[::-1])
    with pytest.raises(ClientError) as info:
        logs.describe_log_groups()
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_a_region_unknown_to_the_deployment_is_refused(east: RegionProcess) -> None:
    from harness import ACCESS_KEY
    import boto3
    kms = boto3.client("kms", endpoint_url=east.endpoint, region_name="eu-north-1", aws_access_key_id=ACCESS_KEY,
                       aws_secret_access_key=SECRET_KEY)
    with pytest.raises(ClientError) as info:
        kms.list_keys()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _signed_post(region: RegionProcess, service: str, body: bytes, headers: dict[str, str]) -> Any:
    """A request signed by botocore's SigV4 (as any SDK would) carrying a body the SDK would never send."""
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from harness import ACCESS_KEY

    req = AWSRequest(method="POST", url=region.endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, region.name).add_auth(req)
    raw = urllib.request.Request(region.endpoint + "/", data=body, method="POST", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(raw) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_malformed_bodies_through_a_real_region_get_protocol_errors_and_change_nothing(east: RegionProcess) -> None:
    import json

    logs = east.client("logs")
    before = logs.describe_log_groups()["logGroups"]
    status, body = _signed_post(east, "logs", b'{"logGroupName": ',
                                {"X-Amz-Target": "Logs_20140328.CreateLogGroup",
                                 "Content-Type": "application/x-amz-json-1.1"})
    assert status == 400 and json.loads(body)["__type"] == "SerializationException"
    status, body = _signed_post(east, "logs", b'{"logGroupName": 7}',
                                {"X-Amz-Target": "Logs_20140328.CreateLogGroup",
                                 "Content-Type": "application/x-amz-json-1.1"})
    assert status == 400 and json.loads(body)["__type"] == "SerializationException"
    status, body = _signed_post(east, "logs", b"{}", {"X-Amz-Target": "Logs_20140328.NoSuchOperation",
                                                     "Content-Type": "application/x-amz-json-1.1"})
    assert status == 400 and json.loads(body)["__type"] == "UnknownOperationException"
    assert logs.describe_log_groups()["logGroups"] == before
    iam = east.client("iam")
    roles = iam.list_roles()["Roles"]
    status, body = _signed_post(east, "iam", b"Action=CreateRole&Version=2010-05-08&RoleName=r&MaxSessionDuration=x",
                                {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and b"<Code>MalformedInput</Code>" in body and b"<ErrorResponse" in body
    status, body = _signed_post(east, "iam", b"Action=Frobnicate&Version=2010-05-08",
                                {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and b"<Code>InvalidAction</Code>" in body
    assert iam.list_roles()["Roles"] == roles
