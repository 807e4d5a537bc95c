"""From accepted events to tile writes: the partial of each event, for each tile it belongs to.

Pure apart from the clock it is given: the caller supplies the events (validated Arrow rows in
log order), their log positions (``_write_seq``) and the view's layout; the result is what a
:class:`~skewless.online.tile_writes.TileWriter` applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgpack
import pyarrow as pa

from skewless.aggregation.tiles import floor_to
from skewless.aggregation.windows import MICROS
from skewless.definitions.types import Timestamp
from skewless.online.keys import entity_key, key_prefix
from skewless.online.tile_keys import guard_key, raw_key, tile_key, tile_tag
from skewless.online.tile_reads import TiledView
from skewless.online.tile_writes import EntityBatch, GuardedEvent, TileWrite


def entity_batches(project: str, tiled: TiledView, events: pa.Table, seqs: Sequence[int]) -> list[EntityBatch]:
    """The tile writes of ``events`` (rows of the view's source) for one windowed view, grouped by entity."""
    view, layout = tiled.view, tiled.layout
    source = view.source
    prefix = key_prefix(project, view.name, view.version)
    columns = {c: _values(events.column(c), source.columns[c] == Timestamp) for c in {s.column for s in layout.slots}}
    key_columns = [events.column(k).to_pylist() for k in view.join_keys]
    timestamps = _values(events.column(source.timestamp_field), True)
    ids = events.column(source.event_id_field).to_pylist() if source.event_id_field else list(seqs)
    history = layout.history_seconds
    by_entity: dict[bytes, list[GuardedEvent]] = {}
    for row, ts in enumerate(timestamps):
        tag = tile_tag(entity_key(prefix, [k[row] for k in key_columns]))
        seq = seqs[row]
        partial = layout.event_partial({c: v[row] for c, v in columns.items()}, ts, seq)
        payload = msgpack.packb(partial)
        writes = [
            TileWrite(tile_key(tag, level, start), payload, layout.expires_at_us(level, start))
            for level, start in layout.tiles_of_event(ts)
        ]
        base_start = floor_to(ts, layout.base)
        raw_expiry = base_start + (layout.base + history) * MICROS
        writes.append(TileWrite(raw_key(tag, base_start), msgpack.packb([ts, partial]), raw_expiry, append=True))
        by_entity.setdefault(tag, []).append(GuardedEvent(str(ids[row]).encode(), ts, writes))
    keep_ids = (layout.reach_seconds + history) * MICROS
    return [EntityBatch(guard_key(tag), keep_ids, evs) for tag, evs in by_entity.items()]


def _values(column: pa.ChunkedArray, timestamp: bool) -> list[Any]:
    """Python values of a column; timestamps as µs since the epoch (how tiles keep them)."""
    if timestamp:
        values: list[Any] = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
        return values
    plain: list[Any] = column.to_pylist()
    return plain
