"""Lean AWS Signature Version 4 signer for S3 header auth (bench-only).

Signs ``host;x-amz-content-sha256;x-amz-date`` (plus any extra headers the
caller asks to sign).  The signing key is derived once per UTC date and
cached; the ``x-amz-date`` string is cached per second, so a signature costs
one SHA-256 of the canonical request plus one HMAC.

Run ``python -m bench.sigv4`` to cross-check against botocore and time it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from urllib.parse import quote

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_ALGO = "AWS4-HMAC-SHA256"

QueryArg = Mapping[str, str] | Iterable[tuple[str, str]] | None


def uri_encode_path(path: str) -> str:
    """URI-encode an S3 path per SigV4: RFC 3986 unreserved and '/' are kept."""
    return quote(path, safe="/-_.~")


def canonical_query(query: QueryArg) -> str:
    """Canonical query string: keys/values RFC 3986-encoded, sorted; ``k`` -> ``k=``."""
    if not query:
        return ""
    items = query.items() if isinstance(query, Mapping) else query
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in items)
    return "&".join(f"{k}={v}" for k, v in pairs)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of a payload (for ``x-amz-content-sha256``)."""
    return hashlib.sha256(data).hexdigest()


class SigV4Signer:
    """Signs S3 requests for one (access key, secret, region) triple."""

    __slots__ = ("access_key", "secret_key", "region", "service", "_keys", "_sec", "_amz_date")

    def __init__(self, access_key: str, secret_key: str, region: str, service: str = "s3") -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.service = service
        self._keys: dict[str, bytes] = {}
        self._sec = -1
        self._amz_date = ""

    def signing_key(self, datestamp: str) -> bytes:
        """Derived signing key for ``YYYYMMDD`` (cached)."""
        key = self._keys.get(datestamp)
        if key is None:
            k = hmac.digest(("AWS4" + self.secret_key).encode(), datestamp.encode(), "sha256")
            k = hmac.digest(k, self.region.encode(), "sha256")
            k = hmac.digest(k, self.service.encode(), "sha256")
            key = hmac.digest(k, b"aws4_request", "sha256")
            self._keys = {datestamp: key}  # keep only the current day
        return key

    def amz_date(self) -> str:
        """Current ``YYYYMMDDTHHMMSSZ`` (cached per wall-clock second)."""
        now = int(time.time())
        if now != self._sec:
            self._sec = now
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        return self._amz_date

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        query: QueryArg = None,
        payload_hash: str = EMPTY_SHA256,
        amz_date: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Return the headers to send (Host, X-Amz-Date, X-Amz-Content-SHA256, Authorization).

        ``path`` must already be URI-encoded (see :func:`uri_encode_path`) and
        be exactly what goes on the request line.  ``extra_headers`` are signed
        too and included in the result.
        """
        if amz_date is None:
            amz_date = self.amz_date()
        datestamp = amz_date[:8]
        if extra_headers:
            hdrs = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
            for k, v in extra_headers.items():
                hdrs[k.lower()] = " ".join(v.split())
            names = sorted(hdrs)
            signed = ";".join(names)
            canon_headers = "".join(f"{n}:{hdrs[n]}\n" for n in names)
        else:
            signed = "host;x-amz-content-sha256;x-amz-date"
            canon_headers = f"host:{host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n"
        creq = (
            f"{method}\n{path}\n{canonical_query(query)}\n{canon_headers}\n{signed}\n{payload_hash}"
        )
        scope = f"{datestamp}/{self.region}/{self.service}/aws4_request"
        sts = f"{_ALGO}\n{amz_date}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
        sig = hmac.digest(self.signing_key(datestamp), sts.encode(), "sha256").hex()
        out = {
            "Host": host,
            "X-Amz-Date": amz_date,
            "X-Amz-Content-SHA256": payload_hash,
            "Authorization": (
                f"{_ALGO} Credential={self.access_key}/{scope}, SignedHeaders={signed}, Signature={sig}"
            ),
        }
        if extra_headers:
            out.update(extra_headers)
        return out


def selfcheck(n: int = 20000) -> float:
    """Compare against botocore's S3SigV4Auth for several requests; return µs/signature."""
    import datetime
    from unittest import mock

    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    ak, sk, region = "AKIABENCHROOT0000000", "benchsecretbenchsecretbenchsecret0000000", "us-east-2"
    host = "127.0.0.1:9000"
    signer = SigV4Signer(ak, sk, region)
    when = datetime.datetime(2025, 11, 24, 18, 31, 7)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    body4k = bytes(range(256)) * 16
    versioning = (
        b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Status>Enabled</Status></VersioningConfiguration>"
    )
    cases: list[tuple[str, str, str, list[tuple[str, str]], bytes, bool, dict[str, str]]] = [
        # (method, raw path, raw query string for URL, query pairs, body, unsigned?, extra headers)
        ("PUT", "/bkt/small/00000001", "", [], body4k, False, {}),
        ("GET", "/bkt/small/00000001", "", [], b"", False, {}),
        ("HEAD", "/bkt/a key+with=odd~chars_é/x", "", [], b"", False, {}),
        ("PUT", "/bkt/large/64M", "", [], b"x" * 100, True, {}),
        ("GET", "/bkt", "list-type=2&max-keys=1000", [("list-type", "2"), ("max-keys", "1000")], b"",
         False, {}),
        ("PUT", "/bkt", "versioning", [("versioning", "")], versioning, False, {}),
        ("GET", "/bkt", "prefix=a%2Fb&list-type=2", [("prefix", "a/b"), ("list-type", "2")], b"", False, {}),
        ("DELETE", "/bkt/k", "versionId=abc", [("versionId", "abc")], b"", False,
         {"Content-Type": "application/xml"}),
    ]
    creds = Credentials(ak, sk)
    ok = True
    for method, raw_path, url_q, q, body, unsigned, extra in cases:
        path = uri_encode_path(raw_path)
        url = f"http://{host}{path}" + (f"?{url_q}" if url_q else "")
        req = AWSRequest(method=method, url=url, data=body, headers=dict(extra))
        if unsigned:
            req.context["client_config"] = mock.Mock(s3={"payload_signing_enabled": False})
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
            botocore.auth.S3SigV4Auth(creds, "s3", region).add_auth(req)
        phash = UNSIGNED_PAYLOAD if unsigned else (sha256_hex(body) if body else EMPTY_SHA256)
        mine = signer.sign(method, host, path, q, phash, amz_date, extra or None)
        same = mine["Authorization"] == req.headers["Authorization"]
        ok &= same
        print(f"{'OK ' if same else 'BAD'} {method:6} {url}")
        if not same:
            print(f"    botocore: {req.headers['Authorization']}\n    bench:    {mine['Authorization']}")
    if not ok:
        raise SystemExit("sigv4 selfcheck FAILED")

    path = "/bkt/small/00001234"
    t0 = time.perf_counter()
    for _ in range(n):
        signer.sign("GET", host, path, None, EMPTY_SHA256)
    us_get = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    for _ in range(n):
        signer.sign("PUT", host, path, None, sha256_hex(body4k))
    us_put = (time.perf_counter() - t0) / n * 1e6
    print(f"all {len(cases)} cases match botocore S3SigV4Auth")
    print(f"sign GET: {us_get:.2f} us/signature; sign PUT incl. sha256 of 4 KiB body: {us_put:.2f} us")
    return us_get


if __name__ == "__main__":
    selfcheck()
