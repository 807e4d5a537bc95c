"""The online benchmark's data set and slates, generated deterministically with NumPy only.

Both sides of ``online_latency.py`` import this module: skewless' writer (in ``.venv``) and Feast's
(``feast_online.py`` in ``bench/.venv-feast``), so both stores hold exactly the same values without
shipping gigabytes of embeddings between processes. Values are a function of (seed, entity kind,
chunk index) only, so any process regenerates any chunk identically.

The feature set is the news-feed example's four online views (``examples/newsfeed``):

- ``user_engagement`` (21): windowed counts/sums/means as precomputed values (what materialization
  or the streaming layer would write), the last 20 article ids read, CTRs;
- ``user_profile`` (5): top topics with scores, a 384-dim float32 embedding, totals, country;
- ``article_metadata`` (6): category, headline, named entities, publication time, word count and a
  384-dim float32 content embedding;
- ``article_popularity`` (7): views/clicks/shares over 10m and 1h, CTRs.

Slates: one user drawn Zipf-like over the users and 50 distinct articles drawn Zipf-like over the
articles (popular ids are spread over the id range by a fixed permutation), plus a request context
(device, country, UTC offset).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

SEED = 20260301
CHUNK = 10_000  # rows per generated chunk; a chunk's values depend only on (seed, kind, chunk index)
DIM = 384
USER_ZIPF_S = 1.1  # P(rank r) ~ 1 / (r + 1)^s
ARTICLE_ZIPF_S = 1.0
SLATE_ARTICLES = 50

CATEGORIES = [
    "politics", "world", "business", "tech", "science", "health", "sport", "football", "tennis", "culture",
    "music", "film", "books", "travel", "food", "style", "climate", "education", "opinion", "local",
]  # fmt: skip
COUNTRIES = ["FR", "DE", "GB", "US", "ES", "IT", "NL", "BE", "CH", "PL", "SE", "BR", "IN", "JP", "CA"]
DEVICES = ["ios", "android", "web"]
UTC_OFFSETS = [-480, -300, -180, 0, 60, 120, 180, 330, 540]
WORDS = [
    "government", "announces", "new", "plan", "for", "market", "growth", "record", "team", "wins", "final",
    "study", "finds", "climate", "change", "city", "council", "votes", "on", "budget", "star", "releases",
    "album", "after", "years", "scientists", "discover", "species", "in", "ocean", "league", "title", "race",
]  # fmt: skip
ENTITIES = [f"entity_{i}" for i in range(500)]

# name -> kind, in each view's definition order (the order skewless stores them in)
USER_ENGAGEMENT = {
    **{f"impressions_{w}": "int" for w in ("1h", "24h", "7d", "30d")},
    **{f"clicks_{w}": "int" for w in ("1h", "24h", "7d", "30d")},
    **{f"likes_{w}": "int" for w in ("24h", "7d", "30d")},
    **{f"shares_{w}": "int" for w in ("24h", "7d", "30d")},
    "mean_dwell_24h": "float",
    "mean_dwell_7d": "float",
    "recent_articles_7d": "int_list",
    **{f"ctr_{w}": "float" for w in ("1h", "24h", "7d", "30d")},
}
USER_PROFILE = {
    "top_topics": "str_list",
    "topic_scores": "float32_list",
    "user_embedding": "embedding",
    "articles_read_total": "int",
    "home_country": "str",
}
ARTICLE_METADATA = {
    "category": "str",
    "headline": "str",
    "named_entities": "str_list",
    "published_at": "timestamp",
    "word_count": "int",
    "content_embedding": "embedding",
}
ARTICLE_POPULARITY = {  # named article_* in the example, so they sit beside the user's clicks_1h
    "article_views_10m": "int",
    "article_views_1h": "int",
    "article_clicks_10m": "int",
    "article_clicks_1h": "int",
    "article_shares_1h": "int",
    "article_ctr_10m": "float",
    "article_ctr_1h": "float",
}
VIEWS = {
    "user_engagement": ("user", "user_id", USER_ENGAGEMENT),
    "user_profile": ("user", "user_id", USER_PROFILE),
    "article_metadata": ("article", "article_id", ARTICLE_METADATA),
    "article_popularity": ("article", "article_id", ARTICLE_POPULARITY),
}
KIND_CODE = {"user": 1, "article": 2, "slates": 3, "perm_user": 4, "perm_article": 5, "events": 6}


def _rng(kind: str, chunk: int) -> np.random.Generator:
    return np.random.default_rng([SEED, KIND_CODE[kind], chunk])


def chunks(count: int) -> range:
    return range((count + CHUNK - 1) // CHUNK)


def _ids(count: int, chunk: int) -> np.ndarray:
    """Entity ids of a chunk: 1..count."""
    start = chunk * CHUNK
    return np.arange(start + 1, min(count, start + CHUNK) + 1, dtype=np.int64)


def _ratio(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    return [None if d == 0 else float(n) / float(d) for n, d in zip(num.tolist(), den.tolist(), strict=True)]


def user_chunk(count: int, chunk: int, now_us: int) -> dict[str, Any]:
    """Columns of users of one chunk: ``user_id``, ``event_ts_us``, then every user feature.

    Embeddings are a 2-D float32 array; everything else plain Python lists (None = null).
    """
    rng = _rng("user", chunk)
    ids = _ids(count, chunk)
    n = len(ids)
    activity = rng.lognormal(1.0, 1.2, n)  # impressions per hour, heavy-tailed
    cols: dict[str, Any] = {"user_id": ids.tolist(), "event_ts_us": (now_us - rng.integers(0, 6 * 3600, n) * 1_000_000).tolist()}
    ctr = rng.beta(2, 12, n)
    imps = {}
    for w, hours in (("1h", 1), ("24h", 24), ("7d", 168), ("30d", 720)):
        imps[w] = rng.poisson(activity * hours * (0.3 if hours > 24 else 1.0))
    clicks = {w: rng.binomial(imps[w], ctr) for w in imps}
    for w in ("1h", "24h", "7d", "30d"):
        cols[f"impressions_{w}"] = imps[w].tolist()
    for w in ("1h", "24h", "7d", "30d"):
        cols[f"clicks_{w}"] = clicks[w].tolist()
    for w in ("24h", "7d", "30d"):
        cols[f"likes_{w}"] = rng.binomial(clicks[w], 0.1).tolist()
    for w in ("24h", "7d", "30d"):
        cols[f"shares_{w}"] = rng.binomial(clicks[w], 0.03).tolist()
    for w in ("24h", "7d"):
        dwell = rng.gamma(2.0, 25.0, n)
        cols[f"mean_dwell_{w}"] = [None if c == 0 else float(d) for c, d in zip(clicks[w].tolist(), dwell.tolist(), strict=True)]
    recent = rng.integers(1, 50_001, (n, 20))
    lengths = np.minimum(clicks["7d"], 20)
    cols["recent_articles_7d"] = [row[:k].tolist() for row, k in zip(recent, lengths.tolist(), strict=True)]
    for w in ("1h", "24h", "7d", "30d"):
        cols[f"ctr_{w}"] = _ratio(clicks[w], imps[w])
    topics = np.argsort(rng.random((n, len(CATEGORIES))), axis=1)[:, :5]
    scores = rng.dirichlet(np.ones(5), n).astype(np.float32)
    scores = -np.sort(-scores, axis=1)
    cols["top_topics"] = [[CATEGORIES[t] for t in row] for row in topics.tolist()]
    cols["topic_scores"] = [row.tolist() for row in scores]
    emb = rng.standard_normal((n, DIM), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    cols["user_embedding"] = emb
    cols["articles_read_total"] = rng.poisson(activity * 2000).tolist()
    cols["home_country"] = [COUNTRIES[i] for i in rng.integers(0, len(COUNTRIES), n).tolist()]
    return cols


def article_chunk(count: int, chunk: int, now_us: int) -> dict[str, Any]:
    """Columns of articles of one chunk: ``article_id``, ``event_ts_us``, then every article feature."""
    rng = _rng("article", chunk)
    ids = _ids(count, chunk)
    n = len(ids)
    cols: dict[str, Any] = {"article_id": ids.tolist(), "event_ts_us": (now_us - rng.integers(0, 3600, n) * 1_000_000).tolist()}
    cols["category"] = [CATEGORIES[i] for i in rng.integers(0, len(CATEGORIES), n).tolist()]
    words = rng.integers(0, len(WORDS), (n, 9))
    cols["headline"] = [" ".join(WORDS[w] for w in row).capitalize() for row in words.tolist()]
    ent_n = rng.integers(0, 6, n).tolist()
    ents = rng.integers(0, len(ENTITIES), (n, 5)).tolist()
    cols["named_entities"] = [[ENTITIES[e] for e in row[:k]] for row, k in zip(ents, ent_n, strict=True)]
    cols["published_at"] = (now_us - rng.integers(60, 30 * 86400, n) * 1_000_000).tolist()
    cols["word_count"] = rng.integers(150, 3000, n).tolist()
    emb = rng.standard_normal((n, DIM), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    cols["content_embedding"] = emb
    views_1h = rng.poisson(rng.lognormal(3.0, 1.5, n))
    views_10m = rng.binomial(views_1h, 1 / 6)
    ctr = rng.beta(2, 15, n)
    clicks_1h = rng.binomial(views_1h, ctr)
    clicks_10m = rng.binomial(np.minimum(clicks_1h, views_10m), 0.5)
    cols["article_views_10m"], cols["article_views_1h"] = views_10m.tolist(), views_1h.tolist()
    cols["article_clicks_10m"], cols["article_clicks_1h"] = clicks_10m.tolist(), clicks_1h.tolist()
    cols["article_shares_1h"] = rng.binomial(clicks_1h, 0.05).tolist()
    cols["article_ctr_10m"], cols["article_ctr_1h"] = _ratio(clicks_10m, views_10m), _ratio(clicks_1h, views_1h)
    return cols


def entity_chunks(kind: str, count: int, now_us: int) -> Iterator[dict[str, Any]]:
    make = user_chunk if kind == "user" else article_chunk
    for chunk in chunks(count):
        yield make(count, chunk, now_us)


def _zipf_sampler(kind: str, count: int, s: float) -> tuple[np.ndarray, np.ndarray]:
    """CDF over ranks, and rank -> id (a fixed permutation, so popular ids are spread out)."""
    weights = 1.0 / np.power(np.arange(1, count + 1, dtype=np.float64), s)
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ids = np.random.default_rng([SEED, KIND_CODE[f"perm_{kind}"]]).permutation(count).astype(np.int64) + 1
    return cdf, ids


def slates(count: int, users: int, articles: int, *, stream: int = 0) -> list[dict[str, Any]]:
    """``count`` slates: ``{"user_id", "article_ids" (50 distinct), "device", "country", "utc_offset_minutes"}``.

    ``stream`` picks an independent sequence (warm-up, measurement, ... use different streams); the
    first k slates of a stream are the same whatever ``count``.
    """
    rng = np.random.default_rng([SEED, KIND_CODE["slates"], stream])
    user_cdf, user_ids = _zipf_sampler("user", users, USER_ZIPF_S)
    art_cdf, art_ids = _zipf_sampler("article", articles, ARTICLE_ZIPF_S)
    per_slate = min(SLATE_ARTICLES, articles)
    out = []
    for _ in range(count):  # one slate at a time: the first k of n slates are the k slates (any process, any count)
        user = int(user_ids[min(int(np.searchsorted(user_cdf, rng.random())), users - 1)])
        picked: dict[int, None] = {}
        while len(picked) < per_slate:
            draw = art_ids[np.minimum(np.searchsorted(art_cdf, rng.random(2 * per_slate)), articles - 1)]
            for a in draw.tolist():
                picked[a] = None
                if len(picked) == per_slate:
                    break
        out.append(
            {
                "user_id": user,
                "article_ids": list(picked),
                "device": DEVICES[int(rng.integers(0, 3))],
                "country": COUNTRIES[int(rng.integers(0, len(COUNTRIES)))],
                "utc_offset_minutes": UTC_OFFSETS[int(rng.integers(0, len(UTC_OFFSETS)))],
            }
        )
    return out


# -- engagement events (skewless' windowed views read tiles built from them) --------------------

USER_EVENTS = (10, 100)  # events per user over the last 30 days, heavy-tailed between the bounds
ARTICLE_EVENTS = (20, 500)  # events per article over the last hour, heavy-tailed between the bounds
SESSION_EVENTS = 3  # a user's first events fall in the last hour: the session asking for the feed
MONTH_S = 30 * 86400


def slate_entities(slate_lists: list[list[dict[str, Any]]]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct users and articles the slates read, sorted (events are generated for these only)."""
    users = {s["user_id"] for slates_ in slate_lists for s in slates_}
    articles = {a for slates_ in slate_lists for s in slates_ for a in s["article_ids"]}
    return np.array(sorted(users), dtype=np.int64), np.array(sorted(articles), dtype=np.int64)


