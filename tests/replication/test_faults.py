"""Faults: a destination region that is down, and kill -9 of either region while replication flows. Nothing
acknowledged is lost, every version reaches COMPLETED once the region is back, and each destination holds
exactly one replica per source version (same ids)."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

import pytest

from harness import Deployment, create_bucket
from replication_helpers import replicate, rule_v2, versions, wait_for


def _setup(own_deployment: Deployment) -> tuple[Any, Any, str, str]:
    s3e, s3w = own_deployment["us-east-2"].client(), own_deployment["us-west-2"].client()
    eb = create_bucket(s3e, "us-east-2", versioned=True)
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    replicate(s3e, eb, "us-east-2", rule_v2(wb))
    return s3e, s3w, eb, wb


def _all_completed(s3: Any, bucket: str) -> bool:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            st = s3.head_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"]).get("ReplicationStatus")
            if st != "COMPLETED":
                return False
    return True


def _same_versions(s3e: Any, eb: str, s3w: Any, wb: str) -> None:
    src, dst = versions(s3e, eb), versions(s3w, wb)
    assert src == dst
    assert len({vid for _, vid, *_ in dst}) == len(dst)


def test_destination_down_then_back_in_order(own_deployment: Deployment) -> None:
    s3e, s3w, eb, wb = _setup(own_deployment)
    west = own_deployment["us-west-2"]
    west.stop()
    acked = [s3e.put_object(Bucket=eb, Key="same-key", Body=f"v{i}".encode())["VersionId"] for i in range(5)]
    acked += [s3e.put_object(Bucket=eb, Key=f"k{i}", Body=b"x")["VersionId"] for i in range(20)]
    for vid in acked[:5]:
        assert s3e.head_object(Bucket=eb, Key="same-key", VersionId=vid)["ReplicationStatus"] == "PENDING"
    with urllib.request.urlopen(own_deployment["us-east-2"].endpoint + "/_twinstore/metrics") as r:
        metrics = r.read().decode()
    labels = f'source_bucket="{eb}",rule_id="r1",destination_bucket="{wb}"'
    assert f"twinstore_replication_operations_pending{{{labels}}} 25" in metrics
    assert f"twinstore_replication_bytes_pending{{{labels}}} {5 * 2 + 20}" in metrics
    west.start()
    s3w = west.client()
    wait_for(lambda: _all_completed(s3e, eb), timeout=90, what="all COMPLETED after the destination returned")
    _same_versions(s3e, eb, s3w, wb)
    assert s3w.get_object(Bucket=wb, Key="same-key")["Body"].read() == b"v4"


def _writer(s3: Any, bucket: str, n: int, acked: list[str], size: int) -> None:
    for i in range(n):
        try:
            acked.append(s3.put_object(Bucket=bucket, Key=f"obj/{i % 40}", Body=bytes([i % 251]) * size)["VersionId"])
        except Exception:  # noqa: BLE001 - the region may be killed under us; unacknowledged writes do not count
            return


@pytest.mark.parametrize("victim", ["us-east-2", "us-west-2"])
def test_kill9_during_replication_loses_nothing(own_deployment: Deployment, victim: str) -> None:
    s3e, s3w, eb, wb = _setup(own_deployment)
    acked: list[str] = []
    big: list[str] = []
    t1 = threading.Thread(target=_writer, args=(s3e, eb, 300, acked, 1024))
    t2 = threading.Thread(target=_writer, args=(s3e, eb, 8, big, 3 * 1024 * 1024))
    t1.start()
    t2.start()
    wait_for(lambda: len(acked) >= 60, what="writes flowing")
    own_deployment[victim].kill9()
    t1.join()
    t2.join()
    own_deployment[victim].start()
    s3e, s3w = own_deployment["us-east-2"].client(), own_deployment["us-west-2"].client()
    if victim == "us-east-2":  # a killed source: every acknowledged version is still there
        have = {vid for _, vid, *_ in versions(s3e, eb)}
        assert set(acked) | set(big) <= have
    _writer(s3e, eb, 20, acked, 100)  # writes after the restart replicate too
    wait_for(lambda: _all_completed(s3e, eb), timeout=120, what="all COMPLETED after kill -9")
    _same_versions(s3e, eb, s3w, wb)
