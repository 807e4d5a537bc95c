"""POST /rank: candidates ordered by the model on online features; cold start is not an error."""

from __future__ import annotations

import pickle
from collections.abc import Callable

from starlette.testclient import TestClient

from skewless import FeatureStore
from skewless.serving.rank import FeatureScorer

Serve = Callable[..., tuple[FeatureStore, TestClient]]


def rank(client: TestClient, body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = client.post("/rank", json=body)
    return response.status_code, response.json()


def test_candidates_come_back_ordered_by_the_model(serve: Serve) -> None:
    store, client = serve(serving={"rank_model": "models/ctr.pkl"})
    (store.repo_path / "models").mkdir()
    (store.repo_path / "models" / "ctr.pkl").write_bytes(pickle.dumps(FeatureScorer("ctr_10m")))
    # CTR over 10 minutes: article 100 2/3, 200 0/1, 300 none (no events: no CTR, ranked last).
    status, body = rank(client, {"user_id": 1, "candidates": [300, 200, 100], "context": {"local_hour": 3}})
    assert status == 200, body
    assert [r["article_id"] for r in body["ranked"]] == [100, 200, 300]
    assert [r["score"] for r in body["ranked"]] == [2 / 3, 0.0, None]
    assert body["user_id"] == 1
    cold = rank(client, {"user_id": 424242, "candidates": [100, 200], "context": {"local_hour": 3}})  # an unknown reader
    assert cold[0] == 200 and [r["article_id"] for r in cold[1]["ranked"]] == [100, 200]


def test_bad_rank_requests_say_what_is_wrong(serve: Serve) -> None:
    store, client = serve(serving={"rank_model": "models/ctr.pkl", "max_rows": 5})
    cases = [
        ({"user_id": 1, "candidates": [], "context": {"local_hour": 3}}, 422, "candidates is empty"),
        ({"user_id": 1, "candidates": list(range(6)), "context": {"local_hour": 3}}, 413, "6 candidates"),
        ({"user_id": "one", "candidates": [1], "context": {"local_hour": 3}}, 422, "user_id must be an integer"),
        ({"user_id": 1, "candidates": ["x"], "context": {}}, 422, "list of article ids"),
        ({"user_id": 1, "candidates": [1]}, 422, "missing request value 'local_hour'"),
    ]
    (store.repo_path / "models").mkdir()
    (store.repo_path / "models" / "ctr.pkl").write_bytes(pickle.dumps(FeatureScorer("ctr_10m")))
    for body, code, message in cases:
        status, answer = rank(client, body)
        assert status == code and message in answer["message"], (body, answer)


def test_without_a_model_rank_says_how_to_configure_one(serve: Serve) -> None:
    _, client = serve()
    status, body = rank(client, {"user_id": 1, "candidates": [100]})
    assert status == 404 and "serving.rank_model" in body["hint"]
