"""Running on-demand feature functions over Arrow columns (training sets) or Python values (serving).

The function sees NumPy arrays, one element per row: numbers as float64 (NaN = missing),
strings and lists as object arrays (None = missing), embeddings as 2-D float32 arrays (a NaN row
= missing), timestamps as datetime64[us] in UTC (NaT = missing). ``event_timestamp`` is always
there: a training row's time, or the request's time when serving. Outputs are cast to the
declared types; NaN / None / NaT become nulls.

Serving builds the same arrays straight from Python values (``values_to_udf_input``) and turns
outputs straight into Python values (``udf_output_to_values``): a slate of 50 rows spent more
time converting through Arrow than computing. Each shortcut covers only values whose conversion
it reproduces exactly, and says so by returning None otherwise: the caller then takes the Arrow
route, so values and errors stay those of training sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, islice
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.definitions.on_demand import OnDemandFeatureView
from skewless.definitions.types import Array, Bool, DType, Embedding, Float32, Float64, Int64, String, Timestamp
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
        return object_array(array.to_pylist(), len(array))
    if dtype == Timestamp:
        return np.asarray(pc.cast(array, pa.timestamp("us", tz="UTC")).to_numpy(zero_copy_only=False)).astype("datetime64[us]")
    return np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def object_array(items: Iterable[Any], count: int) -> np.ndarray:
    """A 1-D object array of ``count`` items, lists included as elements (``np.array`` would make
    equal-length lists a 2-D array; ``fromiter`` never nests, and does not inspect the items)."""
    return np.fromiter(items, dtype=object, count=count)


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


# Integers beyond 2**53 are not exact as float64, and Arrow's checked cast refuses them: leave them to it.
_EXACT: Final = 2**53
_NONE: Final = type(None)


def values_to_udf_input(values: Sequence[Any], dtype: DType) -> np.ndarray | None:
    """What ``arrow_to_udf_input`` makes of these Python values as a ``dtype`` column, or None if it
    takes Arrow to say (other types, or values Arrow would convert or refuse). Types are checked a
    column at a time (``set(map(type, ...))``, in C): a per-value Python test cost more than Arrow."""
    types = set(map(type, values))
    if dtype == String:
        return object_array(values, len(values)) if types <= {str, _NONE} else None
    if isinstance(dtype, Array):
        return _lists_input(values, types, dtype.element) if types <= {list, _NONE} else None
    if dtype == Bool:
        exact = types <= {bool, _NONE}
    elif dtype == Int64:
        exact = types <= {int, _NONE} and _exact_ints(values, types)
    elif dtype == Float64:
        exact = types <= {float, int, _NONE} and (int not in types or _exact_ints([v for v in values if type(v) is int], {int}))
    else:
        return None
    if not exact:
        return None
    if _NONE in types:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(values, dtype=np.float64)


def _exact_ints(values: Sequence[Any], types: set[type]) -> bool:
    present = [v for v in values if v is not None] if _NONE in types else values
    return not present or (min(present) >= -_EXACT and max(present) <= _EXACT)


def _lists_input(values: Sequence[Any], types: set[type], element: DType) -> np.ndarray | None:
    """Arrays of strings, integers or floats: new lists (the function may change them), with float32
    elements rounded as Arrow stores them."""
    flat = list(chain.from_iterable(filter(None, values)))  # filter(None) drops nulls and empty lists
    kinds = set(map(type, flat))
    if element == String:
        exact = kinds <= {str, _NONE}
    elif element == Int64:
        exact = kinds <= {int} and (not flat or (min(flat) >= -(2**63) and max(flat) < 2**63))
    elif element in (Float64, Float32):
        exact = kinds <= {float}
    else:
        return None
    if not exact:
        return None
    if element == Float32:
        with np.errstate(over="ignore"):  # beyond float32's range is ±inf, as in Arrow
            rounded = iter(np.array(flat, dtype=np.float32).tolist())
        lists = [None if v is None else list(islice(rounded, len(v))) for v in values]
    else:
        lists = [None if v is None else list(v) for v in values]
    return object_array(lists, len(lists))


def run_udf(
    view: OnDemandFeatureView, arguments: dict[str, np.ndarray], *, features: tuple[str, ...] | None = None
) -> tuple[dict[str, Any], dict[str, DType]]:
    """Call ``view``'s function; its raw outputs for ``features`` (default: all) and their declared types."""
    try:
        result = view.udf(arguments)
    except Exception as exc:
        raise DefinitionError(f"{view.label}: the function raised {type(exc).__name__}: {exc}") from exc
    wanted = features if features is not None else view.feature_names
    missing = [f for f in wanted if f not in result]
    if missing:
        raise DefinitionError(f"{view.label}: the function did not return {missing}", hint="return a dict with every schema field")
    types = {f.name: f.dtype for f in view.schema}
    return {f: result[f] for f in wanted}, {f: types[f] for f in wanted}


def udf_output_to_values(values: Any, dtype: DType, *, rows: int, where: str) -> list[Any]:
    """``udf_output_to_arrow(...).to_pylist()``, without Arrow for the usual outputs (a float64, int64
    or bool array declared Float64, Int64 or Bool)."""
    array = np.asarray(values)
    if array.ndim == 1 and len(array) == rows:
        kind = array.dtype
        if (kind == np.int64 and dtype == Int64) or (kind == np.bool_ and dtype == Bool):
            values_out: list[Any] = array.tolist()
            return values_out
        if kind == np.float64 and dtype == Float64:
            out: list[Any] = array.tolist()
            return [None if v != v else v for v in out] if np.isnan(array).any() else out  # NaN is a null, as from_pandas makes it
    converted: list[Any] = udf_output_to_arrow(values, dtype, rows=rows, where=where).to_pylist()
    return converted


def apply_on_demand(
    view: OnDemandFeatureView,
    inputs: Mapping[str, tuple[pa.Array | pa.ChunkedArray, DType]],
    *,
    rows: int,
    features: tuple[str, ...] | None = None,
) -> dict[str, pa.Array]:
    """Run ``view``'s function; ``inputs`` maps each input name to its column and type."""
    arguments = {name: arrow_to_udf_input(column, dtype) for name, (column, dtype) in inputs.items()}
    result, types = run_udf(view, arguments, features=features)
    return {f: udf_output_to_arrow(values, types[f], rows=rows, where=f"{view.label}: output {f!r}") for f, values in result.items()}
