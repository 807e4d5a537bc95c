"""Applying events: dead letters aside, then the offline log, then the online tiles.

The order makes a crash harmless: an event reaches the tiles only after it is in the offline
log, and the tiles skip an event id they have seen, so redoing a batch (the bus redelivers what
was not acknowledged) neither loses nor double-counts. Each event's position in the log
(``_write_seq``) is also its tie-break in the tiles, so online and offline order ties alike.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from skewless.definitions.catalog import Catalog
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.source import Source
from skewless.errors import DataValidationError, OfflineStoreError
from skewless.offline.ingest import resolve_write_target
from skewless.offline.tables import OfflineTables
from skewless.online.tile_reads import TiledView
from skewless.online.tile_writes import TileWriter
from skewless.streaming.dead_letters import DeadLetterTable
from skewless.streaming.events import DeadLetter, sort_events
from skewless.streaming.tiling import apply_events

if TYPE_CHECKING:
    from skewless.store import FeatureStore


@dataclass(frozen=True)
class PushResult:
    source: str
    accepted: int
    applied_online: int  # events new to the tiles (per view, summed); re-deliveries are not
    dead_letters: list[DeadLetter] = field(default_factory=list)
    offline_version: int | None = None


@dataclass(frozen=True)
class EventSink:
    """Everything an event batch is written to."""

    project: str
    catalog: Catalog
    tables: OfflineTables
    writer: TileWriter
    dead_letters: DeadLetterTable
    history_seconds: int
    max_future_seconds: int = 300
    max_event_bytes: int = 64 * 1024

    @classmethod
    def of(cls, store: FeatureStore) -> EventSink:
        """The sink of a feature store: its offline tables, its online store's tiles, its dead letters."""
        from skewless.online.tile_writes import tile_writer_for

        settings = store.config.streaming
        return cls(
            project=store.project,
            catalog=store.registry.snapshot().catalog,
            tables=store.offline_tables,
            writer=tile_writer_for(store.online.store),
            dead_letters=DeadLetterTable(store.offline_tables.root),
            history_seconds=settings.tile_history_seconds,
            max_future_seconds=settings.max_future_seconds,
            max_event_bytes=settings.max_event_bytes,
        )

    def tiled_views(self, source_name: str) -> list[TiledView]:
        return [TiledView.of(v, history_seconds=self.history_seconds) for v in windowed_views(self.catalog, source_name)]


def windowed_views(catalog: Catalog, source_name: str) -> list[FeatureView]:
    """The registered windowed views (every kept version) reading ``source_name``."""
    return [v for v in catalog.feature_views() if v.is_aggregation and v.source.name == source_name]


def push_events(sink: EventSink, source: str | Source, events: Any, *, arrival_us: int | None = None) -> PushResult:
    """Validate and apply ``events`` (a list of dicts, or a DataFrame / Arrow table) of one source."""
    target, key_columns = resolve_write_target(sink.catalog, source)
    arrival = arrival_us if arrival_us is not None else time.time_ns() // 1000
    tiled = sink.tiled_views(target.name)
    reach = max((t.layout.reach_seconds for t in tiled), default=None)
    sorted_events = sort_events(
        target,
        as_records(events),
        key_columns=key_columns,
        arrival_us=arrival,
        reach_seconds=reach,
        max_future_seconds=sink.max_future_seconds,
        max_event_bytes=sink.max_event_bytes,
    )
    sink.dead_letters.append(sorted_events.dead_letters)
    accepted = sorted_events.accepted
    if accepted.num_rows == 0:
        return PushResult(target.name, 0, 0, sorted_events.dead_letters)
    written = sink.tables.append(target, accepted, key_columns=key_columns, validated=True)
    if written.rows != accepted.num_rows:
        raise OfflineStoreError(f"source {target.name!r}: wrote {written.rows} of {accepted.num_rows} events")
    seqs = (np.arange(accepted.num_rows, dtype=np.int64) + (written.version << 32)).tolist()
    applied = apply_to_tiles(sink, tiled, accepted, seqs)
    return PushResult(target.name, accepted.num_rows, applied, sorted_events.dead_letters, written.version)


def apply_to_tiles(sink: EventSink, tiled: Sequence[TiledView], events: pa.Table, seqs: Sequence[int]) -> int:
    return apply_events(sink.writer, sink.project, tiled, events, seqs)


def as_records(events: Any) -> list[Mapping[str, Any]]:
    """Events as dicts, from a list of dicts, a pandas or polars DataFrame or an Arrow table."""
    if isinstance(events, list | tuple):
        return list(events)
    if isinstance(events, Mapping):
        return [events]
    if isinstance(events, pa.Table | pa.RecordBatch):
        return list(events.to_pylist())
    to_dicts = getattr(events, "to_dicts", None)  # polars
    if to_dicts is not None:
        return list(to_dicts())
    to_dict = getattr(events, "to_dict", None)  # pandas
    if to_dict is not None:
        return list(to_dict("records"))
    raise DataValidationError(f"cannot push a {type(events).__name__}", hint="pass a list of dicts, a DataFrame or an Arrow table")
