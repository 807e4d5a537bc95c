"""Tiles: partial aggregates per hop, and how a window is assembled from them.

The online path keeps, per entity and view, one tile per (level, start): the partial aggregates
of the events with ``start <= ts < start + level``. A window ``floor_h(t - W) <= ts < t`` (see
:mod:`skewless.aggregation.windows`) is the merge of

- whole tiles covering ``[floor_h(t - W), floor_b(t))``, where ``b`` is the finest level, chosen
  greedily from the coarsest level that fits, so a 30-day window at a 1-hour hop is ~60 tiles, not
  720;
- the raw events of the tile ``[floor_b(t), floor_b(t) + b)`` with ``ts < t``, kept beside the
  tiles, because ``t`` falls anywhere inside it and an event at exactly ``t`` must not be seen.
  They are kept compact, one *record* ``[ts, seq, v1, ..., vk]`` per event with the values of
  :attr:`TileLayout.columns`; :meth:`TileLayout.record_partial` turns one into its partial at read
  time. Records are appended to the raw key as msgpack arrays of records, one array per write.

Everything here is pure: tile layout, the partial of one event, merging, the window
decomposition and the final values. The embedded store merges with :func:`merge`; the Redis
store runs the same rules in Lua (``skewless/online/tile_merge.lua``); the contract suite checks
both against a brute-force oracle that does not import this module.

A partial is a list with one entry per :class:`Slot`:

- ``sum`` slots (counts and sums): a number, ``0`` when empty;
- ``min`` / ``max``: ``[]`` or ``[value]``;
- ``last``: ``[]`` or ``[ts, seq, value]``, the latest non-null value by (event time, write order);
- ``last_n``: up to ``n`` ``[ts, seq, value]`` entries, latest first.

``seq`` is the event's position in the offline log (``_write_seq``), so ties on event time break
the same way online and offline.

Merging is associative and, slot by slot, order-free apart from float rounding: the stream
pre-aggregates a batch's events per (entity, tile) (:mod:`skewless.streaming.tiling`, checked
against :meth:`TileLayout.merge_all` of the event partials) and merges the result into the tile.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

from skewless.aggregation.windows import MICROS, window_start_us
from skewless.definitions.aggregation import AggregationOutput

# Coarser levels added above the hops so long windows take few tiles; each must divide the next.
_COARSE_LEVELS: Final = (10, 60, 300, 3_600, 21_600, 86_400)

Partial = list[Any]


@dataclass(frozen=True)
class Slot:
    """One partial aggregate kept in every tile: ``op`` over the non-null values of ``column``."""

    column: str
    op: str  # "count", "sum", "min", "max", "last" or "last_n"
    n: int = 0

    @property
    def code(self) -> str:
        """How the slot merges, as the Lua script reads it: a (add), n (min), x (max), l (last), L<n>."""
        return {"count": "a", "sum": "a", "min": "n", "max": "x", "last": "l"}.get(self.op) or f"L{self.n}"


@dataclass(frozen=True)
class TileLayout:
    """The tiles of one windowed view: which partials each tile holds and at which levels."""

    outputs: tuple[AggregationOutput, ...]
    slots: tuple[Slot, ...]
    levels: tuple[int, ...]  # seconds, ascending; each divides the next
    retention: Mapping[int, int]  # level -> seconds a tile is kept after its end
    history_seconds: int

    @classmethod
    def for_outputs(cls, outputs: Sequence[AggregationOutput], *, history_seconds: int = 3_600) -> TileLayout:
        """Layout for a view's aggregation outputs; ``history_seconds`` is how far in the past
        reads with an explicit ``now`` stay exact."""
        slots: dict[tuple[str, str, int], Slot] = {}
        for o in outputs:
            ops = {"count": ["count"], "sum": ["sum"], "mean": ["count", "sum"]}.get(o.function, [o.function])
            for op in ops:
                n = (o.n or 0) if op == "last_n" else 0
                slots.setdefault((o.column, op, n), Slot(o.column, op, n))
        levels = tile_levels([o.hop_seconds for o in outputs], max(o.window_seconds for o in outputs))
        return cls(tuple(outputs), tuple(slots.values()), levels, _retention(levels, outputs), history_seconds)

    @cached_property
    def codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.slots)

    @property
    def base(self) -> int:
        return self.levels[0]

    @property
    def reach_seconds(self) -> int:
        """How far back from ``now`` an event still changes some window: the longest window plus its hop."""
        return max(o.window_seconds + o.hop_seconds for o in self.outputs)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The columns a raw record keeps after ``[ts, seq]``: every slot's column, once, in slot order."""
        return tuple(dict.fromkeys(s.column for s in self.slots))

    def record_partial(self, record: Sequence[Any]) -> Partial:
        """The partial of one raw record ``[ts, seq, *values of columns]``."""
        return self.event_partial(dict(zip(self.columns, record[2:], strict=True)), record[0], record[1])

    def empty(self) -> Partial:
        return [0 if s.op in ("count", "sum") else [] for s in self.slots]

    def event_partial(self, values: Mapping[str, Any], ts_us: int, seq: int) -> Partial:
        """The partial of a single event (its null values contribute nothing)."""
        partial: Partial = []
        for slot in self.slots:
            value = values.get(slot.column)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                partial.append(0 if slot.op in ("count", "sum") else [])
            elif slot.op == "count":
                partial.append(1)
            elif slot.op == "sum":
                partial.append(int(value) if isinstance(value, bool) else value)
            elif slot.op in ("min", "max"):
                partial.append([value])
            else:
                partial.append([ts_us, seq, value] if slot.op == "last" else [[ts_us, seq, value]])
        return partial

    def merge(self, a: Partial, b: Partial) -> Partial:
        """Both partials together (the same as applying b's events after a's)."""
        return merge_coded(self.codes, a, b)

    def merge_all(self, partials: Iterable[Partial]) -> Partial:
        result = self.empty()
        for partial in partials:
            result = self.merge(result, partial)
        return result

    def finalize(self, partial: Partial, output: AggregationOutput) -> Any:
        """The feature value of ``output`` for a window whose merged partial is ``partial``."""
        index = {(s.column, s.op, s.n): i for i, s in enumerate(self.slots)}

        def slot(op: str, n: int = 0) -> Any:
            return partial[index[(output.column, op, n)]]

        if output.function in ("count", "sum"):
            return slot(output.function)
        if output.function == "mean":
            count = slot("count")
            return slot("sum") / count if count else None
        if output.function in ("min", "max"):
            value = slot(output.function)
            return value[0] if value else None
        if output.function == "last":
            value = slot("last")
            return value[2] if value else None
        entries = slot("last_n", output.n or 0)
        return [e[2] for e in entries]

    def tiles_of_event(self, ts_us: int) -> list[tuple[int, int]]:
        """(level, start µs) of every tile an event at ``ts_us`` belongs to."""
        return [(level, floor_to(ts_us, level)) for level in self.levels]


