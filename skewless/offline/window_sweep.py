"""Windowed aggregations at entity rows' times, by one sweep over the events in time order (pure).

For a key ``k`` let ``P(k, x)`` be a running total over k's events with ``ts < x``. A window
``[s, t)`` (``s = floor_h(t - W)``) of a count or a sum is ``P(k, t) - P(k, s)``. So the entity
rows' times and window starts become *probe points*, sorted by time (one stream per window: a
window start is monotone in ``t``), and a single pass over the events in time order keeps one
running total per key and column: at a probe point it reads the totals of its key (a probe comes
before the events at its own time, which are not ``< x``). Per event that is a few array updates
for its key, per probe a few reads: nothing is sorted by key, no row is joined to an event.

- Float sums are double-double (Knuth's TwoSum), so ``P(t) - P(s)`` keeps the window's value to
  ~1e-16 of itself even when the key's all-time total is much larger; integer sums are exact.
- min / max are not differences: each key's events are cut into *segments* at its probe points,
  and a window ``[s, t)`` is the segments closed at the key's probes after ``s`` up to ``t``. A
  key's number of probes is known in advance (windows + 1 per row), so its segments' extremes
  are stored side by side in probe order, and a window is a scan of a contiguous range: a busy
  key's 30-day window spans hundreds of probes, which a linked list would visit by cache misses.
- last / last_n: each key keeps a ring of its latest ``n`` non-null events (references and
  times); at ``t`` the ring is copied, newest first, and the window keeps the ones with
  ``ts >= s`` (a prefix, since the ring is in time order). Events at equal times go in write
  order, so the later write is the later value.

Outputs are one contiguous array per output, rows in time order (written as a stream; putting
them back in the caller's order is one gather per column, cheaper than writing each probe's
values to random rows). Which events arrive (first writes only,
within the entity rows' time range) and in what order (time, then write sequence) is the
caller's business: ``skewless.offline.windowed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


@dataclass(frozen=True)
class SweepSpec:
    """What the sweep accumulates, as indexes (built by ``window_plan.ViewPlan.of``).

    ``J`` windows (probe streams ``1..J``; stream 0 is the row's own time), ``C`` value columns
    (validity rows), integer-valued ones (ints, bools, timestamps in µs) and float-valued ones as
    rows of two value matrices; the matrices may hold columns of other views (one conversion per
    batch serves every view of a source). Each slot array has one row per output."""

    windows: I64  # (J, 2): window µs, hop µs
    int_columns: I64  # (Ci, 2): each summed or compared integer column's validity row, value row
    float_columns: I64  # (Cf, 2)
    count_columns: I64  # (Cc,): the validity rows of the columns whose values are counted
    count_slots: I64  # (m, 2): window 1..J, counted column 0..Cc-1
    int_sum_slots: I64  # (m, 2): window, int column 0..Ci-1
    float_sum_slots: I64  # (m, 2): window, float column 0..Cf-1
    int_extremes: I64  # (Ei, 2): int column, 1 for max / 0 for min
    float_extremes: I64  # (Ef, 2)
    extreme_slots: I64  # (m, 3): window, 1 if float, extreme index
    last_columns: I64  # (L, 2): validity row, n
    matrix_rows: tuple[int, int, int]  # rows of the validity, integer and float matrices fed

    def __post_init__(self) -> None:
        for slots in (self.count_slots, self.int_sum_slots, self.float_sum_slots):
            if np.any(np.diff(slots[:, 0]) < 0):
                raise ValueError("slots must be ordered by window")

    def window_bounds(self) -> I64:
        """(3, J + 2): where each window's count, integer-sum and float-sum slots begin."""
        streams = np.arange(len(self.windows) + 2)
        return np.stack([np.searchsorted(slots[:, 0], streams) for slots in (self.count_slots, self.int_sum_slots, self.float_sum_slots)])


def _empty(*shape: int) -> I64:
    return np.zeros(shape, dtype=np.int64)


@dataclass
class SweepState:
    """Running totals per key, per-probe segments and the outputs (rows in time order)."""

    probe_times: I64  # (J + 1, n): stream 0 the rows' times, stream j the starts of window j
    probe_keys: I64  # (n,): each row's key index, -1 for a row whose key is null
    bounds: I64  # SweepSpec.window_bounds
    cursor: I64  # (J + 1,): the next probe of each stream
    counts: I64
    int_sums: I64
    float_hi: F64
    float_lo: F64
    int_running: I64  # (K, Ei): each key's extreme since its last probe
    float_running: F64
    next_segment: I64  # (K,): where each key's next segment goes (its segments are side by side)
    position: I64  # (n * (J + 1),): where the segment closed at probe row * (J + 1) + stream is
    int_segments: I64  # (n * (J + 1), Ei): segment extremes, each key's in probe order
    float_segments: F64
    ring_refs: I64  # (L, K, N): latest non-null events per key, as event references
    ring_times: I64
    ring_head: I64  # (L, K)
    ring_size: I64
    out_counts: I64  # (m, n) per slot array
    out_int_sums: I64
    out_float_sums: F64
    out_float_lo: F64  # the start's low part, until the row's time is reached
    out_int_extremes: I64
    out_float_extremes: F64
    out_last_refs: I64  # (L, n, N), -1 where none
    out_last_times: I64
    events_seen: int = field(default=0)

    @classmethod
    def allocate(cls, spec: SweepSpec, row_times: I64, row_keys: I64, keys: int) -> SweepState:
        """State for rows sorted by time (``row_keys`` index ``0..keys-1`` or -1)."""
        n, streams = len(row_times), len(spec.windows) + 1
        probe_times = np.empty((streams, n), dtype=np.int64)
        probe_times[0] = row_times
        for j, (window, hop) in enumerate(spec.windows, start=1):
            probe_times[j] = ((row_times - window) // hop) * hop  # numpy's // floors, as floor_h does
        ci, cf, c = len(spec.int_columns), len(spec.float_columns), len(spec.count_columns)
        ei, ef = len(spec.int_extremes), len(spec.float_extremes)
        segments = n * streams if ei + ef else 0
        ring = int(spec.last_columns[:, 1].max()) if len(spec.last_columns) else 0
        lasts = len(spec.last_columns)
        # A key's totals side by side in one row of each array (the fields below are views), so an
        # event touches one or two cache lines, not one per kind of total.
        int_state = np.zeros((keys, c + ci + ei + 1), dtype=np.int64)
        float_state = np.zeros((keys, 2 * cf + ef))
        int_running, float_running = int_state[:, c + ci : c + ci + ei], float_state[:, 2 * cf :]
        _reset(int_running, float_running, spec.int_extremes, spec.float_extremes)
        next_segment = int_state[:, c + ci + ei]
        if segments:
            rows_per_key = np.bincount(row_keys[row_keys >= 0], minlength=keys)
            next_segment[:] = (np.cumsum(rows_per_key) - rows_per_key) * streams
        extremes = len(spec.extreme_slots)
        return cls(
            probe_times=probe_times,
            probe_keys=np.ascontiguousarray(row_keys, dtype=np.int64),
            bounds=spec.window_bounds(),
            cursor=_empty(streams),
            counts=int_state[:, :c],
            int_sums=int_state[:, c : c + ci],
            float_hi=float_state[:, :cf],
            float_lo=float_state[:, cf : 2 * cf],
            int_running=int_running,
            float_running=float_running,
            next_segment=next_segment,
            position=_empty(segments),
            int_segments=_empty(segments, ei),
            float_segments=np.zeros((segments, ef)),
            ring_refs=_empty(lasts, keys, ring),
            ring_times=_empty(lasts, keys, ring),
            ring_head=_empty(lasts, keys),
            ring_size=_empty(lasts, keys),
            out_counts=_empty(len(spec.count_slots), n),
            out_int_sums=_empty(len(spec.int_sum_slots), n),
            out_float_sums=np.zeros((len(spec.float_sum_slots), n)),
            out_float_lo=np.zeros((len(spec.float_sum_slots), n)),
            out_int_extremes=_empty(extremes if ei else 0, n),
            out_float_extremes=np.zeros((extremes if ef else 0, n)),
            out_last_refs=np.full((lasts, n, ring), -1, dtype=np.int64),
            out_last_times=_empty(lasts, n, ring),
        )

    def feed(
        self, spec: SweepSpec, keys: I64, times: I64, valid: NDArray[np.bool_], ints: I64, floats: F64, order: I64 | None = None
    ) -> None:
        """Apply a batch of events, taken in ``order`` (default: as given), which must be (time,
        write) order, after every earlier batch. ``keys`` index the key (-1: no row needs it);
        ``valid`` is (C, events); ``ints`` (Ci, events) and ``floats`` (Cf, events) hold the values,
        any value where not valid (one row per column: copying columns in is a memcpy each). An
        event's reference (for last / last_n) is its position among every event fed so far, as given."""
        # One signature for every call (contiguous, writable), so numba compiles the sweep once.
        keys, times = _plain(keys, np.int64), _plain(times, np.int64)
        valid, ints, floats = _plain(valid, np.bool_), _plain(ints, np.int64), _plain(floats, np.float64)
        taken = _plain(np.empty(0, dtype=np.int64) if order is None else order, np.int64)
        events = (keys, times, valid, ints, floats, taken)
        _sweep(self._spec(spec), self._totals(), self._extremes(), self._outputs(), events, self.events_seen, INT_LOW)
        self.events_seen += len(keys)

    def finish(self, spec: SweepSpec) -> None:
        """Read the probes after the last event, and let go of what only the sweep needed."""
        keys = np.empty(0, dtype=np.int64)
        rows, int_rows, float_rows = spec.matrix_rows
        valid = np.empty((rows, 0), dtype=np.bool_)
        ints, floats = np.empty((int_rows, 0), dtype=np.int64), np.empty((float_rows, 0))
        events = (keys, keys, valid, ints, floats, keys)
        _sweep(self._spec(spec), self._totals(), self._extremes(), self._outputs(), events, self.events_seen, INT_HIGH)
        for name in ("position", "int_segments", "float_segments", "out_float_lo"):
            done = getattr(self, name)
            setattr(self, name, np.empty((0, *done.shape[1:]), dtype=done.dtype))  # a new array: a slice would keep it

    @staticmethod
    def _spec(spec: SweepSpec) -> tuple[I64, ...]:
        return (
            spec.int_columns, spec.float_columns, spec.count_columns, spec.count_slots, spec.int_sum_slots, spec.float_sum_slots,
            spec.int_extremes, spec.float_extremes, spec.extreme_slots, spec.last_columns,
        )  # fmt: skip

    def _totals(self) -> tuple[NDArray[np.generic], ...]:
        return (
            self.probe_times, self.probe_keys, self.bounds, self.cursor, self.counts, self.int_sums, self.float_hi,
            self.float_lo, self.ring_refs, self.ring_times, self.ring_head, self.ring_size,
        )  # fmt: skip

    def _extremes(self) -> tuple[NDArray[np.generic], ...]:
        return (
            self.int_running, self.float_running, self.next_segment, self.position, self.int_segments,
            self.float_segments,
        )  # fmt: skip

    def _outputs(self) -> tuple[NDArray[np.generic], ...]:
        return (
            self.out_counts, self.out_int_sums, self.out_float_sums, self.out_float_lo, self.out_int_extremes,
            self.out_float_extremes, self.out_last_refs, self.out_last_times,
        )  # fmt: skip


def _plain(array: NDArray[Any], dtype: type[np.generic]) -> NDArray[Any]:
    result = np.ascontiguousarray(array, dtype=dtype)
    return result if result.flags.writeable else result.copy()


INT_LOW, INT_HIGH = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def _reset(int_running: I64, float_running: F64, int_extremes: I64, float_extremes: I64) -> None:
    """Empty extremes: the identity of each operation (a window with no value is null by its count)."""
    for e, (_, is_max) in enumerate(int_extremes):
        int_running[:, e] = INT_LOW if is_max else INT_HIGH
    for e, (_, is_max) in enumerate(float_extremes):
        # NaN sorts above every number (as in SQL engines): max starts below everything, min at
        # NaN, which any number replaces and which stays only if every value was NaN.
        float_running[:, e] = -np.inf if is_max else np.nan


@numba.njit(cache=True, inline="always")
def _float_above(a: float, b: float) -> bool:
    """``a > b`` with NaN above every number."""
    return (a != a and b == b) or a > b


@numba.njit(cache=True, inline="always")
def _int_pick(current: int, value: int, is_max: int) -> int:
    if is_max:
        return value if value > current else current
    return value if value < current else current


@numba.njit(cache=True, inline="always")
def _float_pick(current: float, value: float, is_max: int) -> float:
    if is_max:
        return value if _float_above(value, current) else current
    return value if _float_above(current, value) else current


@numba.njit(cache=True, nogil=True)
def _sweep(spec, totals, extremes, outputs, events, first_ref, then_until):  # type: ignore[no-untyped-def]
    """Feed one batch of events, then read the probes up to ``then_until``."""
    keys, times, valid, ints, floats, order = events
    ordered = order.shape[0] > 0
    (
        int_columns, float_columns, count_columns, count_slots, int_sum_slots, float_sum_slots, int_extremes, float_extremes,
        extreme_slots, last_columns,
    ) = spec  # fmt: skip
    (
        probe_times, probe_keys, bounds, cursor, counts, int_sums, float_hi, float_lo, ring_refs, ring_times, ring_head,
        ring_size,
    ) = totals  # fmt: skip
    int_running, float_running, next_segment, position, int_segments, float_segments = extremes
    out_counts, out_int_sums, out_float_sums, out_float_lo, out_int_extremes, out_float_extremes, out_last_refs, out_last_times = outputs
    streams, rows = probe_times.shape
    has_extremes = int_extremes.shape[0] + float_extremes.shape[0] > 0

    def close_segment(key: int, here: int) -> None:
        """End the key's current segment at this probe: its extremes go to the key's next slot."""
        at = next_segment[key]
        next_segment[key] = at + 1
        position[here] = at
        for e in range(int_extremes.shape[0]):
            int_segments[at, e] = int_running[key, e]
            int_running[key, e] = INT_LOW if int_extremes[e, 1] else INT_HIGH
        for e in range(float_extremes.shape[0]):
            float_segments[at, e] = float_running[key, e]
            float_running[key, e] = -np.inf if float_extremes[e, 1] else np.nan

    def window_extremes(row: int, here: int, out: int) -> None:
        """Each extreme over the segments closed after the row's probe at its window start, up to here."""
        last = position[here]
        for m in range(extreme_slots.shape[0]):
            first = position[row * streams + extreme_slots[m, 0]] + 1  # the first segment inside
            e = extreme_slots[m, 2]
            if extreme_slots[m, 1]:
                is_max = float_extremes[e, 1]
                fvalue = float_segments[last, e]
                for at in range(first, last):
                    fvalue = _float_pick(fvalue, float_segments[at, e], is_max)
                out_float_extremes[m, out] = fvalue
            else:
                is_max = int_extremes[e, 1]
                ivalue = int_segments[last, e]
                for at in range(first, last):
                    ivalue = _int_pick(ivalue, int_segments[at, e], is_max)
                out_int_extremes[m, out] = ivalue

    def probe(row: int, stream: int) -> None:
        key = probe_keys[row]
        if key < 0:
            return
        out = row
        if stream > 0:  # a window start: subtract the totals before it
            for m in range(bounds[0, stream], bounds[0, stream + 1]):
                out_counts[m, out] = -counts[key, count_slots[m, 1]]
            for m in range(bounds[1, stream], bounds[1, stream + 1]):
                out_int_sums[m, out] = -int_sums[key, int_sum_slots[m, 1]]
            for m in range(bounds[2, stream], bounds[2, stream + 1]):
                out_float_sums[m, out] = -float_hi[key, float_sum_slots[m, 1]]
                out_float_lo[m, out] = -float_lo[key, float_sum_slots[m, 1]]
        else:  # the row's own time: add the totals before it
            for m in range(count_slots.shape[0]):
                out_counts[m, out] += counts[key, count_slots[m, 1]]
            for m in range(int_sum_slots.shape[0]):
                out_int_sums[m, out] += int_sums[key, int_sum_slots[m, 1]]
            for m in range(float_sum_slots.shape[0]):
                c = float_sum_slots[m, 1]
                # High parts first: close totals cancel exactly; the low parts carry what was rounded off.
                out_float_sums[m, out] = (float_hi[key, c] + out_float_sums[m, out]) + (float_lo[key, c] + out_float_lo[m, out])
            for r in range(last_columns.shape[0]):
                n = last_columns[r, 1]
                for q in range(ring_size[r, key]):
                    at = (ring_head[r, key] - 1 - q) % n
                    out_last_refs[r, out, q] = ring_refs[r, key, at]
                    out_last_times[r, out, q] = ring_times[r, key, at]
        if has_extremes:
            here = row * streams + stream
            close_segment(key, here)
            if stream == 0:
                window_extremes(row, here, out)

    def probes_until(limit: int) -> None:
        """Every probe at or before ``limit``, streams merged in time order."""
        while True:
            best, best_time = -1, limit
            for j in range(streams):
                if cursor[j] < rows and probe_times[j, cursor[j]] <= best_time:
                    best, best_time = j, probe_times[j, cursor[j]]
            if best < 0:
                return
            probe(cursor[best], best)
            cursor[best] += 1

    for at_event in range(keys.shape[0]):
        i = order[at_event] if ordered else at_event
        probes_until(times[i])  # probes at the event's own time first: ts < t excludes it
        key = keys[i]
        if key < 0:
            continue
        for c in range(count_columns.shape[0]):
            if valid[count_columns[c], i]:
                counts[key, c] += 1
        for c in range(int_columns.shape[0]):
            if valid[int_columns[c, 0], i]:
                int_sums[key, c] += ints[int_columns[c, 1], i]
        for c in range(float_columns.shape[0]):
            if valid[float_columns[c, 0], i]:
                value = floats[float_columns[c, 1], i]
                high = float_hi[key, c]
                total = high + value  # TwoSum: total + error == high + value exactly
                back = total - high
                float_lo[key, c] += (high - (total - back)) + (value - back)
                float_hi[key, c] = total
        for e in range(int_extremes.shape[0]):
            c = int_extremes[e, 0]
            if valid[int_columns[c, 0], i]:
                int_running[key, e] = _int_pick(int_running[key, e], ints[int_columns[c, 1], i], int_extremes[e, 1])
        for e in range(float_extremes.shape[0]):
            c = float_extremes[e, 0]
            if valid[float_columns[c, 0], i]:
                float_running[key, e] = _float_pick(float_running[key, e], floats[float_columns[c, 1], i], float_extremes[e, 1])
        for r in range(last_columns.shape[0]):
            if valid[last_columns[r, 0], i]:
                n = last_columns[r, 1]
                at = ring_head[r, key]
                ring_refs[r, key, at] = first_ref + i
                ring_times[r, key, at] = times[i]
                ring_head[r, key] = (at + 1) % n
                if ring_size[r, key] < n:
                    ring_size[r, key] += 1
    probes_until(then_until)
