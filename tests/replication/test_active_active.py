"""Active-active: concurrent writers on the same keys in both regions; after quiescence both buckets hold the
same versions, key by key and version by version, and agree on which one is current."""

from __future__ import annotations

import threading
from typing import Any

from harness import create_bucket
from replication_helpers import replicate, rule_v2, versions, wait_for


def _writer(s3: Any, bucket: str, tag: str, n: int) -> None:
    for i in range(n):
        key = f"shared/{i % 7}"
        if i % 11 == 10:
            s3.delete_object(Bucket=bucket, Key=key)
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=f"{tag}-{i}".encode())


def _pending(s3: Any, bucket: str) -> bool:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            st = s3.head_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"]).get("ReplicationStatus")
            if st == "PENDING":
                return True
    return False


def test_concurrent_writers_converge(east: Any, west: Any) -> None:
    s3e, s3w = east.client(), west.client()
    eb = create_bucket(s3e, "us-east-2", versioned=True)
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    replicate(s3e, eb, "us-east-2", rule_v2(wb, delete_markers=True))
    replicate(s3w, wb, "us-west-2", rule_v2(eb, delete_markers=True))
    threads = [threading.Thread(target=_writer, args=(east.client(), eb, f"east{j}", 60)) for j in range(2)]
    threads += [threading.Thread(target=_writer, args=(west.client(), wb, f"west{j}", 60)) for j in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def converged() -> bool:
        return not _pending(s3e, eb) and not _pending(s3w, wb) and versions(s3e, eb) == versions(s3w, wb)
    wait_for(converged, timeout=120, what="both buckets identical")
    ev = versions(s3e, eb)
    assert len(ev) == 4 * 60
    # the current version of each key is the same on both sides: same body through GET
    for i in range(7):
        key = f"shared/{i}"
        latest = [v for v in ev if v[0] == key and v[2]]
        assert len(latest) == 1
        if not latest[0][3]:
            assert s3e.get_object(Bucket=eb, Key=key)["Body"].read() == s3w.get_object(Bucket=wb, Key=key)["Body"].read()
