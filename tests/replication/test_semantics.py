"""What replicates and how: multipart layout, delete markers, version deletes, tags, replica modifications,
several destinations, chains, same-region rules, and permanent failures with their reason."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from harness import create_bucket, signed_raw
from replication_helpers import ensure_role, replicate, rule_v2, status, versions, wait_for, wait_status


def _buckets(east: Any, west: Any) -> tuple[Any, Any, str, str]:
    s3e, s3w = east.client(), west.client()
    return s3e, s3w, create_bucket(s3e, "us-east-2", versioned=True), create_bucket(s3w, "us-west-2", versioned=True)


def test_multipart_object_keeps_layout(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    replicate(s3e, eb, "us-east-2", rule_v2(wb))
    up = s3e.create_multipart_upload(Bucket=eb, Key="big", ChecksumAlgorithm="CRC32")
    parts = []
    for n, byte in ((1, b"a"), (2, b"b"), (3, b"c")):
        body = byte * (5 * 1024 * 1024 if n < 3 else 1000)
        r = s3e.upload_part(Bucket=eb, Key="big", UploadId=up["UploadId"], PartNumber=n, Body=body,
                            ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    done = s3e.complete_multipart_upload(Bucket=eb, Key="big", UploadId=up["UploadId"],
                                         MultipartUpload={"Parts": parts})
    wait_status(s3e, eb, "big", "COMPLETED")
    rep = s3w.head_object(Bucket=wb, Key="big", ChecksumMode="ENABLED")
    assert rep["ETag"] == done["ETag"] and rep["ETag"].endswith('-3"')
    assert rep["VersionId"] == done["VersionId"] and rep["ReplicationStatus"] == "REPLICA"
    assert rep["ChecksumCRC32"] == done["ChecksumCRC32"]
    part2 = s3w.get_object(Bucket=wb, Key="big", PartNumber=2)
    assert part2["Body"].read() == b"b" * (5 * 1024 * 1024) and part2["PartsCount"] == 3


def test_delete_markers_follow_delete_marker_replication(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "plain", 1, prefix="keep/"),
              rule_v2(wb, "dm", 2, prefix="dm/", delete_markers=True))
    for key in ("keep/x", "dm/x"):
        s3e.put_object(Bucket=eb, Key=key, Body=b"1")
        wait_status(s3e, eb, key, "COMPLETED")
    s3e.delete_object(Bucket=eb, Key="keep/x")
    marker = s3e.delete_object(Bucket=eb, Key="dm/x")
    wait_for(lambda: any(k == "dm/x" and dm for k, _, _, dm, _ in versions(s3w, wb)), what="marker replicated")
    got = [(k, vid, dm) for k, vid, _, dm, _ in versions(s3w, wb) if dm]
    assert got == [("dm/x", marker["VersionId"], True)]
    assert s3w.head_object(Bucket=wb, Key="keep/x")["ReplicationStatus"] == "REPLICA"


def test_v1_rules_replicate_delete_markers_and_version_deletes_never_replicate(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    s3e.put_bucket_replication(Bucket=eb, ReplicationConfiguration={
        "Role": ensure_role(s3e, "crrlab-S3-Replication-Role-us-east-2"),
        "Rules": [{"ID": "v1", "Prefix": "", "Status": "Enabled", "Destination": {"Bucket": f"arn:aws:s3:::{wb}"}}]})
    v = s3e.put_object(Bucket=eb, Key="k", Body=b"1")
    wait_status(s3e, eb, "k", "COMPLETED")
    s3e.delete_object(Bucket=eb, Key="k", VersionId=v["VersionId"])  # permanent delete of one version
    m = s3e.delete_object(Bucket=eb, Key="k")  # a delete marker: V1 replicates it
    wait_for(lambda: len(versions(s3w, wb)) == 2, what="marker at destination")
    assert sorted(vid for _, vid, *_ in versions(s3w, wb)) == sorted([v["VersionId"], m["VersionId"]])


def test_tag_changes_follow_and_replica_modifications_flow_back(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    rm = {"SourceSelectionCriteria": {"ReplicaModifications": {"Status": "Enabled"}}}
    replicate(s3e, eb, "us-east-2", rule_v2(wb, **rm))
    replicate(s3w, wb, "us-west-2", rule_v2(eb, **rm))
    v = s3e.put_object(Bucket=eb, Key="k", Body=b"1")
    wait_status(s3e, eb, "k", "COMPLETED")
    s3e.put_object_tagging(Bucket=eb, Key="k", Tagging={"TagSet": [{"Key": "from", "Value": "source"}]})
    wait_for(lambda: s3w.get_object_tagging(Bucket=wb, Key="k")["TagSet"] == [{"Key": "from", "Value": "source"}],
             what="source tag change at replica")
    s3w.put_object_tagging(Bucket=wb, Key="k", Tagging={"TagSet": [{"Key": "from", "Value": "replica"}]})
    assert status(s3w, wb, "k") in ("PENDING", "REPLICA")  # PENDING while the change syncs back
    wait_for(lambda: s3e.get_object_tagging(Bucket=eb, Key="k")["TagSet"] == [{"Key": "from", "Value": "replica"}],
             what="replica tag change back at source")
    wait_status(s3w, wb, "k", "REPLICA")
    assert status(s3e, eb, "k") == "COMPLETED"
    assert [vid for _, vid, *_ in versions(s3e, eb)] == [v["VersionId"]]
    assert [vid for _, vid, *_ in versions(s3w, wb)] == [v["VersionId"]]


def test_several_destinations_same_region_and_no_chaining(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    same = create_bucket(s3e, "us-east-2", versioned=True)  # SRR
    onward = create_bucket(s3w, "us-west-2", versioned=True)
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "to-west", 1), rule_v2(same, "to-same", 2))
    replicate(s3w, wb, "us-west-2", rule_v2(onward, "chain", 1))
    v = s3e.put_object(Bucket=eb, Key="k", Body=b"data")
    wait_status(s3e, eb, "k", "COMPLETED")
    assert status(s3w, wb, "k") == "REPLICA" and status(s3e, same, "k") == "REPLICA"
    assert s3e.head_object(Bucket=same, Key="k")["VersionId"] == v["VersionId"]
    s3w.put_object(Bucket=wb, Key="own", Body=b"w")  # proves west's rule works...
    wait_status(s3w, wb, "own", "COMPLETED")
    keys = [o["Key"] for o in s3w.list_objects_v2(Bucket=onward).get("Contents", [])]
    assert keys == ["own"]  # ...and east's replica was not chained onward


def test_destination_versioning_suspended_means_failed_with_reason(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "r"))
    s3w.put_bucket_versioning(Bucket=wb, VersioningConfiguration={"Status": "Suspended"})
    s3e.put_object(Bucket=eb, Key="k", Body=b"1")
    wait_status(s3e, eb, "k", "FAILED")
    with urllib.request.urlopen(east.endpoint + "/_twinstore/metrics") as r:
        text = r.read().decode()
    assert f'twinstore_replication_operations_failed{{source_bucket="{eb}",rule_id="r",destination_bucket="{wb}"}} 1' \
        in text
    st = json.loads(signed_raw(east.endpoint, "us-east-2", "GET", "/_twinstore/replication/status").body)
    assert any(f["bucket"] == eb and f["reason"] == "DstBucketUnversioned" for f in st["recent_failures"])


def test_batch_endpoint_refuses_unsigned_and_damaged_entries(east: Any, west: Any) -> None:
    from twinstore.replication.batch import encode

    s3w = west.client()
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    vid = "000PGGOMGL9805H7L1CSDG15OL"
    desc = {"key": "k", "vid": vid, "lm": 1795555539242242, "size": 4, "etag": "0" * 32, "checksum": {}}
    body = encode([(desc, b"data")])
    from harness import raw_request
    r = raw_request(west.endpoint, "POST", f"/_twinstore/replication/batch?bucket={wb}",
                    {"Content-Length": str(len(body))}, body)
    assert r.status == 403
    r = signed_raw(west.endpoint, "us-west-2", "POST", f"/_twinstore/replication/batch?bucket={wb}", body)
    assert r.status == 200 and json.loads(r.body)["results"] == [{"ok": False, "code": "BadDigest"}]
    assert versions(s3w, wb) == []


def test_unassumable_role_and_missing_destination_fail_with_reason(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    s3e.put_bucket_replication(Bucket=eb, ReplicationConfiguration={
        "Role": "arn:aws:iam::999999999999:role/not-ours", "Rules": [rule_v2(wb, "r")]})  # accepted, as AWS does
    s3e.put_object(Bucket=eb, Key="k", Body=b"1")
    wait_status(s3e, eb, "k", "FAILED")
    assert versions(s3w, wb) == []

    gone = create_bucket(s3w, "us-west-2", versioned=True)
    src = create_bucket(s3e, "us-east-2", versioned=True)
    replicate(s3e, src, "us-east-2", rule_v2(gone, "r"))
    s3w.delete_bucket(Bucket=gone)
    s3e.put_object(Bucket=src, Key="k", Body=b"1")
    wait_status(s3e, src, "k", "FAILED")
    assert s3e.get_object(Bucket=src, Key="k")["ReplicationStatus"] == "FAILED"  # GET carries it too
    st = json.loads(signed_raw(east.endpoint, "us-east-2", "GET", "/_twinstore/replication/status").body)
    reasons = {(f["bucket"], f["reason"]) for f in st["recent_failures"]}
    assert (eb, "AssumeRoleNotPermitted") in reasons and (src, "DstBucketNotFound") in reasons


def test_latency_histogram_counts_replications(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "r"))
    for i in range(3):
        s3e.put_object(Bucket=eb, Key=f"k{i}", Body=b"1")
    for i in range(3):
        wait_status(s3e, eb, f"k{i}", "COMPLETED")
    with urllib.request.urlopen(east.endpoint + "/_twinstore/metrics") as r:
        text = r.read().decode()
    labels = f'source_bucket="{eb}",rule_id="r",destination_bucket="{wb}"'
    assert f"twinstore_replication_latency_seconds_count{{{labels}}} 3" in text
    assert f'twinstore_replication_latency_seconds_bucket{{{labels},le="+Inf"}} 3' in text
    assert f"twinstore_replication_operations_pending{{{labels}}}" not in text


def test_role_permissions_are_checked(east: Any, west: Any) -> None:
    """The lab's commented-out policy attachment: a role S3 may assume but without permissions -> FAILED;
    a role that may read the source but not write the destination -> FAILED at the destination."""
    s3e, s3w, eb, wb = _buckets(east, west)
    bare = ensure_role(s3e, "repl-no-permissions", policy=None)
    s3e.put_bucket_replication(Bucket=eb, ReplicationConfiguration={"Role": bare, "Rules": [rule_v2(wb, "r")]})
    s3e.put_object(Bucket=eb, Key="k", Body=b"1")
    wait_status(s3e, eb, "k", "FAILED")

    read_only = ensure_role(s3e, "repl-read-only", policy={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::*"}]})
    s3e.put_bucket_replication(Bucket=eb, ReplicationConfiguration={"Role": read_only, "Rules": [rule_v2(wb, "r")]})
    s3e.put_object(Bucket=eb, Key="small", Body=b"1")
    s3e.put_object(Bucket=eb, Key="large", Body=b"x" * (200 * 1024))  # the single-request path
    wait_status(s3e, eb, "small", "FAILED")
    wait_status(s3e, eb, "large", "FAILED")
    assert versions(s3w, wb) == []
    st = json.loads(signed_raw(east.endpoint, "us-east-2", "GET", "/_twinstore/replication/status").body)
    reasons = {(f["key"], f["reason"]) for f in st["recent_failures"] if f["bucket"] == eb}
    assert ("k", "SrcGetObjectNotPermitted") in reasons
    assert ("small", "DstPutObjectNotPermitted") in reasons and ("large", "DstPutObjectNotPermitted") in reasons


def test_sse_kms_objects_need_sse_kms_selection(east: Any, west: Any) -> None:
    s3e, s3w, eb, wb = _buckets(east, west)
    src_key = east.client("kms").create_key()["KeyMetadata"]["Arn"]
    replica_key = west.client("kms").create_key()["KeyMetadata"]["Arn"]
    replicate(s3e, eb, "us-east-2", rule_v2(wb, "plain", 1, prefix="plain/"),
              rule_v2(wb, "kms", 2, prefix="kms/",
                      SourceSelectionCriteria={"SseKmsEncryptedObjects": {"Status": "Enabled"}},
                      Destination={"Bucket": f"arn:aws:s3:::{wb}",
                                   "EncryptionConfiguration": {"ReplicaKmsKeyID": replica_key}}))
    s3e.put_object(Bucket=eb, Key="plain/k", Body=b"secret", ServerSideEncryption="aws:kms", SSEKMSKeyId=src_key)
    s3e.put_object(Bucket=eb, Key="kms/k", Body=b"secret", ServerSideEncryption="aws:kms", SSEKMSKeyId=src_key)
    wait_status(s3e, eb, "kms/k", "COMPLETED")
    assert status(s3e, eb, "plain/k") is None  # not selected: not in scope at all
    rep = s3w.get_object(Bucket=wb, Key="kms/k")
    assert rep["Body"].read() == b"secret" and rep["ReplicationStatus"] == "REPLICA"
    assert rep["ServerSideEncryption"] == "aws:kms" and rep["SSEKMSKeyId"] == replica_key


def test_batch_refuses_an_ssec_envelope_with_an_unknown_segment_size(east: Any, west: Any) -> None:
    """SSE-C replicas travel as ciphertext with their envelope, which names its segment size: a size this region
    does not know is refused per item (InvalidArgument) and nothing is written."""
    import base64
    import hashlib

    from twinstore.replication.batch import encode

    s3w = west.client()
    wb = create_bucket(s3w, "us-west-2", versioned=True)
    sealed = b"\x00" * 20  # 4 plaintext bytes + tag, the shape of an inline SSE-C version
    env = {"alg": "SSE-C", "wk": base64.b64encode(b"w" * 60).decode(), "np": base64.b64encode(b"pref").decode(),
           "sid": base64.b64encode(b"s" * 12).decode(), "cmd5": "x", "csalt": "AA==", "cmac": "AA==", "ob": 1}
    for seg in (12345, True):
        desc = {"key": "k", "vid": "000PGGOMGL9805H7L1CSDG15OL", "lm": 1795555539242242, "size": 4,
                "etag": "0" * 32, "checksum": {},
                "sse": {"alg": "SSE-C", "env": {**env, "seg": seg}, "inline": True, "segs": [], "ctlen": len(sealed),
                        "ctsha256": hashlib.sha256(sealed).hexdigest()}}
        body = encode([(desc, sealed)])
        r = signed_raw(west.endpoint, "us-west-2", "POST", f"/_twinstore/replication/batch?bucket={wb}", body)
        assert r.status == 200 and json.loads(r.body)["results"] == [{"ok": False, "code": "InvalidArgument"}], r.body
    assert versions(s3w, wb) == []
