"""The ASGI application: one ordered pipeline per request, readable top to bottom.

    internal endpoints -> authenticate (SigV4) -> address (bucket, key) -> route (operation) ->
    region check (redirect / proxy) -> parse parameters and payload -> authorize -> handle -> serialize

Errors anywhere become AWS error bodies (no body on HEAD) with x-amz-request-id / x-amz-id-2.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import unquote, unquote_plus

from ..auth import sigv4
from ..auth.credentials import CredentialDirectory
from ..auth.principal import Principal
from ..auth.request import ApiRequest, ApiService, CallRecord, CallSink, RequestContext
from ..iam.authority import Iam
from ..protocol.errors import AWSError, error_xml
from ..protocol.hostid import host_id
from ..protocol.model import operation as op_model
from ..protocol.request import RequestParser
from ..protocol.routing import consumed_query, route, subresources
from ..protocol.rpc import signing_names
from ..protocol.timefmt import now_us
from ..protocol.xml_out import ResponseSerializer
from ..s3 import buckets, listing, multipart, objects, read, replica  # noqa: F401  (registers handlers)
from ..s3.checksums import new_checksum
from ..s3.http import S3Request, S3Response
from ..s3.ingest import content_md5
from ..s3.replica import replication_operation
from ..s3.service import HANDLERS, S3Service
from .authz import Authorizer
from .body import RequestBody
from .proxy import RegionProxy
from .rpc import handle_rpc, scrub

log = logging.getLogger("twinstore.edge")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_CONFIG_BODY = 1 << 20
WATCH_DISCONNECT_OVER = 4 << 20  # streamed bodies longer than this stop being read once the client is gone
ANONYMOUS = Principal(account_id="", arn="*", type="Anonymous")
_CHECKSUM_HEADERS = ("x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-crc64nvme",
                     "x-amz-checksum-sha1", "x-amz-checksum-sha256")
_STREAMED_OPS = {"PutObject", "UploadPart"}
_CHECKSUM_REQUIRED = {"DeleteObjects", "PutBucketReplication"}
# Internal endpoints under /_twinstore/ registered by the composition root (e.g. replication's admin API):
# handler(method, path, query, principal, body) -> (status, content type, body). `public` ones skip SigV4;
# `root_only` ones refuse any principal but the account root (others check permissions themselves);
# `context` ones also get `context=RequestContext(...)` (headers, client address: condition keys, audit records).
InternalHandler = Callable[[str, str, dict[str, str], Principal, bytes], Awaitable[tuple[int, str, bytes]]]
MAX_INTERNAL_BODY = 16 << 20


@dataclass
class InternalRoute:
    prefix: str
    handler: InternalHandler
    public: bool = False
    root_only: bool = True
    context: bool = False


class _Compiled:
    """Per-operation parser and serializer, built once."""

    def __init__(self, name: str) -> None:
        model = op_model("s3", name)
        self.parser = RequestParser(model)
        self.serializer = ResponseSerializer(model, ROOT_NAMES.get(name))


ROOT_NAMES = {
    "ListBuckets": "ListAllMyBucketsResult", "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult", "ListObjectVersions": "ListVersionsResult",
    "GetBucketVersioning": "VersioningConfiguration", "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult", "ListParts": "ListPartsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult", "DeleteObjects": "DeleteResult",
    "GetObjectTagging": "Tagging", "GetBucketTagging": "Tagging", "GetBucketLogging": "BucketLoggingStatus",
    "GetObjectAttributes": "GetObjectAttributesResponse", "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
}


def _request_id() -> str:
    return "%016X" % random.getrandbits(64)  # unique enough, and no syscall on the event loop


class TwinstoreApp:
    def __init__(self, s3: S3Service, credentials: CredentialDirectory, known_regions: Callable[[], set[str]],
                 proxy: RegionProxy | None = None, on_startup: Callable[[], Awaitable[None]] | None = None,
                 on_shutdown: Callable[[], Awaitable[None]] | None = None,
                 services: Mapping[str, ApiService] | None = None, on_call: CallSink | None = None,
                 iam: Iam | None = None, internal_routes: list[InternalRoute] | None = None) -> None:
        """`services`: botocore service name -> implementation, for the non-S3 services this region serves;
        `on_call`: the audit sink, told about every finished request (must only enqueue);
        `internal_routes`: extra endpoints under /_twinstore/ (e.g. replication's admin API and metrics)."""
        self.s3 = s3
        self.internal_routes = internal_routes or []
        self.iam = iam
        self.authz = Authorizer(iam, s3) if iam is not None else None
        self.services: dict[str, ApiService] = dict(services or {})
        self.on_call = on_call
        self.anonymous = ANONYMOUS
        self._rpc_by_scope = signing_names()
        self.region = s3.region
        self.credentials = credentials
        self.known_regions = known_regions
        self.proxy = proxy
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.ready = False
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, name: str) -> _Compiled:
        c = self._compiled.get(name)
        if c is None:
            c = self._compiled[name] = _Compiled(name)
        return c

    # ---- ASGI entry ---------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle_http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    if self.on_startup:
                        await self.on_startup()
                    self.ready = True
                    await send({"type": "lifespan.startup.complete"})
                except Exception as exc:  # noqa: BLE001
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
            elif msg["type"] == "lifespan.shutdown":
                if self.on_shutdown:
                    await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("utf-8", "replace")
        raw_query = scope.get("query_string", b"").decode("utf-8", "replace")
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            name = k.decode("latin-1").lower()
            value = v.decode("utf-8", "replace")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        request_id = _request_id()
        started_us = now_us() if self.on_call is not None else 0
        if path.startswith("/_twinstore/"):
            for r in self.internal_routes:
                if path.partition("?")[0].startswith(r.prefix):
                    await self.internal_route(r, path, method, raw_query, headers, receive, send, request_id,
                                              scope)
                    return
            await self.internal(path, method, send, request_id)
            return
        auth = headers.get("authorization")
        if auth is not None and path == "/" and "/s3/aws4_request" not in auth:
            service = self._rpc_by_scope.get(sigv4.scope_service(auth) or "")
            if service is not None:
                await handle_rpc(self, service, scope, receive, send, headers, request_id)
                return
        query = _parse_query(raw_query)
        body: RequestBody | None = None
        principal = ANONYMOUS
        operation: str | None = None
        bucket = key = None
        params: dict[str, Any] = {}
        check = None
        try:
            if self.iam is not None:
                await self.iam.refresh()
            signed = self.authenticate(method, path, raw_query, headers, query)
            principal = signed.credential.principal if signed else ANONYMOUS
            body = RequestBody(receive, headers, signed)
            bucket, key = _address(path)
            target = "object" if key is not None else "bucket" if bucket else "service"
            operation = route(method, target, query, headers)
            if operation is None or operation not in HANDLERS:
                raise _not_implemented()
            leftover = [q for q in query if q in subresources() and q not in consumed_query(operation)]
            if leftover:
                raise _not_implemented()
            if signed is not None and signed.region != self.region:
                if await self.forward_to_region(signed.region, bucket, scope, receive, send, headers):
                    return
            compiled = self.compiled(operation)
            params = compiled.parser.parse(headers, query)
            payload = None
            if compiled.parser.payload_shape is not None and operation not in _STREAMED_OPS:
                raw = await body.read_all(MAX_CONFIG_BODY)
                _verify_small_body(operation, headers, raw)
                payload = compiled.parser.parse_payload(raw)
            source_ip = (scope.get("client") or ("", 0))[0]
            secure = scope.get("scheme") == "https"
            handler_op = replication_operation(operation, headers)  # s3:ReplicateObject & co (s3/replica.py)
            check = await self.authorize(principal, handler_op, bucket, key, params, headers, query, payload,
                                         source_ip, secure, bool(signed and signed.presigned))
            req = S3Request(handler_op, bucket, key, params, headers, query, body, principal, request_id,
                            payload=payload, source_ip=source_ip, secure=secure, authorize=check)
            try:
                resp = await HANDLERS[handler_op](self.s3, req)
            except AWSError as missing:
                if missing.code != "NoSuchKey" or self.authz is None:
                    raise
                raise self.authz.missing_key(principal, operation, bucket, missing, headers, query, source_ip,
                                             secure) from None
            await body.drain()
            sent = await self.send_response(send, method, compiled.serializer, resp, request_id, receive)
            if self.on_call is not None:
                self._record(principal, operation, bucket, key, params, headers, scope, request_id, resp.status,
                             started_us, output=resp.output, bytes_in=body.length or 0, bytes_out=sent)
        except AWSError as err:
            if body is None:
                body = RequestBody.unread(receive, headers)
            await body.drain()
            if body.abandoned:
                err.headers["connection"] = "close"
            await self.send_error(send, method, err, request_id)
            if self.on_call is not None:
                self._record(principal, operation or "", bucket, key, params, headers, scope, request_id,
                             err.status, started_us, error=err)
        except Exception:  # noqa: BLE001 - last resort: never leak a traceback to the client
            log.exception("internal error (request %s)", request_id)
            await self.send_error(send, method, AWSError("InternalError"), request_id)

    def _record(self, principal: Principal, operation: str, bucket: str | None, key: str | None,
                params: dict[str, Any], headers: dict[str, str], scope: Scope, request_id: str, status: int,
                started_us: int, output: dict[str, Any] | None = None, error: AWSError | None = None,
                bytes_in: int = 0, bytes_out: int = 0) -> None:
        assert self.on_call is not None
        now = now_us()
        raw_query = scope.get("query_string", b"").decode("latin-1")
        self.on_call(CallRecord(
            service="s3", operation=operation, region=self.region, principal=principal, request_id=request_id,
            time_us=now, status=status, source_ip=(scope.get("client") or ("", 0))[0],
            user_agent=headers.get("user-agent", ""), bucket=bucket, key=key, params=scrub(params),
            # S3 output shapes carry no secrets (SSE-C keys are input only): not walked, a listing has 1,000 rows
            output=output, error_code=error.code if error else "",
            error_message=error.message if error else "", headers=headers, bytes_in=bytes_in,
            bytes_out=bytes_out, presigned="X-Amz-Signature" in raw_query, method=scope["method"],
            uri=(scope.get("raw_path") or scope["path"].encode()).decode("utf-8", "replace")
            + ("?" + raw_query if raw_query else ""), duration_us=now - started_us if started_us else 0))

    # ---- pipeline steps -----------------------------------------------------------------------------------
    def authenticate(self, method: str, path: str, raw_query: str, headers: dict[str, str],
                     query: dict[str, str]) -> sigv4.SignedRequest | None:
        to_verify = sigv4.RequestToVerify(method, path.partition("?")[0], raw_query, headers)
        if "authorization" in headers:
            return sigv4.verify_header(to_verify, self.credential_lookup(headers.get("x-amz-security-token", "")),
                                       now_us(), self._region_ok)
        if "X-Amz-Algorithm" in query or "X-Amz-Credential" in query:
            return sigv4.verify_presigned(to_verify, query, self.credential_lookup(
                query.get("X-Amz-Security-Token", "")), now_us(), self._region_ok)
        if "AWSAccessKeyId" in query and "Signature" in query:
            raise AWSError("InvalidRequest", "The authorization mechanism you have provided is not supported. "
                                             "Please use AWS4-HMAC-SHA256.")
        return None

    def _region_ok(self, region: str) -> str | None:
        if region == self.region or region in self.known_regions():
            return None
        return self.region

    def credential_lookup(self, session_token: str) -> sigv4.CredentialLookup:
        """Access key id -> credential; STS session keys are verified with the request's security token."""
        if not session_token:
            return self.credentials.lookup
        return lambda akid: self.credentials.lookup(akid, session_token)

    async def authorize(self, principal: Principal, operation: str, bucket: str | None, key: str | None,
                        params: dict[str, Any], headers: dict[str, str], query: dict[str, str], payload: Any,
                        source_ip: str, secure: bool, presigned: bool) -> Callable[[str, str], None] | None:
        """IAM and bucket-policy evaluation of an S3 request (edge/authz.py); without IAM wired: root only.
        Returns the check handlers use for further resources (None: nothing further to check)."""
        if self.authz is None:
            if not principal.is_root:
                raise AWSError("AccessDenied")
            return None
        return await self.authz.s3_request(principal, operation, bucket, key, params, headers, query, payload,
                                           source_ip, secure, presigned)

    def authorize_api(self, principal: Principal, action: str, req: ApiRequest) -> None:
        """`action` is `<signing name>:<Operation>`, e.g. `iam:CreateRole`, on the resource the service names."""
        if self.authz is None:
            if not principal.is_root:
                raise AWSError("AccessDenied", f"User: {principal.arn} is not authorized to perform: {action}",
                               status=403)
            return
        self.authz.api(principal, action, req, self.services.get(req.service))

    async def forward_to_region(self, region: str, bucket: str | None, scope: Scope, receive: Receive,
                                send: Send, headers: dict[str, str]) -> bool:
        """A request signed for another region of this deployment: serve it there (what botocore's region
        redirector does after a PermanentRedirect when all regions share one endpoint URL)."""
        if bucket:
            reg = await self.s3.global_store.lookup_bucket(bucket)
            if reg is not None and reg.region == region and self.proxy is not None:
                endpoint = (await self.s3.global_store.region_endpoints()).get(region)
                if endpoint:
                    await self.proxy.forward(endpoint, scope, receive, send)
                    return True
            expected = reg.region if reg is not None else self.region
        else:
            expected = self.region
        raise AWSError("AuthorizationHeaderMalformed",
                       f"The authorization header is malformed; the region '{region}' is wrong; "
                       f"expecting '{expected}'", Region=expected, headers={"x-amz-bucket-region": expected}
                       if bucket else None)

    # ---- responses ----------------------------------------------------------------------------------------
    async def send_response(self, send: Send, method: str, serializer: ResponseSerializer, resp: S3Response,
                            request_id: str, receive: Receive | None = None) -> int:
        """Sends a response; returns the body bytes handed to the transport (fewer than the body's length when
        the client went away during a long stream: reading, and decrypting, then stop)."""
        headers = _base_headers(request_id)
        for name, value in serializer.header_list(resp.output):
            headers.append((name.encode(), value.encode("utf-8")))
        for name, value in resp.headers:
            headers.append((name.encode(), value.encode("utf-8")))
        body: bytes | None = resp.raw_body
        if body is None and resp.stream is None:
            body = serializer.body(resp.output)
            if body is not None:
                headers.append((b"content-type", b"application/xml"))
        elif resp.raw_body is not None and not any(h[0].lower() == b"content-type" for h in headers):
            headers.append((b"content-type", b"application/xml"))
        if resp.stream is not None or resp.content_length is not None:
            if not any(h[0] == b"Content-Length" for h in headers):
                headers.append((b"content-length", str(resp.content_length or 0).encode()))
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            if method == "HEAD" or resp.stream is None:
                await send({"type": "http.response.body", "body": b""})
                return 0
            return await self._stream_body(send, resp, receive)
        payload = body or b""
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else payload})
        return 0 if method == "HEAD" else len(payload)

    @staticmethod
    async def _stream_body(send: Send, resp: S3Response, receive: Receive | None) -> int:
        """Streams a response body. For a long one, a watcher waits for the client's disconnect (the request
        body is already read, so that is the next message the server has to give): once it has come, the
        stream is closed instead of being read, and decrypted, to its end into a transport that drops
        everything (a client could otherwise make the region read a 5 TB object per aborted request)."""
        assert resp.stream is not None
        gone = asyncio.ensure_future(receive()) if receive is not None and \
            (resp.content_length or 0) > WATCH_DISCONNECT_OVER else None
        sent = 0
        try:
            async for chunk in resp.stream:
                if gone is not None and gone.done():
                    if gone.exception() is not None or gone.result().get("type") == "http.disconnect":
                        await resp.stream.aclose()  # type: ignore[attr-defined]
                        return sent
                    gone = asyncio.ensure_future(receive())  # type: ignore[misc]  # a late body piece: watch on
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
            await send({"type": "http.response.body", "body": b""})
            return sent
        finally:
            if gone is not None and not gone.done():
                gone.cancel()

    async def send_error(self, send: Send, method: str, err: AWSError, request_id: str) -> None:
        headers = _base_headers(request_id)
        for name, value in err.headers.items():
            headers.append((name.encode(), value.encode()))
        if method == "HEAD" or err.status == 304:
            headers.append((b"content-length", b"0"))
            await send({"type": "http.response.start", "status": err.status, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = error_xml(err, request_id, host_id(request_id))
        headers += [(b"content-type", b"application/xml"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": err.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def internal_route(self, r: InternalRoute, path: str, method: str, raw_query: str,
                             headers: dict[str, str], receive: Receive, send: Send, request_id: str,
                             scope: Scope | None = None) -> None:
        query = _parse_query(raw_query)
        req_body = RequestBody.unread(receive, headers)
        try:
            principal = ANONYMOUS
            signed = None
            if not r.public:
                if self.iam is not None:
                    await self.iam.refresh()
                signed = self.authenticate(method, path, raw_query, headers, query)
                if signed is None or (r.root_only and not signed.credential.principal.is_root):
                    raise AWSError("AccessDenied")
                principal = signed.credential.principal
            req_body = RequestBody(receive, headers, signed)
            raw = await req_body.read_all(MAX_INTERNAL_BODY) if method in ("POST", "PUT") else b""
            if r.context:
                ctx = RequestContext(headers, ((scope or {}).get("client") or ("", 0))[0],
                                     (scope or {}).get("scheme") == "https", request_id, method,
                                     path + ("?" + raw_query if raw_query else ""))
                status, ctype, body = await r.handler(method, path.partition("?")[0], query, principal, raw,
                                                      context=ctx)  # type: ignore[call-arg]
            else:
                status, ctype, body = await r.handler(method, path.partition("?")[0], query, principal, raw)
        except AWSError as err:
            await req_body.drain()
            status, ctype = err.status, "application/json"
            body = json.dumps({"error": err.code, "message": err.message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": _base_headers(request_id) + [(b"content-type", ctype.encode()),
                                                            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body if method != "HEAD" else b""})

    async def internal(self, path: str, method: str, send: Send, request_id: str) -> None:
        if path == "/_twinstore/health" and method in ("GET", "HEAD"):
            status = 200 if self.ready else 503
            body = json.dumps({"status": "ok" if self.ready else "starting", "region": self.region}).encode()
        else:
            status, body = 404, b'{"error": "not found"}'
        await send({"type": "http.response.start", "status": status,
                    "headers": _base_headers(request_id) + [(b"content-type", b"application/json"),
                                                            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body if method != "HEAD" else b""})


def _base_headers(request_id: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-amz-request-id", request_id.encode()), (b"x-amz-id-2", host_id(request_id).encode()),
            (b"server", b"twinstore")]


def _parse_query(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in raw.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        key = unquote_plus(k)
        if key not in out:
            out[key] = unquote_plus(v)
    return out


def _address(path: str) -> tuple[str | None, str | None]:
    """Path-style addressing: the first segment is the bucket, the rest (not normalised) is the key."""
    p = path.partition("?")[0]
    if not p.startswith("/"):
        raise AWSError("InvalidURI", "Couldn't parse the specified URI.", status=400)
    rest = p[1:]
    if not rest:
        return None, None
    bucket_raw, slash, key_raw = rest.partition("/")
    bucket = unquote(bucket_raw)
    if not slash:
        return bucket, None
    if not key_raw:
        return bucket, None
    try:
        key = unquote(key_raw, errors="strict")
    except UnicodeDecodeError:
        raise AWSError("InvalidURI", "Couldn't parse the specified URI.", status=400) from None
    return bucket, key


def _not_implemented() -> AWSError:
    return AWSError("NotImplemented", "A header or query you provided implies functionality that is not "
                                      "implemented")


def _verify_small_body(operation: str, headers: dict[str, str], raw: bytes) -> None:
    """Content-MD5 and x-amz-checksum-* on configuration bodies (DeleteObjects requires one of them)."""
    md5 = content_md5(headers)
    if md5 is not None and hashlib.md5(raw).digest() != md5:
        raise AWSError("BadDigest")
    present = False
    for h in _CHECKSUM_HEADERS:
        v = headers.get(h)
        if v is not None:
            present = True
            c = new_checksum(h[len("x-amz-checksum-"):])
            c.update(raw)
            if c.b64digest() != v:
                raise AWSError("BadDigest", f"The {h[len('x-amz-checksum-'):].upper()} you specified did not "
                                            f"match the calculated checksum.")
    if operation in _CHECKSUM_REQUIRED and md5 is None and not present:
        raise AWSError("InvalidRequest", "Missing required header for this request: Content-Md5")
