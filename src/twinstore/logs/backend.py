"""The narrow storage interface the log service uses (SQLite now; another backend implements the same)."""

from __future__ import annotations

from typing import Any, Protocol

from .model import LogEvent, LogGroup, LogStream
from .query.source import EventSource


class LogBackend(Protocol):
    async def create_group(self, group: LogGroup) -> bool:
        """False when a group of that name exists."""
        ...

    async def get_group(self, name: str) -> LogGroup | None: ...

    async def list_groups(self, prefix: str, after: str, limit: int) -> list[LogGroup]: ...

    async def delete_group(self, name: str) -> bool: ...

    async def set_retention(self, name: str, days: int | None) -> bool: ...

    async def set_tags(self, name: str, tags: dict[str, str]) -> bool: ...

    async def create_stream(self, group_id: int, name: str, created_ms: int) -> bool:
        """False when the stream exists."""
        ...

    async def delete_stream(self, group_id: int, name: str) -> bool: ...

    async def list_streams(self, group_id: int, prefix: str) -> list[LogStream]: ...

    async def prepare(self, events: list[tuple[int, str]]) -> Any:
        """Encodes a chronological batch (field discovery included) off the event loop."""
        ...

    async def append(self, group_id: int, stream: str, chunk: Any, ingest_ms: int, create_stream: bool) -> bool:
        """Stores one prepared batch as a chunk; False when the stream does not exist and `create_stream` is
        false."""
        ...

    async def scan(self, group_id: int, stream_ids: list[int] | None, start: int, end: int, after: tuple[int, int],
                   forward: bool, limit: int, cutoff: int) -> list[LogEvent]:
        """Events with start <= ts < end (and ts >= cutoff) strictly after (forward) or before `after`
        = (ts, event id), in time order, at most `limit`."""
        ...

    async def get_event(self, event_id: int) -> tuple[LogGroup, LogEvent] | None: ...

    async def delete_expired(self, now_ms: int) -> int:
        """Drops chunks whose every event is past its group's retention; returns how many."""
        ...

    def source(self, groups: list[LogGroup], start: int, end: int, now_ms: int, account_id: str) -> EventSource:
        """A read view for the query executor (used from a worker thread)."""
        ...

    async def close(self) -> None: ...
