"""The event bus a stream worker consumes: a small protocol, so a Kafka adapter fits beside Redis Streams.

Events of a source travel in partitions, chosen by a hash of the event id: every delivery of
one id lands in the same partition and is handled by one worker in order, which is what makes
"the first delivery wins" mean the same thing in the offline log and in the online tiles.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Entry:
    """One bus message: several events, and when the bus accepted them."""

    entry_id: str
    position: int  # increasing within a partition; a batch is named by its last entry's position
    arrival_us: int
    events: list[dict[str, Any]]
    redelivered: bool = False  # handed out before and not acknowledged: a worker may have half-done it


class EventBus(Protocol):
    def publish(self, source: str, events: Sequence[Mapping[str, Any]], *, event_id_field: str | None) -> int:
        """Send events (grouped per partition, several per entry); returns how many entries."""
        ...

    def read(self, source: str, partition: int, *, max_events: int, block_ms: int) -> list[Entry]:
        """About ``max_events`` events of this partition: its unacknowledged entries first (a
        restarted worker redoes them, as the same batch), then new ones."""
        ...

    def ack(self, source: str, partition: int, entries: Sequence[Entry]) -> None: ...

    def lag(self, source: str) -> dict[int, int]:
        """Entries not yet delivered to the workers, per partition."""
        ...

    def report(self, source: str, partition: int, stats: Mapping[str, float]) -> None:
        """Publish a worker's counters, read back by :meth:`reports` (status, metrics)."""
        ...

    def reports(self, source: str) -> dict[int, dict[str, float]]: ...

    def close(self) -> None: ...


def partition_of(event: Mapping[str, Any], event_id_field: str | None, partitions: int) -> int:
    value = event.get(event_id_field) if event_id_field else None
    return zlib.crc32(str(value).encode()) % partitions if value is not None else 0
