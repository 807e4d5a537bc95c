"""Rows in, a table of exactly the source's Arrow schema out, or a report of every bad row.

Pure: no I/O. Accepts a pyarrow Table or RecordBatch, a pandas DataFrame or a polars DataFrame.
Values are converted only when nothing is lost: narrower integers widen, whole floats become
integers, text parses to numbers, booleans and timestamps, naive timestamps are taken as UTC.
NaN means missing (stored as null); infinities are refused. Embeddings are stored as
``list<float32>`` (Delta Lake has no fixed-size list), so their length is checked here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.definitions.source import BatchSource, StreamSource
from skewless.definitions.types import Array, Bool, DType, Embedding, Float32, Float64, Int64, String, Timestamp
from skewless.errors import DataValidationError
from skewless.offline.frames import ObjectColumn, input_columns
from skewless.offline.report import Describe, RowReport

TIMESTAMP: Final = pa.timestamp("us", tz="UTC")

_INT = r"^[+-]?\d+$"
_FLOAT = r"(?i)^[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|nan|inf|infinity)$"
_BOOL = r"(?i)^(true|false|1|0)$"
_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$"
_PARSE_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)


def storage_type(dtype: DType) -> pa.DataType:
    """The Arrow type a value of ``dtype`` is stored as in the offline store."""
    if isinstance(dtype, Embedding):
        return pa.list_(pa.float32())
    return dtype.to_arrow()


def source_schema(source: BatchSource | StreamSource) -> pa.Schema:
    """The Arrow schema :func:`validate_rows` returns: the source's fields, then its timestamps."""
    return pa.schema([pa.field(name, storage_type(dtype)) for name, dtype in source.columns.items()])


def validate_rows(source: BatchSource | StreamSource, data: Any, *, key_columns: Sequence[str] = (), row_offset: int = 0) -> pa.Table:
    """Convert ``data`` to exactly :func:`source_schema`, or raise a report of what is wrong.

    Args:
        source: the source the rows belong to.
        data: a pyarrow Table or RecordBatch, a pandas DataFrame or a polars DataFrame.
        key_columns: join keys of the entities read from the source; they may not be null.
        row_offset: added to row numbers in the report (for a batch read from the middle of a file).

    Raises:
        DataValidationError: a column is missing or unknown, or some rows are invalid.

    >>> from skewless import BatchSource, Field, Int64
    >>> source = BatchSource(name="ages", schema=[Field(name="user_id", dtype=Int64), Field(name="age", dtype=Int64)])
    >>> rows = pa.table({"user_id": pa.array([1, 2], pa.int32()), "age": [31.0, None],
    ...                  "event_timestamp": ["2024-05-01T10:00:00Z", "2024-05-01 12:00:00"]})
    >>> validate_rows(source, rows).to_pylist()[1]["event_timestamp"].isoformat()
    '2024-05-01T12:00:00+00:00'
    """
    columns = input_columns(data, source_name=source.name)
    _check_names(source, list(columns), key_columns)
    report = RowReport(source.name, num_rows=len(next(iter(columns.values()))), row_offset=row_offset)
    required = {source.timestamp_field: "an event timestamp", **dict.fromkeys(key_columns, "a join key value")}
    if source.event_id_field:
        required[source.event_id_field] = "an event id"
    arrays: list[pa.Array] = []
    for name, dtype in source.columns.items():
        given = columns[name]
        if isinstance(given, ObjectColumn):
            given = _object_values(given, dtype, partial(report.add, name))
        arr = _convert(given, dtype, partial(report.add, name))
        if name in required:
            missing = arr.is_null().to_numpy(zero_copy_only=False) & ~report.bad_in(name)
            report.add(name, missing, _saying(f"null, but every row needs {required[name]}"))
        arrays.append(arr)
    report.raise_if_any()
    return pa.Table.from_arrays(arrays, schema=source_schema(source))


