#!/usr/bin/env python
"""Stream ingestion: events/s of one stream worker, freshness at a fixed rate, and a hot key.

What it does, on a private redis-server it starts on 127.0.0.1 (``tests/servers.py``) and a
temporary feature repo per measurement:

* Source ``engagement_events`` (the news-feed one: event id, user, article, position, clicked,
  liked, shared, dwell, device) and two windowed views over it, as in ``examples/newsfeed``:
  ``user_engagement`` (user-keyed: impressions/clicks over 1h/24h/7d/30d, likes/shares over
  24h/7d/30d, mean dwell 24h/7d, 4 CTRs) and ``article_popularity`` (article-keyed: views/clicks
  over 10m/1h, shares 1h, 2 CTRs). Every event updates both views.
* Events are generated deterministically (numpy seed): users Zipf-like over ``--users``,
  articles over ``--articles``, event times within the last minute, unique event ids.

Measurements (each on a fresh repo; the online store is the embedded LMDB one or the same
redis-server the bus uses):

1. **saturation**: ``--events`` events are published to the bus first (1 partition), then one
   worker drains them; events/s = events / drain time. ``inprocess`` runs ``StreamWorker`` in this
   process, timed from the end of its first batch (which pays the imports of pandas & co.) to the
   last; ``subprocess`` runs ``skewless stream`` and times from the first drop of the bus lag to zero
   lag (its start-up is not counted, its first batch is).
2. **freshness**: a producer process publishes at ``--rate`` events/s (every 10 ms a slice) for
   ``--freshness-seconds``, while one worker consumes; freshness is the worker's own metric, per
   batch: now - bus arrival of the batch's *oldest* entry, after the tiles are written (so it is the
   worst event of each batch). p50/p99 over the batches after a 2 s warm-up.
3. **hot key**: saturation again, but one article receives ``--hot-fraction`` of all events
   (breaking news); reports events/s, dead letters and worker errors, and checks the hot article's
   ``article_views_1h`` equals the number of its events.

Every run of this script on the shared machine should be wrapped in
``flock /tmp/skewless-bench.lock``, e.g.::

    flock /tmp/skewless-bench.lock .venv/bin/python bench/stream_ingest.py --json bench/results/stream_ingest.json

``--quick`` is a smoke test (20k events, 5 s of freshness); ``--only saturation,hot`` and
``--stores embedded`` narrow a run; ``--profile`` cProfiles the in-process saturation runs (and, on
Redis, reports the server's time in the tile script).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from skewless.config import StreamingConfig

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

S = 1_000_000
TARGET_EVENTS_PER_S = 30_000
TARGET_FRESHNESS_P99_MS = 1_000

REPO_DEFINITIONS = """
from skewless import Aggregation, Entity, FeatureView, Field, Float32, Int64, Ratio, StreamSource, String

