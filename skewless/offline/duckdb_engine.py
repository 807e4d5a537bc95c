"""Training sets on DuckDB: point-in-time SQL over the offline tables, then on-demand features."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from skewless.config import DuckDBConfig
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.selection import FeatureSelection
from skewless.definitions.source import BatchSource, StreamSource
from skewless.definitions.types import DType, Timestamp
from skewless.offline.duplicates import file_batches
from skewless.offline.entity_rows import TIMESTAMP_COLUMN
from skewless.offline.pit import duplicates_sql, point_in_time_sql, selected_sources, source_relation_sql
from skewless.offline.sql_text import q
from skewless.offline.tables import WRITE_SEQ
from skewless.transform.on_demand import apply_on_demand

ROW_COLUMN: Final = "__row"


@dataclass(frozen=True)
class SourceData:
    """A source's rows: Parquet files (a Delta table's active files) or an in-memory Arrow table."""

    files: tuple[str, ...] = ()
    table: pa.Table | None = None


class DuckDBEngine:
    """Training sets in-process. ``memory_limit`` (``12GB``, ``50%``) and ``temp_directory`` (where
    DuckDB spills past it) default to DuckDB's own: 80% of RAM, ``.tmp`` in the working directory."""

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None, temp_directory: str | None = None) -> None:
        self.threads = threads
        self.memory_limit = memory_limit
        self.temp_directory = temp_directory

    @classmethod
    def from_config(cls, config: DuckDBConfig, repo_path: str | Path) -> DuckDBEngine:
        """The engine ``offline_store.duckdb`` describes, with paths relative to ``repo_path``."""
        return cls(threads=config.threads, memory_limit=config.memory_limit, temp_directory=str(Path(repo_path) / config.temp_directory))

    def _connect(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        if self.threads:
            con.execute(f"SET threads = {int(self.threads)}")
        if self.memory_limit:
            con.execute(f"SET memory_limit = {_literal(self.memory_limit)}")
        if self.temp_directory:
            con.execute(f"SET temp_directory = {_literal(self.temp_directory)}")
        return con

    def historical_features(self, entity_rows: pa.Table, selection: FeatureSelection, sources: Mapping[str, SourceData]) -> pa.Table:
        """``entity_rows`` plus one column per selected feature (internal names), in row order."""
        rows = entity_rows.append_column(ROW_COLUMN, pa.array(range(entity_rows.num_rows), type=pa.int64()))
        features = self.view_features(rows, selection, sources)
        result = entity_rows
        for name in features.column_names[1:]:
            result = result.append_column(name, features.column(name))
        return on_demand_features(result, selection)

    def stream_historical_features(
        self,
        entity_rows: pa.Table,
        selection: FeatureSelection,
        sources: Mapping[str, SourceData],
        *,
        finish: Callable[[pa.Table], pa.Table],
        batch_rows: int = 1_000_000,
    ) -> Iterator[pa.RecordBatch]:
        """Like :meth:`historical_features`, batch by batch, so a result larger than memory can go
        straight to a table: DuckDB streams the joined rows in ``__row`` order, and each batch gets
        its slice of the caller's columns, its on-demand features and ``finish`` (naming, types)."""
        rows = entity_rows.append_column(ROW_COLUMN, pa.array(range(entity_rows.num_rows), type=pa.int64()))
        con = self._connect()
        try:
            sql = self._prepare(con, rows, selection, sources)
            reader = con.sql(sql).to_arrow_reader(batch_rows)
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                first = batch.column(0)[0].as_py()
                part = entity_rows.slice(first, batch.num_rows)
                for index, name in enumerate(batch.schema.names[1:], start=1):
                    part = part.append_column(name, batch.column(index))
                yield from finish(on_demand_features(part, selection)).to_batches()
        finally:
            con.close()

    def latest_rows(
        self, view: FeatureView, files: Sequence[str], *, start_us: int, end_us: int, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """The latest row per key of a snapshot view with event time in ``[start, end)``, ties
        broken as in training sets; columns: the join keys, the features and ``__ts``."""
        con = self._connect()
        try:
            relation = self._source(con, view.source, SourceData(files=tuple(files)))
            keys = ", ".join(q(k) for k in view.join_keys)
            columns = ", ".join(q(c) for c in (*view.join_keys, *view.feature_names))
            sql = (
                f"SELECT {columns}, __ts FROM ({relation}) src WHERE __ts >= {int(start_us)} AND __ts < {int(end_us)} "
                f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY __ts DESC, __created DESC NULLS LAST, __seq DESC) = 1"
            )
            yield from con.sql(sql).to_arrow_reader(batch_rows)
        finally:
            con.close()

    def distinct_keys(self, view: FeatureView, files: Sequence[str], *, start_us: int, end_us: int) -> pa.Table:
        """The key values with events in ``[start, end)``."""
        con = self._connect()
        try:
            relation = self._source(con, view.source, SourceData(files=tuple(files)))
            keys = ", ".join(q(k) for k in view.join_keys)
            not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in view.join_keys)
            return con.sql(
                f"SELECT DISTINCT {keys} FROM ({relation}) src WHERE __ts >= {int(start_us)} AND __ts < {int(end_us)} AND {not_null}"
            ).to_arrow_table()
        finally:
            con.close()

    def view_features(self, rows: pa.Table, selection: FeatureSelection, sources: Mapping[str, SourceData]) -> pa.Table:
        """``__row`` and the feature columns of ``selection.views`` for ``rows``, ordered by ``__row``.

        ``rows`` holds the join keys, ``event_timestamp`` and ``__row`` (any unique integer
        per row); ``sources`` every source the views read (an absent one reads as empty). The
        Spark engine runs this on each of its buckets, so both engines execute the same SQL.
        """
        con = self._connect()
        try:
            table = con.sql(self._prepare(con, rows, selection, sources, ordered=False)).to_arrow_table()
        finally:
            con.close()
        names, columns = table.column_names, list(table.columns)
        del table  # the columns list holds the only reference: each column is freed once sorted
        return _in_row_order(names, columns)

    def _prepare(
        self,
        con: duckdb.DuckDBPyConnection,
        rows: pa.Table,
        selection: FeatureSelection,
        sources: Mapping[str, SourceData],
        *,
        ordered: bool = True,
    ) -> str:
        """Register the entity rows and sources on ``con``; return the point-in-time query."""
        con.register("__entity_input", rows)
        con.execute(f"CREATE TEMP VIEW __entity AS SELECT *, epoch_us({q(TIMESTAMP_COLUMN)}) AS __ts FROM __entity_input")
        relations = {source.name: self._source(con, source, sources.get(source.name)) for source in selected_sources(selection)}
        duplicates = {}
        for source in {v.view.source.name: v.view.source for v in selection.views if v.view.is_aggregation}.values():
            data = sources.get(source.name)
            if source.event_id_field and data is not None and data.files:
                duplicates[source.name] = self._duplicates(con, source.name, source.event_id_field, data.files)
        return point_in_time_sql(selection, entity="__entity", sources=relations, duplicates=duplicates, ordered=ordered)

    @staticmethod
    def _duplicates(con: duckdb.DuckDBPyConnection, name: str, event_id: str, files: Sequence[str]) -> str:
        """A temp table of the ids written more than once and their first write, built batch by
        batch of files no id crosses (see ``skewless.offline.duplicates``): many small aggregates
        that stay in cache instead of one over every event of the source."""
        table = f"__duplicates_{name}"
        for number, batch in enumerate(file_batches(files, event_id)):
            listed = ", ".join(_literal(f) for f in batch)
            scan = f"(SELECT {q(event_id)}, {q(WRITE_SEQ)} AS __seq FROM read_parquet([{listed}], union_by_name = true))"
            prefix = f"CREATE TEMP TABLE {table} AS " if number == 0 else f"INSERT INTO {table} "
            con.execute(prefix + duplicates_sql(scan, event_id))
        return table

    @staticmethod
    def _source(con: duckdb.DuckDBPyConnection, source: BatchSource | StreamSource, data: SourceData | None) -> str:
        name = f"__source_{source.name}"
        if data is not None and data.table is not None:
            con.register(name, data.table)
            return source_relation_sql(source, name)
        if data is not None and data.files:
            files = ", ".join("'" + f.replace("'", "''") + "'" for f in data.files)
            return source_relation_sql(source, f"read_parquet([{files}], union_by_name = true)")
        # No data yet: an empty relation of the right shape, so features come out as empty values.
        con.register(name, empty_source(source))
        return source_relation_sql(source, name)


