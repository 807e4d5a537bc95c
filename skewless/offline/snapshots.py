"""Snapshot features of entity rows: the latest source row per key at or before each row's time.

For a row at ``t`` a snapshot view reads the latest source row with the row's keys and
``ts <= t`` (ties: the later created time, a null one first, then the later write), null if it
is older than the view's ttl. That is the sweep's ``last`` without a window: the source rows go
through :class:`~skewless.offline.window_sweep.SweepState` in (time, created, write) order, each
key keeping a reference to its latest row, and each entity row probes at ``t + 1`` (a probe
comes before the rows at its own time, so ``t + 1`` sees every row at ``t``). The features are
then one gather per column from the rows kept (those of the entity rows' keys only). Like the
windowed features, the source is read batch by batch of files in time order, with no sort of
the source by key and no join of entity rows to source rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from skewless.aggregation.windows import MICROS
from skewless.definitions.selection import ViewSelection
from skewless.definitions.source import BatchSource, StreamSource
from skewless.offline.row_keys import EntityRows, RowKeys, integers, key_sql
from skewless.offline.sql_text import q
from skewless.offline.window_sweep import I64, SweepSpec, SweepState
from skewless.offline.windowed import BatchProgress, Scans, time_order, value_column

NO_SLOTS = np.empty((0, 2), dtype=np.int64)
# The latest row of each key: a ``last`` over one always-valid column, no windows.
LATEST_ROW = SweepSpec(
    windows=NO_SLOTS,
    int_columns=NO_SLOTS,
    float_columns=NO_SLOTS,
    count_columns=np.empty(0, dtype=np.int64),
    count_slots=NO_SLOTS,
    int_sum_slots=NO_SLOTS,
    float_sum_slots=NO_SLOTS,
    int_extremes=NO_SLOTS,
    float_extremes=NO_SLOTS,
    extreme_slots=np.empty((0, 3), dtype=np.int64),
    last_columns=np.array([[0, 1]], dtype=np.int64),
    matrix_rows=(1, 0, 0),
)
CREATED_NULL = np.iinfo(np.int64).min  # a null created time sorts first: it loses a tie


def snapshot_features(
    con: duckdb.DuckDBPyConnection, rows: EntityRows, views: Sequence[ViewSelection], scans: Scans, progress: BatchProgress | None = None
) -> dict[str, pa.Array]:
    """Feature columns (internal names) of snapshot ``views``, all reading one source, for ``rows``,
    in their order. ``scans(low, high)`` lists relations of the source's rows
    (``source_relation_sql``), in batches that follow each other in time, covering at least the
    rows in ``[low, high)``."""
    source = views[0].view.source
    sweeps = [_Latest.start(index, v, rows) for index, v in enumerate(views)]
    if len(rows.times):
        ttls = [v.view.ttl_seconds for v in views]
        # Without a ttl the latest row may be of any age: every row up to the last entity time is read.
        reach = max(ttl for ttl in ttls if ttl is not None) * MICROS if None not in ttls else None
        low = int(rows.times.min()) - reach if reach is not None else int(np.iinfo(np.int64).min)
        high = int(rows.times.max()) + 1
        query = _source_query(sweeps, source, low=low, high=high)
        relations = scans(low, high)
        for done, scan in enumerate(relations, start=1):
            batch = con.sql(query(scan)).to_arrow_table()
            stamps = integers(batch.column("__ts"))
            order = time_order(stamps, integers(batch.column("__created"), null=CREATED_NULL), integers(batch.column("__seq")))
            ordered = np.arange(len(stamps)) if order is None else order
            for sweep in sweeps:
                sweep.fold(batch, stamps, ordered)
            if progress is not None:
                progress(f"{source.name} rows", done, len(relations))
    result: dict[str, pa.Array] = {}
    for sweep in sweeps:
        result.update(sweep.finish(rows))
    return result


@dataclass
class _Latest:
    """One snapshot view's sweep: each key's latest row, and the rows of the entity rows' keys."""

    index: int
    selection: ViewSelection
    state: SweepState
    keys: RowKeys
    kept: list[pa.Table] = field(default_factory=list)

    @classmethod
    def start(cls, index: int, selection: ViewSelection, rows: EntityRows) -> _Latest:
        keys = rows.keys(selection.view.join_keys)
        return cls(index, selection, SweepState.allocate(LATEST_ROW, rows.sorted_times + 1, keys.indexes, keys.count), keys)

    def fold(self, batch: pa.Table, stamps: I64, ordered: I64) -> None:
        keys = self.keys.of_batch(batch.column(f"__k{self.index}"), self.selection.view.source)
        needed = ordered[keys[ordered] >= 0]  # in order, only rows some entity row's key has
        always = np.ones((1, len(needed)), dtype=np.bool_)
        no_values = np.empty((0, len(needed)), dtype=np.int64), np.empty((0, len(needed)))
        self.state.feed(LATEST_ROW, keys[needed], stamps[needed], always, *no_values)
        self.kept.append(batch.select([value_column(f) for f in self.selection.features]).take(pa.array(needed)))

    def finish(self, rows: EntityRows) -> dict[str, pa.Array]:
        self.state.finish(LATEST_ROW)
        refs = self.state.out_last_refs[0, :, 0].take(rows.inverse)
        stamps = self.state.out_last_times[0, :, 0].take(rows.inverse)
        ttl = self.selection.view.ttl_seconds
        present = (refs >= 0) & (stamps >= rows.times - ttl * MICROS) if ttl is not None else refs >= 0
        kept = pa.concat_tables(self.kept) if self.kept else None
        positions = pa.array(np.where(present, refs, 0), mask=~present)
        result = {}
        for feature in self.selection.features:
            column = self.selection.column(feature)
            if kept is None or kept.num_rows == 0:
                result[column] = pa.nulls(len(rows.times), self.selection.view.source.columns[feature].to_arrow())
            else:
                # One array first: a take across the batches' chunks locates each index's chunk.
                result[column] = kept.column(value_column(feature)).combine_chunks().take(positions)
        return result


def _source_query(sweeps: Sequence[_Latest], source: BatchSource | StreamSource, *, low: int, high: int) -> Callable[[str], str]:
    """The rows of one time batch (``{scan}``) any entity row can see: time, created, write, features,
    each view's key."""
    features = list(dict.fromkeys(f for sweep in sweeps for f in sweep.selection.features))
    keys, joins, has_key = key_sql([sweep.keys for sweep in sweeps], source)
    selected = ["src.__ts", "src.__created", "src.__seq", *(f"src.{q(f)} AS {q(value_column(f))}" for f in features), *keys]
    where = [f"src.__ts >= {low}", f"src.__ts < {high}", has_key]
    head, tail = f"SELECT {', '.join(selected)} FROM (", ") src " + " ".join(joins) + " WHERE " + " AND ".join(where)
    return lambda scan: head + scan + tail
