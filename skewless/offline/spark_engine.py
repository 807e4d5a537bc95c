"""Training sets on Spark: the DuckDB engine's code, run on buckets of join keys across a cluster.

Every point-in-time computation partitions by a view's join keys. So, for each group of views
that read one source by the same keys, the entity rows and the source rows are hashed into
``partitions`` buckets by those keys (default: ``spark.sql.shuffle.partitions``), Spark shuffles
both sides so that each bucket meets in one task, and the task runs
:meth:`DuckDBEngine.view_features` on the bucket's Arrow rows: the very sweeps of
:mod:`skewless.offline.snapshots` and :mod:`skewless.offline.windowed`, not a second
implementation. The
per-group results are joined back to the entity rows on ``__row`` in Spark, and on-demand
features run on each Arrow batch of the joined rows (``mapInArrow``).

No source row passes through the driver. :meth:`SparkEngine.historical_features` collects only
its result (the ``get_historical_features`` API returns a DataFrame);
:meth:`SparkEngine.write_historical_features` writes Parquet from the executors instead.

Assumptions:

- Every copy of an event (one event id) carries the same join keys, as re-deliveries of one
  event do. Each bucket keeps an event id's first write among the rows it holds, which is
  DuckDB's global de-duplication exactly when the copies share their keys, so share a bucket.
- Executors can import skewless and its dependencies (local mode uses this interpreter).
  On-demand functions travel by value, like the registry stores them.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, Final

import pyarrow as pa

from skewless.definitions.on_demand import OnDemandFeatureView
from skewless.definitions.selection import FeatureSelection, OnDemandSelection, ViewSelection
from skewless.definitions.source import BatchSource, StreamSource
from skewless.errors import ConfigError
from skewless.offline.duckdb_engine import ROW_COLUMN, DuckDBEngine, SourceData, empty_source, on_demand_features
from skewless.offline.entity_rows import TIMESTAMP_COLUMN
from skewless.offline.retrieval import finish
from skewless.offline.tables import WRITE_SEQ

BUCKET: Final = "__bucket"
INSTALL_HINT: Final = "pip install 'skewless[spark]' (and a Java 17+ runtime), or set offline_store.engine: duckdb"


def require_pyspark() -> None:
    """Raise :class:`ConfigError` naming the extra to install when pyspark is missing."""
    if importlib.util.find_spec("pyspark") is None:
        raise ConfigError("offline_store.engine 'spark' needs pyspark, which is not installed", hint=INSTALL_HINT)


def local_session(*, cores: int = 2, shuffle_partitions: int = 4, driver_memory: str = "1g") -> Any:
    """A local SparkSession (or the active one) set up as the engine expects: UTC, Arrow on."""
    require_pyspark()
    from pyspark.sql import SparkSession

    # Python workers run this interpreter, which has skewless and its dependencies.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(f"local[{cores}]").appName("skewless")
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.driver.memory": driver_memory,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class SparkEngine:
    """``SparkEngine(spark)``: the DuckDB engine's semantics, distributed by Spark (see the module).

    Args:
        spark: a SparkSession; without one, the active session, or else :func:`local_session`.
        partitions: how many buckets the rows of each view are hashed into (at least 1);
            default ``spark.sql.shuffle.partitions``. Each bucket's rows must fit in one task.
    """

    def __init__(self, spark: Any = None, *, partitions: int | None = None) -> None:
        require_pyspark()
        if partitions is not None and partitions < 1:
            raise ConfigError(f"SparkEngine partitions must be at least 1, got {partitions}")
        self._spark = spark
        self.partitions = partitions
        # The bucketed per-group results of the last call, by group name (tests check their partitions).
        self.view_frames: dict[str, Any] = {}

    @property
    def spark(self) -> Any:
        """The session given, else the active one (e.g. under spark-submit), else a local one."""
        if self._spark is None:
            from pyspark.errors import PySparkRuntimeError
            from pyspark.sql import SparkSession

            try:
                self._spark = SparkSession.active()
            except PySparkRuntimeError:
                self._spark = local_session()
        return self._spark

    def historical_features(self, entity_rows: pa.Table, selection: FeatureSelection, sources: Mapping[str, SourceData]) -> pa.Table:
        """``entity_rows`` plus one column per selected feature (internal names), in row order."""
        needed = [TIMESTAMP_COLUMN, *selection.join_keys, *selection.request_fields]
        frame = self._with_on_demand(self._features(entity_rows.select(list(dict.fromkeys(needed))), selection, sources), selection)
        columns = [ROW_COLUMN, *[c for c in frame.columns if c not in needed and c != ROW_COLUMN]]
        computed = frame.select(*columns).toArrow().sort_by(ROW_COLUMN)  # the result, to the caller
        result = entity_rows
        for name in columns[1:]:
            result = result.append_column(name, computed.column(name))
        return result

    def write_historical_features(
        self, entity_rows: pa.Table, selection: FeatureSelection, sources: Mapping[str, SourceData], path: str, *, mode: str = "error"
    ) -> None:
        """Write the finished training set (as ``get_historical_features`` returns it) as Parquet at ``path``.

        Rows keep their order across the files; ``mode`` is Spark's save mode (``error``, ``overwrite``).
        """
        frame = self._features(entity_rows, selection, sources).orderBy(ROW_COLUMN)
        entity_columns = entity_rows.column_names
        portable = _portable(selection)

        def finished(table: pa.Table) -> pa.Table:
            chosen = portable()
            return finish(on_demand_features(table, chosen), chosen, entity_columns)

        outputs = [pa.field(o.name, o.dtype.to_arrow()) for o in selection.outputs]
        arrow = [pa.field(f.name, f.type) for f in self._arrow_schema(frame.schema) if f.name in entity_columns]
        result = _map_arrow(frame, finished, self._spark_schema(pa.schema(arrow + outputs)))
        conf, key = self.spark.conf, "spark.sql.parquet.outputTimestampType"
        previous = conf.get(key)
        conf.set(key, "TIMESTAMP_MICROS")  # UTC instants in microseconds, not the legacy INT96
        try:
            result.write.mode(mode).parquet(path)
        finally:
            conf.set(key, previous)

    # -- the distributed plan ----------------------------------------------------------------------

    def _features(self, entity_rows: pa.Table, selection: FeatureSelection, sources: Mapping[str, SourceData]) -> Any:
        """The entity rows with ``__row`` and every view feature column, as a Spark DataFrame."""
        rows = entity_rows.append_column(ROW_COLUMN, pa.array(range(entity_rows.num_rows), type=pa.int64()))
        entity = self.spark.createDataFrame(rows)
        buckets = self.partitions or int(self.spark.conf.get("spark.sql.shuffle.partitions"))
        self.view_frames = {}
        frame = entity
        for group in _groups(selection):
            computed = self._bucketed(entity, group, sources, buckets)
            self.view_frames["+".join(v.internal_prefix for v in group.views)] = computed
            frame = frame.join(computed, on=ROW_COLUMN, how="left")
        return frame

    def _bucketed(self, entity: Any, group: FeatureSelection, sources: Mapping[str, SourceData], buckets: int) -> Any:
        """``__row`` and the group's feature columns: each bucket of keys computed by DuckDB."""
        from pyspark.sql import functions as F

        source = group.views[0].view.source
        keys = list(group.views[0].view.join_keys)
        key_types = {f.name: f.dataType for f in entity.schema.fields if f.name in keys}

        def bucketed(frame: Any) -> Any:
            return frame.withColumn(BUCKET, F.pmod(F.hash(*[F.col(k).cast(key_types[k]) for k in keys]), F.lit(buckets)))

        labels = bucketed(entity.select(*keys, TIMESTAMP_COLUMN, ROW_COLUMN))
        events = bucketed(self._source(source, sources.get(source.name)))
        duckdb = DuckDBEngine(threads=1)  # one per task: Spark runs the tasks in parallel
        empty = duckdb.view_features(
            self._arrow_schema(labels.schema).empty_table(),
            group,
            {source.name: SourceData(table=self._arrow_schema(events.schema).empty_table())},
        )
        schema = self._spark_schema(empty.schema)
        target = self._arrow_schema(schema)

        def compute(rows: pa.Table, source_rows: pa.Table) -> pa.Table:
            if rows.num_rows == 0:
                return target.empty_table()
            return duckdb.view_features(rows, group, {source.name: SourceData(table=source_rows)}).cast(target)

        return labels.groupBy(BUCKET).cogroup(events.groupBy(BUCKET)).applyInArrow(compute, schema)

    def _source(self, source: BatchSource | StreamSource, data: SourceData | None) -> Any:
        """The columns the point-in-time sweeps read of a source, as a Spark DataFrame."""
        if data is not None and data.table is not None:
            frame = self.spark.createDataFrame(data.table)
        elif data is not None and data.files:
            # A Delta table's active files; columns added by later writes read as null in older files.
            frame = self.spark.read.option("mergeSchema", "true").parquet(*data.files)
        else:
            frame = self.spark.createDataFrame(empty_source(source))
        return frame.select(*source.columns, WRITE_SEQ)

    def _with_on_demand(self, frame: Any, selection: FeatureSelection) -> Any:
        if not selection.on_demand:
            return frame
        added = []
        for odfv in selection.on_demand:
            types = {f.name: f.dtype for f in odfv.view.schema}
            added += [pa.field(odfv.column(feature), types[feature].to_arrow()) for feature in odfv.features]
        portable = _portable(selection)
        schema = self._spark_schema(pa.schema([*self._arrow_schema(frame.schema), *added]))
        return _map_arrow(frame, lambda table: on_demand_features(table, portable()), schema)

    # -- types ---------------------------------------------------------------------------------------

    def _arrow_schema(self, schema: Any) -> pa.Schema:
        from pyspark.sql.pandas.types import to_arrow_schema

        return to_arrow_schema(schema, timezone=self.spark.conf.get("spark.sql.session.timeZone"))

    @staticmethod
    def _spark_schema(schema: pa.Schema) -> Any:
        from pyspark.sql.pandas.types import from_arrow_type
        from pyspark.sql.types import StructField, StructType

        return StructType([StructField(f.name, from_arrow_type(f.type, prefer_timestamp_ntz=False), True) for f in schema])


