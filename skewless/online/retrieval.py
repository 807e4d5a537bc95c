"""Reading a selection for a batch of entity rows (e.g. 1 user x 50 articles) from the online store.

All the keys of all the views, and the tile fields of the windowed ones, go to the store in one
``read`` (one round trip per Redis node), each distinct entity once however many rows repeat it. Stored rows become columns in
:mod:`skewless.online.columns`. On-demand features then get the same NumPy arrays as in training
sets, with ``event_timestamp`` = now, built without Arrow where that gives the same arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Final

import numpy as np
import pyarrow as pa

from skewless.definitions.types import DType, Embedding, Int64, String
from skewless.errors import InvalidRequestError, OnlineStoreUnavailableError
from skewless.online.columns import NOT_FOUND, NULL_VALUE, OUTSIDE_MAX_AGE, PRESENT, UNAVAILABLE, RawColumn, view_columns
from skewless.online.keys import entity_keys
from skewless.online.protocol import FieldRead, OnlineStore, Values
from skewless.online.read_plan import ReadPlan
from skewless.online.window_columns import SummaryAnswer, summary_keys, window_columns, window_read
from skewless.transform.on_demand import arrow_to_udf_input, run_udf, udf_output_to_values, values_to_udf_input

__all__ = ["CACHED", "NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE", "PRESENT", "UNAVAILABLE", "OnlineResponse", "columnar", "read_online"]

CACHED: Final = "CACHED"  # served from the serving cache while the store was unreachable


Column = tuple[list[Any], list[str], list[int | None]]  # values, statuses, event times


@dataclass
class OnlineResponse:
    """Feature values per row, with Feast's statuses and event timestamps (µs, None if unknown)."""

    entities: dict[str, list[Any]]
    feature_names: list[str]
    values: dict[str, list[Any]] = field(default_factory=dict)
    statuses: dict[str, list[str]] = field(default_factory=dict)
    event_timestamps: dict[str, list[int | None]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, list[Any]]:
        """Join keys and request values as given, then feature name -> values."""
        return {**self.entities, **self.values}

    def to_df(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.to_dict())


