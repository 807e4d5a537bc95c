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
from skewless.definitions.selection import FeatureSelection, ViewSelection
from skewless.definitions.source import BatchSource, StreamSource
from skewless.definitions.types import DType, Timestamp
from skewless.offline.duplicates import file_batches
from skewless.offline.entity_rows import TIMESTAMP_COLUMN
from skewless.offline.pit import duplicates_sql, source_relation_sql
from skewless.offline.row_keys import EntityRows
from skewless.offline.snapshots import snapshot_features
from skewless.offline.sql_text import q
from skewless.offline.tables import WRITE_SEQ
from skewless.offline.windowed import BatchProgress, Scans, windowed_features
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

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
        progress: BatchProgress | None = None,
    ) -> None:
        self.threads = threads
        self.memory_limit = memory_limit
        self.temp_directory = temp_directory
        self.progress = progress  # told after each batch of a source's rows (see skewless.offline.windowed)

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
        straight to a table: each batch of rows gets its on-demand features and ``finish``
        (naming, types) on its own; the view features are computed once for every row."""
        rows = entity_rows.append_column(ROW_COLUMN, pa.array(range(entity_rows.num_rows), type=pa.int64()))
        features = self.view_features(rows, selection, sources)
        for first in range(0, entity_rows.num_rows, batch_rows):
            part = entity_rows.slice(first, batch_rows)
            computed = features.slice(first, batch_rows)
            for name in computed.column_names[1:]:
                part = part.append_column(name, computed.column(name))
            yield from finish(on_demand_features(part, selection)).to_batches()

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
        per row); ``sources`` every source the views read (an absent one reads as empty).
        Each source is read once, in time order, for all its snapshot views
        (``skewless.offline.snapshots``) and once for all its aggregation views
        (``skewless.offline.windowed``). The Spark engine runs this on each of its buckets, so
        both engines execute the same code.
        """
        rows = rows.take(pc.sort_indices(rows.column(ROW_COLUMN)))
        con = self._connect()
        computed: dict[str, pa.Array] = {}
        try:
            con.register("__entity_input", rows)
            con.execute(f"CREATE TEMP VIEW __entity AS SELECT *, epoch_us({q(TIMESTAMP_COLUMN)}) AS __ts FROM __entity_input")
            entity = EntityRows(con, "__entity")
            for source, views in _views_by_source(selection):
                data = sources.get(source.name)
                if views[0].view.is_aggregation:
                    computed.update(self._windowed_features(con, entity, source, views, data))
                else:
                    computed.update(snapshot_features(con, entity, views, self._scans(con, source, data), self.progress))
        finally:
            con.close()
        names = [v.column(f) for v in selection.views for f in v.features]
        return pa.table({ROW_COLUMN: rows.column(ROW_COLUMN), **{name: computed[name] for name in names}})

    def _windowed_features(
        self,
        con: duckdb.DuckDBPyConnection,
        entity: EntityRows,
        source: BatchSource | StreamSource,
        views: list[ViewSelection],
        data: SourceData | None,
    ) -> dict[str, pa.Array]:
        duplicates = None
        if source.event_id_field and data is not None and (data.files or data.table is not None):
            duplicates = self._duplicates(con, source, data)
        scans = self._scans(con, source, data)
        return windowed_features(con, entity, views, scans, duplicates=duplicates, progress=self.progress)

    def _scans(self, con: duckdb.DuckDBPyConnection, source: BatchSource | StreamSource, data: SourceData | None) -> Scans:
        """``scans(low, high)``: relations of the source's rows in batches of files that follow each
        other in time, covering the rows in ``[low, high)`` (an in-memory table is one batch)."""

        def scans(low: int, high: int) -> list[str]:
            if data is None or not data.files:
                return [self._source(con, source, data)]
            return [
                source_relation_sql(source, _read_parquet(b)) for b in file_batches(data.files, source.timestamp_field, within=(low, high))
            ]

        return scans

    def _duplicates(self, con: duckdb.DuckDBPyConnection, source: BatchSource | StreamSource, data: SourceData) -> str:
        """A temp table of the ids written more than once and their first write. From files, it is
        built batch by batch of files no id crosses (see ``skewless.offline.duplicates``): many
        small aggregates that stay in cache instead of one over every event of the source."""
        event_id = source.event_id_field
        assert event_id is not None
        table = f"__duplicates_{source.name}"
        if not data.files:
            con.execute(f"CREATE TEMP TABLE {table} AS " + duplicates_sql(f"({self._source(con, source, data)})", event_id))
            return table
        for number, batch in enumerate(file_batches(data.files, event_id)):
            scan = f"(SELECT {q(event_id)}, {q(WRITE_SEQ)} AS __seq FROM {_read_parquet(batch)})"
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
            return source_relation_sql(source, _read_parquet(data.files))
        # No data yet: an empty relation of the right shape, so features come out as empty values.
        con.register(name, empty_source(source))
        return source_relation_sql(source, name)


def _views_by_source(selection: FeatureSelection) -> list[tuple[BatchSource | StreamSource, list[ViewSelection]]]:
    """The selected views by source and kind (snapshot or aggregation): each group shares one read."""
    groups: dict[tuple[str, bool], list[ViewSelection]] = {}
    for view_selection in selection.views:
        groups.setdefault((view_selection.view.source.name, view_selection.view.is_aggregation), []).append(view_selection)
    return [(chosen[0].view.source, chosen) for chosen in groups.values()]


def _read_parquet(files: Sequence[str]) -> str:
    return f"read_parquet([{', '.join(_literal(f) for f in files)}], union_by_name = true)"


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
