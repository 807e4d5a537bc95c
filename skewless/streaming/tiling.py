"""From accepted events to tile updates: per entity of a view, one partial per tile its events touch.

A batch is aggregated as a whole, with numpy, not event by event: its rows are sorted by
(entity, event time, log position), so the events of any tile of any level are one contiguous
run, and each slot of the partials is a ``reduceat`` over those runs (counts, sums, min/max),
the last valid row of a run (``last``) or its last ``n`` valid rows (``last_n``). The result
equals :meth:`~skewless.aggregation.tiles.TileLayout.merge_all` over the events' partials (the
merge rules of :mod:`skewless.aggregation.tiles`; ``tests/aggregation`` checks it), and depends only
on the batch, so a redone batch writes the same bytes. Each entity's update also carries its
events' ids and raw records; :func:`apply_events` sends the updates and, for an entity whose ids
the store has partly seen (a re-delivered event), rebuilds its update without them.

Pure apart from the store it is given: the caller supplies the events (validated Arrow rows in
log order), their log positions (``_write_seq``) and the view's layout.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from typing import Any

import msgpack
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.aggregation.summaries import SummaryLayout, encode_many, rows_of
from skewless.aggregation.tiles import Slot, TileLayout
from skewless.aggregation.windows import MICROS
from skewless.online.id_claims import claim, claim_key
from skewless.online.keys import entity_key, key_prefix
from skewless.online.tile_keys import raw_field, tile_field, tile_tag
from skewless.online.tile_reads import TiledView
from skewless.online.tile_writes import EntityUpdate, StateSpec, TileWriter, Write


def apply_events(writer: TileWriter, project: str, views: Sequence[TiledView], events: pa.Table, seqs: Sequence[int]) -> int:
    """Merge ``events`` into the tiles of ``views`` (over one source), each (entity, event id) once,
    in one store call (one LMDB commit, one Redis round trip); returns how many were new per view, summed.

    The first delivery of an id wins: within the batch the one with the lowest log position, and
    across batches the one applied first (the store refuses an update holding a seen id).
    """
    if not views or events.num_rows == 0:
        return 0
    events, seqs = first_deliveries(writer, project, views, events, seqs)
    with paused_gc():
        return _apply(writer, project, views, events, seqs)


def first_deliveries(
    writer: TileWriter, project: str, views: Sequence[TiledView], events: pa.Table, seqs: Sequence[int]
) -> tuple[pa.Table, list[int]]:
    """The events whose id no earlier log position holds (see :mod:`skewless.online.id_claims`)."""
    source = views[0].view.source
    if not source.event_id_field:
        return events, list(seqs)
    ids = [str(i).encode() for i in events.column(source.event_id_field).to_pylist()]
    keep_us = max(t.layout.reach_seconds + t.layout.history_seconds for t in views) * 1_000_000
    expires = (_micros(events.column(source.timestamp_field)) + keep_us).tolist()
    keys = [claim_key(project, source.name, i) for i in ids]
    # The writer's own connection: the online store's client has the serving timeout (tens of ms).
    owned = claim(writer, keys, list(seqs), expires)
    if all(owned):
        return events, list(seqs)
    rows = [r for r, ok in enumerate(owned) if ok]
    return events.take(pa.array(rows, pa.int64())), [seqs[r] for r in rows]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: a batch builds ~10 containers per event that all live
    until it ends (then reference counting frees them), and the collector would rescan them again
    and again as they pile up (measured: a third of the tile time of a 5,000-event batch)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _apply(writer: TileWriter, project: str, views: Sequence[TiledView], events: pa.Table, seqs: Sequence[int]) -> int:
    pending: list[tuple[EntityUpdate, TiledView, np.ndarray]] = []
    for tiled in views:
        updates, rows = tile_updates(project, tiled, events, seqs)
        pending += [(update, tiled, entity_rows) for update, entity_rows in zip(updates, rows, strict=True)]
    applied = 0
    while pending:
        retry: list[tuple[EntityUpdate, TiledView, np.ndarray]] = []
        for (update, tiled, entity_rows), seen in zip(pending, writer.merge_tiles([p[0] for p in pending]), strict=True):
            if not seen:
                applied += len(update.ids)
                continue
            known = set(seen)
            left = entity_rows[[i not in known for i in update.ids]]
            if len(left):  # each retry drops at least one id: the loop ends
                more, more_rows = tile_updates(project, tiled, events.take(left), [seqs[r] for r in left.tolist()])
                retry += [(u, tiled, left[r]) for u, r in zip(more, more_rows, strict=True)]
        pending = retry
    return applied


def tile_updates(project: str, tiled: TiledView, events: pa.Table, seqs: Sequence[int]) -> tuple[list[EntityUpdate], list[np.ndarray]]:
    """One update per entity of ``events`` (rows of the view's source), and the rows each one holds.

    Rows without a value for every join key are not the view's (another entity's events) and are
    skipped; of rows sharing an (entity, event id), only the first counts.
    """
    view, layout = tiled.view, tiled.layout
    source = view.source
    rows = np.arange(events.num_rows, dtype=np.int64)
    keys = [events.column(k) for k in view.join_keys]
    present = pc.and_(*[pc.is_valid(k) for k in keys]) if len(keys) > 1 else pc.is_valid(keys[0])
    if not pc.all(present).as_py():
        rows = rows[np.asarray(present, dtype=bool)]
    if len(rows) == 0:
        return [], []
    if len(rows) < events.num_rows:
        events, seqs = events.take(rows), [seqs[r] for r in rows.tolist()]
    entity = _entity_codes(events, view.join_keys)
    if source.event_id_field:
        id_column = events.column(source.event_id_field)
        ids = [str(i).encode() for i in id_column.to_pylist()]
        id_codes = np.asarray(pc.dictionary_encode(id_column).combine_chunks().indices, dtype=np.int64)
        _, first = np.unique(entity * (int(id_codes.max()) + 1) + id_codes, return_index=True)
        if len(first) < len(ids):
            keep = np.sort(first)
            events, rows, entity = events.take(keep), rows[keep], entity[keep]
            seqs, ids = [seqs[k] for k in keep.tolist()], [ids[k] for k in keep.tolist()]
    else:
        ids = [str(s).encode() for s in seqs]
    key_values = [events.column(k).to_pylist() for k in view.join_keys]
    ts = _micros(events.column(source.timestamp_field))
    seq = np.asarray(seqs, dtype=np.int64)
    order = np.lexsort((seq, ts, entity))
    ent, ts, seq, rows = entity[order], ts[order], seq[order], rows[order]
    ids = [ids[i] for i in order.tolist()]
    columns = {c: _Column(events.column(c).combine_chunks().take(order)) for c in layout.columns}
    n = len(order)
    first_of_entity = np.flatnonzero(np.concatenate(([True], ent[1:] != ent[:-1])))
    entity_rank = np.cumsum(np.concatenate(([True], ent[1:] != ent[:-1]))) - 1
    prefix = key_prefix(project, view.name, view.version)
    tags = [tile_tag(entity_key(prefix, [values[r] for values in key_values])) for r in order[first_of_entity].tolist()]
    ts_list, seq_list = ts.tolist(), seq.tolist()
    tiles: list[list[Write]] = [[] for _ in tags]
    raws: list[list[Write]] = [[] for _ in tags]
    pack = msgpack.packb
    spec = StateSpec.of(layout)
    records = list(zip(ts_list, seq_list, *(c.values for c in columns.values()), strict=True))
    series: list[tuple[np.ndarray, np.ndarray]] = []  # per summary series: each row's entity, the rows
    for level in layout.levels:
        step = level * MICROS
        starts = ts // step * step
        run = np.flatnonzero(np.concatenate(([True], (ent[1:] != ent[:-1]) | (starts[1:] != starts[:-1]))))
        owners = entity_rank[run].tolist()
        run_starts = starts[run].tolist()
        slot_values = [_slot_values(slot, columns[slot.column], run, n, ts_list, seq_list) for slot in layout.slots]
        for e, start, partial in zip(owners, run_starts, zip(*slot_values, strict=True), strict=True):
            tiles[e].append((tile_field(level, start), pack(partial)))
        if spec.summary is not None and level in spec.summary.levels:
            series.append((entity_rank[run], rows_of(spec.summary, starts[run], slot_values)))
        if level == layout.base:
            bounds = [*run.tolist(), n]
            for g, (e, start) in enumerate(zip(owners, run_starts, strict=True)):
                raws[e].append((raw_field(start), pack(records[bounds[g] : bounds[g + 1]])))
    keep_ids = (layout.reach_seconds + layout.history_seconds) * MICROS
    ends = [*first_of_entity.tolist()[1:], n]
    deltas = _summary_deltas(spec.summary, series, columns, layout, ts, first_of_entity, n, ts_list, seq_list)
    updates = [
        EntityUpdate(spec, tag, keep_ids, ids[a:b], ts_list[a:b], tiles[e], raws[e], deltas[e])
        for e, (tag, a, b) in enumerate(zip(tags, first_of_entity.tolist(), ends, strict=True))
    ]
    return updates, [rows[a:b] for a, b in zip(first_of_entity.tolist(), ends, strict=True)]


def _summary_deltas(
    summary: SummaryLayout | None,
    series: list[tuple[np.ndarray, np.ndarray]],
    columns: dict[str, _Column],
    layout: TileLayout,
    ts: np.ndarray,
    first_of_entity: np.ndarray,
    n: int,
    ts_list: list[int],
    seq_list: list[int],
) -> list[bytes]:
    """Each entity's events of the batch as a summary (b"" for every entity when the view has none)."""
    if summary is None:
        return [b""] * len(first_of_entity)
    slots = [layout.slots[k] for k in summary.ordered]
    ordered = [_slot_values(slot, columns[slot.column], first_of_entity, n, ts_list, seq_list) for slot in slots]
    return encode_many(summary, np.maximum.reduceat(ts, first_of_entity), series, ordered)


