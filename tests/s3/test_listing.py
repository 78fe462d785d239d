"""ListObjectsV2 and ListObjects (v1): prefix, delimiter, pagination, start-after, fetch-owner, paginators,
and hiding keys whose current version is a delete marker."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import ACCOUNT_ID

KEYS25 = [f"k{i:02d}" for i in range(25)]
TREE = ["a", "b/1", "b/2", "b/3", "c", "d/x/1", "d/y", "e", "f/1", "f/2", "g"]


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def put_all(s3: Any, bucket: str, keys: list[str]) -> None:
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())


def test_list_v2_basic_fields(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["b", "a", "c"])
    resp = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in resp["Contents"]] == ["a", "b", "c"]
    assert resp["KeyCount"] == 3
    assert resp["IsTruncated"] is False
    assert resp["Name"] == bucket
    assert resp["MaxKeys"] == 1000
    assert "NextContinuationToken" not in resp
    first = resp["Contents"][0]
    assert first["ETag"] == '"0cc175b9c0f1b6a831c399e269772661"'
    assert first["Size"] == 1
    assert first["StorageClass"] == "STANDARD"
    assert "Owner" not in first  # only with fetch-owner
    assert first["LastModified"].tzinfo is not None


def test_list_v2_empty_bucket(s3: Any, bucket: str) -> None:
    resp = s3.list_objects_v2(Bucket=bucket)
    assert resp["KeyCount"] == 0
    assert "Contents" not in resp
    assert resp["IsTruncated"] is False


def test_list_v2_fetch_owner(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["a"])
    resp = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert resp["Contents"][0]["Owner"]["ID"] == ACCOUNT_ID


def test_list_v2_prefix(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, TREE)
    resp = s3.list_objects_v2(Bucket=bucket, Prefix="b/")
    assert [o["Key"] for o in resp["Contents"]] == ["b/1", "b/2", "b/3"]
    assert resp["Prefix"] == "b/"
    assert resp["KeyCount"] == 3
    assert s3.list_objects_v2(Bucket=bucket, Prefix="zzz")["KeyCount"] == 0
    # a prefix that is itself a key
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="a")["Contents"]] == ["a"]


def test_list_v2_delimiter(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, TREE)
    resp = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in resp["Contents"]] == ["a", "c", "e", "g"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["b/", "d/", "f/"]
    assert resp["KeyCount"] == 7
    assert resp["Delimiter"] == "/"
    nested = s3.list_objects_v2(Bucket=bucket, Delimiter="/", Prefix="d/")
    assert [o["Key"] for o in nested["Contents"]] == ["d/y"]
    assert [p["Prefix"] for p in nested["CommonPrefixes"]] == ["d/x/"]
    # multi-character delimiter
    put_all(s3, bucket, ["m--1--x", "m--2", "m--1--y"])
    multi = s3.list_objects_v2(Bucket=bucket, Delimiter="--", Prefix="m--")
    assert [p["Prefix"] for p in multi["CommonPrefixes"]] == ["m--1--"]
    assert [o["Key"] for o in multi["Contents"]] == ["m--2"]


def test_list_v2_pagination_walks_every_key_once(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, KEYS25)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        resp = s3.list_objects_v2(Bucket=bucket, MaxKeys=4, **kw)
        pages += 1
        keys = [o["Key"] for o in resp.get("Contents", [])]
        assert resp["KeyCount"] == len(keys)
        assert resp["MaxKeys"] == 4
        seen += keys
        if token:
            assert resp["ContinuationToken"] == token
        if not resp["IsTruncated"]:
            assert "NextContinuationToken" not in resp
            break
        assert len(keys) == 4
        token = resp["NextContinuationToken"]
        assert pages < 20
    assert seen == KEYS25
    assert pages == 7


def test_list_v2_delimiter_pagination_pages_end_on_common_prefix(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, TREE)
    seen_keys: list[str] = []
    seen_prefixes: list[str] = []
    token = None
    pages = []
    while True:
        kw = {"ContinuationToken": token} if token else {}
        resp = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, Delimiter="/", **kw)
        keys = [o["Key"] for o in resp.get("Contents", [])]
        prefixes = [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
        assert resp["KeyCount"] == len(keys) + len(prefixes) <= 2
        pages.append(sorted(keys + prefixes))
        seen_keys += keys
        seen_prefixes += prefixes
        if not resp["IsTruncated"]:
            break
        token = resp["NextContinuationToken"]
        assert len(pages) < 20
    assert seen_keys == ["a", "c", "e", "g"]
    assert seen_prefixes == ["b/", "d/", "f/"]
    assert pages == [["a", "b/"], ["c", "d/"], ["e", "f/"], ["g"]]


def test_list_v2_start_after(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, KEYS25)
    resp = s3.list_objects_v2(Bucket=bucket, StartAfter="k20")
    assert [o["Key"] for o in resp["Contents"]] == ["k21", "k22", "k23", "k24"]
    assert resp["StartAfter"] == "k20"
    # start-after need not be an existing key
    resp = s3.list_objects_v2(Bucket=bucket, StartAfter="k205")
    assert [o["Key"] for o in resp["Contents"]] == ["k21", "k22", "k23", "k24"]
    # combined with pagination, start-after still holds
    page1 = s3.list_objects_v2(Bucket=bucket, StartAfter="k10", MaxKeys=3)
    assert [o["Key"] for o in page1["Contents"]] == ["k11", "k12", "k13"]
    page2 = s3.list_objects_v2(Bucket=bucket, StartAfter="k10", MaxKeys=3,
                               ContinuationToken=page1["NextContinuationToken"])
    assert [o["Key"] for o in page2["Contents"]] == ["k14", "k15", "k16"]
    # start-after inside a common prefix skips that prefix
    put_all(s3, bucket, TREE)
    resp = s3.list_objects_v2(Bucket=bucket, Delimiter="/", StartAfter="b/2")
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["d/", "f/"]


def test_list_v2_paginator(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, KEYS25)
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 6}))
    assert len(pages) == 5
    assert [o["Key"] for p in pages for o in p["Contents"]] == KEYS25
    pag = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/", Prefix="k1",
                                                        PaginationConfig={"PageSize": 3})
    assert [o["Key"] for o in pag.search("Contents")] == [f"k1{i}" for i in range(10)]


def test_list_v2_bad_continuation_token(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="!!!not a token!!!")
    assert code(e) == "InvalidArgument"


def test_list_v2_no_such_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="tb-missing-listing-bucket-00")
    assert code(e) == "NoSuchBucket"


def test_list_v1_marker_pagination(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, KEYS25)
    seen: list[str] = []
    marker = ""
    pages = 0
    while True:
        resp = s3.list_objects(Bucket=bucket, MaxKeys=4, Marker=marker)
        pages += 1
        keys = [o["Key"] for o in resp.get("Contents", [])]
        assert resp["Marker"] == marker
        assert resp["Contents"][0]["Owner"]["ID"] == ACCOUNT_ID
        seen += keys
        if not resp["IsTruncated"]:
            break
        marker = resp.get("NextMarker") or keys[-1]
        assert pages < 20
    assert seen == KEYS25


def test_list_v1_delimiter_next_marker(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, TREE)
    resp = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert [o["Key"] for o in resp["Contents"]] == ["a"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["b/"]
    assert resp["IsTruncated"] is True
    assert resp["NextMarker"] == "b/"
    rest = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=resp["NextMarker"])
    assert [o["Key"] for o in rest["Contents"]] == ["c", "e", "g"]
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["d/", "f/"]
    assert rest["IsTruncated"] is False


def test_list_v1_paginator(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, TREE)
    pag = s3.get_paginator("list_objects").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2})
    keys, prefixes = [], []
    for page in pag:
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert keys == ["a", "c", "e", "g"]
    assert prefixes == ["b/", "d/", "f/"]


def test_listing_hides_delete_markers(s3: Any, vbucket: str) -> None:
    put_all(s3, vbucket, ["a", "b", "c", "d/1", "d/2"])
    s3.delete_object(Bucket=vbucket, Key="b")
    s3.delete_object(Bucket=vbucket, Key="d/1")
    s3.delete_object(Bucket=vbucket, Key="d/2")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket)["Contents"]] == ["a", "c"]
    assert [o["Key"] for o in s3.list_objects(Bucket=vbucket)["Contents"]] == ["a", "c"]
    resp = s3.list_objects_v2(Bucket=vbucket, Delimiter="/")
    assert "CommonPrefixes" not in resp  # every key under d/ is deleted
    # pagination across hidden keys still yields every live key once
    put_all(s3, vbucket, [f"p{i}" for i in range(6)])
    for i in (1, 2, 4):
        s3.delete_object(Bucket=vbucket, Key=f"p{i}")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=vbucket, Prefix="p",
                                                          PaginationConfig={"PageSize": 1})
    assert [o["Key"] for o in pages.search("Contents")] == ["p0", "p3", "p5"]
    # and a key whose older version is live but current is a marker stays hidden
    s3.put_object(Bucket=vbucket, Key="a", Body=b"2")
    s3.delete_object(Bucket=vbucket, Key="a")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=vbucket, Prefix="a")
            .get("Contents", [])] == []


def test_list_max_keys_zero(s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["a"])
    resp = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert resp["KeyCount"] == 0
    assert "Contents" not in resp


def test_aws_cli_ls_recursive(east: Any, s3: Any, bucket: str) -> None:
    put_all(s3, bucket, TREE)
    out = east.aws("s3", "ls", f"s3://{bucket}/", "--recursive").stdout
    listed = [line.split(maxsplit=3)[3] for line in out.splitlines() if line.strip()]
    assert listed == TREE
    out = east.aws("s3", "ls", f"s3://{bucket}/").stdout
    assert "PRE b/" in out and "PRE d/" in out
    api = east.aws("s3api", "list-objects-v2", "--bucket", bucket, "--max-items", "3", "--page-size", "2").stdout
    assert '"NextToken"' in api
