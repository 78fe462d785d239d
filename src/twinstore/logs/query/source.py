"""What the executor reads: chunks of events with their discovered fields (implemented by the log store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(slots=True)
class ChunkRef:
    key: Any        # opaque to the executor
    min_ts: int
    max_ts: int
    count: int
    nbytes: int


class EventSource(Protocol):
    def chunks(self) -> list[ChunkRef]:
        """Chunks that may hold events of the query's log groups and time window."""
        ...

    def rows(self, chunk: ChunkRef, fields: list[str], system: set[str], with_message: bool) -> list[dict[str, Any]]:
        """The chunk's events inside the window, oldest first, as dicts holding `@timestamp`, `#id` (event id),
        the requested discovered fields present in the event, the requested system fields and `@message`."""
        ...

    def messages(self, ids: list[int]) -> dict[int, str]:
        ...

    def ptr(self, event_id: int) -> str:
        ...
