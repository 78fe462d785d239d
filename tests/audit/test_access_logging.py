"""S3 server access logging: PutBucketLogging makes the region deliver AWS-format log lines to the target."""

from __future__ import annotations

import json
import re
from typing import Any

from audit.helpers import wait_for
from harness import ACCOUNT_ID, create_bucket

LINE = re.compile(
    r'^(?P<owner>\S+) (?P<bucket>\S+) \[(?P<time>[^\]]+)\] (?P<ip>\S+) (?P<requester>\S+) (?P<request_id>\S+) '
    r'(?P<operation>\S+) (?P<key>\S+) "(?P<request_uri>[^"]*)" (?P<status>\d{3}) (?P<error>\S+) (?P<sent>\S+) '
    r'(?P<size>\S+) (?P<total>\S+) (?P<turnaround>\S+) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)" (?P<version>\S+) '
    r'(?P<host_id>\S+) (?P<sigv>\S+) (?P<cipher>\S+) (?P<auth>\S+) (?P<host>\S+) (?P<tls>\S+) (?P<ap>\S+) '
    r'(?P<acl>\S+)$')


def _logging_policy(target: str, source: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "S3ServerAccessLogsPolicy", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": ["s3:PutObject"], "Resource": f"arn:aws:s3:::{target}/access/*",
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{source}"},
                      "StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}}]})


def _lines(s3: Any, target: str, prefix: str) -> list[dict[str, str]]:
    out = []
    for obj in s3.list_objects_v2(Bucket=target, Prefix=prefix).get("Contents", []):
        text = s3.get_object(Bucket=target, Key=obj["Key"])["Body"].read().decode()
        for line in text.splitlines():
            m = LINE.match(line)
            assert m, line
            out.append(m.groupdict())
    return out


def test_access_log_lines_delivered(s3: Any, east: Any) -> None:
    source = create_bucket(s3, "us-east-2", versioned=True)
    target = create_bucket(s3, "us-east-2")
    s3.put_bucket_policy(Bucket=target, Policy=_logging_policy(target, source))
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": target, "TargetPrefix": "access/"}})
    put = s3.put_object(Bucket=source, Key="photos/a b.png", Body=b"x" * 100)
    s3.get_object(Bucket=source, Key="photos/a b.png")["Body"].read()
    try:
        s3.get_object(Bucket=source, Key="missing")
    except s3.exceptions.NoSuchKey:
        pass

    def three() -> list[dict[str, str]] | None:
        lines = _lines(s3, target, "access/")
        return lines if len([ln for ln in lines if ln["operation"] != "REST.PUT.LOGGING_STATUS"]) >= 3 else None
    lines = wait_for(three)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=target)["Contents"]]
    assert all(re.fullmatch(r"access/\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[A-Z0-9]{16}", k) for k in keys), keys
    by_op = {(ln["operation"], ln["key"]): ln for ln in lines}
    p = by_op[("REST.PUT.OBJECT", "photos/a%20b.png")]
    assert p["owner"] == ACCOUNT_ID and p["bucket"] == source and p["ip"] == "127.0.0.1"
    assert p["requester"] == ACCOUNT_ID and p["request_id"] == put["ResponseMetadata"]["RequestId"]
    assert p["request_uri"].startswith(f"PUT /{source}/photos/a%20b.png") and p["request_uri"].endswith(" HTTP/1.1")
    assert p["status"] == "200" and p["error"] == "-" and p["size"] == "100" and p["version"] == put["VersionId"]
    assert p["sigv"] == "SigV4" and p["auth"] == "AuthHeader" and p["host"] == f"127.0.0.1:{east.port}"
    assert p["host_id"] == put["ResponseMetadata"]["HTTPHeaders"]["x-amz-id-2"]
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", p["time"])
    g = by_op[("REST.GET.OBJECT", "photos/a%20b.png")]
    assert g["sent"] == "100" and g["status"] == "200"
    miss = by_op[("REST.GET.OBJECT", "missing")]
    assert miss["status"] == "404" and miss["error"] == "NoSuchKey"
    assert not [ln for ln in lines if ln["bucket"] == target]  # the target's own traffic is not in the source's log


def test_no_delivery_without_logging_permission(s3: Any) -> None:
    source = create_bucket(s3, "us-east-2")
    target = create_bucket(s3, "us-east-2")
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": target, "TargetPrefix": "access/"}})
    s3.put_object(Bucket=source, Key="k", Body=b"1")
    # a bucket with permission, configured after: its logs arrive, proving deliveries ran meanwhile
    other = create_bucket(s3, "us-east-2")
    s3.put_bucket_policy(Bucket=target, Policy=_logging_policy(target, other))
    s3.put_bucket_logging(Bucket=other, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": target, "TargetPrefix": "access/"}})
    s3.put_object(Bucket=other, Key="k2", Body=b"1")
    lines = wait_for(lambda: [ln for ln in _lines(s3, target, "access/") if ln["key"] == "k2"])
    assert all(ln["bucket"] == other for ln in lines)
    assert not [ln for ln in _lines(s3, target, "access/") if ln["bucket"] == source]


def test_presigned_request_logged_without_its_signature(s3: Any) -> None:
    import urllib.request
    from urllib.parse import parse_qs, urlsplit
    source = create_bucket(s3, "us-east-2")
    target = create_bucket(s3, "us-east-2")
    s3.put_bucket_policy(Bucket=target, Policy=_logging_policy(target, source))
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": target, "TargetPrefix": "access/"}})
    s3.put_object(Bucket=source, Key="shared", Body=b"hello")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": source, "Key": "shared"}, ExpiresIn=300)
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"hello"
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    line, = wait_for(lambda: [ln for ln in _lines(s3, target, "access/") if ln["operation"] == "REST.GET.OBJECT"])
    assert line["auth"] == "QueryString" and "X-Amz-Signature=REDACTED" in line["request_uri"]
    assert signature not in json.dumps(_lines(s3, target, "access/"))


def test_aborted_download_stops_and_logs_what_was_sent(s3: Any) -> None:
    """A client that goes away in the middle of a long GET: the region stops reading (and decrypting) the
    object instead of streaming all of it into a closed connection, and the access log's Bytes Sent says how
    much went out, as AWS's does; a complete GET logs the whole size."""
    import os
    source = create_bucket(s3, "us-east-2")
    target = create_bucket(s3, "us-east-2")
    s3.put_bucket_policy(Bucket=target, Policy=_logging_policy(target, source))
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": target, "TargetPrefix": "access/"}})
    size = 64 * 1024 * 1024
    s3.put_object(Bucket=source, Key="big", Body=os.urandom(1024 * 1024) * 64)
    aborted = s3.get_object(Bucket=source, Key="big")
    aborted["Body"].read(1024 * 1024)
    aborted["Body"].close()
    assert len(s3.get_object(Bucket=source, Key="big")["Body"].read()) == size

    def both() -> list[dict[str, str]] | None:
        gets = [ln for ln in _lines(s3, target, "access/") if ln["operation"] == "REST.GET.OBJECT"]
        return gets if len(gets) == 2 else None
    by_id = {ln["request_id"]: ln for ln in wait_for(both)}
    assert int(by_id[aborted["ResponseMetadata"]["RequestId"]]["sent"]) < size
    assert sorted(int(ln["sent"]) for ln in by_id.values())[1] == size
