"""Tile arithmetic, checked against brute force: a window's tiles cover exactly its span."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.aggregation.tiles import TileLayout, tile_levels, window_tiles
from skewless.definitions.aggregation import Aggregation, default_hop_seconds
from skewless.definitions.types import Int64

S = 1_000_000
WINDOWS = [60, 600, 3_600, 86_400, 7 * 86_400, 30 * 86_400]


def _floor(x: int, step: int) -> int:
    return x - (x % step)  # Python's % floors: a true floor for negatives too


@settings(max_examples=300, deadline=None)
@given(
    t=st.integers(-(10**15), 2 * 10**15),
    window=st.sampled_from(WINDOWS),
    extra_hops=st.lists(st.sampled_from([1, 10, 60, 300, 3_600]), max_size=3),
)
def test_tiles_cover_the_window_exactly_once(t: int, window: int, extra_hops: list[int]) -> None:
    hop = default_hop_seconds(window)
    hops = [hop, *(h for h in extra_hops if h <= window)]
    levels = tile_levels(hops, window)
    tiles, raw_start = window_tiles(t, window, hop, levels)
    base = levels[0]
    assert raw_start == _floor(t, base * S) <= t < raw_start + base * S
    cursor = _floor(t - window * S, hop * S)  # the window's start, floor_h(t - W)
    for level, start in tiles:
        assert level in levels and start == cursor and start % (level * S) == 0
        cursor += level * S
    assert cursor == raw_start
    # Coarse levels keep long windows to a few dozen tiles, not W / hop of them.
    assert len(tiles) <= 2 * sum(b // a for a, b in itertools.pairwise(levels)) + window // levels[-1] + 1


def test_levels_form_a_divisor_chain_from_the_finest_hop() -> None:
    assert tile_levels([60, 300, 3_600], 30 * 86_400) == (60, 300, 3_600, 21_600, 86_400)
    assert tile_levels([10, 60], 3_600) == (10, 60, 300)
    assert tile_levels([7, 14], 600) == (7, 14)  # odd hops: no nice level is a multiple of 14
    layout = TileLayout.for_outputs(
        [o for a in [Aggregation("x", "sum", windows=["1h", "30d"])] for o in a.outputs({"x": Int64}, owner="v")]
    )
    assert layout.retention[60] == 3_600 + 60  # the 1-minute tiles serve the 1h window's old edge
    assert layout.retention[86_400] == 30 * 86_400 + 3_600


def test_thirty_day_window_reads_few_tiles() -> None:
    levels = tile_levels([3_600], 30 * 86_400)
    worst = max(len(window_tiles(t * 60 * S + 17, 30 * 86_400, 3_600, levels)[0]) for t in range(0, 1_440 * 2, 7))
    assert worst <= 60
