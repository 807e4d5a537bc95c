"""What a running server sees change: cached rows after their staleness, definitions without a restart."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from serving.repo import NOW
from starlette.testclient import TestClient

from factories import user_profile
from skewless import FeatureStore, Field, Int64
from skewless.serving.cache import RowCache

Serve = Callable[..., tuple[FeatureStore, TestClient]]


def read(client: TestClient, features: list[str], entities: dict[str, list[Any]]) -> dict[str, dict[str, list[Any]]]:
    response = client.post("/get-online-features", json={"features": features, "entities": entities})
    assert response.status_code == 200, response.text
    body = response.json()
    return dict(zip(body["metadata"]["feature_names"], body["results"], strict=True))


def add_views(store: FeatureStore, article: int, views: int) -> None:
    """Push new impressions of one article, as a stream worker would: its window counts grow."""
    now = datetime.now(UTC)
    events = [
        {
            "user_id": 9,
            "article_id": article,
            "clicked": 0,
            "dwell_seconds": None,
            "event_id": f"v{article}-{time.time_ns()}-{i}",
            "event_timestamp": now,
        }
        for i in range(views)
    ]
    store.push("engagement", events)


def test_a_changed_value_is_seen_once_the_staleness_has_passed(serve: Serve) -> None:
    staleness = 0.3
    store, client = serve(serving={"cache_staleness_ms": int(staleness * 1000)})
    features, articles = ["article_popularity:clicked_count_10m"], {"article_id": [100, 200]}
    first_read = time.monotonic()
    assert read(client, features, articles)["clicked_count_10m"]["values"] == [3, 1]
    add_views(store, 100, 39)  # 3 -> 42
    cached = read(client, features, articles)["clicked_count_10m"]["values"]
    if time.monotonic() - first_read < staleness:  # (a very slow machine may already be past it)
        assert cached == [3, 1], "a value read less than the staleness ago must come from the cache"
    time.sleep(max(0.0, first_read + staleness + 0.05 - time.monotonic()))
    assert read(client, features, articles)["clicked_count_10m"]["values"] == [42, 1]
    metrics = client.get("/metrics").text
    found = re.search(r"^skewless_cache_hits_total (\S+)$", metrics, re.M)
    assert found, metrics
    hits = float(found.group(1))
    assert hits > 0 or cached != [3, 1]  # the second read came from the cache


def test_without_a_cache_every_read_sees_the_store(serve: Serve) -> None:
    store, client = serve()
    features, articles = ["article_popularity:clicked_count_10m"], {"article_id": [100]}
    assert read(client, features, articles)["clicked_count_10m"]["values"] == [3]
    add_views(store, 100, 4)  # 3 -> 7
    assert read(client, features, articles)["clicked_count_10m"]["values"] == [7]


def test_the_cache_keeps_at_most_max_entries_least_recently_used_first() -> None:
    cache = RowCache(max_entries=2, staleness_seconds=10, fallback_seconds=0)
    cache.put(b"a", b"1", 100.0)
    cache.put(b"b", b"2", 100.0)
    assert cache.get(b"a", 95.0) == (100.0, b"1")  # a is now the most recent
    cache.put(b"c", None, 101.0)  # evicts b
    assert len(cache) == 2 and cache.get(b"b", 0.0) is None and cache.get(b"c", 0.0) == (101.0, None)
    assert cache.get(b"a", 100.5) is None  # read before the asked time: too stale


def test_definitions_applied_after_start_are_served_without_a_restart(serve: Serve) -> None:
    store, client = serve()
    request = {"features": ["user_age:age"], "entities": {"user_id": [1, 2]}}
    assert client.post("/get-online-features", json=request).status_code == 404
    store.apply([user_profile(name="user_age", schema=[Field(name="age", dtype=Int64)])])
    store.materialize(datetime(2020, 1, 1, tzinfo=UTC), NOW, views=["user_age"], progress=False)
    deadline = time.monotonic() + 10
    while (response := client.post("/get-online-features", json=request)).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert response.status_code == 200, response.text
    result = response.json()["results"][1]
    assert result["values"] == [31, 40] and result["statuses"] == ["PRESENT", "PRESENT"]
    # The OpenAPI document follows the registry too.
    assert (
        "user_age:age" in client.get("/openapi.json").json()["components"]["schemas"]["Request"]["properties"]["features"]["items"]["enum"]
    )


def test_batched_cache_lookups_and_writes_equal_one_key_at_a_time() -> None:
    rng = random.Random(7)
    one, batched = (RowCache(max_entries=5, staleness_seconds=10, fallback_seconds=0) for _ in range(2))
    for step in range(300):
        keys = list(dict.fromkeys(bytes([rng.choice(b"abcdefgh")]) for _ in range(rng.randint(1, 6))))
        now = float(step)
        read_after = now - rng.choice([0.5, 3.0, 100.0])
        assert batched.get_many(keys, read_after) == [one.get(k, read_after) for k in keys]
        items = [(k, rng.choice([None, bytes([step % 256])])) for k in keys if rng.random() < 0.5]
        batched.put_many(items, now)
        for key, value in items:
            one.put(key, value, now)
        assert list(batched._entries.items()) == list(one._entries.items())
