"""``skewless demo``: the news feed end to end on embedded defaults, then an HTML report.

1. generate a platform whose last day ends now (so windows online have data), hold back its last
   minutes as the live stream;
2. a feature repo from examples/newsfeed; the history loaded as production would have (events,
   articles ingested with the real embedding model, user-profile jobs on their schedule);
3. tiles from the history (backfill) and the latest snapshot rows (materialize);
4. a ranking model trained on point-in-time features, against a popularity baseline and a leaky
   as-of-now join, on a later time split;
5. live: the held-back events pushed in real time while ``/rank`` answers slates, measuring latency
   and freshness (push -> readable online);
6. ``skew-check``, a short in-process load test, and the report in ``reports/``.
"""

from __future__ import annotations

import json
import pickle
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console

from skewless.demo.feed import TIMESTAMP
from skewless.demo.report import Report
from skewless.demo.simulate import Platform, SimConfig, generate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "newsfeed"
LIVE_MINUTES = 10
LIVE_SECONDS = 20.0  # the held-back minutes are replayed over this long, while /rank serves
SLATE = 50
AUCS = ("auc_model", "auc_popularity", "auc_popularity_ctr", "auc_leaky_offline", "auc_leaky_pit")


@dataclass
class DemoRun:
    workdir: Path
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds
    counts: dict[str, int] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    rank_ms: list[float] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    freshness: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the live phase, push -> visible ms)


def run_demo(
    workdir: Path,
    *,
    reports: Path = Path("reports"),
    scale: float = 1.0,
    seed: int = 20260302,
    days: int = 14,
    console: Console | None = None,
) -> Path:
    """Run every step in ``workdir`` (a fresh feature repo); returns the report's path (in ``reports``)."""
    out = console or Console()
    demo = DemoRun(workdir)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    config = SimConfig(scale=scale, seed=seed, days=days, start=now - timedelta(days=days))

    with _step(demo, "generate", out):
        platform = generate(config)
    live_from = _live_start(platform, now - timedelta(minutes=LIVE_MINUTES))
    history, live = _split(platform, live_from)
    demo.counts.update(users=platform.users.num_rows, articles=platform.articles.num_rows, history_events=history.impressions.num_rows)
    demo.counts["live_events"] = live.num_rows

    with _step(demo, "apply", out):
        store = _repo(workdir)
        store.apply()
    with _step(demo, "load history (events, article ingestion with MiniLM, profile jobs)", out):
        from skewless.demo.nlp import Embedder
        from skewless.demo.pipeline import load_platform

        load_platform(store, history, Embedder(), progress=False)
    with _step(demo, "backfill tiles and materialize", out):
        store.materialize(config.start, now, progress=False)
    with _step(demo, "train and evaluate (PIT vs popularity vs leaky)", out):
        from skewless.demo.model import evaluate

        evaluation, model = evaluate(store, history.impressions, start=config.start, end=live_from, split_at=live_from - timedelta(days=2))
        (store.repo_path / "models").mkdir(exist_ok=True)
        (store.repo_path / "models" / "ranker.pkl").write_bytes(pickle.dumps(model))
    demo.numbers["evaluation"] = evaluation
    with _step(demo, "live: push events while /rank answers", out):
        _live(store, platform, live, demo)
    with _step(demo, "skew check", out):
        report = store.skew_check(samples=200)
    demo.numbers["skew_checked"] = sum(s.checked for s in report)
    demo.numbers["skew_mismatches"] = sum(s.mismatches for s in report)
    with _step(demo, "load test (in-process reads)", out):
        _load_test(store, platform, demo)
    with _step(demo, "report", out):
        path = _report(demo, evaluation, _feature_sample(store, history), reports)
    store.close()
    out.print(f"[bold]report:[/bold] {path}")
    return path


class _step:
    def __init__(self, demo: DemoRun, name: str, console: Console) -> None:
        self.demo, self.name, self.console = demo, name, console

    def __enter__(self) -> None:
        self.console.print(f"[cyan]→[/cyan] {self.name} ...")
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self.started
        self.demo.steps[self.name] = seconds
        if exc[0] is None:
            self.console.print(f"  done in {seconds:.1f} s")


