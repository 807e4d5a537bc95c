"""Batch jobs of the news feed: the ``user_profiles`` source, daily (full) and intra-day (incremental).

For every reader with at least one click before the cutoff ``until`` (strictly before: a profile
stamped ``until`` is read by labels at ``until`` and must not contain their own click):

- ``user_embedding``: the time-decayed mean of the content embeddings of the articles they opened,
  weight ``2 ** (-(until - t) / HALF_LIFE_HOURS)`` per click, L2-normalized, so it lives in the
  articles' space and ``embedding_cosine`` compares like with like;
- ``top_topics`` / ``topic_scores``: the TOP_TOPICS categories with the largest decayed click
  weight, strongest first (ties by name), their scores renormalized to sum to 1;
- ``articles_read_total``: every click before ``until`` (also those of articles without content);
- ``home_country``: from the account directory (:func:`write_accounts`), null if unknown.

Normalization makes the cutoff's own decay factor cancel: between two cutoffs a reader without new
clicks keeps exactly the same values. The intra-day job therefore only recomputes readers with
clicks since the last run (by event time, or written since, which catches late events); the
others' last rows stay valid. The last run's cutoff and highest ``_write_seq`` seen are a registry
record, as materialization keeps its watermarks. Clicks are read from the ``engagement_events``
Delta table with DuckDB (an event id counts once, its first write, as offline retrieval does) and
reduced with NumPy.

``run_job(store, "user_profiles_daily" | "user_profiles_intraday", until=..., progress=...)`` is the
entry point a ``skewless run JOB`` command can call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import Progress

from skewless.demo.feed import TIMESTAMP
from skewless.demo.nlp import EMBEDDING_DIM, embedding_array

if TYPE_CHECKING:
    from skewless.store import FeatureStore

EVENTS = "engagement_events"
CONTENT = "article_content"
PROFILES = "user_profiles"
RECORD_KIND = "batch_job"
HALF_LIFE_HOURS = 72.0  # a click of three days ago counts half: interests drift over days, not hours
TOP_TOPICS = 3
ACCOUNTS_FILE = "_demo_accounts.parquet"  # beside the Delta tables, like _dead_letters
_CHUNK_CLICKS = 200_000  # bounds the (clicks x 384) float64 block of one reduction step (~600 MB)

Mode = Literal["full", "incremental"]


@dataclass(frozen=True)
class JobResult:
    job: str
    mode: Mode
    since_us: int | None  # the previous run's cutoff (incremental), None for a full run
    until_us: int
    users: int  # profiles written
    clicks: int  # clicks read for them
    seconds: float


@dataclass(frozen=True)
class Profiles:
    """Computed profiles, rows in ``user_id`` order (the job's output before it is written)."""

    user_id: np.ndarray  # int64 (n,)
    embedding: np.ndarray  # float32 (n, 384), unit rows
    top_topics: list[list[str]]
    topic_scores: list[list[float]]
    articles_read_total: np.ndarray  # int64 (n,)

    def table(self, until_us: int, countries: dict[int, str]) -> pa.Table:
        n = self.user_id.size
        return pa.table(
            {
                "user_id": pa.array(self.user_id, pa.int64()),
                "top_topics": pa.array(self.top_topics, pa.list_(pa.string())),
                "topic_scores": pa.array(self.topic_scores, pa.list_(pa.float32())),
                "user_embedding": embedding_array(self.embedding.reshape(n, EMBEDDING_DIM)),
                "articles_read_total": pa.array(self.articles_read_total, pa.int64()),
                "home_country": pa.array([countries.get(int(u)) for u in self.user_id], pa.string()),
                "event_timestamp": pa.array(np.full(n, until_us, dtype=np.int64), TIMESTAMP),
            }
        )


# --- the registry record --------------------------------------------------------------------------------


def last_run(store: FeatureStore) -> tuple[int, int] | None:
    """(cutoff, highest ``_write_seq`` read) of the last profile run, daily or intra-day."""
    record = store.registry.store.get_record(store.registry.project, RECORD_KIND, PROFILES)
    return None if record is None else (int(record.payload["until_us"]), int(record.payload["seen_seq"]))


def _record_run(store: FeatureStore, job: str, until_us: int, seen_seq: int, users: int) -> None:
    payload = {"until_us": until_us, "seen_seq": seen_seq, "job": job, "users": users}
    store.registry.store.put_record(store.registry.project, RECORD_KIND, PROFILES, payload)


# --- accounts (home country) ------------------------------------------------------------------------------


def write_accounts(store: FeatureStore, users: pa.Table) -> None:
    """The account directory the jobs read ``home_country`` from: ``user_id``, ``country``.

    Readers' countries live in the account database, not in the engagement log; the demo exports it
    as one Parquet file beside the Delta tables.
    """
    path = store.offline_tables.root / ACCOUNTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(users.select(["user_id", "country"]), path)


def read_accounts(store: FeatureStore) -> dict[int, str]:
    path = store.offline_tables.root / ACCOUNTS_FILE
    if not path.exists():
        return {}
    table = pq.read_table(path)
    return dict(zip(table["user_id"].to_pylist(), table["country"].to_pylist(), strict=True))


# --- reading ------------------------------------------------------------------------------------------------

_CLICKS_SQL = """
WITH events AS (
    SELECT event_id, user_id, article_id, clicked, epoch_us(event_timestamp) AS ts, _write_seq AS seq
    FROM read_parquet($files, union_by_name = true)
    WHERE event_timestamp < make_timestamptz($until)
    QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY _write_seq) = 1
), clicks AS (SELECT user_id, article_id, ts, seq FROM events WHERE clicked = 1)
SELECT user_id, article_id, ts FROM clicks
WHERE $all OR user_id IN (SELECT user_id FROM clicks WHERE ts >= $since OR seq > $seen)
ORDER BY user_id, ts, article_id
"""

_CONTENT_SQL = """
SELECT article_id, category, content_embedding
FROM read_parquet($files, union_by_name = true)
WHERE event_timestamp < make_timestamptz($until) AND content_embedding IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY article_id ORDER BY event_timestamp DESC, _write_seq DESC) = 1
ORDER BY article_id
"""


def read_clicks(store: FeatureStore, until_us: int, changed_since: tuple[int, int] | None = None) -> tuple[pa.Table, int]:
    """Clicks before ``until`` (``user_id``, ``article_id``, ``ts`` µs), sorted by user and time, and
    the highest ``_write_seq`` in the table; with ``changed_since=(cutoff, seq)`` only of readers
    with a click at or after that cutoff or written after that seq."""
    tables = store.offline_tables
    if tables.version(EVENTS) is None:
        empty = pa.table({"user_id": pa.array([], pa.int64()), "article_id": pa.array([], pa.int64()), "ts": pa.array([], pa.int64())})
        return empty, -1
    files = tables.files(EVENTS)
    since, seen = changed_since if changed_since is not None else (0, 0)
    with duckdb.connect() as con:
        params = {"files": files, "until": until_us, "all": changed_since is None, "since": since, "seen": seen}
        clicks = con.sql(_CLICKS_SQL, params=params).to_arrow_table()
        row = con.execute(
            "SELECT coalesce(max(_write_seq), -1) FROM read_parquet($files, union_by_name = true)", {"files": files}
        ).fetchone()
    return clicks, int(row[0]) if row else -1


def read_content(store: FeatureStore, until_us: int) -> pa.Table:
    """The latest ``article_content`` row of each article ingested before ``until``."""
    if store.offline_tables.version(CONTENT) is None:
        return pa.table({"article_id": pa.array([], pa.int64()), "category": pa.array([], pa.string())})
    with duckdb.connect() as con:
        return con.sql(_CONTENT_SQL, params={"files": store.offline_tables.files(CONTENT), "until": until_us}).to_arrow_table()


# --- computing ----------------------------------------------------------------------------------------------


def compute_profiles(clicks: pa.Table, content: pa.Table, until_us: int, *, half_life_hours: float = HALF_LIFE_HOURS) -> Profiles:
    """Profiles of the readers in ``clicks`` (sorted by user), vectorized over all of them."""
    user = clicks["user_id"].to_numpy()
    article = clicks["article_id"].to_numpy()
    ts = clicks["ts"].to_numpy()
    users, uidx = np.unique(user, return_inverse=True)
    read_total = np.bincount(uidx, minlength=users.size).astype(np.int64)
    # Clicks of articles without content count in the total only.
    content_ids = content["article_id"].to_numpy()
    pos = np.minimum(np.searchsorted(content_ids, article), max(content_ids.size - 1, 0))
    known = content_ids[pos] == article if content_ids.size else np.zeros(article.size, dtype=bool)
    uidx, ts, pos = uidx[known], ts[known], pos[known]
    # Weights relative to each reader's latest click instead of to `until`: the same after
    # normalization (the factor 2^-(until - last)/h cancels), and no underflow for long histories.
    last = np.full(users.size, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, uidx, ts)
    weight = np.exp2(-(last[uidx] - ts) / (half_life_hours * 3_600_000_000))
    embedding = _weighted_rows(content, pos, uidx, weight, users.size)
    norms = np.linalg.norm(embedding, axis=1, keepdims=True)
    embedding = np.divide(embedding, norms, out=np.zeros_like(embedding), where=norms > 0)
    topics, scores = _top_topics(content, pos, uidx, weight, users.size)
    return Profiles(users.astype(np.int64), embedding.astype(np.float32), topics, scores, read_total)


def _weighted_rows(content: pa.Table, pos: np.ndarray, uidx: np.ndarray, weight: np.ndarray, n_users: int) -> np.ndarray:
    """Per reader, the sum of weight x content embedding of the clicked articles (float64)."""
    out = np.zeros((n_users, EMBEDDING_DIM), dtype=np.float64)
    if pos.size == 0:
        return out
    vectors = content["content_embedding"].combine_chunks().flatten().to_numpy().reshape(-1, EMBEDDING_DIM).astype(np.float64)
    # uidx is sorted (clicks come by user): each chunk is reduced with reduceat over its runs.
    for lo in range(0, pos.size, _CHUNK_CLICKS):
        hi = min(lo + _CHUNK_CLICKS, pos.size)
        block = vectors[pos[lo:hi]] * weight[lo:hi, None]
        starts = np.flatnonzero(np.r_[True, uidx[lo + 1 : hi] != uidx[lo : hi - 1]])
        out[uidx[lo:hi][starts]] += np.add.reduceat(block, starts, axis=0)
    return out


def _top_topics(
    content: pa.Table, pos: np.ndarray, uidx: np.ndarray, weight: np.ndarray, n_users: int
) -> tuple[list[list[str]], list[list[float]]]:
    names, code = np.unique(np.asarray(content["category"].to_pylist(), dtype=object).astype(str), return_inverse=True)
    if pos.size == 0:
        return [[] for _ in range(n_users)], [[] for _ in range(n_users)]
    mass = np.bincount(uidx * names.size + code[pos], weights=weight, minlength=n_users * names.size).reshape(n_users, names.size)
    k = min(TOP_TOPICS, names.size)
    order = np.argsort(-mass, axis=1, kind="stable")[:, :k]  # stable: equal mass keeps name order
    top = np.take_along_axis(mass, order, axis=1)
    total = top.sum(axis=1, keepdims=True)
    share = np.divide(top, total, out=np.zeros_like(top), where=total > 0)
    topics, scores = [], []
    for row_order, row_share in zip(order, share, strict=True):
        keep = row_share > 0
        topics.append([str(t) for t in names[row_order[keep]]])
        scores.append([float(s) for s in row_share[keep]])
    return topics, scores


# --- running --------------------------------------------------------------------------------------------------


def profile_job(store: FeatureStore, until: datetime, *, incremental: bool, progress: bool = False, job: str | None = None) -> JobResult:
    """Compute and write the profiles as of ``until``; a first incremental run is a full one."""
    started = time.perf_counter()
    until_us = _to_us(until)
    previous = last_run(store) if incremental else None
    mode: Mode = "incremental" if previous is not None else "full"
    name = job or ("user_profiles_intraday" if incremental else "user_profiles_daily")
    with Progress(disable=not progress) as bar:
        task = bar.add_task(f"{name} until {until.isoformat()}", total=3)
        clicks, seen_seq = read_clicks(store, until_us, previous)
        content = read_content(store, until_us)
        bar.advance(task)
        profiles = compute_profiles(clicks, content, until_us)
        bar.advance(task)
        if profiles.user_id.size:
            store.write_to_offline_store(PROFILES, profiles.table(until_us, read_accounts(store)))
        bar.advance(task)
    # Recorded only once written: a run killed midway is simply run again.
    _record_run(store, name, until_us, seen_seq, int(profiles.user_id.size))
    since = previous[0] if previous is not None else None
    return JobResult(name, mode, since, until_us, int(profiles.user_id.size), clicks.num_rows, time.perf_counter() - started)


JOBS: dict[str, Callable[..., JobResult]] = {
    "user_profiles_daily": lambda store, until, progress: profile_job(store, until, incremental=False, progress=progress),
    "user_profiles_intraday": lambda store, until, progress: profile_job(store, until, incremental=True, progress=progress),
}


def run_job(store: FeatureStore, name: str, *, until: datetime | None = None, progress: bool = True) -> JobResult:
    """Run the batch job ``name`` (one of :data:`JOBS`) with cutoff ``until`` (default: now)."""
    if name not in JOBS:
        from skewless.errors import DefinitionError

        raise DefinitionError(f"unknown job {name!r}", hint=f"one of: {', '.join(sorted(JOBS))}")
    return JOBS[name](store, until or datetime.now(UTC), progress)


def schedule(start: datetime, end: datetime, *, intraday_hours: int = 6) -> Iterator[tuple[str, datetime]]:
    """The runs of a period as production would have made them: the daily job at 00:00 UTC and
    the intra-day one every ``intraday_hours`` in between (``end`` itself included, as a daily run)."""
    step = timedelta(hours=intraday_hours)
    moment = start
    while moment < end:
        moment = min(moment + step, end)
        daily = moment == end or (moment.hour == 0 and moment.minute == 0)
        yield ("user_profiles_daily" if daily else "user_profiles_intraday"), moment


def run_schedule(store: FeatureStore, start: datetime, end: datetime, *, intraday_hours: int = 6, progress: bool = True) -> list[JobResult]:
    """Backfill the profiles of ``[start, end]`` by replaying :func:`schedule`."""
    runs = list(schedule(start, end, intraday_hours=intraday_hours))
    results: list[JobResult] = []
    with Progress(disable=not progress) as bar:
        task = bar.add_task("user profile jobs", total=len(runs))
        for name, moment in runs:
            results.append(run_job(store, name, until=moment, progress=False))
            bar.advance(task)
    return results


def _to_us(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


def profiles_as_of(store: FeatureStore, until: datetime) -> dict[int, dict[str, Any]]:
    """The latest profile row of each reader at ``until`` (for checks and the report)."""
    table = store.offline_tables.read(PROFILES, end=until + timedelta(microseconds=1)).sort_by(
        [("event_timestamp", "ascending"), ("_write_seq", "ascending")]
    )
    rows: dict[int, dict[str, Any]] = {}
    for row in table.drop_columns([c for c in table.column_names if c.startswith("_")]).to_pylist():
        rows[int(row["user_id"])] = row
    return rows
