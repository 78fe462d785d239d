"""Versioning: state transitions, version ids, null-version semantics, delete markers, ListObjectVersions
ordering and pagination, and DeleteBucket while versions remain."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import create_bucket


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def err_headers(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, str]:
    return dict(exc.value.response["ResponseMetadata"]["HTTPHeaders"])


def all_entries(s3: Any, bucket: str, **kw: Any) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is delete marker) in listing order, merged as S3 orders them."""
    resp = s3.list_object_versions(Bucket=bucket, **kw)
    return merged(resp)


def merged(resp: dict[str, Any]) -> list[tuple[str, str, bool, bool]]:
    entries = [(v["Key"], v["VersionId"], v["IsLatest"], False, v["LastModified"]) for v in
               resp.get("Versions", [])]
    entries += [(m["Key"], m["VersionId"], m["IsLatest"], True, m["LastModified"]) for m in
                resp.get("DeleteMarkers", [])]
    # botocore splits the interleaved XML into two lists; restore S3's order (key asc, newest first)
    entries.sort(key=lambda e: (e[0].encode(), -e[4].timestamp()))
    return [e[:4] for e in entries]


def delete_everything(s3: Any, bucket: str) -> None:
    resp = s3.list_object_versions(Bucket=bucket)
    objs = [{"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in resp.get("Versions", []) + resp.get("DeleteMarkers", [])]
    if objs:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": objs, "Quiet": True})


def test_state_transitions(s3: Any, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    unversioned = s3.put_object(Bucket=bucket, Key="k", Body=b"0")
    assert "VersionId" not in unversioned
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"1")["VersionId"]
    assert v1 and v1 != "null"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"2")["VersionId"] == "null"
    # the object written while unversioned was the null version and has been overwritten
    entries = all_entries(s3, bucket)
    assert entries == [("k", "null", True, False), ("k", v1, False, False)]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"2"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"1"


def test_unversioned_object_becomes_null_version(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"new")["VersionId"]
    assert all_entries(s3, bucket) == [("k", v1, True, False), ("k", "null", False, False)]
    got = s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    assert got["Body"].read() == b"old"
    assert got["VersionId"] == "null"
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == v1


def test_version_ids_in_responses(s3: Any, vbucket: str) -> None:
    put = s3.put_object(Bucket=vbucket, Key="k", Body=b"a")
    vid = put["VersionId"]
    assert put["ResponseMetadata"]["HTTPHeaders"]["x-amz-version-id"] == vid
    assert s3.get_object(Bucket=vbucket, Key="k")["VersionId"] == vid
    assert s3.head_object(Bucket=vbucket, Key="k")["VersionId"] == vid
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=vid)["VersionId"] == vid
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"b")["VersionId"]
    assert v2 != vid
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"b"
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=vid)["Body"].read() == b"a"


def test_suspended_overwrites_null_and_keeps_others(s3: Any, vbucket: str) -> None:
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"1")["VersionId"]
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=vbucket, Key="k", Body=b"n1")
    s3.put_object(Bucket=vbucket, Key="k", Body=b"n2")
    assert all_entries(s3, vbucket) == [("k", "null", True, False), ("k", v1, False, False)]
    assert s3.get_object(Bucket=vbucket, Key="k")["Body"].read() == b"n2"
    # a simple DELETE while suspended replaces the null version by a null delete marker
    resp = s3.delete_object(Bucket=vbucket, Key="k")
    assert resp["DeleteMarker"] is True
    assert resp["VersionId"] == "null"
    assert all_entries(s3, vbucket) == [("k", "null", True, True), ("k", v1, False, False)]
    # re-enable: new versions stack on top, the null marker stays
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Enabled"})
    v3 = s3.put_object(Bucket=vbucket, Key="k", Body=b"3")["VersionId"]
    assert all_entries(s3, vbucket) == [("k", v3, True, False), ("k", "null", False, True),
                                        ("k", v1, False, False)]


def test_delete_marker_semantics(s3: Any, vbucket: str) -> None:
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"data")["VersionId"]
    resp = s3.delete_object(Bucket=vbucket, Key="k")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert resp["DeleteMarker"] is True
    marker = resp["VersionId"]
    assert marker not in (None, "null", v1)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k")
    assert code(e) == "NoSuchKey" and status(e) == 404
    h = err_headers(e)
    assert h["x-amz-delete-marker"] == "true"
    assert h["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=vbucket, Key="k")
    assert code(e) == "404"
    assert err_headers(e)["x-amz-delete-marker"] == "true"
    # asking for the marker by id is 405 with Allow: DELETE
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert code(e) == "MethodNotAllowed" and status(e) == 405
    h = err_headers(e)
    assert h["x-amz-delete-marker"] == "true" and h["allow"] == "DELETE" and "last-modified" in h
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert code(e) == "405"
    # older versions stay readable by id
    assert s3.get_object(Bucket=vbucket, Key="k", VersionId=v1)["Body"].read() == b"data"
    # hidden from plain listings, present in version listings
    assert s3.list_objects_v2(Bucket=vbucket)["KeyCount"] == 0
    assert all_entries(s3, vbucket) == [("k", marker, True, True), ("k", v1, False, False)]
    # removing the marker restores the object
    resp = s3.delete_object(Bucket=vbucket, Key="k", VersionId=marker)
    assert resp["DeleteMarker"] is True and resp["VersionId"] == marker
    got = s3.get_object(Bucket=vbucket, Key="k")
    assert got["Body"].read() == b"data" and got["VersionId"] == v1
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket)["Contents"]] == ["k"]


