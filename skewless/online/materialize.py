"""Loading the online store from the offline store: the latest row per key of snapshot views.

The latest row per key with event time in ``[start, end)`` (ties as offline: created time, then
write order). Windowed views are not rows: their tiles come from the stream and from
:mod:`skewless.streaming.backfill`, which ``FeatureStore.materialize`` runs for them. Writes are
idempotent, and the watermark in the registry only moves once a view is fully written, so a run
killed midway is simply run again and ends in the same state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
from rich.progress import Progress

from skewless.definitions.catalog import Catalog
from skewless.definitions.feature_view import FeatureView
from skewless.offline.duckdb_engine import DuckDBEngine
from skewless.offline.tables import OfflineTables
from skewless.online.keys import entity_keys
from skewless.online.protocol import OnlineStore
from skewless.online.read_plan import codec_for
from skewless.registry.registry import Registry

RECORD_KIND = "materialization"
BATCH_ROWS = 5_000


@dataclass(frozen=True)
class MaterializeResult:
    view: str
    rows: int
    start_us: int
    end_us: int


def watermark_us(registry: Registry, view: FeatureView) -> int | None:
    record = registry.store.get_record(registry.project, RECORD_KIND, f"{view.name}@v{view.version}")
    return None if record is None else int(record.payload["until_us"])


def materialize_view(
    view: FeatureView,
    *,
    project: str,
    catalog: Catalog,
    tables: OfflineTables,
    online: OnlineStore,
    registry: Registry,
    start_us: int,
    end_us: int,
    progress: Progress | None = None,
) -> MaterializeResult:
    prefix, codec = codec_for(project, view)
    batches = _latest_rows(view, tables, start_us, end_us)
    task = progress.add_task(f"{view.name}@v{view.version}", total=None) if progress else None
    written = 0
    keys, features = view.join_keys, view.feature_names
    for batch in batches:
        columns = batch.to_pydict()
        times = columns["__ts"]
        values = zip(*(columns[f] for f in features), strict=True)
        items = [(key, codec.encode(ts, row)) for key, ts, row in zip(entity_keys(prefix, keys, columns), times, values, strict=True)]
        online.put_many(items, ttl_seconds=view.ttl_seconds)
        written += len(items)
        if progress is not None and task is not None:
            progress.update(task, advance=len(items))
    registry.store.put_record(registry.project, RECORD_KIND, f"{view.name}@v{view.version}", {"until_us": end_us, "rows": written})
    return MaterializeResult(f"{view.name}@v{view.version}", written, start_us, end_us)


def _latest_rows(view: FeatureView, tables: OfflineTables, start_us: int, end_us: int) -> Iterator[pa.RecordBatch]:
    if tables.version(view.source.name) is None:
        return iter(())
    return DuckDBEngine().latest_rows(view, tables.files(view.source.name), start_us=start_us, end_us=end_us, batch_rows=BATCH_ROWS)


def to_us(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def online_views(catalog: Catalog, names: Sequence[str] | None = None) -> list[FeatureView]:
    """The latest version of each online view (or of the named ones)."""
    views = [v for v in catalog.feature_views() if v.online]
    latest = {v.name: v for v in sorted(views, key=lambda v: v.version)}
    if names is None:
        return list(latest.values())
    return [catalog.view(n) for n in names]  # type: ignore[misc]
