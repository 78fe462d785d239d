"""The replication workers of one region: drain the durable outbox to destination regions.

Dispatch: the outbox is read in sequence order; an item is sent only when no earlier item of the same
(bucket, key, destination) is in flight or waiting for a retry, so each key's changes arrive in order. Two lanes
bound concurrency: many small objects at once, few large ones (their bodies are streamed from the blob files,
never held whole in memory). Outcomes:
  - success: the outbox row is deleted and the source version's status updated, in one transaction;
  - transient (destination region down, 5xx, connection reset, digest mismatch in transit): the row stays,
    retried with exponential backoff (the version stays PENDING);
  - permanent (access denied, destination bucket missing or not versioned, role not assumable): FAILED with
    AWS's failure reason, kept in repl_failures (visible via `twinstore replication status` and /metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from typing import Any, AsyncIterator

import aiohttp

from ..auth.principal import Credential
from ..meta.model import Bucket, BucketRegistration, ObjectVersion, OutboxItem
from ..meta.store import GlobalStore, RegionStore
from ..s3.objects import open_data, read_data
from ..crypto.envelope import SSE_C, SSE_KMS, Envelope
from ..iam.evaluate import ALLOW
from ..protocol.errors import AWSError
from ..s3.actions import S3Keys
from ..s3.replica import REPLICATION_HEADER, encode_descriptor
from ..s3.sse import OpenVersion, envelope_of, open_version
from ..s3.ssec_replica import ciphertext, source_fields
from ..s3.service import S3Service
from ..s3.ingest import INLINE_MAX
from .batch import BATCH_MAX, BATCH_PATH, encode
from .client import RegionClient, Reply
from .metrics import LiveCounters
from .sessions import Permissions, RoleSessionError, RoleSessions
from .signer import object_path

log = logging.getLogger("twinstore.replication")

LARGE_OBJECT = 1 << 20
MAX_BACKOFF_S = 1.0
MAX_DIGEST_RETRIES = 10
SCAN_LIMIT = 4096
MAX_WINDOW = 65536


def _now_us() -> int:
    return time.time_ns() // 1000


class Permanent(Exception):
    """Replication of this item cannot succeed: FAILED with `reason` (AWS failure reason code)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(Exception):
    def __init__(self, message: str, digest: bool = False, session: bool = False) -> None:
        super().__init__(message)
        self.digest = digest  # the data arrived damaged (retried, but not forever)
        self.session = session  # the destination refused the role session's credentials: mint a new one


CREDENTIAL_ERRORS = frozenset({"InvalidAccessKeyId", "InvalidToken", "ExpiredToken", "SignatureDoesNotMatch",
                               "RequestTimeTooSkewed", "InvalidClientTokenId", "TokenRefreshRequired"})


