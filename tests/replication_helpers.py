"""Helpers for replication tests: rules, polling for a status (never a timing assertion), listings."""

from __future__ import annotations

import time
from typing import Any, Callable

ROLE = "arn:aws:iam::123456789012:role/crrlab-S3-Replication-Role-{region}"


def rule_v2(dest: str, rule_id: str = "r1", priority: int = 0, prefix: str = "", delete_markers: bool = False,
            **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"ID": rule_id, "Priority": priority, "Filter": {"Prefix": prefix}, "Status": "Enabled",
                            "DeleteMarkerReplication": {"Status": "Enabled" if delete_markers else "Disabled"},
                            "Destination": {"Bucket": f"arn:aws:s3:::{dest}"}}
    rule.update(extra)
    return rule


def replicate(s3: Any, source: str, region: str, *rules: dict[str, Any]) -> None:
    s3.put_bucket_replication(Bucket=source, ReplicationConfiguration={"Role": ROLE.format(region=region),
                                                                       "Rules": list(rules)})


def wait_for(fn: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Polls until fn() is truthy (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - not there yet
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


def status(s3: Any, bucket: str, key: str, version_id: str | None = None) -> str | None:
    kw = {"VersionId": version_id} if version_id else {}
    return s3.head_object(Bucket=bucket, Key=key, **kw).get("ReplicationStatus")


def wait_status(s3: Any, bucket: str, key: str, want: str, version_id: str | None = None,
                timeout: float = 60.0) -> None:
    wait_for(lambda: status(s3, bucket, key, version_id) == want, timeout, f"{bucket}/{key} {want}")


def versions(s3: Any, bucket: str) -> list[tuple[str, str, bool, bool, str]]:
    """(key, version id, is latest, is delete marker, etag) of every version, in listing order."""
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            out.append((v["Key"], v["VersionId"], v["IsLatest"], False, v["ETag"]))
        for m in page.get("DeleteMarkers", []):
            out.append((m["Key"], m["VersionId"], m["IsLatest"], True, ""))
    return sorted(out)
