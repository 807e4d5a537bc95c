"""The stream worker (``skewless stream``): bus -> offline log -> online tiles -> acknowledgement.

Each batch of a partition is handled so that a worker killed at any instant and restarted
leaves the same state as a run that was never interrupted:

1. the bus hands back the unacknowledged entries first, as the same batch;
2. the batch's valid events are appended to the source's Delta table in one commit that records
   (partition, batch) as a Delta app transaction; if that batch is already recorded, the commit
   it made is found instead and nothing is written twice;
3. each event's log position (version, row) becomes its tie-break in the tiles, and the tiles
   skip event ids they have seen, so re-applying a batch changes nothing;
4. dead letters are written under their own app transaction, then the entries are acknowledged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from skewless.offline.ingest import resolve_write_target
from skewless.streaming.bus import Entry, EventBus
from skewless.streaming.events import sort_events
from skewless.streaming.push import EventSink, apply_to_tiles
from skewless.streaming.tiling import paused_gc


@dataclass
class WorkerStats:
    events: int = 0
    applied: int = 0
    dead_letters: int = 0
    batches: int = 0
    freshness_ms: list[float] = field(default_factory=list)  # arrival on the bus -> visible online, per batch

    def freshness(self, q: float) -> float | None:
        return float(np.percentile(self.freshness_ms, q)) if self.freshness_ms else None


class StreamWorker:
    def __init__(
        self, sink_factory: Callable[[], EventSink], bus: EventBus, source: str, partitions: Sequence[int], *, batch_size: int = 20_000
    ) -> None:
        self.sink_factory, self.bus, self.source = sink_factory, bus, source
        self.partitions, self.batch_size = list(partitions), batch_size
        self.stats = WorkerStats()
        self._reported = 0.0

    def run(self, *, stop: Callable[[], bool] = lambda: False, idle_exit_s: float | None = None, block_ms: int = 200) -> WorkerStats:
        """Consume until ``stop()`` (or ``idle_exit_s`` seconds without events)."""
        idle_since = time.monotonic()
        while not stop():
            handled = sum(self.process(p, block_ms=block_ms // max(1, len(self.partitions))) for p in self.partitions)
            if handled:
                idle_since = time.monotonic()
            elif idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                break
        self.report()
        return self.stats

    def process(self, partition: int, *, block_ms: int = 0) -> int:
        """Handle one batch of ``partition``; returns how many events it held."""
        entries = self.bus.read(self.source, partition, max_events=self.batch_size, block_ms=block_ms)
        if not entries:
            return 0
        sink = self.sink_factory()
        with paused_gc():  # the whole batch: parsed events, frames, tile updates (see paused_gc)
            handle_batch(sink, self.source, partition, entries, stats=self.stats)
        self.bus.ack(self.source, partition, entries)
        if time.monotonic() - self._reported > 1.0:
            self.report()
        return sum(len(e.events) for e in entries)

    def report(self) -> None:
        stats = self.stats
        values = {"events": stats.events, "applied": stats.applied, "dead_letters": stats.dead_letters, "updated_at": time.time()}
        for name, q in (("freshness_p50_ms", 50), ("freshness_p99_ms", 99)):
            value = stats.freshness(q)
            if value is not None:
                values[name] = value
        for partition in self.partitions:
            self.bus.report(self.source, partition, values)
        self._reported = time.monotonic()


def handle_batch(sink: EventSink, source_name: str, partition: int, entries: Sequence[Entry], *, stats: WorkerStats | None = None) -> None:
    target, key_columns = resolve_write_target(sink.catalog, source_name)
    tiled = sink.tiled_views(target.name)
    reach = max((t.layout.reach_seconds for t in tiled), default=None)
    batch = entries[-1].position
    sorted_events = sort_events(
        target,
        [event for entry in entries for event in entry.events],
        key_columns=key_columns,
        arrival_us=entries[-1].arrival_us,  # the batch's, so a redone batch sorts its events the same way
        reach_seconds=reach,
        max_future_seconds=sink.max_future_seconds,
        max_event_bytes=sink.max_event_bytes,
    )
    app_id = f"skewless-stream:{target.name}:p{partition}"
    accepted = sorted_events.accepted
    applied = 0
    if accepted.num_rows:
        redone = entries[0].redelivered  # only a batch handed out before can have been committed
        version = sink.tables.committed_version(target.name, app_id, batch) if redone else None
        if version is None:
            version = sink.tables.append(target, accepted, key_columns=key_columns, transaction=(app_id, batch), validated=True).version
        seqs = (np.arange(accepted.num_rows, dtype=np.int64) + (version << 32)).tolist()
        applied = apply_to_tiles(sink, tiled, accepted, seqs)
    sink.dead_letters.append(sorted_events.dead_letters, transaction=(app_id, batch), check=entries[0].redelivered)
    if stats is not None:
        stats.batches += 1
        stats.events += accepted.num_rows + len(sorted_events.dead_letters)
        stats.applied += applied
        stats.dead_letters += len(sorted_events.dead_letters)
        stats.freshness_ms.append((time.time_ns() // 1000 - entries[0].arrival_us) / 1000)
        del stats.freshness_ms[:-10_000]
