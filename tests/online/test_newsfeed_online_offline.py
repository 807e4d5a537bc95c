"""The news-feed ranker's on-demand features (embedding cosine, topic affinity, article age, context)
come out the same online as in a training set at the same time."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skewless import FeatureStore
from skewless.online.materialize import to_us

REPO = Path(__file__).parents[2] / "examples" / "newsfeed"
NOW = datetime(2026, 6, 1, 18, 30, tzinfo=UTC)
CROSS = [
    "user_article_cross:embedding_cosine",
    "user_article_cross:topic_affinity",
    "user_article_cross:article_age_hours",
    "context_features:local_hour",
    "context_features:is_mobile",
]


def test_online_equals_offline_for_the_cross_features(tmp_path: Path) -> None:
    shutil.copytree(REPO, tmp_path / "repo", ignore=shutil.ignore_patterns("data", "__pycache__"))
    store = FeatureStore(tmp_path / "repo")
    store.apply()
    rng = np.random.default_rng(5)
    users, articles = [1, 2, 3], [10, 11, 12, 13]
    store.write_to_offline_store(
        "user_profiles",
        pd.DataFrame(
            {
                "user_id": users,
                "top_topics": [["sport", "tech"], ["politics"], None],
                "topic_scores": [[0.6, 0.4], [1.0], None],
                "user_embedding": list(rng.normal(size=(3, 384)).astype("float32")),
                "articles_read_total": [5, 9, 0],
                "home_country": ["FR", "DE", "US"],
                "event_timestamp": [NOW - timedelta(hours=5)] * 3,
            }
        ),
    )
    store.write_to_offline_store(
        "article_content",
        pd.DataFrame(
            {
                "article_id": articles,
                "category": ["sport", "tech", "politics", None],
                "headline": ["a", "b", "c", "d"],
                "named_entities": [["X"], [], ["Y", "Z"], None],
                "published_at": [NOW - timedelta(hours=h) for h in (1, 2, 30, 4)],
                "word_count": [100, 200, 300, 400],
                "content_embedding": list(rng.normal(size=(4, 384)).astype("float32")),
                "event_timestamp": [NOW - timedelta(hours=1)] * 4,
            }
        ),
    )
    store.materialize(datetime(2026, 1, 1, tzinfo=UTC), NOW, views=["user_profile", "article_metadata"], progress=False)
    rows = [{"user_id": u, "article_id": a} for u in users for a in articles]
    context = {"device": "ios", "country": "FR", "utc_offset_minutes": 120}
    online = store.online.get(CROSS, rows, context, now_us=to_us(NOW)).to_dict()
    entity_df = pd.DataFrame(rows).assign(event_timestamp=NOW, **context)
    offline = store.get_historical_features(entity_df, CROSS)
    for feature in (f.split(":")[1] for f in CROSS):
        expected = [None if pd.isna(v) else v for v in offline[feature].tolist()]
        got = online[feature]
        assert [g is None for g in got] == [e is None for e in expected], feature
        assert [g for g in got if g is not None] == pytest.approx([e for e in expected if e is not None], rel=1e-9), feature
    assert online["local_hour"] == [20] * 12  # 18:30 UTC + 2 h