class ReplicationWorkers:
    def __init__(self, svc: S3Service, store: RegionStore, global_store: GlobalStore, sessions: RoleSessions,
                 permissions: Permissions, client: RegionClient, live: LiveCounters,
                 small_concurrency: int = 64, large_concurrency: int = 4) -> None:
        self.svc, self.store, self.global_store = svc, store, global_store
        self.sessions, self.permissions, self.client, self.live = sessions, permissions, client, live
        self.limits = {"small": small_concurrency, "large": large_concurrency}
        self.running = {"small": 0, "large": 0}
        self._inflight: set[int] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._endpoints: dict[str, str] = {}
        self._endpoints_at = 0.0
        self._names: dict[int, str] = {}
        self._queue: dict[int, OutboxItem] = {}  # loaded, unfinished outbox items in sequence order
        self._loaded_upto = 0
        self._caught_up = False
        self._registrations: dict[str, tuple[float, BucketRegistration | None]] = {}
        # destination bucket -> (unreachable until (monotonic s), consecutive failures): while a destination's
        # region is down, its items wait without a request (or a metadata write) each; one probe per period
        self._down: dict[str, tuple[float, int]] = {}

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._dispatch_loop())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*([self._task] if self._task else []), *self._tasks, return_exceptions=True)

    # ---- dispatch -----------------------------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        delay = 0.0
        while True:
            try:
                if delay:
                    with contextlib.suppress(asyncio.TimeoutError):  # woken early, or the period ended
                        await asyncio.wait_for(self._wake.wait(), delay)
                self._wake.clear()
                delay = await self._dispatch_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop must survive anything; the outbox is durable
                log.exception("replication dispatch failed")
                delay = 1.0

    async def _refill(self, window: int = SCAN_LIMIT) -> None:
        """Loads outbox items past the last one loaded. Sequence numbers are assigned in commit order by the
        single writer, so nothing can appear behind `_loaded_upto` later."""
        while len(self._queue) < window:
            more = await self.store.pending_replication(SCAN_LIMIT, self._loaded_upto)
            for it in more:
                self._queue[it.seq] = it
                self._loaded_upto = it.seq
            if len(more) < SCAN_LIMIT:
                self._caught_up = True
                return
            self._caught_up = False

    async def _dispatch_once(self) -> float:
        """Starts every eligible item; returns how long to sleep when nothing wakes the loop earlier."""
        await self._refill()
        if not self._queue:
            return 5.0
        items = list(self._queue.values())
        now = _now_us()
        mono = time.monotonic()
        blocked: set[tuple[int, str, str]] = set()
        next_due: int | None = None
        probing: set[str] = set()
        batches: dict[tuple[int, str], list[OutboxItem]] = {}  # the open (not yet full) batch per destination
        launched: list[list[OutboxItem]] = []
        singles = 0
        for it in items:
            k = (it.bucket_id, it.key, it.dest_bucket)
            if k in blocked:
                continue
            blocked.add(k)  # later items of this key wait for this one
            if it.seq in self._inflight:
                continue
            down = self._down.get(it.dest_bucket)
            if down is not None:
                if down[0] > mono or it.dest_bucket in probing:
                    due = now + int((down[0] - mono) * 1e6)
                    next_due = due if next_due is None else min(next_due, due)
                    continue
                probing.add(it.dest_bucket)
                self._down[it.dest_bucket] = (mono + self._backoff(down[1]), down[1])
            if it.next_try_us > now:
                next_due = it.next_try_us if next_due is None else min(next_due, it.next_try_us)
                continue
            if it.op in ("put", "delete") and it.size <= INLINE_MAX:
                group = (it.bucket_id, it.dest_bucket)
                batch = batches.get(group)
                if batch is not None and len(batch) < BATCH_MAX:
                    batch.append(it)
                    self._inflight.add(it.seq)
                    continue
                if self.running["small"] < self.limits["small"]:
                    self.running["small"] += 1
                    batches[group] = [it]
                    launched.append(batches[group])
                    self._inflight.add(it.seq)
                    continue
            lane = "large" if it.size > LARGE_OBJECT else "small"
            if self.running[lane] >= self.limits[lane]:
                if self.running["small"] >= self.limits["small"] and self.running["large"] >= self.limits["large"] \
                        and all(len(b) >= BATCH_MAX for b in batches.values()):
                    break
                continue
            self.running[lane] += 1
            singles += 1
            self._inflight.add(it.seq)
            task = asyncio.get_running_loop().create_task(self._run(it, lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for batch in launched:
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not launched and not singles and not self._caught_up and self.running["small"] < self.limits["small"] \
                and len(self._queue) < MAX_WINDOW:
            # everything loaded waits (e.g. for a destination that is down): look further so other
            # destinations' items are not starved behind them
            await self._refill(len(self._queue) + SCAN_LIMIT)
            return 0.0
        if next_due is not None:
            return max(0.01, (next_due - now) / 1e6)
        return 5.0 if self._caught_up else 0.05

    async def _run(self, it: OutboxItem, lane: str) -> None:
        try:
            try:
                latency, exc = await self.replicate(it), None
            except Exception as e:  # noqa: BLE001 - every outcome is settled below
                latency, exc = None, e
            await self._settle(it, latency, exc)
        finally:
            self.running[lane] -= 1
            self._inflight.discard(it.seq)
            self._wake.set()

    async def _run_batch(self, items: list[OutboxItem]) -> None:
        try:
            try:
                outcomes = await self.replicate_batch(items)
            except Exception as e:  # noqa: BLE001 - the whole batch shares the outcome
                outcomes = [(None, e)] * len(items)
            await asyncio.gather(*(self._settle(it, lat, exc) for it, (lat, exc) in zip(items, outcomes)))
        finally:
            self.running["small"] -= 1
            for it in items:
                self._inflight.discard(it.seq)
            self._wake.set()

    async def _settle(self, it: OutboxItem, latency: float | None, exc: BaseException | None) -> None:
        try:
            if exc is not None:
                raise exc
        except Permanent as p:
            log.warning("replication of %s/%s (%s) to %s failed: %s", it.bucket_id, it.key, it.vid, it.dest_bucket,
                        p.reason)
            await self.store.finish_replication(it, False, p.reason, _now_us())
            self._queue.pop(it.seq, None)
            return
        except (Transient, aiohttp.ClientError, OSError, asyncio.TimeoutError, Exception) as exc:
            if not isinstance(exc, (Transient, aiohttp.ClientError, OSError, asyncio.TimeoutError)):
                log.exception("replication of %s/%s (%s) failed unexpectedly; will retry", it.bucket_id, it.key,
                              it.vid)
            it.attempts += 1
            if isinstance(exc, Transient) and exc.digest and it.attempts >= MAX_DIGEST_RETRIES:
                await self.store.finish_replication(it, False, "DstPutObjectDigestMismatch", _now_us())
                self._queue.pop(it.seq, None)
                return
            if isinstance(exc, Transient) and exc.session:
                self.sessions.forget()
            backoff = self._backoff(it.attempts)
            if isinstance(exc, (aiohttp.ClientError, OSError, asyncio.TimeoutError)):  # region unreachable: hold it
                fails = self._down.get(it.dest_bucket, (0.0, 0))[1] + 1
                self._down[it.dest_bucket] = (time.monotonic() + self._backoff(fails), fails)
            it.next_try_us = _now_us() + int(backoff * 1e6)
            it.last_error = f"{type(exc).__name__}: {exc}"
            self.live.retries += 1
            await self.store.defer_replication(it)
            return
        self._down.pop(it.dest_bucket, None)
        await self.store.finish_replication(it, True, "", _now_us())
        self._queue.pop(it.seq, None)
        if latency is not None:
            src = await self._bucket_by_id(it.bucket_id)
            self.live.replicated((src.name if src else str(it.bucket_id), it.rule_id, it.dest_bucket), latency,
                                 it.size, it.rtc)

    @staticmethod
    def _backoff(attempts: int) -> float:
        return min(MAX_BACKOFF_S, 0.05 * (2 ** min(attempts, 20))) * (0.75 + random.random() / 2)

    # ---- one operation ------------------------------------------------------------------------------------
    async def _bucket_by_id(self, bucket_id: int) -> Bucket | None:
        name = self._names.get(bucket_id)
        b = self.store.cached_bucket(name) if name else None
        if b is None or b.id != bucket_id:
            self._names = {x.id: x.name for x in await self.store.list_buckets()}
            name = self._names.get(bucket_id)
            b = self.store.cached_bucket(name) if name else None
        return b

    async def _endpoint(self, region: str) -> str:
        if region not in self._endpoints or time.monotonic() - self._endpoints_at > 5:
            self._endpoints = await self.global_store.region_endpoints()
            self._endpoints_at = time.monotonic()
        ep = self._endpoints.get(region)
        if not ep:
            raise Transient(f"no endpoint known for region {region}")
        return ep

    async def _registration(self, bucket: str) -> BucketRegistration | None:
        """The destination's namespace entry, cached for a second (one global.db read per bucket, not per item)."""
        hit = self._registrations.get(bucket)
        if hit is not None and time.monotonic() - hit[0] < 1.0:
            return hit[1]
        reg = await self.global_store.lookup_bucket(bucket)
        self._registrations[bucket] = (time.monotonic(), reg)
        return reg

    async def _credential(self, config: dict[str, Any]) -> Credential:
        try:
            return await self.sessions.credential(config["Role"])
        except RoleSessionError:
            raise Permanent("AssumeRoleNotPermitted") from None

    def _source_allowed(self, cred: Credential, action: str, src: Bucket, key: str) -> bool:
        """The role session's read of a source version: its identity policies and the source bucket's policy (an
        explicit Deny there wins), as for any request. S3 reads internally: no client address, secure transport."""
        keys = S3Keys(cred.principal, {}, {}, "", True, self.svc.region, self.svc.account_id)
        return self.permissions.decide_on_bucket(cred.principal, action, src, key, keys) == ALLOW

    async def _source(self, bucket_id: int) -> tuple[Bucket, dict[str, Any]]:
        """The source bucket of outbox items and its replication configuration (Permanent if either is gone)."""
        src = await self._bucket_by_id(bucket_id)
        if src is None:
            raise Permanent("SrcBucketNotFound")
        config = src.configs.get("replication")
        if not config:
            raise Permanent("SrcBucketReplicationConfigMissing")
        return src, config

    async def replicate(self, it: OutboxItem) -> float | None:
        """Performs one outbox item; returns the replication latency in seconds for data/marker operations."""
        src, config = await self._source(it.bucket_id)
        v = await self.store.get_version(it.bucket_id, it.key, it.vid)
        if v is None:
            return None  # the version was deleted by id before it could replicate: nothing is owed any more
        cred = await self._credential(config)
        await self.permissions.refresh()
        if not self._source_allowed(cred, "s3:GetObjectVersionForReplication", src, it.key):
            raise Permanent("SrcGetObjectNotPermitted")
        reg = await self._registration(it.dest_bucket)
        if reg is None or reg.state != "active":
            raise Permanent("DstBucketNotFound")
        endpoint = await self._endpoint(reg.region)
        tags = v.tags if self._source_allowed(cred, "s3:GetObjectVersionTagging", src, it.key) else {}
        desc: dict[str, Any] = {"vid": v.vid, "lm": v.last_modified_us, "src": src.name, "owner": v.owner}
        path = object_path(it.dest_bucket, it.key)
        if it.op == "tags":
            desc["tags"] = tags
            reply = await self.client.request("PUT", endpoint, path, cred, reg.region,
                                              headers={REPLICATION_HEADER: encode_descriptor(desc)},
                                              query={"tagging": ""}, body=b"", size=0)
            self._check(reply, "DstPutTaggingNotPermitted", missing_version_ok=False)
            return None
        if it.op == "delete":
            desc["dm"] = True
            reply = await self.client.request("DELETE", endpoint, path, cred, reg.region,
                                              headers={REPLICATION_HEADER: encode_descriptor(desc)})
            self._check(reply, "DstDelObjNotPermitted")
            return (_now_us() - v.last_modified_us) / 1e6
        await self._put(it, v, desc, tags, endpoint, path, cred, reg.region, src)
        return (_now_us() - v.last_modified_us) / 1e6

    @staticmethod
    def _object_descriptor(it: OutboxItem, v: ObjectVersion, desc: dict[str, Any], tags: dict[str, str],
                           src: Bucket) -> None:
        rule = next((r for r in src.configs["replication"]["Rules"] if r["ID"] == it.rule_id), None)
        dest = (rule or {}).get("Destination") or {}
        sc = dest.get("StorageClass") or v.storage_class
        env = envelope_of(v)
        sse = {"alg": env.algorithm} if env is not None else {}
        if env is not None and env.algorithm == SSE_KMS:
            sse["kms"] = (dest.get("EncryptionConfiguration") or {}).get("ReplicaKmsKeyID", "")
        desc.update({"size": v.size, "etag": v.etag, "checksum": v.checksum, "parts": v.part_sizes,
                     "part_checksums": v.extra.get("part_checksums"), "sc": sc, "headers": v.headers,
                     "meta": v.user_meta, "tags": tags, "sse": sse})

    async def _open(self, src: Bucket, v: ObjectVersion) -> OpenVersion | None:
        """The source version's data key, to read its plaintext (the replica is encrypted with the destination's
        keys). SSE-C data cannot be read without the customer's key, which is never kept: callers send it as
        ciphertext instead (_ssec) and never get here for it."""
        env = envelope_of(v)
        if env is None:
            return None
        if env.algorithm == SSE_C:
            raise Permanent("SrcObjectNotEligible")
        try:
            return await open_version(self.svc.sse, src, v, None)
        except AWSError:
            raise Permanent("SrcKmsKeyInvalidState") from None

    async def replicate_batch(self, items: list[OutboxItem]) -> list[tuple[float | None, BaseException | None]]:
        """Small versions and delete markers of one source bucket for one destination, in one request."""
        first = items[0]
        src, config = await self._source(first.bucket_id)
        cred = await self._credential(config)
        await self.permissions.refresh()
        reg = await self._registration(first.dest_bucket)
        if reg is None or reg.state != "active":
            raise Permanent("DstBucketNotFound")
        endpoint = await self._endpoint(reg.region)
        versions = await asyncio.gather(*(self.store.get_version(it.bucket_id, it.key, it.vid) for it in items))
        outcomes: list[tuple[float | None, BaseException | None]] = [(None, None)] * len(items)
        entries: list[tuple[dict[str, Any], bytes]] = []
        sent: list[int] = []
        for i, (it, v) in enumerate(zip(items, versions)):
            if v is None:
                continue  # deleted by id before it replicated: nothing owed
            if not self._source_allowed(cred, "s3:GetObjectVersionForReplication", src, it.key):
                outcomes[i] = (None, Permanent("SrcGetObjectNotPermitted"))
                continue
            desc: dict[str, Any] = {"key": it.key, "vid": v.vid, "lm": v.last_modified_us, "src": src.name,
                                    "owner": v.owner}
            data = b""
            if it.op == "delete":
                desc["dm"] = True
            else:
                tags = v.tags if self._source_allowed(cred, "s3:GetObjectVersionTagging", src, it.key) else {}
                env = envelope_of(v)
                if env is not None and env.algorithm == SSE_C:
                    if v.inline is None:  # a small multipart SSE-C object: its own request, segments kept apart
                        try:
                            outcomes[i] = (await self.replicate(it), None)
                        except Exception as e:  # noqa: BLE001 - settled by the caller
                            outcomes[i] = (None, e)
                        continue
                    self._object_descriptor(it, v, desc, tags, src)
                    desc["sse"] = await source_fields(self.svc, v, env, [])
                    entries.append((desc, v.inline))
                    sent.append(i)
                    continue
                try:
                    self._object_descriptor(it, v, desc, tags, src)
                    opened = await self._open(src, v)
                except Permanent as p:
                    outcomes[i] = (None, p)
                    continue
                if v.inline is not None and opened is None:
                    data = v.inline
                elif v.size:
                    data = b"".join([bytes(c) async for c in read_data(self.svc, v, 0, v.size, opened=opened)])
            entries.append((desc, data))
            sent.append(i)
        if not entries:
            return outcomes
        body = encode(entries)
        reply = await self.client.request("POST", endpoint, BATCH_PATH, cred, reg.region,
                                          query={"bucket": first.dest_bucket}, body=body, size=len(body))
        if reply.status != 200:
            try:
                err = json.loads(reply.body)
            except ValueError:
                err = {}
            reply.code, reply.failure = str(err.get("error", "")), str(err.get("failure", ""))
            self._check(reply, "DstPutObjectNotPermitted")
        results = json.loads(reply.body)["results"]
        now = _now_us()
        for i, r in zip(sent, results):
            it, v = items[i], versions[i]
            assert v is not None
            if r.get("ok"):
                outcomes[i] = ((now - v.last_modified_us) / 1e6, None)
            elif r.get("code") in ("BadDigest", "IncompleteBody"):
                outcomes[i] = (None, Transient(r["code"], digest=True))
            else:
                outcomes[i] = (None, Permanent(r.get("failure") or r.get("code") or "DstPutObjectFailed"))
        return outcomes

    async def _put(self, it: OutboxItem, v: ObjectVersion, desc: dict[str, Any], tags: dict[str, str],
                   endpoint: str, path: str, cred: Credential, region: str, src: Bucket) -> None:
        self._object_descriptor(it, v, desc, tags, src)
        env = envelope_of(v)
        if env is not None and env.algorithm == SSE_C:
            await self._put_ciphertext(v, env, desc, endpoint, path, cred, region)
            return
        headers = {REPLICATION_HEADER: encode_descriptor(desc)}
        opened = await self._open(src, v)
        body: bytes | AsyncIterator[bytes]
        if v.size == 0:
            body = b""
        elif v.inline is not None and opened is None:
            body = v.inline
        else:
            fds = await open_data(self.svc, v)
            if fds is None:
                raise Transient("source data changed while opening")
            body = _as_bytes(read_data(self.svc, v, 0, v.size, fds, opened=opened))
        reply = await self.client.request("PUT", endpoint, path, cred, region, headers=headers, body=body,
                                          size=v.size)
        if reply.code in ("BadDigest", "IncompleteBody"):
            raise Transient(reply.code, digest=True)
        self._check(reply, "DstPutObjectNotPermitted")

    async def _put_ciphertext(self, v: ObjectVersion, env: Envelope, desc: dict[str, Any], endpoint: str,
                              path: str, cred: Credential, region: str) -> None:
        """An SSE-C version, sent as its stored ciphertext and envelope (s3/ssec_replica.py)."""
        fds = await open_data(self.svc, v)
        if fds is None:
            raise Transient("source data changed while opening")
        try:
            desc["sse"] = await source_fields(self.svc, v, env, fds)
            reply = await self.client.request("PUT", endpoint, path, cred, region,
                                              headers={REPLICATION_HEADER: encode_descriptor(desc)},
                                              body=ciphertext(self.svc, v, fds), size=desc["sse"]["ctlen"])
        finally:
            self.svc.blobs.close_all(fds)
        if reply.code in ("BadDigest", "IncompleteBody"):
            raise Transient(reply.code, digest=True)
        self._check(reply, "DstPutObjectNotPermitted")

    @staticmethod
    def _check(reply: Reply, denied_reason: str, missing_version_ok: bool = True) -> None:
        if reply.status < 300:
            return
        if reply.failure:
            raise Permanent(reply.failure)
        if reply.code in CREDENTIAL_ERRORS:  # the destination does not (yet) know the session: not a denial
            raise Transient(f"{reply.status} {reply.code}", session=True)
        if reply.status == 403 or reply.code == "AccessDenied":
            raise Permanent(denied_reason)
        if reply.code == "NoSuchBucket":
            raise Permanent("DstBucketNotFound")
        if reply.code == "NoSuchVersion":
            raise Permanent("DstVersionNotFound")
        if reply.status >= 500 or reply.status in (301, 307, 408, 429) or reply.code in ("SlowDown", "RequestTimeout"):
            raise Transient(f"{reply.status} {reply.code}")
        raise Permanent(reply.code or f"HTTP{reply.status}")


async def _as_bytes(chunks: AsyncIterator[bytes | bytearray | memoryview]) -> AsyncIterator[bytes]:
    async for c in chunks:
        yield c if isinstance(c, bytes) else bytes(c)
