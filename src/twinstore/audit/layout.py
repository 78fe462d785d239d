"""Where deliveries land: CloudTrail log file keys and log streams, S3 server access log keys."""

from __future__ import annotations

import datetime
import secrets
import string

_ALNUM = string.ascii_letters + string.digits


def unique_string(n: int = 16) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def trail_log_key(prefix: str, account: str, region: str, time_us: int, unique: str) -> str:
    """`[prefix/]AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<u>.json.gz`"""
    t = datetime.datetime.fromtimestamp(time_us / 1e6, datetime.timezone.utc)
    name = f"{account}_CloudTrail_{region}_{t:%Y%m%dT%H%MZ}_{unique}.json.gz"
    key = f"AWSLogs/{account}/CloudTrail/{region}/{t:%Y/%m/%d}/{name}"
    return f"{prefix.strip('/')}/{key}" if prefix.strip("/") else key


def trail_log_stream(account: str, region: str) -> str:
    return f"{account}_CloudTrail_{region}"


def access_log_key(target_prefix: str, key_format: dict[str, object] | None, account: str, region: str,
                   source_bucket: str, time_us: int, unique: str) -> str:
    """SimplePrefix: `<prefix>YYYY-mm-DD-HH-MM-SS-<u>`; PartitionedPrefix:
    `<prefix><acct>/<region>/<bucket>/YYYY/MM/DD/YYYY-mm-DD-HH-MM-SS-<u>`."""
    t = datetime.datetime.fromtimestamp(time_us / 1e6, datetime.timezone.utc)
    name = f"{t:%Y-%m-%d-%H-%M-%S}-{unique}"
    if key_format and "PartitionedPrefix" in key_format:
        return f"{target_prefix}{account}/{region}/{source_bucket}/{t:%Y/%m/%d}/{name}"
    return f"{target_prefix}{name}"
