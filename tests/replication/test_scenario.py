"""The reference scenario end to end: two regions, versioned buckets, a rule each way, objects written on both
sides, PENDING/COMPLETED on the source, REPLICA on the copy, same version id and Last-Modified, no third copy."""

from __future__ import annotations

from typing import Any

from harness import create_bucket
from replication_helpers import replicate, rule_v2, status, versions, wait_status


def test_bidirectional_lab_scenario(east: Any, west: Any) -> None:
    s3e, s3w = east.client(), west.client()
    eb = create_bucket(s3e, "us-east-2", versioned=True)
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "east to west"))
    replicate(s3w, wb, "us-west-2", rule_v2(eb, "west to east"))

    a = s3e.put_object(Bucket=eb, Key="A.txt", Body=b"object A", ContentType="text/plain",
                       Metadata={"who": "east"}, Tagging="t=1")
    assert status(s3e, eb, "A.txt") in ("PENDING", "COMPLETED")
    wait_status(s3e, eb, "A.txt", "COMPLETED")
    src = s3e.head_object(Bucket=eb, Key="A.txt")
    rep = s3w.head_object(Bucket=wb, Key="A.txt")
    assert rep["ReplicationStatus"] == "REPLICA"
    assert rep["VersionId"] == a["VersionId"] == src["VersionId"]
    assert rep["LastModified"] == src["LastModified"]
    assert rep["ETag"] == src["ETag"]
    assert rep["ContentType"] == "text/plain" and rep["Metadata"] == {"who": "east"}
    assert src["ServerSideEncryption"] == rep["ServerSideEncryption"] == "AES256"
    assert s3w.get_object(Bucket=wb, Key="A.txt")["Body"].read() == b"object A"
    assert s3w.get_object_tagging(Bucket=wb, Key="A.txt")["TagSet"] == [{"Key": "t", "Value": "1"}]

    b = s3e.put_object(Bucket=eb, Key="B.txt", Body=b"object B")
    c = s3w.put_object(Bucket=wb, Key="C.txt", Body=b"object C")
    wait_status(s3e, eb, "B.txt", "COMPLETED")
    wait_status(s3w, wb, "C.txt", "COMPLETED")
    assert status(s3w, wb, "B.txt") == "REPLICA"
    assert status(s3e, eb, "C.txt") == "REPLICA"
    assert s3e.get_object(Bucket=eb, Key="C.txt")["Body"].read() == b"object C"

    # no loop, no third copy: each bucket holds exactly A, B, C, one version each, with the same ids
    expected = sorted([("A.txt", a["VersionId"]), ("B.txt", b["VersionId"]), ("C.txt", c["VersionId"])])
    for client, bucket in ((s3e, eb), (s3w, wb)):
        assert [(k, vid) for k, vid, *_ in versions(client, bucket)] == expected
    assert versions(s3e, eb) == versions(s3w, wb)
