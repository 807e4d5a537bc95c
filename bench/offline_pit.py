#!/usr/bin/env python
"""Offline point-in-time benchmark: skewless' training sets on a year of news-feed data, and Feast on the same data.

What it does, in one run:

1. Builds a year-shaped data set, deterministic (numpy seed), in chunks so memory stays bounded,
   written with skewless' own ``write_to_offline_store`` into a feature repo under ``--workdir``:
   1M users with Zipf-Mandelbrot activity, 50k articles published through the year with a
   heavy-tailed recency popularity, 100M engagement events (0.1% delivered twice), user profile
   and article metadata snapshots, and 64-dim user / 384-dim article embeddings. ``--scale``
   multiplies every count (``--scale 0.01``: 10k users, 500 articles, 1M events).
2. Times ``store.get_historical_features(entity_df, features, output="arrow")`` for label sets
   of ``--labels`` rows (scaled) with 96 scalar features: 66 windowed aggregations (user
   engagement over 1h/24h/7d/30d, article popularity over 10m/1h/24h, with ratios) and 30
   snapshot features (profile, article metadata); embeddings are timed separately. Each run is a
   fresh child process: wall time, peak RSS (DuckDB runs in-process, so it is included), rows/s.
3. Builds the same training set with Feast (its DuckDB offline store by default; ``--feast-store
   dask`` for its file store) in ``bench/.venv-feast``, on the same rows exported to Parquet, for
   the features both can compute: the snapshot features (latest row at or before the label time,
   within ttl). Feast has no windowed aggregation at label time, so those are skewless-only. Feast
   runs at increasing label counts under a time limit and a memory guard until it fails.
4. Checks values: skewless vs Feast on a sample of rows of every label count both finish, and
   skewless' windowed features against an independent brute-force query on sampled rows.

Quick run: ``.venv/bin/python bench/offline_pit.py --scale 0.01``. Full size (1M users, 100M
events) is the default; ``--keep --workdir DIR`` caches the generated data between runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from memwatch import PeakMemory, status_kib, tree_rss  # noqa: E402

GENERATOR_VERSION = 1
FULL = {"users": 1_000_000, "articles": 50_000, "events": 100_000_000}
YEAR_START_US = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
DAY_US = 86_400 * 1_000_000
HOUR_US = 3_600 * 1_000_000
YEAR_US = 365 * DAY_US
YEAR_END_US = YEAR_START_US + YEAR_US
LABELS_FROM_US = YEAR_START_US + 60 * DAY_US  # label times: the last ten months (30d windows are full)
LABEL_BLOCK = 1_000_000  # labels are drawn in blocks, so the first n rows do not depend on the total
TIMESTAMP = pa.timestamp("us", tz="UTC")
FEAST_VENV = BENCH / ".venv-feast"
FEAST_REQUIREMENTS = BENCH / "requirements-feast.txt"

# Relative activity per UTC hour (a news reader's day: morning and evening peaks).
HOUR_WEIGHT = np.array(
    [0.35, 0.25, 0.2, 0.2, 0.25, 0.4, 0.65, 0.9, 1.0, 0.9, 0.8, 0.75, 0.8, 0.75, 0.7, 0.7, 0.75, 0.8, 0.9, 1.0, 0.95, 0.8, 0.6, 0.45]
)
COUNTRIES = np.array(["US", "GB", "DE", "FR", "IN", "BR", "CA", "AU", "ES", "IT", "MX", "NL", "SE", "JP", "PL", "other"])
COUNTRY_P = np.array([30, 10, 8, 7, 9, 6, 4, 3, 4, 4, 3, 2, 1.5, 2, 1.5, 5.0])
CATEGORIES = np.array(
    ["politics", "world", "business", "tech", "science", "health", "sports", "culture", "opinion", "local", "travel", "food"]
)
CATEGORY_P = np.array([14, 12, 11, 10, 6, 7, 15, 7, 6, 6, 3, 3.0])

# Snapshot features: (name, skewless/Feast type name). Shared with the Feast script via a spec file.
PROFILE_FIELDS = [
    ("country", "String"),
    ("age", "Int64"),
    ("tenure_days", "Int64"),
    ("is_premium", "Bool"),
    ("notifications_on", "Bool"),
    ("followed_topics", "Int64"),
    ("followed_publishers", "Int64"),
    ("articles_read_total", "Int64"),
    ("sessions_30d", "Int64"),
    ("avg_session_minutes", "Float32"),
    ("mobile_share", "Float64"),
    ("night_owl_score", "Float32"),
    ("churn_risk", "Float64"),
    ("ltv_estimate", "Float64"),
    ("ad_opt_out", "Bool"),
    ("days_since_last_login", "Int64"),
]
ARTICLE_FIELDS = [
    ("category", "String"),
    ("publisher_id", "Int64"),
    ("author_id", "Int64"),
    ("word_count", "Int64"),
    ("image_count", "Int64"),
    ("has_video", "Bool"),
    ("is_breaking", "Bool"),
    ("is_paywalled", "Bool"),
    ("quality_score", "Float32"),
    ("headline_length", "Int64"),
    ("reading_minutes", "Float32"),
    ("sentiment", "Float64"),
    ("freshness_boost", "Float64"),
    ("editor_pick", "Bool"),
]
PROFILE_TTL_DAYS = 45
USER_EMBEDDING_DIM = 64
ARTICLE_EMBEDDING_DIM = 384
USER_EMBEDDING_TTL_DAYS = 90
USER_WINDOWS = ["1h", "24h", "7d", "30d"]
ARTICLE_WINDOWS = ["10m", "1h", "24h"]


# -- feature definitions -------------------------------------------------------------------------


def definitions() -> list[Any]:
    """The benchmark's feature repo, as skewless objects."""
    from skewless import (
        Aggregation,
        BatchSource,
        Bool,
        Embedding,
        Entity,
        FeatureView,
        Field,
        Float32,
        Float64,
        Int64,
        Ratio,
        StreamSource,
        String,
    )

    types = {"Int64": Int64, "Float32": Float32, "Float64": Float64, "String": String, "Bool": Bool}
    user = Entity(name="user", join_keys=["user_id"], dtype=Int64)
    article = Entity(name="article", join_keys=["article_id"], dtype=Int64)
    engagement = StreamSource(
        name="engagement",
        schema=[
            Field(name="event_id", dtype=Int64),
            Field(name="user_id", dtype=Int64),
            Field(name="article_id", dtype=Int64),
            Field(name="position", dtype=Int64),
            Field(name="clicked", dtype=Int64),
            Field(name="liked", dtype=Int64),
            Field(name="shared", dtype=Int64),
            Field(name="dwell_seconds", dtype=Float32),
            Field(name="scroll_depth", dtype=Float32),
        ],
        event_id_field="event_id",
    )
    profiles = BatchSource(
        name="user_profiles", schema=[Field(name="user_id", dtype=Int64), *[Field(name=n, dtype=types[t]) for n, t in PROFILE_FIELDS]]
    )
    content = BatchSource(
        name="article_content",
        schema=[Field(name="article_id", dtype=Int64), *[Field(name=n, dtype=types[t]) for n, t in ARTICLE_FIELDS]],
    )
    user_vectors = BatchSource(
        name="user_embeddings",
        schema=[Field(name="user_id", dtype=Int64), Field(name="user_embedding", dtype=Embedding(USER_EMBEDDING_DIM))],
    )
    article_vectors = BatchSource(
        name="article_embeddings",
        schema=[Field(name="article_id", dtype=Int64), Field(name="article_embedding", dtype=Embedding(ARTICLE_EMBEDDING_DIM))],
    )
    w = USER_WINDOWS
    user_engagement = FeatureView(
        name="user_engagement",
        entities=[user],
        source=engagement,
        aggregations=[
            Aggregation("clicked", "count", windows=w, name="user_impressions_{window}"),
            Aggregation("clicked", "sum", windows=w, name="user_clicks_{window}"),
            Aggregation("liked", "sum", windows=w, name="user_likes_{window}"),
            Aggregation("shared", "sum", windows=w, name="user_shares_{window}"),
            Aggregation("dwell_seconds", "sum", windows=w, name="user_dwell_total_{window}"),
            Aggregation("dwell_seconds", "mean", windows=w, name="user_dwell_mean_{window}"),
            Aggregation("dwell_seconds", "max", windows=w, name="user_dwell_max_{window}"),
            Aggregation("position", "mean", windows=w, name="user_position_mean_{window}"),
            Aggregation("scroll_depth", "mean", windows=w, name="user_scroll_mean_{window}"),
        ],
        ratios=[
            *[Ratio(f"user_ctr_{x}", f"user_clicks_{x}", f"user_impressions_{x}") for x in w],
            *[Ratio(f"user_like_rate_{x}", f"user_likes_{x}", f"user_clicks_{x}") for x in w],
            *[Ratio(f"user_share_rate_{x}", f"user_shares_{x}", f"user_clicks_{x}") for x in w],
        ],
    )
    a = ARTICLE_WINDOWS
    article_popularity = FeatureView(
        name="article_popularity",
        entities=[article],
        source=engagement,
        aggregations=[
            Aggregation("clicked", "count", windows=a, name="article_views_{window}"),
            Aggregation("clicked", "sum", windows=a, name="article_clicks_{window}"),
            Aggregation("liked", "sum", windows=a, name="article_likes_{window}"),
            Aggregation("shared", "sum", windows=a, name="article_shares_{window}"),
            Aggregation("dwell_seconds", "mean", windows=a, name="article_dwell_mean_{window}"),
        ],
        ratios=[Ratio(f"article_ctr_{x}", f"article_clicks_{x}", f"article_views_{x}") for x in a],
    )
    user_profile = FeatureView(name="user_profile", entities=[user], source=profiles, ttl=f"{PROFILE_TTL_DAYS}d")
    article_metadata = FeatureView(name="article_metadata", entities=[article], source=content)
    user_embedding = FeatureView(name="user_embedding", entities=[user], source=user_vectors, ttl=f"{USER_EMBEDDING_TTL_DAYS}d")
    article_embedding = FeatureView(name="article_embedding", entities=[article], source=article_vectors)
    return [
        user,
        article,
        engagement,
        profiles,
        content,
        user_vectors,
        article_vectors,
        user_engagement,
        article_popularity,
        user_profile,
        article_metadata,
        user_embedding,
        article_embedding,
    ]


