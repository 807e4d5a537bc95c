"""Timestamp-typed feature values survive the online store and both response formats."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgpack
import numpy as np
import pandas as pd
from starlette.testclient import TestClient

from skewless import FeatureStore
from skewless.serving import create_app

REPO = Path(__file__).parents[2] / "examples" / "newsfeed"


def test_timestamp_features_in_json_and_msgpack(tmp_path: Path) -> None:
    shutil.copytree(REPO, tmp_path / "repo", ignore=shutil.ignore_patterns("data", "__pycache__"))
    store = FeatureStore(tmp_path / "repo")
    store.apply()
    published = datetime(2026, 11, 1, 8, 0, 0, 250000, tzinfo=UTC)
    store.write_to_offline_store(
        "article_content",
        pd.DataFrame(
            {
                "article_id": [10],
                "category": ["sport"],
                "headline": ["a"],
                "named_entities": [["X"]],
                "published_at": [published],
                "word_count": [100],
                "content_embedding": list(np.ones((1, 384), dtype="float32")),
                "event_timestamp": [published],
            }
        ),
    )
    store.materialize(published - timedelta(days=1), published + timedelta(seconds=1), views=["article_metadata"], progress=False)
    assert store.online.get(["article_metadata:published_at"], {"article_id": [10]}).values["published_at"] == [published]
    client = TestClient(create_app(store))
    body = {"features": ["article_metadata:published_at"], "entities": {"article_id": [10, 11]}}
    as_json = client.post("/get-online-features", json=body).json()["results"][1]
    assert datetime.fromisoformat(as_json["values"][0]) == published and as_json["values"][1] is None
    as_msgpack = msgpack.unpackb(client.post("/get-online-features?format=msgpack", json=body).content)["results"][1]
    assert as_msgpack["values"] == [int(published.timestamp() * 1_000_000), None]
