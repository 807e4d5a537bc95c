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

from skewless.aggregation.tiles import Partial, TileLayout, floor_to, merge_coded
from skewless.aggregation.windows import MICROS, window_start_us
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
        return cls(levels, spans, numeric, tuple(codes[i] for i in numeric), ordered, tuple(codes[i] for i in ordered),
                   tuple(windows), window_of_output, keep)  # fmt: skip

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What :func:`read` gives its compiled pass: each window's series, each numeric slot's
        code (0 adds, 1 min, 2 max) and identity."""
        series = np.array([s for s, _, _ in self.windows], dtype=np.int64)
        codes = np.array(["anx".index(c) for c in self.codes], dtype=np.int64)
        return series, codes, np.array([IDENTITY[c] for c in self.codes], dtype=np.float64)

    @property
    def header_words(self) -> int:
        return FIXED_WORDS + 2 * len(self.levels)

    @property
    def row_words(self) -> int:
        return 1 + len(self.numeric)

    def row(self, start_us: int, partial: Partial) -> list[float]:
        """A tile partial as a row: its numeric slots, an empty min / max as its identity (±inf)."""
        values = [
            float(partial[i]) if c == "a" else float(partial[i][0]) if partial[i] else IDENTITY[c]
            for i, c in zip(self.numeric, self.codes, strict=True)
        ]
        return [float(start_us), *values]


@dataclass
class Summary:
    """A decoded summary: per series its cutoff and rows (n, 1 + numeric slots), and the tail."""

    max_ts: int
    cutoffs: list[int]
    series: list[np.ndarray]
    ordered: list[Any]  # per ordered slot, as in a partial ([] when empty)


def empty(layout: SummaryLayout) -> Summary:
    return Summary(-(2**62), [0] * len(layout.levels), [np.empty((0, layout.row_words)) for _ in layout.levels],
                   [[] for _ in layout.ordered])  # fmt: skip


def encode(layout: SummaryLayout, summary: Summary) -> bytes:
    head = [0.0, 0.0, float(summary.max_ts)]
    for cutoff, rows in zip(summary.cutoffs, summary.series, strict=True):
        head += [float(cutoff), float(len(rows))]
    words = len(head) + sum(rows.size for rows in summary.series)
    tail = msgpack.packb(summary.ordered) if layout.ordered else b""
    head[0], head[1] = float(words), float(len(tail))
    body = np.concatenate([np.asarray(head), *(rows.reshape(-1) for rows in summary.series)]).astype("<f8").tobytes()
    return body + tail + b"\0" * (-len(tail) % 8)


def decode(layout: SummaryLayout, value: bytes) -> Summary:
    words = np.frombuffer(value, dtype="<f8", count=int(np.frombuffer(value, dtype="<f8", count=1)[0]))
    tail_bytes, max_ts = int(words[1]), int(words[2])
    at, width = layout.header_words, layout.row_words
    cutoffs, series = [], []
    for i in range(len(layout.levels)):
        cutoffs.append(int(words[FIXED_WORDS + 2 * i]))
        n = int(words[FIXED_WORDS + 2 * i + 1])
        series.append(words[at : at + n * width].reshape(n, width))
        at += n * width
    ordered = msgpack.unpackb(value[at * 8 : at * 8 + tail_bytes]) if layout.ordered else []
    return Summary(max_ts, cutoffs, series, ordered)


def max_ts(value: bytes) -> int:
    """The latest event time a summary holds."""
    return int(np.frombuffer(value, dtype="<f8", count=FIXED_WORDS)[2])


def merge(layout: SummaryLayout, stored: bytes | None, delta: bytes, now_us: int) -> bytes:
    """``delta`` merged into ``stored``; rows a window can no longer reach at ``now_us`` dropped."""
    old = decode(layout, stored) if stored is not None else empty(layout)
    new = decode(layout, delta)
    merged = Summary(max(old.max_ts, new.max_ts), [], [], [])
    for i, level in enumerate(layout.levels):
        cutoff = max(old.cutoffs[i], floor_to(now_us - layout.spans_us[i], level))
        rows = np.concatenate([old.series[i], new.series[i]])
        rows = rows[rows[:, 0] >= cutoff]
        starts = np.unique(rows[:, 0])
        if len(starts) < len(rows):  # the same bucket in both: merge slot by slot
            order = np.argsort(rows[:, 0], kind="stable")
            rows, bounds = rows[order], np.searchsorted(rows[order, 0], starts)
            combined = [starts]
            for j, code in enumerate(layout.codes, start=1):
                ufunc = np.add if code == "a" else np.minimum if code == "n" else np.maximum
                combined.append(ufunc.reduceat(rows[:, j], bounds))
            rows = np.column_stack(combined)
        else:
            rows = rows[np.argsort(rows[:, 0], kind="stable")]
        merged.cutoffs.append(cutoff)
        merged.series.append(rows.reshape(-1, layout.row_words))
    merged.ordered = [merge_coded([c], [a], [b])[0] for c, a, b in zip(layout.ordered_codes, old.ordered, new.ordered, strict=True)]
    return encode(layout, merged)


@dataclass
class SummaryRead:
    """Per distinct window, its numeric slots for every entity (entities, numeric slots); per
    entity its ordered slots' values (None if absent); and which entities the summaries could
    answer (the others need the tiles: an event at or after ``t``, or rows older than a cutoff)."""

    merged: list[np.ndarray]
    ordered: list[list[Any] | None]
    usable: np.ndarray


def read(layout: SummaryLayout, values: Sequence[bytes | None], t_us: int) -> SummaryRead:
    """Every window of ``layout`` at ``t_us`` for each entity's summary value (None: no events):
    the values joined in one buffer, every window of every entity merged in one compiled pass."""
    count = len(values)
    series, codes, identity = layout.arrays
    merged = np.empty((len(layout.windows), count, len(layout.numeric)), dtype=np.float64)
    merged[:] = identity
    ordered: list[list[Any] | None] = [None] * count
    usable = np.ones(count, dtype=bool)
    present = [i for i, v in enumerate(values) if v is not None]
    if present:
        blobs: list[bytes] = [values[i] for i in present]  # type: ignore[misc]
        lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
        base = np.zeros(len(blobs), dtype=np.int64)
        np.cumsum(lengths[:-1] // 8, out=base[1:])
        buffer = np.frombuffer(b"".join(blobs), dtype="<f8")
        starts = np.array([window_start_us(t_us, w, h) for _, w, h in layout.windows], dtype=np.float64)
        at = np.asarray(present, dtype=np.int64)
        _merge_windows(buffer, base, at, len(layout.levels), series, starts, codes, float(t_us), merged, usable)
        if layout.ordered:
            for e, blob, b in zip(present, blobs, base.tolist(), strict=True):
                words, tail = int(buffer[b]), int(buffer[b + 1])
                ordered[e] = msgpack.unpackb(blob[words * 8 : words * 8 + tail])
    return SummaryRead(list(merged), ordered, usable)


@numba.njit(cache=True, nogil=True)
def _merge_windows(
    buffer: np.ndarray,
    base: np.ndarray,
    at: np.ndarray,
    series_count: int,
    window_series: np.ndarray,
    window_starts: np.ndarray,
    codes: np.ndarray,
    t_us: float,
    merged: np.ndarray,
    usable: np.ndarray,
) -> None:  # pragma: no cover - compiled; tested through read()
    """For summary p (words from ``base[p]``) of entity ``at[p]``: each window's rows from its start on,
    merged into ``merged[window, entity]`` (codes: 0 adds, 1 min, 2 max); ``usable`` False when the
    summary holds an event at or after ``t_us`` or a window starts before its series' cutoff."""
    width = len(codes)
    first = np.empty(series_count, dtype=np.int64)
    rows = np.empty(series_count, dtype=np.int64)
    for p in range(len(base)):
        b, e = base[p], at[p]
        ok = buffer[b + 2] < t_us
        row = b + 3 + 2 * series_count
        for i in range(series_count):
            first[i] = row
            rows[i] = int(buffer[b + 4 + 2 * i])
            row += rows[i] * (width + 1)
        for w in range(len(window_series)):
            i, start = window_series[w], window_starts[w]
            if buffer[b + 3 + 2 * i] > start:
                ok = False
            r = rows[i]
            while r > 0 and buffer[first[i] + (r - 1) * (width + 1)] >= start:  # rows are sorted by start
                r -= 1
            for k in range(r, rows[i]):
                row = first[i] + k * (width + 1) + 1
                for j in range(width):
                    value = buffer[row + j]
                    if codes[j] == 0:
                        merged[w, e, j] += value
                    elif codes[j] == 1:
                        merged[w, e, j] = min(merged[w, e, j], value)
                    else:
                        merged[w, e, j] = max(merged[w, e, j], value)
        usable[e] = ok


def ordered_value(code: str, slot: Any, start_us: int) -> Any:
    """A ``last`` / ``last_n`` output from the entity's latest entries, limited to its window's start."""
    if code == "l":
        return slot[2] if slot and slot[0] >= start_us else None
    return [entry[2] for entry in slot if entry[0] >= start_us]
