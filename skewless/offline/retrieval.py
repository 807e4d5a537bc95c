"""``get_historical_features``: entity rows in, the same rows with point-in-time features out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from skewless.definitions.catalog import Catalog
from skewless.definitions.selection import FeatureSelection, select_features
from skewless.definitions.service import FeatureService
from skewless.offline.duckdb_engine import SourceData
from skewless.offline.entity_rows import normalize_entity_rows
from skewless.offline.pit import selected_sources
from skewless.offline.tables import OfflineTables


class OfflineEngine(Protocol):
    """Computes the selected features for entity rows (internal column names), in row order."""

    def historical_features(self, entity_rows: pa.Table, selection: FeatureSelection, sources: dict[str, SourceData]) -> pa.Table: ...


def source_versions(tables: OfflineTables, selection: FeatureSelection) -> dict[str, int | None]:
    """The latest version of each source a selection reads (None: nothing written yet)."""
    return {source.name: tables.version(source.name) for source in selected_sources(selection)}


def source_data(
    tables: OfflineTables, selection: FeatureSelection, versions: Mapping[str, int | None] | None = None
) -> dict[str, SourceData]:
    """The active files of each source a selection reads, at the given versions (default: latest)."""
    pinned = source_versions(tables, selection) if versions is None else versions
    return {
        name: SourceData(files=tuple(tables.files(name, version)))
        for name, version in pinned.items()
        if version is not None  # absent sources read as empty
    }


def historical_features(
    catalog: Catalog,
    tables: OfflineTables,
    engine: OfflineEngine,
    entity_df: Any,
    features: Sequence[str] | FeatureService | str,
    *,
    full_feature_names: bool = False,
    versions: Mapping[str, int | None] | None = None,
) -> pa.Table:
    selection = select_features(catalog, features, full_feature_names=full_feature_names)
    rows = normalize_entity_rows(entity_df, selection)
    computed = engine.historical_features(rows, selection, source_data(tables, selection, versions))
    return finish(computed, selection, rows.column_names)


def finish(computed: pa.Table, selection: FeatureSelection, entity_columns: list[str]) -> pa.Table:
    """The caller's columns, then each requested feature under its output name and declared type."""
    arrays = [computed.column(c) for c in entity_columns]
    names = list(entity_columns)
    for output in selection.outputs:
        column = computed.column(output.internal)
        target = output.dtype.to_arrow()
        if column.type != target:
            column = pc.cast(column, target)
        arrays.append(column)
        names.append(output.name)
    return pa.Table.from_arrays(arrays, names=names)
