"""`skewless backfill`, `skew-check`, `materialize`, `stream` and `status` on a real repo folder."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner

from skewless import FeatureStore
from skewless.cli.app import app

runner = CliRunner()


def run(repo: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--repo", str(repo), *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def recent_events(n: int, *, first: int = 0) -> pd.DataFrame:
    now = datetime.now(UTC)
    return pd.DataFrame(
        {
            "event_id": [f"e{first + i}" for i in range(n)],
            "user_id": [i % 4 for i in range(n)],
            "article_id": [i % 7 for i in range(n)],
            "clicked": [i % 3 == 0 for i in range(n)],
            "dwell_seconds": [float(i % 50) for i in range(n)],
            "event_timestamp": [now - timedelta(seconds=17 * i + 5) for i in range(n)],
        }
    )


def test_backfill_skew_check_and_materialize(tmp_path: Path) -> None:
    repo = tmp_path / "news"
    assert run(tmp_path, "init", "news", "--dir", str(tmp_path))[0] == 0
    assert run(repo, "apply")[0] == 0
    FeatureStore(repo).write_to_offline_store("engagement_events", recent_events(200))

    code, out = run(repo, "backfill")
    assert code == 0, out
    assert "200 events read, 200 new to the tiles" in out
    code, out = run(repo, "skew-check", "--samples", "30")
    assert code == 0, out
    assert "0 mismatches in" in out and "clicks_1h" in out

    code, out = run(repo, "materialize", "2026-01-01", "now", "--view", "user_profile")
    assert code == 0, out
    assert "user_profile@v1: 0 rows" in out
    code, out = run(repo, "materialize", "yesterday", "now")
    assert code == 1 and "'yesterday' is not an ISO 8601 time" in out
    code, out = run(repo, "backfill", "no_such_view")
    assert code == 1 and "no windowed view named no_such_view" in out


def test_stream_then_status(tmp_path: Path, redis_server: Any) -> None:
    repo = tmp_path / "news"
    assert run(tmp_path, "init", "news", "--dir", str(tmp_path))[0] == 0
    config = repo / "skewless.yaml"
    config.write_text(config.read_text() + f"\nstreaming:\n  bus_url: {redis_server.url}\n  partitions: 2\n")
    assert run(repo, "apply")[0] == 0
    events = recent_events(300, first=1_000).to_dict("records")
    events.append({**events[0], "event_id": "bad", "clicked": "maybe"})
    with FeatureStore(repo) as store:
        assert store.publish("engagement_events", events) >= 2
    started = time.monotonic()
    code, out = run(repo, "stream", "engagement_events", "--idle-exit", "0.5")
    assert code == 0, out
    assert "301 events" in out and "1 dead letters" in out and time.monotonic() - started < 60
    code, out = run(repo, "status")
    assert code == 0, out
    assert "engagement_events" in out and "lag" in out
    code, out = run(repo, "stream", "engagement_events", "--partitions", "7")
    assert code == 1 and "partitions 0 to 1" in out