def _in_row_order(names: list[str], columns: list[pa.ChunkedArray]) -> pa.Table:
    """The columns sorted by ``__row``, one at a time, each replaced in ``columns`` by its sorted
    copy (so a large result is never held twice): cheaper than sorting every column in SQL."""
    order = pc.sort_indices(columns[names.index(ROW_COLUMN)])
    for index in range(len(columns)):
        columns[index] = columns[index].take(order)
    return pa.Table.from_arrays(columns, names=names)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def empty_source(source: BatchSource | StreamSource) -> pa.Table:
    """A source's columns and ``_write_seq``, with no rows."""
    return pa.table({**{c: pa.array([], type=t.to_arrow()) for c, t in source.columns.items()}, "_write_seq": pa.array([], pa.int64())})


def on_demand_features(table: pa.Table, selection: FeatureSelection) -> pa.Table:
    """``table`` (entity rows and view features, internal names) plus the on-demand feature columns."""
    for odfv in selection.on_demand:
        inputs: dict[str, tuple[pa.ChunkedArray, DType]] = {TIMESTAMP_COLUMN: (table.column(TIMESTAMP_COLUMN), Timestamp)}
        for source in odfv.view.request_sources:
            inputs.update({f.name: (table.column(f.name), f.dtype) for f in source.schema})
        inputs.update({i.name: (table.column(i.internal), i.dtype) for i in odfv.inputs})
        outputs = apply_on_demand(odfv.view, inputs, rows=table.num_rows, features=odfv.features)
        for feature, column in outputs.items():
            table = table.append_column(odfv.column(feature), column)
    return table
