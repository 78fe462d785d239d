"""Log groups, streams and events as the store keeps them, and CloudWatch Logs' limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
DAY_MS = 86_400_000
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 1_048_576 - EVENT_OVERHEAD
MAX_BATCH_SPAN_MS = DAY_MS
TOO_NEW_MS = 2 * 3_600_000
TOO_OLD_MS = 14 * DAY_MS
EVENT_ID_SHIFT = 20  # event id = chunk id << 20 | index within the chunk (a chunk holds <= 10,000 events)


@dataclass(slots=True)
class LogGroup:
    id: int
    name: str
    created_ms: int
    retention_days: int | None = None
    log_group_class: str = "STANDARD"
    kms_key_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    stored_bytes: int = 0

    def cutoff_ms(self, now_ms: int) -> int:
        """Events older than this are expired (never returned)."""
        return now_ms - self.retention_days * DAY_MS if self.retention_days else -(1 << 62)


@dataclass(slots=True)
class LogStream:
    id: int
    group_id: int
    name: str
    created_ms: int
    first_ts: int | None = None
    last_ts: int | None = None
    last_ingest: int | None = None
    stored_bytes: int = 0


@dataclass(slots=True)
class LogEvent:
    event_id: int
    stream: str
    timestamp: int
    ingestion_time: int
    message: str

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.timestamp, self.event_id)
