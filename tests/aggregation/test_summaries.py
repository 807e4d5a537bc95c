"""Window summaries against brute force: events merged in random groups, at advancing write times,
read at random later times. The oracle computes each window directly from the events."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.aggregation import summaries, summary_reads
from skewless.aggregation.summaries import SummaryLayout
from skewless.aggregation.tiles import TileLayout, floor_to
from skewless.definitions.aggregation import AggregationOutput
from skewless.definitions.types import Float64, Int64

S = 1_000_000
T0 = 1_800_000_000 * S
OUTPUTS = (
    AggregationOutput("n_1m", "x", "count", 60, 1, Int64),
    AggregationOutput("sum_10m", "x", "sum", 600, 10, Float64),
    AggregationOutput("min_10m", "x", "min", 600, 10, Float64),
    AggregationOutput("max_1h", "x", "max", 3_600, 60, Float64),
    AggregationOutput("last3_10m", "x", "last_n", 600, 10, Float64, n=3),
    AggregationOutput("last_1h", "x", "last", 3_600, 60, Float64),
)
TILES = TileLayout.for_outputs(OUTPUTS)
LAYOUT = SummaryLayout.of(TILES)

events = st.lists(
    st.tuples(
        # Mostly on whole 10 s (bucket starts, so a series' oldest kept row can sit exactly at its cutoff), some anywhere.
        st.one_of(st.integers(0, 400).map(lambda k: k * 10 * S), st.integers(0, 4_000 * S)),
        st.one_of(st.none(), st.integers(-50, 50).map(float)),
    ),
    min_size=1,
    max_size=40,
)


def delta(ts: int, seq: int, x: float | None) -> bytes:
    """One event as a summary, as the stream writes it (one row per series, its latest values)."""
    assert LAYOUT is not None
    partial = TILES.event_partial({"x": x}, ts, seq)
    values = [[value] for value in partial]  # per slot, its value in the one partial
    series = [(np.zeros(1, dtype=np.int64), summaries.rows_of(LAYOUT, np.array([floor_to(ts, level)]), values)) for level in LAYOUT.levels]
    return summaries.encode_many(LAYOUT, np.array([ts]), series, [[partial[k]] for k in LAYOUT.ordered])[0]


def oracle(log: list[tuple[int, int, float | None]], output: AggregationOutput, t: int) -> Any:
    start = (t - output.window_seconds * S) // (output.hop_seconds * S) * (output.hop_seconds * S)
    inside = sorted(((ts, seq, x) for ts, seq, x in log if start <= ts < t and x is not None), reverse=True)
    values = [x for _, _, x in inside]
    return {
        "count": len(values),
        "sum": sum(values),
        "min": min(values, default=None),
        "max": max(values, default=None),
        "last_n": values[:3],
        "last": values[0] if values else None,
    }[output.function]


@settings(max_examples=300, deadline=None)
@given(events, st.lists(st.integers(1, 6), min_size=40, max_size=40), st.integers(0, 5_000 * S), st.integers(1, 3_000 * S))
def test_summaries_equal_brute_force(batch: list[tuple[int, float | None]], groups: list[int], lag: int, after: int) -> None:
    assert LAYOUT is not None
    log = [(T0 + ts, seq, x) for seq, (ts, x) in enumerate(batch)]
    stored: bytes | None = None
    written_at, cursor, g = T0, 0, 0
    while cursor < len(log):  # groups of events merged at advancing times, each no earlier than its events
        group = log[cursor : cursor + groups[g]]
        cursor, g = cursor + len(group), g + 1
        written_at = max(written_at, *(ts for ts, _, _ in group)) + lag // 7
        group_summary = delta(*group[0])
        for event in group[1:]:
            group_summary = summaries.merge(LAYOUT, group_summary, delta(*event), 0)
        stored = summaries.merge(LAYOUT, stored, group_summary, written_at)
    cutoffs = np.frombuffer(stored, "<f8", count=LAYOUT.header_words)[3::2].tolist()  # type: ignore[arg-type]
    # Windows starting exactly at a series' cutoff: the oldest row kept must be read (every hop here is a level).
    at_cutoffs = [int(cutoffs[series]) + window * S for series, window, _ in LAYOUT.windows]
    for t in (written_at + after, max(ts for ts, _, _ in log) + 1, T0 + after, *at_cutoffs):
        read = summary_reads.read(LAYOUT, [stored, None], t)
        assert read.usable[1]  # no summary: no events, every window empty
        columns = _columns(read, t)
        if not read.usable[0]:  # an event at or after t, or a window older than the rows kept
            assert t <= max(ts for ts, _, _ in log) or t < written_at
            continue
        for output, values in zip(OUTPUTS, columns, strict=True):
            want = oracle(log, output, t)
            assert values[0] == want, (output.name, t)
            assert values[1] == oracle([], output, t)


def _columns(read: summary_reads.SummaryRead, t: int) -> list[list[Any]]:
    """Each output's values for the two entities, from the read (what the online read does)."""
    assert LAYOUT is not None
    slot_of = {(s.column, s.op, s.n): k for k, s in enumerate(TILES.slots)}
    out = []
    for output, w in zip(OUTPUTS, LAYOUT.window_of_output, strict=True):
        _, window, hop = LAYOUT.windows[w]
        start = (t - window * S) // (hop * S) * (hop * S)
        if output.function in ("last", "last_n"):
            at = LAYOUT.ordered.index(slot_of[(output.column, output.function, output.n or 0)])
            code = LAYOUT.ordered_codes[at]
            out.append([summary_reads.ordered_value(code, [] if tail is None else tail[at], start) for tail in read.ordered])
            continue
        op = "count" if output.function == "count" else output.function
        column = LAYOUT.numeric.index(slot_of[(output.column, op, 0)])
        numbers = read.merged[w][:, column].tolist()
        if output.function == "count":
            out.append([int(v) for v in numbers])
        elif output.function == "sum":
            out.append(numbers)
        else:
            out.append([None if math.isinf(v) else v for v in numbers])
    return out