def _check_names(source: BatchSource | StreamSource, names: list[str], key_columns: Sequence[str]) -> None:
    declared = source.columns
    unknown_keys = [k for k in key_columns if k not in declared]
    if unknown_keys:
        raise DataValidationError(
            f"source {source.name!r} has no column(s) {', '.join(map(repr, unknown_keys))} to use as join keys",
            hint=f"add them to the source's schema (columns: {', '.join(declared)})",
        )
    missing = [n for n in declared if n not in names]
    extra = [n for n in names if n not in declared]
    if not missing and not extra:
        return
    lines = []
    if missing:
        lines.append(f"missing column(s): {', '.join(map(repr, missing))}")
    for name in extra:
        close = difflib.get_close_matches(name, missing, n=1)
        lines.append(f"unknown column {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    hint = f"give exactly the source's columns: {', '.join(declared)}"
    if extra:
        hint += "; to keep a new column, add a Field for it to the source's schema and apply (old rows read as null)"
    raise DataValidationError(
        f"source {source.name!r}: the columns do not match its schema\n" + "\n".join(f"  - {line}" for line in lines),
        hint=hint,
        columns=dict.fromkeys([*missing, *extra], 0),
    )


# -- conversion --------------------------------------------------------------------------------

Report = Callable[[np.ndarray, Describe], None]


def _object_values(column: ObjectColumn, dtype: DType, report: Report) -> pa.Array:
    """Mixed Python objects, value by value: the ones that are not ``dtype`` are reported."""
    target = storage_type(dtype)
    bad = np.zeros(len(column), dtype=bool)
    converted: list[Any] = []
    for i, value in enumerate(column.values):
        try:
            converted.append(pa.array([value], type=target, from_pandas=True)[0].as_py())
        except (*_PARSE_ERRORS, OverflowError, ValueError, TypeError):
            bad[i] = True
            converted.append(None)
    report(bad, lambda i: f"{_show(column.values[i])} is not {_a(dtype)}")
    return pa.array(converted, type=target)


def _convert(arr: pa.Array, dtype: DType, report: Report) -> pa.Array:
    target = storage_type(dtype)
    arr = _plain(arr)
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if arr.type == target:
        converted = arr
    elif isinstance(dtype, Embedding | Array):
        converted = _convert_list(arr, dtype, target, report)
    elif dtype == Timestamp:
        converted = _convert_timestamp(arr, report)
    else:
        converted = _convert_scalar(arr, dtype, target, report)
    if dtype in (Float32, Float64):
        converted = _finite(arr, converted, dtype, report)
    elif isinstance(dtype, Embedding):
        _check_embedding(converted, dtype, report)
    return converted


def _plain(arr: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    return arr


def _convert_scalar(arr: pa.Array, dtype: DType, target: pa.DataType, report: Report) -> pa.Array:
    kind = arr.type
    what = _a(dtype)
    if pa.types.is_string(kind) and dtype != String:
        pattern = {Int64: _INT, Float32: _FLOAT, Float64: _FLOAT, Bool: _BOOL}[dtype]  # type: ignore[index]
        return _parse(arr, pattern, lambda a: a.cast(target), what, report, strip_plus=dtype == Int64)
    if dtype == Int64 and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        if pa.types.is_floating(kind):
            arr = _nan_to_null(arr)
        return _cast_rows(arr, lambda a: a.cast(target), lambda v: f"{v} is not a whole number in the Int64 range", report)
    if dtype in (Float32, Float64) and (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        return arr.cast(target, safe=False)
    if dtype == Bool and pa.types.is_integer(kind):
        bad = _mask(pc.invert(pc.is_in(arr, pa.array([0, 1], kind))))
        report(bad, lambda i: f"{arr[i].as_py()} is not a Bool (0 or 1)")
        return _null_where(arr, bad).cast(target)
    return _wrong_type(arr, dtype, target, report)


def _convert_timestamp(arr: pa.Array, report: Report) -> pa.Array:
    kind = arr.type
    if pa.types.is_timestamp(kind):
        utc = arr.cast(pa.timestamp(kind.unit, tz="UTC"))  # naive values are taken as UTC
        if kind.unit == "ns":
            return utc.cast(TIMESTAMP, safe=False)  # drops the nanoseconds; cannot overflow
        return _cast_rows(utc, lambda a: a.cast(TIMESTAMP), lambda v: f"{v} is out of the Timestamp range", report)
    if pa.types.is_date(kind):
        return arr.cast(TIMESTAMP)
    if pa.types.is_string(kind):
        return _parse(arr, _ISO, _parse_timestamps, "an ISO 8601 timestamp", report)
    return _wrong_type(arr, Timestamp, TIMESTAMP, report)


def _parse_timestamps(text: pa.Array) -> pa.Array:
    """Strings with an offset or naive (taken as UTC), to the microsecond (finer digits dropped)."""
    for kind in (pa.timestamp("ns", tz="UTC"), pa.timestamp("ns"), TIMESTAMP, pa.timestamp("us")):
        try:
            parsed = text.cast(kind)
        except _PARSE_ERRORS:
            continue
        return parsed.cast(pa.timestamp(kind.unit, tz="UTC")).cast(TIMESTAMP, safe=False)
    raise pa.ArrowInvalid("unparseable timestamp")


def _convert_list(arr: pa.Array, dtype: Embedding | Array, target: pa.DataType, report: Report) -> pa.Array:
    kind = arr.type
    is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    if isinstance(dtype, Embedding):
        numeric = is_list and (pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type))
        if not numeric:
            return _wrong_type(arr, dtype, target, report)
        return arr.cast(target, safe=False)
    if not is_list:
        return _wrong_type(arr, dtype, target, report)
    return _cast_rows(arr, lambda a: a.cast(target), lambda v: f"{v} is not {_a(dtype)}", report)


def _finite(original: pa.Array, converted: pa.Array, dtype: DType, report: Report) -> pa.Array:
    converted = _nan_to_null(converted)
    bad = _mask(pc.is_inf(converted))
    report(bad, lambda i: f"{_show(original[i].as_py())} is not a finite {dtype}")
    return _null_where(converted, bad)


def _check_embedding(arr: pa.Array, dtype: Embedding, report: Report) -> None:
    lengths = pc.list_value_length(arr)
    wrong = _mask(pc.not_equal(lengths, dtype.dim))
    report(wrong, lambda i: f"has {_count(lengths[i].as_py(), 'value')}, but {dtype} needs {dtype.dim}")
    values = pc.list_flatten(arr)
    if len(values) == 0:
        return
    not_finite = pc.or_(pc.is_null(values), pc.invert(pc.is_finite(values)))
    parents = pc.filter(pc.list_parent_indices(arr), pc.fill_null(not_finite, True)).to_numpy()
    bad = np.zeros(len(arr), dtype=bool)
    bad[parents] = True
    report(bad & ~wrong, lambda _: "contains a null, NaN or infinite value")


def _parse(
    original: pa.Array,
    pattern: str,
    convert: Callable[[pa.Array], pa.Array],
    what: str,
    report: Report,
    *,
    strip_plus: bool = False,
) -> pa.Array:
    """Text to values. Fast path: pyarrow parses it all; else trim, then find the bad rows."""
    try:
        return convert(original)
    except _PARSE_ERRORS:
        pass
    text = pc.utf8_trim_whitespace(original)
    if strip_plus:
        text = pc.replace_substring_regex(text, r"^\+", "")
    shaped = _mask(pc.invert(pc.match_substring_regex(text, pattern)))
    report(shaped, lambda i: f"{_show(original[i].as_py())} is not {what}")
    return _cast_rows(_null_where(text, shaped), convert, lambda v: f"{_show(v)} is not {what}", report)


def _cast_rows(arr: pa.Array, convert: Callable[[pa.Array], pa.Array], describe: Callable[[Any], str], report: Report) -> pa.Array:
    """``convert(arr)``; if it fails, convert the pieces that can be (found by bisection), and
    report and null the single rows that cannot."""
    try:
        return convert(arr)
    except _PARSE_ERRORS:
        pass
    bad = np.zeros(len(arr), dtype=bool)
    pieces: list[pa.Array] = []
    pending = [(0, len(arr))]
    while pending:  # depth first, left half first: pieces come out in row order
        offset, length = pending.pop()
        try:
            pieces.append(convert(arr.slice(offset, length)))
        except _PARSE_ERRORS:
            if length == 1:
                bad[offset] = True
                pieces.append(convert(pa.nulls(1, arr.type)))
            else:
                half = length // 2
                pending += [(offset + half, length - half), (offset, half)]
    report(bad, lambda i: describe(arr[i].as_py()))
    return pa.concat_arrays(pieces)


def _wrong_type(arr: pa.Array, dtype: DType, target: pa.DataType, report: Report) -> pa.Array:
    report(_mask(arr.is_valid()), lambda i: f"{_show(arr[i].as_py())} ({arr.type}) is not {_a(dtype)}")
    return pa.nulls(len(arr), target)


# -- helpers -------------------------------------------------------------------------------------


def _mask(condition: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, nulls counting as false."""
    result: np.ndarray = pc.fill_null(condition, False).to_numpy(zero_copy_only=False)
    return result


def _null_where(arr: pa.Array, bad: np.ndarray) -> pa.Array:
    if not bad.any():
        return arr
    return pc.if_else(pa.array(bad), pa.scalar(None, arr.type), arr)


def _nan_to_null(arr: pa.Array) -> pa.Array:
    nan = _mask(pc.is_nan(arr))
    return _null_where(arr, nan)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _saying(text: str) -> Describe:
    return lambda _: text


def _a(dtype: DType) -> str:
    text = str(dtype)
    return f"an {text}" if text[0] in "AEIOU" else f"a {text}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