def columnar(entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """Rows as ``[{"user_id": 1, "article_id": 7}, ...]`` or columns as ``{"user_id": [1, ...]}``."""
    if isinstance(entity_rows, Mapping):
        columns = {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in entity_rows.items()}
    else:
        names = list(dict.fromkeys(k for row in entity_rows for k in row))
        columns = {k: [row.get(k) for row in entity_rows] for k in names}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise InvalidRequestError(
            f"entity columns have different lengths: {sorted(lengths)}", hint="give one value per row in every column"
        )
    return columns


def read_online(
    plan: ReadPlan,
    store: OnlineStore,
    rows: dict[str, list[Any]],
    *,
    now_us: int,
    request_context: Mapping[str, Any] | None = None,
) -> OnlineResponse:
    pending = PendingRead.of(plan, rows, now_us=now_us)
    try:
        fetched = store.read(pending.keys, pending.field_reads)
    except OnlineStoreUnavailableError:
        return pending.finish(None, request_context)
    tiles: list[Values] | None = []
    more = pending.tile_reads(fetched)
    if more:
        try:
            tiles = store.read([], more)[1]
        except OnlineStoreUnavailableError:
            tiles = None
    return pending.finish(fetched, request_context, tiles)


@dataclass
class PendingRead:
    """A read split at the store calls, so a caller can make them as it likes (serving awaits
    them): :meth:`of` says what to fetch, :meth:`tile_reads` what else the answer needs (the tiles
    of entities the window summaries could not answer, usually none), :meth:`finish` builds the
    response from what came back."""

    plan: ReadPlan
    rows: dict[str, list[Any]]
    now_us: int
    keys_per_view: list[list[bytes]]
    keys: list[bytes]  # rows of the snapshot views, each distinct entity once, then the windowed views' summaries
    field_reads: list[FieldRead]  # tiles of the windowed views without summaries, one read per view
    summaries_at: dict[int, tuple[int, int]]  # per view with summaries (by position): where its summaries are in ``keys``
    answers: dict[int, SummaryAnswer] | None = None  # per view with summaries: what they gave

    @classmethod
    def of(cls, plan: ReadPlan, rows: dict[str, list[Any]], *, now_us: int) -> PendingRead:
        keys_per_view = _keys_per_view(plan, rows)
        views = list(zip(plan.views, keys_per_view, strict=True))
        keys = list(dict.fromkeys(chain.from_iterable(keys for view, keys in views if not view.tiled)))
        summaries_at: dict[int, tuple[int, int]] = {}
        for i, (view, view_keys) in enumerate(views):
            if view.summary is not None:  # distinct per view, and no two views share a summary key
                start = len(keys)
                keys += summary_keys(view_keys)
                summaries_at[i] = (start, len(keys))
        field_reads = [window_read(view, view_keys, now_us) for view, view_keys in views if view.tiled and not view.summary]
        return cls(plan, rows, now_us, keys_per_view, keys, field_reads, summaries_at)

    def tile_reads(self, fetched: tuple[Values, list[Values]]) -> list[FieldRead]:
        """The tiles to read before :meth:`finish`, given the first read's answer: those of the
        entities whose summaries cannot answer at ``now_us``. Usually none."""
        self.answers = {}
        for i, (start, end) in self.summaries_at.items():
            self.answers[i] = SummaryAnswer.of(self.plan.views[i], self.keys_per_view[i], fetched[0][start:end], self.now_us)
        return [a.tiles for a in self.answers.values() if a.tiles is not None]

    def finish(
        self,
        fetched: tuple[Values, list[Values]] | None,
        request_context: Mapping[str, Any] | None = None,
        tiles: list[Values] | None = None,
    ) -> OnlineResponse:
        """The response from the store's answers: ``fetched`` of the first read (None: the store was
        unavailable) and ``tiles`` of :meth:`tile_reads` (None: they could not be read)."""
        if fetched is not None and self.answers is None and self.tile_reads(fetched):
            raise ValueError("some windows need their tiles: call tile_reads() and pass what they read")
        return _respond(self, fetched, request_context, tiles)


def _respond(
    pending: PendingRead, fetched: tuple[Values, list[Values]] | None, request_context: Mapping[str, Any] | None, tiles: list[Values] | None
) -> OnlineResponse:
    plan, rows, now_us = pending.plan, pending.rows, pending.now_us
    count = len(next(iter(rows.values()))) if rows else 0
    available = fetched is not None
    raw = dict(zip(pending.keys, fetched[0], strict=True)) if fetched is not None else {}
    windows: list[Values | None] = list(fetched[1]) if fetched is not None else [None] * len(pending.field_reads)
    stored: dict[str, RawColumn] = {}
    window_values = iter(windows)
    tile_values = iter(tiles if tiles is not None else ())
    answers = pending.answers if fetched is not None and pending.answers is not None else {}
    for i, (view, keys) in enumerate(zip(plan.views, pending.keys_per_view, strict=True)):
        if view.tiled is None:
            stored.update(view_columns(view, keys, raw, available=available, now_us=now_us))
        elif view.summary is None:
            stored.update(window_columns(view, keys, next(window_values), t_us=now_us))
        else:
            answer = answers.get(i)
            values = next(tile_values, None) if answer is not None and answer.tiles is not None else None
            stored.update(window_columns(view, keys, values, t_us=now_us, answer=answer))
    context = _context(plan, rows, request_context, count)
    computed: dict[str, Column] = {}
    for odfv in plan.selection.on_demand:
        # The function's inputs in the order the Arrow route gives them: the time, request values, features.
        arguments: dict[str, np.ndarray] = {"event_timestamp": np.full(count, now_us, dtype=np.int64).view("datetime64[us]")}
        for name, dtype in ((f.name, f.dtype) for s in odfv.view.request_sources for f in s.schema):
            fast = values_to_udf_input(context[name], dtype)
            arguments[name] = fast if fast is not None else _via_arrow(context[name], dtype, name)
        for item in odfv.inputs:
            source = stored[item.internal]
            fast = source.udf_input()
            arguments[item.name] = fast if fast is not None else _via_arrow(source.values(), item.dtype, item.name)
        outputs, types = run_udf(odfv.view, arguments, features=odfv.features)
        for feature, result in outputs.items():
            values = udf_output_to_values(result, types[feature], rows=count, where=f"{odfv.view.label}: output {feature!r}")
            statuses = [PRESENT] * count if None not in values else [PRESENT if v is not None else NULL_VALUE for v in values]
            computed[odfv.column(feature)] = (values, statuses, [now_us] * count)
    response = OnlineResponse({**rows, **{k: v for k, v in context.items() if k not in rows}}, [o.name for o in plan.selection.outputs])
    for output in plan.selection.outputs:
        read = stored.get(output.internal)
        values, statuses, times = computed[output.internal] if read is None else (read.values(), read.statuses, read.times)
        response.values[output.name], response.statuses[output.name], response.event_timestamps[output.name] = values, statuses, times
    return response


def _keys_per_view(plan: ReadPlan, rows: dict[str, list[Any]]) -> list[list[bytes]]:
    """``entity_keys`` of each view; views of the same entity check and encode its values once."""
    encoded: dict[str, list[bytes]] = {}
    repeated: set[str] = set()  # join keys with one value on every row (a slate's user)
    keys = []
    for view in plan.views:
        for key in view.join_keys:
            if key not in rows:
                raise InvalidRequestError(f"missing join key {key!r}", hint=f"send {key!r} with each entity row")
            if key not in encoded:
                values = rows[key]
                kinds = set(map(type, values))  # in C, once: the check and the encoding both ask
                _check_key_values(key, values, kinds, plan.selection.join_keys[key])
                if len(values) > 1 and len(kinds) == 1 and len(set(values)) == 1:
                    encoded[key] = [str(values[0]).encode()]
                    repeated.add(key)
                elif kinds == {int}:  # str() of each in one C call: no comma in an integer
                    encoded[key] = ",".join(map(str, values)).encode().split(b",")
                else:
                    encoded[key] = [str(v).encode() for v in values]
        if len(view.join_keys) == 1:
            prefix, key = view.prefix, view.join_keys[0]
            if key in repeated:  # one bytes object on every row: hashed once downstream
                keys.append([prefix + encoded[key][0]] * len(rows[key]))
            else:
                keys.append(list(map(prefix.__add__, encoded[key])))
        else:
            keys.append(entity_keys(view.prefix, view.join_keys, rows))
    return keys


def _check_key_values(name: str, values: list[Any], kinds: set[type], dtype: DType) -> None:
    """``kinds``: the types of ``values``."""
    expected: type = int if dtype == Int64 else str
    if kinds <= {expected}:  # the usual case
        return
    for i, value in enumerate(values):
        if type(value) is not expected and not (expected is int and isinstance(value, int) and not isinstance(value, bool)):
            raise InvalidRequestError(
                f"join key {name!r} must be {'an integer' if dtype == Int64 else 'a string'}, got {value!r} in row {i}",
                hint=f"{name!r} is declared {dtype} by its entity" + ("" if dtype != String else "; quote the value"),
            )


def _embeddings(values: list[Any], dtype: Embedding) -> pa.Array:
    """Vectors as one float32 matrix, not one Python list per row: 50 x 384 floats in microseconds."""
    matrix = np.zeros((len(values), dtype.dim), dtype=np.float32)
    missing = np.zeros(len(values), dtype=bool)
    for i, vector in enumerate(values):
        if vector is None:
            missing[i] = True
        else:
            matrix[i] = vector
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), dtype.dim, mask=pa.array(missing))