def feature_sets() -> dict[str, list[str]]:
    """The feature lists timed: every scalar, the snapshot part Feast can also do, the embeddings, each view."""
    views = {d.name: d for d in definitions() if type(d).__name__ == "FeatureView"}

    def refs(*names: str) -> list[str]:
        return [f"{n}:{f}" for n in names for f in views[n].feature_names]

    return {
        "scalar": refs("user_engagement", "article_popularity", "user_profile", "article_metadata"),
        "snapshot": refs("user_profile", "article_metadata"),
        "windowed": refs("user_engagement", "article_popularity"),
        "embeddings": refs("user_embedding", "article_embedding"),
        **{f"view:{n}": refs(n) for n in ("user_engagement", "article_popularity", "user_profile", "article_metadata")},
    }


# -- the data set --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    scale: float
    users: int
    articles: int
    events: int
    chunk_events: int
    seed: int

    @classmethod
    def of(cls, scale: float, chunk_events: int, seed: int) -> Shape:
        return cls(
            scale=scale,
            users=max(100, round(FULL["users"] * scale)),
            articles=max(50, round(FULL["articles"] * scale)),
            events=max(10_000, round(FULL["events"] * scale)),
            chunk_events=chunk_events,
            seed=seed,
        )

    @property
    def key(self) -> str:
        return f"scale{self.scale:g}-seed{self.seed}-chunk{self.chunk_events}-v{GENERATOR_VERSION}"

    def describe(self) -> dict[str, Any]:
        return {"scale": self.scale, "users": self.users, "articles": self.articles, "events": self.events, "seed": self.seed}


