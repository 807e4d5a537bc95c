"""``POST /get-online-features`` speaks Feast: its request body in, its response shape out, field by field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgpack
import numpy as np
import pytest
from serving.repo import EMBEDDING, NOW
from starlette.testclient import TestClient

from skewless import FeatureStore
from skewless.online.materialize import to_us

FEATURES = ["user_profile:country", "user_profile:age", "article_popularity:ctr_10m", "article_popularity:clicked_count_10m"]
SLATE = {"user_id": [1, 1, 1], "article_id": [100, 200, 300]}


def post(client: TestClient, body: dict[str, Any], **params: str) -> dict[str, Any]:
    response = client.post("/get-online-features", json=body, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    out: dict[str, Any] = response.json()
    return out


def columns(body: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    return dict(zip(body["metadata"]["feature_names"], body["results"], strict=True))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_response_has_feasts_shape(client: TestClient) -> None:
    body = post(client, {"features": FEATURES, "entities": SLATE})
    # Feast: {"metadata": {"feature_names": [...]}, "results": [{"values", "statuses", "event_timestamps"}, ...]}
    assert set(body) == {"metadata", "results"}
    assert set(body["metadata"]) == {"feature_names"}
    # One result per output column, the join keys first, then the features in the order asked.
    assert body["metadata"]["feature_names"] == ["user_id", "article_id", "country", "age", "ctr_10m", "clicked_count_10m"]
    assert len(body["results"]) == 6
    for result in body["results"]:
        assert set(result) == {"values", "statuses", "event_timestamps"}
        assert len(result["values"]) == len(result["statuses"]) == len(result["event_timestamps"]) == 3
    out = columns(body)
    # Join keys: echoed, PRESENT, at the epoch (as Feast).
    assert out["user_id"] == {"values": [1, 1, 1], "statuses": ["PRESENT"] * 3, "event_timestamps": ["1970-01-01T00:00:00Z"] * 3}
    assert out["article_id"]["values"] == [100, 200, 300]
    # Features: values, string statuses, RFC 3339 UTC event times.
    assert out["country"] == {"values": ["DE"] * 3, "statuses": ["PRESENT"] * 3, "event_timestamps": [iso(NOW - timedelta(days=1))] * 3}
    assert out["age"]["values"] == [31, 31, 31]
    # Windowed features are read from tiles as of the request: an article without events has an empty window.
    assert out["clicked_count_10m"]["values"] == [3, 1, 0]
    assert out["clicked_count_10m"]["statuses"] == ["PRESENT"] * 3
    read_at = out["clicked_count_10m"]["event_timestamps"]
    assert len(set(read_at)) == 1 and read_at[0] > iso(NOW)  # the window's end: the time of the read
    assert out["ctr_10m"]["values"][0] == pytest.approx(2 / 3)


def test_values_equal_the_python_api(client: TestClient, store: FeatureStore) -> None:
    body = columns(post(client, {"features": FEATURES, "entities": SLATE}))
    direct = store.get_online_features(FEATURES, SLATE)
    for name in direct.feature_names:
        assert body[name]["values"] == direct.values[name], name
        assert body[name]["statuses"] == direct.statuses[name], name


def test_statuses_of_missing_null_and_too_old_values(client: TestClient) -> None:
    out = columns(post(client, {"features": ["user_profile:country", "user_profile:age"], "entities": {"user_id": [2, 3, 99]}}))
    assert out["country"]["statuses"] == ["NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert out["country"]["values"] == [None, None, None]
    assert out["age"]["statuses"] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert out["age"]["values"] == [40, None, None]


def test_a_feature_service_with_request_values(client: TestClient) -> None:
    slate = {"user_id": [1, 1], "article_id": [100, 200]}
    by_context = post(client, {"feature_service": "ranker", "entities": slate, "request_context": {"local_hour": 3}})
    assert by_context["metadata"]["feature_names"] == ["user_id", "article_id", "country", "age", "ctr_10m", "is_night"]
    # Feast sends request values per row inside "entities": the same answer.
    by_rows = post(client, {"feature_service": "ranker", "entities": {**slate, "local_hour": [3, 3]}})
    assert by_rows["metadata"] == by_context["metadata"]
    # The same answer, but windowed features carry the time of each read (their window's end).
    for mine, theirs in zip(by_rows["results"][:-1], by_context["results"][:-1], strict=True):
        assert (mine["values"], mine["statuses"]) == (theirs["values"], theirs["statuses"])
    is_night = columns(by_rows)["is_night"]
    assert is_night["values"] == [True, True] == columns(by_context)["is_night"]["values"]
    assert is_night["statuses"] == ["PRESENT", "PRESENT"]  # computed now, so stamped now


def test_full_feature_names(client: TestClient) -> None:
    body = post(client, {"features": FEATURES[:2], "entities": {"user_id": [1]}, "full_feature_names": True})
    assert body["metadata"]["feature_names"] == ["user_id", "user_profile__country", "user_profile__age"]


def test_feasts_remote_online_store_request_without_a_content_type(client: TestClient) -> None:
    # feast.infra.online_stores.remote posts a JSON string with requests' data=..., so no Content-Type.
    raw = b'{"features": ["user_profile:age"], "entities": {"user_id": [1, 2]}}'
    response = client.post("/get-online-features", content=raw, headers={"content-type": ""})
    assert response.status_code == 200, response.text
    assert columns(response.json())["age"]["values"] == [31, 40]


def test_msgpack_carries_the_same_values_and_raw_float32_embeddings(client: TestClient) -> None:
    request = {"features": [*FEATURES, "user_profile:embedding"], "entities": SLATE}
    as_json = columns(post(client, request))
    for how in ({"params": {"format": "msgpack"}}, {"headers": {"accept": "application/x-msgpack"}}):
        response = client.post("/get-online-features", json=request, **how)  # type: ignore[arg-type]
        assert response.status_code == 200 and response.headers["content-type"] == "application/x-msgpack"
        body = msgpack.unpackb(response.content)
        out = dict(zip(body["metadata"]["feature_names"], body["results"], strict=True))
        assert list(out) == list(as_json)
        for name in FEATURES[:2]:
            short = name.split(":")[1]
            assert out[short]["values"] == as_json[short]["values"] and out[short]["statuses"] == as_json[short]["statuses"]
        assert out["ctr_10m"]["values"] == as_json["ctr_10m"]["values"]
        embeddings = out["embedding"]["values"]
        assert all(isinstance(e, bytes) and len(e) == 8 * 4 for e in embeddings)
        assert np.frombuffer(embeddings[0], dtype="<f4").tolist() == EMBEDDING == as_json["embedding"]["values"][0]
        # Event times as integers (µs), nil where unknown.
        assert out["age"]["event_timestamps"] == [to_us(NOW - timedelta(days=1))] * 3
        assert out["clicked_count_10m"]["event_timestamps"][2] > to_us(NOW)  # a window's time: the read's


def test_an_empty_slate_answers_empty_columns(client: TestClient) -> None:
    body = post(client, {"features": ["user_profile:age"], "entities": {"user_id": []}})
    assert body["metadata"]["feature_names"] == ["user_id", "age"]
    assert body["results"][1] == {"values": [], "statuses": [], "event_timestamps": []}