def engagement_events(user_ids: np.ndarray, article_ids: np.ndarray, users: int, articles: int, now_us: int) -> dict[str, Any]:
    """Columns of ``engagement_events`` (the example's stream source) for the windowed views.

    Per user in ``user_ids``: 10-100 events (lognormal, median ~25) over the last 30 days, its first
    ``SESSION_EVENTS`` in the last hour, so every window of ``user_engagement`` (1h to 30d) has data;
    the article of each is any article. Per article in ``article_ids``: 20-500 events (lognormal,
    median ~45) over the last hour, so both windows of ``article_popularity`` (10m, 1h) have data;
    their readers are any of the users (a feed's traffic comes from everyone, not only the readers
    the benchmark's slates are for). Deterministic given the ids and ``now_us``: times are offsets
    from it, and event ids say whose events they are, so a regenerated set has the same ids.
    """
    rng = np.random.default_rng([SEED, KIND_CODE["events"]])
    per_user = np.clip(np.rint(rng.lognormal(np.log(25), 0.8, len(user_ids))), *USER_EVENTS).astype(np.int64)
    per_article = np.clip(np.rint(rng.lognormal(np.log(45), 0.9, len(article_ids))), *ARTICLE_EVENTS).astype(np.int64)
    # Offsets before now, in µs: at least 1 s back, so no event is ahead of the read's clock.
    nth = np.arange(per_user.sum()) - np.repeat(np.cumsum(per_user) - per_user, per_user)  # rank of the event within its user
    span_s = np.where(nth < SESSION_EVENTS, 3600, MONTH_S - 60)
    user_ago = (1 + (rng.random(len(nth)) * (span_s - 1)).astype(np.int64)) * 1_000_000
    article_ago = (1 + (rng.random(int(per_article.sum())) * 3599).astype(np.int64)) * 1_000_000
    ctr_user = np.repeat(rng.beta(2, 12, len(user_ids)), per_user)
    ctr_article = np.repeat(rng.beta(2, 15, len(article_ids)), per_article)
    n_user, n_article = len(user_ago), len(article_ago)
    n = n_user + n_article
    user_col = np.concatenate([np.repeat(user_ids, per_user), rng.integers(1, users + 1, n_article)])
    article_col = np.concatenate([rng.integers(1, articles + 1, n_user), np.repeat(article_ids, per_article)])
    clicked = (rng.random(n) < np.concatenate([ctr_user, ctr_article])).astype(np.int64)
    liked = clicked * (rng.random(n) < 0.1)
    shared = clicked * (rng.random(n) < np.concatenate([np.full(n_user, 0.03), np.full(n_article, 0.05)]))
    dwell = rng.gamma(2.0, 25.0, n).astype(np.float32)
    event_ids = [f"u{u}-{i}" for u, i in zip(user_col[:n_user].tolist(), nth.tolist(), strict=True)]
    nth_article = np.arange(n_article) - np.repeat(np.cumsum(per_article) - per_article, per_article)
    event_ids += [f"a{a}-{i}" for a, i in zip(article_col[n_user:].tolist(), nth_article.tolist(), strict=True)]
    return {
        "event_id": event_ids,
        "user_id": user_col,
        "article_id": article_col,
        "position": rng.integers(0, SLATE_ARTICLES, n),
        "clicked": clicked,
        "liked": liked.astype(np.int64),
        "shared": shared.astype(np.int64),
        "dwell_seconds": dwell,
        "dwell_null": clicked == 0,  # null when the article was not opened
        "device": [DEVICES[i] for i in rng.integers(0, len(DEVICES), n).tolist()],
        "event_ts_us": now_us - np.concatenate([user_ago, article_ago]),
        "per_user": per_user,
        "per_article": per_article,
    }
