"""S3's `x-amz-id-2` (host id): an opaque value per request. Derived from the request id with a per-process key,
so the response header and what the audit records for the request agree without passing it around."""

from __future__ import annotations

import base64
import hashlib
import os

_KEY = os.urandom(32)


def host_id(request_id: str) -> str:
    return base64.b64encode(hashlib.blake2b(request_id.encode(), key=_KEY, digest_size=24).digest()).decode()