def test_delete_of_missing_key_still_creates_marker(s3: Any, vbucket: str) -> None:
    resp = s3.delete_object(Bucket=vbucket, Key="ghost")
    assert resp["DeleteMarker"] is True
    assert all_entries(s3, vbucket) == [("ghost", resp["VersionId"], True, True)]


def test_delete_specific_version_permanently(s3: Any, vbucket: str) -> None:
    v1 = s3.put_object(Bucket=vbucket, Key="k", Body=b"1")["VersionId"]
    v2 = s3.put_object(Bucket=vbucket, Key="k", Body=b"2")["VersionId"]
    resp = s3.delete_object(Bucket=vbucket, Key="k", VersionId=v2)
    assert resp["VersionId"] == v2
    assert "DeleteMarker" not in resp  # never returned as false
    assert "x-amz-delete-marker" not in resp["ResponseMetadata"]["HTTPHeaders"]
    # the previous version becomes current again
    got = s3.get_object(Bucket=vbucket, Key="k")
    assert got["Body"].read() == b"1" and got["VersionId"] == v1
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId=v2)
    assert code(e) == "NoSuchVersion" and status(e) == 404
    # deleting it again is idempotent
    assert s3.delete_object(Bucket=vbucket, Key="k", VersionId=v2)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert all_entries(s3, vbucket) == [("k", v1, True, False)]


def test_unknown_and_malformed_version_ids(s3: Any, vbucket: str) -> None:
    vid = s3.put_object(Bucket=vbucket, Key="k", Body=b"1")["VersionId"]
    well_formed_unknown = vid[:-1] + ("0" if vid[-1] != "0" else "1")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId=well_formed_unknown)
    assert code(e) == "NoSuchVersion" and status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=vbucket, Key="k", VersionId=well_formed_unknown)
    assert code(e) == "404"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId="definitely not a version id")
    assert code(e) == "InvalidArgument" and status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=vbucket, Key="k", VersionId="bogus!")
    assert code(e) == "InvalidArgument"
    # a version id of another key is not found for this key
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="other", VersionId=vid)
    assert code(e) == "NoSuchVersion"


def test_list_versions_ordering(s3: Any, vbucket: str) -> None:
    ids: dict[str, list[str]] = {}
    for key in ("b", "a", "c", "a", "b", "a"):
        ids.setdefault(key, []).append(s3.put_object(Bucket=vbucket, Key=key, Body=key.encode())["VersionId"])
    marker = s3.delete_object(Bucket=vbucket, Key="c")["VersionId"]
    resp = s3.list_object_versions(Bucket=vbucket)
    entries = merged(resp)
    expected = [("a", v, i == 0, False) for i, v in enumerate(reversed(ids["a"]))]
    expected += [("b", v, i == 0, False) for i, v in enumerate(reversed(ids["b"]))]
    expected += [("c", marker, True, True), ("c", ids["c"][0], False, False)]
    assert entries == expected
    for key in "abc":
        assert sum(1 for e in entries if e[0] == key and e[2]) == 1
    v = resp["Versions"][0]
    assert v["ETag"] == '"0cc175b9c0f1b6a831c399e269772661"' and v["Size"] == 1 and v["StorageClass"] == "STANDARD"
    assert resp["IsTruncated"] is False
    # the raw XML interleaves DeleteMarker and Version in one order: check through a raw response
    raw = _raw_list_versions(s3, vbucket)
    c_pos = raw.index(b"<Key>c</Key>")
    assert raw.rfind(b"<DeleteMarker>", 0, c_pos) > raw.rfind(b"<Version>", 0, c_pos)


def _raw_list_versions(s3: Any, bucket: str) -> bytes:
    captured: dict[str, bytes] = {}

    def grab(http_response: Any, **_: Any) -> None:
        captured["body"] = http_response.content

    s3.meta.events.register("after-call.s3.ListObjectVersions", grab)
    try:
        s3.list_object_versions(Bucket=bucket)
    finally:
        s3.meta.events.unregister("after-call.s3.ListObjectVersions", grab)
    return captured["body"]


