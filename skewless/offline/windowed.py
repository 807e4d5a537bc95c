"""Windowed features of entity rows on DuckDB: the events, read in time order, through the sweep.

Per source (every aggregation view of it in one read), DuckDB reads the events batch by batch
of files whose time ranges do not overlap (``time_batches``: each batch is one day's partition
or so, and the batches follow each other in time), keeps each event id's first write and the
events of keys some entity row has, and gives each event its key's index per view; numpy puts a
batch in (time, write) order and :mod:`skewless.offline.window_sweep` folds it into the running
totals. Memory is one batch of events plus a few numbers per entity row and key, whatever the
size of the source.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.definitions.feature_view import FeatureView
from skewless.definitions.selection import ViewSelection
from skewless.definitions.types import DType, Int64
from skewless.offline.key_index import KeyIndex
from skewless.offline.sql_text import q
from skewless.offline.window_plan import FLOAT_VALUED, INTEGER_VALUED, ViewPlan, needed_outputs, reach_us, view_columns
from skewless.offline.window_sweep import I64, SweepState

Values = tuple[np.ndarray, I64, np.ndarray]  # validity, integer and float values, one row per column
# ``progress(what, done, total)``: after each batch of a source's rows, e.g. ("engagement events", 3, 47).
BatchProgress = Callable[[str, int, int], None]
Scans = Callable[[int, int], Sequence[str]]


def windowed_features(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    views: Sequence[ViewSelection],
    scans: Scans,
    *,
    event_id: str | None,
    duplicates: str | None,
    progress: BatchProgress | None = None,
) -> dict[str, pa.Array]:
    """Feature columns (internal names) of ``views``, all reading one source, for the rows of the
    relation ``entity`` (``__row`` in order, join keys, ``__ts``), aligned with them.
    ``scans(low, high)`` lists relations of the source's events (``source_relation_sql``), in
    batches that follow each other in time, covering at least the events in ``[low, high)``;
    ``duplicates`` names the table of later copies of event ids (``pit.duplicates_sql``)."""
    dtypes = views[0].view.source.columns
    columns = [(c, dtypes[c]) for c in dict.fromkeys(o.column for v in views for o in needed_outputs(v))]
    times = con.sql(f"SELECT __ts FROM {entity} ORDER BY __row").to_arrow_table().column(0).to_numpy()
    by_time = np.argsort(times, kind="stable")
    sweeps = [_ViewSweep.start(con, entity, index, ViewPlan.of(v, columns), times, by_time) for index, v in enumerate(views)]
    if len(times):
        low, high = int(times.min()) - max(reach_us(v.view) for v in views), int(times.max())
        query = _event_query(sweeps, low=low, high=high, event_id=event_id, duplicates=duplicates)
        relations = scans(low, high)
        batches = (con.sql(query(scan)).to_arrow_table() for scan in relations)
        what = f"{views[0].view.source.name} events"
        # DuckDB reads the next batch while the views' sweeps (which release the GIL) fold this one.
        counter = itertools.count(1)
        with ThreadPoolExecutor(max_workers=len(sweeps) + 1) as pool:
            upcoming = pool.submit(next, batches, None)
            while (batch := upcoming.result()) is not None:
                upcoming = pool.submit(next, batches, None)
                event_times = integers(batch.column("__ts"))
                order = time_order(event_times, integers(batch.column("__seq")))
                values = _values(batch, columns)
                for done in [pool.submit(sweep.fold, batch, event_times, order, values) for sweep in sweeps]:
                    done.result()
                if progress is not None:
                    folded = next(counter)
                    progress(what, folded, len(relations))
    inverse = np.empty_like(by_time)
    inverse[by_time] = np.arange(len(by_time))
    result: dict[str, pa.Array] = {}
    for sweep in sweeps:
        result.update(sweep.finish(times, inverse))
        del sweep.state  # the totals per key and row are done with
    return result


@dataclass
class _ViewSweep:
    """One view's sweep: its state, how its events find their key, the values last / last_n keep."""

    index: int
    plan: ViewPlan
    state: SweepState
    key_table: str  # the rows' distinct keys and their index
    key_index: KeyIndex | None  # the same for integer keys, so events find theirs without a join
    kept: dict[str, list[pa.Array]] = field(default_factory=dict)

    @classmethod
    def start(cls, con: duckdb.DuckDBPyConnection, entity: str, index: int, plan: ViewPlan, times: I64, by_time: I64) -> _ViewSweep:
        table = f"__keys_{index}"
        keys = row_keys(con, entity, plan.selection.view.join_keys, table)
        state = SweepState.allocate(plan.spec, times[by_time], keys[by_time], int(keys.max()) + 1 if len(keys) else 0)
        kept: dict[str, list[pa.Array]] = {c: [] for c in plan.last_columns}
        return cls(index, plan, state, table, key_index(con, entity, plan.selection.view, table), kept)

    @property
    def key_column(self) -> str:
        return f"__k{self.index}"

    def fold(self, batch: pa.Table, times: I64, order: I64 | None, values: Values) -> None:
        keys = batch_keys(batch.column(self.key_column), self.key_index)
        self.state.feed(self.plan.spec, keys, times, *values, order=order)
        for column, chunks in self.kept.items():
            chunks.append(batch.column(_value(column)).combine_chunks())

    def finish(self, times: I64, inverse: I64) -> dict[str, pa.Array]:
        self.state.finish(self.plan.spec)
        return view_columns(self.plan, self.state, self.kept, times, inverse)