def _context(plan: ReadPlan, rows: dict[str, list[Any]], request_context: Mapping[str, Any] | None, count: int) -> dict[str, list[Any]]:
    """Request values per row: from the rows, or one value for the whole request broadcast."""
    context: dict[str, list[Any]] = {}
    for name, dtype in plan.selection.request_fields.items():
        if name in rows:
            if request_context is not None and name in request_context:  # one of them would be ignored unchecked
                raise InvalidRequestError(
                    f"request value {name!r} given both per row and in request_context", hint="send it in one of them"
                )
            context[name] = rows[name]
        elif request_context is not None and name in request_context:
            value = request_context[name]
            if isinstance(value, (list, tuple)) and dtype.is_scalar:
                context[name] = list(value)
                continue
            if count == 0:  # broadcast to no row, it is never converted: check it alone, so it is refused all the same
                _via_arrow([value], dtype, name)
            context[name] = [value] * count
        else:
            raise InvalidRequestError(f"missing request value {name!r}", hint=f"send {name!r} in request_context or per row")
    return context


def _via_arrow(values: list[Any], dtype: DType, name: str) -> np.ndarray:
    try:
        return arrow_to_udf_input(_arrow(values, dtype, name), dtype)
    except pa.ArrowInvalid as exc:  # e.g. an Int64 request value beyond 2**53 has no float64 for the function
        raise InvalidRequestError(f"value of {name!r} cannot be given to an on-demand function: {exc}") from None


def _arrow(values: list[Any], dtype: DType, name: str) -> pa.Array:
    try:
        if isinstance(dtype, Embedding):
            return _embeddings(values, dtype)
        return pa.array([list(v) if hasattr(v, "tolist") and not dtype.is_scalar else v for v in values], type=dtype.to_arrow())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidRequestError(f"value of {name!r} is not a {dtype}: {exc}") from None