def _groups(selection: FeatureSelection) -> list[FeatureSelection]:
    """One selection per (source, join keys): the views one shuffle serves."""
    groups: dict[tuple[str, tuple[str, ...]], list[ViewSelection]] = {}
    for view_selection in selection.views:
        view = view_selection.view
        groups.setdefault((view.source.name, tuple(view.join_keys)), []).append(view_selection)
    return [replace(selection, views=tuple(views), on_demand=(), outputs=()) for views in groups.values()]


def _portable(selection: FeatureSelection) -> Callable[[], FeatureSelection]:
    """``selection``, rebuilt on an executor, with on-demand functions shipped by value.

    Spark pickles functions by reference to their module, which executors may not be able to
    import (a feature repo's file); the registry's spec pickles them by value instead.
    """
    shipped = [(o.view.to_spec(), {s.name: s for s in o.view.request_sources}, o.features, o.inputs) for o in selection.on_demand]
    bare = replace(selection, on_demand=())
    rebuilt: list[FeatureSelection] = []

    def rebuild() -> FeatureSelection:
        if not rebuilt:
            on_demand = tuple(
                OnDemandSelection(OnDemandFeatureView.from_spec(spec, request_sources=requests), features, inputs)
                for spec, requests, features, inputs in shipped
            )
            rebuilt.append(replace(bare, on_demand=on_demand))
        return rebuilt[0]

    return rebuild


def _map_arrow(frame: Any, function: Callable[[pa.Table], pa.Table], schema: Any) -> Any:
    """``function`` applied to each Arrow batch of ``frame`` on the executors, cast to ``schema``."""
    from pyspark.sql.pandas.types import to_arrow_schema

    timezone = frame.sparkSession.conf.get("spark.sql.session.timeZone")
    target = to_arrow_schema(schema, timezone=timezone)

    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield from function(pa.Table.from_batches([batch])).select(target.names).cast(target).to_batches()

    return frame.mapInArrow(apply, schema)
