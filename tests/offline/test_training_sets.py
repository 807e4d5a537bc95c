"""Training sets are reproducible: rebuilt from their record they come out equal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from factories import news_definitions, user_profile
from skewless import FeatureStore, Field, Int64
from skewless.errors import NotFoundError, OfflineStoreError

T0 = datetime(2026, 4, 1, tzinfo=UTC)


def engagement(ids: range, *, at: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [i % 3 for i in ids],
            "article_id": [i % 5 for i in ids],
            "clicked": [i % 2 for i in ids],
            "dwell_seconds": [float(i) for i in ids],
            "event_id": [f"e{i}" for i in ids],
            "event_timestamp": [at - timedelta(minutes=i % 50) for i in ids],
        }
    )


def profiles(ages: list[int], *, at: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {"user_id": [0, 1, 2], "country": ["FR", "DE", "US"], "age": ages, "embedding": [[0.1] * 8] * 3, "event_timestamp": [at] * 3}
    )


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    (tmp_path / "skewless.yaml").write_text("project: test\n")
    store = FeatureStore(tmp_path)
    store.apply(news_definitions())
    store.write_to_offline_store("engagement", engagement(range(200), at=T0))
    store.write_to_offline_store("user_profiles", profiles([20, 30, 40], at=T0 - timedelta(days=1)))
    return store


ENTITY = pd.DataFrame(
    {
        "user_id": [0, 1, 2, 0],
        "article_id": [1, 2, 3, 4],
        "local_hour": [1, 2, 22, 3],
        "event_timestamp": [T0, T0 + timedelta(minutes=1), T0 - timedelta(hours=1), T0 + timedelta(hours=2)],
    }
)
FEATURES = ["user_profile:age", "article_popularity:ctr_10m", "article_popularity:clicked_count_1h", "is_night:is_night"]


def test_rebuilt_from_its_record_it_equals_the_original(store: FeatureStore) -> None:
    created = store.create_training_set("clicks", ENTITY, FEATURES)
    original = created.to_arrow()
    assert original.num_rows == 4 and created.rows == 4
    assert created.record["source_versions"] == {"engagement": 0, "user_profiles": 0}
    assert created.record["time_range"][0].startswith("2026-03-31T23:00")
    # Later: more data, including late events inside the set's windows, and newer profiles ...
    store.write_to_offline_store("engagement", engagement(range(1000, 1300), at=T0 + timedelta(minutes=1)))
    store.write_to_offline_store("user_profiles", profiles([21, 31, 41], at=T0 - timedelta(hours=1)))
    # ... and a new version of a view the set read.
    store.apply([user_profile(version=2, schema=[Field(name="age", dtype=Int64)])])
    fresh = store.get_historical_features(ENTITY, FEATURES, output="arrow")
    assert fresh.column("age").to_pylist() != original.column("age").to_pylist()  # today's answer moved
    rebuilt = store.training_sets.rebuild("clicks")
    assert rebuilt.equals(original), (rebuilt.to_pydict(), original.to_pydict())


def test_names_and_listing(store: FeatureStore) -> None:
    store.create_training_set("a", ENTITY, FEATURES)
    with pytest.raises(OfflineStoreError, match="exists"):
        store.create_training_set("a", ENTITY, FEATURES)
    store.create_training_set("a", ENTITY.head(2), FEATURES, overwrite=True)
    assert store.training_sets.get("a").to_df().shape[0] == 2
    assert [t.name for t in store.training_sets.list()] == ["a"]
    with pytest.raises(NotFoundError, match="no training set named 'b'"):
        store.training_sets.get("b")
    with pytest.raises(OfflineStoreError, match="not an identifier"):
        store.create_training_set("my set", ENTITY, FEATURES)


def test_the_engine_reports_each_batch_of_each_source(store: FeatureStore) -> None:
    """What the progress bar of ``skewless training-set create`` draws: every batch, up to the total."""
    from skewless.offline.duckdb_engine import DuckDBEngine

    reports: list[tuple[str, int, int]] = []
    engine = DuckDBEngine(progress=lambda what, done, total: reports.append((what, done, total)))
    store._offline_engine = lambda: engine  # type: ignore[method-assign]
    store.get_historical_features(ENTITY, FEATURES)
    by_source: dict[str, list[tuple[int, int]]] = {}
    for what, done, total in reports:
        by_source.setdefault(what, []).append((done, total))
    assert set(by_source) == {"engagement events", "user_profiles rows"}
    for steps in by_source.values():
        total = steps[0][1]
        assert total >= 1
        assert steps == [(done, total) for done in range(1, total + 1)]


def test_create_with_a_progress_bar(store: FeatureStore) -> None:
    created = store.create_training_set("with_bar", ENTITY, FEATURES, progress=True)
    assert created.rows == len(ENTITY)
