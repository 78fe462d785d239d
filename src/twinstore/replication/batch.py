"""Batched replication of small versions: one signed POST carries up to BATCH_MAX inline-size versions (or
delete markers) for one destination bucket, written there in one transaction.

Per-request costs (HTTP, SigV4, routing, a group commit) dominate small objects, so under load the workers send
what is ready for a destination together; at low load a batch holds one version. Wire:
POST /_twinstore/replication/batch?bucket=DEST, SigV4 (UNSIGNED-PAYLOAD; every entry is verified by its own
MD5/checksum), body = records of [4-byte big-endian descriptor length][descriptor JSON][data] (SSE-C: the
stored ciphertext, `sse.ctlen` bytes, see s3/ssec_replica.py), the descriptor
being the one `x-amz-twinstore-replication` carries (s3/replica.py). Answer: {"results": [{"ok": true} |
{"ok": false, "code": ..., "failure": REASON?}, ...]} in entry order. Authorization, per entry, exactly as the
edge authorizes a single replication request: `s3:ReplicateObject` / `s3:ReplicateDelete` on the object's ARN,
identity policies plus the destination bucket's policy (explicit Deny wins), the request's condition keys.
A refused entry fails alone (FAILED at the source with DstPutObjectNotPermitted / DstDelObjNotPermitted).
"""

from __future__ import annotations

import json
import random
import struct
import time
from typing import Any, Callable, Iterator
from urllib.parse import quote

from ..auth.principal import Principal
from ..auth.request import CallRecord, RequestContext
from ..iam.evaluate import ALLOW, DENY
from ..meta.model import Bucket, ObjectVersion
from ..protocol.errors import AWSError
from ..s3.actions import S3Keys, object_arn
from ..s3.replica import replica_bucket, replica_plan, small_replica
from ..s3.service import S3Service
from ..s3.ssec_replica import is_ciphertext
from ..s3.sse import envelope_of, output_headers
from .sessions import Permissions

BATCH_MAX = 64
BATCH_PATH = "/_twinstore/replication/batch"
_LEN = struct.Struct(">I")


def encode(entries: list[tuple[dict[str, Any], bytes]]) -> bytes:
    out = bytearray()
    for desc, data in entries:
        raw = json.dumps(desc, separators=(",", ":")).encode()
        out += _LEN.pack(len(raw))
        out += raw
        out += data
    return bytes(out)


def decode(body: bytes) -> Iterator[tuple[dict[str, Any], bytes]]:
    pos = 0
    while pos < len(body):
        if pos + 4 > len(body):
            raise AWSError("MalformedXML", "Truncated replication batch")
        (n,) = _LEN.unpack_from(body, pos)
        pos += 4
        try:
            desc = json.loads(body[pos:pos + n])
        except ValueError:
            raise AWSError("MalformedXML", "Invalid replication batch descriptor") from None
        pos += n
        if not isinstance(desc, dict):
            raise AWSError("MalformedXML", "Invalid replication batch descriptor")
        size = 0 if desc.get("dm") else int(desc["sse"].get("ctlen", -1)) if is_ciphertext(desc) \
            else int(desc.get("size", 0))
        if pos + size > len(body) or size < 0:
            raise AWSError("MalformedXML", "Truncated replication batch")
        yield desc, body[pos:pos + size]
        pos += size


