"""Input frames as Arrow arrays by column: pyarrow Tables or RecordBatches, pandas or polars DataFrames.

pandas and polars are looked up in ``sys.modules``, never imported: a caller that passes one of
their frames has already imported them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TypeAlias

import pyarrow as pa

from skewless.errors import DataValidationError


@dataclass(frozen=True)
class ObjectColumn:
    """A pandas column of mixed Python objects that pyarrow cannot convert at once."""

    values: list[Any]

    def __len__(self) -> int:
        return len(self.values)


Column: TypeAlias = pa.Array | ObjectColumn


def input_columns(data: Any, *, source_name: str) -> dict[str, Column]:
    """The columns of ``data`` by name (names must be unique)."""
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return _table_columns(data, source_name)
    polars = sys.modules.get("polars")
    if polars is not None and isinstance(data, polars.DataFrame):
        return _table_columns(data.to_arrow(), source_name)
    if polars is not None and isinstance(data, polars.LazyFrame):
        raise DataValidationError(f"source {source_name!r}: got a polars LazyFrame", hint="pass frame.collect()")
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return _pandas_columns(data, source_name)
    raise DataValidationError(
        f"source {source_name!r}: cannot write a {type(data).__module__}.{type(data).__qualname__}",
        hint="pass a pyarrow Table, a pandas DataFrame or a polars DataFrame",
    )


def _table_columns(table: pa.Table, source_name: str) -> dict[str, Column]:
    names = table.column_names
    _check_unique(names, source_name)
    return {name: table.column(i).combine_chunks() for i, name in enumerate(names)}


def _pandas_columns(frame: Any, source_name: str) -> dict[str, Column]:
    names = [str(name) for name in frame.columns]
    _check_unique(names, source_name)
    columns: dict[str, Column] = {}
    for i, name in enumerate(names):
        series = frame.iloc[:, i]  # by position: the index is not a column
        try:
            columns[name] = pa.Array.from_pandas(series)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            columns[name] = ObjectColumn(series.tolist())
    return columns


def _check_unique(names: list[str], source_name: str) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataValidationError(
            f"source {source_name!r}: column(s) {', '.join(map(repr, repeated))} given more than once",
            hint="give each column once",
        )
