"""The offline store's tables: one Delta Lake table per source, at ``root/<source name>``.

Every write is one atomic Delta commit: rows are validated before any file is written, and a
failed or killed write leaves only unreferenced files behind (``vacuum`` deletes them), never a
partial version. Each write adds three columns:

- ``_event_date``: the UTC date of the event timestamp; the table is partitioned by it.
- ``_ingested_at``: when the write started (UTC), the same for all its rows.
- ``_write_seq``: ``version << 32 | row``, increasing across writes; readers break ties between
  rows with the same key and timestamp by it (the last written wins).

Readers that do not go through Delta (DuckDB's ``read_parquet``) get the active files of a
version from :meth:`OfflineTables.files`. The partition column is not inside those files: it is
in their paths (``_event_date=2024-05-01/``), or derive it from the event timestamp.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from skewless.definitions.source import BatchSource, StreamSource
from skewless.errors import OfflineStoreError
from skewless.offline.validate import TIMESTAMP, source_schema, validate_rows

EVENT_DATE: Final = "_event_date"
INGESTED_AT: Final = "_ingested_at"
WRITE_SEQ: Final = "_write_seq"
WRITE_COLUMNS: Final = (pa.field(EVENT_DATE, pa.date32()), pa.field(INGESTED_AT, TIMESTAMP), pa.field(WRITE_SEQ, pa.int64()))
DEFAULT_TIME_TRAVEL_HOURS: Final = 168
_MAX_ROWS_PER_WRITE: Final = 1 << 32
_BATCH_MARK: Final = "skewless.batch"

EventSource = BatchSource | StreamSource


@dataclass(frozen=True)
class WriteResult:
    """One committed write: the Delta ``version`` it created and how many ``rows`` it added."""

    source: str
    version: int
    rows: int


@dataclass(frozen=True)
class Commit:
    """One version of a table, from its Delta log."""

    version: int
    timestamp: datetime
    operation: str
    rows_added: int | None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompactResult:
    version: int
    files_removed: int
    files_added: int


class OfflineTables:
    """``OfflineTables(root)``: the Delta tables of a repo's sources.

    >>> tables = OfflineTables("data/offline")                          # doctest: +SKIP
    >>> tables.append(source, frame, key_columns=["user_id"])           # doctest: +SKIP
    WriteResult(source='user_profiles', version=0, rows=1000)
    """

    def __init__(self, root: str | Path, *, time_travel_hours: int = DEFAULT_TIME_TRAVEL_HOURS) -> None:
        self.root = Path(root)
        self.time_travel_hours = time_travel_hours
        self._writing: dict[str, DeltaTable] = {}  # per source: the table as this object last wrote it

    def path(self, source_name: str) -> Path:
        return self.root / source_name

    # -- writing -----------------------------------------------------------------------------

    def append(
        self,
        source: EventSource,
        data: Any,
        *,
        key_columns: Sequence[str] = (),
        transaction: tuple[str, int] | None = None,
        validated: bool = False,
    ) -> WriteResult:
        """Validate ``data`` (see :func:`validate_rows`), then add it in one atomic commit.

        ``transaction=(app_id, n)`` records in the commit that writer ``app_id`` wrote its batch
        ``n`` (a Delta app transaction), so a writer that crashed can tell, with
        :meth:`committed_version`, whether a batch it is about to redo already landed.
        ``validated=True``: ``data`` is what :func:`validate_rows` returned for this source (the stream
        path validates each batch once, to sort out dead letters); it is written as it is.

        Raises:
            DataValidationError: some rows or columns are invalid; nothing was written.
            OfflineStoreError: the table stores a column with another type, or the commit failed.
        """
        if validated and isinstance(data, pa.Table) and data.schema.equals(source_schema(source)):
            table = data
        else:
            table = validate_rows(source, data, key_columns=key_columns)
        return self._write(source, [table], transaction=transaction)

    def append_batches(self, source: EventSource, batches: Iterable[Any], *, key_columns: Sequence[str] = ()) -> WriteResult:
        """Add a stream of batches (anything :meth:`append` takes) in one atomic commit.

        Each batch is validated as it streams in, so the input never has to fit in memory at once
        (delta-rs still buffers each partition's open file up to its target size). An invalid batch
        commits nothing, but files already written for earlier batches stay on disk unreferenced
        until :meth:`vacuum`; validate every batch first to write no file at all.
        """

        def validated() -> Iterator[pa.Table]:
            offset = 0
            for batch in batches:
                table = validate_rows(source, batch, key_columns=key_columns, row_offset=offset)
                offset += table.num_rows
                yield table

        return self._write(source, validated())

    def committed_version(self, source_name: str, app_id: str, batch: int, *, search: int = 10_000) -> int | None:
        """The table version that committed ``app_id``'s batch ``batch``, or None if it never did."""
        table = self._open(source_name)
        if table is None or (table.transaction_version(app_id) or -1) < batch:
            return None
        mark = f"{app_id}:{batch}"
        for commit in table.history(limit=search):
            if commit.get(_BATCH_MARK) == mark:
                return int(commit["version"])
        raise OfflineStoreError(
            f"source {source_name!r}: {app_id} batch {batch} is recorded as written but not among the last {search:,} commits",
            hint="the writer was down for very long; replay from the offline log instead",
        )

    def _write(self, source: EventSource, tables: Iterable[pa.Table], *, transaction: tuple[str, int] | None = None) -> WriteResult:
        reserved = [f.name for f in WRITE_COLUMNS if f.name in source.columns]
        if reserved:
            raise OfflineStoreError(
                f"source {source.name!r}: column(s) {', '.join(map(repr, reserved))} are reserved by the offline store",
                hint="rename them in the source's schema",
            )
        with self._locked(source.name):
            current = self._latest(source.name)
            version = 0 if current is None else current.version() + 1
            if current is not None:
                _check_compatible(source, current)
            stream = _Stream(tables, version=version, timestamp_field=source.timestamp_field)
            schema = pa.schema([*source_schema(source), *WRITE_COLUMNS])
            try:
                write_deltalake(
                    current if current is not None else str(self.path(source.name)),
                    pa.RecordBatchReader.from_batches(schema, iter(stream)),
                    mode="append",
                    partition_by=[EVENT_DATE],
                    schema_mode="merge",
                    description=json.dumps({"source": source.name, "timestamp_field": source.timestamp_field}),
                    # Exactly `version` or fail: _write_seq was derived from it.
                    commit_properties=_commit_properties(transaction),
                )
            except Exception as exc:
                self._writing.pop(source.name, None)  # its state is unknown now: load it again next time
                if stream.failure is not None:
                    raise stream.failure from None
                if isinstance(exc, CommitFailedError):
                    raise OfflineStoreError(
                        f"source {source.name!r}: another writer committed version {version} first; nothing was written",
                        hint="write again (writers on one machine wait for each other; this one bypassed that)",
                    ) from exc
                raise OfflineStoreError(f"source {source.name!r}: the write failed; nothing was written: {exc}") from exc
            return WriteResult(source.name, version, stream.rows)

    # -- reading -----------------------------------------------------------------------------

    def version(self, source_name: str) -> int | None:
        """The latest version of the source's table, ``None`` before its first write."""
        table = self._open(source_name)
        return None if table is None else table.version()

    def files(self, source_name: str, version: int | None = None) -> list[str]:
        """Absolute paths of the Parquet files making up ``version`` (default: the latest)."""
        return [str(Path(uri.removeprefix("file://"))) for uri in self._require(source_name, version).file_uris()]

    def read(
        self,
        source_name: str,
        *,
        version: int | None = None,
        columns: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.Table:
        """The rows of ``version`` (default: the latest) with event time in ``[start, end)``.

        Naive ``start`` / ``end`` are taken as UTC. Columns added to the source after a row was
        written read as null for that row.
        """
        table = self._require(source_name, version)
        condition = _time_filter(table, start, end)
        try:
            result = table.to_pyarrow_dataset().to_table(columns=list(columns) if columns else None, filter=condition)
        except (FileNotFoundError, OSError) as exc:
            raise OfflineStoreError(
                f"source {source_name!r}: files of version {table.version()} are gone: {exc}",
                hint=f"vacuum deletes files replaced more than {self.time_travel_hours} h ago; read a later version",
            ) from exc
        except pa.ArrowInvalid as exc:
            raise OfflineStoreError(f"source {source_name!r}: cannot read {columns}: {exc}") from exc
        return _plain_lists(result)

    def history(self, source_name: str) -> list[Commit]:
        """Every version of the table, newest first."""
        commits = []
        for entry in self._require(source_name, None).history():
            metrics = entry.get("operationMetrics") or {}
            rows = metrics.get("num_added_rows")
            commits.append(
                Commit(
                    version=int(entry["version"]),
                    timestamp=datetime.fromtimestamp(entry["timestamp"] / 1000, tz=UTC),
                    operation=str(entry.get("operation", "")),
                    rows_added=None if rows is None else int(rows),
                    parameters=dict(entry.get("operationParameters") or {}),
                )
            )
        return commits

    # -- maintenance ---------------------------------------------------------------------------

    def compact(self, source_name: str) -> CompactResult:
        """Rewrite each partition's small files into fewer large ones (same rows, new version)."""
        with self._locked(source_name):
            metrics = self._require(source_name, None).optimize.compact()
            latest = self._require(source_name, None).version()
        return CompactResult(latest, int(metrics.get("numFilesRemoved", 0)), int(metrics.get("numFilesAdded", 0)))

    def vacuum(self, source_name: str, retention_hours: int | None = None) -> list[str]:
        """Delete files unreferenced for over ``retention_hours`` (default: the time-travel window).

        That includes files replaced by compaction and files of failed or killed writes. Versions
        older than the retention can no longer be read. Returns the deleted files' paths.
        """
        hours = self.time_travel_hours if retention_hours is None else retention_hours
        with self._locked(source_name):
            table = self._require(source_name, None)
            # full=True: also files no commit ever referenced (left by failed or killed writes);
            # the default "lite" mode only deletes files that a later commit removed.
            deleted = table.vacuum(retention_hours=hours, dry_run=False, enforce_retention_duration=False, full=True)
        return [str(self.path(source_name) / path) for path in deleted]

    # -- helpers -------------------------------------------------------------------------------

    def _latest(self, source_name: str) -> DeltaTable | None:
        """The source's table at its latest version, to write to (under the source's lock). A stream
        worker appends a batch a second: reading only the commits since its last write takes ~1 ms,
        loading the table 5-20 ms (measured), a third of a small batch's offline append."""
        table = self._writing.pop(source_name, None)
        if table is not None:
            with suppress(DeltaError):  # broken meanwhile: loading it afresh says what is wrong
                table.update_incremental()
                # Still this table, not removed (or removed and written again) since: its last commit is there.
                if (self.path(source_name) / "_delta_log" / f"{table.version():020d}.json").exists():
                    self._writing[source_name] = table
                    return table
        table = self._open(source_name)
        if table is not None:
            self._writing[source_name] = table
        return table

    def _open(self, source_name: str, version: int | None = None) -> DeltaTable | None:
        path = self.path(source_name)
        if not DeltaTable.is_deltatable(str(path)):
            return None
        if version is None:
            return DeltaTable(str(path))
        try:
            return DeltaTable(str(path), version=version)
        except DeltaError as exc:
            latest = DeltaTable(str(path)).version()
            raise OfflineStoreError(
                f"source {source_name!r} has no version {version}",
                hint=f"versions run from 0 to {latest}; older ones may have been cleaned from the log",
            ) from exc

    def _require(self, source_name: str, version: int | None) -> DeltaTable:
        table = self._open(source_name, version)
        if table is None:
            raise OfflineStoreError(
                f"source {source_name!r} has no offline data yet",
                hint="write rows with FeatureStore.write_to_offline_store or `skewless ingest`",
            )
        return table

    @contextmanager
    def _locked(self, source_name: str) -> Iterator[None]:
        """Writers on this machine take turns; a foreign writer makes the commit fail instead."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{source_name}.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def _commit_properties(transaction: tuple[str, int] | None) -> CommitProperties:
    if transaction is None:
        return CommitProperties(max_commit_retries=0)
    app_id, batch = transaction
    return CommitProperties(
        max_commit_retries=0, app_transactions=[Transaction(app_id, batch)], custom_metadata={_BATCH_MARK: f"{app_id}:{batch}"}
    )


class _Stream:
    """Validated tables as record batches with the write columns added; remembers a failure."""

    def __init__(self, tables: Iterable[pa.Table], *, version: int, timestamp_field: str) -> None:
        self.tables = tables
        self.version = version
        self.timestamp_field = timestamp_field
        self.ingested_at = int(datetime.now(UTC).timestamp() * 1_000_000)
        self.rows = 0
        self.failure: BaseException | None = None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            for table in self.tables:
                yield from self._stamp(table).to_batches()
        except BaseException as exc:
            self.failure = exc
            raise

    def _stamp(self, table: pa.Table) -> pa.Table:
        n = table.num_rows
        if self.rows + n >= _MAX_ROWS_PER_WRITE:
            raise OfflineStoreError(f"one write is limited to {_MAX_ROWS_PER_WRITE - 1:,} rows", hint="split the data")
        timestamps = table.column(self.timestamp_field)
        seq = np.arange(self.rows, self.rows + n, dtype=np.int64) + (self.version << 32)
        self.rows += n
        return (
            table.append_column(WRITE_COLUMNS[0], pc.cast(timestamps, pa.date32()))
            .append_column(WRITE_COLUMNS[1], pa.array(np.full(n, self.ingested_at, dtype=np.int64), TIMESTAMP))
            .append_column(WRITE_COLUMNS[2], pa.array(seq))
        )


def _check_compatible(source: EventSource, table: DeltaTable) -> None:
    """Delta's schema merge silently casts (1.5 into a long column stores 1): refuse type changes."""
    stored = pa.schema(table.schema().to_arrow())
    for wanted in source_schema(source):
        index = stored.get_field_index(wanted.name)
        if index >= 0 and not _same_type(stored.field(index).type, wanted.type):
            raise OfflineStoreError(
                f"source {source.name!r}: column {wanted.name!r} is stored as {stored.field(index).type}, "
                f"but the source now declares {wanted.type}",
                hint="a stored column keeps its type: add a new Field under another name, or define a new source",
            )
    described = _description(table).get("timestamp_field")
    if described and described != source.timestamp_field:
        raise OfflineStoreError(
            f"source {source.name!r}: its table is keyed by timestamp_field {described!r}, not {source.timestamp_field!r}",
            hint="keep the timestamp field, or define a new source for the new one",
        )


def _same_type(stored: pa.DataType, wanted: pa.DataType) -> bool:
    if pa.types.is_list(stored) and pa.types.is_list(wanted):
        return _same_type(stored.value_type, wanted.value_type)
    return bool(stored == wanted)


def _description(table: DeltaTable) -> dict[str, Any]:
    try:
        described = json.loads(table.metadata().description or "{}")
    except json.JSONDecodeError:
        return {}
    return described if isinstance(described, dict) else {}


def _time_filter(table: DeltaTable, start: datetime | None, end: datetime | None) -> pc.Expression | None:
    if start is None and end is None:
        return None
    column = _description(table).get("timestamp_field")
    if not column:
        raise OfflineStoreError("this table does not record its timestamp field; read it without start/end")
    condition: pc.Expression | None = None
    for bound, is_start in ((start, True), (end, False)):
        if bound is None:
            continue
        moment = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
        day: date = moment.astimezone(UTC).date()
        ts = pa.scalar(moment, TIMESTAMP)
        if is_start:
            part = (pc.field(EVENT_DATE) >= pa.scalar(day, pa.date32())) & (pc.field(column) >= ts)
        else:
            part = (pc.field(EVENT_DATE) <= pa.scalar(day, pa.date32())) & (pc.field(column) < ts)
        condition = part if condition is None else condition & part
    return condition


def _plain_lists(table: pa.Table) -> pa.Table:
    """Delta names list items ``element``; give back the ``item`` lists the sources declare."""
    fields = [pa.field(f.name, pa.list_(f.type.value_type), f.nullable) if pa.types.is_list(f.type) else f for f in table.schema]
    schema = pa.schema(fields)
    return table if schema == table.schema else table.cast(schema)
