"""Every kind of bad request gets a 4xx whose message names the problem, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from skewless.errors import (
    DefinitionError,
    InvalidRequestError,
    MalformedRequestError,
    NotFoundError,
    OnlineStoreUnavailableError,
    RegistryError,
    RequestTooLargeError,
    SkewlessError,
)
from skewless.serving.errors import STATUS_BY_ERROR, status_of

OK = {"features": ["user_profile:age"], "entities": {"user_id": [1]}}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "the request body is empty"),
        (b"{not json", 400, "the request body is not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object, got an array"),
        ({"entities": {"user_id": [1]}}, 400, "the request names no features"),
        ({**OK, "feature_service": "ranker"}, 400, "both 'features' and 'feature_service'"),
        ({**OK, "features": "user_profile:age"}, 400, "'features' must be a list of 'view:feature' strings, got a string"),
        ({**OK, "features": [1]}, 400, "'features' must be a list"),
        ({**OK, "features": []}, 400, "no features requested"),
        ({**OK, "features": ["age"]}, 400, "malformed feature reference 'age'"),
        ({**OK, "feature_service": 7, "features": None}, 400, "'feature_service' must be a string"),
        ({"features": ["user_profile:age"]}, 400, "the request has no 'entities'"),
        ({**OK, "entities": [1]}, 400, "'entities' must be an object of columns"),
        ({**OK, "entities": {"user_id": 1}}, 400, "entities['user_id'] must be a list with one value per row, got a number"),
        ({**OK, "entities": {"user_id": [1, 2], "article_id": [1]}}, 400, "'user_id' has 2, 'article_id' has 1"),
        ({**OK, "full_feature_names": "yes"}, 400, "'full_feature_names' must be true or false"),
        ({**OK, "request_context": [1]}, 400, "'request_context' must be an object"),
        ({**OK, "entites": {}}, 400, "unknown field 'entites'"),
        # Unknown names: 404, with the registered names suggested.
        ({**OK, "features": ["user_profle:age"]}, 404, "no feature view named 'user_profle'"),
        ({**OK, "features": ["user_profile:agee"]}, 404, "has no feature 'agee'"),
        ({"feature_service": "rankr", "entities": {"user_id": [1]}}, 404, "no feature service named 'rankr'"),
        # Well-formed, but the keys or request values are wrong: 422.
        ({**OK, "entities": {"article_id": [1]}}, 422, "unknown entity column 'article_id'"),
        ({**OK, "entities": {}}, 422, "missing join key 'user_id'"),
        ({**OK, "entities": {"user_id": ["1"]}}, 422, "join key 'user_id' must be an integer, got '1' in row 0"),
        ({**OK, "entities": {"user_id": [True]}}, 422, "must be an integer"),
        ({**OK, "entities": {"user_id": [1.5]}}, 422, "must be an integer"),
        ({**OK, "entities": {"user_id": [None]}}, 422, "must be an integer"),
        ({**OK, "entities": {"user_id": [2**64 - 1]}}, 422, "does not fit a 64-bit integer"),
        ({"features": ["is_night:is_night"], "entities": {"user_id": [1]}}, 422, "unknown entity column 'user_id'"),
        (
            {"features": ["is_night:is_night"], "entities": {"local_hour": [1]}, "request_context": {"hour": 1}},
            422,
            "unknown request value 'hour'",
        ),
        ({"features": ["is_night:is_night"], "entities": {}}, 422, "missing request value 'local_hour'"),
        ({"features": ["is_night:is_night"], "entities": {"local_hour": ["noon"]}}, 422, "value of 'local_hour' is not a Int64"),
        ({"features": ["is_night:is_night"], "entities": {"local_hour": [2**63]}}, 422, "does not fit a 64-bit integer"),
        (
            {"features": ["is_night:is_night"], "entities": {}, "request_context": {"local_hour": [1, 2]}},
            422,
            "request_context['local_hour'] has 2 values for 0 rows",
        ),
        # A wrong value is refused even when no row would use it, and one value is not given twice (found by schemathesis).
        ({"features": ["is_night:is_night"], "entities": {}, "request_context": {"local_hour": {}}}, 422, "is not a Int64"),
        ({"features": ["is_night:is_night"], "entities": {}, "request_context": {"local_hour": "x"}}, 422, "is not a Int64"),
        (
            {"features": ["is_night:is_night"], "entities": {"local_hour": []}, "request_context": {"local_hour": {}}},
            422,
            "request value 'local_hour' given both per row and in request_context",
        ),
        # Too many rows: 422, naming the limit.
        ({**OK, "entities": {"user_id": list(range(1001))}}, 422, "1001 rows, more than the limit of 1000 rows per request"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem(client: TestClient, body: Any, status: int, message: str) -> None:
    if isinstance(body, bytes):
        response = client.post("/get-online-features", content=body)
    else:
        response = client.post("/get-online-features", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == status, response.text
    error = response.json()
    assert message in error["message"]
    assert set(error) == {"error", "message", "hint"}


def test_unknown_names_come_with_a_suggestion(client: TestClient) -> None:
    error = client.post("/get-online-features", json={**OK, "features": ["user_profle:age"]}).json()
    assert error["error"] == "NotFoundError" and "user_profile" in error["hint"]


def test_an_unknown_format_and_wrong_paths_and_methods(client: TestClient) -> None:
    response = client.post("/get-online-features", json=OK, params={"format": "xml"})
    assert response.status_code == 400 and "unknown response format 'xml'" in response.json()["message"]
    response = client.get("/get-online-features")
    assert response.status_code == 405 and "POST" in response.json()["hint"]
    response = client.get("/get-online-feature")
    assert response.status_code == 404 and response.json()["error"] == "HTTPError"


def test_a_body_over_the_size_limit(client: TestClient) -> None:
    from skewless.serving.feast_format import MAX_BODY_BYTES

    response = client.post("/get-online-features", content=b" " * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413 and "more than the limit" in response.json()["message"]


def test_the_status_table() -> None:
    assert status_of(MalformedRequestError("x")) == 400
    assert status_of(RequestTooLargeError("x")) == 413
    assert status_of(InvalidRequestError("x")) == 422
    assert status_of(DefinitionError("x")) == 400
    assert status_of(NotFoundError("x")) == 404
    assert status_of(RegistryError("x")) == 503
    assert status_of(OnlineStoreUnavailableError("x")) == 503

    class Unlisted(SkewlessError):
        pass

    assert status_of(Unlisted("x")) == 500
    assert all(400 <= code < 600 for code in STATUS_BY_ERROR.values())
