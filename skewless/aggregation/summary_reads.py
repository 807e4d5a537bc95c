"""Reading window summaries: every window of every entity of a slate in one compiled pass.

See :mod:`skewless.aggregation.summaries` for what a summary holds. A read joins the entities'
values in one buffer and merges, per entity and window, the rows of the window's series from the
window's start on; it also says which entities the summaries cannot answer (an event at or
after ``t``, or a window starting before its series' cutoff), which the caller reads from tiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import numba
import numpy as np

from skewless.aggregation.summaries import SummaryLayout


@dataclass
class SummaryRead:
    """Per distinct window, its numeric slots for every entity (windows, entities, numeric slots); per
    entity its ordered slots' values (None if absent); and which entities the summaries could
    answer (the others need the tiles: an event at or after ``t``, or rows older than a cutoff)."""

    merged: np.ndarray
    ordered: list[list[Any] | None]
    usable: np.ndarray


def read(layout: SummaryLayout, values: Sequence[bytes | None], t_us: int) -> SummaryRead:
    """Every window of ``layout`` at ``t_us`` for each entity's summary value (None: no events):
    the values joined in one buffer, every window of every entity merged in one compiled pass.
    The offsets, the window starts and the identities are worked out in that pass too: as NumPy
    calls around it they cost more than the merge (~1 µs each, a dozen a read)."""
    series, codes, identity, window_spans = layout.arrays
    lengths = np.array([0 if v is None else len(v) for v in values], dtype=np.int64)
    joined = b"".join(filter(None, values))  # an empty value is as absent as None: its length says so
    buffer = np.frombuffer(joined, dtype="<f8")
    merged, usable, base = _merge_windows(buffer, lengths, len(layout.levels), series, window_spans, codes, identity, t_us)
    ordered: list[list[Any] | None] = [None] * len(values)
    if layout.ordered:
        for e, b in enumerate(base.tolist()):
            if b >= 0:
                words, tail = int(buffer[b]), int(buffer[b + 1])
                ordered[e] = msgpack.unpackb(joined[(b + words) * 8 : (b + words) * 8 + tail])
    return SummaryRead(merged, ordered, usable)


@numba.njit(cache=True, nogil=True)
def _merge_windows(
    buffer: np.ndarray,
    lengths: np.ndarray,
    series_count: int,
    window_series: np.ndarray,
    window_spans: np.ndarray,
    codes: np.ndarray,
    identity: np.ndarray,
    t_us: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled; tested through read()
    """Entity e's summary is ``lengths[e]`` bytes of ``buffer`` (0: none), after those of the entities
    before it. Returns ``merged[window, e]``, each window's rows from its start on (codes: 0 adds,
    1 min, 2 max); ``usable[e]``, False when the summary holds an event at or after ``t_us`` or a
    window starts before its series' cutoff; and ``base[e]``, where its words start (-1: none).
    ``window_spans[w]``: the window's length and hop (µs); its start is ``floor_hop(t - length)``."""
    width = len(codes)
    entities = len(lengths)
    merged = np.empty((len(window_series), entities, width), dtype=np.float64)
    usable = np.ones(entities, dtype=np.bool_)
    base = np.full(entities, -1, dtype=np.int64)
    starts = np.empty(len(window_series), dtype=np.float64)
    for w in range(len(window_series)):
        length, hop = window_spans[w, 0], window_spans[w, 1]
        starts[w] = ((t_us - length) // hop) * hop
        for e in range(entities):
            merged[w, e, :] = identity
    first = np.empty(series_count, dtype=np.int64)
    rows = np.empty(series_count, dtype=np.int64)
    b = 0
    for e in range(entities):
        if lengths[e] <= 0:
            continue
        base[e] = b
        ok = buffer[b + 2] < t_us
        row = b + 3 + 2 * series_count
        for i in range(series_count):
            first[i] = row
            rows[i] = int(buffer[b + 4 + 2 * i])
            row += rows[i] * (width + 1)
        for w in range(len(window_series)):
            i, start = window_series[w], starts[w]
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
        b += lengths[e] // 8
    return merged, usable, base


def ordered_value(code: str, slot: Any, start_us: int) -> Any:
    """A ``last`` / ``last_n`` output from the entity's latest entries, limited to its window's start."""
    if code == "l":
        return slot[2] if slot and slot[0] >= start_us else None
    return [entry[2] for entry in slot if entry[0] >= start_us]


def warm() -> None:
    """Load the compiled merge before the first request needs it (from numba's on-disk cache: ~0.4 s,
    which a worker's first slate would otherwise wait)."""
    values = np.frombuffer(b"", dtype="<f8")  # read-only, as read()'s buffer: the same compiled signature
    none = np.empty(0, dtype=np.int64)
    _merge_windows(values, none, 0, none, np.empty((0, 2), dtype=np.int64), none, np.empty(0), 0)
