"""Bucket operations through boto3 and raw signed HTTP: naming, CreateBucket location rules and the global
namespace, listing, head/location, delete, configuration subresources, and cross-region redirects."""

from __future__ import annotations

import json
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from harness import ACCOUNT_ID, create_bucket, signed_raw, unique_bucket

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _location_body(region: str) -> bytes:
    return (f"<CreateBucketConfiguration {NS}><LocationConstraint>{region}</LocationConstraint>"
            f"</CreateBucketConfiguration>").encode()


# ---- naming ------------------------------------------------------------------------------------------------------
BAD_NAMES = [
    "ab", "a" * 64, "Uppercase-bucket", "under_score-bucket", "192.168.5.4", "dots..together",
    "xn--punycode-bucket", "name-s3alias", "-leading-dash", "trailing-dash-", "sthree-reserved",
    "name--ol-s3", "dot-.dash",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_bucket_name_raw(east, name):
    """Raw signed HTTP: botocore would reject some of these names before sending them."""
    r = signed_raw(east.endpoint, east.name, "PUT", f"/{name}", _location_body(east.name))
    assert r.status == 400, r.body
    assert r.error_code() == "InvalidBucketName"


@pytest.mark.parametrize("name", ["xn--abc-bucket", "192.168.5.4", "ab", "Upper-Case-Name", "x-s3alias"])
def test_invalid_bucket_name_boto3(s3, name):
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    assert _code(exc) == "InvalidBucketName"


@pytest.mark.parametrize("name", ["abc", "a" * 63, "with.dots.ok", "9-starts-with-digit"])
def test_valid_bucket_names(s3, name):
    name = name if len(name) > 10 else f"{name}-{unique_bucket('v')[2:12]}"
    try:
        create_bucket(s3, "us-east-2", name)
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        s3.delete_bucket(Bucket=name)


# ---- CreateBucket location constraint and the global namespace ----------------------------------------------
def test_create_without_location_constraint(s3):
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=unique_bucket())
    assert _code(exc) == "IllegalLocationConstraintException"


def test_create_with_other_region_constraint(s3):
    name = unique_bucket()
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert _code(exc) == "IllegalLocationConstraintException"
    assert "us-west-2" in exc.value.response["Error"]["Message"]


def test_create_with_bogus_constraint(east):
    name = unique_bucket()
    r = signed_raw(east.endpoint, east.name, "PUT", f"/{name}", _location_body("moon-base-9"))
    assert r.status == 400
    assert r.error_code() == "InvalidLocationConstraint"


def test_create_returns_location(east):
    name = unique_bucket()
    r = signed_raw(east.endpoint, east.name, "PUT", f"/{name}", _location_body(east.name))
    assert r.status == 200, r.body
    assert name in r.headers["location"]


def test_create_twice_is_already_owned(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    assert _code(exc) == "BucketAlreadyOwnedByYou"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_namespace_is_global_across_regions(west, bucket):
    w = west.client()
    with pytest.raises(ClientError) as exc:
        w.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert _code(exc) == "BucketAlreadyOwnedByYou"


def test_public_acl_on_create(s3):
    name = unique_bucket()
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name, ACL="public-read", CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    assert _code(exc) == "InvalidBucketAclWithObjectOwnership"
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert _code(exc) == "404"


def test_private_acl_on_create_is_fine(s3):
    name = unique_bucket()
    s3.create_bucket(Bucket=name, ACL="private", CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    s3.head_bucket(Bucket=name)


def test_name_reusable_after_delete(s3, west):
    name = create_bucket(s3, "us-east-2")
    s3.delete_bucket(Bucket=name)
    w = west.client()
    create_bucket(w, "us-west-2", name)
    assert w.get_bucket_location(Bucket=name)["LocationConstraint"] == "us-west-2"


# ---- list / head / location / delete --------------------------------------------------------------------------
def test_list_buckets_spans_regions(s3, west, bucket):
    wname = create_bucket(west.client(), "us-west-2")
    for client in (s3, west.client()):
        listed = {b["Name"]: b for b in client.list_buckets()["Buckets"]}
        assert listed[bucket]["BucketRegion"] == "us-east-2"
        assert listed[wname]["BucketRegion"] == "us-west-2"
        assert listed[bucket]["CreationDate"]
    assert s3.list_buckets()["Owner"]["ID"]


def test_list_buckets_filters(s3, west, bucket):
    wname = create_bucket(west.client(), "us-west-2")
    east_only = [b["Name"] for b in s3.list_buckets(BucketRegion="us-east-2")["Buckets"]]
    assert bucket in east_only and wname not in east_only
    by_prefix = s3.list_buckets(Prefix=bucket)["Buckets"]
    assert [b["Name"] for b in by_prefix] == [bucket]


def test_list_buckets_pagination(s3, west):
    prefix = unique_bucket("pg")
    names = sorted([create_bucket(s3, "us-east-2", f"{prefix}-{i}") for i in range(2)]
                   + [create_bucket(west.client(), "us-west-2", f"{prefix}-{i}") for i in range(2, 5)])
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_buckets(Prefix=prefix, MaxBuckets=2, **kw)
        assert len(page["Buckets"]) <= 2
        seen += [b["Name"] for b in page["Buckets"]]
        token = page.get("ContinuationToken")
        if not token:
            break
    assert seen == names


def test_head_bucket_region(s3, west, bucket):
    h = s3.head_bucket(Bucket=bucket)
    assert h["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-2"
    assert h["BucketRegion"] == "us-east-2"
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=unique_bucket())
    assert _code(exc) == "404"


def test_get_bucket_location(s3, west, bucket):
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "us-east-2"
    wname = create_bucket(west.client(), "us-west-2")
    # answered by any region: clients use it to discover where a bucket lives
    assert s3.get_bucket_location(Bucket=wname)["LocationConstraint"] == "us-west-2"
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_location(Bucket=unique_bucket())
    assert _code(exc) == "NoSuchBucket"


def test_delete_bucket(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)
    assert _code(exc) == "BucketNotEmpty"
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)
    assert _code(exc) == "NoSuchBucket"
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_delete_bucket_with_only_versions_left(s3, vbucket):
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=vbucket, Key="k")  # leaves the version and a delete marker
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=vbucket)
    assert _code(exc) == "BucketNotEmpty"