def floor_to(ts_us: int, level_seconds: int) -> int:
    step = level_seconds * MICROS
    return (ts_us // step) * step


def tile_levels(hops: Sequence[int], longest_window: int) -> tuple[int, ...]:
    """Tile sizes for a view: its finest hop's divisor chain, plus coarse levels under the longest window.

    The base is the gcd of the hops (every window start is aligned to it). A level joins if it
    is a multiple of the previous one, so any aligned span decomposes greedily.
    """
    base = math.gcd(*hops)
    levels = [base]
    for level in sorted(set(hops) | set(_COARSE_LEVELS)):
        if level > levels[-1] and level % levels[-1] == 0 and level * 2 <= longest_window + max(hops):
            levels.append(level)
    return tuple(levels)


def window_tiles(t_us: int, window_seconds: int, hop_seconds: int, levels: Sequence[int]) -> tuple[list[tuple[int, int]], int]:
    """The whole tiles of window ``[floor_h(t - W), t)``, and where its raw part starts.

    Returns ``(tiles, raw_start)``: tiles as (level, start µs) covering ``[floor_h(t - W), raw_start)``
    exactly, and ``raw_start = floor_b(t)``; the window's events in ``[raw_start, t)`` come from the
    raw events of base tile ``raw_start``. If the window starts inside that base tile (only when
    the hop is finer than the base, which :func:`tile_levels` rules out) the tiles are empty.
    """
    start = window_start_us(t_us, window_seconds, hop_seconds)
    end = floor_to(t_us, levels[0])
    tiles: list[tuple[int, int]] = []
    cursor = start
    descending = sorted(levels, reverse=True)
    while cursor < end:
        for level in descending:
            step = level * MICROS
            if cursor % step == 0 and cursor + step <= end:
                tiles.append((level, cursor))
                cursor += step
                break
        else:  # unreachable when the start is aligned to the base level
            raise ValueError(f"window start {start} is not aligned to the base tile {levels[0]} s")
    return tiles, end


def _retention(levels: Sequence[int], outputs: Sequence[AggregationOutput]) -> dict[int, int]:
    """Seconds a tile of each level stays readable after its end, for reads at the current time.

    A greedy decomposition uses a level at a window's old edge only if the window's hop is at
    most that level, and otherwise only in the staircase down to ``t``, within one coarser
    tile of ``t``.
    """
    result = {}
    for i, level in enumerate(levels):
        coarser = levels[i + 1] if i + 1 < len(levels) else level
        old_edges = [o.window_seconds + o.hop_seconds for o in outputs if o.hop_seconds <= level]
        result[level] = max([coarser, *old_edges])
    return result


def merge_coded(codes: Sequence[str], a: Partial, b: Partial) -> Partial:
    """Merge two partials slot by slot, by each slot's code (the rules ``tile_merge.lua`` mirrors)."""
    return [_merge_slot(code, x, y) for code, x, y in zip(codes, a, b, strict=True)]


def merger(codes: Sequence[str]) -> Callable[[Partial, Partial], Partial]:
    """:func:`merge_coded` for fixed codes; when every slot adds (counts and sums, the common
    case) a plain element-wise sum, which is most of a stream worker's merge time."""
    if all(code == "a" for code in codes):
        return lambda a, b: [x + y for x, y in zip(a, b, strict=True)]
    fixed = list(codes)
    return lambda a, b: merge_coded(fixed, a, b)


def _later(x: Sequence[Any], y: Sequence[Any]) -> bool:
    """Whether entry x = [ts, seq, value] is at least as recent as y (event time, then write order)."""
    return bool((x[0], x[1]) >= (y[0], y[1]))


def _merge_slot(code: str, x: Any, y: Any) -> Any:
    if code == "a":
        return x + y
    if not y:
        return x
    if not x:
        return y
    if code == "n":
        return y if y[0] < x[0] else x
    if code == "x":
        return y if y[0] > x[0] else x
    if code == "l":
        return x if _later(x, y) else y
    n, p, r = int(code[1:]), 0, 0
    out: list[Any] = []
    while len(out) < n and (p < len(x) or r < len(y)):
        if r >= len(y) or (p < len(x) and _later(x[p], y[r])):
            out.append(x[p])
            p += 1
        else:
            out.append(y[r])
            r += 1
    return out
