"""Loading a generated platform into a news-feed feature store, as production would have filled it.

1. ``engagement_events``: the impression log (the windowed user and article features are computed
   from it by offline retrieval, and by the streaming tiles online);
2. ``article_content``: every article ingested at publication (:func:`skewless.demo.nlp.ingest_articles`);
3. the account directory, then the ``user_profiles`` jobs replayed over the period on their schedule
   (daily at 00:00 UTC, intra-day every few hours), so every training row finds the profile a live
   ranker would have read at its time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from skewless.demo.jobs import run_schedule, write_accounts
from skewless.demo.nlp import Embedder, ingest_articles

if TYPE_CHECKING:
    from skewless.demo.simulate import Platform
    from skewless.store import FeatureStore


@dataclass(frozen=True)
class LoadTimes:
    events: int
    articles: int
    profile_runs: int
    profile_rows: int
    events_seconds: float
    ingest_seconds: float  # embedding + entities + write
    jobs_seconds: float
    job_seconds_max: float  # the slowest single run (a daily one, late in the period)


def load_platform(
    store: FeatureStore, platform: Platform, embedder: Embedder, *, intraday_hours: int = 6, progress: bool = True
) -> LoadTimes:
    """Write the platform's events and articles, then run the profile jobs over its period."""
    started = time.perf_counter()
    store.write_to_offline_store("engagement_events", platform.engagement_events)
    events_seconds = time.perf_counter() - started
    started = time.perf_counter()
    store.write_to_offline_store("article_content", ingest_articles(platform.articles, embedder))
    ingest_seconds = time.perf_counter() - started
    write_accounts(store, platform.users)
    config = platform.config
    started = time.perf_counter()
    runs = run_schedule(store, config.start, config.start + timedelta(days=config.days), intraday_hours=intraday_hours, progress=progress)
    return LoadTimes(
        events=platform.engagement_events.num_rows,
        articles=platform.articles.num_rows,
        profile_runs=len(runs),
        profile_rows=sum(r.users for r in runs),
        events_seconds=events_seconds,
        ingest_seconds=ingest_seconds,
        jobs_seconds=time.perf_counter() - started,
        job_seconds_max=max((r.seconds for r in runs), default=0.0),
    )


def period_end(platform: Platform) -> datetime:
    return platform.config.start + timedelta(days=platform.config.days)
