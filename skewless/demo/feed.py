"""Traffic of the synthetic news platform: sessions, slates, breaking news and the click model.

- **Sessions** at local times following a diurnal profile (morning, lunch and evening peaks) in
  each reader's time zone, fewer at weekends; each shows a slate of articles at positions 0..k-1.
- **Candidates** (the platform's current, naive recommender): a slot is filled from the reader's
  favourite topics with probability PERSONAL_SHARE (a topic drawn from ``theta``), else from all
  articles; both draw among articles published in the last MAX_AGE_HOURS with weight
  ``z * exp(-age / DECAY_HOURS)`` (Zipf popularity decaying since publication). A slate shows an
  article once, sorted by that weight times log-normal noise, so top positions go to popular
  articles (position and popularity are confounded, as in a real log).
- **Breaking news**: one article, published BREAKING_DAY_FRACTION into the period, is put at the
  top of a slate with probability BREAKING_PEAK_SHARE * exp(-(t - t_b) / BREAKING_TAU_HOURS) per
  slot, so it is in most slates in its first hour (a hot key); the news also brings
  BREAKING_EXTRA_SESSIONS times the usual sessions of six hours in the hours after it.
- **Clicks**: ``P(click) = sigmoid(logit)`` with

      logit = CLICK_BASE
              + CLICK_AFFINITY   * clip(log(12 * theta[user, category]), -3, 1.6)   # hidden affinity
              - CLICK_RECENCY    * log1p(age_hours / 6)                              # recency
              + CLICK_POPULARITY * (log z - mean log z)                              # popularity
              - CLICK_POSITION   * log1p(position)                                   # slate position
              + CLICK_BREAKING   * is_breaking
              + user propensity ~ N(0, USER_PROPENSITY_SD) + noise ~ N(0, CLICK_NOISE_SD)

  A click may be followed by a like (``sigmoid(-1.5 + 0.8 * affinity)``), a share
  (``sigmoid(-3.2 + 0.6 * affinity + 1.5 * is_breaking)``) and a dwell time (log-normal around
  35 s, longer for liked topics and long articles). The truth (``affinity``, ``p_click``) is kept
  in the impressions table, never in the events the store sees. At scale 1 the overall CTR is
  about 8%, 17% at position 0 and 3% at position 9.

Everything is vectorised NumPy except one loop over 10-minute buckets, where the candidate weights
change (a few thousand iterations for two weeks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.demo.vocab import TOPIC_NAMES

if TYPE_CHECKING:
    from skewless.demo.simulate import SimConfig

TIMESTAMP = pa.timestamp("us", tz="UTC")
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US

DEVICES = ("ios", "android", "web")
DEVICE_SHARE = (0.42, 0.40, 0.18)
SAME_DEVICE_SHARE = 0.85

# Relative sessions per local hour 0..23: night trough, commute, lunch and evening peaks.
DIURNAL = (0.3, 0.15, 0.1, 0.08, 0.1, 0.3, 0.8, 1.4, 1.6, 1.2, 1.0, 1.1, 1.4, 1.3, 1.0, 0.9, 1.0, 1.2, 1.5, 1.8, 1.9, 1.6, 1.0, 0.6)
WEEKDAY_VOLUME = (1.0, 1.0, 1.0, 1.0, 0.95, 0.8, 0.85)  # Monday..Sunday
MAX_AGE_HOURS = 72
DECAY_HOURS = 12.0
PERSONAL_SHARE = 0.35
SCROLL_SECONDS = 4.0  # between two slots of a slate
BUCKET_US = 10 * 60_000_000  # candidate weights are recomputed every 10 minutes

BREAKING_DAY_FRACTION = 0.6
BREAKING_HOUR_UTC = 13.5
BREAKING_PEAK_SHARE = 0.2
BREAKING_TAU_HOURS = 3.0
BREAKING_EXTRA_SESSIONS = 0.5  # x the usual sessions of the 6 hours after it

CLICK_BASE = -2.8
CLICK_AFFINITY = 1.0
CLICK_RECENCY = 0.4
CLICK_POPULARITY = 0.35
CLICK_POSITION = 0.45
CLICK_BREAKING = 1.2
USER_PROPENSITY_SD = 0.5
CLICK_NOISE_SD = 0.3


def from_profile(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(p.size, size=n, p=p / p.sum())


def topic_prefs(users: pa.Table) -> np.ndarray:
    """The hidden preferences as a (users, topics) matrix, rows in user_id order."""
    values = users["topic_prefs"].combine_chunks().flatten().to_numpy()
    return np.asarray(values, dtype=np.float64).reshape(-1, len(TOPIC_NAMES))


def _category_index(articles: pa.Table) -> np.ndarray:
    codes = {name: i for i, name in enumerate(TOPIC_NAMES)}
    return np.asarray([codes[c] for c in articles["category"].to_pylist()], dtype=np.int64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _session_times(config: SimConfig, rng: np.random.Generator, users: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """UTC times of sessions at diurnal local hours in each reader's time zone."""
    n = users.size
    day = from_profile(rng, tuple(WEEKDAY_VOLUME[d % 7] for d in range(config.days)), n)  # start is a Monday
    local = day * DAY_US + from_profile(rng, DIURNAL, n) * HOUR_US + rng.integers(0, HOUR_US, n)
    span = config.days * DAY_US
    # Wrapping (not clipping) keeps every reader's day shape: the period is a whole number of days.
    return np.asarray(config.start_us + (local - offset[users] * 60_000_000) % span)


