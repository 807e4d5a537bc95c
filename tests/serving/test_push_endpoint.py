"""POST /push (Feast's push body or a list of events) and the streaming numbers on /metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from skewless import FeatureStore

Serve = Callable[..., tuple[FeatureStore, TestClient]]


def count_10m(client: TestClient, article: int) -> int:
    body = client.post(
        "/get-online-features", json={"features": ["article_popularity:clicked_count_10m"], "entities": {"article_id": [article]}}
    )
    assert body.status_code == 200, body.text
    return int(body.json()["results"][1]["values"][0])


def test_feasts_push_body_applies_events_and_returns_dead_letters(serve: Serve) -> None:
    store, client = serve()
    now = datetime.now(UTC).isoformat()
    before = count_10m(client, 555)
    df = {
        "user_id": [1, 2, 3],
        "article_id": [555, 555, 555],
        "clicked": [1, 0, "lots"],  # the third is a dead letter; the others are applied anyway
        "dwell_seconds": [3.5, None, 1.0],
        "event_id": ["p1", "p2", "p3"],
        "event_timestamp": [now, now, now],
    }
    response = client.post("/push", json={"push_source_name": "engagement", "df": df, "to": "online"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2 and len(body["dead_letters"]) == 1
    assert body["dead_letters"][0]["kind"] == "invalid" and "clicked" in body["dead_letters"][0]["reason"]
    assert count_10m(client, 555) == before + 2
    again = client.post("/push", json={"source": "engagement", "events": [{k: v[0] for k, v in df.items()}]})
    assert again.json()["accepted"] == 1 and count_10m(client, 555) == before + 2  # the same event id: once
    assert store.offline_tables.read("engagement").num_rows >= 7


def test_bad_push_bodies_get_a_4xx_naming_the_problem(serve: Serve) -> None:
    _, client = serve()
    cases: list[tuple[Any, int, str]] = [
        (b"{not json", 400, "not JSON"),
        ({"events": []}, 400, "name the source"),
        ({"source": "engagement"}, 400, "send the events"),
        ({"source": "engagement", "df": {"a": [1], "b": [1, 2]}}, 400, "different lengths"),
        ({"source": "engagement", "events": [], "to": "elsewhere"}, 400, "'to' is 'elsewhere'"),
        ({"source": "no_such_source", "events": [{"x": 1}]}, 404, "no_such_source"),
    ]
    for body, status, message in cases:
        response = client.post("/push", content=body) if isinstance(body, bytes) else client.post("/push", json=body)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["message"], response.text


def test_metrics_show_lag_freshness_and_dead_letters(serve: Serve, redis_server: Any) -> None:
    store, client = serve(streaming={"bus_url": redis_server.url, "partitions": 2})
    event = {"user_id": 1, "article_id": 9, "clicked": 1, "dwell_seconds": 1.0, "event_timestamp": datetime.now(UTC).isoformat()}
    events = [{**event, "event_id": f"m{i}"} for i in range(300)]
    events.append({**event, "event_id": "bad", "clicked": "x"})
    store.publish("engagement", events)
    text = client.get("/metrics").text
    assert "skewless_stream_bus_up 1.0" in text
    assert sum(lags(text)) >= 3 and len(lags(text)) == 2  # published, not consumed yet
    store.stream_worker("engagement", [0, 1]).run(idle_exit_s=0.3)
    time.sleep(5.1)  # a scrape reads the bus at most every 5 s
    text = client.get("/metrics").text
    assert lags(text) == [0.0, 0.0]
    assert re.search(r'^skewless_dead_letters\{kind="invalid",source="engagement"\} 1\.0$', text, re.M), text
    assert re.search(r'^skewless_stream_freshness_seconds\{partition="\d",quantile="0.99",source="engagement"\} \S+$', text, re.M)


def lags(metrics: str) -> list[float]:
    pattern = r'^skewless_stream_lag_entries\{partition="\d",source="engagement"\} (\S+)$'
    return [float(v) for v in re.findall(pattern, metrics, re.M)]


def test_an_event_after_the_read_time_sends_its_entity_to_the_tiles(serve: Serve) -> None:
    """A window ends before the read: an event stamped later (a client clock ahead, within the
    allowed skew) is not in it. The entity's summary cannot say which of its events came before the
    read, so the server reads that entity's tiles in a second round trip; the other entities of the
    request still come from their summaries."""
    _, client = serve()
    now = time.time()
    events = [
        {
            "user_id": 1,
            "article_id": 556,
            "clicked": 1,
            "dwell_seconds": 1.0,
            "event_id": "now",
            "event_timestamp": datetime.fromtimestamp(now - 1, UTC).isoformat(),
        },
        {
            "user_id": 1,
            "article_id": 556,
            "clicked": 1,
            "dwell_seconds": 1.0,
            "event_id": "ahead",
            "event_timestamp": datetime.fromtimestamp(now + 120, UTC).isoformat(),
        },
        {
            "user_id": 1,
            "article_id": 557,
            "clicked": 1,
            "dwell_seconds": 1.0,
            "event_id": "other",
            "event_timestamp": datetime.fromtimestamp(now - 1, UTC).isoformat(),
        },
    ]
    pushed = client.post("/push", json={"source": "engagement", "events": events}).json()
    assert pushed["accepted"] == 3, pushed
    body = {"features": ["article_popularity:clicked_count_10m"], "entities": {"article_id": [556, 557, 558]}}
    for path in ("/get-online-features", "/get-online-features?format=msgpack"):
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text
    result = client.post("/get-online-features", json=body).json()["results"][1]
    assert result["values"] == [1, 1, 0] and result["statuses"] == ["PRESENT"] * 3
