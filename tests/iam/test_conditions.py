"""Condition operators and policy grammar, evaluated in process (pure functions of the policy and the context)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from twinstore.auth.principal import Principal
from twinstore.iam.authority import RequestKeys
from twinstore.iam.conditions import PolicyError
from twinstore.iam.evaluate import ALLOW, decide
from twinstore.iam.policy import IDENTITY, RESOURCE, compile_policy, is_public

USER = Principal("123456789012", "arn:aws:iam::123456789012:user/alice", "IAMUser", "AKIA", "AIDAX",
                 extra={"user_name": "alice"})


def allowed(condition: dict[str, Any], values: dict[str, list[str]]) -> bool:
    text = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": condition}]})
    keys = RequestKeys(USER, {k.lower(): v for k, v in values.items()})
    return decide(USER, "s3:GetObject", "arn:aws:s3:::b/k", keys, [compile_policy(text, IDENTITY)]) == ALLOW


CASES: list[tuple[str, dict[str, Any], dict[str, list[str]], bool]] = [
    ("StringEquals", {"StringEquals": {"s3:prefix": "a"}}, {"s3:prefix": ["a"]}, True),
    ("StringEquals-case", {"StringEquals": {"s3:prefix": "a"}}, {"s3:prefix": ["A"]}, False),
    ("StringEquals-any-of-values", {"StringEquals": {"s3:prefix": ["x", "a"]}}, {"s3:prefix": ["a"]}, True),
    ("StringEquals-missing", {"StringEquals": {"s3:prefix": "a"}}, {}, False),
    ("StringNotEquals-missing", {"StringNotEquals": {"s3:prefix": "a"}}, {}, True),
    ("StringNotEquals-none-match", {"StringNotEquals": {"s3:prefix": ["a", "b"]}}, {"s3:prefix": ["c"]}, True),
    ("StringNotEquals-one-matches", {"StringNotEquals": {"s3:prefix": ["a", "b"]}}, {"s3:prefix": ["b"]}, False),
    ("StringEqualsIgnoreCase", {"StringEqualsIgnoreCase": {"s3:prefix": "ABC"}}, {"s3:prefix": ["abc"]}, True),
    ("StringNotEqualsIgnoreCase", {"StringNotEqualsIgnoreCase": {"s3:prefix": "ABC"}}, {"s3:prefix": ["abc"]},
     False),
    ("StringLike", {"StringLike": {"s3:prefix": "home/*/x?"}}, {"s3:prefix": ["home/a/b/x1"]}, True),
    ("StringNotLike", {"StringNotLike": {"s3:prefix": "home/*"}}, {"s3:prefix": ["other"]}, True),
    ("StringEqualsIfExists-missing", {"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}, {}, True),
    ("StringEqualsIfExists-other", {"StringEqualsIfExists": {"s3:x-amz-acl": "private"}},
     {"s3:x-amz-acl": ["public-read"]}, False),
    ("NumericLessThan", {"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["9"]}, True),
    ("NumericLessThan-equal", {"NumericLessThan": {"s3:max-keys": "10"}}, {"s3:max-keys": ["10"]}, False),
    ("NumericGreaterThanEquals", {"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["10"]}, True),
    ("NumericEquals-not-a-number", {"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["ten"]}, False),
    ("NumericNotEquals", {"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": ["11"]}, True),
    ("DateGreaterThan-iso", {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
     {"aws:CurrentTime": ["2021-06-01T00:00:00Z"]}, True),
    ("DateLessThanEquals-epoch", {"DateLessThanEquals": {"aws:EpochTime": "1600000000"}},
     {"aws:EpochTime": ["1600000000"]}, True),
    ("DateEquals-mixed", {"DateEquals": {"aws:CurrentTime": "2020-09-13T12:26:40Z"}},
     {"aws:CurrentTime": ["1600000000"]}, True),
    ("Bool-true", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": ["true"]}, True),
    ("Bool-json-bool", {"Bool": {"aws:SecureTransport": False}}, {"aws:SecureTransport": ["false"]}, True),
    ("Bool-mismatch", {"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": ["false"]}, False),
    ("IpAddress-v4", {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.1.0/24"]}},
     {"aws:SourceIp": ["192.168.1.7"]}, True),
    ("IpAddress-v6", {"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:SourceIp": ["2001:db8::1"]}, True),
    ("NotIpAddress", {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:SourceIp": ["10.1.2.3"]}, False),
    ("ArnLike-components", {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket-*"}},
     {"aws:SourceArn": ["arn:aws:s3:::bucket-1"]}, True),
    ("ArnEquals", {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::b"}}, {"aws:SourceArn": ["arn:aws:s3:::c"]}, False),
    ("ArnNotLike", {"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::b*"}}, {"aws:SourceArn": ["arn:aws:s3:::c"]},
     True),
    ("BinaryEquals", {"BinaryEquals": {"k:bin": base64.b64encode(b"xy").decode()}},
     {"k:bin": [base64.b64encode(b"xy").decode()]}, True),
    ("Null-true-absent", {"Null": {"s3:x-amz-server-side-encryption": "true"}}, {}, True),
    ("Null-true-present", {"Null": {"s3:x-amz-server-side-encryption": "true"}},
     {"s3:x-amz-server-side-encryption": ["AES256"]}, False),
    ("Null-false-present", {"Null": {"s3:x-amz-server-side-encryption": "false"}},
     {"s3:x-amz-server-side-encryption": ["AES256"]}, True),
    ("ForAnyValue", {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}},
     {"s3:RequestObjectTagKeys": ["z", "b"]}, True),
    ("ForAnyValue-missing", {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": "a"}}, {}, False),
    ("ForAllValues", {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}},
     {"s3:RequestObjectTagKeys": ["a", "b"]}, True),
    ("ForAllValues-extra", {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["a", "b"]}},
     {"s3:RequestObjectTagKeys": ["a", "c"]}, False),
    ("ForAllValues-missing", {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": "a"}}, {}, True),
    ("keys-and-operators-ANDed", {"StringEquals": {"s3:prefix": "a"}, "Bool": {"aws:SecureTransport": "true"}},
     {"s3:prefix": ["a"], "aws:SecureTransport": ["false"]}, False),
    ("key-names-case-insensitive", {"StringEquals": {"S3:Prefix": "a"}}, {"s3:prefix": ["a"]}, True),
    ("policy-variable", {"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, {"s3:prefix": ["home/alice/x"]},
     True),
    ("policy-variable-other", {"StringLike": {"s3:prefix": "home/${aws:username}/*"}},
     {"s3:prefix": ["home/bob/x"]}, False),
]


@pytest.mark.parametrize("name, condition, values, expected", CASES, ids=[c[0] for c in CASES])
def test_condition_operators(name: str, condition: dict[str, Any], values: dict[str, list[str]],
                             expected: bool) -> None:
    assert allowed(condition, values) is expected


@pytest.mark.parametrize("condition", [{"StringEqualz": {"k": "v"}}, {"NumericEquals": {"k": "ten"}},
                                       {"IpAddress": {"aws:SourceIp": "not-an-ip"}}, {"StringEquals": "v"},
                                       {"StringEquals": {"k": [{"nested": 1}]}}])
def test_bad_conditions_are_rejected(condition: dict[str, Any]) -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": condition}]})
    with pytest.raises(PolicyError):
        compile_policy(text, IDENTITY)


def test_public_policy_detection() -> None:
    def pol(statement: dict[str, Any]) -> Any:
        return compile_policy(json.dumps({"Version": "2012-10-17", "Statement": [statement]}), RESOURCE)
    base = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    assert is_public(pol({**base, "Principal": "*"}))
    assert is_public(pol({**base, "Principal": {"AWS": "*"}}))
    assert not is_public(pol({**base, "Principal": {"AWS": "123456789012"}}))
    assert not is_public(pol({**base, "Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4/32"}}}))
    assert is_public(pol({**base, "Principal": "*", "Condition": {"StringEquals": {"s3:prefix": "x"}}}))
    assert not is_public(pol({**base, "Effect": "Deny", "Principal": "*"}))
