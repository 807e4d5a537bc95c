"""Writing rows of a registered source: from memory (``FeatureStore.write_to_offline_store``) or a file.

:func:`ingest_file` reads a Parquet or CSV file in batches twice: first it validates every
batch (a bad row near the end writes nothing and is reported with its row number in the file),
then it streams the rows into one Delta commit, so memory stays bounded by the batch size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pyarrow as pa
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from skewless.definitions.catalog import Catalog
from skewless.definitions.source import BatchSource, Source, StreamSource
from skewless.errors import DataValidationError, DefinitionError, OfflineStoreError
from skewless.offline.report import MergedReport
from skewless.offline.validate import validate_rows

if TYPE_CHECKING:
    from skewless.store import FeatureStore

FILE_FORMATS: Final = (".parquet", ".pq", ".csv")


@dataclass(frozen=True)
class IngestResult:
    source: str
    path: Path
    rows: int
    version: int
    seconds: float


def resolve_write_target(catalog: Catalog, source: str | Source) -> tuple[BatchSource | StreamSource, tuple[str, ...]]:
    """The registered source to write, and the join keys of the entities of the views reading it.

    A source object is only accepted if it is the registered one (same spec): the offline table
    must follow the registry.
    """
    name = source if isinstance(source, str) else source.name
    registered = catalog.source(name)
    if not isinstance(registered, BatchSource | StreamSource):
        raise OfflineStoreError(
            f"source {name!r} is a request source: its values arrive with each request and are not stored",
            hint="write rows of a BatchSource or StreamSource",
        )
    if not isinstance(source, str) and source.comparable_spec() != registered.comparable_spec():
        raise DefinitionError(
            f"source {name!r} differs from the registered definition",
            hint="apply the change first (`skewless apply` or store.apply()), then write",
        )
    keys = [
        key
        for view in catalog.feature_views()
        if view.source.name == name
        for entity in view.entities
        if not isinstance(entity, str)
        for key in entity.join_keys
    ]
    return registered, tuple(dict.fromkeys(keys))


def ingest_file(
    store: FeatureStore, source_name: str, path: str | Path, *, batch_rows: int = 1_000_000, progress: bool = True
) -> IngestResult:
    """Validate all of a Parquet or CSV file, then write it to the source's table in one commit.

    Row numbers in a :class:`DataValidationError` count the file's data rows from 0.
    """
    started = time.perf_counter()
    path = Path(path)
    source, keys = resolve_write_target(store.registry.snapshot().catalog, source_name)
    file = _FileBatches(path, source, batch_rows)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        disable=not progress,
        transient=False,
    ) as bar:
        task = bar.add_task(f"validating {path.name}", total=file.total)
        report = MergedReport(source.name)
        offset = 0
        for table in file.read(lambda done: bar.update(task, completed=done)):
            try:
                validate_rows(source, table, key_columns=keys, row_offset=offset)
            except DataValidationError as exc:
                if not exc.invalid_rows:
                    raise  # a column is missing or unknown: every batch would say the same
                report.add(exc)
            offset += table.num_rows
        report.raise_if_any(total_rows=offset)
        task = bar.add_task(f"writing {offset:,} rows to {source.name}", total=file.total)
        result = store.offline_tables.append_batches(source, file.read(lambda done: bar.update(task, completed=done)), key_columns=keys)
    return IngestResult(source.name, path, result.rows, result.version, time.perf_counter() - started)


class _FileBatches:
    """A file's rows as tables of about ``batch_rows`` rows; progress in rows (Parquet) or bytes (CSV)."""

    def __init__(self, path: Path, source: BatchSource | StreamSource, batch_rows: int) -> None:
        suffix = path.suffix.lower()
        if suffix not in FILE_FORMATS:
            raise OfflineStoreError(f"{path}: cannot ingest {suffix or 'a file without suffix'}", hint="give a .parquet or .csv file")
        if not path.is_file():
            raise OfflineStoreError(f"{path}: no such file")
        if batch_rows < 1:
            raise OfflineStoreError(f"batch_rows must be at least 1, got {batch_rows}")
        self.path = path
        self.source = source
        self.batch_rows = batch_rows
        self.is_csv = suffix == ".csv"
        if self.is_csv:
            lists = [name for name, dtype in source.columns.items() if not dtype.is_scalar]
            if lists:
                raise OfflineStoreError(
                    f"{path}: source {source.name!r} has list columns ({', '.join(lists)}), which CSV cannot hold",
                    hint="write the rows as Parquet",
                )
            self.total = path.stat().st_size
        else:
            import pyarrow.dataset as ds

            self.total = ds.dataset(str(path), format="parquet").count_rows()

    def read(self, advance: Callable[[int], object]) -> Iterator[pa.Table]:
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch, done in self._batches():
            pending.append(batch)
            rows += batch.num_rows
            if rows >= self.batch_rows:
                yield pa.Table.from_batches(pending)
                advance(done)
                pending, rows = [], 0
        if pending:
            yield pa.Table.from_batches(pending)
        advance(self.total)

    def _batches(self) -> Iterator[tuple[pa.RecordBatch, int]]:
        try:
            if self.is_csv:
                yield from self._csv_batches()
            else:
                yield from self._parquet_batches()
        except (pa.ArrowInvalid, OSError) as exc:
            raise OfflineStoreError(f"{self.path}: cannot read: {exc}") from exc

    def _parquet_batches(self) -> Iterator[tuple[pa.RecordBatch, int]]:
        import pyarrow.dataset as ds

        done = 0
        for batch in ds.dataset(str(self.path), format="parquet").to_batches(batch_size=min(self.batch_rows, 1 << 20)):
            done += batch.num_rows
            yield batch, done

    def _csv_batches(self) -> Iterator[tuple[pa.RecordBatch, int]]:
        import pyarrow.csv as csv

        # Every declared column is read as text and parsed by validate_rows: a bad value is then
        # reported with its row, instead of stopping the CSV reader.
        types = dict.fromkeys(self.source.columns, pa.string())
        options = csv.ConvertOptions(column_types=types, strings_can_be_null=True)
        with pa.OSFile(str(self.path)) as handle:
            reader = csv.open_csv(handle, read_options=csv.ReadOptions(block_size=16 << 20), convert_options=options)
            for batch in reader:
                yield batch, handle.tell()