def test_list_versions_pagination_max_keys_1(s3: Any, vbucket: str) -> None:
    for key in ("k1", "k2", "k3"):
        for i in range(3):
            s3.put_object(Bucket=vbucket, Key=key, Body=str(i).encode())
    s3.delete_object(Bucket=vbucket, Key="k2")
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=vbucket, Key="k3", Body=b"null")  # a null version among real ids
    s3.put_bucket_versioning(Bucket=vbucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=vbucket, Key="k3", Body=b"top")
    full = all_entries(s3, vbucket)
    assert len(full) == 12
    walked: list[tuple[str, str, bool, bool]] = []
    kw: dict[str, Any] = {}
    pages = 0
    while True:
        resp = s3.list_object_versions(Bucket=vbucket, MaxKeys=1, **kw)
        pages += 1
        page = merged(resp)
        assert len(page) == 1
        walked += page
        if not resp["IsTruncated"]:
            break
        assert resp["NextKeyMarker"] == page[0][0]
        assert resp["NextVersionIdMarker"] == page[0][1]
        kw = {"KeyMarker": resp["NextKeyMarker"], "VersionIdMarker": resp["NextVersionIdMarker"]}
        assert pages < 50
    assert walked == full
    assert len(set(walked)) == len(full)
    # the paginator agrees
    pag = s3.get_paginator("list_object_versions").paginate(Bucket=vbucket, PaginationConfig={"PageSize": 2})
    seen = [e for page in pag for e in merged(page)]
    assert sorted(seen) == sorted(full)


def test_list_versions_key_marker_only_and_prefix(s3: Any, vbucket: str) -> None:
    for key in ("a/1", "a/2", "b/1"):
        s3.put_object(Bucket=vbucket, Key=key, Body=b"x")
        s3.put_object(Bucket=vbucket, Key=key, Body=b"y")
    resp = s3.list_object_versions(Bucket=vbucket, KeyMarker="a/1")
    assert [e[0] for e in merged(resp)] == ["a/2", "a/2", "b/1", "b/1"]
    resp = s3.list_object_versions(Bucket=vbucket, Prefix="a/", Delimiter="/")
    assert [e[0] for e in merged(resp)] == ["a/1", "a/1", "a/2", "a/2"]
    resp = s3.list_object_versions(Bucket=vbucket, Delimiter="/")
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["a/", "b/"]
    assert not resp.get("Versions")
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=vbucket, VersionIdMarker="null")
    assert code(e) == "InvalidArgument"


def test_delete_bucket_with_versions_and_markers(s3: Any) -> None:
    b = create_bucket(s3, "us-east-2", versioned=True)
    s3.put_object(Bucket=b, Key="k", Body=b"1")
    s3.delete_object(Bucket=b, Key="k")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=b)
    assert code(e) == "BucketNotEmpty" and status(e) == 409
    # only the delete marker left: still not empty
    v = s3.list_object_versions(Bucket=b)["Versions"][0]["VersionId"]
    s3.delete_object(Bucket=b, Key="k", VersionId=v)
    assert s3.list_objects_v2(Bucket=b)["KeyCount"] == 0
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=b)
    assert code(e) == "BucketNotEmpty"
    delete_everything(s3, b)
    assert s3.delete_bucket(Bucket=b)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket=b)
    assert code(e) == "404"


def test_get_bucket_versioning_raw_unversioned(s3: Any, bucket: str) -> None:
    resp = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in resp and "MFADelete" not in resp


def test_null_version_by_id(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"null one")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    head = s3.head_object(Bucket=bucket, Key="k", VersionId="null")
    assert head["VersionId"] == "null" and head["ContentLength"] == 8
    resp = s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert resp["VersionId"] == "null" and "DeleteMarker" not in resp
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="null")
    assert code(e) == "NoSuchVersion"
    assert all_entries(s3, bucket) == [("k", v1, True, False)]


def test_list_versions_delimiter_pagination(s3: Any, vbucket: str) -> None:
    for key in ("a", "b/1", "b/2", "c", "d/1"):
        s3.put_object(Bucket=vbucket, Key=key, Body=b"1")
        s3.put_object(Bucket=vbucket, Key=key, Body=b"2")
    seen: list[str] = []
    kw: dict[str, Any] = {}
    for _ in range(20):
        resp = s3.list_object_versions(Bucket=vbucket, Delimiter="/", MaxKeys=1, **kw)
        page = [e[0] for e in merged(resp)] + [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
        assert len(page) == 1
        seen += page
        if not resp["IsTruncated"]:
            break
        kw = {"KeyMarker": resp["NextKeyMarker"]}
        if "NextVersionIdMarker" in resp:
            kw["VersionIdMarker"] = resp["NextVersionIdMarker"]
    assert seen == ["a", "a", "b/", "c", "c", "d/"]


def test_list_versions_hostile_keys_paginated(s3: Any, vbucket: str) -> None:
    keys = ["sp ace+plus", "q?mark#hash", "ключ/日本語 ✓", "a%2Fb", "dir/"]
    for k in keys:
        s3.put_object(Bucket=vbucket, Key=k, Body=b"1")
        s3.put_object(Bucket=vbucket, Key=k, Body=b"2")
    walked: list[tuple[str, str, bool, bool]] = []
    kw: dict[str, Any] = {}
    for _ in range(30):
        resp = s3.list_object_versions(Bucket=vbucket, MaxKeys=1, **kw)
        walked += merged(resp)
        if not resp["IsTruncated"]:
            break
        kw = {"KeyMarker": resp["NextKeyMarker"], "VersionIdMarker": resp["NextVersionIdMarker"]}
    assert walked == all_entries(s3, vbucket)
    assert [e[0] for e in walked] == [k for k in sorted(keys, key=str.encode) for _ in range(2)]
