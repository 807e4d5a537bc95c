"""Windowed features for a whole slate at once: tiles decoded in one pass, windows summed as arrays.

A read at ``t`` asks every entity's state hash for the same fields (:func:`window_field_read`):
the tiles of its windows, then the raw events of the base tile holding ``t``.
:func:`~skewless.online.tile_reads.read_windows` merges partials in Python, one tile at a time:
clear, and the reference this module is tested against, but a slate of 50 articles reads ~1,500
tiles and those merges cost milliseconds. Here every tile of the read is decoded in one C loop
(``msgpack.Unpacker`` over the concatenated values), the additive, min and max slots become
arrays of shape (entities, tile positions, slots), and each window is a masked sum, min or max
over positions. Only ``last`` / ``last_n`` slots (values of any type, ordered by time) stay in
Python, for the outputs that need them. Raw events before ``t`` are added per entity.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from typing import Any

import msgpack
import numpy as np

from skewless.aggregation.tiles import Partial, floor_to, merge_coded, window_tiles
from skewless.aggregation.windows import window_start_us
from skewless.definitions.types import Int64, Timestamp
from skewless.online.protocol import FieldRead, FieldSet, Values
from skewless.online.tile_keys import raw_field, state_key, tile_field
from skewless.online.tile_reads import TiledView, check_readable

_IDENTITY = {"a": 0.0, "n": np.inf, "x": -np.inf}


def window_field_read(tiled: TiledView, tags: Sequence[bytes], t_us: int) -> FieldRead:
    """What :func:`read_windows_fast` needs from the store for a read at ``t_us``: the state hash of
    each tag, and of each the fields of its windows' tiles, then of its raw events."""
    return [state_key(tag) for tag in tags], _read_plan(tiled, t_us).fields


def read_windows_fast(values: Values, tiled: TiledView, entities: int, t_us: int) -> dict[str, list[Any]]:
    """What :func:`~skewless.online.tile_reads.read_windows` gives, as columns (feature -> one value
    per entity), vectorized over entities and tiles, from the values of :func:`window_field_read`
    for ``entities`` tags."""
    layout = tiled.layout
    check_readable(tiled, t_us)
    read = _read_plan(tiled, t_us)
    windows, positions, index, masks = read.windows, read.positions, read.index, read.masks
    width = len(positions) + 1

    codes = layout.codes
    # Which values are tiles (present, and not an entity's raw events, the last of its ``width``
    # fields), found and joined with C-level iteration: a slate has ~1,300 keys, and a Python test
    # per key was a tenth of a millisecond.
    present = np.fromiter(map(operator.is_not, values, repeat(None)), dtype=bool, count=len(values))
    present[width - 1 :: width] = False
    tile_rows = np.flatnonzero(present)
    unpacker = msgpack.Unpacker()
    unpacker.feed(b"".join(compress(values, present.tolist())))  # type: ignore[arg-type]
    decoded: list[Partial] = list(unpacker)

    # Numeric slots as one array: (entities * width, slots); absent tiles hold each slot's identity.
    numeric = read.numeric
    identity, adds, lows, column, slot_of = read.identity, read.adds, read.lows, read.column, read.slot_of
    grid = np.empty((entities * width, len(numeric)), dtype=np.float64)
    grid[:] = identity  # broadcast, not a Python list of entities x tiles x slots floats
    if decoded and numeric:
        if read.additive_only:
            # Counts and sums are plain numbers in the tile: NumPy converts them in one call (as
            # float() would), with no Python function call per tile and slot.
            picked = decoded if read.numeric_is_prefix else map(operator.itemgetter(*numeric), decoded)
            grid[tile_rows] = np.array(list(picked), dtype=np.float64).reshape(len(decoded), len(numeric))
        else:
            grid[tile_rows] = [[_number(p[i], codes[i]) for i in numeric] for p in decoded]
    cube = grid.reshape(entities, width, len(numeric))[:, : len(positions), :]

    raws = values[width - 1 :: width]
    fast_raw = None if read.ordered else _raw_grid(layout, raws, t_us, read)
    if fast_raw is not None:
        raw: list[Partial | None] = [None] * entities  # only ordered outputs would read them
        raw_grid = fast_raw
    else:
        raw = [_raw_partial(tiled, value, t_us) for value in raws]
        raw_grid = np.tile(identity, (entities, 1))
        for e, partial in enumerate(raw):
            if partial is not None:
                raw_grid[e] = [_number(partial[k], codes[k]) for k in numeric]
    by_row = dict(zip(tile_rows.tolist(), decoded, strict=True)) if read.ordered else {}
    columns: dict[str, list[Any]] = {}
    array_column = {key: column[k] for key, k in slot_of.items() if k in column}
    merged_of: dict[int, list[list[float]]] = {}  # outputs over the same window (views and clicks 10m) merge once
    for o, output in enumerate(layout.outputs):
        w = read.window_of[o]
        slots = merged_of.get(w)
        if slots is None:
            tiles = cube[:, masks[o], :]
            if read.additive_only:  # the min and max reductions would only be thrown away by the where
                merged = tiles.sum(axis=1) + raw_grid
            else:
                merged = np.where(
                    adds,
                    tiles.sum(axis=1) + raw_grid,
                    np.where(
                        lows,
                        np.minimum(tiles.min(axis=1, initial=np.inf), raw_grid),
                        np.maximum(tiles.max(axis=1, initial=-np.inf), raw_grid),
                    ),
                )
            slots = merged_of[w] = merged.T.tolist()  # per slot, one list over entities

        function = output.function
        if function in ("last", "last_n"):
            k = slot_of[(output.column, function, (output.n or 0) if function == "last_n" else 0)]
            columns[output.name] = [_ordered(codes[k], k, e, windows[o], index, width, by_row, raw[e], function) for e in range(entities)]
        else:
            columns[output.name] = numeric_output(numeric_spec(output, array_column), slots)
    add_ratios(tiled.view, columns)
    return columns