# ---- versioning -------------------------------------------------------------------------------------------------
def test_versioning_on_fresh_bucket(s3, bucket):
    v = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in v
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


# ---- tagging ----------------------------------------------------------------------------------------------------
def test_bucket_tagging(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert _code(exc) == "NoSuchTagSet"
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "env", "Value": ""}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert _code(exc) == "NoSuchTagSet"


@pytest.mark.parametrize("tagset", [
    [{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}],
    [{"Key": "k" * 129, "Value": "v"}],
    [{"Key": "k", "Value": "v" * 257}],
    [{"Key": "aws:reserved", "Value": "v"}],
    [{"Key": f"k{i}", "Value": "v"} for i in range(51)],
], ids=["duplicate", "long-key", "long-value", "aws-prefix", "too-many"])
def test_bucket_tagging_invalid(s3, bucket, tagset):
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset})
    assert _code(exc) in ("InvalidTag", "BadRequest")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)


# ---- public access block ----------------------------------------------------------------------------------------
def test_public_access_block(s3, bucket):
    cfg = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert cfg == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                   "RestrictPublicBuckets": True}
    new = {"BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
           "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=new)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == new
    resp = s3.delete_public_access_block(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_public_access_block(Bucket=bucket)
    assert _code(exc) == "NoSuchPublicAccessBlockConfiguration"


# ---- policy ----------------------------------------------------------------------------------------------------
def _policy(bucket: str, resource: str | None = None) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "CloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": resource or f"arn:aws:s3:::{bucket}/AWSLogs/{ACCOUNT_ID}/*",
        "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}]})


def test_bucket_policy_roundtrip(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert _code(exc) == "NoSuchBucketPolicy"
    doc = _policy(bucket)
    resp = s3.put_bucket_policy(Bucket=bucket, Policy=doc)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(doc)
    assert s3.delete_bucket_policy(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert _code(exc) == "NoSuchBucketPolicy"


@pytest.mark.parametrize("kind", ["not-json", "array", "other-bucket", "no-statement", "bad-effect"])
def test_bucket_policy_validation(s3, bucket, kind):
    docs = {
        "not-json": "{this is not json",
        "array": "[]",
        "other-bucket": _policy(bucket, "arn:aws:s3:::some-other-bucket/*"),
        "no-statement": json.dumps({"Version": "2012-10-17"}),
        "bad-effect": _policy(bucket).replace('"Allow"', '"Perhaps"'),
    }
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy=docs[kind])
    assert _code(exc) == "MalformedPolicy"
    if kind == "other-bucket":
        assert "invalid resource" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert _code(exc) == "NoSuchBucketPolicy"


# ---- logging / ownership --------------------------------------------------------------------------------------
def test_bucket_logging(s3, bucket):
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    target = create_bucket(s3, "us-east-2")
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "logs/"}})
    got = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
    assert got["TargetBucket"] == target and got["TargetPrefix"] == "logs/"
    s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)


def test_bucket_logging_unknown_target(s3, bucket):
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_logging(Bucket=bucket, BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": unique_bucket(), "TargetPrefix": "x/"}})
    assert _code(exc) == "InvalidTargetBucketForLogging"


def test_ownership_controls(s3, bucket):
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerPreferred"}]


def test_ownership_on_create(s3):
    name = unique_bucket()
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter",
                     CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    rules = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "ObjectWriter"}]


