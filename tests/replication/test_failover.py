"""Failover drill at small scale: the primary (us-east-2) is killed with kill -9 under a write load, the client
goes on writing in the secondary (us-west-2), then the old primary comes back. Nothing acknowledged is lost,
each version exists exactly once on each side with the same id, the source side says COMPLETED and the copy
REPLICA, and nothing is replicated back a second time."""

from __future__ import annotations

import re
import threading
import urllib.request
from typing import Any


from harness import Deployment, create_bucket
from replication_helpers import replicate, rule_v2, versions, wait_for, wait_status

SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]}


def _writer(s3: Any, bucket: str, prefix: str, acked: list[tuple[str, str]], stop: threading.Event,
            sizes: tuple[int, ...] = (1024,)) -> None:
    """Writes until told to stop or the region dies; only acknowledged writes are recorded."""
    i = 0
    while not stop.is_set():
        key = f"{prefix}/{i:05d}"
        try:
            vid = s3.put_object(Bucket=bucket, Key=key, Body=bytes([i % 251]) * sizes[i % len(sizes)])["VersionId"]
        except Exception:  # noqa: BLE001 - the region was killed under us; an unacknowledged write does not count
            return
        acked.append((key, vid))
        i += 1


def _replicated_ops(endpoint: str) -> int:
    with urllib.request.urlopen(endpoint + "/_twinstore/metrics") as r:
        text = r.read().decode()
    return sum(int(n) for n in re.findall(r"^twinstore_replication_operations_total\{[^}]*\} (\d+)$", text, re.M))


def _statuses(s3: Any, bucket: str) -> dict[str, str | None]:
    return {vid: s3.head_object(Bucket=bucket, Key=key, VersionId=vid).get("ReplicationStatus")
            for key, vid, _, marker, _ in versions(s3, bucket) if not marker}


def test_failover_kill9_primary_then_fail_back(own_deployment: Deployment) -> None:
    east, west = own_deployment["us-east-2"], own_deployment["us-west-2"]
    s3e, s3w = east.client(), west.client()
    eb = create_bucket(s3e, "us-east-2", versioned=True)
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    s3e.put_bucket_encryption(Bucket=eb, ServerSideEncryptionConfiguration=SSE_S3)
    s3w.put_bucket_encryption(Bucket=wb, ServerSideEncryptionConfiguration=SSE_S3)
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "east to west"))
    replicate(s3w, wb, "us-west-2", rule_v2(eb, "west to east"))

    before = s3e.put_object(Bucket=eb, Key="before.txt", Body=b"replicated before the drill")["VersionId"]
    wait_status(s3e, eb, "before.txt", "COMPLETED")

    # steady writes into the primary (small objects and a few multi-MiB ones), then kill -9 under load
    acked_east: list[tuple[str, str]] = []
    stop = threading.Event()
    writers = [threading.Thread(target=_writer, args=(s3e, eb, "east", acked_east, stop)),
               threading.Thread(target=_writer, args=(s3e, eb, "east-big", acked_east, stop, (3 << 20, 1 << 20)))]
    for t in writers:
        t.start()
    wait_for(lambda: len(acked_east) >= 60, what="writes flowing into the primary")
    east.kill9()
    stop.set()
    for t in writers:
        t.join()

    # fail over: the secondary serves what was replicated before, and takes new writes (also to keys the
    # primary wrote, so versions of one key come from both regions)
    assert s3w.get_object(Bucket=wb, Key="before.txt")["Body"].read() == b"replicated before the drill"
    acked_west = [(f"west/{i:05d}", s3w.put_object(Bucket=wb, Key=f"west/{i:05d}", Body=b"w" * i)["VersionId"])
                  for i in range(30)]
    for key, _ in acked_east[:5]:
        acked_west.append((key, s3w.put_object(Bucket=wb, Key=key, Body=b"written in west")["VersionId"]))
    for key, vid in acked_west:
        assert s3w.head_object(Bucket=wb, Key=key, VersionId=vid)["ReplicationStatus"] == "PENDING"

    # fail back: the old primary returns with everything it acknowledged; both outboxes drain
    east.start()
    s3e = east.client()
    have_east = {vid for _, vid, *_ in versions(s3e, eb)}
    assert {vid for _, vid in acked_east} <= have_east

    def converged() -> bool:
        e, w = versions(s3e, eb), versions(s3w, wb)
        if e != w:
            return False
        st_e, st_w = _statuses(s3e, eb), _statuses(s3w, wb)
        return all(sorted([st_e[v], st_w[v]]) == ["COMPLETED", "REPLICA"] for v in st_e)
    wait_for(converged, timeout=180, what="both buckets converged")

    listing = versions(s3e, eb)
    ids = [vid for _, vid, *_ in listing]
    assert len(ids) == len(set(ids))  # exactly once per side (the listings are equal)
    assert versions(s3w, wb) == listing
    st_e, st_w = _statuses(s3e, eb), _statuses(s3w, wb)
    assert st_e[before] == "COMPLETED" and st_w[before] == "REPLICA"
    for _, vid in acked_east:
        assert (st_e[vid], st_w[vid]) == ("COMPLETED", "REPLICA")
    for _, vid in acked_west:
        assert (st_w[vid], st_e[vid]) == ("COMPLETED", "REPLICA")
    # the newest version of a key written in both regions is current on both sides
    for key, vid in acked_west[-5:]:
        assert s3e.head_object(Bucket=eb, Key=key)["VersionId"] == vid
        assert s3e.get_object(Bucket=eb, Key=key)["Body"].read() == b"written in west"
    # nothing replicated back: west (never restarted) sent exactly its own writes, and neither side owes anything
    assert _replicated_ops(west.endpoint) == len(acked_west)
    for region in (east, west):
        with urllib.request.urlopen(region.endpoint + "/_twinstore/metrics") as r:
            assert not re.search(r"^twinstore_replication_operations_pending\{[^}]*\} [1-9]", r.read().decode(), re.M)


