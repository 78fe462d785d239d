"""Batched replication of small versions: one signed POST carries up to BATCH_MAX inline-size versions (or
delete markers) for one destination bucket, written there in one transaction.

Per-request costs (HTTP, SigV4, routing, a group commit) dominate small objects, so under load the workers send
what is ready for a destination together; at low load a batch holds one version. Wire:
POST /_twinstore/replication/batch?bucket=DEST, SigV4 (UNSIGNED-PAYLOAD; every entry is verified by its own
MD5/checksum), body = records of [4-byte big-endian descriptor length][descriptor JSON][data] (SSE-C: the
stored ciphertext, `sse.ctlen` bytes, see s3/ssec_replica.py), the descriptor
being the one `x-amz-twinstore-replication` carries (s3/replica.py). Answer: {"results": [{"ok": true} |
{"ok": false, "code": ...}, ...]} in entry order. Authorization: `s3:ReplicateObject` / `s3:ReplicateDelete` on
each key, through the Permissions seam.
"""

from __future__ import annotations

import json
import random
import struct
import time
from typing import Any, Callable, Iterator

from ..auth.principal import Principal
from ..auth.request import CallRecord
from ..protocol.errors import AWSError
from ..s3.replica import replica_bucket, replica_plan, small_replica
from ..s3.service import S3Service
from ..s3.ssec_replica import is_ciphertext
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
        """`on_call`: the audit sink; each replica written is recorded as the PutObject (DeleteObject for a
        marker) it stands for, by the role session that sent it, as the edge records single replications."""
        self.svc = svc
        self.permissions = permissions
        self.on_call = on_call

    async def handle(self, method: str, path: str, query: dict[str, str], principal: Principal,
                     body: bytes) -> tuple[int, str, bytes]:
        if method != "POST":
            raise AWSError("MethodNotAllowed", status=405)
        try:
            bucket = await replica_bucket(self.svc, query.get("bucket"))
        except AWSError as e:
            failure = e.headers.get("x-amz-twinstore-replication-failure", "")
            return e.status, "application/json", json.dumps({"error": e.code, "failure": failure}).encode()
        entries = list(decode(body))
        await self.permissions.refresh()
        for desc, _ in entries:
            action = "s3:ReplicateDelete" if desc.get("dm") else "s3:ReplicateObject"
            if not self.permissions.principal_allowed(principal, action, f"arn:aws:s3:::{bucket.name}/{desc.get('key')}"):
                raise AWSError("AccessDenied", status=403)
        results: list[dict[str, Any]] = []
        versions = []
        plans = [None if d.get("dm") or is_ciphertext(d) else await replica_plan(self.svc, bucket, str(d.get("key", "")), d)
                 for d, _ in entries]

        def build() -> None:
            for (desc, data), plan in zip(entries, plans):
                try:
                    versions.append(small_replica(bucket, str(desc.get("key", "")), _checked(desc), data, plan,
                                                  self.svc.sse.keyring))
                    results.append({"ok": True})
                except AWSError as e:
                    results.append({"ok": False, "code": e.code})
        await self.svc.blobs.pool.run(build)
        if versions:
            inserted = await self.svc.store.put_replicas(versions)
            if self.on_call is not None:
                for v, new in zip(versions, inserted):
                    if new:
                        self._record(principal, bucket.name, v.key, v.vid, v.delete_marker, v.size, v.etag)
        return 200, "application/json", json.dumps({"results": results}).encode()

    def _record(self, principal: Principal, bucket: str, key: str, vid: str, marker: bool, size: int,
                etag: str) -> None:
        assert self.on_call is not None
        output: dict[str, Any] = {"VersionId": vid, "DeleteMarker": True} if marker else \
            {"VersionId": vid, "ETag": f'"{etag}"'}
        self.on_call(CallRecord(service="s3", operation="DeleteObject" if marker else "PutObject",
                                region=self.svc.region, principal=principal,
                                request_id="%016X" % random.getrandbits(64), time_us=time.time_ns() // 1000,
                                status=204 if marker else 200, bucket=bucket, key=key, output=output,
                                bytes_in=0 if marker else size))


def _checked(desc: dict[str, Any]) -> dict[str, Any]:
    from ..meta.ids import timestamp_of
    if not isinstance(desc.get("vid"), str) or timestamp_of(desc["vid"]) is None or not isinstance(desc.get("lm"), int):
        raise AWSError("InvalidArgument", "Invalid replication descriptor")
    return desc
