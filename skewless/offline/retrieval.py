"""``get_historical_features``: entity rows in, the same rows with point-in-time features out."""

from __future__ import annotations

from collections.abc import Sequence
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


def source_data(tables: OfflineTables, selection: FeatureSelection, versions: dict[str, int] | None = None) -> dict[str, SourceData]:
    """The active files of each source a selection reads, at the latest (or a pinned) version."""
    data = {}
    for source in selected_sources(selection):
        version = (versions or {}).get(source.name)
        if version is None and tables.version(source.name) is None:
            continue  # nothing written yet: the engine reads an empty source
        data[source.name] = SourceData(files=tuple(tables.files(source.name, version)))
    return data


def historical_features(
    catalog: Catalog,
    tables: OfflineTables,
    engine: OfflineEngine,
    entity_df: Any,
    features: Sequence[str] | FeatureService | str,
    *,
    full_feature_names: bool = False,
    versions: dict[str, int] | None = None,
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
