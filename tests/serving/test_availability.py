"""With the Redis online store slow or down, requests are still answered in time, with statuses
saying what is missing (or served from the cache), and reads recover by themselves."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from serving.repo import NOW
from starlette.testclient import TestClient

from servers import RedisServer
from skewless import FeatureStore

Serve = Callable[..., tuple[FeatureStore, TestClient]]
SERVICE = "ranker"  # country, age (user_profile), ctr_10m (article_popularity), is_night (request only)


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The session's Redis, running again (and emptied) after the test, whatever it did to it."""
    yield redis_server
    if redis_server.running:
        os.kill(redis_server.pid, signal.SIGCONT)
    redis_server.restart()


def ask(client: TestClient, articles: list[int]) -> tuple[dict[str, dict[str, list[Any]]], float]:
    started = time.monotonic()
    body = {
        "feature_service": SERVICE,
        "entities": {"user_id": [1] * len(articles), "article_id": articles, "local_hour": [3] * len(articles)},
    }
    response = client.post("/get-online-features", json=body)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    out = response.json()
    return dict(zip(out["metadata"]["feature_names"], out["results"], strict=True)), elapsed


def redis_config(redis: RedisServer, **serving: Any) -> dict[str, Any]:
    return {"online_store": {"type": "redis", "url": redis.url}, "serving": {"store_timeout_ms": 50, "store_retry_ms": 100, **serving}}


def wait_until_present(client: TestClient, articles: list[int], timeout: float = 10.0) -> dict[str, dict[str, list[Any]]]:
    deadline = time.monotonic() + timeout
    while True:
        out, _ = ask(client, articles)
        if out["ctr_10m"]["statuses"][0] == "PRESENT" or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def test_a_dead_store_is_answered_from_the_cache_then_recovers(serve: Serve, redis: RedisServer) -> None:
    store, client = serve(**redis_config(redis, cache_fallback_ms=60_000))
    healthy, _ = ask(client, [100, 200])
    assert healthy["ctr_10m"]["statuses"] == ["PRESENT", "PRESENT"] and healthy["country"]["values"] == ["DE", "DE"]

    redis.kill()
    out, elapsed = ask(client, [100, 200, 999])  # 999 was never read: nothing to fall back on
    assert elapsed < 1.0
    assert out["country"]["statuses"] == ["CACHED"] * 3 and out["country"]["values"] == ["DE"] * 3
    assert out["ctr_10m"]["statuses"] == ["CACHED", "CACHED", "STORE_UNAVAILABLE"]
    assert out["ctr_10m"]["values"][:2] == healthy["ctr_10m"]["values"] and out["ctr_10m"]["values"][2] is None
    assert out["ctr_10m"]["event_timestamps"][2] == "1970-01-01T00:00:00Z"
    assert out["is_night"]["statuses"] == ["PRESENT"] * 3  # computed from the request alone
    assert client.get("/ready").status_code == 503
    metrics = client.get("/metrics").text
    assert 'skewless_store_errors_total{reason="unavailable"}' in metrics
    # Keys served from the cache: the user's profile row and the tile states of the 2 articles read before.
    fallbacks = float(re.search(r"^skewless_cache_fallbacks_total (\S+)$", metrics, re.M).group(1))  # type: ignore[union-attr]
    assert fallbacks == 3

    redis.restart()  # back, empty: load it again, as a deployment would
    store.materialize(datetime(2020, 1, 1, tzinfo=UTC), NOW, progress=False)
    out = wait_until_present(client, [100, 200, 999])
    assert out["ctr_10m"]["statuses"] == ["PRESENT", "PRESENT", "NULL_VALUE"]  # no events: an empty window, no CTR
    assert out["country"]["statuses"] == ["PRESENT"] * 3
    assert client.get("/ready").status_code == 200


def test_without_a_cache_a_dead_store_gives_store_unavailable(serve: Serve, redis: RedisServer) -> None:
    store, client = serve(**redis_config(redis))
    redis.kill()
    for _ in range(3):  # the first read fails, the next ones do not even try (circuit open)
        out, elapsed = ask(client, [100, 200])
        assert elapsed < 1.0
        for name in ("country", "age", "ctr_10m"):
            assert out[name]["statuses"] == ["STORE_UNAVAILABLE"] * 2 and out[name]["values"] == [None, None]
        assert out["is_night"]["values"] == [True, True]
    redis.restart()
    store.materialize(datetime(2020, 1, 1, tzinfo=UTC), NOW, progress=False)
    assert wait_until_present(client, [100])["ctr_10m"]["statuses"] == ["PRESENT"]


def test_a_hung_store_is_answered_within_the_store_timeout(serve: Serve, redis: RedisServer) -> None:
    _, client = serve(**redis_config(redis, cache_fallback_ms=60_000))
    ask(client, [100])
    os.kill(redis.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        out, elapsed = ask(client, [100, 200])
        assert out["ctr_10m"]["statuses"] == ["CACHED", "STORE_UNAVAILABLE"]
        assert elapsed < 1.5, f"{elapsed:.3f} s: the read was not cut at the 50 ms store timeout"  # generous: CI is a busy 2-core box
        out, elapsed = ask(client, [100, 200])  # the circuit is open: no wait at all
        assert out["ctr_10m"]["statuses"] == ["CACHED", "STORE_UNAVAILABLE"] and elapsed < 1.5
        # (Cut by our deadline, or by the client's own socket timeout of the same 50 ms, whichever fires first.)
        assert re.search(r'skewless_store_errors_total\{reason="(timeout|unavailable)"\} [1-9]', client.get("/metrics").text)
    finally:
        os.kill(redis.pid, signal.SIGCONT)
    out = wait_until_present(client, [100, 200])
    assert out["ctr_10m"]["statuses"] == ["PRESENT", "PRESENT"]
