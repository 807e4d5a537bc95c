"""Windowed features of entity rows on DuckDB: the events, read in time order, through the sweep.

Per source (every aggregation view of it in one read), DuckDB reads the events batch by batch
of files whose time ranges do not overlap (``duplicates.file_batches`` over the timestamps: about
a day's partition each, the batches in time order), keeps each event id's first write and the
events of keys some entity row has (:mod:`skewless.offline.row_keys`); numpy puts a batch in
(time, write) order and :mod:`skewless.offline.window_sweep` folds it into the running totals.
Memory is one batch of events plus a few numbers per entity row and key, whatever the size of
the source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.definitions.selection import ViewSelection
from skewless.definitions.source import BatchSource, StreamSource
from skewless.definitions.types import DType
from skewless.offline.row_keys import EntityRows, RowKeys, integers, key_sql
from skewless.offline.sql_text import q
from skewless.offline.window_plan import FLOAT_VALUED, INTEGER_VALUED, ViewPlan, needed_outputs, reach_us, view_columns
from skewless.offline.window_sweep import I64, SweepState

Values = tuple[np.ndarray, I64, np.ndarray]  # validity, integer and float values, one row per column
# ``progress(what, done, total)``: after each batch of a source's rows, e.g. ("engagement events", 3, 47).
BatchProgress = Callable[[str, int, int], None]
Scans = Callable[[int, int], Sequence[str]]


def windowed_features(
    con: duckdb.DuckDBPyConnection,
    rows: EntityRows,
    views: Sequence[ViewSelection],
    scans: Scans,
    *,
    duplicates: str | None,
    progress: BatchProgress | None = None,
) -> dict[str, pa.Array]:
    """Feature columns (internal names) of ``views``, all reading one source, for ``rows``, in their
    order. ``scans(low, high)`` lists relations of the source's events (``source_relation_sql``),
    in batches that follow each other in time, covering at least the events in ``[low, high)``;
    ``duplicates`` names the table of later copies of event ids (``pit.duplicates_sql``)."""
    source = views[0].view.source
    columns = [(c, source.columns[c]) for c in dict.fromkeys(o.column for v in views for o in needed_outputs(v))]
    sweeps = [_ViewSweep.start(index, ViewPlan.of(v, columns), rows) for index, v in enumerate(views)]
    if len(rows.times):
        low, high = int(rows.times.min()) - max(reach_us(v.view) for v in views), int(rows.times.max())
        query = _event_query(sweeps, columns, source, low=low, high=high, duplicates=duplicates)
        relations = scans(low, high)
        batches = (con.sql(query(scan)).to_arrow_table() for scan in relations)
        # DuckDB reads the next batch while the views' sweeps (which release the GIL) fold this one.
        with ThreadPoolExecutor(max_workers=len(sweeps) + 1) as pool:
            upcoming = pool.submit(next, batches, None)
            done = 0
            while (batch := upcoming.result()) is not None:
                upcoming = pool.submit(next, batches, None)
                event_times = integers(batch.column("__ts"))
                order = time_order(event_times, integers(batch.column("__seq")))
                values = _values(batch, columns)
                for folded in [pool.submit(sweep.fold, batch, event_times, order, values) for sweep in sweeps]:
                    folded.result()
                done += 1
                if progress is not None:
                    progress(f"{source.name} events", done, len(relations))
    result: dict[str, pa.Array] = {}
    for sweep in sweeps:
        result.update(sweep.finish(rows))
        del sweep.state  # the totals per key and row are done with
    return result


@dataclass
class _ViewSweep:
    """One view's sweep: its state, its rows' keys, the values last / last_n keep."""

    index: int
    plan: ViewPlan
    state: SweepState
    keys: RowKeys
    kept: dict[str, list[pa.Array]] = field(default_factory=dict)

    @classmethod
    def start(cls, index: int, plan: ViewPlan, rows: EntityRows) -> _ViewSweep:
        keys = rows.keys(plan.selection.view.join_keys)
        state = SweepState.allocate(plan.spec, rows.sorted_times, keys.indexes, keys.count)
        return cls(index, plan, state, keys, {c: [] for c in plan.last_columns})

    def fold(self, batch: pa.Table, times: I64, order: I64 | None, values: Values) -> None:
        keys = self.keys.of_batch(batch.column(f"__k{self.index}"), self.plan.selection.view.source)
        self.state.feed(self.plan.spec, keys, times, *values, order=order)
        for column, chunks in self.kept.items():
            chunks.append(batch.column(value_column(column)).combine_chunks())

    def finish(self, rows: EntityRows) -> dict[str, pa.Array]:
        self.state.finish(self.plan.spec)
        return view_columns(self.plan, self.state, self.kept, rows.times, rows.inverse)


def value_column(column: str) -> str:
    """A source column's name in the batches the sweeps read (a join key may be a value too)."""
    return f"__v_{column}"


