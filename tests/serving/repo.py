"""A feature repo with materialized data for the serving tests, dated relative to now (the server
reads at the current time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from factories import article_popularity, night_view, user_profile
from skewless import Embedding, FeatureService, FeatureStore, Field, Int64, String

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
PROFILE_FIELDS = [Field(name="country", dtype=String), Field(name="age", dtype=Int64), Field(name="embedding", dtype=Embedding(8))]
EMBEDDING = [0.5, -1.25, 2.0, 0.0, 1.0, 3.5, -0.75, 0.125]  # exact in float32


def definitions() -> list[Any]:
    profile, popularity = user_profile(schema=PROFILE_FIELDS), article_popularity()
    service = FeatureService(name="ranker", features=[profile[["country", "age"]], popularity[["ctr_10m"]], "is_night:is_night"])
    return [profile, popularity, night_view(), service]


def write_data(store: FeatureStore) -> None:
    store.write_to_offline_store(
        "user_profiles",
        pd.DataFrame(
            {
                "user_id": [1, 1, 2, 3],
                "country": ["FR", "DE", None, "US"],
                "age": [30, 31, 40, 50],
                "embedding": [EMBEDDING] * 4,
                "event_timestamp": [NOW - timedelta(days=3), NOW - timedelta(days=1), NOW - timedelta(days=2), NOW - timedelta(days=45)],
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
                "event_timestamp": [NOW - timedelta(minutes=m) for m in (5, 3, 1, 1, 2)],
            }
        ),
    )


Settings = dict[str, Any] | None


def make_store(path: Path, *, serving: Settings = None, online_store: Settings = None, streaming: Settings = None) -> FeatureStore:
    config: dict[str, Any] = {"project": "test", "registry": {"poll_interval_seconds": 0.05}, "serving": serving or {}}
    if online_store is not None:
        config["online_store"] = online_store
    if streaming is not None:
        config["streaming"] = streaming
    (path / "skewless.yaml").write_text(yaml.safe_dump(config))
    store = FeatureStore(path)
    store.apply(definitions())
    write_data(store)
    store.materialize(datetime(2020, 1, 1, tzinfo=UTC), NOW, progress=False)
    return store