def draw_times(rng: np.random.Generator, lo: int, hi: int, n: int) -> np.ndarray:
    """``n`` times (µs) in ``[lo, hi)`` following the daily activity curve, in random order."""
    parts, have = [], 0
    while have < n:
        candidates = rng.integers(lo, hi, size=int((n - have) * 1.6) + 1024, dtype=np.int64)
        hours = (candidates // HOUR_US) % 24
        kept = candidates[rng.random(candidates.size) < HOUR_WEIGHT[hours]]
        parts.append(kept)
        have += kept.size
    return np.concatenate(parts)[:n]


class Population:
    """Users (Zipf-Mandelbrot activity, a random id per rank) and articles (published through the year)."""

    def __init__(self, shape: Shape) -> None:
        rng = np.random.default_rng([shape.seed, 1])
        n = shape.users
        q = max(1.0, 1000 * shape.scale)  # 1/(rank + q): the busiest user has ~15k events a year at any scale
        weights = 1.0 / (np.arange(n, dtype=np.float64) + q)
        self.user_cdf = np.cumsum(weights) / weights.sum()
        self.user_of_rank = rng.permutation(n)  # user index (id - 1) of each activity rank
        self.propensity = rng.lognormal(0.0, 0.5, n)  # per user index: how click-happy
        self.published = np.sort(rng.integers(YEAR_START_US - 7 * DAY_US, YEAR_END_US, size=shape.articles, dtype=np.int64))
        self.published[0] = YEAR_START_US - 7 * DAY_US  # there is always an article to show

    def users(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """User indexes (id - 1), by activity."""
        ranks = np.minimum(np.searchsorted(self.user_cdf, rng.random(n), side="right"), self.user_cdf.size - 1)
        return self.user_of_rank[ranks]

    def articles(self, rng: np.random.Generator, times: np.ndarray) -> np.ndarray:
        """Article indexes shown at ``times``: a heavy-tailed age (median ~5 h), never published later."""
        age = (rng.pareto(1.2, times.size) * 6 * HOUR_US).astype(np.int64)
        index = np.searchsorted(self.published, times - np.minimum(age, YEAR_US), side="right") - 1
        return np.maximum(index, 0)


def event_chunk(shape: Shape, people: Population, chunk: int, chunks: int, first_id: int) -> tuple[pa.Table, int]:
    """Chunk ``chunk`` of the engagement log: one slice of the year, time-ordered, 0.1% re-delivered."""
    rng = np.random.default_rng([shape.seed, 2, chunk])
    n = shape.events * (chunk + 1) // chunks - shape.events * chunk // chunks
    lo = YEAR_START_US + YEAR_US * chunk // chunks
    hi = YEAR_START_US + YEAR_US * (chunk + 1) // chunks
    ts = np.sort(draw_times(rng, lo, hi, n))
    users = people.users(rng, n)
    articles = people.articles(rng, ts)
    position = np.minimum(rng.geometric(0.08, n) - 1, 99).astype(np.int64)
    p_click = np.clip(0.08 * people.propensity[users] / (1.0 + position / 10.0), 0.0, 0.9)
    clicked = rng.random(n) < p_click
    liked = clicked & (rng.random(n) < 0.12)
    shared = clicked & (rng.random(n) < 0.03)
    dwell = rng.lognormal(3.5, 1.0, n).astype(np.float32)
    scroll = rng.beta(2.0, 2.0, n).astype(np.float32)
    event_id = np.arange(first_id, first_id + n, dtype=np.int64)
    again = np.flatnonzero(rng.random(n) < 0.001)  # at-least-once delivery: some events arrive twice
    order = np.concatenate([np.arange(n), again])

    def col(values: np.ndarray) -> np.ndarray:
        return values[order]

    not_clicked = col(~clicked)
    table = pa.table(
        {
            "event_id": col(event_id),
            "user_id": col(users.astype(np.int64) + 1),
            "article_id": col(articles.astype(np.int64) + 1),
            "position": col(position),
            "clicked": col(clicked.astype(np.int64)),
            "liked": col(liked.astype(np.int64)),
            "shared": col(shared.astype(np.int64)),
            "dwell_seconds": pa.array(col(dwell), mask=not_clicked),
            "scroll_depth": pa.array(col(scroll), mask=not_clicked),
            "event_timestamp": pa.array(col(ts), TIMESTAMP),
        }
    )
    return table, n


def refresh_schedule(rng: np.random.Generator, n: int, mean_days: float) -> tuple[np.ndarray, np.ndarray]:
    """Per key index, refresh times: one in the month before the year, then exponential gaps."""
    current = YEAR_START_US - rng.integers(0, 30 * DAY_US, size=n, dtype=np.int64)
    keys, times = [], []
    while True:
        alive = np.flatnonzero(current < YEAR_END_US)
        if alive.size == 0:
            break
        keys.append(alive)
        times.append(current[alive])
        current = current + (rng.exponential(mean_days, n) * DAY_US).astype(np.int64) + 1
    key = np.concatenate(keys)
    ts = np.concatenate(times)
    order = np.argsort(ts, kind="stable")
    return key[order], ts[order]


def nullable(values: np.ndarray, rng: np.random.Generator, share: float) -> pa.Array:
    return pa.array(values, mask=rng.random(values.size) < share)


def profile_tables(shape: Shape, rows_per_write: int) -> Any:
    """User profile snapshots (a refresh every ~30 days per user), in time order, in writes."""
    rng = np.random.default_rng([shape.seed, 3])
    n = shape.users
    country = rng.choice(COUNTRIES, size=n, p=COUNTRY_P / COUNTRY_P.sum())
    birth_age = rng.integers(16, 80, size=n)
    signup = YEAR_START_US - (rng.exponential(700, n) * DAY_US).astype(np.int64)
    read_rate = rng.lognormal(0.0, 1.0, n)
    premium = rng.random(n) < 0.08
    sessions = rng.lognormal(2.5, 0.8, n)
    key, ts = refresh_schedule(rng, n, 30.0)
    for start in range(0, key.size, rows_per_write):
        u, t = key[start : start + rows_per_write], ts[start : start + rows_per_write]
        r = np.random.default_rng([shape.seed, 4, start])
        m = u.size
        tenure = np.maximum(0, (t - signup[u]) // DAY_US)
        yield pa.table(
            {
                "user_id": u.astype(np.int64) + 1,
                "country": country[u],
                "age": nullable((birth_age[u] + (t - YEAR_START_US) // (365 * DAY_US)).astype(np.int64), r, 0.05),
                "tenure_days": tenure.astype(np.int64),
                "is_premium": premium[u] | (r.random(m) < 0.01),
                "notifications_on": r.random(m) < 0.6,
                "followed_topics": r.poisson(4, m).astype(np.int64),
                "followed_publishers": r.poisson(2, m).astype(np.int64),
                "articles_read_total": (read_rate[u] * tenure).astype(np.int64),
                "sessions_30d": r.poisson(sessions[u]).astype(np.int64),
                "avg_session_minutes": r.lognormal(1.8, 0.6, m).astype(np.float32),
                "mobile_share": r.beta(3, 2, m),
                "night_owl_score": r.random(m).astype(np.float32),
                "churn_risk": r.beta(1.5, 6, m),
                "ltv_estimate": nullable(r.lognormal(3, 1.2, m), r, 0.10),
                "ad_opt_out": r.random(m) < 0.15,
                "days_since_last_login": r.geometric(0.3, m).astype(np.int64) - 1,
                "event_timestamp": pa.array(t, TIMESTAMP),
            }
        )


def article_table(shape: Shape, people: Population) -> pa.Table:
    """Article metadata: a row when published, and a revision 1-48 h later for half of them."""
    rng = np.random.default_rng([shape.seed, 5])
    n = shape.articles
    revised = np.flatnonzero(rng.random(n) < 0.5)
    a = np.concatenate([np.arange(n), revised])
    ts = np.concatenate([people.published, people.published[revised] + rng.integers(HOUR_US, 48 * HOUR_US, size=revised.size)])
    order = np.argsort(ts, kind="stable")
    a, ts = a[order], ts[order]
    m = a.size
    category = rng.choice(CATEGORIES, size=n, p=CATEGORY_P / CATEGORY_P.sum())
    publisher = rng.integers(1, 400, size=n)
    words = rng.lognormal(6.5, 0.5, n).astype(np.int64)
    return pa.table(
        {
            "article_id": a.astype(np.int64) + 1,
            "category": category[a],
            "publisher_id": publisher[a].astype(np.int64),
            "author_id": (publisher[a] * 100 + rng.integers(0, 40, size=m)).astype(np.int64),
            "word_count": words[a],
            "image_count": rng.poisson(3, m).astype(np.int64),
            "has_video": rng.random(m) < 0.2,
            "is_breaking": rng.random(m) < 0.05,
            "is_paywalled": rng.random(m) < 0.25,
            "quality_score": rng.beta(5, 2, m).astype(np.float32),
            "headline_length": rng.integers(20, 120, size=m).astype(np.int64),
            "reading_minutes": (words[a] / 230.0).astype(np.float32),
            "sentiment": nullable(rng.normal(0, 0.4, m), rng, 0.03),
            "freshness_boost": rng.random(m),
            "editor_pick": rng.random(m) < 0.03,
            "event_timestamp": pa.array(ts, TIMESTAMP),
        }
    )


def vectors(values: np.ndarray) -> pa.Array:
    """Rows of a 2-D float32 array as list<float32> (how the offline store keeps embeddings)."""
    rows, dim = values.shape
    offsets = pa.array(np.arange(0, (rows + 1) * dim, dim, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))


def normalized(values: np.ndarray) -> np.ndarray:
    return (values / np.linalg.norm(values, axis=1, keepdims=True)).astype(np.float32)


def user_embedding_tables(shape: Shape, rows_per_write: int) -> Any:
    """64-dim user embeddings, recomputed every ~60 days per user."""
    rng = np.random.default_rng([shape.seed, 6])
    base = rng.standard_normal((shape.users, USER_EMBEDDING_DIM), dtype=np.float32)
    key, ts = refresh_schedule(rng, shape.users, 60.0)
    for start in range(0, key.size, rows_per_write):
        u, t = key[start : start + rows_per_write], ts[start : start + rows_per_write]
        r = np.random.default_rng([shape.seed, 7, start])
        drift = r.standard_normal((u.size, USER_EMBEDDING_DIM), dtype=np.float32) * 0.3
        yield pa.table(
            {
                "user_id": u.astype(np.int64) + 1,
                "user_embedding": vectors(normalized(base[u] + drift)),
                "event_timestamp": pa.array(t, TIMESTAMP),
            }
        )


def article_embedding_tables(shape: Shape, people: Population, rows_per_write: int) -> Any:
    """384-dim article embeddings, one per article when published."""
    for start in range(0, shape.articles, rows_per_write):
        stop = min(shape.articles, start + rows_per_write)
        r = np.random.default_rng([shape.seed, 8, start])
        values = normalized(r.standard_normal((stop - start, ARTICLE_EMBEDDING_DIM), dtype=np.float32))
        yield pa.table(
            {
                "article_id": np.arange(start, stop, dtype=np.int64) + 1,
                "article_embedding": vectors(values),
                "event_timestamp": pa.array(people.published[start:stop], TIMESTAMP),
            }
        )


def label_block(shape: Shape, people: Population, block: int) -> pa.Table:
    """Label rows ``block * LABEL_BLOCK ...``: impressions at random times in the last ten months."""
    rng = np.random.default_rng([shape.seed, 9, block])
    n = LABEL_BLOCK
    ts = draw_times(rng, LABELS_FROM_US, YEAR_END_US, n)
    users = people.users(rng, n)
    articles = people.articles(rng, ts)
    position = np.minimum(rng.geometric(0.08, n) - 1, 99)
    label = rng.random(n) < np.clip(0.08 * people.propensity[users] / (1.0 + position / 10.0), 0.0, 0.9)
    return pa.table(
        {
            "row_id": np.arange(block * n, (block + 1) * n, dtype=np.int64),
            "user_id": users.astype(np.int64) + 1,
            "article_id": articles.astype(np.int64) + 1,
            "event_timestamp": pa.array(ts, TIMESTAMP),
            "label": label.astype(np.int64),
        }
    )


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit in ("B", "KiB") else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def human_count(n: int) -> str:
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 100 == 0:
        return f"{n / 1_000:g}k"
    return str(n)


def rss_now() -> str:
    return human_bytes(status_kib().get("VmRSS", 0) * 1024)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Dataset:
    """The generated feature repo of one shape, under ``root`` (cached with ``--keep``)."""

    def __init__(self, root: Path, shape: Shape) -> None:
        self.root = root
        self.shape = shape
        self.repo = root / "repo"
        self.labels_path = root / "labels.parquet"
        self.manifest_path = root / "manifest.json"
        self.feast_dir = root / "feast"

    def manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.exists():
            return None
        manifest = json.loads(self.manifest_path.read_text())
        return manifest if manifest.get("shape") == self.shape.describe() | {"chunk_events": self.shape.chunk_events} else None

    def build(self) -> dict[str, Any]:
        from skewless import FeatureStore

        if self.root.exists():
            shutil.rmtree(self.root)
        self.repo.mkdir(parents=True)
        (self.repo / "skewless.yaml").write_text("project: offline_bench\n")
        shape = self.shape
        started = time.perf_counter()
        store = FeatureStore(self.repo)
        store.apply(definitions())
        people = Population(shape)
        counts: dict[str, int] = {}
        seconds: dict[str, float] = {}

        chunks = max(1, math.ceil(shape.events / shape.chunk_events))
        log(f"generating {shape.events:,} engagement events for {shape.users:,} users and {shape.articles:,} articles in {chunks} writes")
        t0, first_id, rows = time.perf_counter(), 1, 0
        for chunk in range(chunks):
            t = time.perf_counter()
            table, n = event_chunk(shape, people, chunk, chunks, first_id)
            made = time.perf_counter() - t
            first_id += n
            store.write_to_offline_store("engagement", table)
            rows += table.num_rows
            done = time.perf_counter() - t0
            log(
                f"  engagement {chunk + 1}/{chunks}: {table.num_rows:,} rows (generated in {made:.1f} s, written in "
                f"{time.perf_counter() - t - made:.1f} s); {rows:,} rows, {done:.0f} s so far, RSS {rss_now()}"
            )
            del table
        counts["engagement"], seconds["engagement"] = rows, time.perf_counter() - t0

        for name, tables in (
            ("user_profiles", profile_tables(shape, max(100_000, shape.chunk_events // 4))),
            ("article_content", iter([article_table(shape, people)])),
            ("user_embeddings", user_embedding_tables(shape, max(100_000, shape.chunk_events // 8))),
            ("article_embeddings", article_embedding_tables(shape, people, 25_000)),
        ):
            t0, rows = time.perf_counter(), 0
            for table in tables:
                store.write_to_offline_store(name, table)
                rows += table.num_rows
                log(f"  {name}: {rows:,} rows, {time.perf_counter() - t0:.0f} s")
            counts[name], seconds[name] = rows, time.perf_counter() - t0
        store.close()
        manifest = {
            "shape": shape.describe() | {"chunk_events": shape.chunk_events},
            "rows": counts,
            "write_seconds": seconds,
            "offline_bytes": dir_size(self.repo / "data" / "offline"),
            "generate_seconds": time.perf_counter() - started,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.manifest_path.write_text(json.dumps(manifest, indent=2))
        log(f"data set ready in {manifest['generate_seconds']:.0f} s, {human_bytes(manifest['offline_bytes'])} of Delta tables")
        return manifest

    def ensure_labels(self, n: int) -> None:
        """``labels.parquet`` with at least ``n`` rows (whole blocks, so prefixes are stable)."""
        blocks = math.ceil(n / LABEL_BLOCK)
        if self.labels_path.exists() and pq.ParquetFile(self.labels_path).metadata.num_rows >= blocks * LABEL_BLOCK:
            return
        log(f"drawing {blocks * LABEL_BLOCK:,} label rows")
        people = Population(self.shape)
        with pq.ParquetWriter(self.labels_path, label_block(self.shape, people, 0).schema) as writer:
            for block in range(blocks):
                writer.write_table(label_block(self.shape, people, block), row_group_size=LABEL_BLOCK)

    def export_for_feast(self) -> dict[str, Any]:
        """One Parquet file per snapshot source, read from the same Delta tables skewless reads."""
        import duckdb

        from skewless import FeatureStore

        marker = self.feast_dir / "export.json"
        if marker.exists():
            return dict(json.loads(marker.read_text()))
        self.feast_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        store = FeatureStore(self.repo)
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        paths = {}
        for source, key, fields in (("user_profiles", "user_id", PROFILE_FIELDS), ("article_content", "article_id", ARTICLE_FIELDS)):
            files = ", ".join(f"'{f}'" for f in store.offline_tables.files(source))
            columns = ", ".join([key, *[f for f, _ in fields], "event_timestamp"])
            path = self.feast_dir / f"{source}.parquet"
            con.execute(f"COPY (SELECT {columns} FROM read_parquet([{files}], union_by_name = true)) TO '{path}' (FORMAT parquet)")
            paths[source] = str(path)
        con.close()
        store.close()
        result = {"paths": paths, "export_seconds": time.perf_counter() - started}
        marker.write_text(json.dumps(result))
        log(f"exported the snapshot sources to Parquet for Feast in {result['export_seconds']:.1f} s")
        return result

    def feast_spec(self, paths: dict[str, str]) -> Path:
        spec = {
            "entities": {"user": "user_id", "article": "article_id"},
            "views": [
                {
                    "name": "user_profile",
                    "source": "user_profiles",
                    "path": paths["user_profiles"],
                    "entity": "user",
                    "ttl_seconds": PROFILE_TTL_DAYS * 86_400,
                    "features": PROFILE_FIELDS,
                },
                {
                    "name": "article_metadata",
                    "source": "article_content",
                    "path": paths["article_content"],
                    "entity": "article",
                    "ttl_seconds": None,
                    "features": ARTICLE_FIELDS,
                },
            ],
        }
        path = self.feast_dir / "spec.json"
        path.write_text(json.dumps(spec, indent=2))
        return path


# -- child processes --------------------------------------------------------------------------------


@dataclass
class ChildResult:
    status: str  # ok | timeout | memory-guard | killed | error
    wall_seconds: float  # of the whole child process
    tree_peak_rss_bytes: int  # sampled by the parent over the child's process tree
    result: dict[str, Any]
    detail: str = ""


def run_child(cmd: list[str], *, result_path: Path, timeout: float | None, memory_guard: int, cwd: Path, label: str) -> ChildResult:
    """Run ``cmd`` in its own session; kill it past ``timeout`` or ``memory_guard`` bytes of RSS."""
    if result_path.exists():
        result_path.unlink()
    started = time.perf_counter()
    load_before = os.getloadavg()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    log(f"{label}: starting")
    process = subprocess.Popen(cmd, cwd=cwd, start_new_session=True, stderr=subprocess.PIPE, text=True)
    stderr_lines: list[str] = []

    import threading

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr_lines.append(line)
            del stderr_lines[:-40]

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    peak, status, last_note = 0, "ok", started
    while process.poll() is None:
        rss = tree_rss(process.pid)
        peak = max(peak, rss)
        elapsed = time.perf_counter() - started
        if rss > memory_guard:
            status = "memory-guard"
        elif timeout is not None and elapsed > timeout:
            status = "timeout"
        if status != "ok":
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            break
        if time.perf_counter() - last_note > 30:
            log(f"{label}: {elapsed:.0f} s, RSS {human_bytes(rss)} (peak {human_bytes(peak)})")
            last_note = time.perf_counter()
        time.sleep(0.05)
    reader.join(timeout=5)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    detail = ""
    if status == "ok" and process.returncode != 0:
        status = "killed" if process.returncode < 0 else "error"
        detail = f"exit code {process.returncode}: " + "".join(stderr_lines[-12:]).strip()
    elif status == "timeout":
        detail = f"killed after {timeout:.0f} s"
    elif status == "memory-guard":
        detail = f"killed at {human_bytes(peak)} RSS (guard {human_bytes(memory_guard)})"
    result = json.loads(result_path.read_text()) if status == "ok" and result_path.exists() else {}
    outcome = f"{result.get('wall_seconds', 0):.2f} s timed, peak {human_bytes(result.get('peak_rss_bytes'))}" if result else detail
    log(f"{label}: {status} ({outcome})")
    # Shared machine: the load around the run and the child's CPU time show whether it had the cores to itself.
    result["process_cpu_seconds"] = cpu
    result["loadavg_before"], result["loadavg_after"] = load_before[0], os.getloadavg()[0]
    return ChildResult(status, wall, peak, result, detail)


def worker(spec_path: str) -> int:
    """Child process: time one ``get_historical_features`` call (or profile its SQL)."""
    spec = json.loads(Path(spec_path).read_text())
    import duckdb

    from skewless import FeatureStore

    store = FeatureStore(spec["repo"])
    entity = read_labels(spec["labels"], spec["n"])
    features = spec["features"]
    if spec.get("profile"):
        return profile_worker(store, entity, features, spec)
    engine = duckdb_engine(spec)
    if engine is not None:  # --duckdb-memory-limit / --duckdb-threads: a non-default engine for this store
        store._offline_engine = lambda: engine  # type: ignore[method-assign]
    store.registry.snapshot()  # load the registry before timing (a long-lived process has it)
    with PeakMemory() as memory:
        started = time.perf_counter()
        table = store.get_historical_features(entity, features, output="arrow")
        wall = time.perf_counter() - started
    result = {
        "engine": "skewless (DuckDB " + duckdb.__version__ + ")",
        "labels": spec["n"],
        "features": len(features),
        "wall_seconds": wall,
        "rows_out": table.num_rows,
        "columns_out": table.num_columns,
        "output_bytes": table.nbytes,
        **memory.result(),
    }
    if spec.get("sample_ids"):
        ids = pq.read_table(spec["sample_ids"]).column("row_id").combine_chunks()
        sample = table.filter(pc.is_in(table.column("row_id"), value_set=ids))
        keep = ["row_id", *[f.split(":")[1] for f in features]]
        pq.write_table(sample.select(keep), spec["sample_out"])
    Path(spec["result"]).write_text(json.dumps(result, indent=2))
    return 0


def read_labels(path: str | Path, n: int) -> pa.Table:
    """The first ``n`` label rows, reading no more row groups than needed."""
    batches, have = [], 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=min(n, 1 << 20)):
        batches.append(batch.slice(0, n - have))
        have += batches[-1].num_rows
        if have >= n:
            break
    return pa.Table.from_batches(batches).combine_chunks()


def duckdb_engine(spec: dict[str, Any]) -> Any:
    """skewless' DuckDB engine with the bench's settings, or None for the store's default."""
    if not spec.get("duckdb_memory_limit") and not spec.get("duckdb_threads"):
        return None
    from skewless.offline.duckdb_engine import DuckDBEngine

    return DuckDBEngine(threads=spec.get("duckdb_threads"), memory_limit=spec.get("duckdb_memory_limit"))


def profile_worker(store: Any, entity: pa.Table, features: list[str], spec: dict[str, Any]) -> int:
    """``get_historical_features`` once under cProfile (the main thread: DuckDB's reads and the
    sweep's folds in worker threads show as waits). Saves pstats' text, sorted by cumulative time."""
    import cProfile
    import io
    import pstats

    store.registry.snapshot()
    profiler = cProfile.Profile()
    with PeakMemory() as memory:
        started = time.perf_counter()
        profiler.enable()
        table = store.get_historical_features(entity, features, output="arrow")
        profiler.disable()
        wall = time.perf_counter() - started
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).sort_stats("cumulative")
    stats.print_stats(60)
    Path(spec["profile_out"]).write_text(text.getvalue())
    top = sorted(
        ((f"{Path(file).name}:{line}({name})", calls[3], calls[2]) for (file, line, name), calls in stats.stats.items()),  # type: ignore[attr-defined]
        key=lambda row: -row[1],
    )[:20]
    summary = {
        "wall_seconds": wall,
        "rows_out": table.num_rows,
        "top_functions": [{"function": f, "cumulative_seconds": c, "own_seconds": o} for f, c, o in top],
        **memory.result(),
    }
    Path(spec["result"]).write_text(json.dumps(summary, indent=2))
    return 0


# -- verification ---------------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, float) and math.isnan(a):
            return isinstance(b, float) and math.isnan(b)
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return bool(a == b)


def compare(left: pa.Table, right: pa.Table, columns: list[str]) -> dict[str, Any]:
    """Rows matched by row_id; every value of ``columns`` compared (nulls equal nulls)."""
    a = {r["row_id"]: r for r in left.to_pylist()}
    b = {r["row_id"]: r for r in right.to_pylist()}
    mismatches: list[dict[str, Any]] = []
    missing = sorted(set(a) ^ set(b))
    for row_id in sorted(set(a) & set(b)):
        for column in columns:
            if not same(a[row_id][column], b[row_id][column]):
                mismatches.append({"row_id": row_id, "feature": column, "skewless": a[row_id][column], "other": b[row_id][column]})
    return {
        "rows": len(set(a) & set(b)),
        "values": len(set(a) & set(b)) * len(columns),
        "mismatches": len(mismatches),
        "rows_missing": len(missing),
        "first_mismatches": mismatches[:10],
        "non_null_values": sum(1 for r in a.values() for c in columns if r[c] is not None),
    }


def windowed_oracle(dataset: Dataset, sample: pa.Table) -> pa.Table:
    """Windowed features of sampled label rows by brute force: a join with every event in range.

    Independent of skewless' SQL (no window frames): events of the sampled users/articles,
    de-duplicated by event id (first write), joined to each label with ``start <= ts < t`` where
    ``start = floor_hop(t - window)``, aggregated with FILTERs per window.
    """
    import duckdb

    from skewless import FeatureStore

    views = {d.name: d for d in definitions() if type(d).__name__ == "FeatureView"}
    store = FeatureStore(dataset.repo)
    files = ", ".join(f"'{f}'" for f in store.offline_tables.files("engagement"))
    store.close()
    labels = sample.select(["row_id", "user_id", "article_id", "event_timestamp"])
    t = pc.cast(labels.column("event_timestamp"), pa.int64()).to_numpy()
    starts: dict[tuple[int, int], np.ndarray] = {}
    for view in ("user_engagement", "article_popularity"):
        for out in views[view].aggregation_outputs():
            w, h = out.window_seconds * 1_000_000, out.hop_seconds * 1_000_000
            starts[(out.window_seconds, out.hop_seconds)] = ((t - w) // h) * h  # numpy // floors
    for (w, h), values in starts.items():
        labels = labels.append_column(f"s_{w}_{h}", pa.array(values))
    labels = labels.append_column("t", pa.array(t))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("lab", labels)
    con.execute(
        f"""CREATE TEMP TABLE ev AS
        SELECT * FROM (
          SELECT user_id, article_id, clicked, liked, shared, dwell_seconds, position, scroll_depth,
                 epoch_us(event_timestamp) AS ts, event_id, _write_seq
          FROM read_parquet([{files}], union_by_name = true)
          WHERE user_id IN (SELECT user_id FROM lab) OR article_id IN (SELECT article_id FROM lab)
        ) QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _write_seq) = 1"""
    )
    result = labels.select(["row_id"])
    for view, key in (("user_engagement", "user_id"), ("article_popularity", "article_id")):
        definition = views[view]
        outputs = {o.name: o for o in definition.aggregation_outputs()}
        lowest = "least(" + ", ".join(sorted({f"l.s_{o.window_seconds}_{o.hop_seconds}" for o in outputs.values()})) + ")"
        expressions = []
        for name, o in outputs.items():
            inside = f"e.ts >= l.s_{o.window_seconds}_{o.hop_seconds}"
            fn = {"count": "count", "sum": "sum", "mean": "avg", "max": "max"}[o.function]
            expression = f"{fn}(e.{o.column}) FILTER (WHERE {inside})"
            if o.function in ("count", "sum"):
                expression = f"coalesce({expression}, 0)"
            expressions.append(f"{expression} AS {name}")
        table = con.sql(
            f"SELECT l.row_id, {', '.join(expressions)} FROM lab l LEFT JOIN ev e "
            f"ON e.{key} = l.{key} AND e.ts < l.t AND e.ts >= {lowest} GROUP BY l.row_id ORDER BY l.row_id"
        ).to_arrow_table()
        for ratio in definition.ratios:
            num = pc.cast(table.column(ratio.numerator), pa.float64())
            den = pc.cast(table.column(ratio.denominator), pa.float64())
            table = table.append_column(ratio.name, pc.if_else(pc.equal(den, 0), pa.scalar(None, pa.float64()), pc.divide(num, den)))
        result = result.join(table, "row_id")
    con.close()
    return result


# -- orchestration ----------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    import deltalake
    import duckdb

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    meminfo = {k: int(v) * 1024 for k, v in (line.split()[:2] for line in Path("/proc/meminfo").read_text().splitlines()[:3])}
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_bytes": meminfo.get("MemTotal:"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "deltalake": deltalake.__version__,
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "skewless_git": git_state(),
    }


def git_state() -> str:
    """The commit the benchmark ran on, and whether skewless/ had uncommitted changes."""
    repo = BENCH.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "skewless"], cwd=repo, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"
    return commit + (" (skewless/ has uncommitted changes)" if dirty else "")


def ensure_feast_venv() -> Path:
    """``bench/.venv-feast`` with the pinned Feast (created on first use; never the project's venv)."""
    python = FEAST_VENV / "bin" / "python"
    check = [str(python), "-c", "import feast, duckdb, ibis"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    log(f"creating {FEAST_VENV} and installing {FEAST_REQUIREMENTS.name} (once)")
    subprocess.run([sys.executable, "-m", "venv", str(FEAST_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(FEAST_REQUIREMENTS)], check=True)
    return python


def feast_version(python: Path) -> str:
    out = subprocess.run([str(python), "-c", "import feast; print(feast.__version__)"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def scaled(n: int, scale: float) -> int:
    return max(1_000, round(n * scale))


def default_ladder(labels: list[int]) -> list[int]:
    top = max(labels)
    ladder, n = [], max(1_000, top // 1_000)
    while n <= top:
        ladder.append(n)
        n *= 10
    if ladder[-1] != top:
        ladder.append(top)
    return ladder


class Bench:
    def __init__(self, args: argparse.Namespace, dataset: Dataset, scratch: Path) -> None:
        self.args = args
        self.dataset = dataset
        self.scratch = scratch
        self.memory_guard = int(args.memory_guard_gib * (1 << 30))
        self.sets = feature_sets()
        self.runs: list[dict[str, Any]] = []

    def sample_file(self, name: str, n: int, size: int, seed: int) -> Path:
        rng = np.random.default_rng([self.args.seed, seed, n])
        ids = np.sort(rng.choice(n, size=min(n, size), replace=False)).astype(np.int64)
        path = self.scratch / f"sample-{name}-{n}.parquet"
        pq.write_table(pa.table({"row_id": ids}), path)
        return path

    def skewless(self, feature_set: str, n: int, *, sample: Path | None = None, tag: str = "") -> dict[str, Any]:
        name = f"skewless-{feature_set.replace(':', '-')}-{n}{tag}"
        spec = {
            "repo": str(self.dataset.repo),
            "labels": str(self.dataset.labels_path),
            "n": n,
            "features": self.sets[feature_set],
            "result": str(self.scratch / f"{name}.json"),
            "sample_ids": str(sample) if sample else None,
            "sample_out": str(self.scratch / f"{name}-sample.parquet"),
            "duckdb_memory_limit": self.args.duckdb_memory_limit,
            "duckdb_threads": self.args.duckdb_threads,
        }
        spec_path = self.scratch / f"{name}-spec.json"
        spec_path.write_text(json.dumps(spec))
        child = run_child(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_path)],
            result_path=Path(spec["result"]),
            timeout=self.args.skewless_timeout,
            memory_guard=self.memory_guard,
            cwd=self.scratch,
            label=f"skewless {feature_set} ({len(spec['features'])} features) x {n:,} labels",
        )
        run = self.record("skewless", feature_set, n, len(spec["features"]), child)
        run["sample_out"] = spec["sample_out"] if sample and child.status == "ok" else None
        return run

    def feast(self, python: Path, spec: Path, store: str, n: int, sample: Path) -> dict[str, Any]:
        name = f"feast-{store}-{n}"
        result = self.scratch / f"{name}.json"
        sample_out = self.scratch / f"{name}-sample.parquet"
        cmd = [
            str(python),
            str(BENCH / "feast_offline.py"),
            "--spec",
            str(spec),
            "--repo",
            str(self.dataset.feast_dir / f"repo-{store}"),
            "--labels",
            str(self.dataset.labels_path),
            "--n",
            str(n),
            "--store",
            store,
            "--sample-ids",
            str(sample),
            "--sample-out",
            str(sample_out),
            "--result",
            str(result),
        ]
        child = run_child(
            cmd,
            result_path=result,
            timeout=self.args.feast_timeout,
            memory_guard=self.memory_guard,
            cwd=self.scratch,
            label=f"feast ({store}) snapshot x {n:,} labels",
        )
        run = self.record(f"feast-{store}", "snapshot", n, len(self.sets["snapshot"]), child)
        run["sample_out"] = str(sample_out) if child.status == "ok" else None
        return run

    def record(self, engine: str, feature_set: str, n: int, features: int, child: ChildResult) -> dict[str, Any]:
        r = child.result
        run = {
            "engine": engine,
            "engine_detail": r.get("engine"),
            "feature_set": feature_set,
            "features": features,
            "labels": n,
            "status": child.status,
            "detail": child.detail,
            "wall_seconds": r.get("wall_seconds"),
            "rows_per_second": n / r["wall_seconds"] if r.get("wall_seconds") else None,
            "peak_rss_bytes": r.get("peak_rss_bytes"),
            "baseline_rss_bytes": r.get("baseline_rss_bytes"),
            "process_tree_peak_rss_bytes": child.tree_peak_rss_bytes,
            "process_seconds": child.wall_seconds,
            "process_cpu_seconds": r.get("process_cpu_seconds"),
            "loadavg_before": r.get("loadavg_before"),
            "loadavg_after": r.get("loadavg_after"),
            "output_bytes": r.get("output_bytes"),
            "rows_out": r.get("rows_out"),
            "child": r,
        }
        self.runs.append(run)
        return run

    def profile(self, n: int, mode: str) -> dict[str, Any]:
        """Where the time goes: each view alone, then a Python profile of the whole call."""
        views = {}
        for name in ("user_engagement", "article_popularity", "user_profile", "article_metadata") if mode != "query" else ():
            run = self.skewless(f"view:{name}", n)
            views[name] = {k: run[k] for k in ("status", "wall_seconds", "peak_rss_bytes", "features")}
        result: dict[str, Any] = {"labels": n, "views": views}
        if mode == "views":
            return result
        spec = {
            "repo": str(self.dataset.repo),
            "labels": str(self.dataset.labels_path),
            "n": n,
            "features": self.sets[self.args.profile_features],
            "profile": True,
            "duckdb_memory_limit": self.args.duckdb_memory_limit,
            "duckdb_threads": self.args.duckdb_threads,
            "result": str(self.scratch / "profile.json"),
            "profile_out": str(self.args.profile_dir / f"profile-{self.args.profile_features}-{n}.txt"),
        }
        self.args.profile_dir.mkdir(parents=True, exist_ok=True)
        spec_path = self.scratch / "profile-spec.json"
        spec_path.write_text(json.dumps(spec))
        child = run_child(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_path)],
            result_path=Path(spec["result"]),
            timeout=self.args.skewless_timeout,
            memory_guard=self.memory_guard,
            cwd=self.scratch,
            label=f"profiling the {self.args.profile_features} call x {n:,} labels",
        )
        return {**result, "call": child.result, "files": [spec["profile_out"]]}


def fmt_seconds(s: float | None) -> str:
    return "-" if s is None else f"{s:.2f}"


def fmt_rate(r: float | None) -> str:
    return "-" if r is None else f"{r:,.0f}"


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        return worker(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies users, articles, events and label counts (default 1)")
    parser.add_argument("--labels", type=int, nargs="+", default=[1_000_000, 10_000_000], help="label counts at scale 1")
    parser.add_argument(
        "--feature-sets",
        nargs="*",
        default=["scalar"],
        choices=[
            "scalar",
            "snapshot",
            "windowed",
            "view:user_engagement",
            "view:article_popularity",
            "view:user_profile",
            "view:article_metadata",
        ],
        help="feature sets timed at each --labels count (default: scalar, all 96; none: only --profile / Feast runs)",
    )
    parser.add_argument(
        "--embedding-labels",
        type=int,
        nargs="*",
        default=None,
        help="label counts (scaled) for the embeddings (default: the smallest of --labels)",
    )
    parser.add_argument(
        "--feast-labels",
        type=int,
        nargs="*",
        default=None,
        help="label counts for the Feast ladder, not scaled (default: decades up to the largest label count)",
    )
    parser.add_argument("--feast-store", nargs="+", choices=["duckdb", "dask"], default=["duckdb"], help="Feast offline store(s) to run")
    parser.add_argument("--feast-timeout", type=float, default=600, help="seconds per Feast run before it counts as not finishing")
    parser.add_argument("--skewless-timeout", type=float, default=3600, help="seconds per skewless run")
    parser.add_argument("--memory-guard-gib", type=float, default=None, help="kill a run whose RSS passes this (default 85%% of RAM)")
    parser.add_argument("--skip-feast", action="store_true", help="time skewless only")
    parser.add_argument(
        "--duckdb-memory-limit",
        default=None,
        help="run skewless' DuckDB engine with this memory_limit, e.g. 12GB (default: DuckDB's, 80%% of RAM)",
    )
    parser.add_argument("--duckdb-threads", type=int, default=None, help="run skewless' DuckDB engine with this many threads")
    parser.add_argument("--verify-rows", type=int, default=20_000, help="rows compared between skewless and Feast per label count")
    parser.add_argument("--oracle-rows", type=int, default=300, help="rows whose windowed features are recomputed by brute force")
    parser.add_argument(
        "--profile",
        nargs="?",
        const="both",
        choices=["views", "query", "both"],
        help="also time each view alone (views), profile the whole call with cProfile (query), or both",
    )
    parser.add_argument(
        "--profile-features",
        default="scalar",
        choices=["scalar", "snapshot", "windowed", "embeddings"],
        help="feature set --profile query profiles",
    )
    parser.add_argument("--profile-labels", type=int, default=None, help="label count (scaled) for --profile (default: the smallest)")
    parser.add_argument("--chunk-events", type=int, default=5_000_000, help="events per write while generating")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--workdir", type=Path, default=None, help="where data and scratch files go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and reuse it on the next run with the same scale")
    parser.add_argument("--json", type=Path, default=None, help="write machine-readable results here")
    args = parser.parse_args()

    memory_total = status_total_memory()
    if args.memory_guard_gib is None:
        args.memory_guard_gib = round(0.85 * memory_total / (1 << 30), 1)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="skewless-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    shape = Shape.of(args.scale, args.chunk_events, args.seed)
    dataset = Dataset(workdir / shape.key, shape)
    scratch = workdir / "scratch"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    args.profile_dir = workdir / "profile"
    started = time.perf_counter()
    labels = sorted({scaled(n, args.scale) for n in args.labels})
    embedding_labels = sorted({scaled(n, args.scale) for n in args.embedding_labels}) if args.embedding_labels is not None else labels[:1]
    ladder = sorted(set(args.feast_labels)) if args.feast_labels else default_ladder(labels)
    log(f"machine: {machine_info()['cpu_model']}, {os.cpu_count()} cores, {human_bytes(memory_total)}; workdir {workdir}")

    manifest = dataset.manifest() if args.keep else None
    if manifest is not None:
        log(f"reusing the data set in {dataset.root} (generated {manifest['generated_at']})")
    else:
        manifest = dataset.build()
    dataset.ensure_labels(max([*labels, *embedding_labels, *([] if args.skip_feast else ladder)]))

    bench = Bench(args, dataset, scratch)
    results: dict[str, Any] = {
        "benchmark": "offline point-in-time retrieval",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info(),
        "data": {
            **shape.describe(),
            "rows": manifest["rows"],
            "offline_bytes": manifest["offline_bytes"],
            "generate_seconds": manifest["generate_seconds"],
        },
        "feature_sets": {k: len(v) for k, v in bench.sets.items() if not k.startswith("view:")},
    }

    # 1. skewless at each label count (every scalar feature by default); the first run with windowed
    #    features has a sample of rows checked against a brute-force query.
    oracle_sample = bench.sample_file("oracle", labels[0], args.oracle_rows, 11)
    checked = None
    for feature_set in args.feature_sets:
        for n in labels:
            wants_check = checked is None and feature_set in ("scalar", "windowed") and n == labels[0]
            run = bench.skewless(feature_set, n, sample=oracle_sample if wants_check else None)
            if wants_check:
                checked = run
    for n in embedding_labels:
        bench.skewless("embeddings", n)
    if checked is not None and checked["status"] == "ok":
        log(f"checking {args.oracle_rows} rows of windowed features against a brute-force query")
        t0 = time.perf_counter()
        got = pq.read_table(checked["sample_out"])
        expected = windowed_oracle(dataset, label_rows(dataset, oracle_sample))
        windowed = [f.split(":")[1] for f in bench.sets["windowed"]]
        results["windowed_check"] = {**compare(got, expected, windowed), "features": len(windowed), "seconds": time.perf_counter() - t0}
        log(f"windowed check: {results['windowed_check']['mismatches']} mismatches in {results['windowed_check']['values']:,} values")

    # 2. Feast on the snapshot features, with skewless on the same features and labels.
    comparisons = []
    if not args.skip_feast:
        python = ensure_feast_venv()
        results["machine"]["feast"] = feast_version(python)
        export = dataset.export_for_feast()
        spec = dataset.feast_spec(export["paths"])
        results["feast_export_seconds"] = export["export_seconds"]
        snapshot = [f.split(":")[1] for f in bench.sets["snapshot"]]
        for store in args.feast_store:
            stopped = None
            for n in ladder:
                if stopped is not None:
                    break
                sample = bench.sample_file("verify", n, args.verify_rows, 12)
                ours = bench.skewless("snapshot", n, sample=sample)
                theirs = bench.feast(python, spec, store, n, sample)
                entry: dict[str, Any] = {"store": store, "labels": n, "skewless": strip(ours), "feast": strip(theirs)}
                if ours["status"] == "ok" and theirs["status"] == "ok":
                    entry["speedup"] = theirs["wall_seconds"] / ours["wall_seconds"]
                    entry["check"] = compare(pq.read_table(ours["sample_out"]), pq.read_table(theirs["sample_out"]), snapshot)
                    log(
                        f"labels {n:,}: skewless {ours['wall_seconds']:.2f} s, Feast {theirs['wall_seconds']:.2f} s "
                        f"-> {entry['speedup']:.1f}x; {entry['check']['mismatches']} mismatches in {entry['check']['values']:,} values"
                    )
                if theirs["status"] != "ok":
                    stopped = {"labels": n, "status": theirs["status"], "detail": theirs["detail"]}
                comparisons.append(entry)
            results.setdefault("feast_stopped", {})[store] = stopped
    results["comparisons"] = comparisons

    if args.profile:
        n = scaled(args.profile_labels, args.scale) if args.profile_labels else labels[0]
        results["profile"] = bench.profile(n, args.profile)

    results["runs"] = [strip(r) for r in bench.runs]
    results["total_seconds"] = time.perf_counter() - started
    report(results, labels, args.scale)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        log(f"wrote {args.json}")
    if not args.keep:
        shutil.rmtree(dataset.root, ignore_errors=True)
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def label_rows(dataset: Dataset, sample: Path) -> pa.Table:
    ids = pq.read_table(sample).column("row_id").combine_chunks()
    table = pq.read_table(dataset.labels_path)
    return table.filter(pc.is_in(table.column("row_id"), value_set=ids))


def strip(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k not in ("child", "sample_out")}


def status_total_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def report(results: dict[str, Any], labels: list[int], scale: float) -> None:
    data = results["data"]
    print(
        f"\nData: {data['users']:,} users, {data['articles']:,} articles, {data['rows']['engagement']:,} engagement rows "
        f"({data['events']:,} events + re-deliveries), {data['rows']['user_profiles']:,} profile rows, "
        f"{data['rows']['article_content']:,} article rows, {data['rows']['user_embeddings']:,} user embeddings; "
        f"{human_bytes(data['offline_bytes'])} on disk, generated in {data['generate_seconds']:.0f} s"
    )
    rows = []
    for r in results["runs"]:
        if r["engine"] != "skewless":
            continue
        rows.append(
            [
                r["feature_set"],
                f"{r['labels']:,}",
                str(r["features"]),
                r["status"],
                fmt_seconds(r["wall_seconds"]) if r["status"] == "ok" else f"({r['process_seconds']:.0f} s)",
                fmt_rate(r["rows_per_second"]),
                human_bytes(r["peak_rss_bytes"] if r["status"] == "ok" else r["process_tree_peak_rss_bytes"]),
                human_bytes(r["baseline_rss_bytes"]),
                human_bytes(r["output_bytes"]),
                fmt_seconds(r["process_cpu_seconds"]),
                f"{r['loadavg_before']:.1f}/{r['loadavg_after']:.1f}" if r.get("loadavg_before") is not None else "-",
            ]
        )
    print_table(
        "skewless get_historical_features(output='arrow'), one fresh process per run "
        "(a failed run shows its process time in parentheses and the peak when killed; load = 1-min loadavg before/after)",
        ["features", "labels", "n", "status", "wall s", "rows/s", "peak RSS", "baseline", "output", "CPU s", "load"],
        rows,
    )
    if "windowed_check" in results:
        c = results["windowed_check"]
        print(
            f"\nWindowed features vs brute force: {c['rows']} rows x {c['features']} features = {c['values']:,} values, "
            f"{c['mismatches']} mismatches ({c['non_null_values']:,} non-null)"
        )
    if results["comparisons"]:
        rows = []
        for c in results["comparisons"]:
            s, f = c["skewless"], c["feast"]
            check = c.get("check")
            rows.append(
                [
                    c["store"],
                    f"{c['labels']:,}",
                    fmt_seconds(s["wall_seconds"]),
                    human_bytes(s["peak_rss_bytes"]),
                    fmt_seconds(f["wall_seconds"]) if f["status"] == "ok" else f["status"],
                    human_bytes(f["peak_rss_bytes"] if f["status"] == "ok" else f["process_tree_peak_rss_bytes"]),
                    f"{c['speedup']:.1f}x" if "speedup" in c else "-",
                    f"{check['mismatches']}/{check['values']:,}" if check else "-",
                ]
            )
        print_table(
            f"Snapshot features ({results['feature_sets']['snapshot']}: profile with ttl + article metadata), skewless vs Feast",
            ["feast store", "labels", "skewless s", "skewless peak", "Feast s", "Feast peak", "speed-up", "mismatches"],
            rows,
        )
        for store, stopped in results.get("feast_stopped", {}).items():
            where = (
                "finished every label count"
                if stopped is None
                else f"stopped at {stopped['labels']:,} labels: {stopped['status']} ({stopped['detail'][:200]})"
            )
            print(f"Feast ({store}): {where}")
    if "profile" in results:
        p = results["profile"]
        print(f"\nProfile at {p['labels']:,} labels, each view alone:")
        for name, v in p["views"].items():
            print(f"  {name:20s} {v['features']:3d} features  {fmt_seconds(v['wall_seconds'])} s  peak {human_bytes(v['peak_rss_bytes'])}")
        call = p.get("call") or {}
        if call.get("top_functions"):
            print(f"  whole call under cProfile: {fmt_seconds(call.get('wall_seconds'))} s; cumulative time (main thread):")
            for row in call["top_functions"][:12]:
                print(f"    {row['cumulative_seconds']:8.2f} s  {row['function']}")
    if scale == 1.0:
        by = {(r["feature_set"], r["labels"]): r for r in results["runs"] if r["engine"] == "skewless"}
        print("\nTargets (2 cores, 24 GiB):")
        for n, limit in ((1_000_000, 60), (10_000_000, 300)):
            r = by.get(("scalar", n))
            if r:
                ok = r["status"] == "ok" and r["wall_seconds"] < limit
                print(f"  {n:,} labels under {limit} s: {'met' if ok else 'MISSED'} ({fmt_seconds(r['wall_seconds'])} s, {r['status']})")
        speedups = [c["speedup"] for c in results["comparisons"] if "speedup" in c]
        if speedups:
            verdict = "met" if min(speedups) >= 10 else "MISSED"
            print(f"  >= 10x Feast where both finish: {verdict} (min {min(speedups):.1f}x, max {max(speedups):.1f}x)")
    print(f"\nTotal {results['total_seconds']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
