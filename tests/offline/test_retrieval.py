"""get_historical_features through the FeatureStore: Delta tables, DuckDB, on-demand features."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from factories import news_definitions
from skewless import FeatureStore
from skewless.definitions.selection import select_features
from skewless.errors import InvalidRequestError, NotFoundError
from skewless.offline.duckdb_engine import DuckDBEngine
from skewless.offline.entity_rows import normalize_entity_rows
from skewless.offline.retrieval import finish, source_data

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    (tmp_path / "skewless.yaml").write_text("project: test\n")
    store = FeatureStore(tmp_path)
    store.apply(news_definitions())
    store.write_to_offline_store(
        "user_profiles",
        pd.DataFrame(
            {
                "user_id": [1, 1, 2],
                "country": ["FR", "DE", "US"],
                "age": [30, 31, 40],
                "embedding": [[0.5] * 8, [1.0] * 8, [0.0] * 8],
                "event_timestamp": [T0 - timedelta(days=40), T0 - timedelta(days=1), T0 - timedelta(days=2)],
            }
        ),
    )
    store.write_to_offline_store(
        "engagement",
        pd.DataFrame(
            {
                "user_id": [1, 1, 1, 2],
                "article_id": [100, 100, 100, 100],
                "clicked": [1, 0, 1, 1],
                "dwell_seconds": [10.0, None, 5.0, 3.0],
                "event_id": ["a", "b", "c", "c"],  # 'c' twice: delivered twice, counted once
                "event_timestamp": [
                    T0 - timedelta(minutes=5),
                    T0 - timedelta(minutes=3),
                    T0 - timedelta(seconds=1),
                    T0 - timedelta(seconds=1),
                ],
            }
        ),
    )
    return store


def test_snapshot_windowed_and_on_demand_in_one_call(store: FeatureStore) -> None:
    entity_df = pd.DataFrame(
        {
            "user_id": [1, 2, 1, 3],
            "article_id": [100, 100, 100, 100],
            "event_timestamp": [T0, T0, T0 - timedelta(days=2), T0],
            "local_hour": [3, 12, 23, 5],
            "label": [1, 0, 0, 1],
        }
    )
    df = store.get_historical_features(
        entity_df, ["user_profile:country", "user_profile:age", "article_popularity:ctr_10m", "is_night:is_night"]
    )
    assert list(df.columns) == ["user_id", "article_id", "event_timestamp", "local_hour", "label", "country", "age", "ctr_10m", "is_night"]
    assert df["label"].tolist() == [1, 0, 0, 1]
    # user 1 at T0: latest profile is a day old (DE, 31); two days earlier only the 40-day-old row, past the 30d ttl.
    assert df["country"].tolist()[:2] == ["DE", "US"] and df["country"][2:].isna().all()
    assert df["age"].tolist()[:2] == [31, 40]
    # article 100 over the 10 minutes before T0: events a, b, c (c once) -> clicks 2 of 3.
    assert df["ctr_10m"][0] == pytest.approx(2 / 3)
    assert pd.isna(df["ctr_10m"][2])  # two days earlier: no events, ratio of 0/0 is null
    assert df["is_night"].tolist() == [True, False, False, True]


def test_full_feature_names_and_outputs(store: FeatureStore) -> None:
    entity_df = pd.DataFrame({"user_id": [1], "event_timestamp": [T0]})
    table = store.get_historical_features(entity_df, ["user_profile:age"], full_feature_names=True, output="arrow")
    assert table.column_names == ["user_id", "event_timestamp", "user_profile__age"]
    frame = store.get_historical_features(entity_df, ["user_profile:age"], output="polars")
    assert frame["age"].to_list() == [31]


def test_a_service_selects_its_features(store: FeatureStore) -> None:
    entity_df = pd.DataFrame({"user_id": [1], "article_id": [100], "event_timestamp": [T0], "local_hour": [1]})
    df = store.get_historical_features(entity_df, store.get_feature_service("ranker"))
    assert {"country", "age", "ctr_10m", "is_night"} <= set(df.columns)


def test_missing_timestamp_column(store: FeatureStore) -> None:
    with pytest.raises(InvalidRequestError, match="no 'event_timestamp' column"):
        store.get_historical_features(pd.DataFrame({"user_id": [1]}), ["user_profile:age"])


def test_wrong_key_type(store: FeatureStore) -> None:
    with pytest.raises(InvalidRequestError, match=r"column 'user_id' has type (large_)?string, but it must be Int64"):
        store.get_historical_features(pd.DataFrame({"user_id": ["1"], "event_timestamp": [T0]}), ["user_profile:age"])


def test_missing_key_and_request_value(store: FeatureStore) -> None:
    with pytest.raises(InvalidRequestError, match="no 'user_id' column, a join key"):
        store.get_historical_features(pd.DataFrame({"event_timestamp": [T0]}), ["user_profile:age"])
    with pytest.raises(InvalidRequestError, match="no 'local_hour' column, a request value"):
        store.get_historical_features(pd.DataFrame({"event_timestamp": [T0]}), ["is_night:is_night"])


def test_unknown_feature(store: FeatureStore) -> None:
    with pytest.raises(NotFoundError, match="did you mean 'age'"):
        store.get_historical_features(pd.DataFrame({"user_id": [1], "event_timestamp": [T0]}), ["user_profile:agee"])
    with pytest.raises(NotFoundError, match="no feature view named 'user_profil'"):
        store.get_historical_features(pd.DataFrame({"user_id": [1], "event_timestamp": [T0]}), ["user_profil:age"])


def test_bad_timestamps(store: FeatureStore) -> None:
    with pytest.raises(InvalidRequestError, match="null value"):
        store.get_historical_features(
            pd.DataFrame({"user_id": [1], "event_timestamp": [None]}).astype({"event_timestamp": "datetime64[us]"}), ["user_profile:age"]
        )
    with pytest.raises(InvalidRequestError, match="not a timestamp"):
        store.get_historical_features(pd.DataFrame({"user_id": [1], "event_timestamp": ["yesterday"]}), ["user_profile:age"])


def test_streaming_in_small_batches_equals_the_whole_result(store: FeatureStore) -> None:
    entity_df = pd.DataFrame(
        {
            "user_id": [1, 2, 3, 1, 2, 1, 1],
            "article_id": [100] * 7,
            "local_hour": [1, 2, 3, 4, 5, 6, 7],
            "event_timestamp": [T0 - timedelta(minutes=m) for m in (0, 1, 2, 3, 4, 60, 0)],
        }
    )
    selection = select_features(store.registry.snapshot().catalog, ["user_profile:age", "article_popularity:ctr_10m", "is_night:is_night"])
    rows = normalize_entity_rows(entity_df, selection)
    data = source_data(store.offline_tables, selection)
    engine = DuckDBEngine()
    whole = finish(engine.historical_features(rows, selection, data), selection, rows.column_names)
    batches = list(
        engine.stream_historical_features(rows, selection, data, finish=lambda t: finish(t, selection, rows.column_names), batch_rows=3)
    )
    assert len(batches) >= 3
    assert pa.Table.from_batches(batches).equals(whole)
