"""Bucket-name and object-key rules."""

from __future__ import annotations

import re

from ..protocol.errors import AWSError

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
MAX_KEY_BYTES = 1024


def check_bucket_name(name: str) -> None:
    """S3's naming rules for new buckets; violations are `InvalidBucketName`."""
    if (not _BUCKET_RE.match(name) or ".." in name or _IPV4_RE.match(name)
            or name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES)
            or ".-" in name or "-." in name):
        raise AWSError("InvalidBucketName", BucketName=name)


def check_key(key: str) -> None:
    if not key:
        raise AWSError("InvalidArgument", "Invalid argument: key must not be empty")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise AWSError("KeyTooLongError", Size=len(key.encode("utf-8")), MaxSizeAllowed=MAX_KEY_BYTES)
    if "\x00" in key:
        raise AWSError("InvalidArgument", "Object key must not contain the NUL character")
