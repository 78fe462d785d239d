"""Batch replication (S3 Batch Replication's job, as an admin API): replicate versions written before the rule,
re-drive FAILED ones, optionally replicas too. A job walks the bucket's versions in (key, version) order; each
page's outbox items, status changes and the job's cursor commit in one transaction, so a restarted region
resumes exactly where it stopped and never queues a version twice."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Callable

from ..meta.store import RegionStore
from ..protocol.errors import AWSError
from .rules import is_replica, plan

log = logging.getLogger("twinstore.replication")
PAGE = 500
MAX_OUTSTANDING = 20000  # pause scanning while this many operations wait in the outbox


def _now_us() -> int:
    return time.time_ns() // 1000


class Backfill:
    def __init__(self, store: RegionStore, wake: Callable[[], None]) -> None:
        self.store = store
        self.wake = wake
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def create(self, bucket_name: str, include_failed: bool, include_replicas: bool) -> dict[str, Any]:
        bucket = self.store.cached_bucket(bucket_name)
        if bucket is None:
            raise AWSError("NoSuchBucket", BucketName=bucket_name)
        if not bucket.configs.get("replication"):
            raise AWSError("ReplicationConfigurationNotFoundError", BucketName=bucket_name)
        now = _now_us()
        job = {"job_id": str(uuid.uuid4()), "bucket_id": bucket.id,
               "spec": {"bucket": bucket_name, "include_failed": include_failed, "include_replicas": include_replicas},
               "state": "running", "cursor_key": None, "cursor_vid": None, "scanned": 0, "queued": 0,
               "total": await self.store.count_versions(bucket.id), "created_us": now, "updated_us": now}
        await self.store.save_job(job)
        self._spawn(job)
        return job

    async def resume(self) -> None:
        for job in await self.store.list_jobs():
            if job["state"] == "running":
                self._spawn(job)

    def _spawn(self, job: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks[job["job_id"]] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job["job_id"], None))

    async def stop(self) -> None:
        for t in list(self._tasks.values()):
            t.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _run(self, job: dict[str, Any]) -> None:
        spec = job["spec"]
        try:
            while True:
                bucket = self.store.cached_bucket(spec["bucket"])
                if bucket is None or bucket.id != job["bucket_id"] or not bucket.configs.get("replication"):
                    job["state"] = "failed"
                    job["updated_us"] = _now_us()
                    await self.store.save_job(job)
                    return
                stats = await self.store.replication_stats(_now_us())
                if sum(r[3] for r in stats["pending"]) > MAX_OUTSTANDING:
                    await asyncio.sleep(0.2)
                    continue
                versions = await self.store.scan_versions(bucket.id, job["cursor_key"], job["cursor_vid"], PAGE)
                if not versions:
                    job["state"] = "completed"
                    job["updated_us"] = _now_us()
                    await self.store.save_job(job)
                    return
                config = bucket.configs["replication"]
                changed, items = [], []
                now = _now_us()
                for v in versions:
                    status = (v.extra.get("replication") or {}).get("status")
                    replica = is_replica(v)
                    if not (status is None or (status == "FAILED" and spec["include_failed"])
                            or (replica and spec["include_replicas"])):
                        continue
                    before = dict(v.extra.get("replication") or {})
                    new = plan(config, v, "delete" if v.delete_marker else "put", now, source="backfill",
                               include_replicas=replica)
                    if replica:
                        v.extra["replication"] = before  # a replica sent onward stays a REPLICA here
                    if new:
                        changed.append(v)
                        items.extend(new)
                last = versions[-1]
                job.update(cursor_key=last.key, cursor_vid=last.vid, scanned=job["scanned"] + len(versions),
                           queued=job["queued"] + len(items), updated_us=_now_us())
                await self.store.save_job(job, changed, items)
                if items:
                    self.wake()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the job stays "running" and resumes at the next start
            log.exception("backfill job %s stopped", job["job_id"])
