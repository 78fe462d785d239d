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

    def columns(self, chunk: ChunkRef, fields: list[str], system: set[str],
                with_message: bool) -> tuple[dict[str, Any], int]:
        """The chunk's events inside the window, oldest first, as aligned columns: `@timestamp`, `#id` (event
        ids), each requested discovered field the chunk has (None where an event lacks it), the requested
        system fields and `@message`; and the number of events."""
        ...

    def messages(self, ids: list[int]) -> dict[int, str]:
        ...

    def ptr(self, event_id: int) -> str:
        ...