def _event_query(
    sweeps: Sequence[_ViewSweep],
    columns: Sequence[tuple[str, DType]],
    source: BatchSource | StreamSource,
    *,
    low: int,
    high: int,
    duplicates: str | None,
) -> Callable[[str], str]:
    """The events of one time batch (``{scan}``) any row can see: time, write, values, each view's key."""
    keys, joins, has_key = key_sql([sweep.keys for sweep in sweeps], source)
    selected = ["src.__ts", "src.__seq", *(f"src.{q(c)} AS {q(value_column(c))}" for c, _ in columns), *keys]
    where = [f"src.__ts >= {low}", f"src.__ts < {high}", has_key]
    if source.event_id_field and duplicates:
        joins.append(f"LEFT JOIN {duplicates} d ON d.__id = src.{q(source.event_id_field)}")
        where.append("(d.__first IS NULL OR src.__seq = d.__first)")
    head, tail = f"SELECT {', '.join(selected)} FROM (", ") src " + " ".join(joins) + " WHERE " + " AND ".join(where)
    return lambda scan: head + scan + tail


def time_order(times: I64, *ties: I64) -> I64 | None:
    """The permutation that puts a batch in order of (time, *ties); None if it already is. Batches
    come nearly ordered (files in time order, a few runs from parallel reads), which a stable sort
    by time handles in about linear time; rows tied on time are sorted fully only if they need it."""
    if len(times) < 2:
        return None
    keys = (times, *ties)
    if _ordered(keys):
        return None
    order = np.argsort(times, kind="stable")
    if _ordered(tuple(key[order] for key in keys)):
        return order
    return np.lexsort(tuple(reversed(keys)))


def _ordered(keys: Sequence[I64]) -> bool:
    """Whether rows are in lexicographic order of ``keys`` (most significant first)."""
    ok = keys[-1][1:] >= keys[-1][:-1]
    for key in reversed(keys[:-1]):
        ok = (key[1:] > key[:-1]) | ((key[1:] == key[:-1]) & ok)
    return bool(np.all(ok))


def _values(batch: pa.Table, columns: Sequence[tuple[str, DType]]) -> Values:
    """Validity (C, events) and the integer (Ci, events) and float (Cf, events) values of a batch."""
    n = batch.num_rows
    valid = np.ones((len(columns), n), dtype=np.bool_)
    ints = np.empty((sum(t in INTEGER_VALUED for _, t in columns), n), dtype=np.int64)
    floats = np.empty((sum(t in FLOAT_VALUED for _, t in columns), n), dtype=np.float64)
    i = f = 0
    for c, (name, dtype) in enumerate(columns):
        column = batch.column(value_column(name))
        if column.null_count:
            valid[c] = pc.is_valid(column).to_numpy()
        if dtype in INTEGER_VALUED:
            integers(column, out=ints[i])
            i += 1
        elif dtype in FLOAT_VALUED:
            at = 0
            for chunk in column.chunks:
                values = pc.fill_null(chunk, 0.0) if chunk.null_count else chunk
                floats[f, at : at + len(chunk)] = values.to_numpy(zero_copy_only=False)  # float32 widens on assignment
                at += len(chunk)
            f += 1
    return valid, ints, floats
