"""The vectorized tile read equals the reference one (Python merges, itself checked against brute force)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from stream_events import SOURCE, USER, VIEW, random_events

from skewless import FeatureStore
from skewless.config import RepoConfig, parse_config
from skewless.online.keys import entity_key, key_prefix
from skewless.online.tile_columns import read_windows_fast, window_field_read
from skewless.online.tile_keys import tile_tag
from skewless.online.tile_reads import TiledView, read_windows

S = 1_000_000


@pytest.fixture(params=["embedded", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "embedded":
        config = RepoConfig(project="columns")
    else:
        url = request.getfixturevalue("redis_server").url
        config = parse_config({"project": f"columns{random.randrange(10**9)}", "online_store": {"type": "redis", "url": url}})
    store = FeatureStore(tmp_path, config=config)
    store.apply([USER, SOURCE, VIEW])
    yield store
    store.close()


@pytest.mark.parametrize("seed", [4, 5])
def test_vectorized_windows_equal_the_reference(store: FeatureStore, seed: int) -> None:
    rng = random.Random(seed)
    now = time.time_ns() // 1000
    for call in range(4):
        store.push("events", random_events(rng, now, 300, first_id=call * 1_000))
    tiled = TiledView.of(store.get_feature_view("activity"), history_seconds=3_600)  # type: ignore[arg-type]
    prefix = key_prefix(store.project, "activity", 1)
    tags = [tile_tag(entity_key(prefix, [u])) for u in (1, 2, 3, 4, 5, 77)]
    for t in [now + S, *(now - rng.randint(0, 3_000) * S for _ in range(6))]:
        columns = read_windows_fast(store.online.store.read([], [window_field_read(tiled, tags, t)])[1][0], tiled, len(tags), t)
        fast = [{name: values[e] for name, values in columns.items()} for e in range(len(tags))]
        reference = read_windows(store.online.store, tiled, tags, t)
        for got, want in zip(fast, reference, strict=True):
            assert set(got) == set(want)
            for name, value in want.items():
                if isinstance(value, float):
                    assert got[name] == pytest.approx(value, rel=1e-12), name
                else:
                    assert got[name] == value and type(got[name]) is type(value), name
