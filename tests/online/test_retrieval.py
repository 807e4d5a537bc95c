"""Materialize, then read slates online: values, statuses, on-demand features, bad requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from factories import news_definitions
from skewless import FeatureStore
from skewless.errors import InvalidRequestError
from skewless.online.materialize import to_us

# Recent: windowed features are read online from tiles, which keep the last hour for reads at a given time.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    (tmp_path / "skewless.yaml").write_text("project: test\n")
    store = FeatureStore(tmp_path)
    store.apply(news_definitions())
    store.write_to_offline_store(
        "user_profiles",
        pd.DataFrame(
            {
                "user_id": [1, 1, 2, 3],
                "country": ["FR", "DE", None, "US"],
                "age": [30, 31, 40, 50],
                "embedding": [[0.5] * 8] * 4,
                "event_timestamp": [T0 - timedelta(days=3), T0 - timedelta(days=1), T0 - timedelta(days=2), T0 - timedelta(days=45)],
            }
        ),
    )
    store.write_to_offline_store(
        "engagement",
        pd.DataFrame(
            {
                "user_id": [1, 1, 1, 2, 2],
                "article_id": [100, 100, 100, 100, 200],
                "clicked": [1, 0, 1, 1, 0],
                "dwell_seconds": [10.0, None, 5.0, 3.0, 1.0],
                "event_id": ["a", "b", "c", "c", "d"],
                "event_timestamp": [T0 - timedelta(minutes=m) for m in (5, 3, 1, 1, 2)],
            }
        ),
    )
    store.materialize(datetime(2020, 1, 1, tzinfo=UTC), T0, progress=False)
    return store


FEATURES = [
    "user_profile:country",
    "user_profile:age",
    "article_popularity:ctr_10m",
    "article_popularity:clicked_count_10m",
    "is_night:is_night",
]


def test_a_slate_reads_values_and_statuses(store: FeatureStore) -> None:
    slate = [{"user_id": 1, "article_id": a} for a in (100, 200, 300)]
    response = store.online.get(FEATURES, slate, {"local_hour": 2}, now_us=to_us(T0))
    out = response.to_dict()
    assert out["user_id"] == [1, 1, 1] and out["article_id"] == [100, 200, 300]
    assert out["country"] == ["DE"] * 3 and out["age"] == [31] * 3  # the latest profile before T0
    # Event 'c' delivered twice counts once; an article without events has an empty window: 0, as in training.
    assert out["clicked_count_10m"] == [3, 1, 0]
    assert out["ctr_10m"][0] == pytest.approx(2 / 3) and out["ctr_10m"][1] == 0.0
    assert response.statuses["ctr_10m"] == ["PRESENT", "PRESENT", "NULL_VALUE"]
    assert response.event_timestamps["ctr_10m"] == [to_us(T0)] * 3  # a window's time is its end
    assert out["is_night"] == [True] * 3
    assert response.event_timestamps["age"] == [to_us(T0 - timedelta(days=1))] * 3


def test_online_equals_offline_at_the_materialization_time(store: FeatureStore) -> None:
    rows = [{"user_id": u, "article_id": a} for u in (1, 2) for a in (100, 200)]
    online = store.online.get(FEATURES, rows, {"local_hour": 12}, now_us=to_us(T0)).to_dict()
    entity_df = pd.DataFrame({**pd.DataFrame(rows).to_dict("list"), "event_timestamp": [T0] * 4, "local_hour": [12] * 4})
    offline = store.get_historical_features(entity_df, FEATURES)
    for feature in ("country", "age", "clicked_count_10m", "ctr_10m", "is_night"):
        expected = [None if pd.isna(v) else v for v in offline[feature].tolist()]
        assert online[feature] == pytest.approx(expected) if feature == "ctr_10m" else online[feature] == expected, feature


def test_null_and_too_old_values(store: FeatureStore) -> None:
    response = store.online.get(["user_profile:country", "user_profile:age"], {"user_id": [2, 3, 99]}, now_us=to_us(T0))
    assert response.statuses["country"] == ["NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert response.statuses["age"] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert response.values["age"] == [40, None, None]


def test_a_service_and_the_facade(store: FeatureStore) -> None:
    response = store.get_online_features("ranker", [{"user_id": 1, "article_id": 100}], {"local_hour": 9})
    assert set(response.feature_names) == {"country", "age", "ctr_10m", "is_night"}


def test_incremental_materialization_moves_the_watermark(store: FeatureStore) -> None:
    store.write_to_offline_store(
        "user_profiles",
        pd.DataFrame(
            {
                "user_id": [1],
                "country": ["ES"],
                "age": [32],
                "embedding": [[0.0] * 8],
                "event_timestamp": [T0 + timedelta(hours=1)],
            }
        ),
    )
    results = store.materialize_incremental(T0 + timedelta(hours=2), progress=False)
    profile = next(r for r in results if r.view == "user_profile@v1")
    assert profile.start_us == to_us(T0) and profile.rows == 1
    assert store.online.get(["user_profile:country"], {"user_id": [1]}, now_us=to_us(T0 + timedelta(hours=2))).values["country"] == ["ES"]


@pytest.mark.parametrize(
    ("rows", "context", "message"),
    [
        ({"article_id": [1]}, {"local_hour": 1}, "missing join key 'user_id'"),
        ({"user_id": ["1"], "article_id": [1]}, {"local_hour": 1}, "join key 'user_id' must be an integer, got '1' in row 0"),
        ({"user_id": [True], "article_id": [1]}, {"local_hour": 1}, "must be an integer"),
        ({"user_id": [1], "article_id": [1]}, None, "missing request value 'local_hour'"),
        ({"user_id": [1, 2], "article_id": [1]}, {"local_hour": 1}, "different lengths"),
        ({"user_id": [1], "article_id": [1]}, {"local_hour": "noon"}, "value of 'local_hour' is not a Int64"),
    ],
)
def test_bad_requests_say_what_is_wrong(store: FeatureStore, rows: dict, context: dict | None, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidRequestError, match=message):
        store.online.get(FEATURES, rows, context)


def test_an_entity_on_every_row_reads_as_when_mixed_with_others(store: FeatureStore) -> None:
    """A slate's user is the same on every row, and is read through a shortcut (one row, repeated):
    its values, statuses and times must be those it gets among other entities."""
    features = ["user_profile:country", "user_profile:age", "is_night:is_night"]
    for user in (1, 2, 3, 99):  # fresh, a null value, too old, absent
        alone = store.online.get(features, {"user_id": [user] * 3, "article_id": [100, 200, 300]}, {"local_hour": 2}, now_us=to_us(T0))
        mixed = store.online.get(features, {"user_id": [user, 1, user], "article_id": [100, 200, 300]}, {"local_hour": 2}, now_us=to_us(T0))
        for name in ("country", "age", "is_night"):
            for row in (0, 2):
                assert alone.values[name][row] == mixed.values[name][row], (user, name)
                assert alone.statuses[name][row] == mixed.statuses[name][row], (user, name)
                assert alone.event_timestamps[name][row] == mixed.event_timestamps[name][row], (user, name)
