"""One view's part of an online read: the stored rows of a request's entities as columns.

A slate asks ~40 features of ~50 rows, so any Python work per (feature, row) is what the read
costs. Rows are decoded once per distinct entity (msgpack, one C call), transposed once per view
(``zip(*rows)``, in C), and a column whose rows are all present gets its statuses without a
per-value pass. Values stay raw (embeddings as float32 bytes, timestamps as µs) until they are
needed: a returned column becomes Python values (arrays, datetimes) as ``RowCodec.decode`` gives
them, an on-demand input becomes one NumPy array (a 50 x 384 matrix is one ``frombuffer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import repeat
from typing import Any, Final

import numpy as np

from skewless.definitions.types import Array, DType, Embedding, Timestamp
from skewless.online.read_plan import ViewReadPlan
from skewless.transform.on_demand import object_array, values_to_udf_input

PRESENT: Final = "PRESENT"
NOT_FOUND: Final = "NOT_FOUND"
NULL_VALUE: Final = "NULL_VALUE"
OUTSIDE_MAX_AGE: Final = "OUTSIDE_MAX_AGE"
UNAVAILABLE: Final = "STORE_UNAVAILABLE"  # the store did not answer in time and nothing was cached

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAT: Final = np.iinfo(np.int64).min  # datetime64's NaT
_NONE: Final = type(None)


@dataclass
class RawColumn:
    """One feature of one view for every row of the request, values still as stored."""

    raw: Sequence[Any]  # per row: the stored value, None if absent, stale or null
    statuses: list[str]
    times: list[int | None]  # per row: the stored row's event time (µs), None if absent
    dtype: DType
    repeated: bool = False  # every row holds the same value: convert it once

    def values(self) -> list[Any]:
        """Python values, as ``RowCodec.decode`` gives them: float32 arrays, UTC datetimes."""
        raw = self.raw
        if self.repeated and len(raw) > 1:
            return self._values(raw[:1]) * len(raw)  # one object for every row, as decoding the row once gave
        return self._values(raw)

    def _values(self, raw: Sequence[Any]) -> list[Any]:
        if isinstance(self.dtype, Embedding):
            return _embedding_values(raw, self.dtype.dim)
        if self.dtype == Timestamp:
            return [None if v is None else _EPOCH + timedelta(microseconds=v) for v in raw]
        return list(raw)

    def udf_input(self) -> np.ndarray | None:
        """The array ``arrow_to_udf_input`` makes of this column, or None if it takes Arrow to say."""
        raw, count = self.raw, len(self.raw)
        if not self.repeated or count < 2:
            return self._udf_input(raw)
        one = self._udf_input(raw[:1])
        if one is None:
            return None
        if isinstance(self.dtype, Array) and one[0] is not None:  # every row gets its own list, as on the Arrow route
            return object_array(map(list, repeat(one[0], count)), count)
        return np.repeat(one, count, axis=0)

    def _udf_input(self, raw: Sequence[Any]) -> np.ndarray | None:
        if isinstance(self.dtype, Embedding):
            return _embedding_matrix(raw, self.dtype.dim)
        if self.dtype == Timestamp:
            types = set(map(type, raw))
            if not types <= {int, _NONE}:
                return None
            times = [_NAT if v is None else v for v in raw] if _NONE in types else raw
            return np.array(times, dtype=np.int64).view("datetime64[us]")
        return values_to_udf_input(raw, self.dtype)


def _embedding_matrix(raw: Sequence[Any], dim: int) -> np.ndarray | None:
    """All rows in one ``frombuffer``: a missing row is a NaN row, as on the Arrow route."""
    present = [v for v in raw if v is not None]
    if not set(map(type, present)) <= {bytes} or not set(map(len, present)) <= {dim * 4}:
        return None  # not what the codec writes: let the Arrow route convert or refuse it
    filler = _nan_row(dim)
    joined = b"".join([filler if v is None else v for v in raw])
    return np.frombuffer(joined, dtype=np.float32).reshape(len(raw), dim).copy()  # writable, like the Arrow route's


def _embedding_values(raw: Sequence[Any], dim: int) -> list[Any]:
    """Read-only float32 vectors, as ``np.frombuffer`` per row gives them, from one ``frombuffer``."""
    present = [v for v in raw if v is not None]
    if not present or not set(map(type, present)) <= {bytes} or not set(map(len, present)) <= {dim * 4}:
        return [None if v is None else np.frombuffer(v, dtype=np.float32) for v in raw]
    rows = iter(np.frombuffer(b"".join(present), dtype=np.float32).reshape(len(present), dim))
    return [None if v is None else next(rows) for v in raw]


@cache
def _nan_row(dim: int) -> bytes:
    return np.full(dim, np.nan, dtype=np.float32).tobytes()


def view_columns(
    view: ViewReadPlan, keys: list[bytes], stored: Mapping[bytes, bytes | None], *, available: bool, now_us: int
) -> dict[str, RawColumn]:
    """The selected features of ``view`` for rows keyed ``keys``, by internal column name."""
    codec = view.codec
    distinct = dict.fromkeys(keys)
    if len(distinct) == 1:  # one entity for every row (a slate's user): one stored row, repeated
        return _repeated_row(view, next(iter(distinct)), len(keys), stored, available=available, now_us=now_us)
    decoded = {k: None if (data := stored.get(k)) is None else codec.decode_raw(data) for k in distinct}
    rows = [decoded[k] for k in keys]
    count, width = len(rows), len(codec.features)
    times = [None if r is None else r[1] for r in rows]
    ttl = view.ttl_us
    all_fresh = None not in rows and (ttl is None or not rows or now_us - min(times) <= ttl)  # type: ignore[type-var,operator]
    if all_fresh:
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * (width + 2)  # type: ignore[arg-type]
        fresh: list[bool] = []
        absent: list[str] = []
    else:
        missing = NOT_FOUND if available else UNAVAILABLE
        fresh = [r is not None and (ttl is None or now_us - r[1] <= ttl) for r in rows]
        absent = [missing if r is None else OUTSIDE_MAX_AGE for r in rows]
        filler = [None] * (width + 2)
        columns = list(zip(*[r if ok else filler for r, ok in zip(rows, fresh, strict=True)], strict=True))  # type: ignore[misc]
    out: dict[str, RawColumn] = {}
    for name, position, dtype in view.columns:
        raw = columns[position + 2]  # after the schema id and the event time
        if all_fresh and None not in raw:
            statuses = [PRESENT] * count
        elif all_fresh:
            statuses = [NULL_VALUE if v is None else PRESENT for v in raw]
        else:
            statuses = [(PRESENT if v is not None else NULL_VALUE) if ok else a for v, ok, a in zip(raw, fresh, absent, strict=True)]
        out[name] = RawColumn(raw, statuses, list(times), dtype)
    return out


def _repeated_row(
    view: ViewReadPlan, key: bytes, count: int, stored: Mapping[bytes, bytes | None], *, available: bool, now_us: int
) -> dict[str, RawColumn]:
    data = stored.get(key)
    row = None if data is None else view.codec.decode_raw(data)
    time = None if row is None else row[1]
    absent = (NOT_FOUND if available else UNAVAILABLE) if row is None else None
    if row is not None and view.ttl_us is not None and now_us - row[1] > view.ttl_us:
        row, absent = None, OUTSIDE_MAX_AGE
    out: dict[str, RawColumn] = {}
    for name, position, dtype in view.columns:
        value = None if row is None else row[position + 2]
        status = absent if absent is not None else PRESENT if value is not None else NULL_VALUE
        out[name] = RawColumn([value] * count, [status] * count, [time] * count, dtype, repeated=True)
    return out
