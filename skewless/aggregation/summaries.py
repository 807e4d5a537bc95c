"""Window summaries: an entity's events per hop bucket in one value, so a read sums rows, not tiles.

A read at ``t`` from tiles fetches every tile its windows cover (a user's 1h/24h/7d/30d windows
take ~67 tiles, an article's 10m/1h ~25, plus the raw events of the base tile holding ``t``),
whatever the entity holds. A *summary* keeps, beside the tiles and written in the same atomic
update, one series per tile level that a window's start is aligned to: the rows ``[start,
slot values...]`` of the non-empty buckets of that level, sorted by start, for as far back as a
window starting at that level can reach. For a read at ``t`` after every event the summary holds
(``max_ts < t``), window ``[floor_h(t - W), t)`` is simply the merge of the rows of its series
with ``start >= floor_h(t - W)``: no base tile to split, one value per entity, a masked sum per
window. ``last`` / ``last_n`` slots keep the entity's latest values whole (the latest ``n`` at or
after a window's start are the latest ``n`` overall, filtered by time).

A summary is additive: a batch's events are encoded as a summary of their own (a *delta*) and
merged into the stored one (:func:`merge`; ``tile_merge.lua`` mirrors it on Redis). Rows older
than a series can still be read (``floor_L(now - span)``, the *cutoff*) are dropped, and the
cutoff is kept so a read that would need them (``now=`` in the past) is recognised and served
from the tiles instead, as is an entity holding an event at or after ``t``.

Layout of a value, little-endian float64 words (µs times and counts below 2**53 are exact):
``[words, tail bytes, max_ts, (cutoff, rows) per series, rows of series 1, ..., of series k]``
then, if the view has ``last`` / ``last_n`` slots, a msgpack array with one entry per such slot
(as in a tile partial), zero-padded to whole words; ``words`` counts the words before it.

Pure: no I/O. Only views whose summed, min and max values are numbers get summaries
(:meth:`SummaryLayout.of` returns None otherwise; they are read from tiles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import msgpack
import numba
import numpy as np

from skewless.aggregation.tiles import TileLayout, floor_to, merge_coded
from skewless.aggregation.windows import MICROS
from skewless.definitions.types import Bool, Float32, Float64, Int64, Timestamp

FIXED_WORDS: Final = 3  # words, tail bytes, max_ts
_NUMBER_TYPES: Final = (Int64, Float32, Float64, Bool, Timestamp)
IDENTITY: Final = {"a": 0.0, "n": math.inf, "x": -math.inf}


@dataclass(frozen=True)
class SummaryLayout:
    """Which series a view's summaries keep, and which slots their rows and tail hold."""

    levels: tuple[int, ...]  # seconds: each series' bucket size, a tile level
    spans_us: tuple[int, ...]  # per series: how far before now a window of it can start
    numeric: tuple[int, ...]  # the tile layout's slots held in rows (sums, counts, min, max)
    codes: tuple[str, ...]  # per numeric slot: a (adds), n (min), x (max)
    ordered: tuple[int, ...]  # last / last_n slots, kept whole in the tail
    ordered_codes: tuple[str, ...]
    windows: tuple[tuple[int, int, int], ...]  # distinct (series, window s, hop s)
    window_of_output: tuple[int, ...]
    keep_us: int  # a summary is kept this long after its latest event (as long as its tiles)
    ordered_of_output: tuple[int | None, ...]  # per output: its place among the ordered slots (None: numeric)
    slot_columns: tuple[tuple[tuple[str, str, int], int], ...]  # (column, op, n) of each numeric slot -> its row column

    @classmethod
    def of(cls, layout: TileLayout) -> SummaryLayout | None:
        """The summary of a tile layout, or None when a summed, min or max value is not a number."""
        if any(o.function in ("sum", "min", "max") and o.dtype not in _NUMBER_TYPES for o in layout.outputs):
            return None
        codes = layout.codes
        numeric = tuple(i for i, c in enumerate(codes) if c in IDENTITY)
        ordered = tuple(i for i, c in enumerate(codes) if c not in IDENTITY)
        # A window's start is a multiple of its hop, so the coarsest level dividing the hop buckets it exactly.
        level_of = {o.hop_seconds: max(lv for lv in layout.levels if o.hop_seconds % lv == 0) for o in layout.outputs}
        levels = tuple(sorted(set(level_of.values())))
        spans = tuple(
            max(o.window_seconds + o.hop_seconds for o in layout.outputs if level_of[o.hop_seconds] == lv) * MICROS for lv in levels
        )
        windows: dict[tuple[int, int, int], int] = {}
        window_of_output = tuple(
            windows.setdefault((levels.index(level_of[o.hop_seconds]), o.window_seconds, o.hop_seconds), len(windows))
            for o in layout.outputs
        )
        keep = (layout.reach_seconds + layout.history_seconds) * MICROS
        slot_of = {(s.column, s.op, s.n): k for k, s in enumerate(layout.slots)}
        ordered_of_output = tuple(
            ordered.index(slot_of[(o.column, o.function, (o.n or 0) if o.function == "last_n" else 0)])
            if o.function in ("last", "last_n")
            else None
            for o in layout.outputs
        )
        slot_columns = tuple((key, numeric.index(k)) for key, k in slot_of.items() if k in numeric)
        return cls(levels, spans, numeric, tuple(codes[i] for i in numeric), ordered, tuple(codes[i] for i in ordered),
                   tuple(windows), window_of_output, keep, ordered_of_output, slot_columns)  # fmt: skip

    @cached_property
    def column_of(self) -> dict[tuple[str, str, int], int]:
        """(column, op, n) of a numeric slot -> its column in a row's values (and in a read's)."""
        return dict(self.slot_columns)

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What :func:`read` gives its compiled pass: each window's series, each numeric slot's
        code (0 adds, 1 min, 2 max) and identity, and each window's length and hop in µs."""
        series = np.array([s for s, _, _ in self.windows], dtype=np.int64)
        codes = np.array(["anx".index(c) for c in self.codes], dtype=np.int64)
        spans = np.array([(window * MICROS, hop * MICROS) for _, window, hop in self.windows], dtype=np.int64).reshape(-1, 2)
        return series, codes, np.array([IDENTITY[c] for c in self.codes], dtype=np.float64), spans

    @property
    def header_words(self) -> int:
        return FIXED_WORDS + 2 * len(self.levels)

    @property
    def row_words(self) -> int:
        return 1 + len(self.numeric)


