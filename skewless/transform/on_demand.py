"""Running on-demand feature functions over Arrow columns.

The function sees NumPy arrays, one element per row: numbers as float64 (NaN = missing),
strings and lists as object arrays (None = missing), embeddings as 2-D float32 arrays (a NaN row
= missing), timestamps as datetime64[us] in UTC (NaT = missing). ``event_timestamp`` is always
there: a training row's time, or the request's time when serving. Outputs are cast to the
declared types; NaN / None / NaT become nulls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.definitions.on_demand import OnDemandFeatureView
from skewless.definitions.types import Array, DType, Embedding, String, Timestamp
from skewless.errors import DefinitionError


def arrow_to_udf_input(column: pa.Array | pa.ChunkedArray, dtype: DType) -> np.ndarray:
    """One input column in the form on-demand functions receive."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(dtype, Embedding):
        result = np.full((len(array), dtype.dim), np.nan, dtype=np.float32)
        valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        if valid.any():
            flat = pc.list_flatten(array.filter(pa.array(valid))).to_numpy(zero_copy_only=False)
            result[valid] = np.asarray(flat, dtype=np.float32).reshape(-1, dtype.dim)
        return result
    if isinstance(dtype, Array) or dtype == String:
        return np.array([*array.to_pylist(), None], dtype=object)[:-1]  # the extra None keeps lists 1-D
    if dtype == Timestamp:
        return np.asarray(pc.cast(array, pa.timestamp("us", tz="UTC")).to_numpy(zero_copy_only=False)).astype("datetime64[us]")
    return np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def udf_output_to_arrow(values: Any, dtype: DType, *, rows: int, where: str) -> pa.Array:
    """Cast one output of an on-demand function to its declared type."""
    try:
        if isinstance(dtype, Embedding):
            matrix = np.asarray(values, dtype=np.float32).reshape(rows, dtype.dim)
            missing = np.isnan(matrix).all(axis=1)
            flat = pa.array(matrix.reshape(-1), type=pa.float32())
            return pa.FixedSizeListArray.from_arrays(flat, dtype.dim, mask=pa.array(missing))
        array = np.asarray(values)
        if len(array) != rows:
            raise ValueError(f"returned {len(array)} values for {rows} rows")
        target = dtype.to_arrow()
        if array.dtype.kind == "f" and pa.types.is_integer(target):
            arrow = pa.array(array, from_pandas=True)  # NaN -> null, then a checked cast
            return pc.cast(arrow, target)
        return pa.array(array.tolist() if array.dtype == object else array, type=target, from_pandas=True)
    except (ValueError, TypeError, pa.ArrowException) as exc:
        raise DefinitionError(f"{where}: cannot make a {dtype} column of what the function returned: {exc}") from exc


def apply_on_demand(
    view: OnDemandFeatureView,
    inputs: Mapping[str, tuple[pa.Array | pa.ChunkedArray, DType]],
    *,
    rows: int,
    features: tuple[str, ...] | None = None,
) -> dict[str, pa.Array]:
    """Run ``view``'s function; ``inputs`` maps each input name to its column and type."""
    arguments = {name: arrow_to_udf_input(column, dtype) for name, (column, dtype) in inputs.items()}
    try:
        result = view.udf(arguments)
    except Exception as exc:
        raise DefinitionError(f"{view.label}: the function raised {type(exc).__name__}: {exc}") from exc
    wanted = features if features is not None else view.feature_names
    missing = [f for f in wanted if f not in result]
    if missing:
        raise DefinitionError(f"{view.label}: the function did not return {missing}", hint="return a dict with every schema field")
    types = {f.name: f.dtype for f in view.schema}
    return {f: udf_output_to_arrow(result[f], types[f], rows=rows, where=f"{view.label}: output {f!r}") for f in wanted}