# How a count, sum, mean, min or max output is read from its window's merged slots: (kind, its
# value's slot column, a mean's count column or -1). Summary reads work it out once per plan
# (ViewReadPlan.summary_specs); reads from tiles, the fallback, per read.
NumericSpec = tuple[str, int, int]
_INFINITIES = (math.inf, -math.inf)  # an empty window's min / max


def numeric_spec(output: Any, column_of: dict[tuple[str, str, int], int]) -> NumericSpec:
    """``column_of``: (column, op, n) of a slot -> its place in the merged slots."""
    function, column = output.function, output.column
    integer = output.dtype in (Int64, Timestamp)
    if function == "count":
        return "int", column_of[(column, "count", 0)], -1
    if function == "sum":
        return "int" if output.dtype == Int64 else "float", column_of[(column, "sum", 0)], -1
    if function == "mean":
        return "mean", column_of[(column, "sum", 0)], column_of[(column, "count", 0)]
    return "int_extreme" if integer else "float_extreme", column_of[(column, function, 0)], -1


def numeric_output(spec: NumericSpec, slots: list[list[float]]) -> list[Any]:
    """An output for every entity from its window's merged numeric slots, one list over entities
    per slot (``merged.T.tolist()``, converted once for all the outputs of a window)."""
    kind, at, count_at = spec
    values = slots[at]
    # int() over tolist()'s floats: the values int() of each NumPy scalar gave, without a scalar per row.
    if kind == "int":
        return list(map(int, values))
    if kind == "float":
        return list(values)
    if kind == "mean":
        return [x / n if n else None for x, n in zip(values, slots[count_at], strict=True)]
    if kind == "int_extreme":
        return [None if v in _INFINITIES else int(v) for v in values]
    return [None if v in _INFINITIES else v for v in values]


def add_ratios(view: Any, columns: dict[str, list[Any]]) -> None:
    """The view's ratios from its numerator and denominator columns (None when the denominator is 0)."""
    for ratio in view.ratios:
        numerators, denominators = columns[ratio.numerator], columns[ratio.denominator]
        if 0 in denominators or None in denominators or None in numerators:
            columns[ratio.name] = [
                None if not den or num is None else float(num) / den for num, den in zip(numerators, denominators, strict=True)
            ]
        else:  # the same divisions, in C
            columns[ratio.name] = list(map(operator.truediv, map(float, numerators), denominators))


@dataclass(frozen=True)
class _ReadPlan:
    """What a read at ``t`` needs, the same for every entity and every ``t`` in one base tile with the
    same window starts: so it is computed once and reused by the requests that follow."""

    windows: list[list[tuple[int, int]]]
    positions: list[tuple[int, int]]
    index: dict[tuple[int, int], int]
    masks: np.ndarray  # (outputs, positions): which tiles each window merges
    window_of: list[int]  # per output, its window's number: outputs with the same window share it
    fields: FieldSet  # asked of each entity's state: its tiles' fields, then its raw events'
    numeric: list[int]  # the layout's slots held in the arrays (additive, min, max)
    additive_only: bool  # every numeric slot is a plain number (no min / max, which are [value] or [])
    numeric_is_prefix: bool  # the numeric slots are all the slots, in order: a tile is its own row
    ordered: bool  # some output is a last / last_n, merged per entity from the decoded tiles
    identity: np.ndarray  # per numeric slot, its value in an absent tile: 0, +inf (min), -inf (max)
    adds: np.ndarray  # per numeric slot, whether it adds (else min or max)
    lows: np.ndarray  # per numeric slot, whether it is a min
    column: dict[int, int]  # slot -> its column in the arrays
    slot_of: dict[tuple[str, str, int], int]  # (column, op, n) -> slot


_PLANS: dict[tuple[Any, ...], _ReadPlan] = {}


