"""The bare ASGI handler of ``POST /get-online-features`` answers as the Starlette route does.

The oracle is the same app with the bare handler switched off (``app.features = None``): every
request then goes through Starlette's routing, ``Request``/``Response``, exception handlers and
response counting, as before the handler existed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from serving.test_operations import metric
from starlette.testclient import TestClient

from skewless import FeatureStore
from skewless.serving import create_app
from skewless.serving.feast_format import MAX_BODY_BYTES

# Stored features only: their event times are the rows', so both answers are the same bytes (a
# windowed or on-demand feature is timed at the read).
FEATURES = ["user_profile:country", "user_profile:age", "user_profile:embedding"]
GOOD = {"features": FEATURES, "entities": {"user_id": [1, 1, 2, 9]}}


@pytest.fixture(scope="module")
def clients(store: FeatureStore) -> Iterator[tuple[TestClient, TestClient]]:
    fast, routed = create_app(store), create_app(store)
    routed.features = None  # type: ignore[attr-defined]
    with TestClient(fast) as a, TestClient(routed) as b:
        yield a, b


REQUESTS: list[dict[str, Any]] = [
    {"json": GOOD},
    {"json": GOOD, "params": {"format": "msgpack"}},
    {"json": GOOD, "params": {"format": "json"}},
    {"json": GOOD, "params": [("format", "json"), ("format", "msgpack")]},  # the last one wins
    {"json": GOOD, "params": {"format": "xml"}},
    {"json": GOOD, "headers": {"accept": "application/x-msgpack"}},
    {"json": GOOD, "headers": {"accept": "application/msgpack, */*"}},
    {"json": GOOD, "headers": {"x-request-id": "r-1"}, "params": {"other": "1"}},
    {"json": {**GOOD, "full_feature_names": True}},
    {"json": {"features": FEATURES, "entities": {"user_id": []}}},
    {"json": {"features": ["user_profile:nope"], "entities": {"user_id": [1]}}},
    {"json": {"feature_service": "nope", "entities": {"user_id": [1]}}},
    {"json": {"features": FEATURES, "entities": {"user_id": [1], "article_id": [1]}}},
    {"json": {"features": FEATURES, "entities": {"user_id": [2**70]}}},
    {"json": {"features": FEATURES, "entities": {"user_id": list(range(100_000))}}},
    {"json": [1, 2]},
    {"content": b"nope"},
    {"content": b""},
    {"content": b" " * (MAX_BODY_BYTES + 1)},
    {"content": b"{}", "headers": {"content-length": str(MAX_BODY_BYTES + 1)}},
]


@pytest.mark.parametrize("request_", REQUESTS, ids=range(len(REQUESTS)))
def test_the_same_answer_as_the_starlette_route(clients: tuple[TestClient, TestClient], request_: dict[str, Any]) -> None:
    fast, routed = clients
    a = fast.post("/get-online-features", **request_)
    b = routed.post("/get-online-features", **request_)
    assert a.status_code == b.status_code
    assert a.headers["content-type"] == b.headers["content-type"]
    assert a.headers["content-length"] == b.headers["content-length"]
    assert a.content == b.content


def test_other_methods_and_paths_still_go_through_starlette(clients: tuple[TestClient, TestClient]) -> None:
    fast, routed = clients
    for method, path in (("GET", "/get-online-features"), ("PUT", "/get-online-features"), ("POST", "/get-online-features/")):
        a, b = fast.request(method, path), routed.request(method, path)
        assert (a.status_code, a.content) == (b.status_code, b.content)
        assert a.status_code in (400, 405)  # a trailing slash is redirected, then the empty body refused


def test_responses_are_counted_as_by_the_middleware(store: FeatureStore) -> None:
    counts = []
    for bare in (True, False):
        app = create_app(store)
        if not bare:
            app.features = None  # type: ignore[attr-defined]
        with TestClient(app) as client:
            client.post("/get-online-features", json=GOOD)
            client.post("/get-online-features", json=GOOD, params={"format": "msgpack"})
            client.post("/get-online-features", content=b"nope")
            client.post("/get-online-features", json={"features": ["user_profile:nope"], "entities": {"user_id": [1]}})
            text = client.get("/metrics").text
        counts.append(
            [metric(text, "skewless_requests_total", path="/get-online-features", code=code) for code in ("200", "400", "404", "422")]
            + [metric(text, "skewless_request_duration_seconds_count", feature_set="user_profile")]
        )
    assert counts[0] == counts[1] and counts[0][0] == 2


def test_an_unexpected_error_is_a_plain_500_counted_and_raised(store: FeatureStore, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = []
    for bare in (True, False):
        app = create_app(store)
        if not bare:
            app.features = None  # type: ignore[attr-defined]

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug")

        monkeypatch.setattr(app.state.server, "read_async", broken)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/get-online-features", json=GOOD)
            count = metric(client.get("/metrics").text, "skewless_requests_total", path="/get-online-features", code="500")
        answers.append((response.status_code, response.headers["content-type"], response.content, count))
        with TestClient(app) as client, pytest.raises(RuntimeError, match="a bug"):  # raised for the server to log
            client.post("/get-online-features", json=GOOD)
    assert answers[0] == answers[1] and answers[0][0] == 500
