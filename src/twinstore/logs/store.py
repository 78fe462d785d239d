"""LogStore: log groups, streams and events of one region, with AWS's rules (names, batch limits, retention).

`put_log_events` / `create_log_group` are the in-process contract other packages (the audit trail's delivery)
code against; the Logs API service calls the same methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass

from ..protocol.errors import AWSError
from .backend import LogBackend
from .model import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    MAX_BATCH_SPAN_MS,
    RETENTION_DAYS,
    TOO_NEW_MS,
    TOO_OLD_MS,
    LogGroup,
    LogStream,
)

log = logging.getLogger("twinstore.logs")

_GROUP_NAME = re.compile(r"[\.\-_/#A-Za-z0-9]{1,512}")
_STREAM_NAME = re.compile(r"[^:*]{1,512}")
LOG_GROUP_CLASSES = ("STANDARD", "INFREQUENT_ACCESS", "DELIVERY")
RETENTION_SWEEP_S = 60.0


def invalid(message: str) -> AWSError:
    return AWSError("InvalidParameterException", message, status=400)


def group_not_found() -> AWSError:
    return AWSError("ResourceNotFoundException", "The specified log group does not exist.", status=400)


def stream_not_found() -> AWSError:
    return AWSError("ResourceNotFoundException", "The specified log stream does not exist.", status=400)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def check_group_name(name: str, member: str = "logGroupName") -> None:
    if not _GROUP_NAME.fullmatch(name or ""):
        raise invalid(f"1 validation error detected: Value '{name}' at '{member}' failed to satisfy constraint: "
                      "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+ and have length "
                      "between 1 and 512")


def check_stream_name(name: str) -> None:
    if not _STREAM_NAME.fullmatch(name or ""):
        raise invalid(f"1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: [^:*]* and have length "
                      "between 1 and 512")


@dataclass(slots=True)
class Rejected:
    too_new_start: int | None = None
    too_old_end: int | None = None
    expired_end: int | None = None

    def as_dict(self) -> dict[str, int]:
        out = {}
        if self.too_new_start is not None:
            out["tooNewLogEventStartIndex"] = self.too_new_start
        if self.too_old_end is not None:
            out["tooOldLogEventEndIndex"] = self.too_old_end
        if self.expired_end is not None:
            out["expiredLogEventEndIndex"] = self.expired_end
        return out


class LogStore:
    def __init__(self, backend: LogBackend, region: str, account_id: str) -> None:
        self.backend = backend
        self.region = region
        self.account_id = account_id
        self._sweeper: asyncio.Task[None] | None = None
        self._sweep_now = asyncio.Event()

    # ---- the contract used by other packages ----------------------------------------------------------------
    async def create_log_group(self, name: str, *, tags: dict[str, str] | None = None, kms_key_id: str | None = None,
                               log_group_class: str | None = None) -> None:
        check_group_name(name)
        cls = log_group_class or "STANDARD"
        if cls not in LOG_GROUP_CLASSES:
            raise invalid(f"Invalid log group class: {cls}")
        if not await self.backend.create_group(LogGroup(0, name, now_ms(), None, cls, kms_key_id, dict(tags or {}))):
            raise AWSError("ResourceAlreadyExistsException", "The specified log group already exists", status=400)

    async def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]],
                             create_stream: bool = True) -> None:
        """Stores events (timestamps in ms) in `stream`, creating it if asked; events past the group's retention
        are dropped (they could never be read). Raises ResourceNotFoundException for an unknown group."""
        g = await self.group(group)
        check_stream_name(stream)
        events = sorted(events, key=lambda e: e[0])
        cutoff = g.cutoff_ms(now_ms())
        events = [e for e in events if e[0] >= cutoff]
        for i in range(0, len(events), MAX_BATCH_EVENTS):
            await self._append(g, stream, events[i:i + MAX_BATCH_EVENTS], create_stream)

    # ---- used by the API service ----------------------------------------------------------------------------
    async def group(self, name: str) -> LogGroup:
        g = await self.backend.get_group(name)
        if g is None:
            raise group_not_found()
        return g

    def arn(self, group: str, star: bool = True) -> str:
        return f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{group}" + (":*" if star else "")

    async def put_batch(self, group: str, stream: str, events: list[tuple[int, str]]) -> Rejected:
        """PutLogEvents: AWS's batch rules; events too new/old/expired are rejected and reported."""
        if not 1 <= len(events) <= MAX_BATCH_EVENTS:
            raise invalid(f"1 validation error detected: Value at 'logEvents' failed to satisfy constraint: "
                          f"Member must have length between 1 and {MAX_BATCH_EVENTS}")
        size = 0
        prev = None
        for ts, msg in events:
            if not msg:
                raise invalid("1 validation error detected: Value at 'logEvents.member.message' failed to satisfy "
                              "constraint: Member must have length greater than or equal to 1")
            size += (len(msg) if msg.isascii() else len(msg.encode("utf-8", "surrogatepass"))) + EVENT_OVERHEAD
            if prev is not None and ts < prev:
                raise invalid("Log events in a single PutLogEvents request must be in chronological order.")
            prev = ts
        if size > MAX_BATCH_BYTES:
            raise invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
        g = await self.group(group)
        now = now_ms()
        rej = Rejected()
        cutoff = g.cutoff_ms(now)
        lo, hi = 0, len(events)
        for i, (ts, _) in enumerate(events):
            if ts < now - TOO_OLD_MS:
                rej.too_old_end = i
            if ts < cutoff:
                rej.expired_end = i
            if ts > now + TOO_NEW_MS and rej.too_new_start is None:
                rej.too_new_start = i
        if rej.too_old_end is not None:
            lo = rej.too_old_end + 1
        if rej.too_new_start is not None:
            hi = rej.too_new_start
        # the 24-hour span applies to the valid events (within 14 days past to 2 hours ahead)
        if lo < hi and events[hi - 1][0] - events[lo][0] > MAX_BATCH_SPAN_MS:
            raise invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
        if rej.expired_end is not None:
            lo = max(lo, rej.expired_end + 1)
        accepted = events[lo:hi]
        if accepted:
            await self._append(g, stream, accepted, create_stream=False)
        else:
            streams = await self.backend.list_streams(g.id, stream)
            if not any(s.name == stream for s in streams):
                raise stream_not_found()
        return rej

    async def _append(self, g: LogGroup, stream: str, events: list[tuple[int, str]], create_stream: bool) -> None:
        if not events:
            return
        chunk = await self.backend.prepare(events)
        if not await self.backend.append(g.id, stream, chunk, now_ms(), create_stream):
            raise stream_not_found()

    async def create_stream(self, group: str, stream: str) -> None:
        check_stream_name(stream)
        g = await self.group(group)
        if not await self.backend.create_stream(g.id, stream, now_ms()):
            raise AWSError("ResourceAlreadyExistsException", "The specified log stream already exists", status=400)

    async def delete_stream(self, group: str, stream: str) -> None:
        g = await self.group(group)
        if not await self.backend.delete_stream(g.id, stream):
            raise stream_not_found()

    async def streams(self, group: str, prefix: str = "") -> tuple[LogGroup, list[LogStream]]:
        g = await self.group(group)
        return g, await self.backend.list_streams(g.id, prefix)

    async def delete_group(self, name: str) -> None:
        check_group_name(name)
        if not await self.backend.delete_group(name):
            raise group_not_found()

    async def set_retention(self, name: str, days: int | None) -> None:
        check_group_name(name)
        if days is not None and days not in RETENTION_DAYS:
            raise invalid(f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
                          f"constraint: Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]")
        if not await self.backend.set_retention(name, days):
            raise group_not_found()
        self._sweep_now.set()

    # ---- retention ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())

    async def sweep(self) -> int:
        removed = await self.backend.delete_expired(now_ms())
        if removed:
            log.info("retention: removed %d expired chunks", removed)
        return removed

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - try again next round
                log.exception("retention sweep failed")
            with contextlib.suppress(asyncio.TimeoutError):  # woken early, or the period ended
                await asyncio.wait_for(self._sweep_now.wait(), RETENTION_SWEEP_S)
            self._sweep_now.clear()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.backend.close()