# ---- cross-region: redirect then proxy ------------------------------------------------------------------------
@pytest.fixture()
def wbucket(east, west) -> str:
    """A us-west-2 bucket, once the us-east-2 process has learned that us-west-2 is part of the deployment
    (regions refresh their peer list periodically; a region started just before its peer lags briefly)."""
    name = create_bucket(west.client(), "us-west-2")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = signed_raw(east.endpoint, "us-west-2", "GET", f"/{name}?location")
        if r.status == 200:
            break
        assert r.error_code() == "AuthorizationHeaderMalformed", r.body
        time.sleep(0.2)
    return name


def test_wrong_region_endpoint_redirect_header(east, wbucket):
    r = signed_raw(east.endpoint, east.name, "GET", f"/{wbucket}?list-type=2")
    assert r.status == 301
    assert r.error_code() == "PermanentRedirect"
    assert r.headers["x-amz-bucket-region"] == "us-west-2"


def test_cross_region_via_redirector(s3, west, wbucket):
    """A us-east-2 client on the us-east-2 endpoint working with a us-west-2 bucket: botocore follows the
    301, re-signs for us-west-2, re-sends to the same endpoint, and twinstore proxies it to us-west-2."""
    wname = wbucket
    client = s3  # configured for us-east-2 and the us-east-2 endpoint
    client.put_object(Bucket=wname, Key="dir/x.txt", Body=b"across regions", Metadata={"m": "1"})
    got = client.get_object(Bucket=wname, Key="dir/x.txt")
    assert got["Body"].read() == b"across regions"
    assert got["Metadata"] == {"m": "1"}
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=wname)["Contents"]]
    assert keys == ["dir/x.txt"]
    head = client.head_object(Bucket=wname, Key="dir/x.txt")
    assert head["ContentLength"] == len(b"across regions")
    # the data really lives in us-west-2
    assert west.client().get_object(Bucket=wname, Key="dir/x.txt")["Body"].read() == b"across regions"


def test_cross_region_head_bucket(s3, wbucket):
    h = s3.head_bucket(Bucket=wbucket)
    assert h["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-west-2"
    assert s3.get_bucket_location(Bucket=wbucket)["LocationConstraint"] == "us-west-2"


def test_cross_region_errors_and_large_body(s3, west, wbucket):
    wname = wbucket
    big = bytes(range(256)) * 8192  # 2 MiB, streamed through the proxy
    s3.put_object(Bucket=wname, Key="big", Body=big)
    assert s3.get_object(Bucket=wname, Key="big")["Body"].read() == big
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=wname, Key="missing")
    assert _code(exc) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=wname, Key="missing")
    assert _code(exc) == "404"


def test_cross_region_bucket_config_and_delete(s3, west, wbucket):
    wname = wbucket
    s3.put_bucket_versioning(Bucket=wname, VersioningConfiguration={"Status": "Enabled"})
    assert west.client().get_bucket_versioning(Bucket=wname)["Status"] == "Enabled"
    s3.put_bucket_tagging(Bucket=wname, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert s3.get_bucket_tagging(Bucket=wname)["TagSet"] == [{"Key": "a", "Value": "b"}]
    s3.delete_bucket(Bucket=wname)
    assert wname not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_proxied_response_headers(east, west, wbucket):
    west.client().put_object(Bucket=wbucket, Key="h", Body=b"0123456789")
    r = signed_raw(east.endpoint, "us-west-2", "GET", f"/{wbucket}/h", headers={"Range": "bytes=2-5"})
    assert r.status == 206
    assert r.body == b"2345"
    assert r.headers["content-range"] == "bytes 2-5/10"
    names = [k.lower() for k, _ in r.header_list]
    for name in ("date", "content-length", "x-amz-request-id"):
        assert names.count(name) == 1, r.header_list


def test_cross_region_client_signing_for_bucket_region(east, wbucket):
    """A client pinned to us-west-2 but pointed at the us-east-2 endpoint is served directly (proxied)."""
    c = _client(east.endpoint, "us-west-2")
    c.put_object(Bucket=wbucket, Key="direct", Body=b"d")
    assert c.get_object(Bucket=wbucket, Key="direct")["Body"].read() == b"d"


def test_region_outside_deployment_redirects_back(east, bucket):
    """Signed for a region that is not part of the deployment: 400 AuthorizationHeaderMalformed with <Region>,
    which botocore's redirector follows by re-signing; the retried PutObject (Expect: 100-continue, body never
    sent the first time) must work on the same pooled connection."""
    c = _client(east.endpoint, "eu-north-1")
    for i in range(3):
        c.put_object(Bucket=bucket, Key=f"k{i}", Body=b"body bytes" * 100)
    assert c.get_object(Bucket=bucket, Key="k2")["Body"].read() == b"body bytes" * 100


def _client(endpoint: str, region: str):
    import boto3
    from harness import ACCESS_KEY, SECRET_KEY
    return boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, config=Config(retries={"max_attempts": 1}))
