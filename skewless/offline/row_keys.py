"""The entity rows of one training-set call as the sweeps see them: by time, with their keys indexed.

Every view of a call probes the same rows, so their times are sorted once, and their distinct
keys are indexed once per set of join keys (a user view of events and a user profile view share
it). A source's rows find their key's index in SQL (a join to the keys' temp table) or, for one
integer key, in numpy (:class:`KeyIndex`); either way only rows of the entity rows' keys leave
DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.definitions.source import BatchSource, StreamSource
from skewless.definitions.types import Int64
from skewless.offline.key_index import KeyIndex
from skewless.offline.sql_text import q
from skewless.offline.window_sweep import I64


@dataclass(frozen=True)
class RowKeys:
    """The entity rows' distinct values of some join keys, each with an index ``0..count-1``."""

    join_keys: tuple[str, ...]
    table: str  # temp table: the key columns and ``__k``
    indexes: I64  # each row's key index (-1 where a key is null), rows in time order
    count: int
    lookup: KeyIndex | None  # for one integer key: the same index as a hash table

    def looked_up(self, source: BatchSource | StreamSource) -> bool:
        """Whether ``source``'s rows find their key in numpy (an integer key on both sides)."""
        return self.lookup is not None and source.columns.get(self.join_keys[0]) == Int64

    def sql(self, alias: str, source: BatchSource | StreamSource) -> tuple[str, str | None, str]:
        """Over a source relation ``src``: the expression selected as ``alias`` (the key's index, or
        the raw key to look up), the join it needs (or None), and the test that a row has a key."""
        if self.looked_up(source):
            key = q(self.join_keys[0])
            return f"src.{key} AS {alias}", None, f"src.{key} IN (SELECT {key} FROM {self.table})"
        joined = f"j{alias}"
        on = " AND ".join(f"{joined}.{q(k)} = src.{q(k)}" for k in self.join_keys)
        return f"{joined}.__k AS {alias}", f"LEFT JOIN {self.table} {joined} ON {on}", f"{joined}.__k IS NOT NULL"

    def of_batch(self, column: pa.ChunkedArray, source: BatchSource | StreamSource) -> I64:
        """Each source row's key index from the column :meth:`sql` selected; -1 for a null key or
        one no entity row has."""
        keys = integers(column, null=-1)
        if not self.looked_up(source):
            return keys
        assert self.lookup is not None
        found = self.lookup.lookup(keys)
        return np.where(pc.is_valid(column).to_numpy(zero_copy_only=False), found, -1) if column.null_count else found


class EntityRows:
    """The relation ``entity`` (``__row`` in order, join keys, ``__ts``) sorted by time once, and
    its keys indexed once per set of join keys."""

    def __init__(self, con: duckdb.DuckDBPyConnection, entity: str) -> None:
        self.con, self.entity = con, entity
        self.times: I64 = con.sql(f"SELECT __ts FROM {entity} ORDER BY __row").to_arrow_table().column(0).to_numpy()
        self.by_time = np.argsort(self.times, kind="stable")
        self.inverse = np.empty_like(self.by_time)  # row i is the inverse[i]-th by time
        self.inverse[self.by_time] = np.arange(len(self.by_time))
        self._keys: dict[tuple[str, ...], RowKeys] = {}

    @property
    def sorted_times(self) -> I64:
        return self.times[self.by_time]  # type: ignore[no-any-return]

    def keys(self, join_keys: Sequence[str]) -> RowKeys:
        found = self._keys.get(tuple(join_keys))
        if found is None:
            found = self._keys[tuple(join_keys)] = self._index(tuple(join_keys))
        return found

    def _index(self, join_keys: tuple[str, ...]) -> RowKeys:
        con, entity = self.con, self.entity
        table = f"__keys_{len(self._keys)}"
        keys = ", ".join(q(k) for k in join_keys)
        not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in join_keys)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {keys}, (row_number() OVER () - 1)::BIGINT AS __k "
            f"FROM (SELECT DISTINCT {keys} FROM {entity} WHERE {not_null})"
        )
        on = " AND ".join(f"e.{q(k)} = k.{q(k)}" for k in join_keys)
        found = con.sql(f"SELECT k.__k FROM {entity} e LEFT JOIN {table} k ON {on} ORDER BY e.__row").to_arrow_table().column(0)
        indexes = pc.fill_null(found, -1).to_numpy().astype(np.int64)
        count = int(indexes.max()) + 1 if len(indexes) else 0
        lookup = None
        if len(join_keys) == 1 and str(con.sql(f"SELECT {q(join_keys[0])} FROM {entity}").types[0]) in (
            "BIGINT",
            "INTEGER",
            "SMALLINT",
            "TINYINT",
        ):
            values = con.sql(f"SELECT {q(join_keys[0])} FROM {table} ORDER BY __k").to_arrow_table().column(0)
            lookup = KeyIndex(values.to_numpy())
        return RowKeys(join_keys, table, indexes[self.by_time], count, lookup)


def key_sql(keys: Sequence[RowKeys], source: BatchSource | StreamSource) -> tuple[list[str], list[str], str]:
    """For views reading ``source`` with these keys: the selected key columns (``__k0``, ``__k1``,
    ...), the joins they need, and the test that a row has some view's key."""
    terms = [k.sql(f"__k{i}", source) for i, k in enumerate(keys)]
    joins = [join for _, join, _ in terms if join is not None]
    return [selected for selected, _, _ in terms], joins, "(" + " OR ".join(wanted for _, _, wanted in terms) + ")"


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
