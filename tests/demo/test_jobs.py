"""The user-profile batch jobs against a direct computation in plain Python, on a small generated
platform written to a real feature store (Delta tables, SQLite registry).

The article embeddings here are cheap deterministic vectors (a category direction plus noise), not
all-MiniLM-L6-v2: the jobs only average given vectors, and the real model would add seconds for
nothing these tests check. The demo itself embeds with the real model.
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from demo.fake_embedding import CategoryEmbedder

from skewless import FeatureStore
from skewless.demo.jobs import HALF_LIFE_HOURS, TOP_TOPICS, last_run, profiles_as_of, run_job, run_schedule, schedule, write_accounts
from skewless.demo.nlp import EMBEDDING_DIM, ingest_articles
from skewless.demo.simulate import Platform, SimConfig, generate
from skewless.errors import DefinitionError

REPO = Path(__file__).parents[2] / "examples" / "newsfeed"
SMALL = SimConfig(scale=0.05, days=4)  # 500 readers, 168 articles, ~11k impressions


def make_store(root: Path, platform: Platform) -> tuple[FeatureStore, pa.Table]:
    shutil.copytree(REPO, root / "newsfeed", ignore=shutil.ignore_patterns("data", "__pycache__"))
    store = FeatureStore(root / "newsfeed")
    store.apply()
    store.write_to_offline_store("engagement_events", platform.engagement_events)
    content = ingest_articles(platform.articles, CategoryEmbedder(platform.articles["category"].to_pylist()))  # type: ignore[arg-type]
    store.write_to_offline_store("article_content", content)
    write_accounts(store, platform.users)
    return store, content


@pytest.fixture(scope="module")
def platform() -> Platform:
    return generate(SMALL)


@pytest.fixture
def store_and_content(tmp_path: Path, platform: Platform) -> tuple[FeatureStore, pa.Table]:
    return make_store(tmp_path, platform)


def direct_profiles(events: pa.Table, content: pa.Table, users: pa.Table, until: datetime) -> dict[int, dict[str, Any]]:
    """The profile definition restated with Python loops over the raw rows (no DuckDB, no NumPy reductions)."""
    vectors = dict(zip(content["article_id"].to_pylist(), content["content_embedding"].to_pylist(), strict=True))
    category = dict(zip(content["article_id"].to_pylist(), content["category"].to_pylist(), strict=True))
    country = dict(zip(users["user_id"].to_pylist(), users["country"].to_pylist(), strict=True))
    clicks: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    seen: set[str] = set()
    for row in events.to_pylist():  # first occurrence of an event id wins
        if row["event_id"] in seen:
            continue
        seen.add(row["event_id"])
        if row["clicked"] == 1 and row["event_timestamp"] < until:
            clicks[row["user_id"]].append((row["event_timestamp"], row["article_id"]))
    out: dict[int, dict[str, Any]] = {}
    for user, items in clicks.items():
        total = [0.0] * EMBEDDING_DIM
        mass: dict[str, float] = defaultdict(float)
        for ts, article in items:
            if article not in vectors:
                continue
            w = 0.5 ** ((until - ts).total_seconds() / 3600 / HALF_LIFE_HOURS)
            total = [t + w * v for t, v in zip(total, vectors[article], strict=True)]
            mass[category[article]] += w
        norm = math.sqrt(sum(t * t for t in total))
        top = sorted(mass.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TOPICS]
        share = sum(m for _, m in top)
        out[user] = {
            "user_embedding": [t / norm for t in total],
            "top_topics": [t for t, _ in top],
            "topic_scores": [m / share for _, m in top],
            "articles_read_total": len(items),
            "home_country": country[user],
        }
    return out


def assert_same_profiles(got: dict[int, dict[str, Any]], want: dict[int, dict[str, Any]]) -> None:
    assert got.keys() == want.keys()
    for user, w in want.items():
        g = got[user]
        assert g["top_topics"] == w["top_topics"], user
        np.testing.assert_allclose(g["topic_scores"], w["topic_scores"], rtol=1e-6, err_msg=str(user))  # stored as float32
        np.testing.assert_allclose(g["user_embedding"], w["user_embedding"], atol=2e-6, err_msg=str(user))
        assert g["articles_read_total"] == w["articles_read_total"], user
        assert g["home_country"] == w["home_country"], user


def test_daily_job_against_a_direct_computation(store_and_content: tuple[FeatureStore, pa.Table], platform: Platform) -> None:
    store, content = store_and_content
    until = SMALL.start + timedelta(days=3, hours=7, minutes=13)
    result = run_job(store, "user_profiles_daily", until=until, progress=False)
    want = direct_profiles(platform.engagement_events, content, platform.users, until)
    assert result.mode == "full" and result.users == len(want) > 100
    got = profiles_as_of(store, until)
    assert_same_profiles(got, want)
    for row in got.values():
        assert math.isclose(sum(row["topic_scores"]), 1.0, rel_tol=1e-6)
        assert math.isclose(float(np.linalg.norm(row["user_embedding"])), 1.0, rel_tol=1e-5)
        assert row["event_timestamp"] == until
    assert last_run(store) is not None


def test_incremental_equals_full_for_the_same_cutoff(store_and_content: tuple[FeatureStore, pa.Table], platform: Platform) -> None:
    store, content = store_and_content
    t1, t2 = SMALL.start + timedelta(days=2), SMALL.start + timedelta(days=2, hours=6)
    run_job(store, "user_profiles_daily", until=t1, progress=False)
    # A late click (event time before t1, written after the t1 run) of a reader silent in (t1, t2).
    events = platform.engagement_events
    times = events["event_timestamp"].to_pylist()
    active = {u for u, c, t in zip(events["user_id"].to_pylist(), events["clicked"].to_pylist(), times, strict=True) if c and t1 <= t < t2}
    late_user = next(u for u in platform.users["user_id"].to_pylist() if u not in active)
    late = events.slice(0, 1).to_pylist()[0] | {
        "event_id": "late-1",
        "user_id": late_user,
        "clicked": 1,
        "event_timestamp": t1 - timedelta(hours=1),
    }
    store.write_to_offline_store("engagement_events", pa.Table.from_pylist([late], schema=events.schema))
    result = run_job(store, "user_profiles_intraday", until=t2, progress=False)
    assert result.mode == "incremental" and result.since_us is not None
    # Only readers with new clicks (and the late one) were recomputed, not everyone.
    assert result.users == len(active | {late_user})
    incremental = profiles_as_of(store, t2)
    with_late = pa.concat_tables([events, pa.Table.from_pylist([late], schema=events.schema)])
    assert_same_profiles(incremental, direct_profiles(with_late, content, platform.users, t2))
    run_job(store, "user_profiles_daily", until=t2, progress=False)
    full = profiles_as_of(store, t2)
    assert_same_profiles(incremental, full)


def test_an_event_id_counts_once_its_first_write(store_and_content: tuple[FeatureStore, pa.Table], platform: Platform) -> None:
    store, content = store_and_content
    events = platform.engagement_events
    until = SMALL.start + timedelta(days=1)
    first_skip = next(r for r in events.to_pylist() if r["clicked"] == 0 and r["event_timestamp"] < until)
    store.write_to_offline_store("engagement_events", pa.Table.from_pylist([first_skip | {"clicked": 1}], schema=events.schema))
    run_job(store, "user_profiles_daily", until=until, progress=False)
    assert_same_profiles(profiles_as_of(store, until), direct_profiles(events, content, platform.users, until))


def test_schedule_and_unknown_job(store_and_content: tuple[FeatureStore, pa.Table]) -> None:
    start = SMALL.start
    runs = list(schedule(start, start + timedelta(days=1, hours=3), intraday_hours=6))
    assert [(name.rsplit("_", 1)[1], (t - start).total_seconds() / 3600) for name, t in runs] == [
        ("intraday", 6),
        ("intraday", 12),
        ("intraday", 18),
        ("daily", 24),
        ("daily", 27),
    ]
    store, _ = store_and_content
    results = run_schedule(store, start, start + timedelta(hours=13), progress=False)
    assert [r.mode for r in results] == ["full", "incremental", "full"]  # a first intra-day run is a full one
    with pytest.raises(DefinitionError, match="unknown job"):
        run_job(store, "nope", progress=False)
