"""Replication in one region, assembled: the write-time planner hook for S3, the bucket API, the workers, batch
jobs, the admin API (/_twinstore/replication/...) and the Prometheus metrics (/_twinstore/metrics)."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from ..auth.principal import Credential, Principal
from ..meta.model import Bucket, ObjectVersion, OutboxItem
from ..meta.store import GlobalStore, RegionStore
from ..protocol.errors import AWSError
from ..s3.service import S3Service
from .api import CONFIG_KEY, ReplicationApi
from .backfill import Backfill
from .batch import BatchReceiver
from .client import RegionClient
from .metrics import LiveCounters, render
from .rules import plan
from .sessions import Permissions, RoleSessions
from .worker import ReplicationWorkers


def _now_us() -> int:
    return time.time_ns() // 1000


def _truthy(v: str | None) -> bool:
    return (v or "").lower() in ("1", "true", "yes", "")


class Replication:
    def __init__(self, svc: S3Service, store: RegionStore, global_store: GlobalStore, sessions: RoleSessions,
                 permissions: Permissions, service_credential: Callable[[], Credential]) -> None:
        self.svc, self.store = svc, store
        self.client = RegionClient()
        self.live = LiveCounters()
        self.workers = ReplicationWorkers(svc, store, global_store, sessions, permissions, self.client, self.live)
        self.api = ReplicationApi(global_store, self.client, permissions, service_credential)
        self.backfill = Backfill(store, self.workers.wake)
        self.batches = BatchReceiver(svc, permissions)  # its `on_call` (audit sink) is set by the composition root

    def install(self) -> None:
        """Connects to S3: the planner hook, the wake-up after commits, the bucket configuration operations."""
        self.svc.replication_planner = self.plan
        self.svc.replication_notify = self.workers.wake
        self.api.register()

    def plan(self, bucket: Bucket, v: ObjectVersion, event: str) -> list[OutboxItem]:
        return plan(bucket.configs.get(CONFIG_KEY), v, event, _now_us())

    async def start(self) -> None:
        self.workers.start()
        await self.backfill.resume()

    async def stop(self) -> None:
        await self.backfill.stop()
        await self.workers.stop()
        await self.client.close()

    # ---- admin API ----------------------------------------------------------------------------------------
    async def admin(self, method: str, path: str, query: dict[str, str], principal: Principal,
                    body: bytes) -> tuple[int, str, bytes]:
        sub = path.removeprefix("/_twinstore/replication").strip("/")
        if sub == "status" and method == "GET":
            return 200, "application/json", json.dumps(await self.status()).encode()
        if sub == "backfill" and method == "POST":
            bucket = query.get("bucket")
            if not bucket:
                raise AWSError("InvalidArgument", "bucket is required")
            job = await self.backfill.create(bucket, _truthy(query.get("include-failed", "false")),
                                             _truthy(query.get("include-replicas", "false")))
            return 200, "application/json", json.dumps(job).encode()
        if sub == "jobs" and method == "GET":
            return 200, "application/json", json.dumps(await self.store.list_jobs()).encode()
        raise AWSError("NoSuchKey", "Unknown replication admin path", status=404)

    async def status(self) -> dict[str, Any]:
        now = _now_us()
        names = {b.id: b.name for b in await self.store.list_buckets()}
        stats = await self.store.replication_stats(now)
        failures = []
        for bid, name in names.items():
            for f in await self.store.replication_failures(bid, 20):
                failures.append({"bucket": name, "key": f.key, "version_id": f.vid, "op": f.op,
                                 "destination": f.dest_bucket, "rule_id": f.rule_id, "reason": f.reason,
                                 "failed_us": f.failed_us})
        return {
            "region": self.svc.region,
            "pending": [{"bucket": names.get(b, str(b)), "rule_id": r, "destination": d, "operations": n,
                         "bytes": s or 0, "oldest_seconds": max(0.0, (now - o) / 1e6), "max_attempts": a}
                        for b, r, d, n, s, o, a, _rtc in stats["pending"]],
            "failed": [{"bucket": names.get(b, str(b)), "rule_id": r, "destination": d, "operations": n,
                        "bytes": s or 0} for b, r, d, n, s in stats["failed"]],
            "recent_failures": failures,
            "jobs": await self.store.list_jobs(),
            "replicated": [{"bucket": k[0], "rule_id": k[1], "destination": k[2], "operations": n}
                           for k, n in self.live.replicated_ops.items()],
        }

    async def metrics(self, method: str, path: str, query: dict[str, str], principal: Principal,
                      body: bytes) -> tuple[int, str, bytes]:
        now = _now_us()
        names = {b.id: b.name for b in await self.store.list_buckets()}
        stats = await self.store.replication_stats(now)
        text = render(self.svc.region, stats, names, self.live, now, stats.get("rtc_overdue", []))
        return 200, "text/plain; version=0.0.4", text.encode()