def rows_of(layout: SummaryLayout, starts: np.ndarray, slot_values: Sequence[Sequence[Any]]) -> np.ndarray:
    """Summary rows of tile partials: ``starts`` their bucket starts, ``slot_values`` per slot of the
    tile layout the partials' values; an empty min / max becomes its identity (±inf)."""
    rows = np.empty((len(starts), layout.row_words), dtype=np.float64)
    rows[:, 0] = starts
    for j, (k, code) in enumerate(zip(layout.numeric, layout.codes, strict=True), start=1):
        values = slot_values[k]
        rows[:, j] = values if code == "a" else [v[0] if v else IDENTITY[code] for v in values]
    return rows


def encode_many(
    layout: SummaryLayout, latest: np.ndarray, series: Sequence[tuple[np.ndarray, np.ndarray]], ordered: Sequence[Sequence[Any]]
) -> list[bytes]:
    """The summaries of many entities at once (a batch's deltas, no cutoffs): ``latest`` their
    latest event times; per series, each row's entity (ascending) and the rows; per ordered slot,
    each entity's entry. One array is filled and cut, instead of a summary encoded per entity."""
    entities, head_words, width = len(latest), layout.header_words, layout.row_words
    counts = np.stack([np.bincount(owner, minlength=entities) for owner, _ in series], axis=1)
    words = head_words + counts.sum(axis=1) * width
    offsets = np.zeros(entities + 1, dtype=np.int64)
    np.cumsum(words, out=offsets[1:])
    tails = [msgpack.packb(list(entry)) for entry in zip(*ordered, strict=True)] if layout.ordered else [b""] * entities
    head = np.zeros((entities, head_words))
    head[:, 0], head[:, 1], head[:, 2] = words, [len(t) for t in tails], latest
    head[:, FIXED_WORDS + 1 :: 2] = counts
    flat = np.empty(int(offsets[-1]), dtype="<f8")
    flat[offsets[:-1, None] + np.arange(head_words)] = head
    before = head_words + np.cumsum(counts * width, axis=1) - counts * width  # where each series starts in its summary
    for i, (owner, rows) in enumerate(series):
        rank = np.arange(len(owner)) - (np.cumsum(counts[:, i]) - counts[:, i])[owner]
        flat[(offsets[owner] + before[owner, i] + rank * width)[:, None] + np.arange(width)] = rows
    body = flat.tobytes()
    cuts = (offsets * 8).tolist()
    return [body[cuts[e] : cuts[e + 1]] + _padded(tails[e]) for e in range(entities)]


def _padded(tail: bytes) -> bytes:
    return tail + b"\0" * (-len(tail) % 8)


def _body(value: bytes) -> bytes:
    """A summary's words, without its tail."""
    return value[: 8 * int(np.frombuffer(value, dtype="<f8", count=1)[0])]


def _tail(value: bytes) -> Any:
    words, size = (int(x) for x in np.frombuffer(value, dtype="<f8", count=2))
    return msgpack.unpackb(value[words * 8 : words * 8 + size])


def max_ts(value: bytes) -> int:
    """The latest event time a summary holds."""
    return int(np.frombuffer(value, dtype="<f8", count=FIXED_WORDS)[2])