def test_a_window_starting_at_the_cutoff_reads_the_row_there() -> None:
    """The oldest bucket a merge keeps is the one a window starting at the cutoff begins with."""
    assert LAYOUT is not None
    log = [(T0 + 10 * S, 0, 1.0), (T0 + 100 * S, 1, 2.0)]
    stored = summaries.merge(LAYOUT, None, summaries.merge(LAYOUT, delta(*log[0]), delta(*log[1]), 0), T0 + 161 * S)
    assert np.frombuffer(stored, "<f8", count=4)[3] == T0 + 100 * S  # n_1m's series (1 s buckets) keeps 61 s
    t = T0 + 160 * S  # n_1m covers [T0 + 100 s, t)
    read = summary_reads.read(LAYOUT, [stored], t)
    assert read.usable[0]
    assert _columns(read, t)[0] == [1]


def test_warming_compiles_what_a_read_runs() -> None:
    """A serving worker warms the compiled merge at startup; a read must then find it compiled."""
    assert LAYOUT is not None
    summary_reads.warm()
    compiled = set(summary_reads._merge_windows.signatures)
    summary_reads.read(LAYOUT, [delta(T0, 0, 1.0), None], T0 + S)
    assert set(summary_reads._merge_windows.signatures) == compiled


def test_entities_read_together_read_as_each_alone() -> None:
    """One read joins the entities' summaries in one buffer: absent ones (None, or an empty value)
    anywhere among them must not shift where the others' words are."""
    assert LAYOUT is not None
    first = summaries.merge(LAYOUT, delta(T0, 0, 1.0), delta(T0 + 5 * S, 1, 4.0), 0)
    second = delta(T0 + 7 * S, 2, -2.0)
    t = T0 + 30 * S
    together = summary_reads.read(LAYOUT, [None, first, b"", second, None], t)
    alone = [summary_reads.read(LAYOUT, [value], t) for value in (None, first, None, second, None)]
    for e, one in enumerate(alone):
        assert np.array_equal(together.merged[:, e], one.merged[:, 0])
        assert together.ordered[e] == one.ordered[0]
        assert together.usable[e] == one.usable[0]
    assert _columns(together, t)[0] == [0, 2, 0, 1, 0]  # n_1m
