"""The Spark engine returns the DuckDB engine's training sets, computed on >= 2 partitions.

One random data set (seeded) goes through the offline store's Delta tables in several appends,
one of them adding a column; both engines read the same active files.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from servers import require_server
from skewless import (
    Aggregation,
    BatchSource,
    Embedding,
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int64,
    Ratio,
    RequestSource,
    StreamSource,
    String,
    on_demand_feature_view,
)
from skewless.definitions.catalog import Catalog
from skewless.definitions.selection import FeatureSelection, select_features
from skewless.errors import ConfigError
from skewless.offline.duckdb_engine import DuckDBEngine, SourceData
from skewless.offline.entity_rows import normalize_entity_rows
from skewless.offline.retrieval import finish, source_data
from skewless.offline.tables import OfflineTables

pytestmark = pytest.mark.slow

US = 1_000_000
BASE = int(datetime(2026, 2, 2, tzinfo=UTC).timestamp()) * US
HOURS = 8
USERS, ARTICLES = 300, 200

user = Entity(name="user", join_keys=["user_id"], dtype=Int64)
article = Entity(name="article", join_keys=["article_id"], dtype=Int64)
EVENT_FIELDS = [
    Field(name="user_id", dtype=Int64),
    Field(name="article_id", dtype=Int64),
    Field(name="clicked", dtype=Int64),
    Field(name="dwell", dtype=Float64),
    Field(name="event_id", dtype=String),
]
events_v1 = StreamSource(name="events", schema=EVENT_FIELDS, event_id_field="event_id")
events = StreamSource(name="events", schema=[*EVENT_FIELDS, Field(name="scroll", dtype=Float64)], event_id_field="event_id")
profiles = BatchSource(
    name="profiles",
    schema=[
        Field(name="user_id", dtype=Int64),
        Field(name="country", dtype=String),
        Field(name="age", dtype=Int64),
        Field(name="score", dtype=Float64),
        Field(name="embedding", dtype=Embedding(4)),
    ],
    created_timestamp_field="created",
)
user_profile = FeatureView(name="user_profile", entities=[user], source=profiles, ttl="3h")
user_score = FeatureView(name="user_score", entities=[user], source=profiles, schema=[Field(name="score", dtype=Float64)])
user_engagement = FeatureView(
    name="user_engagement",
    entities=[user],
    source=events,
    aggregations=[
        Aggregation("clicked", "count", windows=["10m", "1h"]),
        Aggregation("clicked", "sum", windows=["10m", "1h"]),
        Aggregation("dwell", "mean", windows=["1h"], hop="5m"),
        Aggregation("dwell", "min", windows=["30m"], hop="7m"),
        Aggregation("dwell", "max", windows=["30m"]),
        Aggregation("dwell", "last", windows=["1h"]),
        Aggregation("clicked", "last_n", windows=["1h"], n=3),
    ],
    ratios=[Ratio("ctr_1h", "clicked_sum_1h", "clicked_count_1h")],
)
article_popularity = FeatureView(
    name="article_popularity",
    entities=[article],
    source=events,
    aggregations=[
        Aggregation("clicked", "sum", windows=["1h"], name="article_clicks_1h"),
        Aggregation("clicked", "count", windows=["1h"], name="article_views_1h"),
        Aggregation("dwell", "max", windows=["2h"], name="article_dwell_max_2h"),
        Aggregation("scroll", "mean", windows=["2h"], name="article_scroll_2h"),  # the column a later write added
        Aggregation("user_id", "last_n", windows=["30m"], n=2, name="article_readers_30m"),
    ],
    ratios=[Ratio("article_ctr_1h", "article_clicks_1h", "article_views_1h")],
)
context = RequestSource(name="context", schema=[Field(name="hour", dtype=Int64)])


@on_demand_feature_view(
    sources=[context, user_engagement[["ctr_1h"]], article_popularity[["article_ctr_1h"]]],
    schema=[Field(name="affinity", dtype=Float64)],
)
def affinity(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"affinity": np.nan_to_num(inputs["ctr_1h"]) - np.nan_to_num(inputs["article_ctr_1h"]) + inputs["hour"] / 24}


CATALOG = Catalog.build([user_profile, user_score, user_engagement, article_popularity, affinity])
FEATURES = [
    *(f"user_profile:{f}" for f in ("country", "age", "score", "embedding")),
    "user_score:score",
    *(f"user_engagement:{f}" for f in user_engagement.feature_names),
    *(f"article_popularity:{f}" for f in article_popularity.feature_names),
    "affinity:affinity",
]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    require_server("java")
    from skewless.offline.spark_engine import local_session

    session = local_session(cores=2, shuffle_partitions=2)
    # Keep the shuffle's partitions as they are, however small the data: the test checks them.
    session.conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    yield session
    session.stop()


def times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Event times: many on a minute grid (ties, window edges), the rest anywhere."""
    grid = BASE + rng.integers(0, HOURS * 60, n) * 60 * US
    anywhere = BASE + rng.integers(0, HOURS * 3600 * US, n)
    return np.where(rng.random(n) < 0.6, grid, anywhere)