def _live_start(platform: Platform, default: datetime, at_least: int = 500) -> datetime:
    """The last LIVE_MINUTES, or earlier on a small platform: enough events for the live phase to show something."""
    times = np.sort(platform.impressions["event_timestamp"].cast(pa.int64()).to_numpy())
    if len(times) <= at_least:
        return default
    earliest = datetime.fromtimestamp(int(times[-at_least]) / 1_000_000, tz=UTC)
    return min(default, earliest)


def _split(platform: Platform, live_from: datetime) -> tuple[Platform, pa.Table]:
    """The history (what happened before the live phase) and the held-back live events."""
    cut = pa.scalar(int(live_from.timestamp() * 1_000_000), pa.int64()).cast(TIMESTAMP)
    times = platform.impressions["event_timestamp"]
    history = Platform(platform.config, platform.users, platform.articles, platform.impressions.filter(pc.less(times, cut)))
    return history, platform.engagement_events.filter(pc.greater_equal(platform.engagement_events["event_timestamp"], cut))


def _repo(workdir: Path) -> Any:
    from skewless import FeatureStore

    repo = workdir / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    config = repo / "skewless.yaml"
    config.write_text(config.read_text() + "\nserving:\n  rank_model: models/ranker.pkl\n")
    return FeatureStore(repo)


def _live(store: Any, platform: Platform, live: pa.Table, demo: DemoRun) -> None:
    """Push the live events in time order, chunk by chunk, while ranking slates for live readers."""
    from starlette.testclient import TestClient

    from skewless.serving import create_app

    rows = live.sort_by("event_timestamp").to_pylist()
    size = max(1, min(200, len(rows) // 40))  # ~40 pushes or more, of at most 200 events
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]
    stop = threading.Event()
    started = time.perf_counter()
    pace = LIVE_SECONDS / max(1, len(chunks))

    def pusher() -> None:
        for i, chunk in enumerate(chunks):
            time.sleep(max(0.0, started + i * pace - time.perf_counter()))
            if not chunk:
                continue
            pushed = time.perf_counter()
            store.push("engagement_events", chunk)  # synchronous: readable once it returns
            demo.freshness.append((pushed - started, (time.perf_counter() - pushed) * 1000))
        stop.set()

    thread = threading.Thread(target=pusher, name="demo-live-events")
    users = platform.users["user_id"].to_numpy()
    recent = _recent_articles(platform)
    rng = np.random.default_rng(7)
    with TestClient(create_app(store)) as client:
        thread.start()
        while not stop.is_set() or len(demo.rank_ms) < 50:
            body = _slate(rng, users, recent)
            t0 = time.perf_counter()
            response = client.post("/rank", json=body)
            demo.rank_ms.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"/rank answered {response.status_code}: {response.text}")
            if len(demo.rank_ms) >= 5_000:
                break
        thread.join()


def _recent_articles(platform: Platform) -> np.ndarray:
    published = platform.articles["published_at"].cast(pa.int64()).to_numpy()
    ids = platform.articles["article_id"].to_numpy()
    recent: np.ndarray = ids[np.argsort(-published)[: max(SLATE * 4, 200)]]
    return recent


def _slate(rng: np.random.Generator, users: np.ndarray, recent: np.ndarray) -> dict[str, Any]:
    return {
        "user_id": int(rng.choice(users)),
        "candidates": [int(a) for a in rng.choice(recent, size=min(SLATE, len(recent)), replace=False)],
        "context": {"device": str(rng.choice(["ios", "android", "web"])), "country": "FR", "utc_offset_minutes": 60},
    }


def _load_test(store: Any, platform: Platform, demo: DemoRun, slates: int = 500) -> None:
    users = platform.users["user_id"].to_numpy()
    recent = _recent_articles(platform)
    rng = np.random.default_rng(11)
    for i in range(slates + 50):
        body = _slate(rng, users, recent)
        rows = {"user_id": [body["user_id"]] * len(body["candidates"]), "article_id": body["candidates"]}
        t0 = time.perf_counter()
        store.get_online_features("ranker", rows, body["context"])
        if i >= 50:  # after a warm-up
            demo.read_ms.append((time.perf_counter() - t0) * 1000)