def _sessions(config: SimConfig, users: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(user index, UTC start) of every session, in time order."""
    rng = config.rng(3)
    activity = users["sessions_per_day"].to_numpy()
    offset = users["utc_offset_minutes"].to_numpy()
    counts = rng.poisson(activity * config.days)
    who = np.repeat(np.arange(activity.size), counts)
    when = _session_times(config, rng, who, offset)
    extra = rng.poisson(BREAKING_EXTRA_SESSIONS * who.size * 6 / (config.days * 24))
    extra_who = rng.choice(activity.size, size=extra, p=activity / activity.sum())
    extra_when = config.breaking_us + (rng.exponential(2.0, extra) * HOUR_US).astype(np.int64)
    who, when = np.concatenate([who, extra_who]), np.concatenate([when, extra_when])
    keep = when < config.end_us
    order = np.argsort(when[keep], kind="stable")
    return who[keep][order], when[keep][order]


def _draw_candidates(
    config: SimConfig, articles: pa.Table, times: np.ndarray, topic: np.ndarray, personal: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Article index and its feed weight for each slot, from the articles alive in the slot's 10 minutes."""
    published = articles["published_at"].cast(pa.int64()).to_numpy()
    cat = _category_index(articles)
    z = articles["popularity"].to_numpy().copy()
    z[articles["is_breaking"].to_numpy(zero_copy_only=False)] = 0.0  # shown through its own spike only
    bucket = (times - config.start_us) // BUCKET_US
    order = np.argsort(bucket, kind="stable")
    buckets = int(bucket.max()) + 1 if bucket.size else 0
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1))
    chosen = np.zeros(times.size, dtype=np.int64)
    weight = np.zeros(times.size)
    topics = np.arange(len(TOPIC_NAMES))
    for b in range(buckets):
        slots = order[bounds[b] : bounds[b + 1]]
        if slots.size == 0:
            continue
        t = config.start_us + b * BUCKET_US
        ids = np.arange(np.searchsorted(published, t - MAX_AGE_HOURS * HOUR_US), np.searchsorted(published, t))
        ids = ids[np.argsort(cat[ids], kind="stable")]  # grouped by topic, so a topic is one range of cum
        w = z[ids] * np.exp(-(t - published[ids]) / (DECAY_HOURS * HOUR_US))
        cum = np.concatenate([[0.0], np.cumsum(w)])
        seg_lo = cum[np.searchsorted(cat[ids], topics, side="left")]
        seg_w = cum[np.searchsorted(cat[ids], topics, side="right")] - seg_lo
        tp = topic[slots]
        mine = personal[slots] & (seg_w[tp] > 0)
        x = np.where(mine, seg_lo[tp] + u[slots] * seg_w[tp], u[slots] * cum[-1])
        k = np.clip(np.searchsorted(cum, x, side="right") - 1, 0, ids.size - 1)
        chosen[slots] = ids[k]
        weight[slots] = w[k]
    return chosen, weight


