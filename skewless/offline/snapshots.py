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
from skewless.offline.key_index import KeyIndex
from skewless.offline.sql_text import q
from skewless.offline.window_sweep import I64, SweepSpec, SweepState
from skewless.offline.windowed import BatchProgress, Scans, batch_keys, integers, key_index, row_keys, time_order

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
    con: duckdb.DuckDBPyConnection, entity: str, views: Sequence[ViewSelection], scans: Scans, progress: BatchProgress | None = None
) -> dict[str, pa.Array]:
    """Feature columns (internal names) of snapshot ``views``, all reading one source, for the rows
    of the relation ``entity`` (``__row`` in order, join keys, ``__ts``), aligned with them.
    ``scans(low, high)`` lists relations of the source's rows (``source_relation_sql``), in
    batches that follow each other in time, covering at least the rows in ``[low, high)``."""
    times = con.sql(f"SELECT __ts FROM {entity} ORDER BY __row").to_arrow_table().column(0).to_numpy()
    by_time = np.argsort(times, kind="stable")
    sweeps = [_Latest.start(con, entity, index, v, times, by_time) for index, v in enumerate(views)]
    if len(times):
        ttls = [v.view.ttl_seconds for v in views]
        # Without a ttl the latest row may be of any age: every row up to the last entity time is read.
        reach = max(ttl for ttl in ttls if ttl is not None) * MICROS if None not in ttls else None
        low = int(times.min()) - reach if reach is not None else int(np.iinfo(np.int64).min)
        query = _source_query(sweeps, low=low, high=int(times.max()) + 1)
        relations = scans(low, int(times.max()) + 1)
        for done, scan in enumerate(relations, start=1):
            batch = con.sql(query(scan)).to_arrow_table()
            stamps = integers(batch.column("__ts"))
            order = time_order(stamps, integers(batch.column("__created"), null=CREATED_NULL), integers(batch.column("__seq")))
            ordered = np.arange(len(stamps)) if order is None else order
            for sweep in sweeps:
                sweep.fold(batch, stamps, ordered)
            if progress is not None:
                progress(f"{views[0].view.source.name} rows", done, len(relations))
    inverse = np.empty_like(by_time)
    inverse[by_time] = np.arange(len(by_time))
    result: dict[str, pa.Array] = {}
    for sweep in sweeps:
        result.update(sweep.finish(times, inverse))
    return result


@dataclass
class _Latest:
    """One snapshot view's sweep: each key's latest row, and the rows of the entity rows' keys."""

    index: int
    selection: ViewSelection
    state: SweepState
    key_table: str
    key_index: KeyIndex | None
    kept: list[pa.Table] = field(default_factory=list)

    @classmethod
    def start(cls, con: duckdb.DuckDBPyConnection, entity: str, index: int, selection: ViewSelection, times: I64, by_time: I64) -> _Latest:
        table = f"__snapshot_keys_{index}"
        keys = row_keys(con, entity, selection.view.join_keys, table)
        state = SweepState.allocate(LATEST_ROW, times[by_time] + 1, keys[by_time], int(keys.max()) + 1 if len(keys) else 0)
        return cls(index, selection, state, table, key_index(con, entity, selection.view, table))

    @property
    def key_column(self) -> str:
        return f"__k{self.index}"

    def fold(self, batch: pa.Table, stamps: I64, ordered: I64) -> None:
        keys = batch_keys(batch.column(self.key_column), self.key_index)
        needed = ordered[keys[ordered] >= 0]  # in order, only rows some entity row's key has
        always = np.ones((1, len(needed)), dtype=np.bool_)
        no_values = np.empty((0, len(needed)), dtype=np.int64), np.empty((0, len(needed)))
        self.state.feed(LATEST_ROW, keys[needed], stamps[needed], always, *no_values)
        self.kept.append(batch.select([_value(f) for f in self.selection.features]).take(pa.array(needed)))

    def finish(self, times: I64, inverse: I64) -> dict[str, pa.Array]:
        self.state.finish(LATEST_ROW)
        refs = self.state.out_last_refs[0, :, 0].take(inverse)
        stamps = self.state.out_last_times[0, :, 0].take(inverse)
        ttl = self.selection.view.ttl_seconds
        present = (refs >= 0) & (stamps >= times - ttl * MICROS) if ttl is not None else refs >= 0
        rows = pa.concat_tables(self.kept) if self.kept else None
        positions = pa.array(np.where(present, refs, 0), mask=~present)
        result = {}
        for feature in self.selection.features:
            column = self.selection.column(feature)
            dtype = self.selection.view.source.columns[feature].to_arrow()
            if rows is None or rows.num_rows == 0:
                result[column] = pa.nulls(len(times), dtype)
            else:
                # One array first: a take across the batches' chunks locates each index's chunk.
                result[column] = rows.column(_value(feature)).combine_chunks().take(positions)
        return result


def _value(column: str) -> str:
    return f"__v_{column}"


def _source_query(sweeps: Sequence[_Latest], *, low: int, high: int) -> Callable[[str], str]:
    """The rows of one time batch (``{scan}``) any entity row can see: time, created, write, features,
    and per view its key's index (joined) or raw integer key (looked up by a :class:`KeyIndex`)."""
    features = list(dict.fromkeys(f for sweep in sweeps for f in sweep.selection.features))
    selected = ["src.__ts", "src.__created", "src.__seq"] + [f"src.{q(f)} AS {q(_value(f))}" for f in features]
    joins = []
    for sweep in sweeps:
        i, view = sweep.index, sweep.selection.view
        if sweep.key_index is not None:
            selected.append(f"src.{q(view.join_keys[0])} AS __k{i}")
            continue
        selected.append(f"k{i}.__k AS __k{i}")
        joins.append(f"LEFT JOIN {sweep.key_table} k{i} ON " + " AND ".join(f"k{i}.{q(k)} = src.{q(k)}" for k in view.join_keys))
    # Only rows of the entity rows' keys leave DuckDB (a semi-join where keys are looked up later).
    wanted = [
        f"k{s.index}.__k IS NOT NULL"
        if s.key_index is None
        else f"src.{q(s.selection.view.join_keys[0])} IN (SELECT {q(s.selection.view.join_keys[0])} FROM {s.key_table})"
        for s in sweeps
    ]
    where = [f"src.__ts >= {low}", f"src.__ts < {high}", "(" + " OR ".join(wanted) + ")"]
    head, tail = f"SELECT {', '.join(selected)} FROM (", ") src " + " ".join(joins) + " WHERE " + " AND ".join(where)
    return lambda scan: head + scan + tail
