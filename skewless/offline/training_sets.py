"""Reproducible training sets: the result as a table, and a registry record to rebuild it exactly.

A record pins everything the values depend on: the definitions (specs, on-demand code
included) of every view read, the Delta version of every source table, and the entity rows
themselves (stored beside the result). Rebuilding later reads those versions, so data appended
since, even late rows with old timestamps, and definitions changed since, cannot change it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

from skewless.definitions.catalog import Catalog, collect
from skewless.definitions.selection import select_features
from skewless.definitions.service import FeatureService
from skewless.definitions.spec import objects_from_specs
from skewless.errors import NotFoundError, OfflineStoreError
from skewless.offline.entity_rows import TIMESTAMP_COLUMN, normalize_entity_rows
from skewless.offline.progress import batch_progress
from skewless.offline.retrieval import OfflineEngine, finish, source_data, source_versions
from skewless.offline.tables import OfflineTables
from skewless.registry.registry import Registry

RECORD_KIND = "training_set"
_ROW = "_row"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TrainingSet:
    name: str
    path: Path
    record: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.record["rows"])

    def to_arrow(self) -> pa.Table:
        return _read_ordered(self.path / "data")

    def to_df(self) -> Any:
        return self.to_arrow().to_pandas()


class TrainingSets:
    def __init__(self, tables: OfflineTables, registry: Registry, engine: OfflineEngine) -> None:
        self.tables, self.registry, self.engine = tables, registry, engine

    def create(
        self,
        name: str,
        entity_df: Any,
        features: Sequence[str] | FeatureService | str,
        *,
        full_feature_names: bool = False,
        overwrite: bool = False,
        progress: bool = False,
    ) -> TrainingSet:
        """``progress``: a bar per source read, for engines that report batches (DuckDB's)."""
        with batch_progress(progress and hasattr(self.engine, "progress")) as report:
            if report is None:
                return self._create(name, entity_df, features, full_feature_names=full_feature_names, overwrite=overwrite)
            self.engine.progress = report  # type: ignore[attr-defined]
            try:
                return self._create(name, entity_df, features, full_feature_names=full_feature_names, overwrite=overwrite)
            finally:
                self.engine.progress = None  # type: ignore[attr-defined]

    def _create(
        self, name: str, entity_df: Any, features: Sequence[str] | FeatureService | str, *, full_feature_names: bool, overwrite: bool
    ) -> TrainingSet:
        if not _NAME.match(name):
            raise OfflineStoreError(f"training set name {name!r} is not an identifier", hint="e.g. 'ranker_2026_03'")
        if not overwrite and self.registry.store.get_record(self.registry.project, RECORD_KIND, name) is not None:
            raise OfflineStoreError(f"training set {name!r} exists", hint="choose another name or pass overwrite=True")
        catalog = self.registry.snapshot().catalog
        selection = select_features(catalog, features, full_feature_names=full_feature_names)
        rows = normalize_entity_rows(entity_df, selection)
        versions = source_versions(self.tables, selection)
        data = source_data(self.tables, selection, versions)
        path = _path(self.tables, name)
        _write_ordered(path / "entities", rows.to_batches(), overwrite=overwrite)
        stream = getattr(self.engine, "stream_historical_features", None)
        if stream is not None:  # large results go straight to the table, batch by batch
            batches = stream(rows, selection, data, finish=lambda t: finish(t, selection, rows.column_names))
        else:
            batches = finish(self.engine.historical_features(rows, selection, data), selection, rows.column_names).to_batches()
        result_rows = _write_ordered(path / "data", batches, overwrite=overwrite)
        used = collect([v.view for v in selection.views] + [o.view for o in selection.on_demand], [])
        times = rows.column(TIMESTAMP_COLUMN)
        record = {
            "features": [str(o.ref) for o in selection.outputs],
            "full_feature_names": full_feature_names,
            "definitions": [[key.kind, obj.to_spec()] for key, obj in sorted(used.items())],
            "source_versions": versions,
            "entity_rows_version": DeltaTable(str(path / "entities")).version(),
            "time_range": [_iso(pc.min(times).as_py()), _iso(pc.max(times).as_py())],
            "rows": result_rows,
            "registry_revision": self.registry.snapshot().revision,
            "created_at": datetime.now(UTC).isoformat(),
        }
        self.registry.store.put_record(self.registry.project, RECORD_KIND, name, record)
        return TrainingSet(name, path, record)

    def get(self, name: str) -> TrainingSet:
        record = self.registry.store.get_record(self.registry.project, RECORD_KIND, name)
        if record is None:
            names = [r.name for r in self.registry.store.list_records(self.registry.project, RECORD_KIND)]
            raise NotFoundError(f"no training set named {name!r}", hint=f"known: {', '.join(names) or 'none yet'}")
        return TrainingSet(name, _path(self.tables, name), record.payload)

    def list(self) -> list[TrainingSet]:
        records = self.registry.store.list_records(self.registry.project, RECORD_KIND)
        return [TrainingSet(r.name, _path(self.tables, r.name), r.payload) for r in records]

    def rebuild(self, name: str) -> pa.Table:
        """Recompute a training set from its record alone: same definitions, same source versions."""
        stored = self.get(name)
        record = stored.record
        catalog = Catalog.build(objects_from_specs((kind, spec) for kind, spec in record["definitions"]))
        selection = select_features(catalog, record["features"], full_feature_names=record["full_feature_names"])
        rows = _read_ordered(stored.path / "entities", version=record["entity_rows_version"])
        computed = self.engine.historical_features(rows, selection, source_data(self.tables, selection, record["source_versions"]))
        return finish(computed, selection, rows.column_names)


def _write_ordered(path: Path, batches: Iterable[pa.RecordBatch], *, overwrite: bool) -> int:
    """Write batches as one Delta commit, storing the row order (Delta keeps none across files)."""
    written = 0

    def storable() -> Iterator[pa.RecordBatch]:
        nonlocal written
        for batch in batches:
            columns = [pc.cast(c, pa.list_(c.type.value_type)) if pa.types.is_fixed_size_list(c.type) else c for c in batch.columns]
            columns.append(pa.array(range(written, written + batch.num_rows), pa.int64()))
            written += batch.num_rows
            yield pa.RecordBatch.from_arrays(columns, names=[*batch.schema.names, _ROW])

    stream = storable()
    first = next(stream, None)
    if first is None:
        raise OfflineStoreError("a training set needs at least one entity row", hint="pass a non-empty entity_df")
    reader = pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], stream))
    write_deltalake(str(path), reader, mode="overwrite" if overwrite else "error")
    return written


def _read_ordered(path: Path, *, version: int | None = None) -> pa.Table:
    table = DeltaTable(str(path), version=version).to_pyarrow_table()
    table = table.sort_by(_ROW)
    return table.drop_columns([_ROW])


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _path(tables: OfflineTables, name: str) -> Path:
    # 'training-sets' cannot collide with a source's table: source names are identifiers.
    return tables.root / "training-sets" / name