def test_writes_missing_at_failover_arrive_after_fail_back(own_deployment: Deployment) -> None:
    """The RPO window made deterministic: the secondary is unreachable while the primary acknowledges writes,
    then the primary dies. The secondary serves without them, takes newer versions of the same keys, and once
    the primary is back its writes arrive, older than the secondary's, so they do not become current."""
    east, west = own_deployment["us-east-2"], own_deployment["us-west-2"]
    s3e, s3w = east.client(), west.client()
    eb = create_bucket(s3e, "us-east-2", versioned=True)
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "east to west"))
    replicate(s3w, wb, "us-west-2", rule_v2(eb, "west to east"))

    west.stop()
    old = {f"k{i}": s3e.put_object(Bucket=eb, Key=f"k{i}", Body=b"from east")["VersionId"] for i in range(10)}
    east.kill9()
    west.start()
    s3w = west.client()
    assert versions(s3w, wb) == []  # the failover serves without the primary's last writes ...
    new = {k: s3w.put_object(Bucket=wb, Key=k, Body=b"from west")["VersionId"] for k in list(old)[:5]}

    east.start()  # ... which arrive once it is back
    s3e = east.client()
    wait_for(lambda: versions(s3e, eb) == versions(s3w, wb) and len(versions(s3w, wb)) == 15,
             timeout=120, what="both buckets converged")
    for k, vid in old.items():
        wait_status(s3e, eb, k, "COMPLETED", vid)
        assert s3w.head_object(Bucket=wb, Key=k, VersionId=vid)["ReplicationStatus"] == "REPLICA"
        want_vid, want_body = (new[k], b"from west") if k in new else (vid, b"from east")
        for s3, b in ((s3e, eb), (s3w, wb)):
            got = s3.get_object(Bucket=b, Key=k)
            assert (got["VersionId"], got["Body"].read()) == (want_vid, want_body)
    for k, vid in new.items():
        wait_status(s3w, wb, k, "COMPLETED", vid)
        assert s3e.head_object(Bucket=eb, Key=k, VersionId=vid)["ReplicationStatus"] == "REPLICA"