def _feature_sample(store: Any, history: Platform, rows: int = 3_000) -> pa.Table:
    """A few features at the times of a sample of impressions, for their distributions."""
    labels = history.impressions.select(["user_id", "article_id", "event_timestamp"])
    take = np.random.default_rng(3).choice(labels.num_rows, size=min(rows, labels.num_rows), replace=False)
    features = ["user_engagement:ctr_7d", "user_engagement:impressions_24h", "article_popularity:article_views_1h"]
    table: pa.Table = store.get_historical_features(labels.take(pa.array(np.sort(take))), features, output="arrow")
    return table


def _report(demo: DemoRun, evaluation: Any, sample: pa.Table, reports: Path) -> Path:
    report = Report("Skewless: the news feed end to end")
    report.add_text(
        "What ran",
        [
            f"{demo.counts['users']:,} readers, {demo.counts['articles']:,} articles, {demo.counts['history_events']:,} historical "
            f"events and {demo.counts['live_events']:,} live events pushed while serving. Everything on embedded defaults "
            "(SQLite registry, Delta tables, LMDB online store); the article embeddings come from all-MiniLM-L6-v2.",
        ],
    )
    report.add_table("Steps", [{"step": name, "seconds": round(seconds, 2)} for name, seconds in demo.steps.items()])
    report.add_bars(
        "AUC on the later time split",
        {
            "model (PIT)": evaluation.auc_model,
            "popularity": evaluation.auc_popularity,
            "leaky, its own view": evaluation.auc_leaky_offline,
            "leaky, as served": evaluation.auc_leaky_pit,
        },
        y_label="AUC",
        note=(
            f"Trained on {evaluation.train_rows:,} impressions, tested on {evaluation.test_rows:,} later ones. The leaky model "
            "was trained on an as-of-now join; it looks better on its own leaky features than it does on the point-in-time "
            "features it would be served."
        ),
    )
    report.add_table(
        "Ranking model",
        [
            {"model": "PIT-trained, PIT features (as served)", "AUC": evaluation.auc_model},
            {"model": "popularity: article views in the last hour", "AUC": evaluation.auc_popularity},
            {"model": "popularity: smoothed CTR in the last hour", "AUC": evaluation.auc_popularity_ctr},
            {"model": "leaky-trained, leaky features (its offline view)", "AUC": evaluation.auc_leaky_offline},
            {"model": "leaky-trained, PIT features (as it would be served)", "AUC": evaluation.auc_leaky_pit},
        ],
    )
    report.add_histogram("/rank latency during the live phase (in-process HTTP client)", demo.rank_ms, unit="ms")
    report.add_histogram("Feature read latency, 1 user + 50 articles (in-process)", demo.read_ms, unit="ms")
    if demo.freshness:
        xs = [x for x, _ in demo.freshness]
        report.add_series("Freshness: push to readable online", xs, {"ms": [y for _, y in demo.freshness]}, x_label="seconds", y_label="ms")
    report.add_table(
        "Skew check (online tiles vs get_historical_features)",
        [{"values checked": demo.numbers["skew_checked"], "mismatches": demo.numbers["skew_mismatches"]}],
    )
    for name, unit in (("ctr_7d", "CTR"), ("impressions_24h", "impressions"), ("article_views_1h", "views")):
        values = pc.drop_null(sample[name]).to_numpy()
        report.add_histogram(f"Distribution of {name} at impression time (training features)", values.tolist(), unit=unit)
    path = reports / f"demo-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.html"
    summary = {
        "steps_seconds": demo.steps,
        "counts": demo.counts,
        "auc": {
            k: getattr(evaluation, k) for k in ("auc_model", "auc_popularity", "auc_popularity_ctr", "auc_leaky_offline", "auc_leaky_pit")
        },
        "skew": {"checked": demo.numbers["skew_checked"], "mismatches": demo.numbers["skew_mismatches"]},
        "rank_ms_p50_p99": _percentiles(demo.rank_ms),
        "read_ms_p50_p99": _percentiles(demo.read_ms),
        "freshness_ms_p50_p99": _percentiles([ms for _, ms in demo.freshness]),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    return report.write(path)


def _percentiles(values: list[float]) -> list[float] | None:
    return [round(float(np.percentile(values, q)), 3) for q in (50, 99)] if values else None
