"""`skewless ingest` and `skewless training-set` on a real repo folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from skewless import FeatureStore
from skewless.cli.app import app

runner = CliRunner()
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def run(repo: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--repo", str(repo), *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_ingest_then_build_list_and_rebuild_a_training_set(tmp_path: Path) -> None:
    repo = tmp_path / "news"
    assert run(tmp_path, "init", "news", "--dir", str(tmp_path))[0] == 0
    assert run(repo, "apply")[0] == 0
    events = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(100)],
            "user_id": [i % 4 for i in range(100)],
            "article_id": [i % 7 for i in range(100)],
            "clicked": [i % 3 == 0 for i in range(100)],
            "dwell_seconds": [float(i) for i in range(100)],
            "event_timestamp": [T0 - timedelta(minutes=i) for i in range(100)],
        }
    )
    events.to_parquet(tmp_path / "events.parquet")
    code, out = run(repo, "ingest", "engagement_events", str(tmp_path / "events.parquet"))
    assert code == 0, out
    assert "Ingested 100 rows into engagement_events (table version 0)" in out

    bad = events.assign(user_id=[None] * 100)
    bad.to_parquet(tmp_path / "bad.parquet")
    code, out = run(repo, "ingest", "engagement_events", str(tmp_path / "bad.parquet"))
    assert code == 1 and "user_id" in out
    assert FeatureStore(repo).offline_tables.version("engagement_events") == 0  # nothing written

    labels = pd.DataFrame({"user_id": [0, 1, 2], "event_timestamp": [T0, T0, T0 + timedelta(hours=1)]})
    labels.to_parquet(tmp_path / "labels.parquet")
    code, out = run(repo, "training-set", "create", "first", str(tmp_path / "labels.parquet"), "-f", "user_engagement:clicks_24h")
    assert code == 0, out
    assert "Training set first: 3 rows, 1 features" in out
    code, out = run(repo, "training-set", "list")
    assert code == 0 and "first" in out and "engagement_events@0" in out
    code, out = run(repo, "training-set", "rebuild", "first")
    assert code == 0 and "identical to the stored set" in out, out
    code, out = run(repo, "training-set", "create", "x", str(tmp_path / "labels.parquet"))
    assert code == 1 and "--service or one or more --feature" in out
