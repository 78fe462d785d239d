"""The audit pipeline of one region: every finished call -> CloudTrail record -> the trails that select it,
the management-event history and the source bucket's server access log -> durable outbox -> delivery.

`on_call` only appends to a list (it runs on the request path). A flush, `flush_seconds` later, builds the
records of everything selected and commits them to the audit store in one transaction: from then on they are
*accepted* and survive kill -9. Delivery runs every `delivery_seconds`; a destination's rows leave the outbox
only once written, so a failed or interrupted delivery is retried (S3 files keep their name across retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol

import orjson

from ..protocol.errors import AWSError
from ..protocol.hostid import host_id as s3_host_id
from ..protocol.timefmt import now_us
from ..s3.service import S3Service
from . import s3write
from .access_log import access_log_line
from .events import EVENT_NAMES, EventClass, classify, event_source
from .layout import access_log_key, trail_log_key, trail_log_stream, unique_string
from .policy import Checker, service_allowed
from .records import build_record
from .selectors import advanced_matches, basic_matches
from .store import AuditStore, HistoryRow

if TYPE_CHECKING:
    from ..auth.request import CallRecord

log = logging.getLogger("twinstore.audit")

GLOBAL_SOURCES = frozenset({"iam.amazonaws.com", "sts.amazonaws.com"})
HISTORY_DAYS = 90
FILE_MAX_RECORDS = 5000
MAX_BATCHES_PER_ROUND = 50
CWL_MAX_EVENTS = 10_000
CWL_MAX_BATCH_BYTES = 1_048_576
CWL_MAX_EVENT_BYTES = 256 * 1024


class LogSink(Protocol):
    """The CloudWatch Logs store's in-process API (logs/store.py)."""

    async def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]],
                             create_stream: bool = True) -> None: ...


@dataclass
class TrailStatus:
    latest_delivery_us: int | None = None
    latest_delivery_error: str = ""
    latest_attempt_us: int | None = None
    latest_attempt_ok: bool | None = None
    latest_cwl_us: int | None = None
    latest_cwl_error: str = ""


@dataclass
class Trail:
    """A trail's configuration as CloudTrail shows it, plus its selectors and logging state."""

    config: dict[str, Any]
    basic: list[dict[str, Any]] | None = None
    advanced: list[dict[str, Any]] | None = None
    logging: bool = False
    start_logging_us: int | None = None
    stop_logging_us: int | None = None
    status: TrailStatus = field(default_factory=TrailStatus)

    @property
    def name(self) -> str:
        return str(self.config["Name"])

    @property
    def log_group(self) -> str:
        """The log group name out of `arn:aws:logs:<region>:<acct>:log-group:<name>[:*]`."""
        arn = self.config.get("CloudWatchLogsLogGroupArn") or ""
        if not arn:
            return ""
        name = arn.split(":log-group:", 1)[1]
        return name[:-2] if name.endswith(":*") else name

    def to_json(self) -> str:
        return json.dumps({"config": self.config, "basic": self.basic, "advanced": self.advanced,
                           "logging": self.logging, "start": self.start_logging_us, "stop": self.stop_logging_us})

    @classmethod
    def from_json(cls, text: str) -> Trail:
        d = json.loads(text)
        return cls(d["config"], d.get("basic"), d.get("advanced"), bool(d.get("logging")), d.get("start"),
                   d.get("stop"))

    def selects(self, ec: EventClass, call: CallRecord, source: str) -> bool:
        if not self.config.get("IncludeGlobalServiceEvents", True) and source in GLOBAL_SOURCES:
            return False
        if self.advanced is not None:
            attrs = {"eventName": call.operation, "eventSource": source, "eventType": "AwsApiCall",
                     "userIdentity.arn": call.principal.arn, "errorCode": call.error_code or ""}
            if not call.error_code:
                del attrs["errorCode"]
            return advanced_matches(self.advanced, ec, attrs)
        return basic_matches(self.basic or [], ec, source)