def impressions(config: SimConfig, users: pa.Table, articles: pa.Table) -> pa.Table:
    who, start = _sessions(config, users)
    rng = config.rng(4)
    # Slates: k slots per session, each a few seconds after the previous one.
    size = np.minimum(1 + rng.poisson(config.mean_slate - 1, who.size), 40)
    session = np.repeat(np.arange(who.size), size)
    user = who[session]
    # The slate is ranked when the feed is requested: candidates are what was published by then.
    requested = start[session]
    theta = topic_prefs(users)
    cum_theta = np.cumsum(theta, axis=1)
    topic = np.minimum((cum_theta[user] < rng.random(session.size)[:, None]).sum(axis=1), len(TOPIC_NAMES) - 1)
    personal = rng.random(session.size) < PERSONAL_SHARE
    article, weight = _draw_candidates(config, articles, requested, topic, personal, rng.random(session.size))
    # Breaking news takes a slot with a probability that decays from its publication.
    breaking = int(np.flatnonzero(articles["is_breaking"].to_numpy(zero_copy_only=False))[0])
    since = (requested - config.breaking_us) / HOUR_US
    spike = (since >= 0) & (rng.random(session.size) < BREAKING_PEAK_SHARE * np.exp(-np.maximum(since, 0) / BREAKING_TAU_HOURS))
    article[spike] = breaking
    # The current ranker: popular first (noisy), breaking news pinned on top; one copy per slate.
    score = np.log(np.maximum(weight, 1e-300)) + rng.normal(0.0, 1.0, session.size)
    score[spike] = np.inf
    order = np.lexsort((-score, session))
    session, user, article, start_of = session[order], user[order], article[order], start[session[order]]
    n_articles = articles.num_rows
    _, first = np.unique(session * n_articles + article, return_index=True)
    keep = np.sort(first)
    session, user, article, start_of = session[keep], user[keep], article[keep], start_of[keep]
    first_of_session = np.searchsorted(session, session, side="left")
    position = np.arange(session.size) - first_of_session
    times = start_of + (position * SCROLL_SECONDS * 1e6).astype(np.int64)
    return _outcomes(config, rng, users, articles, session, user, article, position, times)


def _outcomes(
    config: SimConfig,
    rng: np.random.Generator,
    users: pa.Table,
    articles: pa.Table,
    session: np.ndarray,
    user: np.ndarray,
    article: np.ndarray,
    position: np.ndarray,
    times: np.ndarray,
) -> pa.Table:
    """Clicks, likes, shares and dwell from the documented click model, then the events table."""
    n = session.size
    theta = topic_prefs(users)
    cat = _category_index(articles)
    affinity = np.clip(np.log(len(TOPIC_NAMES) * theta[user, cat[article]] + 1e-12), -3.0, 1.6)
    published = articles["published_at"].cast(pa.int64()).to_numpy()
    age_hours = (times - published[article]) / HOUR_US
    log_z = np.log(articles["popularity"].to_numpy())
    is_breaking = articles["is_breaking"].to_numpy(zero_copy_only=False)[article]
    logit = (
        CLICK_BASE
        + CLICK_AFFINITY * affinity
        - CLICK_RECENCY * np.log1p(age_hours / 6.0)
        + CLICK_POPULARITY * (log_z[article] - log_z.mean())
        - CLICK_POSITION * np.log1p(position)
        + CLICK_BREAKING * is_breaking
        + users["propensity"].to_numpy()[user]
        + rng.normal(0.0, CLICK_NOISE_SD, n)
    )
    p_click = _sigmoid(logit)
    clicked = rng.random(n) < p_click
    liked = clicked & (rng.random(n) < _sigmoid(-1.5 + 0.8 * affinity))
    shared = clicked & (rng.random(n) < _sigmoid(-3.2 + 0.6 * affinity + 1.5 * is_breaking))
    words = np.asarray([len(b.split()) for b in articles["body"].to_pylist()], dtype=np.float64)
    dwell = rng.lognormal(np.log(35.0) + 0.25 * affinity + 0.5 * np.log(words[article] / 100.0), 0.6).astype(np.float32)
    # Per-request context: the reader's country and zone, this session's device.
    country = users["country"].to_numpy(zero_copy_only=False)[user]
    offset = users["utc_offset_minutes"].to_numpy()[user]
    usual = users["device"].to_numpy(zero_copy_only=False)
    other = np.asarray(DEVICES)[from_profile(config.rng(5), DEVICE_SHARE, int(session.max()) + 1 if n else 0)]
    same = config.rng(6).random(other.size) < SAME_DEVICE_SHARE
    device = np.where(same[session], usual[user], other[session])
    order = np.argsort(times, kind="stable")  # the log is in event-time order; ids follow it
    ids = pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.string())
    return pa.table(
        {
            "event_id": pc.binary_join_element_wise("ev", ids, "-"),
            "request_id": (session + 1).astype(np.int64)[order],
            "user_id": (user + 1).astype(np.int64)[order],
            "article_id": (article + 1).astype(np.int64)[order],
            "position": position.astype(np.int64)[order],
            "clicked": clicked.astype(np.int64)[order],
            "liked": liked.astype(np.int64)[order],
            "shared": shared.astype(np.int64)[order],
            "dwell_seconds": pa.array(dwell[order], mask=~clicked[order]),
            "device": device[order],
            "country": country[order],
            "utc_offset_minutes": offset.astype(np.int64)[order],
            "event_timestamp": pa.array(times[order], TIMESTAMP),
            "affinity": affinity[order],
            "p_click": p_click[order],
        }
    )
