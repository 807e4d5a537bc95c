"""The synthetic news platform: deterministic by seed, shaped like the news-feed sources, and
showing the statistics it documents (diurnal traffic, Zipf popularity, a breaking-news spike, a
click probability that depends on affinity and position).

Statistics are checked with wide margins on fixed seeds: they hold for the seed, not by luck.
"""

from __future__ import annotations

import importlib.util
import itertools
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pytest

from skewless.demo.feed import HOUR_US, topic_prefs
from skewless.demo.simulate import Platform, SimConfig, generate
from skewless.demo.vocab import TOPIC_NAMES

SOURCES = Path(__file__).parents[2] / "examples" / "newsfeed" / "sources.py"
SMALL = SimConfig(scale=0.2, days=7)


def _sources() -> ModuleType:
    spec = importlib.util.spec_from_file_location("newsfeed_sources_for_demo_tests", SOURCES)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def platform() -> Platform:
    return generate(SMALL)


def _tables(p: Platform) -> dict[str, pa.Table]:
    return {"users": p.users, "articles": p.articles, "impressions": p.impressions, "requests": p.requests}


def test_same_seed_same_tables(platform: Platform) -> None:
    again = generate(SMALL)
    for name, table in _tables(platform).items():
        assert table.equals(_tables(again)[name]), name


def test_another_seed_other_tables(platform: Platform) -> None:
    other = generate(replace(SMALL, seed=SMALL.seed + 1))
    assert not other.users.equals(platform.users)
    assert not other.impressions.equals(platform.impressions)


def test_engagement_events_match_the_newsfeed_source(platform: Platform) -> None:
    source = _sources().engagement_events
    events = platform.engagement_events
    assert events.schema.names == list(source.columns)
    for name, dtype in source.columns.items():
        assert events.schema.field(name).type == dtype.to_arrow(), name
    assert pa.compute.count_distinct(events["event_id"]).as_py() == events.num_rows


def test_sizes_follow_scale() -> None:
    small, double = SimConfig(scale=0.2, days=3), SimConfig(scale=0.4, days=3)
    assert (double.users, double.articles_per_day) == (2 * small.users, 2 * small.articles_per_day)
    a, b = generate(small), generate(double)
    assert a.articles.num_rows == small.articles_per_day * (small.days + small.backlog_days)
    assert 1.6 < b.impressions.num_rows / a.impressions.num_rows < 2.4


def test_slates_are_well_formed(platform: Platform) -> None:
    imp = platform.impressions.sort_by([("request_id", "ascending"), ("position", "ascending")])
    request = imp["request_id"].to_numpy()
    position = imp["position"].to_numpy()
    starts = np.r_[True, request[1:] != request[:-1]]
    # Positions run 0..k-1 in each slate, and a slate shows an article once.
    assert np.array_equal(position, np.arange(request.size) - np.maximum.accumulate(np.where(starts, np.arange(request.size), 0)))
    pairs = request.astype(np.int64) * 10**7 + imp["article_id"].to_numpy()
    assert np.unique(pairs).size == pairs.size
    assert platform.requests.num_rows == int(starts.sum())


def test_outcomes_are_consistent(platform: Platform) -> None:
    imp = platform.impressions
    clicked = imp["clicked"].to_numpy().astype(bool)
    assert not (imp["liked"].to_numpy().astype(bool) & ~clicked).any()
    assert not (imp["shared"].to_numpy().astype(bool) & ~clicked).any()
    assert np.array_equal(imp["dwell_seconds"].is_valid().to_numpy(zero_copy_only=False), clicked)
    dwell = imp["dwell_seconds"].drop_null().to_numpy()
    assert (dwell > 0).all() and 15 < np.median(dwell) < 90
    assert 0.04 < clicked.mean() < 0.15


