"""ReplicationConfiguration: AWS's validation (error codes as S3 answers them) and normalisation.

Pure code: the caller supplies what it knows about buckets (source versioning, each destination's versioning).
The stored form is the parsed botocore shape (what GetBucketReplication returns) with generated rule IDs.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from ..protocol.errors import AWSError

MAX_RULES = 1000
MAX_ID = 255
MAX_PREFIX = 1024
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
BUCKET_ARN = re.compile(r"^arn:aws[a-z-]*:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$")
RTC_MINUTES = 15
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _enabled(node: Any) -> bool:
    return isinstance(node, dict) and node.get("Status") == "Enabled"


def dest_bucket_name(rule: dict[str, Any]) -> str:
    m = BUCKET_ARN.match(rule["Destination"]["Bucket"])
    return m.group(1) if m else ""


def is_v2(config: dict[str, Any]) -> bool:
    return any("Filter" in r for r in config["Rules"])


def rule_filter(rule: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(prefix, required tags) of a rule, V1 or V2."""
    if "Filter" not in rule:
        return rule.get("Prefix", ""), {}
    f = rule["Filter"] or {}
    if "And" in f:
        a = f["And"] or {}
        return a.get("Prefix", ""), {t["Key"]: t.get("Value", "") for t in a.get("Tags") or []}
    if "Tag" in f:
        return "", {f["Tag"]["Key"]: f["Tag"].get("Value", "")}
    return f.get("Prefix", ""), {}


@dataclass(frozen=True, slots=True)
class BucketFacts:
    """What validation needs to know about a destination bucket; None = the bucket does not exist."""

    versioning: str | None


def _invalid(message: str) -> AWSError:
    return AWSError("InvalidRequest", message)


def _bad_argument(message: str, name: str = "", value: str = "") -> AWSError:
    extra = {"ArgumentName": name, "ArgumentValue": value} if name else {}
    return AWSError("InvalidArgument", message, **extra)


def _new_id() -> str:
    return "".join(random.choice(_ID_ALPHABET) for _ in range(48))


def validate_shape(config: dict[str, Any]) -> dict[str, Any]:
    """Checks that need nothing but the document; returns it with generated IDs filled in."""
    rules = config.get("Rules") or []
    if not rules:
        raise AWSError("MalformedXML")
    if len(rules) > MAX_RULES:
        raise _invalid(f"Number of defined replication rules cannot exceed {MAX_RULES}")
    if not ROLE_ARN.match(config.get("Role") or ""):
        raise _bad_argument("Invalid Role specified in replication configuration", "Role", config.get("Role", ""))
    v2 = is_v2(config)
    ids: set[str] = set()
    priorities: set[int] = set()
    v1_dests: set[str] = set()
    v1_prefixes: list[str] = []
    for rule in rules:
        if "Filter" in rule and "Prefix" in rule:
            raise AWSError("MalformedXML")
        if v2 and "Filter" not in rule:
            raise _invalid("Replication configuration cannot mix rules with Prefix (V1) and rules with Filter (V2)")
        rid = rule.get("ID")
        if rid is None or rid == "":
            rule["ID"] = rid = _new_id()
        if len(rid) > MAX_ID:
            raise _bad_argument("The ID must be less than 255 characters", "ID", rid[:64])
        if rid in ids:
            raise _bad_argument("Rule Id must be unique", "ID", rid)
        ids.add(rid)
        if v2:
            _check_v2_rule(rule, priorities)
        else:
            _check_v1_rule(rule)
            v1_dests.add(rule["Destination"]["Bucket"])
            if rule["Status"] == "Enabled":
                v1_prefixes.append(rule.get("Prefix", ""))
        prefix, _ = rule_filter(rule)
        if len(prefix.encode()) > MAX_PREFIX:
            raise _bad_argument("The prefix must be at most 1024 bytes", "Prefix", prefix[:64])
        _check_destination(rule)
    if not v2:
        if len(v1_dests) > 1:
            raise _invalid("Number of distinct destination bucket ARNs cannot exceed 1")
        for i, a in enumerate(v1_prefixes):
            for b in v1_prefixes[i + 1:]:
                if a.startswith(b) or b.startswith(a):
                    raise _invalid(f"Found overlapping prefixes '{a}' and '{b}'")
    return config