def merge(layout: SummaryLayout, stored: bytes | None, delta: bytes, now_us: int) -> bytes:
    """``delta`` merged into ``stored``; rows a window can no longer reach at ``now_us`` dropped.

    Rows of the same bucket merge slot by slot, the stored one first (``tile_merge.lua`` does the
    same, so both stores hold the same numbers)."""
    return merge_many(layout, [stored], [delta], now_us)[0]


def merge_many(layout: SummaryLayout, stored: Sequence[bytes | None], deltas: Sequence[bytes], now_us: int) -> list[bytes]:
    """:func:`merge` of each (stored, delta) pair, in one compiled pass over all of them."""
    spans = zip(layout.levels, layout.spans_us, strict=True)
    floors = np.array([floor_to(now_us - span, level) for level, span in spans], dtype=np.float64)
    olds = [b"" if value is None else _body(value) for value in stored]
    news = [_body(value) for value in deltas]
    old_at, new_at = _offsets(olds), _offsets(news)
    old_words, new_words = np.frombuffer(b"".join(olds), "<f8"), np.frombuffer(b"".join(news), "<f8")
    out, out_at = _merge_all(old_words, old_at, new_words, new_at, len(layout.levels), layout.arrays[1], floors)
    body, cuts = out.tobytes(), (out_at * 8).tolist()
    merged = [body[cuts[e] : cuts[e + 1]] for e in range(len(deltas))]
    if not layout.ordered:
        return merged
    codes = layout.ordered_codes
    for e, (old, delta) in enumerate(zip(stored, deltas, strict=True)):
        before = _tail(old) if old is not None else [[] for _ in codes]
        tail = msgpack.packb([merge_coded([c], [a], [b])[0] for c, a, b in zip(codes, before, _tail(delta), strict=True)])
        head = np.frombuffer(merged[e], "<f8").copy()
        head[1] = len(tail)
        merged[e] = head.tobytes() + _padded(tail)
    return merged


def _offsets(values: Sequence[bytes]) -> np.ndarray:
    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum([len(v) // 8 for v in values], out=offsets[1:])
    return offsets


@numba.njit(cache=True, nogil=True)
def _merge_all(
    old: np.ndarray, old_at: np.ndarray, new: np.ndarray, new_at: np.ndarray, series_count: int, codes: np.ndarray, floors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested through merge()
    """:func:`_merge_words` of each pair ``old[old_at[e]:old_at[e+1]]`` (empty: none), ``new[...]``,
    written one after the other; returns the words and where each summary starts."""
    out = np.empty(len(old) + len(new), dtype=np.float64)
    out_at = np.zeros(len(new_at), dtype=np.int64)
    for e in range(len(new_at) - 1):
        merged = _merge_words(old[old_at[e] : old_at[e + 1]], new[new_at[e] : new_at[e + 1]], series_count, codes, floors)
        out[out_at[e] : out_at[e] + len(merged)] = merged
        out_at[e + 1] = out_at[e] + len(merged)
    return out[: out_at[-1]], out_at


@numba.njit(cache=True, nogil=True)
def _merge_words(
    old: np.ndarray, new: np.ndarray, series_count: int, codes: np.ndarray, floors: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled; tested through merge()
    """The words of ``old`` (empty: none) and ``new`` merged, series by series: rows sorted by
    start, one per bucket (codes: 0 adds, 1 min, 2 max), none before the cutoff (the later of the
    stored one and ``floors``). The tail's size is left 0."""
    width = len(codes) + 1
    head = 3 + 2 * series_count
    out = np.empty(head + max(len(old) - head, 0) + len(new) - head, dtype=np.float64)
    out[2] = max(old[2], new[2]) if len(old) else new[2]
    at, p, q = head, head, head
    for i in range(series_count):
        cutoff, old_end = floors[i], p
        if len(old):
            cutoff = max(cutoff, old[3 + 2 * i])
            old_end = p + int(old[4 + 2 * i]) * width
        new_end = q + int(new[4 + 2 * i]) * width
        rows = 0
        while p < old_end or q < new_end:
            if q >= new_end or (p < old_end and old[p] < new[q]):
                out[at : at + width] = old[p : p + width]
                p += width
            elif p >= old_end or new[q] < old[p]:
                out[at : at + width] = new[q : q + width]
                q += width
            else:
                out[at : at + width] = old[p : p + width]
                for j in range(width - 1):
                    x, y = out[at + 1 + j], new[q + 1 + j]
                    out[at + 1 + j] = x + y if codes[j] == 0 else min(x, y) if codes[j] == 1 else max(x, y)
                p += width
                q += width
            if out[at] >= cutoff:
                at += width
                rows += 1
        out[3 + 2 * i], out[4 + 2 * i] = cutoff, rows
    out[0], out[1] = at, 0
    return out[:at]
