"""The caller's entity rows (keys + ``event_timestamp`` + anything else), checked and typed."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from skewless.definitions.selection import FeatureSelection
from skewless.definitions.types import DType, Int64, String, Timestamp
from skewless.errors import InvalidRequestError

TIMESTAMP_COLUMN = "event_timestamp"
_UTC_MICROS = pa.timestamp("us", tz="UTC")


def to_arrow(data: Any, *, what: str = "entity_df") -> pa.Table:
    """A pyarrow Table from pandas, polars or pyarrow data."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        return data.to_arrow()  # type: ignore[no-any-return]
    raise InvalidRequestError(f"{what} must be a pandas or polars DataFrame or a pyarrow Table, got {type(data).__name__}")


def normalize_entity_rows(data: Any, selection: FeatureSelection) -> pa.Table:
    """Check the columns a selection needs and cast them to their types; other columns pass through."""
    table = to_arrow(data)
    columns = table.column_names
    if TIMESTAMP_COLUMN not in columns:
        raise InvalidRequestError(
            f"entity_df has no {TIMESTAMP_COLUMN!r} column (it has {', '.join(columns) or 'no columns'})",
            hint=f"add the time each row's features are wanted as of, e.g. df[{TIMESTAMP_COLUMN!r}] = label_time",
        )
    table = table.set_column(columns.index(TIMESTAMP_COLUMN), TIMESTAMP_COLUMN, _timestamps(table.column(TIMESTAMP_COLUMN)))
    for name, dtype in [*selection.join_keys.items(), *selection.request_fields.items()]:
        if name not in table.column_names:
            role = "join key" if name in selection.join_keys else "request value"
            raise InvalidRequestError(
                f"entity_df has no {name!r} column, a {role} the requested features need",
                hint=f"add a {dtype} column {name!r}",
            )
        index = table.column_names.index(name)
        table = table.set_column(index, name, _cast(table.column(name), dtype, name))
    return table


def _timestamps(column: pa.ChunkedArray) -> pa.ChunkedArray:
    try:
        if pa.types.is_timestamp(column.type):
            if column.type.tz is None:  # naive times are taken as UTC
                column = pc.assume_timezone(column, "UTC")
            result = pc.cast(column, _UTC_MICROS)
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            result = pc.cast(pc.cast(column, pa.timestamp("us")), pa.timestamp("us"))
            result = pc.assume_timezone(result, "UTC")
        elif pa.types.is_date(column.type):
            result = pc.assume_timezone(pc.cast(pc.cast(column, pa.timestamp("s")), pa.timestamp("us")), "UTC")
        else:
            raise TypeError(f"type {column.type}")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError) as exc:
        raise InvalidRequestError(
            f"entity_df column {TIMESTAMP_COLUMN!r} is not a timestamp: {exc}",
            hint="give datetimes (naive ones are taken as UTC) or ISO-8601 strings",
        ) from None
    nulls = result.null_count
    if nulls:
        first = pc.index(pc.is_null(result), True).as_py()
        raise InvalidRequestError(
            f"entity_df column {TIMESTAMP_COLUMN!r} has {nulls} null value(s), first at row {first}",
            hint="every row needs the time its features are wanted as of",
        )
    return result


def _cast(column: pa.ChunkedArray, dtype: DType, name: str) -> pa.ChunkedArray:
    ok = (
        (dtype == Int64 and pa.types.is_integer(column.type))
        or (dtype == String and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)))
        or (dtype == Timestamp and pa.types.is_timestamp(column.type))
        or (dtype not in (Int64, String, Timestamp))
        or pa.types.is_null(column.type)
    )
    if not ok:
        numpy_type = "'int64'" if dtype == Int64 else "str"
        raise InvalidRequestError(
            f"entity_df column {name!r} has type {column.type}, but it must be {dtype}",
            hint=f"cast it, e.g. df[{name!r}] = df[{name!r}].astype({numpy_type})",
        )
    try:
        return pc.cast(column, dtype.to_arrow())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidRequestError(f"entity_df column {name!r} cannot be read as {dtype}: {exc}") from None
