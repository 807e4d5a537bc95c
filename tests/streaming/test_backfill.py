"""Backfill then stream: the tiles built from the offline history and the events pushed after them
equal what get_historical_features computes over the whole log, across the cut-over."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pandas as pd
from stream_events import SOURCE, USER, VIEW, assert_online_equals_offline, online_values, random_events

from skewless import FeatureStore
from skewless.config import RepoConfig


def test_backfill_then_stream_equals_offline_across_the_cut_over(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path, config=RepoConfig(project="backfill"))
    store.apply([USER, SOURCE, VIEW])
    rng = random.Random(21)
    now = time.time_ns() // 1000
    history = [e for e in random_events(rng, now, 1_500) if e["event_timestamp"].timestamp() * 1e6 > now - 3_600 * 1e6]
    store.write_to_offline_store("events", pd.DataFrame(history))  # history that never went through the stream
    assert online_values(store, [1], now)[0]["clicked_count_1h"] == 0  # nothing online before the backfill

    (result,) = store.backfill(progress=False)
    assert result.events == len(history) and 0 < result.applied < len(history)  # re-delivered ids count once
    assert store.backfill(progress=False)[0].applied == 0  # a second backfill adds nothing

    live = random_events(rng, now, 1_000, first_id=10_000)
    live += [dict(e) for e in rng.sample(history, 50)]  # the stream re-delivers events the backfill applied
    for i in range(0, len(live), 200):
        store.push("events", live[i : i + 200])
    assert_online_equals_offline(store, rng, now)
    store.close()