user = Entity(name="user", join_keys=["user_id"], dtype=Int64)
article = Entity(name="article", join_keys=["article_id"], dtype=Int64)
engagement_events = StreamSource(
    name="engagement_events",
    schema=[
        Field(name="event_id", dtype=String),
        Field(name="user_id", dtype=Int64),
        Field(name="article_id", dtype=Int64),
        Field(name="position", dtype=Int64),
        Field(name="clicked", dtype=Int64),
        Field(name="liked", dtype=Int64),
        Field(name="shared", dtype=Int64),
        Field(name="dwell_seconds", dtype=Float32),
        Field(name="device", dtype=String),
    ],
    event_id_field="event_id",
)
WINDOWS = ["1h", "24h", "7d", "30d"]
user_engagement = FeatureView(
    name="user_engagement",
    entities=[user],
    source=engagement_events,
    aggregations=[
        Aggregation("clicked", "count", windows=WINDOWS, name="impressions_{window}"),
        Aggregation("clicked", "sum", windows=WINDOWS, name="clicks_{window}"),
        Aggregation("liked", "sum", windows=["24h", "7d", "30d"], name="likes_{window}"),
        Aggregation("shared", "sum", windows=["24h", "7d", "30d"], name="shares_{window}"),
        Aggregation("dwell_seconds", "mean", windows=["24h", "7d"], name="mean_dwell_{window}"),
    ],
    ratios=[Ratio(f"ctr_{w}", f"clicks_{w}", f"impressions_{w}") for w in WINDOWS],
)
article_popularity = FeatureView(
    name="article_popularity",
    entities=[article],
    source=engagement_events,
    aggregations=[
        Aggregation("clicked", "count", windows=["10m", "1h"], name="article_views_{window}"),
        Aggregation("clicked", "sum", windows=["10m", "1h"], name="article_clicks_{window}"),
        Aggregation("shared", "sum", windows=["1h"], name="article_shares_{window}"),
    ],
    ratios=[
        Ratio("article_ctr_10m", "article_clicks_10m", "article_views_10m"),
        Ratio("article_ctr_1h", "article_clicks_1h", "article_views_1h"),
    ],
)
"""


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- servers and repos -------------------------------------------------------------------------------


def start_redis(data_dir: Path) -> Any:
    """A private redis-server from ``tests/servers.py`` (free port, no persistence)."""
    spec = importlib.util.spec_from_file_location("skewless_test_servers", ROOT / "tests" / "servers.py")
    assert spec is not None and spec.loader is not None
    servers = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = servers
    spec.loader.exec_module(servers)
    return servers.start_redis(data_dir)


def make_repo(path: Path, redis_url: str, online: str, batch_size: int) -> Any:
    from skewless import FeatureStore

    path.mkdir(parents=True)
    online_yaml = f"online_store:\n  type: redis\n  url: {redis_url}\n" if online == "redis" else ""
    (path / "skewless.yaml").write_text(
        f"project: {path.name}\n{online_yaml}streaming:\n  bus_url: {redis_url}\n  partitions: 1\n  batch_size: {batch_size}\n"
    )
    (path / "features.py").write_text(REPO_DEFINITIONS)
    namespace: dict[str, Any] = {}
    exec(compile(REPO_DEFINITIONS, str(path / "features.py"), "exec"), namespace)
    store = FeatureStore(path)
    store.apply([namespace[n] for n in ("user", "article", "engagement_events", "user_engagement", "article_popularity")])
    return store


# -- events ------------------------------------------------------------------------------------------


def make_events(
    n: int, *, users: int, articles: int, first_id: int = 0, hot_fraction: float = 0.0, seed: int = 20250101
) -> list[dict[str, Any]]:
    """``n`` engagement events with times in the last minute (none late), ids ``e<first_id + i>``."""
    rng = np.random.default_rng(seed + first_id)
    now = time.time()
    user = (rng.zipf(1.3, n) % users) + 1
    article = (rng.zipf(1.2, n) % articles) + 1
    if hot_fraction:
        article = np.where(rng.random(n) < hot_fraction, 0, article)  # article 0: breaking news
    clicked = (rng.random(n) < 0.12).astype(np.int64)
    liked = (clicked & (rng.random(n) < 0.2)).astype(np.int64)
    shared = (clicked & (rng.random(n) < 0.05)).astype(np.int64)
    dwell = np.round(rng.gamma(2.0, 20.0, n), 2)
    position = rng.integers(0, 50, n)
    age = rng.random(n) * 60
    devices = np.array(["ios", "android", "web"])[rng.integers(0, 3, n)]
    return [
        {
            "event_id": f"e{first_id + i}",
            "user_id": int(user[i]),
            "article_id": int(article[i]),
            "position": int(position[i]),
            "clicked": int(clicked[i]),
            "liked": int(liked[i]),
            "shared": int(shared[i]),
            "dwell_seconds": float(dwell[i]) if clicked[i] else None,
            "device": str(devices[i]),
            "event_timestamp": datetime.fromtimestamp(now - age[i], tz=UTC).isoformat(),
        }
        for i in range(n)
    ]


def publish(store: Any, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 20_000):
        store.publish("engagement_events", events[i : i + 20_000])


def lag(store: Any) -> int:
    bus = store.event_bus()
    try:
        return int(sum(bus.lag("engagement_events").values()))
    finally:
        bus.close()


# -- measurements ------------------------------------------------------------------------------------


def saturation_inprocess(store: Any, n: int, *, profile: Path | None = None) -> dict[str, Any]:
    worker = store.stream_worker("engagement_events", [0])
    after_first: list[tuple[float, int]] = []  # (time, events) when the first batch was done

    def stop() -> bool:
        return worker.stats.events >= n

    original = worker.process

    def timed(partition: int, *, block_ms: int = 0) -> int:
        count = original(partition, block_ms=block_ms)
        if count and not after_first:
            after_first.append((time.perf_counter(), worker.stats.events))
        return count

    worker.process = timed  # type: ignore[method-assign]
    profiler = cProfile.Profile() if profile else None
    cpu = time.process_time()
    if profiler:
        profiler.enable()
    stats = worker.run(stop=stop, block_ms=100)
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile))
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(25)
        client = getattr(store.online.store, "client", None)
        if client is not None:  # Redis: its own time in the tile script, which the profile only sees as waiting
            stats_of = client.info("commandstats").get("cmdstat_evalsha", {})
            print(
                f"redis evalsha: {stats_of.get('calls')} calls, {stats_of.get('usec', 0) / 1e6:.2f} s, {stats_of.get('usec_per_call')} µs/call"
            )
    ended = time.perf_counter()
    started, first_events = after_first[0]
    elapsed = ended - started
    return {
        "mode": "inprocess",
        "events": stats.events,
        "events_timed": stats.events - first_events,
        "applied_online": stats.applied,
        "dead_letters": stats.dead_letters,
        "batches": stats.batches,
        "seconds": round(elapsed, 3),
        "events_per_s": round((stats.events - first_events) / elapsed),
        "worker_cpu_seconds": round(time.process_time() - cpu, 3),
    }


def saturation_subprocess(store: Any, repo: Path, n: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "skewless.cli", "--repo", str(repo), "stream", "engagement_events", "--idle-exit", "1"]
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    started = None
    total = lag(store)
    while True:
        remaining = lag(store)
        if started is None and remaining < total:
            started = time.perf_counter()
        if remaining == 0:
            break
        if worker.poll() is not None:
            break
        time.sleep(0.02)
    ended = time.perf_counter()
    output, _ = worker.communicate(timeout=120)
    if worker.returncode != 0:
        raise RuntimeError(f"skewless stream failed:\n{output.decode()}")
    elapsed = ended - (started or ended)
    return {"mode": "subprocess", "events": n, "seconds": round(elapsed, 3), "events_per_s": round(n / elapsed) if elapsed else None}


def _producer(url: str, project: str, rate: int, seconds: float, users: int, articles: int, ready: Any) -> None:
    """Publish ``rate`` events/s for ``seconds``, a slice every 10 ms, each event timed when sent."""
    from skewless.streaming.redis_bus import RedisStreamBus

    bus = RedisStreamBus(url, project=project, partitions=1)
    per_tick, tick = max(1, rate // 100), 0.01
    pool = make_events(per_tick * int(seconds * 100) + per_tick, users=users, articles=articles, first_id=10_000_000)
    ready.set()
    started = time.perf_counter()
    for i in range(int(seconds * 100)):
        wait = started + i * tick - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        chunk = pool[i * per_tick : (i + 1) * per_tick]
        now = datetime.now(UTC).isoformat()
        for event in chunk:
            event["event_timestamp"] = now
        bus.publish("engagement_events", chunk, event_id_field="event_id")
    bus.close()


def freshness(store: Any, redis_url: str, rate: int, seconds: float, users: int, articles: int) -> dict[str, Any]:
    worker = store.stream_worker("engagement_events", [0])
    ready = mp.get_context("spawn").Event()
    producer = mp.get_context("spawn").Process(target=_producer, args=(redis_url, store.project, rate, seconds, users, articles, ready))
    producer.start()
    ready.wait(120)
    warm_until = time.monotonic() + 2.0
    samples: list[float] = []
    stats = worker.stats

    def stop() -> bool:
        if time.monotonic() < warm_until:
            stats.freshness_ms.clear()
        else:
            samples.extend(stats.freshness_ms)
            stats.freshness_ms.clear()
        return not producer.is_alive() and lag(store) == 0

    started = time.perf_counter()
    worker.run(stop=stop, block_ms=50)
    elapsed = time.perf_counter() - started
    producer.join()
    values = np.array(samples)
    return {
        "rate": rate,
        "seconds": seconds,
        "events": stats.events,
        "dead_letters": stats.dead_letters,
        "batches_measured": len(samples),
        "events_per_s_achieved": round(stats.events / elapsed),
        "freshness_p50_ms": round(float(np.percentile(values, 50)), 1) if len(values) else None,
        "freshness_p99_ms": round(float(np.percentile(values, 99)), 1) if len(values) else None,
        "freshness_max_ms": round(float(values.max()), 1) if len(values) else None,
    }


def hot_key_check(store: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    from skewless.online.keys import entity_key, key_prefix
    from skewless.online.tile_keys import tile_tag
    from skewless.online.tile_reads import TiledView, read_windows

    view = store.get_feature_view("article_popularity")
    tiled = TiledView.of(view, history_seconds=store.config.streaming.tile_history_seconds)
    tag = tile_tag(entity_key(key_prefix(store.project, view.name, view.version), [0]))
    got = read_windows(store.online.store, tiled, [tag], time.time_ns() // 1000 + S)[0]["article_views_1h"]
    expected = sum(1 for e in events if e["article_id"] == 0)
    return {"hot_article_events": expected, "hot_article_views_1h_online": got, "hot_article_exact": got == expected}


# -- main --------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "redis_server": redis_version,
        "git": git,
        "loadavg_at_start": os.getloadavg(),
    }


@contextlib.contextmanager
def workspace(keep: str | None) -> Iterator[Path]:
    path = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="skewless-stream-bench-"))
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="events drained per saturation run (default 200,000)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=StreamingConfig().batch_size,
        help=f"streaming.batch_size: the most events per worker batch (default: skewless' own, {StreamingConfig().batch_size:,})",
    )
    parser.add_argument("--users", type=int, default=100_000, help="distinct users (Zipf-like activity; default 100,000)")
    parser.add_argument("--articles", type=int, default=5_000, help="distinct articles (default 5,000)")
    parser.add_argument("--rate", type=int, default=10_000, help="producer rate of the freshness run, events/s (default 10,000)")
    parser.add_argument("--freshness-seconds", type=float, default=20.0, help="length of the freshness run (default 20)")
    parser.add_argument("--hot-fraction", type=float, default=0.5, help="share of events for the hot article (default 0.5)")
    parser.add_argument("--stores", default="embedded,redis", help="online stores to measure: embedded, redis (default both)")
    parser.add_argument("--only", default="saturation,subprocess,freshness,hot", help="measurements to run (default all four)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 20k events, 5 s of freshness")
    parser.add_argument("--profile", help="cProfile the in-process saturation runs into PROFILE.<store> (prints the top)")
    parser.add_argument("--workdir", help="keep repos and logs here (default: a temporary folder, removed)")
    parser.add_argument("--json", help="write the results here as JSON")
    args = parser.parse_args()
    if args.quick:
        args.events, args.freshness_seconds = min(args.events, 20_000), min(args.freshness_seconds, 5.0)
    stores, only = args.stores.split(","), set(args.only.split(","))
    results: dict[str, Any] = {
        "benchmark": "stream_ingest",
        "started": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "config": {k: v for k, v in vars(args).items() if k not in ("json", "workdir", "profile")},
        "saturation": {},
        "freshness": {},
        "hot_key": {},
    }
    with workspace(args.workdir) as work:
        (work / "redis").mkdir(exist_ok=True)
        redis = start_redis(work / "redis")
        try:
            events = make_events(args.events, users=args.users, articles=args.articles)
            for online in stores:
                runs = [m for m in ("saturation", "subprocess") if m in only]
                for mode in runs:
                    store = make_repo(work / f"sat_{online}_{mode}", redis.url, online, args.batch_size)
                    publish(store, events)
                    log(f"saturation {online} {mode}: {len(events):,} events on the bus")
                    if mode == "saturation":
                        profile = Path(f"{args.profile}.{online}") if args.profile else None
                        result = saturation_inprocess(store, len(events), profile=profile)
                    else:
                        result = saturation_subprocess(store, work / f"sat_{online}_{mode}", len(events))
                    results["saturation"][f"{online}/{result['mode']}"] = result
                    log(f"  {result}")
                    store.close()
                if "freshness" in only:
                    store = make_repo(work / f"fresh_{online}", redis.url, online, args.batch_size)
                    log(f"freshness {online}: {args.rate:,} events/s for {args.freshness_seconds} s")
                    result = freshness(store, redis.url, args.rate, args.freshness_seconds, args.users, args.articles)
                    results["freshness"][online] = result
                    log(f"  {result}")
                    store.close()
                if "hot" in only:
                    hot = make_events(
                        args.events, users=args.users, articles=args.articles, hot_fraction=args.hot_fraction, first_id=5_000_000
                    )
                    store = make_repo(work / f"hot_{online}", redis.url, online, args.batch_size)
                    publish(store, hot)
                    log(f"hot key {online}: {args.hot_fraction:.0%} of {len(hot):,} events on one article")
                    errors: list[str] = []
                    try:
                        result = saturation_inprocess(store, len(hot))
                    except Exception as exc:  # a failure is a result here: report it
                        errors.append(repr(exc))
                        result = {}
                    result.update(hot_key_check(store, hot), errors=errors)
                    results["hot_key"][online] = result
                    log(f"  {result}")
                    store.close()
        finally:
            redis.stop()
    summarize(results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    return 0


def summarize(results: dict[str, Any]) -> None:
    print("\nsaturation (one worker, events/s):")
    for key, r in results["saturation"].items():
        met = "MET " if (r.get("events_per_s") or 0) >= TARGET_EVENTS_PER_S else "MISS"
        print(
            f"  {met} {key}: {r.get('events_per_s')} events/s ({r['events']:,} events in {r['seconds']} s; target {TARGET_EVENTS_PER_S:,})"
        )
    print("freshness (bus arrival -> online, per batch, oldest event):")
    for key, r in results["freshness"].items():
        met = "MET " if (r.get("freshness_p99_ms") or 1e9) < TARGET_FRESHNESS_P99_MS else "MISS"
        print(
            f"  {met} {key}: p50 {r['freshness_p50_ms']} ms, p99 {r['freshness_p99_ms']} ms at {r['rate']:,}/s (kept up: {r['events_per_s_achieved']:,}/s)"
        )
    print("hot key:")
    for key, r in results["hot_key"].items():
        print(
            f"  {key}: {r.get('events_per_s')} events/s, dead letters {r.get('dead_letters')}, errors {r['errors']}, exact {r['hot_article_exact']}"
        )


if __name__ == "__main__":
    sys.exit(main())
