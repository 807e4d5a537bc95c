"""The windowed sweep kernel against brute force in plain Python (no I/O, no SQL)."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.offline.key_index import KeyIndex
from skewless.offline.window_sweep import SweepSpec, SweepState

KEYS = 4
# Windows as (window, hop) in µs: a window [floor_h(t - W), t).
WINDOWS = [(20, 5), (7, 7), (50, 1)]


def spec() -> SweepSpec:
    """Count of column 0 (int), sums of column 0 and column 1 (float), max of column 0, min of
    column 1, last 2 of column 1: each over every window."""
    j = range(1, len(WINDOWS) + 1)
    return SweepSpec(
        windows=np.array(WINDOWS, dtype=np.int64),
        int_columns=np.array([[0, 0]], dtype=np.int64),
        float_columns=np.array([[1, 0]], dtype=np.int64),
        count_columns=np.array([0, 1], dtype=np.int64),
        count_slots=np.array([[w, c] for w in j for c in (0, 1)], dtype=np.int64),
        int_sum_slots=np.array([[w, 0] for w in j], dtype=np.int64),
        float_sum_slots=np.array([[w, 0] for w in j], dtype=np.int64),
        int_extremes=np.array([[0, 1]], dtype=np.int64),
        float_extremes=np.array([[0, 0]], dtype=np.int64),
        extreme_slots=np.array([[w, f, 0] for w in j for f in (0, 1)], dtype=np.int64),
        last_columns=np.array([[1, 2]], dtype=np.int64),
        matrix_rows=(2, 1, 1),
    )


times = st.integers(-30, 120)
events_strategy = st.lists(
    st.tuples(
        st.integers(0, KEYS - 1),
        times,
        st.one_of(st.none(), st.integers(-(2**40), 2**40)),
        st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([1e15, -1e15, 0.1])),
    ),
    max_size=80,
)
rows_strategy = st.lists(st.tuples(st.integers(-1, KEYS - 1), times), min_size=1, max_size=25)


Event = tuple[int, int, int | None, float | None]  # key, time, int value, float value


def brute_force(events: list[Event], key: int, t: int, window: int, hop: int) -> dict[str, Any]:
    start = ((t - window) // hop) * hop
    inside = [(ts, seq, i, f) for seq, (k, ts, i, f) in enumerate(events) if k == key and start <= ts < t]
    ints = [i for _, _, i, _ in inside if i is not None]
    floats = [f for _, _, _, f in inside if f is not None]
    latest = sorted(((ts, seq, f) for ts, seq, _, f in inside if f is not None), reverse=True)
    return {
        "count_int": len(ints),
        "count_float": len(floats),
        "sum_int": sum(ints),
        "sum_float": math.fsum(floats),
        "max_int": max(ints) if ints else None,
        "min_float": min(floats) if floats else None,
        "last2": [seq for _, seq, _ in latest[:2]],
    }


@settings(max_examples=300, deadline=None)
@given(events_strategy, rows_strategy, st.randoms(use_true_random=False))
def test_sweep_matches_brute_force(events: list[Event], rows: list[tuple[int, int]], rng: random.Random) -> None:
    plan = spec()
    # Events arrive in (time, write) order, split into batches at random points; within a batch
    # the caller may hand them over shuffled with the permutation that orders them.
    ordered = sorted(range(len(events)), key=lambda seq: (events[seq][1], seq))
    row_times = np.array([t for _, t in rows], dtype=np.int64)
    by_time = np.argsort(row_times, kind="stable")
    state = SweepState.allocate(plan, row_times[by_time], np.array([k for k, _ in rows], dtype=np.int64)[by_time], KEYS)
    cuts = sorted(rng.sample(range(len(ordered) + 1), k=min(3, len(ordered) + 1)))
    references: list[int] = []  # event seq of each reference, in the order fed
    for low, high in zip([0, *cuts], [*cuts, len(ordered)], strict=True):
        batch = [ordered[i] for i in range(low, high)]
        given_order = batch[:]
        shuffled = rng.random() < 0.7
        if shuffled:
            rng.shuffle(given_order)
        permutation = np.array([given_order.index(seq) for seq in batch], dtype=np.int64)
        ints = np.array([[events[s][2] or 0 for s in given_order]], dtype=np.int64).reshape(1, -1)
        floats = np.array([[events[s][3] or 0.0 for s in given_order]], dtype=np.float64).reshape(1, -1)
        valid = np.array([[events[s][2] is not None for s in given_order], [events[s][3] is not None for s in given_order]]).reshape(2, -1)
        keys = np.array([events[s][0] for s in given_order], dtype=np.int64)
        stamps = np.array([events[s][1] for s in given_order], dtype=np.int64)
        state.feed(plan, keys, stamps, valid, ints, floats, order=permutation if shuffled else None)
        references.extend(given_order)
    state.finish(plan)
    for position, row in enumerate(by_time):  # outputs come in time order
        key, t = rows[row]
        for j, (window, hop) in enumerate(WINDOWS):
            if key < 0:
                assert state.out_counts[2 * j, position] == 0 and state.out_int_sums[j, position] == 0
                continue
            expected = brute_force(events, key, t, window, hop)
            assert state.out_counts[2 * j, position] == expected["count_int"]
            assert state.out_counts[2 * j + 1, position] == expected["count_float"]
            assert state.out_int_sums[j, position] == expected["sum_int"]
            assert math.isclose(state.out_float_sums[j, position], expected["sum_float"], rel_tol=1e-12, abs_tol=1e-12)
            if expected["max_int"] is not None:
                assert state.out_int_extremes[2 * j, position] == expected["max_int"]
            if expected["min_float"] is not None:
                assert state.out_float_extremes[2 * j + 1, position] == expected["min_float"]
            start = ((t - window) // hop) * hop
            refs, seen = state.out_last_refs[0, position], state.out_last_times[0, position]
            kept = [references[r] for r, s in zip(refs, seen, strict=True) if r >= 0 and s >= start]
            assert kept == expected["last2"]


def test_an_event_at_a_rows_time_is_not_in_its_window() -> None:
    plan = spec()
    state = SweepState.allocate(plan, np.array([10], dtype=np.int64), np.array([0], dtype=np.int64), 1)
    state.feed(plan, np.array([0, 0]), np.array([9, 10]), np.ones((2, 2), dtype=bool), np.array([[1, 100]]), np.array([[1.0, 100.0]]))
    state.finish(plan)
    assert state.out_int_sums[:, 0].tolist() == [1, 1, 1]


@settings(deadline=None)  # the first example compiles the lookup
@given(st.lists(st.integers(-(2**62), 2**62), unique=True, max_size=50), st.lists(st.integers(-(2**62), 2**62), max_size=50), st.booleans())
def test_key_index_finds_each_key(keys: list[int], probes: list[int], dense: bool) -> None:
    if dense:  # sequential ids take the direct table
        keys = [k % 1000 for k in keys]
        keys = list(dict.fromkeys(keys))
        probes = [p % 1200 - 100 for p in probes]
    index = KeyIndex(np.array(keys, dtype=np.int64))
    expected = {k: i for i, k in enumerate(keys)}
    probes += keys
    assert index.lookup(np.array(probes, dtype=np.int64)).tolist() == [expected.get(p, -1) for p in probes]


def test_extremes_over_many_probes() -> None:
    """A busy key: hundreds of probes inside one window."""
    plan = spec()
    rng = np.random.default_rng(7)
    events: list[Event] = [
        (int(rng.integers(0, 2)), int(rng.integers(-50, 400)), int(rng.integers(-1000, 1000)), float(rng.normal())) for _ in range(3000)
    ]
    rows = [(int(rng.integers(0, 2)), int(rng.integers(0, 400))) for _ in range(600)]
    ordered = sorted(range(len(events)), key=lambda seq: (events[seq][1], seq))
    row_times = np.array([t for _, t in rows], dtype=np.int64)
    by_time = np.argsort(row_times, kind="stable")
    state = SweepState.allocate(plan, row_times[by_time], np.array([k for k, _ in rows], dtype=np.int64)[by_time], KEYS)
    state.feed(
        plan,
        np.array([events[s][0] for s in ordered], dtype=np.int64),
        np.array([events[s][1] for s in ordered], dtype=np.int64),
        np.ones((2, len(ordered)), dtype=bool),
        np.array([[events[s][2] for s in ordered]], dtype=np.int64),
        np.array([[events[s][3] for s in ordered]], dtype=np.float64),
    )
    state.finish(plan)
    for position, row in enumerate(by_time):
        key, t = rows[row]
        for j, (window, hop) in enumerate(WINDOWS):
            expected = brute_force(events, key, t, window, hop)
            if expected["max_int"] is not None:
                assert state.out_int_extremes[2 * j, position] == expected["max_int"]
                assert state.out_float_extremes[2 * j + 1, position] == expected["min_float"]
