"""SigV4 header signing for the requests replication sends to other regions (the verifier is auth/sigv4.py)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

from ..auth.principal import Credential
from ..auth.sigv4 import signing_key

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def object_path(bucket: str, key: str) -> str:
    """The encoded request path for an object, exactly as sent and signed (S3 does not normalise keys)."""
    return "/" + quote(bucket, safe="") + "/" + quote(key, safe="/-_.~")


def sign(method: str, host: str, path: str, query: dict[str, str], headers: dict[str, str], credential: Credential,
         region: str, payload_hash: str = UNSIGNED_PAYLOAD, service: str = "s3") -> dict[str, str]:
    """Returns `headers` plus host, x-amz-date, x-amz-content-sha256, token and Authorization; signs every
    x-amz-* header given."""
    now = time.gmtime()
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", now)
    date = amz_date[:8]
    out = dict(headers)
    out["host"] = host
    out["x-amz-date"] = amz_date
    out["x-amz-content-sha256"] = payload_hash
    if credential.session_token:
        out["x-amz-security-token"] = credential.session_token
    signed = sorted(k.lower() for k in out if k.lower().startswith("x-amz-") or k.lower() in ("host", "content-md5"))
    lower = {k.lower(): str(v).strip() for k, v in out.items()}
    canonical_headers = "".join(f"{h}:{lower[h]}\n" for h in signed)
    cq = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
    creq = "\n".join([method, path, cq, canonical_headers, ";".join(signed), payload_hash])
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(credential.secret_access_key, date, region, service), sts.encode(),
                   hashlib.sha256).hexdigest()
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credential.access_key_id}/{scope}, "
                            f"SignedHeaders={';'.join(signed)}, Signature={sig}")
    del out["host"]  # aiohttp sends Host itself (same value)
    return out