def event_batch(rng: np.random.Generator, n: int, prefix: str, *, scroll: bool = False) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": (rng.random(n) ** 2 * USERS).astype(np.int64) + 1,  # a few busy users
            "article_id": rng.integers(1, ARTICLES + 1, n),
            "clicked": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 2, n)), dtype="Int64"),
            "dwell": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2.0, 20.0, n)),
            "event_id": [f"{prefix}{i}" for i in range(n)],
            "event_timestamp": pd.to_datetime(times(rng, n), unit="us", utc=True),
        }
    )
    if scroll:
        frame["scroll"] = np.where(rng.random(n) < 0.2, np.nan, rng.random(n))
    return frame


def redelivered(rng: np.random.Generator, earlier: pd.DataFrame, n: int) -> pd.DataFrame:
    """Copies of earlier events (same id, keys and time; other values): the first write counts."""
    copies = earlier.iloc[rng.choice(len(earlier), n, replace=False)].copy()
    copies["clicked"] = pd.array(rng.integers(5, 9, n), dtype="Int64")
    return copies


def profile_batch(rng: np.random.Generator, n: int) -> pd.DataFrame:
    ts = BASE + rng.integers(0, HOURS * 4, n) * 900 * US  # quarter hours: many ties
    created = np.where(rng.random(n) < 0.3, np.iinfo(np.int64).min, ts + rng.integers(0, 3, n) * US)
    embeddings = rng.random((n, 4)).astype(np.float32)
    return pd.DataFrame(
        {
            "user_id": rng.integers(1, USERS + 1, n),
            "country": rng.choice(np.array(["FR", "DE", "US", None], dtype=object), n),
            "age": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(18, 80, n)), dtype="Int64"),
            "score": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "embedding": [None if i % 17 == 0 else list(e) for i, e in enumerate(embeddings)],
            "event_timestamp": pd.to_datetime(ts, unit="us", utc=True),
            "created": pd.to_datetime(
                np.where(created == np.iinfo(np.int64).min, np.datetime64("NaT"), created.astype("datetime64[us]")), utc=True
            ),
        }
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[OfflineTables, pa.Table]:
    rng = np.random.default_rng(20260202)
    tables = OfflineTables(tmp_path_factory.mktemp("offline"))
    keys = ["user_id", "article_id"]
    first = event_batch(rng, 1500, "a")
    tables.append(events_v1, first, key_columns=keys)
    second = event_batch(rng, 1500, "b")  # interleaved in time with the first: late rows
    tables.append(events_v1, pd.concat([second, redelivered(rng, first, 150)]), key_columns=keys)
    third = event_batch(rng, 1000, "c", scroll=True)  # adds the scroll column
    tables.append(events, pd.concat([third, redelivered(rng, second, 100).assign(scroll=0.5)]), key_columns=keys)
    early = profile_batch(rng, 500)
    tables.append(profiles, early, key_columns=["user_id"])
    ties = early.iloc[:60].assign(score=rng.normal(size=60))  # same key, time and created time: the later write wins
    tables.append(profiles, pd.concat([profile_batch(rng, 400), ties]), key_columns=["user_id"])

    n = 2000
    user_ids = rng.integers(1, USERS + 20, n).astype(object)  # some users without any rows
    user_ids[rng.random(n) < 0.02] = None
    entity = pd.DataFrame(
        {
            "user_id": pd.array(user_ids, dtype="Int64"),
            "article_id": rng.integers(1, ARTICLES + 1, n),
            "event_timestamp": pd.to_datetime(times(rng, n) + rng.integers(0, 2, n) * 3600 * US, unit="us", utc=True),
            "hour": rng.integers(0, 24, n),
            "label": np.arange(n),
        }
    )
    return tables, pa.Table.from_pandas(entity, preserve_index=False)


