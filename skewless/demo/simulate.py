"""A synthetic news platform, deterministic by seed: users, articles and a log of feed impressions.

What it models (constants below; :class:`SimConfig` for sizes):

- **Users** with a country, a UTC offset drawn from the country's time zones (no DST), a usual
  device (a session uses another one 15% of the time), an activity rate (sessions a day, log-normal:
  a few heavy readers, many light ones), a click propensity, and hidden topic preferences
  ``theta`` ~ Dirichlet(TOPIC_CONCENTRATION * TOPIC_SHARE) over the 12 categories (most readers
  favour two or three).
- **Articles** published around the clock with an editorial (UTC) rhythm, a category, text from
  :mod:`skewless.demo.text` with the named entities it really mentions, and a hidden Zipf appeal
  ``z = rank^-ZIPF_S`` (rank uniform in 1..3 days of articles: what makes a story popular).
- **Sessions, slates, breaking news and clicks**: :mod:`skewless.demo.feed`, which documents the
  click model.

``generate(SimConfig(scale=...))`` returns a :class:`Platform` of Arrow tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import numpy as np
import pyarrow as pa

from skewless.demo.feed import (
    BREAKING_DAY_FRACTION,
    BREAKING_HOUR_UTC,
    DAY_US,
    DEVICE_SHARE,
    DEVICES,
    HOUR_US,
    TIMESTAMP,
    USER_PROPENSITY_SD,
    from_profile,
    impressions,
)
from skewless.demo.text import write_articles
from skewless.demo.vocab import TOPIC_NAMES, TOPIC_SHARE

# Countries (ISO 3166 alpha-2), their share of readers and their time zones' UTC offsets with shares.
COUNTRIES: dict[str, tuple[float, tuple[int, ...], tuple[float, ...]]] = {
    "US": (0.25, (-300, -360, -420, -480), (0.47, 0.29, 0.07, 0.17)),
    "GB": (0.10, (0,), (1.0,)),
    "DE": (0.08, (60,), (1.0,)),
    "FR": (0.07, (60,), (1.0,)),
    "ES": (0.05, (60,), (1.0,)),
    "IT": (0.05, (60,), (1.0,)),
    "NL": (0.03, (60,), (1.0,)),
    "PL": (0.03, (60,), (1.0,)),
    "BR": (0.07, (-180,), (1.0,)),
    "MX": (0.04, (-360,), (1.0,)),
    "IN": (0.10, (330,), (1.0,)),
    "JP": (0.05, (540,), (1.0,)),
    "AU": (0.04, (600, 480), (0.8, 0.2)),
    "CA": (0.04, (-300, -480), (0.7, 0.3)),
}

# Relative articles published per UTC hour: newsrooms in Europe and the Americas.
EDITORIAL = (0.2, 0.2, 0.2, 0.3, 0.5, 0.8, 1.2, 1.5, 1.6, 1.6, 1.5, 1.4, 1.4, 1.5, 1.6, 1.6, 1.5, 1.3, 1.1, 0.9, 0.7, 0.5, 0.4, 0.3)
TOPIC_CONCENTRATION = 3.0  # Dirichlet total: small = readers with few, strong favourite topics
ZIPF_S = 1.0


@dataclass(frozen=True)
class SimConfig:
    """Sizes of the platform. ``scale`` multiplies readers and articles (and so events)."""

    scale: float = 1.0
    seed: int = 20260302
    days: int = 14
    start: datetime = field(default_factory=lambda: datetime(2026, 3, 2, tzinfo=UTC))  # a Monday
    users_at_scale_1: int = 10_000
    articles_per_day_at_scale_1: int = 200
    backlog_days: int = 3  # articles published before start, so the first feeds have candidates
    sessions_per_user_day: float = 0.6
    mean_slate: float = 10.0

    @property
    def users(self) -> int:
        return max(10, round(self.users_at_scale_1 * self.scale))

    @property
    def articles_per_day(self) -> int:
        return max(24, round(self.articles_per_day_at_scale_1 * self.scale))

    @property
    def start_us(self) -> int:
        return int(self.start.timestamp() * 1_000_000)

    @property
    def end_us(self) -> int:
        return self.start_us + self.days * DAY_US

    @property
    def breaking_us(self) -> int:
        return self.start_us + int(self.days * BREAKING_DAY_FRACTION) * DAY_US + int(BREAKING_HOUR_UTC * HOUR_US)

    def rng(self, stream: int) -> np.random.Generator:
        """An independent generator per part, so changing one part's draws leaves the others alone."""
        return np.random.default_rng([self.seed, stream])


