"""Rule evaluation at write time (pure): which destinations a new version (or delete marker, or tag change) owes.

AWS's semantics: only enabled rules whose filter matches (prefix, and every tag of the filter present with its
value, as supplied with the write); per destination the rule with the highest Priority decides; replicas are
never replicated again (loop prevention for two opposite rules); delete markers only under V1 or where
DeleteMarkerReplication is Enabled (never under tag filters); tag changes follow to where the version went, and
from a replica back to its source only with ReplicaModifications.
"""

from __future__ import annotations

from typing import Any

from ..meta.model import ObjectVersion, OutboxItem
from .config import dest_bucket_name, is_v2, rule_filter

PENDING = "PENDING"
REPLICA = "REPLICA"


def is_replica(v: ObjectVersion) -> bool:
    """Written by replication (its status is REPLICA, or PENDING/FAILED while a metadata change syncs back)."""
    rep = v.extra.get("replication")
    return bool(rep) and (rep.get("status") == REPLICA or "src" in rep)


def _matches(rule: dict[str, Any], key: str, tags: dict[str, str]) -> bool:
    prefix, want = rule_filter(rule)
    return key.startswith(prefix) and all(tags.get(k) == v for k, v in want.items())


def winning_rules(config: dict[str, Any], key: str, tags: dict[str, str], delete_marker: bool = False,
                  kms: bool = False) -> dict[str, dict[str, Any]]:
    """Destination bucket name -> the rule that governs it for this object."""
    v2 = is_v2(config)
    best: dict[str, dict[str, Any]] = {}
    for rule in config["Rules"]:
        if rule["Status"] != "Enabled":
            continue
        if delete_marker and rule_filter(rule)[1]:
            continue  # tag-filtered rules never match delete markers
        if not _matches(rule, key, tags):
            continue
        if kms and ((rule.get("SourceSelectionCriteria") or {}).get("SseKmsEncryptedObjects") or {}).get(
                "Status") != "Enabled":
            continue  # SSE-KMS objects replicate only under rules that select them
        dest = dest_bucket_name(rule)
        cur = best.get(dest)
        if cur is None or (v2 and rule.get("Priority", 0) > cur.get("Priority", 0)):
            best[dest] = rule
    return best


def _rtc(rule: dict[str, Any]) -> bool:
    return (rule["Destination"].get("ReplicationTime") or {}).get("Status") == "Enabled"


def plan(config: dict[str, Any] | None, v: ObjectVersion, event: str, now_us: int, source: str = "live",
         include_replicas: bool = False) -> list[OutboxItem]:
    """The outbox items for `event` on `v`; marks `v.extra["replication"]` as the version must be stored."""
    if event == "tags":
        return _plan_tags(config, v, now_us)
    if not config or (is_replica(v) and not include_replicas):
        return []
    delete = event == "delete"
    rules = winning_rules(config, v.key, v.tags, delete_marker=delete,
                          kms=(v.encryption or {}).get("alg") == "aws:kms")
    if delete and is_v2(config):
        rules = {d: r for d, r in rules.items() if (r.get("DeleteMarkerReplication") or {}).get("Status") == "Enabled"}
    if not rules:
        return []
    items = [OutboxItem(bucket_id=v.bucket_id, key=v.key, vid=v.vid, op="delete" if delete else "put",
                        dest_bucket=dest, rule_id=rule["ID"], size=0 if delete else v.size, created_us=now_us,
                        source=source, rtc=_rtc(rule)) for dest, rule in sorted(rules.items())]
    v.extra["replication"] = {"status": PENDING, "dests": {it.dest_bucket: PENDING for it in items},
                              "rules": {it.dest_bucket: it.rule_id for it in items}}
    return items


def _plan_tags(config: dict[str, Any] | None, v: ObjectVersion, now_us: int) -> list[OutboxItem]:
    rep = v.extra.get("replication") or {}
    targets: dict[str, str] = {}
    if is_replica(v):
        src = rep.get("src")
        if config and src:  # ReplicaModifications: a replica's metadata change flows back to its source
            for dest, rule in winning_rules(config, v.key, v.tags).items():
                crit = rule.get("SourceSelectionCriteria") or {}
                if dest == src and (crit.get("ReplicaModifications") or {}).get("Status") == "Enabled":
                    targets[dest] = rule["ID"]
        if targets:
            rep["status"] = PENDING  # AWS: the replica shows PENDING while its change syncs back, then REPLICA
    else:
        rule_ids = rep.get("rules") or {}
        for dest, status in (rep.get("dests") or {}).items():
            if status in (PENDING, "COMPLETED"):
                targets[dest] = rule_ids.get(dest, "")
    return [OutboxItem(bucket_id=v.bucket_id, key=v.key, vid=v.vid, op="tags", dest_bucket=dest, rule_id=rid,
                       created_us=now_us) for dest, rid in sorted(targets.items())]