def _check_v1_rule(rule: dict[str, Any]) -> None:
    for member in ("Priority", "DeleteMarkerReplication"):
        if member in rule:
            raise _invalid(f"{member} is not supported for this version of Cross Region Replication configuration "
                           "schema. Please refer to S3 Developer Guide for more information.")
    if "ReplicaModifications" in (rule.get("SourceSelectionCriteria") or {}):
        raise _invalid("ReplicaModifications is not supported for this version of Cross Region Replication "
                       "configuration schema.")
    dest = rule["Destination"]
    if "ReplicationTime" in dest or "Metrics" in dest:
        raise _invalid("Replication Time Control and Metrics are not supported for this version of Cross Region "
                       "Replication configuration schema.")


def _check_v2_rule(rule: dict[str, Any], priorities: set[int]) -> None:
    if "Priority" not in rule:
        raise _invalid("Priority must be specified for this version of Cross Region Replication configuration "
                       "schema. Please refer to S3 Developer Guide for more information.")
    if "DeleteMarkerReplication" not in rule:
        raise _invalid("DeleteMarkerReplication must be specified for this version of Cross Region Replication "
                       "configuration schema. Please refer to S3 Developer Guide for more information.")
    if rule["Priority"] in priorities:
        raise _invalid("Priority must be unique")
    priorities.add(rule["Priority"])
    f = rule["Filter"] or {}
    if len([k for k in ("Prefix", "Tag", "And") if k in f]) > 1:
        raise AWSError("MalformedXML")
    _, tags = rule_filter(rule)
    if "And" in f and not (f["And"] or {}).get("Tags") and "Prefix" not in (f["And"] or {}):
        raise AWSError("MalformedXML")
    if tags and _enabled(rule.get("DeleteMarkerReplication")):
        raise _invalid("Delete marker replication is not supported if any Tag filter is specified.")


def _check_destination(rule: dict[str, Any]) -> None:
    dest = rule["Destination"]
    if not BUCKET_ARN.match(dest.get("Bucket", "")):
        raise _bad_argument("Invalid bucket ARN", "Bucket", dest.get("Bucket", ""))
    rtc = dest.get("ReplicationTime")
    if rtc is not None and rtc.get("Time", {}).get("Minutes") != RTC_MINUTES:
        raise _bad_argument("Replication Time Control is only supported with a Time of 15 minutes",
                            "Minutes", str(rtc.get("Time", {}).get("Minutes")))
    metrics = dest.get("Metrics")
    if metrics is not None and "EventThreshold" in metrics and \
            metrics["EventThreshold"].get("Minutes") != RTC_MINUTES:
        raise _bad_argument("Metrics EventThreshold is only supported with 15 minutes", "Minutes",
                            str(metrics["EventThreshold"].get("Minutes")))
    if _enabled(rtc) and not _enabled(metrics):
        raise _invalid("Replication Time Control must be used with Metrics enabled")
    sse_kms = _enabled((rule.get("SourceSelectionCriteria") or {}).get("SseKmsEncryptedObjects"))
    replica_key = (dest.get("EncryptionConfiguration") or {}).get("ReplicaKmsKeyID")
    if sse_kms and not replica_key:
        raise _invalid("ReplicaKmsKeyID must be specified if SseKmsEncryptedObjects tag is present.")
    if replica_key and not sse_kms:
        raise _invalid("SseKmsEncryptedObjects must be specified if EncryptionConfiguration is present.")
    if "AccessControlTranslation" in dest and not dest.get("Account"):
        raise _invalid("Account must be specified if AccessControlTranslation is present.")
    if dest.get("Account") and not re.fullmatch(r"\d{12}", dest["Account"]):
        raise _bad_argument("Invalid Account", "Account", dest["Account"])


def validate_destinations(config: dict[str, Any], facts: dict[str, BucketFacts]) -> None:
    """Every destination exists and has versioning Enabled (`facts` keyed by bucket name)."""
    for rule in config["Rules"]:
        name = dest_bucket_name(rule)
        fact = facts.get(name)
        if fact is None or fact.versioning is None:
            raise _invalid("Destination bucket must exist.")
        if fact.versioning != "Enabled":
            raise _invalid("Destination bucket must have versioning enabled.")


def destinations(config: dict[str, Any]) -> set[str]:
    return {dest_bucket_name(r) for r in config["Rules"]}
