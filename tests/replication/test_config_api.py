"""Put/Get/DeleteBucketReplication: the schema, AWS's validation and error codes, and what a config changes."""

from __future__ import annotations

import hashlib
import base64
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import create_bucket, signed_raw
from replication_helpers import ROLE, replicate, rule_v2, status, wait_status

ROLE_E = ROLE.format(region="us-east-2")


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture()
def pair(east: Any, west: Any) -> tuple[Any, str, str]:
    s3 = east.client()
    src = create_bucket(s3, "us-east-2", versioned=True)
    dst = create_bucket(west.client(), "us-west-2", versioned=True)
    return s3, src, dst


def _put(s3: Any, bucket: str, rules: list[dict[str, Any]], role: str = ROLE_E) -> None:
    s3.put_bucket_replication(Bucket=bucket, ReplicationConfiguration={"Role": role, "Rules": rules})


def test_round_trip_generated_id_and_delete(pair: tuple[Any, str, str]) -> None:
    s3, src, dst = pair
    with pytest.raises(ClientError) as e:
        s3.get_bucket_replication(Bucket=src)
    assert _err(e) == ("ReplicationConfigurationNotFoundError", 404)
    rule = rule_v2(dst)
    del rule["ID"]
    rule["Filter"] = {"And": {"Prefix": "docs/", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}}
    rule["Destination"].update({"StorageClass": "STANDARD_IA",
                                "ReplicationTime": {"Status": "Enabled", "Time": {"Minutes": 15}},
                                "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}})
    rule["SourceSelectionCriteria"] = {"ReplicaModifications": {"Status": "Enabled"}}
    _put(s3, src, [rule])
    got = s3.get_bucket_replication(Bucket=src)["ReplicationConfiguration"]
    assert got["Role"] == ROLE_E
    (r,) = got["Rules"]
    assert r["ID"] and len(r["ID"]) <= 255
    assert r["Filter"]["And"]["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert r["Destination"]["ReplicationTime"]["Time"]["Minutes"] == 15
    assert r["SourceSelectionCriteria"]["ReplicaModifications"]["Status"] == "Enabled"
    again = s3.get_bucket_replication(Bucket=src)["ReplicationConfiguration"]
    assert again["Rules"][0]["ID"] == r["ID"]
    assert s3.delete_bucket_replication(Bucket=src)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_bucket_replication(Bucket=src)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.get_bucket_replication(Bucket=src)
    assert _err(e)[0] == "ReplicationConfigurationNotFoundError"


def test_versioning_required_on_source_and_destination(east: Any, west: Any) -> None:
    s3 = east.client()
    plain = create_bucket(s3, "us-east-2")
    dst = create_bucket(west.client(), "us-west-2", versioned=True)
    with pytest.raises(ClientError) as e:
        _put(s3, plain, [rule_v2(dst)])
    assert _err(e) == ("InvalidRequest", 400)
    s3.put_bucket_versioning(Bucket=plain, VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(ClientError) as e:
        _put(s3, plain, [rule_v2(dst)])
    assert _err(e) == ("InvalidRequest", 400)

    src = create_bucket(s3, "us-east-2", versioned=True)
    unversioned_remote = create_bucket(west.client(), "us-west-2")
    with pytest.raises(ClientError) as e:
        _put(s3, src, [rule_v2(unversioned_remote)])
    assert _err(e) == ("InvalidRequest", 400)
    assert "versioning" in e.value.response["Error"]["Message"]
    unversioned_local = create_bucket(s3, "us-east-2")
    with pytest.raises(ClientError) as e:
        _put(s3, src, [rule_v2(unversioned_local)])
    assert _err(e) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        _put(s3, src, [rule_v2("no-such-bucket-anywhere-xyz")])
    assert _err(e) == ("InvalidRequest", 400)
    assert "exist" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        s3.get_bucket_replication(Bucket=src)  # nothing was stored by the rejected calls


@pytest.mark.parametrize("mutate,code", [
    (lambda r: r.pop("DeleteMarkerReplication"), "InvalidRequest"),
    (lambda r: r.pop("Priority"), "InvalidRequest"),
    (lambda r: r.update(Filter={"Tag": {"Key": "k", "Value": "v"}},
                        DeleteMarkerReplication={"Status": "Enabled"}), "InvalidRequest"),
    (lambda r: r["Destination"].update(Bucket="not-an-arn"), "InvalidArgument"),
    (lambda r: r["Destination"].update(ReplicationTime={"Status": "Enabled", "Time": {"Minutes": 10}},
                                       Metrics={"Status": "Enabled", "EventThreshold": {"Minutes": 15}}),
     "InvalidArgument"),
    (lambda r: r["Destination"].update(Metrics={"Status": "Enabled", "EventThreshold": {"Minutes": 30}}),
     "InvalidArgument"),
    (lambda r: r.update(SourceSelectionCriteria={"SseKmsEncryptedObjects": {"Status": "Enabled"}}),
     "InvalidRequest"),
    (lambda r: r.update(ID="x" * 256), "InvalidArgument"),
    (lambda r: r.update(Filter={"Prefix": "a", "Tag": {"Key": "k", "Value": "v"}}), "MalformedXML"),
])
def test_rule_validation(pair: tuple[Any, str, str], mutate: Any, code: str) -> None:
    s3, src, dst = pair
    rule = rule_v2(dst)
    mutate(rule)
    with pytest.raises(ClientError) as e:
        _put(s3, src, [rule])
    assert _err(e) == (code, 400)


def test_unique_ids_priorities_and_no_mixing(pair: tuple[Any, str, str]) -> None:
    s3, src, dst = pair
    with pytest.raises(ClientError) as e:
        _put(s3, src, [rule_v2(dst, "same", 1), rule_v2(dst, "same", 2, prefix="x")])
    assert _err(e) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as e:
        _put(s3, src, [rule_v2(dst, "a", 1), rule_v2(dst, "b", 1, prefix="x")])
    assert _err(e) == ("InvalidRequest", 400)
    v1 = {"ID": "v1", "Prefix": "old/", "Status": "Enabled", "Destination": {"Bucket": f"arn:aws:s3:::{dst}"}}
    with pytest.raises(ClientError) as e:
        _put(s3, src, [rule_v2(dst), v1])
    assert _err(e)[1] == 400
    with pytest.raises(ClientError) as e:
        _put(s3, src, [v1, dict(v1, ID="v2", Prefix="old/sub")])
    assert _err(e) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as e:
        _put(s3, src, [rule_v2(dst)], role="not-a-role")
    assert _err(e) == ("InvalidArgument", 400)
    _put(s3, src, [v1])
    got = s3.get_bucket_replication(Bucket=src)["ReplicationConfiguration"]["Rules"][0]
    assert got["Prefix"] == "old/" and "Filter" not in got


def test_malformed_xml_and_checksum_required(east: Any, pair: tuple[Any, str, str]) -> None:
    _, src, dst = pair
    body = (f'<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Role>{ROLE_E}</Role>'
            f'<Rule><Status>Enabled</Status></Rule></ReplicationConfiguration>').encode()
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    r = signed_raw(east.endpoint, "us-east-2", "PUT", f"/{src}?replication", body, {"Content-MD5": md5})
    assert (r.status, r.error_code()) == (400, "MalformedXML")
    good = (f'<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Role>{ROLE_E}</Role>'
            f'<Rule><ID>x</ID><Priority>1</Priority><Filter/><Status>Enabled</Status>'
            f'<DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>'
            f'<Destination><Bucket>arn:aws:s3:::{dst}</Bucket></Destination></Rule></ReplicationConfiguration>'
            ).encode()
    r = signed_raw(east.endpoint, "us-east-2", "PUT", f"/{src}?replication", good)
    assert r.status == 400 and r.error_code() == "InvalidRequest"  # neither Content-MD5 nor x-amz-checksum-*
    md5 = base64.b64encode(hashlib.md5(good).digest()).decode()
    r = signed_raw(east.endpoint, "us-east-2", "PUT", f"/{src}?replication", good, {"Content-MD5": md5})
    assert r.status == 200, r.body


def test_suspending_source_versioning_is_refused(pair: tuple[Any, str, str]) -> None:
    s3, src, dst = pair
    _put(s3, src, [rule_v2(dst)])
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=src, VersioningConfiguration={"Status": "Suspended"})
    assert _err(e) == ("InvalidBucketState", 409)
    assert s3.get_bucket_versioning(Bucket=src)["Status"] == "Enabled"


def test_scope_only_new_matching_writes(east: Any, west: Any, pair: tuple[Any, str, str]) -> None:
    s3, src, dst = pair
    s3w = west.client()
    s3.put_object(Bucket=src, Key="docs/before", Body=b"old")
    replicate(s3, src, "us-east-2", rule_v2(dst, prefix="docs/"))
    s3.put_object(Bucket=src, Key="other/after", Body=b"x")
    s3.put_object(Bucket=src, Key="docs/after", Body=b"y")
    wait_status(s3, src, "docs/after", "COMPLETED")
    assert status(s3, src, "docs/before") is None
    assert status(s3, src, "other/after") is None
    keys = [o["Key"] for o in s3w.list_objects_v2(Bucket=dst).get("Contents", [])]
    assert keys == ["docs/after"]
