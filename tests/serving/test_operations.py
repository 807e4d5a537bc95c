"""Health, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import re

from starlette.testclient import TestClient


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready" and ready.json()["revision"] >= 1


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text format (0 if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match.group(1) == name and ",".join(sorted((match.group(2) or "").split(","))).strip(",") == wanted:
            return float(match.group(3))
    return 0.0


def test_metrics_count_requests_latency_per_feature_set_and_errors(client: TestClient) -> None:
    before = client.get("/metrics").text
    for _ in range(3):
        client.post(
            "/get-online-features", json={"feature_service": "ranker", "entities": {"user_id": [1], "article_id": [100], "local_hour": [1]}}
        )
    client.post("/get-online-features", json={"features": ["user_profile:age"], "entities": {"user_id": [1]}})
    client.post("/get-online-features", content=b"nope")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = response.text

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew("skewless_request_duration_seconds_count", feature_set="ranker") == 3
    assert grew("skewless_request_duration_seconds_count", feature_set="user_profile") == 1
    assert grew("skewless_requests_total", path="/get-online-features", code="200") == 4
    assert grew("skewless_requests_total", path="/get-online-features", code="400") == 1
    assert grew("skewless_store_read_duration_seconds_count") == 4
    assert metric(after, "skewless_registry_revision") >= 1
    for name in (
        "skewless_store_errors_total",
        "skewless_cache_hits_total",
        "skewless_cache_misses_total",
        "skewless_cache_fallbacks_total",
    ):
        assert f"# HELP {name} " in after


def test_the_openapi_document_describes_the_endpoints_and_the_registry(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.") and set(doc["paths"]) == {
        "/get-online-features",
        "/push",
        "/rank",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
    }
    operation = doc["paths"]["/get-online-features"]["post"]
    assert {"200", "400", "404", "413", "422"} <= set(operation["responses"])
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "application/x-msgpack"}
    request = doc["components"]["schemas"]["Request"]
    assert "user_profile:age" in request["properties"]["features"]["items"]["enum"]
    assert request["properties"]["feature_service"]["enum"] == ["ranker"]
    assert set(request["properties"]["entities"]["properties"]) == {"user_id", "article_id", "local_hour"}
    assert request["properties"]["entities"]["properties"]["user_id"]["items"]["type"] == "integer"