@dataclass(frozen=True)
class Platform:
    """The generated tables. ``engagement_events`` matches examples/newsfeed's source of that name."""

    config: SimConfig
    users: pa.Table  # user_id, country, device, utc_offset_minutes, sessions_per_day, propensity, topic_prefs
    articles: pa.Table  # article_id, category, headline, body, published_at, entities, popularity, is_breaking
    impressions: pa.Table  # one row per article shown, with its request, context and truth (affinity, p_click)

    @cached_property
    def engagement_events(self) -> pa.Table:
        columns = ["event_id", "user_id", "article_id", "position", "clicked", "liked", "shared", "dwell_seconds", "device"]
        return self.impressions.select([*columns, "event_timestamp"])

    @cached_property
    def requests(self) -> pa.Table:
        """One row per feed request (a slate): the request context the app sends."""
        first = np.unique(self.impressions["request_id"].to_numpy(), return_index=True)[1]
        columns = ["request_id", "user_id", "event_timestamp", "device", "country", "utc_offset_minutes"]
        return self.impressions.select(columns).take(pa.array(first))


def generate_users(config: SimConfig) -> pa.Table:
    rng = config.rng(1)
    n = config.users
    names = list(COUNTRIES)
    country = from_profile(rng, tuple(COUNTRIES[c][0] for c in names), n)
    offset = np.zeros(n, dtype=np.int64)
    for i, code in enumerate(names):
        idx = np.flatnonzero(country == i)
        _, zones, shares = COUNTRIES[code]
        offset[idx] = np.asarray(zones)[from_profile(rng, shares, idx.size)]
    theta = rng.dirichlet(TOPIC_CONCENTRATION * np.asarray(TOPIC_SHARE) / sum(TOPIC_SHARE), size=n)
    sigma = 1.0  # log-normal activity with the configured mean
    activity = rng.lognormal(np.log(config.sessions_per_user_day) - sigma**2 / 2, sigma, n)
    flat = pa.array(theta.astype(np.float32).ravel())
    return pa.table(
        {
            "user_id": np.arange(1, n + 1, dtype=np.int64),
            "country": np.asarray(names)[country],
            "device": np.asarray(DEVICES)[from_profile(rng, DEVICE_SHARE, n)],
            "utc_offset_minutes": offset,
            "sessions_per_day": activity,
            "propensity": rng.normal(0.0, USER_PROPENSITY_SD, n),
            "topic_prefs": pa.FixedSizeListArray.from_arrays(flat, len(TOPIC_NAMES)),
        }
    )


def generate_articles(config: SimConfig) -> pa.Table:
    rng = config.rng(2)
    per_day = config.articles_per_day
    days = config.days + config.backlog_days
    n = per_day * days
    day = rng.integers(0, days, n)
    hour = from_profile(rng, EDITORIAL, n)
    offset = rng.integers(0, HOUR_US, n)
    published = config.start_us + (day - config.backlog_days) * DAY_US + hour * HOUR_US + offset
    category = from_profile(rng, TOPIC_SHARE, n)
    popularity = rng.integers(1, 3 * per_day + 1, n).astype(np.float64) ** -ZIPF_S
    # The breaking story: the most appealing article of its day, published at the breaking time.
    breaking = int(np.argmin(np.abs(published - config.breaking_us)))
    published[breaking] = config.breaking_us
    category[breaking] = TOPIC_NAMES.index("world")
    popularity[breaking] = 1.0
    order = np.argsort(published, kind="stable")
    published, category, popularity = published[order], category[order], popularity[order]
    is_breaking = order == breaking
    texts = write_articles(rng, category)
    return pa.table(
        {
            "article_id": np.arange(1, n + 1, dtype=np.int64),
            "category": np.asarray(TOPIC_NAMES)[category],
            "headline": [a.headline for a in texts],
            "body": [a.body for a in texts],
            "published_at": pa.array(published, TIMESTAMP),
            "entities": pa.array([a.entities for a in texts], pa.list_(pa.string())),
            "popularity": popularity,
            "is_breaking": is_breaking,
        }
    )


def generate(config: SimConfig | None = None) -> Platform:
    """The whole platform for ``config`` (defaults: scale 1, 14 days); same config, same tables."""
    config = config or SimConfig()
    users = generate_users(config)
    articles = generate_articles(config)
    return Platform(config=config, users=users, articles=articles, impressions=impressions(config, users, articles))