class BatchReceiver:
    def __init__(self, svc: S3Service, permissions: Permissions,
                 on_call: Callable[[CallRecord], None] | None = None) -> None:
        """`on_call`: the audit sink; each replica written (or refused) is recorded as the PutObject
        (DeleteObject for a marker) it stands for, by the role session that sent it, as the edge records single
        replications."""
        self.svc = svc
        self.permissions = permissions
        self.on_call = on_call

    async def handle(self, method: str, path: str, query: dict[str, str], principal: Principal,
                     body: bytes, context: RequestContext | None = None) -> tuple[int, str, bytes]:
        if method != "POST":
            raise AWSError("MethodNotAllowed", status=405)
        ctx = context or RequestContext({}, "", False, "")
        try:
            bucket = await replica_bucket(self.svc, query.get("bucket"))
        except AWSError as e:
            failure = e.headers.get("x-amz-twinstore-replication-failure", "")
            return e.status, "application/json", json.dumps({"error": e.code, "failure": failure}).encode()
        entries = list(decode(body))
        await self.permissions.refresh()
        keys = S3Keys(principal, ctx.headers, query, ctx.source_ip, ctx.secure, self.svc.region,
                      self.svc.account_id)
        results: list[dict[str, Any] | None] = [None] * len(entries)
        for i, (desc, _) in enumerate(entries):
            denial = self._authorize(principal, bucket, desc, keys)
            if denial is not None:
                refused: dict[str, Any] = {"ok": False, "code": denial.code}
                if denial.code == "AccessDenied":
                    refused["failure"] = _DENIED[bool(desc.get("dm"))]
                results[i] = refused
                self._record(principal, ctx, bucket.name, desc, error=denial)
        allowed = [i for i, r in enumerate(results) if r is None]
        plans = {i: await replica_plan(self.svc, bucket, str(entries[i][0].get("key", "")), entries[i][0])
                 for i in allowed if not entries[i][0].get("dm") and not is_ciphertext(entries[i][0])}
        versions: list[ObjectVersion] = []

        def build() -> None:
            for i in allowed:
                desc, data = entries[i]
                try:
                    versions.append(small_replica(bucket, str(desc.get("key", "")), _checked(desc), data,
                                                  plans.get(i), self.svc.sse.keyring))
                    results[i] = {"ok": True}
                except AWSError as e:
                    results[i] = {"ok": False, "code": e.code}
        await self.svc.blobs.pool.run(build)
        if versions:
            inserted = await self.svc.store.put_replicas(versions)
            if self.on_call is not None:
                for v, new in zip(versions, inserted):
                    if new:
                        self._record(principal, ctx, bucket.name, {"key": v.key, "dm": v.delete_marker},
                                     version=v)
        return 200, "application/json", json.dumps({"results": results}).encode()

    def _authorize(self, principal: Principal, bucket: Bucket, desc: dict[str, Any],
                   keys: S3Keys) -> AWSError | None:
        """What the edge decides for a single replication request, per entry: `s3:ReplicateObject` (a version)
        or `s3:ReplicateDelete` (a delete marker) on the object's ARN, against the sender's identity policies
        and this bucket's policy, with the request's condition keys. None when allowed."""
        key = desc.get("key")
        if not isinstance(key, str):
            return AWSError("InvalidArgument", "Invalid replication descriptor")
        action = "s3:ReplicateDelete" if desc.get("dm") else "s3:ReplicateObject"
        decision = self.permissions.decide_on_bucket(principal, action, bucket, key, keys)
        if decision == ALLOW:
            return None
        resource = object_arn(bucket.name, key)
        why = ("with an explicit deny in a resource-based policy" if decision == DENY
               else f"because no identity-based policy allows the {action} action")
        return AWSError("AccessDenied", f"User: {principal.arn} is not authorized to perform: {action} on "
                                        f"resource: \"{resource}\" {why}")

    def _record(self, principal: Principal, ctx: RequestContext, bucket: str, desc: dict[str, Any],
                version: ObjectVersion | None = None, error: AWSError | None = None) -> None:
        if self.on_call is None:
            return
        marker = bool(desc.get("dm"))
        key = desc.get("key") if isinstance(desc.get("key"), str) else None
        output: dict[str, Any] | None = None
        if version is not None:
            output = {"VersionId": version.vid, "DeleteMarker": True} if marker else \
                {"VersionId": version.vid, "ETag": f'"{version.etag}"', **output_headers(envelope_of(version))}
        size = 0 if marker or version is None else version.size
        self.on_call(CallRecord(
            service="s3", operation="DeleteObject" if marker else "PutObject", region=self.svc.region,
            principal=principal, request_id="%016X" % random.getrandbits(64), time_us=time.time_ns() // 1000,
            status=error.status if error else 204 if marker else 200, source_ip=ctx.source_ip,
            user_agent=ctx.headers.get("user-agent", ""), bucket=bucket, key=key, output=output,
            error_code=error.code if error else "", error_message=error.message if error else "",
            headers={"host": ctx.headers["host"]} if "host" in ctx.headers else {}, bytes_in=size,
            method="DELETE" if marker else "PUT", uri=f"/{bucket}/{quote(key or '')}"))


_DENIED = {False: "DstPutObjectNotPermitted", True: "DstDelObjNotPermitted"}  # reasons, as the single path's


def _checked(desc: dict[str, Any]) -> dict[str, Any]:
    from ..meta.ids import timestamp_of
    if not isinstance(desc.get("vid"), str) or timestamp_of(desc["vid"]) is None or not isinstance(desc.get("lm"), int):
        raise AWSError("InvalidArgument", "Invalid replication descriptor")
    return desc
