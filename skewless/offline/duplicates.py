"""Batches of a source's Parquet files whose value ranges of one column do not overlap.

Used twice: by event id, for de-duplication, and by event time, so windowed features can read
the events in time order one batch at a time (``skewless.offline.windowed``).

De-duplicating events (each id once: its first write) is one hash aggregate over every id of
the source, and at 100M events the table of 100M groups outgrows the CPU caches and spills. But
two copies of one id can only sit in files whose [min, max] id ranges overlap. Integer ids are
usually assigned in time order (offsets, sequences, snowflakes), so a source's files cover
mostly disjoint ranges, and the ids written more than once can be found batch by batch: files
whose ranges overlap always share a batch, each batch is small enough to aggregate in cache, and
the union of the batches' results is exactly the whole source's.

Only the Parquet footers are read here. Without usable statistics (string ids, whose statistics
may be truncated; a file without min/max or with null values) there is a single batch: the plain
aggregate over every file. Timestamps count as integers (µs since the epoch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

# Rows per batch: large enough that per-query overhead stays small, small enough for the
# aggregate's hash table (~40 B per id) to stay near the CPU caches instead of spilling.
BATCH_ROWS: Final = 2_000_000


def file_batches(
    files: Sequence[str], column: str, *, batch_rows: int | None = None, within: tuple[int, int] | None = None
) -> list[list[str]]:
    """``files`` split into batches no value of ``column`` crosses, in the order of their values
    (consecutive ranges grouped up to ``batch_rows``, default :data:`BATCH_ROWS`). ``within``:
    leave out the files whose range lies wholly outside ``[low, high)``."""
    batch_rows = BATCH_ROWS if batch_rows is None else batch_rows
    ranges: list[tuple[int, int, int, str]] = []
    for path in files:
        bounds = _range(path, column)
        if bounds is None:
            return [list(files)]
        if within is not None and (bounds[1] < within[0] or bounds[0] >= within[1]):
            continue
        if bounds[2]:  # an empty file holds no copy of anything
            ranges.append((*bounds, path))
    ranges.sort()
    batches: list[list[str]] = []
    rows, end = 0, None
    for low, high, count, path in ranges:
        # A file starting past every id seen so far may open a new batch, once this one is full.
        if end is None or (low > end and rows >= batch_rows):
            batches.append([])
            rows = 0
        batches[-1].append(path)
        rows += count
        end = high if end is None else max(end, high)
    return batches


def _range(path: str, column_name: str) -> tuple[int, int, int] | None:
    """(min, max, rows) of one file's column from its footer; None if the footer cannot tell."""
    meta = pq.read_metadata(path)
    schema = meta.schema.to_arrow_schema()
    index = schema.get_field_index(column_name)
    if index < 0:
        return None
    kind = schema.field(index).type
    if not (pa.types.is_integer(kind) or pa.types.is_timestamp(kind)):
        return None
    if meta.num_rows == 0:
        return (0, 0, 0)
    column = next((i for i in range(meta.num_columns) if meta.schema.column(i).path == column_name), None)
    if column is None:
        return None
    lows, highs = [], []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max or stats.null_count != 0:
            return None
        lows.append(_integer(stats.min, kind))
        highs.append(_integer(stats.max, kind))
    return (min(lows), max(highs), meta.num_rows)


def _integer(value: object, kind: pa.DataType) -> int:
    """A statistic as an integer: timestamps as µs since the epoch."""
    if pa.types.is_timestamp(kind):  # floored to µs, which keeps ranges that do not overlap apart
        raw = pa.scalar(value, type=kind).cast(pa.int64()).as_py()
        return int(raw) * {"s": 1_000_000, "ms": 1_000, "us": 1}[kind.unit] if kind.unit != "ns" else int(raw) // 1_000
    assert isinstance(value, int)
    return value
