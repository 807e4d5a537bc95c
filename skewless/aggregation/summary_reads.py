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
from skewless.aggregation.windows import window_start_us


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


def warm() -> None:
    """Load the compiled merge before the first request needs it (from numba's on-disk cache: ~0.4 s,
    which a worker's first slate would otherwise wait)."""
    values = np.frombuffer(b"", dtype="<f8")  # read-only, as read()'s buffer: the same compiled signature
    none = np.empty(0, dtype=np.int64)
    _merge_windows(values, none, none, 0, none, np.empty(0), none, 0.0, np.empty((0, 0, 0)), np.empty(0, dtype=bool))
