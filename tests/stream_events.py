"""A stream source, a windowed view over it and random events, shared by the streaming tests;
and the parity check: online windows read from tiles == get_historical_features over the log."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from skewless import Aggregation, Entity, FeatureStore, FeatureView, Field, Float32, Int64, Ratio, StreamSource, String
from skewless.online.keys import entity_key, key_prefix
from skewless.online.tile_keys import tile_tag
from skewless.online.tile_reads import TiledView, read_windows

S = 1_000_000
SOURCE = StreamSource(
    name="events",
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="clicked", dtype=Int64),
        Field(name="dwell", dtype=Float32),
        Field(name="topic", dtype=String),
        Field(name="event_id", dtype=String),
    ],
    event_id_field="event_id",
)
USER = Entity(name="user", join_keys=["user_id"], dtype=Int64)
VIEW = FeatureView(
    name="activity",
    entities=[USER],
    source=SOURCE,
    aggregations=[
        Aggregation("clicked", "count", windows=["1m", "10m", "1h"]),
        Aggregation("clicked", "sum", windows=["1m", "10m", "1h"]),
        Aggregation("dwell", "mean", windows=["10m"]),
        Aggregation("dwell", "max", windows=["1h"]),
        Aggregation("topic", "last", windows=["10m"]),
        Aggregation("topic", "last_n", windows=["1h"], n=3),
    ],
    ratios=[Ratio("ctr_10m", "clicked_sum_10m", "clicked_count_10m")],
)


def random_events(rng: random.Random, now: int, n: int, *, first_id: int = 0, max_age_s: int = 65 * 60) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in range(n):
        if events and rng.random() < 0.05:
            events.append({**rng.choice(events), "clicked": rng.randint(0, 1)})  # re-delivered id, other value
            continue
        events.append(
            {
                "user_id": rng.randint(1, 5),
                "clicked": rng.choice([0, 1, None]),
                "dwell": rng.choice([None, rng.randint(0, 400) / 8]),
                "topic": rng.choice([None, "sport", "tech", "world"]),
                "event_id": f"e{first_id + i}",
                "event_timestamp": datetime.fromtimestamp((now - rng.randint(0, max_age_s * S)) / S, tz=UTC),
            }
        )
    return events


def online_values(store: FeatureStore, users: list[int], t_us: int) -> list[dict[str, Any]]:
    tiled = TiledView.of(store.get_feature_view("activity"), history_seconds=store.config.streaming.tile_history_seconds)
    prefix = key_prefix(store.project, "activity", 1)
    return read_windows(store.online.store, tiled, [tile_tag(entity_key(prefix, [u])) for u in users], t_us)


def assert_online_equals_offline(store: FeatureStore, rng: random.Random, now: int, samples: int = 40) -> None:
    users = [rng.randint(1, 6) for _ in range(samples)]
    times = [now - rng.randint(0, 3_000 * S) for _ in range(samples)]
    features = [f"activity:{f.name}" for f in VIEW.features]
    entity_df = pd.DataFrame({"user_id": users, "event_timestamp": [datetime.fromtimestamp(t / S, tz=UTC) for t in times]})
    offline = store.get_historical_features(entity_df, features).to_dict("records")
    assert sum(1 for row in offline if row["clicked_count_1h"]) > samples // 3  # the check is not vacuous
    mismatches = []
    for user, t, expected in zip(users, times, offline, strict=True):
        got = online_values(store, [user], t)[0]
        for name, value in got.items():
            want = expected[name]
            want = None if isinstance(want, float) and want != want else want  # NaN from pandas = null
            if isinstance(want, float) and value is not None:
                ok = value == pytest.approx(want, rel=1e-9)
            elif name.startswith("topic_last_n"):
                ok = list(value) == list(want)
            else:
                ok = value == want
            if not ok:
                mismatches.append((name, user, t, value, want))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:8]}"