def _entity_codes(events: pa.Table, join_keys: Sequence[str]) -> np.ndarray:
    """An integer per row, equal for rows of the same entity."""
    code = np.zeros(events.num_rows, dtype=np.int64)
    for name in join_keys:
        encoded = pc.dictionary_encode(events.column(name)).combine_chunks()
        code = code * len(encoded.dictionary) + np.asarray(encoded.indices, dtype=np.int64)
    return code


def _micros(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamps as µs since the epoch (how tiles keep them)."""
    return np.asarray(column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()), dtype=np.int64)


class _Column:
    """One column of the sorted batch: Python values (what records and partials hold), which rows
    count (not null, not NaN: an event's null contributes nothing), and numbers when it has any."""

    def __init__(self, array: pa.Array) -> None:
        if pa.types.is_timestamp(array.type):
            array = array.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        valid = array.is_valid()
        self.number: np.ndarray | None = None
        if pa.types.is_floating(array.type):
            number = np.asarray(array.cast(pa.float64()).fill_null(0.0), dtype=np.float64)
            self.valid = np.asarray(valid, dtype=bool) & ~np.isnan(number)
            self.number = number
        else:
            self.valid = np.asarray(valid, dtype=bool)
            if pa.types.is_integer(array.type):
                self.number = np.asarray(array.cast(pa.int64()).fill_null(0), dtype=np.int64)
        self.values: list[Any] = array.to_pylist()
        self.addends = self.number  # what a sum adds up: numbers, or a bool as 0/1
        if pa.types.is_boolean(array.type):
            self.addends = np.asarray(array.cast(pa.int64()).fill_null(0), dtype=np.int64)


def _slot_values(slot: Slot, column: _Column, run: np.ndarray, n: int, ts: list[int], seq: list[int]) -> list[Any]:
    """The slot's partial for each run of rows (``run``: where each starts), as TileLayout.event_partial
    and merge would give event by event."""
    valid, number = column.valid, column.number
    if slot.op == "count":
        counts: list[Any] = np.add.reduceat(valid.astype(np.int64), run).tolist()
        return counts
    if slot.op == "sum" and column.addends is not None:
        sums: list[Any] = np.add.reduceat(np.where(valid, column.addends, 0), run).tolist()
        return sums
    bounds = [*run.tolist(), n]
    values = column.values
    if slot.op in ("min", "max") and number is not None:
        fill = (np.inf if slot.op == "min" else -np.inf) if number.dtype.kind == "f" else np.iinfo(np.int64).max
        if slot.op == "max" and number.dtype.kind != "f":
            fill = np.iinfo(np.int64).min
        ufunc = np.minimum if slot.op == "min" else np.maximum
        found = np.add.reduceat(valid.astype(np.int64), run).tolist()
        best = ufunc.reduceat(np.where(valid, number, fill), run).tolist()
        return [[b] if f else [] for b, f in zip(best, found, strict=True)]
    if slot.op == "last":
        last = np.maximum.reduceat(np.where(valid, np.arange(n), -1), run).tolist()
        return [[ts[i], seq[i], values[i]] if i >= 0 else [] for i in last]
    valid_rows = np.flatnonzero(valid)
    lo = np.searchsorted(valid_rows, run).tolist()
    hi = np.searchsorted(valid_rows, np.asarray(bounds[1:])).tolist()
    valid_list = valid_rows.tolist()
    if slot.op == "last_n":
        return [[[ts[i], seq[i], values[i]] for i in reversed(valid_list[max(a, b - slot.n) : b])] for a, b in zip(lo, hi, strict=True)]
    # min/max/sum of other types (strings, bools, decimals): in Python, run by run.
    result: list[Any] = []
    for a, b in zip(lo, hi, strict=True):
        inside = [values[i] for i in valid_list[a:b]]
        if slot.op == "sum":
            result.append(sum(inside))
        elif not inside:
            result.append([])
        else:
            result.append([min(inside) if slot.op == "min" else max(inside)])
    return result
