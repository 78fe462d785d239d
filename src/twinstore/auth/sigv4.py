"""AWS Signature Version 4 verification (Authorization header and presigned query), plus the pieces that
aws-chunked signed streaming needs.

The canonical URI is the path exactly as sent (S3 does not normalise or double-encode); if that does not
verify, the decoded path re-encoded per RFC 3986 is tried, for clients that send characters raw but sign
them encoded.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import quote, unquote

from ..protocol.errors import AWSError
from ..protocol.timefmt import iso8601, parse_amz_date
from .principal import Credential

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_US = 15 * 60 * 1_000_000
MAX_PRESIGN_EXPIRES = 604800
PAYLOAD_HASH_KEYWORDS = frozenset({UNSIGNED_PAYLOAD, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                                   "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                   "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"})
_HEX = frozenset("0123456789abcdef")

CredentialLookup = Callable[[str], Credential | None]

_key_cache: dict[tuple[str, str, str, str], bytes] = {}


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    ck = (secret, date, region, service)
    key = _key_cache.get(ck)
    if key is None:
        k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
        k = hmac.new(k, region.encode(), hashlib.sha256).digest()
        k = hmac.new(k, service.encode(), hashlib.sha256).digest()
        key = hmac.new(k, b"aws4_request", hashlib.sha256).digest()
        if len(_key_cache) > 1024:
            _key_cache.clear()
        _key_cache[ck] = key
    return key


def uri_encode(s: str, safe: str = "-_.~") -> str:
    return quote(s, safe=safe)


def canonical_query(raw_query: str, drop_signature: bool = False) -> str:
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = unquote(name.replace("+", "%20"))
        if drop_signature and name == "X-Amz-Signature":
            continue
        value = unquote(value.replace("+", "%20"))
        pairs.append((uri_encode(name), uri_encode(value)))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


def _canonical_headers(signed: list[str], headers: Mapping[str, str]) -> str:
    out = []
    for name in signed:
        v = headers.get(name)
        if v is None:
            raise AWSError("SignatureDoesNotMatch")
        out.append(f"{name}:{' '.join(v.split())}\n")
    return "".join(out)


@dataclass(slots=True)
class SignedRequest:
    """A verified request: who signed it and what is needed to verify what follows (chunks, trailer)."""

    credential: Credential
    region: str
    service: str
    amz_date: str
    scope: str
    signature: str
    key: bytes
    payload_hash: str
    presigned: bool


@dataclass(slots=True)
class RequestToVerify:
    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]  # lowercase names


def _string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"


def _check_signature(req: RequestToVerify, cred: Credential, key: bytes, amz_date: str, scope: str,
                     signed_headers: list[str], payload_hash: str, canon_query: str, provided: str) -> None:
    canon_headers = _canonical_headers(signed_headers, req.headers)
    sh = ";".join(signed_headers)
    for uri in _candidate_uris(req.raw_path):
        creq = f"{req.method}\n{uri}\n{canon_query}\n{canon_headers}\n{sh}\n{payload_hash}"
        sig = hmac.new(key, _string_to_sign(amz_date, scope, creq).encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(sig, provided):
            return
    raise AWSError("SignatureDoesNotMatch", AWSAccessKeyId=cred.access_key_id)


def _candidate_uris(raw_path: str) -> list[str]:
    first = raw_path or "/"
    alt = uri_encode(unquote(first), safe="-_.~/")
    return [first] if alt == first else [first, alt]


def _parse_scope(credential: str, error_code: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AWSError(error_code, "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                                   "expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
    return parts[0], parts[1], parts[2], parts[3]


def _check_service(service: str, expected_service: str, error_code: str) -> None:
    """A signature scoped to another service is not valid at this endpoint."""
    if service != expected_service:
        raise AWSError(error_code, f"The authorization header is malformed; incorrect service '{service}'. "
                                   f"This endpoint belongs to '{expected_service}'.")


def _check_payload_hash(value: str) -> None:
    if value in PAYLOAD_HASH_KEYWORDS or (len(value) == 64 and all(c in _HEX for c in value.lower())):
        return
    raise AWSError("InvalidArgument",
                   "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                   "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid "
                   "sha256 value.", ArgumentName="x-amz-content-sha256", ArgumentValue=value)


def _check_region(region: str, expected_region: str | None, error_code: str) -> None:
    if expected_region is not None and region != expected_region:
        raise AWSError(error_code, f"The authorization header is malformed; the region '{region}' is wrong; "
                                   f"expecting '{expected_region}'", Region=expected_region)


def verify_header(req: RequestToVerify, lookup: CredentialLookup, now_us: int,
                  region_ok: Callable[[str], str | None], expected_service: str = "s3",
                  body_sha256: str | None = None) -> SignedRequest:
    """Verifies an `Authorization: AWS4-HMAC-SHA256 ...` request.

    `region_ok(region)` returns None when the signing region is acceptable, else the region to expect;
    `expected_service` is the service the endpoint serves. `body_sha256`: for services other than S3, whose
    clients sign the body's hash without sending `x-amz-content-sha256`, the hash of the body already read.
    """
    auth = req.headers.get("authorization", "")
    if not auth.startswith(ALGORITHM + " "):
        if auth.startswith("AWS "):
            raise AWSError("InvalidRequest", "The authorization mechanism you have provided is not supported. "
                                             "Please use AWS4-HMAC-SHA256.")
        raise AWSError("AuthorizationHeaderMalformed", "The authorization header is malformed.")
    fields: dict[str, str] = {}
    for item in auth[len(ALGORITHM) + 1:].split(","):
        k, _, v = item.strip().partition("=")
        fields[k] = v
    try:
        credential, signed_headers, provided = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError:
        raise AWSError("AuthorizationHeaderMalformed", "The authorization header is malformed; "
                                                       "missing Credential, SignedHeaders or Signature.") from None
    akid, date, region, service = _parse_scope(credential, "AuthorizationHeaderMalformed")
    _check_service(service, expected_service, "AuthorizationHeaderMalformed")
    _check_region(region, region_ok(region), "AuthorizationHeaderMalformed")
    amz_date = req.headers.get("x-amz-date") or ""
    ts = parse_amz_date(amz_date) if amz_date else None
    if ts is None:
        raise AWSError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    if not amz_date.startswith(date):
        raise AWSError("AuthorizationHeaderMalformed",
                       "The authorization header is malformed; Invalid credential date. Date is not the same as "
                       "X-Amz-Date.")
    if abs(now_us - ts) > MAX_SKEW_US:
        raise AWSError("RequestTimeTooSkewed", RequestTime=amz_date, MaxAllowedSkewMilliseconds=900000)
    cred = lookup(akid)
    if cred is None:
        raise AWSError("InvalidAccessKeyId", AWSAccessKeyId=akid)
    payload_hash = req.headers.get("x-amz-content-sha256")
    if body_sha256 is not None:
        if payload_hash is not None and payload_hash != UNSIGNED_PAYLOAD and payload_hash.lower() != body_sha256:
            raise AWSError("XAmzContentSHA256Mismatch", ClientComputedContentSHA256=payload_hash,
                           S3ComputedContentSHA256=body_sha256)
        payload_hash = payload_hash or body_sha256
    if payload_hash is None:
        raise AWSError("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    _check_payload_hash(payload_hash)
    key = signing_key(cred.secret_access_key, date, region, service)
    scope = f"{date}/{region}/{service}/aws4_request"
    sh_list = signed_headers.split(";")
    if "host" not in sh_list:
        raise AWSError("AuthorizationHeaderMalformed", "The authorization header is malformed; "
                                                       "'host' must be a signed header.")
    _check_signature(req, cred, key, amz_date, scope, sh_list, payload_hash, canonical_query(req.raw_query),
                     provided)
    return SignedRequest(cred, region, service, amz_date, scope, provided, key, payload_hash, False)


def verify_presigned(req: RequestToVerify, query: Mapping[str, str], lookup: CredentialLookup, now_us: int,
                     region_ok: Callable[[str], str | None], expected_service: str = "s3") -> SignedRequest:
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise AWSError("AuthorizationQueryParametersError",
                       "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
    try:
        credential = query["X-Amz-Credential"]
        amz_date = query["X-Amz-Date"]
        expires_raw = query["X-Amz-Expires"]
        signed_headers = query["X-Amz-SignedHeaders"]
        provided = query["X-Amz-Signature"]
    except KeyError as missing:
        raise AWSError("AuthorizationQueryParametersError",
                       f"Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                       f"X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters. "
                       f"Missing {missing}.") from None
    akid, date, region, service = _parse_scope(credential, "AuthorizationQueryParametersError")
    _check_service(service, expected_service, "AuthorizationQueryParametersError")
    _check_region(region, region_ok(region), "AuthorizationQueryParametersError")
    try:
        expires = int(expires_raw)
    except ValueError:
        raise AWSError("AuthorizationQueryParametersError",
                       "X-Amz-Expires should be a number") from None
    if expires < 0 or expires > MAX_PRESIGN_EXPIRES:
        raise AWSError("AuthorizationQueryParametersError",
                       "X-Amz-Expires must be less than a week (in seconds) that is 604800")
    ts = parse_amz_date(amz_date)
    if ts is None or not amz_date.startswith(date):
        raise AWSError("AuthorizationQueryParametersError", "X-Amz-Date must be in the ISO8601 Long Format "
                                                            "\"yyyyMMdd'T'HHmmss'Z'\"")
    if now_us > ts + expires * 1_000_000:
        raise AWSError("AccessDenied", "Request has expired", **{
            "X-Amz-Expires": expires, "Expires": iso8601(ts + expires * 1_000_000), "ServerTime": iso8601(now_us)})
    if ts - now_us > MAX_SKEW_US:
        raise AWSError("AccessDenied", "Request is not valid yet")
    cred = lookup(akid)
    if cred is None:
        raise AWSError("InvalidAccessKeyId", AWSAccessKeyId=akid)
    key = signing_key(cred.secret_access_key, date, region, service)
    scope = f"{date}/{region}/{service}/aws4_request"
    payload_hash = req.headers.get("x-amz-content-sha256", UNSIGNED_PAYLOAD)
    _check_signature(req, cred, key, amz_date, scope, signed_headers.split(";"), payload_hash,
                     canonical_query(req.raw_query, drop_signature=True), provided)
    return SignedRequest(cred, region, service, amz_date, scope, provided, key, payload_hash, True)


def scope_service(authorization: str) -> str | None:
    """The service named in an Authorization header's credential scope, without verifying anything."""
    start = authorization.find("Credential=")
    if start < 0:
        return None
    parts = authorization[start + 11:].split(",", 1)[0].split("/")
    return parts[3] if len(parts) == 5 else None


def chunk_signature(signed: SignedRequest, previous: str, chunk_sha256_hex: str) -> str:
    sts = (f"AWS4-HMAC-SHA256-PAYLOAD\n{signed.amz_date}\n{signed.scope}\n{previous}\n{EMPTY_SHA256}\n"
           f"{chunk_sha256_hex}")
    return hmac.new(signed.key, sts.encode(), hashlib.sha256).hexdigest()


def trailer_signature(signed: SignedRequest, previous: str, trailer_bytes: bytes) -> str:
    sts = (f"AWS4-HMAC-SHA256-TRAILER\n{signed.amz_date}\n{signed.scope}\n{previous}\n"
           f"{hashlib.sha256(trailer_bytes).hexdigest()}")
    return hmac.new(signed.key, sts.encode(), hashlib.sha256).hexdigest()
