"""`skewless run JOB` on a copy of the news-feed repo."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from skewless import FeatureStore
from skewless.cli.app import app

REPO = Path(__file__).parents[2] / "examples" / "newsfeed"


def test_run_a_profile_job_then_an_unknown_one(tmp_path: Path) -> None:
    repo = tmp_path / "news"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    now = datetime.now(UTC)
    rng = np.random.default_rng(3)
    with FeatureStore(repo) as store:
        store.apply()
        store.write_to_offline_store(
            "article_content",
            pd.DataFrame(
                {
                    "article_id": [1, 2],
                    "category": ["sport", "tech"],
                    "headline": ["a", "b"],
                    "named_entities": [["X"], []],
                    "published_at": [now - timedelta(days=2)] * 2,
                    "word_count": [100, 200],
                    "content_embedding": list(rng.normal(size=(2, 384)).astype("float32")),
                    "event_timestamp": [now - timedelta(days=2)] * 2,
                }
            ),
        )
        store.write_to_offline_store(
            "engagement_events",
            pd.DataFrame(
                {
                    "event_id": ["a", "b", "c"],
                    "user_id": [7, 7, 8],
                    "article_id": [1, 2, 2],
                    "position": [0, 1, 0],
                    "clicked": [1, 1, 0],
                    "liked": [0, 0, 0],
                    "shared": [0, 0, 0],
                    "dwell_seconds": [30.0, 10.0, None],
                    "device": ["ios"] * 3,
                    "event_timestamp": [now - timedelta(hours=h) for h in (5, 4, 3)],
                }
            ),
        )
    runner = CliRunner()
    result = runner.invoke(app, ["--repo", str(repo), "run", "user_profiles_daily"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "user_profiles_daily: 1 profiles from 2 clicks" in result.output  # user 8 never clicked
    result = runner.invoke(app, ["--repo", str(repo), "run", "weekly_digest"], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "unknown job 'weekly_digest'" in result.output and "user_profiles_intraday" in result.output