def test_articles_are_shown_after_publication_within_the_period(platform: Platform) -> None:
    imp = platform.impressions
    ts = imp["event_timestamp"].cast(pa.int64()).to_numpy()
    published = platform.articles["published_at"].cast(pa.int64()).to_numpy()[imp["article_id"].to_numpy() - 1]
    assert (ts >= published).all()
    assert ts.min() >= SMALL.start_us and ts.max() < SMALL.end_us + 3_600_000_000  # a slate may run past the end
    assert np.all(np.diff(ts) >= 0), "the log is in event-time order"
    age_hours = (ts - published) / HOUR_US
    assert np.median(age_hours) < 24, "popularity decays: most impressions are of recent articles"


def test_traffic_is_diurnal_in_local_time(platform: Platform) -> None:
    imp = platform.impressions
    local = imp["event_timestamp"].cast(pa.int64()).to_numpy() // 60_000_000 + imp["utc_offset_minutes"].to_numpy()
    hour = (local // 60) % 24
    counts = np.bincount(hour, minlength=24)
    assert counts[19:22].sum() > 5 * counts[2:5].sum()


def test_popularity_is_zipf_like(platform: Platform) -> None:
    counts = np.sort(np.bincount(platform.impressions["article_id"].to_numpy()))[::-1]
    top = max(1, platform.articles.num_rows // 100)
    assert counts[:top].sum() > 0.08 * counts.sum(), "the top 1% of articles get a large share"
    assert np.median(counts[counts > 0]) < counts[0] / 10


def test_breaking_news_takes_most_slates_in_its_first_hour(platform: Platform) -> None:
    breaking = int(platform.articles.filter(platform.articles["is_breaking"])["article_id"][0].as_py())
    imp = platform.impressions
    ts = imp["event_timestamp"].cast(pa.int64()).to_numpy()
    first_hour = (ts >= SMALL.breaking_us) & (ts < SMALL.breaking_us + HOUR_US)
    request = imp["request_id"].to_numpy()
    with_it = np.unique(request[first_hour & (imp["article_id"].to_numpy() == breaking)]).size
    assert with_it > 0.6 * np.unique(request[first_hour]).size
    assert (imp["position"].to_numpy()[imp["article_id"].to_numpy() == breaking] == 0).all(), "pinned on top"
    day_later = (ts >= SMALL.breaking_us + 24 * HOUR_US) & (ts < SMALL.breaking_us + 25 * HOUR_US)
    assert (imp["article_id"].to_numpy()[day_later] != breaking).all(), "and fades"


def test_clicks_follow_affinity_and_position(platform: Platform) -> None:
    imp = platform.impressions
    clicked = imp["clicked"].to_numpy()
    position = imp["position"].to_numpy()
    ctr = [clicked[position == k].mean() for k in range(6)]
    assert all(a > b for a, b in itertools.pairwise(ctr)), ctr
    # The hidden affinity, recomputed from the users' preferences and the article categories.
    theta = topic_prefs(platform.users)
    category = np.asarray([TOPIC_NAMES.index(c) for c in platform.articles["category"].to_pylist()])
    affinity = np.log(12 * theta[imp["user_id"].to_numpy() - 1, category[imp["article_id"].to_numpy() - 1]])
    np.testing.assert_allclose(np.clip(affinity, -3.0, 1.6), imp["affinity"].to_numpy(), atol=1e-6)
    low, high = affinity < np.quantile(affinity, 0.25), affinity > np.quantile(affinity, 0.75)
    assert clicked[high].mean() > 4 * clicked[low].mean()


def test_users_have_peaked_topic_preferences(platform: Platform) -> None:
    theta = topic_prefs(platform.users)
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, atol=1e-5)
    top2 = np.sort(theta, axis=1)[:, -2:].sum(axis=1)
    assert np.median(top2) > 0.5, "most readers favour a few topics"
    assert set(platform.users["country"].to_pylist()) >= {"US", "GB", "IN", "JP"}
    assert set(platform.users["device"].to_pylist()) == {"ios", "android", "web"}
