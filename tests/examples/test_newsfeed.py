"""The news-feed feature repo applies cleanly and its on-demand features compute what they say."""

from __future__ import annotations

import math
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skewless import Embedding, FeatureStore
from skewless.definitions.on_demand import OnDemandFeatureView

REPO = Path(__file__).parents[2] / "examples" / "newsfeed"


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    shutil.copytree(REPO, tmp_path / "newsfeed", ignore=shutil.ignore_patterns("data", "__pycache__"))
    return FeatureStore(tmp_path / "newsfeed")


def test_the_ranker_service_reads_without_renaming(store: FeatureStore) -> None:
    from skewless.definitions.selection import select_features

    store.apply()
    selection = select_features(store.registry.snapshot().catalog, "ranker")  # no two features share a name
    assert len(selection.outputs) == 38


def test_applies_cleanly_and_idempotently(store: FeatureStore) -> None:
    result = store.apply()
    assert result.revision == 1
    assert not store.plan().has_changes
    names = {v.name for v in store.list_feature_views()}
    assert names == {"user_engagement", "user_profile", "article_metadata", "article_popularity"}
    assert {v.name for v in store.list_on_demand_feature_views()} == {"context_features", "user_article_cross"}


def test_covers_every_feature_group_of_the_brief(store: FeatureStore) -> None:
    store.apply()
    engagement = store.get_feature_view("user_engagement").feature_names
    for window in ("1h", "24h", "7d", "30d"):
        assert {f"impressions_{window}", f"clicks_{window}", f"ctr_{window}"} <= set(engagement)
    popularity = store.get_feature_view("article_popularity").feature_names
    assert {"article_views_10m", "article_views_1h", "article_ctr_10m", "article_ctr_1h"} <= set(popularity)
    profile = {f.name: f.dtype for f in store.get_feature_view("user_profile").features}
    content = {f.name: f.dtype for f in store.get_feature_view("article_metadata").features}
    assert profile["user_embedding"] == content["content_embedding"] == Embedding(384)  # one space
    assert {"top_topics", "topic_scores"} <= profile.keys()
    assert {"category", "named_entities", "published_at"} <= content.keys()
    refs = {str(r) for r in store.registry.snapshot().catalog.service_refs("ranker")}
    assert "context_features@v1:local_hour" in refs and "user_article_cross@v1:embedding_cosine" in refs


def odfv(store: FeatureStore, name: str) -> OnDemandFeatureView:
    view = store.get_feature_view(name)
    assert isinstance(view, OnDemandFeatureView)
    return view


def test_context_features_against_datetime(store: FeatureStore) -> None:
    store.apply()
    rng = np.random.default_rng(7)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    times = [base + timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 14, size=200)]
    offsets = rng.choice([-480, -300, 0, 60, 330, 540, 765], size=200)
    devices = rng.choice(["ios", "android", "web"], size=200)
    inputs = {
        "event_timestamp": np.array([t.replace(tzinfo=None) for t in times], dtype="datetime64[us]"),
        "utc_offset_minutes": offsets.astype("float64"),
        "device": devices.astype(object),
        "country": np.array(["FR"] * 200, dtype=object),
    }
    out = odfv(store, "context_features").udf(inputs)  # the registry's copy of the function
    for i, t in enumerate(times):
        local = t + timedelta(minutes=int(offsets[i]))
        assert out["local_hour"][i] == local.hour
        assert out["is_weekend"][i] == (local.weekday() >= 5)
        assert out["is_mobile"][i] == (devices[i] != "web")


def test_cross_features_against_a_per_row_computation(store: FeatureStore) -> None:
    store.apply()
    rng = np.random.default_rng(11)
    n = 50
    users, articles = rng.normal(size=(n, 384)).astype("float32"), rng.normal(size=(n, 384)).astype("float32")
    users[3] = np.nan  # a reader without a profile
    categories = rng.choice(["politics", "sport", "tech", "culture"], size=n).astype(object)
    categories[5] = None
    topics = [["sport", "tech"], ["politics"], None] * 16 + [["culture"], ["tech"]]
    scores = [[0.7, 0.3], [1.0], None] * 16 + [[1.0], [1.0]]
    now = datetime(2026, 5, 1, 12)
    published = np.array([now - timedelta(hours=float(h)) for h in rng.uniform(0, 48, size=n)], dtype="datetime64[us]")
    published[7] = np.datetime64("NaT")
    inputs: dict[str, Any] = {
        "user_embedding": users,
        "content_embedding": articles,
        "category": categories,
        "top_topics": np.array(topics, dtype=object),
        "topic_scores": np.array(scores, dtype=object),
        "published_at": published,
        "event_timestamp": np.array([now] * n, dtype="datetime64[us]"),
    }
    out = odfv(store, "user_article_cross").udf(inputs)
    for i in range(n):
        u, a = [float(x) for x in users[i]], [float(x) for x in articles[i]]
        if any(math.isnan(x) for x in u):
            assert math.isnan(out["embedding_cosine"][i])
        else:
            dot = sum(x * y for x, y in zip(u, a, strict=True))
            expected = dot / (math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(y * y for y in a)))
            # float32 dot products: within float32 rounding of the float64 sums
            assert out["embedding_cosine"][i] == pytest.approx(expected, rel=1e-5, abs=1e-6)
        if categories[i] is None or topics[i] is None:
            assert math.isnan(out["topic_affinity"][i])
        else:
            expected_affinity = dict(zip(topics[i], scores[i], strict=True)).get(categories[i], 0.0)
            assert out["topic_affinity"][i] == pytest.approx(expected_affinity)
        if i == 7:
            assert math.isnan(out["article_age_hours"][i])
        else:
            age = (now - published[i].astype(datetime)).total_seconds() / 3600
            assert out["article_age_hours"][i] == pytest.approx(age, abs=1e-6)