def assert_same(expected: pa.Table, got: pa.Table) -> None:
    assert got.column_names == expected.column_names
    assert got.num_rows == expected.num_rows
    mismatches = []
    for name in expected.column_names:
        for row, (a, b) in enumerate(zip(expected.column(name).to_pylist(), got.column(name).to_pylist(), strict=True)):
            if not same(a, b):
                mismatches.append((name, row, a, b))
    assert not mismatches, f"{len(mismatches)} differences, e.g. {mismatches[:5]}"


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    return bool(a == b)


def inputs(dataset: tuple[OfflineTables, pa.Table]) -> tuple[pa.Table, FeatureSelection, dict[str, SourceData]]:
    tables, entity = dataset
    selection = select_features(CATALOG, FEATURES, full_feature_names=True)
    return normalize_entity_rows(entity, selection), selection, source_data(tables, selection)


def test_spark_returns_the_duckdb_training_set(spark: Any, dataset: tuple[OfflineTables, pa.Table]) -> None:
    from skewless.offline.spark_engine import SparkEngine

    rows, selection, sources = inputs(dataset)
    assert all(len(s.files) >= 2 for s in sources.values())
    expected = DuckDBEngine().historical_features(rows, selection, sources)
    engine = SparkEngine(spark)
    got = engine.historical_features(rows, selection, sources)
    assert_same(expected, got)
    # The windows are not all empty, and the bucketed work ran on more than one partition.
    assert sum(expected.column("user_engagement_v1__clicked_count_1h").to_pylist()) > 500
    assert sum(v is not None for v in expected.column("article_popularity_v1__article_scroll_2h").to_pylist()) > 100
    assert set(engine.view_frames) == {"user_profile_v1+user_score_v1", "user_engagement_v1", "article_popularity_v1"}
    for frame in engine.view_frames.values():
        assert frame.rdd.getNumPartitions() >= 2


def test_write_matches_the_finished_duckdb_training_set(spark: Any, dataset: tuple[OfflineTables, pa.Table], tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    from skewless.offline.spark_engine import SparkEngine

    rows, selection, sources = inputs(dataset)
    engine = SparkEngine(spark, partitions=5)
    engine.write_historical_features(rows, selection, sources, str(tmp_path / "training"))
    written = pq.read_table(tmp_path / "training")
    expected = finish(DuckDBEngine().historical_features(rows, selection, sources), selection, rows.column_names)
    assert_same(expected, written)
    assert written.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    used = engine.view_frames["user_engagement_v1"].select(F.spark_partition_id()).distinct().count()
    assert used >= 2


def test_the_store_runs_the_engine_named_in_its_config(spark: Any, tmp_path: Path) -> None:
    from skewless.offline.spark_engine import SparkEngine

    (tmp_path / "skewless.yaml").write_text("project: test\noffline_store:\n  engine: spark\n")
    with FeatureStore(tmp_path) as store:
        store.apply([user_profile, user_score])
        store.write_to_offline_store("profiles", profile_batch(np.random.default_rng(1), 50))
        engine = store._offline_engine()
        assert isinstance(engine, SparkEngine)
        entity = pd.DataFrame({"user_id": [1, 2, 3], "event_timestamp": [datetime(2026, 2, 2, 20, tzinfo=UTC)] * 3})
        got = store.get_historical_features(entity, ["user_score:score"], output="arrow")
        assert got.column_names == ["user_id", "event_timestamp", "score"] and got.num_rows == 3


def test_missing_pyspark_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from skewless.offline import spark_engine

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else real(name, *a))
    with pytest.raises(ConfigError, match="needs pyspark") as error:
        spark_engine.SparkEngine()
    assert "pip install 'skewless[spark]'" in str(error.value)