def batch_keys(column: pa.ChunkedArray, index: KeyIndex | None) -> I64:
    """Each row's key index from a batch's key column: joined in SQL already, or raw integer keys
    looked up in ``index``; -1 for a null key or one no entity row has."""
    keys = integers(column, null=-1)
    if index is None:
        return keys
    found = index.lookup(keys)
    return np.where(pc.is_valid(column).to_numpy(zero_copy_only=False), found, -1) if column.null_count else found


def row_keys(con: duckdb.DuckDBPyConnection, entity: str, join_keys: Sequence[str], table: str) -> I64:
    """Each row's key index (-1 where a key is null), and ``table``: the distinct keys and their index."""
    keys = ", ".join(q(k) for k in join_keys)
    not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in join_keys)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {keys}, (row_number() OVER () - 1)::BIGINT AS __k "
        f"FROM (SELECT DISTINCT {keys} FROM {entity} WHERE {not_null})"
    )
    on = " AND ".join(f"e.{q(k)} = k.{q(k)}" for k in join_keys)
    found = con.sql(f"SELECT k.__k FROM {entity} e LEFT JOIN {table} k ON {on} ORDER BY e.__row").to_arrow_table().column(0)
    result: I64 = pc.fill_null(found, -1).to_numpy().astype(np.int64)
    return result


def key_index(con: duckdb.DuckDBPyConnection, entity: str, view: FeatureView, table: str) -> KeyIndex | None:
    """For a view keyed by one integer column on both sides, the rows' keys as a hash table: events
    then find their key in numpy instead of a join in DuckDB (None: keys are joined in SQL)."""
    if len(view.join_keys) != 1 or view.source.columns.get(view.join_keys[0]) != Int64:
        return None
    key = q(view.join_keys[0])
    if str(con.sql(f"SELECT {key} FROM {entity}").types[0]) not in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT"):
        return None
    values = con.sql(f"SELECT {key} FROM {table} ORDER BY __k").to_arrow_table().column(0)
    return KeyIndex(values.to_numpy())


def _value(column: str) -> str:
    return f"__v_{column}"


def _event_query(
    sweeps: Sequence[_ViewSweep], *, low: int, high: int, event_id: str | None, duplicates: str | None
) -> Callable[[str], str]:
    """The events of one time batch (``{scan}``) any row can see: time, write, values and per view
    its key's index (joined to its key table) or, for a view with a :class:`KeyIndex`, the raw key."""
    plans = [sweep.plan for sweep in sweeps]
    key_tables = [None if sweep.key_index is not None else sweep.key_table for sweep in sweeps]
    columns = [c for c, _ in plans[0].columns]
    selected = ["src.__ts", "src.__seq"] + [f"src.{q(c)} AS {q(_value(c))}" for c in columns]
    joins = []
    for index, (plan, table) in enumerate(zip(plans, key_tables, strict=True)):
        if table is None:
            selected.append(f"src.{q(plan.selection.view.join_keys[0])} AS __k{index}")
            continue
        selected.append(f"k{index}.__k AS __k{index}")
        on = " AND ".join(f"k{index}.{q(k)} = src.{q(k)}" for k in plan.selection.view.join_keys)
        joins.append(f"LEFT JOIN {table} k{index} ON {on}")
    # Only events of the entity rows' keys leave DuckDB (a semi-join where keys are looked up later).
    wanted = [
        f"k{i}.__k IS NOT NULL"
        if table is not None
        else f"src.{q(plan.selection.view.join_keys[0])} IN (SELECT {q(plan.selection.view.join_keys[0])} FROM {sweep.key_table})"
        for i, (plan, table, sweep) in enumerate(zip(plans, key_tables, sweeps, strict=True))
    ]
    where = [f"src.__ts >= {low}", f"src.__ts < {high}", "(" + " OR ".join(wanted) + ")"]
    if event_id and duplicates:
        joins.append(f"LEFT JOIN {duplicates} d ON d.__id = src.{q(event_id)}")
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


def integers(column: pa.ChunkedArray, *, null: int = 0, out: I64 | None = None) -> I64:
    """A column as int64 values (nulls as ``null``), chunk by chunk into one writable array."""
    result = np.empty(len(column), dtype=np.int64) if out is None else out
    at = 0
    for chunk in column.chunks:
        if chunk.null_count:
            chunk = pc.fill_null(chunk, null)
        result[at : at + len(chunk)] = chunk.cast(pa.int64()).to_numpy(zero_copy_only=False)
        at += len(chunk)
    return result


def _values(batch: pa.Table, columns: Sequence[tuple[str, DType]]) -> Values:
    """Validity (C, events) and the integer (Ci, events) and float (Cf, events) values of a batch."""
    n = batch.num_rows
    valid = np.ones((len(columns), n), dtype=np.bool_)
    ints = np.empty((sum(t in INTEGER_VALUED for _, t in columns), n), dtype=np.int64)
    floats = np.empty((sum(t in FLOAT_VALUED for _, t in columns), n), dtype=np.float64)
    i = f = 0
    for c, (name, dtype) in enumerate(columns):
        column = batch.column(_value(name))
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