def _read_plan(tiled: TiledView, t_us: int) -> _ReadPlan:
    layout = tiled.layout
    raw_start = floor_to(t_us, layout.base)
    key = (id(layout), raw_start, *(window_start_us(t_us, o.window_seconds, o.hop_seconds) for o in layout.outputs))
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    windows = [window_tiles(t_us, o.window_seconds, o.hop_seconds, layout.levels)[0] for o in layout.outputs]
    numbered: dict[tuple[int, int], int] = {}
    window_of = [numbered.setdefault((o.window_seconds, o.hop_seconds), len(numbered)) for o in layout.outputs]
    positions = list(dict.fromkeys(tile for tiles in windows for tile in tiles))
    index = {position: i for i, position in enumerate(positions)}
    masks = np.zeros((len(windows), len(positions)), dtype=bool)
    for o, tiles in enumerate(windows):
        masks[o, [index[t] for t in tiles]] = True
    fields = FieldSet([tile_field(level, start) for level, start in positions] + [raw_field(raw_start)])
    if len(_PLANS) > 4_096:  # a long-running server sees a new plan per base tile: keep the recent ones
        _PLANS.clear()
    codes = layout.codes
    numeric = [i for i, c in enumerate(codes) if c in _IDENTITY]
    plan = _PLANS[key] = _ReadPlan(
        windows,
        positions,
        index,
        masks,
        window_of,
        fields,
        numeric,
        additive_only=all(codes[i] == "a" for i in numeric),
        numeric_is_prefix=numeric == list(range(len(codes))),
        ordered=any(o.function not in ("count", "sum", "mean", "min", "max") for o in layout.outputs),
        identity=np.array([_IDENTITY[codes[k]] for k in numeric], dtype=np.float64),
        adds=np.array([codes[k] == "a" for k in numeric], dtype=bool),
        lows=np.array([codes[k] == "n" for k in numeric], dtype=bool),
        column={k: j for j, k in enumerate(numeric)},
        slot_of={(s.column, s.op, s.n): k for k, s in enumerate(layout.slots)},
    )
    return plan


def _ordered(
    code: str,
    k: int,
    e: int,
    window: Sequence[tuple[int, int]],
    index: dict[tuple[int, int], int],
    width: int,
    by_row: dict[int, Partial],
    extra: Partial | None,
    function: str,
) -> Any:
    """``last`` / ``last_n`` of one entity: ordered by (time, write order) over values of any type."""
    merged: Any = [] if extra is None else extra[k]
    for tile in window:
        partial = by_row.get(e * width + index[tile])
        if partial is not None:
            merged = merge_coded([code], [merged], [partial[k]])[0]
    if function == "last":
        return merged[2] if merged else None
    return [entry[2] for entry in merged]


def _number(slot: Any, code: str) -> float:
    if code == "a":
        return float(slot)
    return float(slot[0]) if slot else _IDENTITY[code]


def _raw_grid(layout: Any, raws: Sequence[bytes | None], t_us: int, read: _ReadPlan) -> np.ndarray | None:
    """The numeric slots of each entity's raw events before ``t``, as one array (entities, slots),
    or None when a value is not a number (the per-record path takes it). A hot article holds
    thousands of raw events in its current base tile; one Python call per record cost ~8 µs."""
    grid = np.tile(read.identity, (len(raws), 1))
    records: list[Any] = []
    owners: list[int] = []
    for e, raw in enumerate(raws):
        if raw is not None:
            unpacker = msgpack.Unpacker()
            unpacker.feed(raw)
            before = len(records)
            for written in unpacker:  # one array of records per write
                records.extend(written)
            owners += [e] * (len(records) - before)
    if not records:
        return grid
    ts = np.fromiter(map(operator.itemgetter(0), records), dtype=np.int64, count=len(records))
    owner = np.asarray(owners, dtype=np.int64)
    before_t = ts < t_us
    for j, k in enumerate(read.numeric):
        slot = layout.slots[k]
        position = 2 + layout.columns.index(slot.column)
        try:
            column = np.array([np.nan if v is None else v for v in map(operator.itemgetter(position), records)], dtype=np.float64)
        except (TypeError, ValueError):
            return None
        counted = before_t & ~np.isnan(column)  # a null or NaN value contributes nothing, as in a tile
        at, numbers = owner[counted], column[counted]
        if slot.op == "count":
            grid[:, j] += np.bincount(at, minlength=len(raws))
        elif slot.op == "sum":
            grid[:, j] += np.bincount(at, weights=numbers, minlength=len(raws))
        elif slot.op == "min":
            np.minimum.at(grid[:, j], at, numbers)
        else:
            np.maximum.at(grid[:, j], at, numbers)
    return grid


def _raw_partial(tiled: TiledView, raw: bytes | None, t_us: int) -> Partial | None:
    """The raw events of the base tile before ``t``, merged into one partial (None if there are none)."""
    if raw is None:
        return None
    layout = tiled.layout
    unpacker = msgpack.Unpacker()
    unpacker.feed(raw)
    partials = [layout.record_partial(record) for records in unpacker for record in records if record[0] < t_us]
    return layout.merge_all(partials) if partials else None