def _username(rec: dict[str, Any]) -> str:
    ui = rec["userIdentity"]
    if ui.get("type") == "Root":
        return "root"
    if ui.get("userName"):
        return str(ui["userName"])
    arn = str(ui.get("arn", ""))
    return arn.rpartition("/")[2] if "/" in arn else ""


class Auditor:
    def __init__(self, region: str, account_id: str, store: AuditStore, s3: S3Service,
                 logs: LogSink | None = None, delivery_seconds: float = 1.0, flush_seconds: float = 0.02,
                 policy_check: Checker = service_allowed,
                 role_check: Callable[[str, str], Awaitable[bool]] | None = None) -> None:
        self.region = region
        self.account_id = account_id
        self.store = store
        self.s3 = s3
        self.logs = logs
        self.delivery_seconds = delivery_seconds
        self.flush_seconds = flush_seconds
        self.policy_check = policy_check
        self.role_check = role_check  # (role ARN, log group ARN) -> may CloudTrail put events with it?
        self.trails: dict[str, Trail] = {}
        self._calls: list[CallRecord] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._deliver_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._logging: list[Trail] = []
        self._next_prune_us = 0

    # ---- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        for text in (await self.store.load_trails()).values():
            t = Trail.from_json(text)
            self.trails[t.name] = t
        self._refresh()
        self._deliver_task = asyncio.get_running_loop().create_task(self._deliver_loop())

    async def stop(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        await self.flush()
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        if self._deliver_task is not None:
            self._deliver_task.cancel()

    def _refresh(self) -> None:
        self._logging = [t for t in self.trails.values() if t.logging]

    async def save(self, trail: Trail) -> None:
        await self.store.save_trail(trail.name, trail.to_json())
        self.trails[trail.name] = trail
        self._refresh()

    async def remove(self, name: str) -> None:
        await self.store.delete_trail(name)
        self.trails.pop(name, None)
        self._refresh()

    # ---- intake (request path) ----------------------------------------------------------------------------
    def on_call(self, call: CallRecord) -> None:
        if not call.operation:
            return
        if call.operation in EVENT_NAMES:
            call = dataclasses.replace(call, operation=EVENT_NAMES[call.operation])
        self._calls.append(call)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self.flush_seconds, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def settle(self) -> None:
        """Returns once every call reported so far is committed (LookupEvents reads what was just done)."""
        in_flight = list(self._flushes)
        await self.flush()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def flush(self) -> None:
        calls, self._calls = self._calls, []
        if not calls:
            return
        outbox, history = self.route(calls)
        if not outbox and not history:
            return
        try:
            await self.store.append(outbox, history)
        except Exception:  # noqa: BLE001 - keep them for the next flush rather than lose them
            log.exception("could not commit %d audit rows; retrying", len(outbox) + len(history))
            self._calls[:0] = calls
            await asyncio.sleep(0.5)
            self._start_flush()

    def route(self, calls: list[CallRecord]) -> tuple[list[tuple[str, list[tuple[int, str]]]], list[HistoryRow]]:
        """Records for the calls someone wants: a logging trail's selectors, the event history (management
        events), the bucket's server access logging. Nobody wanting it, a call costs a classification.
        Returns each destination's (time_us, body) records and the history rows."""
        by_dest: dict[str, list[tuple[int, str]]] = {}
        history: list[HistoryRow] = []
        trails = self._logging
        for call in calls:
            ec = classify(call.service, call.operation, call.bucket, call.key)
            source = event_source(call.service)
            dests: list[str] = []
            for t in trails:
                if t.selects(ec, call, source):
                    dests.append("s3:" + t.name)
                    if t.log_group:
                        dests.append("cwl:" + t.name)
            access = self._access_dest(call)
            if access:
                line = access_log_line(call, self.account_id, s3_host_id(call.request_id))
                by_dest.setdefault(access, []).append((call.time_us, line))
            if not dests and not ec.management:
                continue
            rec = build_record(call, self.account_id, ec)
            body = orjson.dumps(rec).decode()
            for d in dests:
                by_dest.setdefault(d, []).append((call.time_us, body))
            if ec.management:
                res = rec.get("resources") or []
                names = json.dumps([r["ARN"].split(":::", 1)[-1] for r in res] + [r["type"] for r in res])
                history.append((call.time_us, rec["eventID"], call.operation, source, _username(rec),
                                rec["userIdentity"].get("accessKeyId", ""), "true" if ec.read_only else "false",
                                names, body))
        return list(by_dest.items()), history

    def _access_dest(self, call: CallRecord) -> str:
        if call.service != "s3" or not call.bucket:
            return ""
        b = self.s3.store.cached_bucket(call.bucket)
        if b is None:
            return ""
        cfg = b.configs.get("logging")
        if not cfg or not cfg.get("TargetBucket"):
            return ""
        return "access:" + json.dumps([call.bucket, cfg["TargetBucket"], cfg.get("TargetPrefix", ""),
                                       bool((cfg.get("TargetObjectKeyFormat") or {}).get("PartitionedPrefix"))])

    # ---- delivery -----------------------------------------------------------------------------------------
    def wake(self) -> None:
        """Deliver now (tests and shutdown); otherwise every `delivery_seconds`."""
        self._wake.set()

    async def _deliver_loop(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):  # woken early, or the period ended
                await asyncio.wait_for(self._wake.wait(), self.delivery_seconds)
            self._wake.clear()
            try:
                await self.deliver_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - next round retries
                log.exception("audit delivery failed")

    async def deliver_once(self) -> None:
        """Each destination's backlog, batch after batch, until it is empty or a delivery fails."""
        if now_us() > self._next_prune_us:
            self._next_prune_us = now_us() + 3600 * 1_000_000
            await self.store.prune_history(now_us() - HISTORY_DAYS * 86400 * 1_000_000)
        for dest in await self.store.destinations():
            kind, _, name = dest.partition(":")
            deliver = {"s3": self._deliver_trail_file, "cwl": self._deliver_log_group,
                       "access": self._deliver_access_log}.get(kind)
            if deliver is None:
                continue
            for _ in range(MAX_BATCHES_PER_ROUND):
                if not await deliver(dest, name):
                    break

    async def _deliver_trail_file(self, dest: str, name: str) -> int:
        trail = self.trails.get(name)
        if trail is None:
            return 0
        rows = await self.store.pending(dest, FILE_MAX_RECORDS)
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        key = rows[0][2]
        cfg = trail.config
        if key is None:
            key = trail_log_key(cfg.get("S3KeyPrefix") or "", self.account_id, self.region, now_us(), unique_string())
            await self.store.start_batch(dest, ids[-1], key)
        st = trail.status
        st.latest_attempt_us = now_us()
        bucket = cfg["S3BucketName"]
        try:
            self._check_bucket_policy(bucket, key, "cloudtrail.amazonaws.com", trail)
            data = await asyncio.to_thread(_gzip_records, [r[3] for r in rows])
            await s3write.put_object(self.s3, bucket, key, data, s3write.CLOUDTRAIL, "application/json",
                                     _request_id())
        except AWSError as err:
            st.latest_delivery_error, st.latest_attempt_ok = err.code, False
            return 0
        await self.store.delivered(dest, ids[-1])
        st.latest_delivery_us, st.latest_delivery_error, st.latest_attempt_ok = now_us(), "", True
        return len(ids)

    def _check_bucket_policy(self, bucket: str, key: str, service: str, trail: Trail | None) -> None:
        b = self.s3.store.cached_bucket(bucket)
        if b is None:
            raise AWSError("NoSuchBucket")
        ctx = {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": self.account_id}
        if trail is not None:
            ctx["aws:SourceArn"] = trail.config["TrailARN"]
        if b.owner != self.account_id or not self.policy_check(b.configs.get("policy"), service, "s3:PutObject",
                                                                f"arn:aws:s3:::{bucket}/{key}", ctx):
            raise AWSError("AccessDenied")

    async def _deliver_log_group(self, dest: str, name: str) -> int:
        trail = self.trails.get(name)
        if trail is None or self.logs is None:
            return 0
        rows = await self.store.pending(dest, CWL_MAX_EVENTS)
        if not rows:
            return 0
        st = trail.status
        try:
            if self.role_check is not None and not await self.role_check(
                    trail.config.get("CloudWatchLogsRoleArn", ""), trail.config["CloudWatchLogsLogGroupArn"]):
                raise AWSError("AccessDeniedException", "CloudTrail cannot assume the role or the role may not "
                                                        "write to the log group", status=400)
            stream = trail_log_stream(self.account_id, self.region)
            batch: list[tuple[int, str]] = []
            size = 0
            # every record of the rows taken, in as many PutLogEvents as AWS's limits need; rows leave the
            # outbox after all went (a failure or crash in between repeats some: at least once)
            for _, time_us, _, body in sorted(rows, key=lambda r: r[1]):
                n = len(body.encode()) + 26
                if n > CWL_MAX_EVENT_BYTES:
                    continue  # AWS does not send records over 256 KB to CloudWatch Logs
                if batch and (size + n > CWL_MAX_BATCH_BYTES or len(batch) >= CWL_MAX_EVENTS):
                    await self.logs.put_log_events(trail.log_group, stream, batch, create_stream=True)
                    batch, size = [], 0
                batch.append((time_us // 1_000_000 * 1000, body))  # = the record's eventTime
                size += n
            if batch:
                await self.logs.put_log_events(trail.log_group, stream, batch, create_stream=True)
        except AWSError as err:
            st.latest_cwl_error = err.code
            return 0
        await self.store.delivered(dest, rows[-1][0])
        st.latest_cwl_us, st.latest_cwl_error = now_us(), ""
        return len(rows)

    async def _deliver_access_log(self, dest: str, spec: str) -> int:
        source, target, prefix, partitioned = json.loads(spec)
        rows = await self.store.pending(dest, FILE_MAX_RECORDS)
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        key = rows[0][2]
        if key is None:
            key = access_log_key(prefix, {"PartitionedPrefix": {}} if partitioned else None, self.account_id,
                                 self.region, source, now_us(), unique_string().upper())
            await self.store.start_batch(dest, ids[-1], key)
        data = ("\n".join(r[3] for r in rows) + "\n").encode()
        try:
            b = self.s3.store.cached_bucket(target)
            ctx = {"aws:SourceAccount": self.account_id, "aws:SourceArn": f"arn:aws:s3:::{source}"}
            if b is not None and not self.policy_check(b.configs.get("policy"), "logging.s3.amazonaws.com",
                                                       "s3:PutObject", f"arn:aws:s3:::{target}/{key}", ctx):
                # as on AWS: without the logging service's permission the logs are not delivered
                log.warning("server access logs of %s dropped: %s does not let logging.s3.amazonaws.com write",
                            source, target)
                await self.store.delivered(dest, ids[-1])
                return len(ids)
            await s3write.put_object(self.s3, target, key, data, s3write.S3_LOGGING, "text/plain", _request_id())
        except AWSError as err:
            log.warning("server access log delivery to %s failed: %s", target, err.code)
            return 0
        await self.store.delivered(dest, ids[-1])
        return len(ids)

    async def drained(self) -> bool:
        return await self.store.outbox_size() == 0 and not self._calls


def _gzip_records(bodies: list[str]) -> bytes:
    return gzip.compress(('{"Records":[' + ",".join(bodies) + "]}").encode(), compresslevel=6)


def _request_id() -> str:
    return secrets.token_hex(8).upper()

