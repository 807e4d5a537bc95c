#!/usr/bin/env python
"""Online retrieval latency: the news-feed ranker's slates from skewless (in-process and HTTP) and Feast.

What it does, in one run, on one data set and one redis-server:

1. Applies the news-feed example repo (``examples/newsfeed``, copied under ``--workdir``) plus one
   bench service, ``ranker_full``: every feature of the four online views (user engagement
   aggregates, user topics + 384-dim embedding, article metadata + 384-dim content embedding,
   article popularity) and the two on-demand views (context, user x article cross features), 45
   outputs. The example's own ``ranker`` service (38 outputs: it reads the embeddings for the cross
   features but does not return them) is measured too.
2. Generates the rows deterministically (``online_data.py``: numpy seed; default 1M users, 50k
   articles) and writes them straight into the online stores with skewless' key layout and row
   codec (``codec_for`` + ``OnlineStore.put_many``): the embedded LMDB store and Redis. The two
   windowed views (``user_engagement``, ``article_popularity``) are read from tiles: engagement
   events of the slates' users and articles, as of now, go to the offline store and ``backfill``
   builds the tiles in both stores, every run (``--windows precomputed`` writes rows instead, as
   before 294418d; skewless no longer reads them). Feast reads precomputed rows for those views.
3. In-process: times ``store.online.get(service, columns, request_context, full_feature_names=True)``
   per slate (1 user + 50 articles, users Zipf-like over all users, articles over all articles),
   single thread, after a warm-up: p50/p90/p99/p99.9 and slates/s, embedded and Redis. The
   embedded store's file is first dropped from the page cache and read in, as a starting host does.
4. HTTP: ``skewless serve`` (1 worker, Redis) in a subprocess, loaded by ``http_load.py`` in another
   process (keep-alive connections): saturation throughput with 8 closed-loop connections, then
   latency with open-loop pacing at half of it (and at 1,000/s for msgpack when the server can take
   it); msgpack (``?format=msgpack``) and Feast's JSON, both services, serving cache off
   (``cache_staleness_ms: 0``) and on (1000 ms), with the hit rate and failed store reads from /metrics.
5. Feast (``bench/.venv-feast``, ``feast_online.py``): the same four views on the same redis-server
   (Feast's own key layout), written with ``write_to_online_store`` from the same generated rows, and
   the two on-demand views ported to Feast's ``mode="python"``. ``get_online_features(...).to_dict()``
   is timed for the same slates asking for exactly the outputs of each skewless service (and for the
   stored features only, no on-demand views), and ``feast serve`` (1 worker) is loaded like
   skewless'. Values are compared on a few slates, and skewless/Feast ratios printed.

Quick run: ``.venv/bin/python bench/online_latency.py --quick`` (20k users, 5k articles, short
phases). ``--json PATH`` writes every number with the machine's description. Full size with
``--workdir DIR`` keeps the data (and a Redis snapshot), so ``--reuse`` re-measures without
rewriting it; ``--wait-idle MIN`` waits for the machine to be idle before measuring.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import itertools
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import online_data as data  # noqa: E402

FEAST_PYTHON = BENCH / ".venv-feast" / "bin" / "python"
FEAST_CLI = BENCH / ".venv-feast" / "bin" / "feast"
SKEWLESS_CLI = Path(sys.executable).parent / "skewless"
PROJECT = "newsfeed"
SERVICES = ("ranker_full", "ranker")

BENCH_SERVICES = '''"""Benchmark-only service: the whole news-feed feature set, embeddings included, in one response."""

from article_features import article_metadata, article_popularity
from cross_features import context_features, user_article_cross
from user_features import user_engagement, user_profile

from skewless import FeatureService

ranker_full = FeatureService(
    name="ranker_full",
    description="Every feature of the four online views and both on-demand views.",
    features=[user_engagement, user_profile, article_metadata, article_popularity, context_features, user_article_cross],
)
'''


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- machine --------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    import lmdb
    import redis

    import skewless

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    meminfo = {k: int(v) * 1024 for k, v in (line.split()[:2] for line in Path("/proc/meminfo").read_text().splitlines()[:3])}
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    feast_version = None
    if FEAST_PYTHON.exists():
        feast_version = subprocess.run(
            [str(FEAST_PYTHON), "-c", "import feast; print(feast.__version__)"], capture_output=True, text=True
        ).stdout.strip()
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_bytes": meminfo.get("MemTotal:"),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "skewless": getattr(skewless, "__version__", "?"),
        "skewless_git": git_state(),
        "redis_server": redis_version,
        "redis_py": redis.__version__,
        "hiredis": _version("hiredis"),
        "lmdb": lmdb.__version__,
        "numpy": np.__version__,
        "uvicorn": _version("uvicorn"),
        "uvloop": _version("uvloop"),
        "feast": feast_version,
    }


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return None


def git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "skewless"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def other_benchmarks() -> list[str]:
    """Command lines of other benchmark processes (they would skew every number)."""
    me = {os.getpid(), os.getppid()}
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in me:
            continue
        with contextlib.suppress(OSError):
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            if any(name in cmd for name in ("offline_pit.py", "feast_offline.py")) or ("online_latency.py" in cmd and "python" in cmd):
                found.append(f"{proc.name}: {cmd[:120]}")
    return found


def load_state() -> dict[str, Any]:
    return {"loadavg": list(os.getloadavg()), "other_benchmarks": other_benchmarks()}


def wait_for_idle(minutes: float, threshold: float) -> dict[str, Any]:
    deadline = time.monotonic() + minutes * 60
    waited = 0.0
    started = time.monotonic()
    while True:
        state = load_state()
        if state["loadavg"][0] < threshold and not state["other_benchmarks"]:
            return {**state, "idle": True, "waited_seconds": time.monotonic() - started}
        if time.monotonic() > deadline:
            log(f"machine still busy after {minutes:.0f} min (load {state['loadavg'][0]:.2f}); measuring anyway")
            return {**state, "idle": False, "waited_seconds": time.monotonic() - started}
        if waited == 0.0:
            log(f"waiting for an idle machine (load {state['loadavg'][0]:.2f}, other benchmarks: {len(state['other_benchmarks'])})")
        time.sleep(20)
        waited += 20


# -- servers ---------------------------------------------------------------------------------------


def start_redis(data_dir: Path) -> Any:
    """A private redis-server (``tests/servers.py``) keeping its snapshot in ``data_dir``: it loads
    ``dump.rdb`` from there if present (``--reuse``), and ``SAVE`` writes it there."""
    spec = importlib.util.spec_from_file_location("skewless_test_servers", ROOT / "tests" / "servers.py")
    assert spec is not None and spec.loader is not None
    servers = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = servers
    spec.loader.exec_module(servers)
    servers._START_TIMEOUT = 900.0  # loading a multi-GB snapshot answers -LOADING for a while
    return servers._start_redis_node(data_dir, ["--save", "", "--appendonly", "no", "--dbfilename", "dump.rdb", *servers.REDIS_SETTINGS])


def redis_cli(port: int, *args: str, timeout: float = 900) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=timeout, check=True).stdout.strip()


def read_in_like_a_serving_host(path: Path) -> dict[str, float]:
    """Put the embedded store's files in the page cache as a host that starts serving them has them:
    dropped, then read in sequentially (the prefault's path, skewless/online/prefault.py), which
    leaves them in large folios that the kernel maps 2 MB at a time. As this run's own writes and
    memory pressure (Redis, the generator, rebuilding the tiles) leave the file, it sits largely in
    4 KB pages, and slates read slower (p50 0.66-0.69 against 0.63-0.65 ms; docs/benchmarks.md).
    Each embedded phase reports how much of the mapping it read through 2 MB pages."""
    started, size = time.perf_counter(), 0
    for file in sorted(path.glob("*.mdb")):
        with open(file, "rb", buffering=0) as f:
            os.fsync(f.fileno())  # dirty pages cannot be dropped
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            while chunk := f.read(8 << 20):
                size += len(chunk)
    return {"bytes": size, "seconds": time.perf_counter() - started}


def mapped_through_2mb_pages(file: Path) -> float | None:
    """The share of this process's mapping of ``file`` that its page tables map in 2 MB pages
    (FilePmdMapped over Rss in /proc/self/smaps); None when the file is not mapped."""
    rss = pmd = 0
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
                inside = len(fields) == 6 and fields[5] == str(file.resolve())
            elif inside and fields[0] == "Rss:":
                rss += int(fields[1])
            elif inside and fields[0] == "FilePmdMapped:":
                pmd += int(fields[1])
    return pmd / rss if rss else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


@contextlib.contextmanager
def server_process(cmd: list[str], ready_url: str, log_path: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_http(ready_url, proc=proc)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: uvicorn / gunicorn and their workers
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# -- repo and data ---------------------------------------------------------------------------------


def write_config(repo: Path, redis_url: str, *, cache_staleness_ms: int = 0, port: int = 6566) -> None:
    (repo / "skewless.yaml").write_text(
        f"project: {PROJECT}\n"
        f"online_store: {{type: redis, url: '{redis_url}'}}\n"
        f"serving: {{port: {port}, workers: 1, store_timeout_ms: 50, cache_staleness_ms: {cache_staleness_ms}, "
        "cache_max_entries: 100000}\n"
    )


def setup_repo(workdir: Path, redis_url: str, *, keep_data: bool = False) -> Path:
    """The example repo under ``workdir`` (its ``data/``, registry and embedded store, kept with ``keep_data``)."""
    repo = workdir / "repo"
    if repo.exists() and not keep_data:
        shutil.rmtree(repo)
    shutil.copytree(ROOT / "examples" / "newsfeed", repo, ignore=shutil.ignore_patterns("data", "__pycache__"), dirs_exist_ok=True)
    (repo / "bench_services.py").write_text(BENCH_SERVICES)
    write_config(repo, redis_url)
    from skewless import FeatureStore

    with FeatureStore(repo) as store:
        store.apply()
    return repo


def open_store(repo: Path, backend: str, *, timeout_ms: int | None = None) -> Any:
    from skewless import FeatureStore
    from skewless.config import load_config

    config = load_config(repo / "skewless.yaml")
    if timeout_ms is not None:  # bulk writes: the serving timeout (50 ms) bounds every call, writes included
        config = config.model_copy(update={"serving": config.serving.model_copy(update={"store_timeout_ms": timeout_ms})})
    if backend == "embedded":
        from skewless.config import EmbeddedOnlineStoreConfig

        config = config.model_copy(update={"online_store": EmbeddedOnlineStoreConfig(type="embedded", path="data/online")})
    return FeatureStore(repo, config=config)


def write_skewless(repo: Path, users: int, articles: int, now_us: int, *, windows: str) -> dict[str, Any]:
    """Every generated row into both online stores, with skewless' keys and row codec. With
    ``windows="tiles"`` the windowed views get no rows (skewless reads them from tiles: see
    :func:`write_tiles`); with ``"precomputed"`` they get rows as before, which skewless no longer reads."""
    from skewless.online.read_plan import codec_for, stored_features

    stores = {"embedded": open_store(repo, "embedded"), "redis": open_store(repo, "redis", timeout_ms=60_000)}
    catalog_store = stores["redis"]
    timings: dict[str, dict[str, float]] = {b: {} for b in stores}
    for kind, count in (("user", users), ("article", articles)):
        views = []
        for name, (entity, key, schema) in data.VIEWS.items():
            if entity != kind or (windows == "tiles" and name in WINDOWED_VIEWS):
                continue
            view = catalog_store.get_feature_view(name)
            if list(stored_features(view)) != list(schema):
                raise SystemExit(f"{name}: the example's features {stored_features(view)} differ from the generator's {list(schema)}")
            prefix, codec = codec_for(PROJECT, view)
            views.append((name, key, list(schema), prefix, codec, view.ttl_seconds))
        started = time.perf_counter()
        for cols in data.entity_chunks(kind, count, now_us):
            for name, key, features, prefix, codec, ttl in views:
                columns = [cols[f] for f in features]
                items = [
                    (prefix + str(entity_id).encode(), codec.encode(ts, [c[i] for c in columns]))
                    for i, (entity_id, ts) in enumerate(zip(cols[key], cols["event_ts_us"], strict=True))
                ]
                for backend, store in stores.items():
                    t0 = time.perf_counter()
                    store.online.store.put_many(items, ttl_seconds=ttl)
                    timings[backend][name] = timings[backend].get(name, 0.0) + time.perf_counter() - t0
        log(f"skewless: wrote {count:,} {kind}s in {time.perf_counter() - started:.1f}s (generation and encoding included)")
    for store in stores.values():
        store.close()
    return {"put_many_seconds": timings}


WINDOWED_VIEWS = ("user_engagement", "article_popularity")
EVENT_SOURCE = "engagement_events"
TILES_MAX_AGE_S = 30 * 60  # older events leave windows (the 10-minute one first): regenerate them
RECENT_S = 15 * 60  # events this recent are pushed right before measuring (see write_tiles)


def clear_tiles(repo: Path) -> dict[str, int]:
    """Delete the windowed views' tiles, raw events, id guards and claims from both stores, and the
    events' offline table, so a regenerated set is the only data of those views (its event ids are the same
    as the last set's: the guards would refuse them)."""
    from skewless.online.id_claims import claim_key
    from skewless.online.keys import key_prefix

    prefixes = []
    with open_store(repo, "redis") as store:
        for name in WINDOWED_VIEWS:
            view = store.get_feature_view(name)
            prefixes.append(b"{" + key_prefix(PROJECT, view.name, view.version))
        prefixes.append(claim_key(PROJECT, EVENT_SOURCE, b""))  # pushed events' id claims
        redis_url = store.config.online_store.url
    deleted = {"embedded": 0, "redis": 0}
    with open_store(repo, "embedded") as store:
        online = store.online.store
        for prefix, tree in itertools.product(prefixes, (None, *online.trees)):  # rows, summaries; states; guards
            with online.env.begin(write=True) as txn:
                cursor = txn.cursor(db=tree)
                if cursor.set_range(prefix):
                    while cursor.key().startswith(prefix):
                        deleted["embedded"] += 1
                        if not cursor.delete():  # delete moves to the next key; False at the end
                            break
    import redis as redis_py

    client = redis_py.Redis.from_url(redis_url)
    for prefix in prefixes:
        batch: list[bytes] = []
        for key in client.scan_iter(match=prefix + b"*", count=10_000):
            batch.append(key)
            if len(batch) == 10_000:
                deleted["redis"] += client.unlink(*batch)
                batch = []
        if batch:
            deleted["redis"] += client.unlink(*batch)
    client.close()
    shutil.rmtree(repo / "data" / "offline" / EVENT_SOURCE, ignore_errors=True)
    return deleted


def write_tiles(repo: Path, slate_lists: list[list[dict[str, Any]]], users: int, articles: int) -> dict[str, Any]:
    """Engagement events of the slates' users and articles (``online_data.engagement_events``), as of
    now, into the offline store once, then ``backfill`` into the tiles of each online store: the
    path a deployment takes for history (the stream merges the same way, event by event)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    started = time.perf_counter()
    deleted = clear_tiles(repo)
    user_ids, article_ids = data.slate_entities(slate_lists)
    now_us = time.time_ns() // 1000
    ev = data.engagement_events(user_ids, article_ids, users, articles, now_us)
    table = pa.table(
        {
            "event_id": pa.array(ev["event_id"], pa.string()),
            "user_id": pa.array(ev["user_id"], pa.int64()),
            "article_id": pa.array(ev["article_id"], pa.int64()),
            "position": pa.array(ev["position"], pa.int64()),
            "clicked": pa.array(ev["clicked"], pa.int64()),
            "liked": pa.array(ev["liked"], pa.int64()),
            "shared": pa.array(ev["shared"], pa.int64()),
            "dwell_seconds": pa.array(ev["dwell_seconds"], pa.float32(), mask=ev["dwell_null"]),
            "device": pa.array(ev["device"], pa.string()),
            "event_timestamp": pa.array(ev["event_ts_us"], pa.timestamp("us", tz="UTC")),
        }
    )
    generated = time.perf_counter() - started
    out: dict[str, Any] = {
        "generated_at_us": now_us,
        "events": table.num_rows,
        "users": len(user_ids),
        "articles": len(article_ids),
        "events_per_user": _spread(ev["per_user"]),
        "events_per_article_last_hour": _spread(ev["per_article"]),
        "deleted_old_keys": deleted,
        "generate_seconds": generated,
    }
    # The backfill of both stores takes minutes, and reads come after it: events of the last
    # RECENT_S are held back and pushed (as the stream would) just before measuring, moved later by
    # the time the backfill took, so the 10-minute windows are as full when read as when generated.
    ts = pc.cast(table.column("event_timestamp"), pa.int64()).to_numpy()
    recent = ts >= now_us - RECENT_S * 1_000_000
    history, held_back = table.filter(pa.array(~recent)), table.filter(pa.array(recent))
    with open_store(repo, "embedded", timeout_ms=600_000) as store:
        t0 = time.perf_counter()
        store.write_to_offline_store(EVENT_SOURCE, history)
        out["offline_write_seconds"] = time.perf_counter() - t0
    for backend in ("embedded", "redis"):
        with open_store(repo, backend, timeout_ms=600_000) as store:
            t0 = time.perf_counter()
            results = store.backfill(views=list(WINDOWED_VIEWS), progress=False)
            out[f"backfill_{backend}"] = {
                "seconds": time.perf_counter() - t0,
                "views": {r.view: {"events": r.events, "applied": r.applied, "seconds": r.seconds} for r in results},
            }
        log(f"tiles: backfill into {backend} in {out[f'backfill_{backend}']['seconds']:.1f}s")
    shift_us = time.time_ns() // 1000 - now_us
    moved = held_back.set_column(
        held_back.schema.get_field_index("event_timestamp"),
        "event_timestamp",
        pa.array(ts[recent] + shift_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
    )
    out["recent_events"] = {"events": moved.num_rows, "seconds": RECENT_S, "shifted_by_s": shift_us / 1e6}
    for backend in ("embedded", "redis"):
        with open_store(repo, backend, timeout_ms=600_000) as store:
            t0 = time.perf_counter()
            for offset in range(0, moved.num_rows, 50_000):
                store.push(EVENT_SOURCE, moved.slice(offset, 50_000))
            out["recent_events"][f"push_{backend}_seconds"] = time.perf_counter() - t0
    log(f"tiles: the last {RECENT_S // 60} minutes' {moved.num_rows:,} events pushed {shift_us / 1e6:.0f} s later than generated")
    out["total_seconds"] = time.perf_counter() - started
    log(
        f"tiles: {out['events']:,} events for {out['users']:,} users and {out['articles']:,} articles "
        f"in {out['total_seconds']:.0f}s (old keys deleted: {deleted})"
    )
    return out


def tiles_per_slate(repo: Path, backend: str, slates: list[dict[str, Any]]) -> dict[str, Any]:
    """Per windowed view, what a slate's read asks for (from the read plan now): state hashes
    (one per distinct entity, each a store read), tile and raw-event fields, and how many fields
    hold a value, averaged over ``slates``."""
    from skewless.online.keys import entity_keys
    from skewless.online.window_columns import window_read

    out: dict[str, Any] = {}
    with open_store(repo, backend) as store:
        plan = store.online.plan("ranker", full_feature_names=True)
        for view in plan.views:
            if view.tiled is None:
                continue
            join_key = view.tiled.view.entities[0].join_keys[0]
            hashes, fields, present = 0, 0, 0
            for slate in slates:
                rows, _ = columns_of(slate)
                wanted = window_read(view, entity_keys(view.prefix, [join_key], rows), time.time_ns() // 1000)
                values = store.online.store.read([], [wanted])[1][0]
                hashes, fields = hashes + len(wanted[0]), fields + len(values)
                present += sum(v is not None for v in values)
            n = len(slates)
            out[view.tiled.view.name] = {"reads_per_slate": hashes / n, "fields_per_slate": fields / n, "present_per_slate": present / n}
    return out


def _spread(counts: np.ndarray) -> dict[str, float]:
    return {
        "min": int(counts.min()),
        "p50": float(np.percentile(counts, 50)),
        "p90": float(np.percentile(counts, 90)),
        "max": int(counts.max()),
        "mean": float(counts.mean()),
    }


# -- in-process -------------------------------------------------------------------------------------


def columns_of(slate: dict[str, Any]) -> tuple[dict[str, list[int]], dict[str, Any]]:
    n = len(slate["article_ids"])
    return (
        {"user_id": [slate["user_id"]] * n, "article_id": list(slate["article_ids"])},
        {k: slate[k] for k in ("device", "country", "utc_offset_minutes")},
    )


def percentiles(samples: list[float] | np.ndarray) -> dict[str, float]:
    arr = np.asarray(samples, dtype=np.float64) * 1000
    return {
        "n": int(arr.size),
        "mean_ms": float(arr.mean()),
        "p50_ms": float(np.percentile(arr, 50)),
        "p90_ms": float(np.percentile(arr, 90)),
        "p99_ms": float(np.percentile(arr, 99)),
        "p99.9_ms": float(np.percentile(arr, 99.9)),
        "max_ms": float(arr.max()),
    }


def check_response(response: Any, service: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for statuses in response.statuses.values():
        for s in statuses:
            counts[s] = counts.get(s, 0) + 1
    bad = {s: c for s, c in counts.items() if s not in ("PRESENT", "NULL_VALUE")}
    if bad:
        raise SystemExit(f"{service}: unexpected statuses {bad}: the data was not found")
    return counts


def fixed_work() -> int:
    """The same pure-Python work every time (~0.35 ms, no memory beyond a few objects)."""
    total = 0
    for i in range(9000):
        total += i * i
    return total


def noise_of(samples: np.ndarray) -> dict[str, Any]:
    out = percentiles(samples)
    return {**out, "p99_over_p50": out["p99_ms"] / out["p50_ms"]}


def machine_noise(repeats: int = 3000) -> dict[str, Any]:
    """This machine's own tail: :func:`fixed_work` timed like a slate. On a shared VM its p99/p50
    shows how much of a read's tail is the machine's."""
    samples = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        fixed_work()
        samples[i] = time.perf_counter() - t0
    return noise_of(samples)


def time_inprocess(repo: Path, backend: str, service: str, warm: list[dict[str, Any]], slates: list[dict[str, Any]]) -> dict[str, Any]:
    store = open_store(repo, backend)
    online = store.online
    for slate in warm:
        rows, context = columns_of(slate)
        online.get(service, rows, context, full_feature_names=True)
    statuses = check_response(online.get(service, *columns_of(slates[0]), full_feature_names=True), service)
    inputs = [columns_of(s) for s in slates]
    samples = np.empty(len(inputs))
    # As `skewless serve` does at start-up (create_app(freeze_gc=True)): what exists now is moved
    # out of the collector's reach. Otherwise a full collection walks this process's generated data
    # (millions of objects) and shows up as ~110 ms slates at p99.9 that a serving process never has.
    huge_pages = mapped_through_2mb_pages(repo / "data" / "online" / "data.mdb") if backend == "embedded" else None
    snapshot_cache = getattr(online.store, "snapshot_cache", None)  # the embedded store's: kept values of the last commit
    kept_before = (snapshot_cache.hits, snapshot_cache.misses) if snapshot_cache is not None else (0, 0)
    gc.collect()
    gc.freeze()
    faults_before = resource.getrusage(resource.RUSAGE_SELF)
    # The fixed loop, timed after every 10th slate and left out of the slates' own times and wall
    # clock: the machine's noise over the same seconds as the slates, not over a second before them.
    probes = np.empty(len(inputs) // 10)
    started, probing = time.perf_counter(), 0.0
    for i, (rows, context) in enumerate(inputs):
        t0 = time.perf_counter()
        online.get(service, rows, context, full_feature_names=True)
        samples[i] = time.perf_counter() - t0
        if i % 10 == 9:
            t1 = time.perf_counter()
            fixed_work()
            probes[i // 10] = spent = time.perf_counter() - t1
            probing += spent
    wall = time.perf_counter() - started - probing
    faults_after = resource.getrusage(resource.RUSAGE_SELF)
    gc.unfreeze()
    snapshot_hit_rate = None
    if snapshot_cache is not None:
        hits, misses = snapshot_cache.hits - kept_before[0], snapshot_cache.misses - kept_before[1]
        snapshot_hit_rate = hits / (hits + misses) if hits + misses else None
    response = online.get(service, *columns_of(slates[0]), full_feature_names=True)
    store.close()
    return {
        **percentiles(samples),
        "slates_per_second": len(inputs) / wall,
        # Page faults while timing: minor ones are pages this process maps first (the embedded store
        # maps its file at its first read), major ones pages the kernel had to read back from disk.
        "page_faults_per_slate": {
            "minor": (faults_after.ru_minflt - faults_before.ru_minflt) / len(inputs),
            "major": (faults_after.ru_majflt - faults_before.ru_majflt) / len(inputs),
        },
        "store_mapped_through_2mb_pages": huge_pages,
        "snapshot_cache_hit_rate": snapshot_hit_rate,
        "machine_noise_meanwhile": noise_of(probes) if len(probes) else None,
        "outputs": len(response.feature_names),
        "statuses_first_slate": statuses,
    }


def profile_inprocess(repo: Path, backend: str, service: str, slates: list[dict[str, Any]], top: int = 15) -> dict[str, Any]:
    """cProfile of the in-process path: the functions with the most own time, per slate."""
    import cProfile
    import pstats

    store = open_store(repo, backend)
    inputs = [columns_of(s) for s in slates]
    for rows, context in inputs[:50]:
        store.online.get(service, rows, context, full_feature_names=True)
    profiler = cProfile.Profile()
    profiler.enable()
    for rows, context in inputs:
        store.online.get(service, rows, context, full_feature_names=True)
    profiler.disable()
    store.close()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values())
    rows_out = []
    for (file, line, name), (_cc, calls, tottime, cumtime, _callers) in sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]:
        short = file.split("/site-packages/")[-1].replace(str(ROOT) + "/", "")
        rows_out.append(
            {
                "function": f"{short}:{line}({name})",
                "calls_per_slate": calls / len(inputs),
                "own_ms_per_slate": tottime / len(inputs) * 1000,
                "cumulative_ms_per_slate": cumtime / len(inputs) * 1000,
                "own_share": tottime / total if total else None,
            }
        )
    by_file: dict[str, float] = {}
    for (file, _line, name), (_cc, _calls, tottime, _cumtime, _callers) in stats.items():
        where = file.split("/site-packages/")[-1].replace(str(ROOT) + "/", "") if file != "~" else f"builtin {name}"
        by_file[where] = by_file.get(where, 0.0) + tottime
    files = [
        {"file": f, "own_ms_per_slate": t / len(inputs) * 1000, "own_share": t / total if total else None}
        for f, t in sorted(by_file.items(), key=lambda kv: -kv[1])[:top]
    ]
    return {"slates": len(inputs), "profiled_ms_per_slate": total / len(inputs) * 1000, "top_own_time": rows_out, "own_time_by_file": files}


def skewless_values(repo: Path, slates: list[dict[str, Any]]) -> list[dict[str, list[Any]]]:
    store = open_store(repo, "redis")
    out = []
    for slate in slates:
        r = store.online.get("ranker_full", *columns_of(slate), full_feature_names=True)
        out.append({k: list(v) for k, v in r.values.items()})
    store.close()
    return out


def compare_with_feast(ours: list[dict[str, list[Any]]], theirs: list[dict[str, list[Any]]]) -> dict[str, Any]:
    """Stored features must be equal (floats to float32 precision, timestamps to the second);
    on-demand ones close (the request time differs by the time between the two calls)."""
    checked, mismatches, examples = 0, 0, []
    for mine, feast in zip(ours, theirs, strict=True):
        for name, values in mine.items():
            if name not in feast:
                continue
            for a, b in zip(values, feast[name], strict=True):
                checked += 1
                if not _same(name, a, b):
                    mismatches += 1
                    if len(examples) < 5:
                        examples.append({"feature": name, "skewless": _short(a), "feast": _short(b)})
    return {"values_checked": checked, "mismatches": mismatches, "examples": examples}


def _same(name: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None or (isinstance(a, float) and math.isnan(a))) and (b is None or (isinstance(b, float) and math.isnan(b)))
    if name.endswith("published_at"):  # skewless: a datetime (µs in older versions); Feast: seconds
        seconds = a.timestamp() if isinstance(a, datetime) else a / 1e6
        return abs(seconds - datetime.fromisoformat(b).timestamp()) < 1.0
    if name.endswith("local_hour") or name.endswith("is_weekend") or name.endswith("is_mobile"):
        return bool(a == b)
    if name.endswith("article_age_hours"):
        return abs(a - b) < 0.05
    if hasattr(a, "tolist"):
        a = a.tolist()
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(name, x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)
    return bool(a == b)


def _short(value: Any) -> Any:
    if hasattr(value, "tolist"):
        value = value.tolist()
    return value[:3] if isinstance(value, list) else value


# -- HTTP ----------------------------------------------------------------------------------------------


def skewless_bodies(slates: list[dict[str, Any]], service: str) -> bytes:
    lines = []
    for slate in slates:
        rows, context = columns_of(slate)
        lines.append(orjson.dumps({"feature_service": service, "entities": rows, "full_feature_names": True, "request_context": context}))
    return b"\n".join(lines) + b"\n"


def feast_bodies(slates: list[dict[str, Any]], refs: list[str]) -> bytes:
    lines = []
    for slate in slates:
        rows, context = columns_of(slate)
        n = len(rows["article_id"])
        entities = {**rows, **{k: [v] * n for k, v in context.items()}}  # Feast takes request values per row
        lines.append(orjson.dumps({"features": refs, "entities": entities, "full_feature_names": True}))
    return b"\n".join(lines) + b"\n"


def run_load(
    port: int, bodies: Path, path: str, *, mode: str, duration: float, warmup: float, connections: int, rate: float | None = None
) -> dict[str, Any]:
    cmd = [
        sys.executable, str(BENCH / "http_load.py"), "--port", str(port), "--path", path, "--bodies", str(bodies), "--mode", mode,
        "--duration", str(duration), "--warmup", str(warmup), "--connections", str(connections),
    ]  # fmt: skip
    if rate is not None:
        cmd += ["--rate", str(rate)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + 600)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def server_counters(port: int) -> dict[str, float]:
    """skewless serve's cache hits/misses and failed store reads (all reasons), from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out = {"skewless_store_errors_total": 0.0, "requests": 0.0}
    for line in text.splitlines():
        if line.startswith("skewless_requests_total{") and 'path="/get-online-features"' in line:
            out["requests"] += float(line.split()[-1])
        for name in ("skewless_cache_hits_total", "skewless_cache_misses_total"):
            if line.startswith(name + " "):
                out[name] = float(line.split()[1])
        if line.startswith("skewless_store_errors_total{"):
            out["skewless_store_errors_total"] += float(line.split()[-1])
    return out


def session_cpu_seconds(session: int) -> float:
    """User + system CPU seconds of every live process of a session (a server and its workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session:  # field 6 of /proc/pid/stat, after the command's closing parenthesis
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def store_errors(before: dict[str, float], after: dict[str, float]) -> int:
    return int(after.get("skewless_store_errors_total", 0) - before.get("skewless_store_errors_total", 0))


def hit_rate(before: dict[str, float], after: dict[str, float]) -> float | None:
    hits = after.get("skewless_cache_hits_total", 0) - before.get("skewless_cache_hits_total", 0)
    misses = after.get("skewless_cache_misses_total", 0) - before.get("skewless_cache_misses_total", 0)
    return None if hits + misses == 0 else hits / (hits + misses)


def check_http(port: int, path: str, body: bytes, content_type: str) -> dict[str, Any]:
    """One request, decoded: every status must be PRESENT or NULL_VALUE."""
    import msgpack

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    decoded = msgpack.unpackb(raw) if "msgpack" in content_type else orjson.loads(raw)
    statuses: dict[str, int] = {}
    for result in decoded["results"]:
        for s in result["statuses"]:
            statuses[s] = statuses.get(s, 0) + 1
    if any(s not in ("PRESENT", "NULL_VALUE") for s in statuses):
        raise SystemExit(f"HTTP {path}: unexpected statuses {statuses}")
    return {"response_bytes": len(raw), "columns": len(decoded["results"]), "statuses": statuses}


def measure_http(
    port: int,
    bodies: Path,
    path: str,
    phases: dict[str, float],
    *,
    cache: bool,
    skewless: bool = True,
    extra_rates: tuple[float, ...] = (),
    session: int | None = None,
) -> dict[str, Any]:
    """Saturation (8 closed-loop connections), then open-loop latency at half of it (and at ``extra_rates``).
    For skewless, /metrics gives the cache hit rate and the failed store reads of each phase (a failed
    read is answered fast with STORE_UNAVAILABLE statuses, so it must be counted, not just timed),
    and the requests served; with the server's ``session``, its CPU seconds give requests per
    serving-core second (the load generator and redis-server share the machine's cores)."""
    counters = server_counters if skewless else (lambda port: {})
    before = counters(port)
    cpu_before = session_cpu_seconds(session) if session is not None else 0.0
    saturation = run_load(port, bodies, path, mode="closed", duration=phases["sat"], warmup=phases["sat_warm"], connections=8)
    after_sat = counters(port)
    if session is not None and skewless:
        cpu = session_cpu_seconds(session) - cpu_before
        served = after_sat["requests"] - before["requests"]
        saturation["server_cpu_seconds"], saturation["requests_served"] = cpu, served
        saturation["per_server_core_second"] = served / cpu if cpu else None
    rate = max(1.0, saturation["requests_per_second"] / 2)
    latency = run_load(port, bodies, path, mode="open", duration=phases["lat"], warmup=phases["lat_warm"], connections=8, rate=rate)
    after = counters(port)
    result: dict[str, Any] = {"saturation": saturation, "at_half_saturation": latency}
    if skewless:
        saturation["store_errors"] = store_errors(before, after_sat)
        latency["store_errors"] = store_errors(after_sat, after)
    if cache:
        result["cache_hit_rate_saturation"] = hit_rate(before, after_sat)
        result["cache_hit_rate"] = hit_rate(after_sat, after)
    for extra in extra_rates:
        if extra < saturation["requests_per_second"] * 0.95 and abs(extra - rate) > 0.1 * rate:
            start = counters(port)
            extra_result = run_load(
                port, bodies, path, mode="open", duration=phases["lat"], warmup=phases["lat_warm"], connections=8, rate=extra
            )
            if skewless:
                extra_result["store_errors"] = store_errors(start, counters(port))
            result[f"at_{int(extra)}_per_second"] = extra_result
    return result


HTTP_FORMATS = (("msgpack", "/get-online-features?format=msgpack"), ("json", "/get-online-features"))


def skewless_http(
    repo: Path, redis_url: str, slates: list[dict[str, Any]], workdir: Path, phases: dict[str, float], only: list[str] | None = None
) -> dict[str, Any]:
    """Every service x format (or the ``only`` labels), with the serving cache off then on (one server per cache setting)."""
    bodies = {}
    for service in SERVICES:
        bodies[service] = workdir / f"skewless_bodies_{service}.jsonl"
        bodies[service].write_bytes(skewless_bodies(slates, service))
    results: dict[str, Any] = {}
    for cache_ms in (0, 1000):
        cache = "cache_on" if cache_ms else "cache_off"
        if only is not None and not any(label.endswith(cache) for label in only):
            continue
        port = free_port()
        write_config(repo, redis_url, cache_staleness_ms=cache_ms, port=port)
        cmd = [str(SKEWLESS_CLI), "--repo", str(repo), "serve", "--port", str(port), "--workers", "1"]
        with server_process(cmd, f"http://127.0.0.1:{port}/ready", workdir / f"skewless_serve_{cache}.log") as server:
            for service in SERVICES:
                for fmt, path in HTTP_FORMATS:
                    label = f"{service}_{fmt}_{cache}"
                    if only is not None and label not in only:
                        continue
                    check = check_http(port, path, skewless_bodies(slates[:1], service).strip(), fmt)
                    log(f"skewless serve, {label}: saturation, then latency at half of it")
                    rates = (1000.0,) if fmt == "msgpack" else ()
                    measured = measure_http(
                        port, bodies[service], path, phases, cache=bool(cache_ms), extra_rates=rates, session=server.pid
                    )
                    results[label] = {
                        "service": service, "format": fmt, "cache_staleness_ms": cache_ms, "response": check, **measured,
                    }  # fmt: skip
                    _log_http(label, results[label])
    write_config(repo, redis_url)
    return results


def _log_http(label: str, result: dict[str, Any]) -> None:
    sat, lat = result["saturation"], result["at_half_saturation"]
    hit = result.get("cache_hit_rate")
    log(
        f"  {label}: {sat['requests_per_second']:.0f} slates/s saturated"
        + (f" ({sat['per_server_core_second']:.0f} per server CPU second)" if sat.get("per_server_core_second") else "")
        + f"; at {lat['offered_rate']:.0f}/s p50 "
        f"{lat['latency']['p50_ms']:.2f} ms p99 {lat['latency']['p99_ms']:.2f} ms"
        + ("" if hit is None else f"; cache hit rate {hit:.1%}")
        + (f"; errors {sat['errors'] + lat['errors']}" if sat["errors"] + lat["errors"] else "")
        + (
            f"; failed store reads {sat['store_errors']} + {lat['store_errors']}"
            if sat.get("store_errors") or lat.get("store_errors")
            else ""
        )
    )
    extra = result.get("at_1000_per_second")
    if extra:
        log(f"  {label} at {extra['offered_rate']:.0f}/s: p50 {extra['latency']['p50_ms']:.2f} ms p99 {extra['latency']['p99_ms']:.2f} ms")


# -- Feast ---------------------------------------------------------------------------------------------


def service_refs(repo: Path, service: str) -> list[str]:
    """The ``view:feature`` list a skewless service returns, for Feast to request exactly the same outputs."""
    store = open_store(repo, "redis")
    plan = store.online.plan(service, full_feature_names=True)
    refs = [f"{o.ref.view}:{o.ref.feature}" for o in plan.selection.outputs]
    store.close()
    return refs


def feast_requests(repo: Path) -> dict[str, list[str]]:
    """Feast's requests: the same outputs as each skewless service, and the stored features only (no
    on-demand views: less work for Feast than for skewless)."""
    requests = {service: service_refs(repo, service) for service in SERVICES}
    on_demand = ("context_features:", "user_article_cross:")
    requests["stored_only"] = [r for r in requests["ranker_full"] if not r.startswith(on_demand)]
    return requests


def feast_run(command: str, workdir: Path, extra: list[str], timeout: float = 7200) -> dict[str, Any]:
    out = workdir / f"feast_{command}_{int(time.time() * 1000)}.json"
    cmd = [str(FEAST_PYTHON), str(BENCH / "feast_online.py"), command, "--repo", str(workdir / "feast_repo"), "--result", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"feast_online.py {command} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def feast_http(workdir: Path, slates: list[dict[str, Any]], requests: dict[str, list[str]], phases: dict[str, float]) -> dict[str, Any]:
    port = free_port()
    cmd = [
        str(FEAST_CLI), "-c", str(workdir / "feast_repo"), "serve", "-h", "127.0.0.1", "-p", str(port), "--workers", "1",
        "--no-access-log", "--max-requests", "100000000",
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{FEAST_CLI.parent}:{os.environ.get('PATH', '')}"}
    results: dict[str, Any] = {}
    with server_process(cmd, f"http://127.0.0.1:{port}/health", workdir / "feast_serve.log", env=env):
        for service in SERVICES:
            refs = requests[service]
            bodies = workdir / f"feast_bodies_{service}.jsonl"
            bodies.write_bytes(feast_bodies(slates, refs))
            check = check_http(port, "/get-online-features", feast_bodies(slates[:1], refs).strip(), "json")
            log(f"feast serve, {service} request, json: saturation, then latency at half of it")
            measured = measure_http(port, bodies, "/get-online-features", phases, cache=False, skewless=False)
            results[f"serve_{service}"] = {"service": service, "format": "json", "features": len(refs), "response": check, **measured}
            _log_http(f"feast_serve_{service}_json", results[f"serve_{service}"])
    return results


# -- report ----------------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return None if not a or not b else a / b


def build_report(results: dict[str, Any]) -> tuple[list[list[str]], dict[str, Any]]:
    rows: list[list[str]] = []

    def add(system: str, path: str, lat: dict[str, Any], throughput: float | None, note: str = "") -> None:
        rows.append(
            [
                system,
                path,
                f"{lat['p50_ms']:.2f}",
                f"{lat['p90_ms']:.2f}",
                f"{lat['p99_ms']:.2f}",
                f"{lat['p99.9_ms']:.2f}",
                "" if throughput is None else f"{throughput:,.0f}",
                str(lat["n"]),
                note,
            ]
        )

    sk = results["skewless"]
    for backend in ("embedded", "redis"):
        for service in SERVICES:
            r = sk["inprocess"].get(f"{backend}_{service}")
            if r:
                add("skewless", f"in-process, {backend}, {service}", r, r["slates_per_second"], f"{r['outputs']} outputs")
    for r in sk.get("http", {}).values():
        lat = r["at_half_saturation"]
        hit = r.get("cache_hit_rate")
        what = f"HTTP {r['format']}, Redis, {r['service']}, cache {'on' if r['cache_staleness_ms'] else 'off'}"
        note = f"at {lat['offered_rate']:,.0f}/s" + ("" if hit is None else f", hit rate {hit:.0%}")
        add("skewless", what, lat["latency"], r["saturation"]["requests_per_second"], note)
        if "at_1000_per_second" in r:
            extra = r["at_1000_per_second"]
            add("skewless", what, extra["latency"], None, f"at {extra['offered_rate']:,.0f}/s")
    fe = results.get("feast") or {}
    for request in (*SERVICES, "stored_only"):
        r = fe.get(f"inproc_{request}")
        if r:
            t = r["get_online_features_to_dict"]
            add("Feast", f"in-process, Redis, {request}", t, t["slates_per_second"], f"{r['features']} features, .to_dict()")
    for service in SERVICES:
        r = fe.get(f"serve_{service}")
        if r:
            lat = r["at_half_saturation"]
            add(
                "Feast",
                f"feast serve JSON, Redis, {service}",
                lat["latency"],
                r["saturation"]["requests_per_second"],
                f"at {lat['offered_rate']:,.0f}/s",
            )

    def compare(mine_lat: dict[str, Any], mine_tp: float, theirs_lat: dict[str, Any], theirs_tp: float) -> dict[str, Any]:
        return {
            "p50": ratio(theirs_lat["p50_ms"], mine_lat["p50_ms"]),
            "p99": ratio(theirs_lat["p99_ms"], mine_lat["p99_ms"]),
            "throughput": ratio(mine_tp, theirs_tp),
        }

    ratios: dict[str, Any] = {}
    for service, request in (("ranker_full", "ranker_full"), ("ranker", "ranker"), ("ranker_full", "stored_only")):
        mine, theirs = sk["inprocess"].get(f"redis_{service}"), fe.get(f"inproc_{request}")
        if mine and theirs:
            t = theirs["get_online_features_to_dict"]
            ratios[f"inprocess_redis_{service}_vs_feast_{request}"] = compare(mine, mine["slates_per_second"], t, t["slates_per_second"])
    for label, mine in sk.get("http", {}).items():
        theirs = fe.get(f"serve_{mine['service']}")
        if theirs:
            ratios[f"http_{label}_vs_feast_serve_json"] = compare(
                mine["at_half_saturation"]["latency"],
                mine["saturation"]["requests_per_second"],
                theirs["at_half_saturation"]["latency"],
                theirs["saturation"]["requests_per_second"],
            )
    return rows, ratios


def targets(results: dict[str, Any], ratios: dict[str, Any]) -> dict[str, Any]:
    sk = results["skewless"]
    out: dict[str, Any] = {}
    for service in SERVICES:
        emb = sk["inprocess"].get(f"embedded_{service}")
        red = sk["inprocess"].get(f"redis_{service}")
        if emb:
            out[f"inprocess_embedded_{service}_p99_le_1ms"] = {"p99_ms": emb["p99_ms"], "met": emb["p99_ms"] <= 1.0}
        if red:
            out[f"inprocess_redis_{service}_p99_le_2ms"] = {"p99_ms": red["p99_ms"], "met": red["p99_ms"] <= 2.0}
    for service in SERVICES:
        http = sk.get("http", {}).get(f"{service}_msgpack_cache_off")
        if http:
            # As the issue measures it: saturation with one worker, per core of that worker (its CPU
            # seconds: the load generator and Redis share the machine), and p99 at about half of it.
            # p99 at 1,000/s offered is reported too; at a saturation near 1,000/s it is queueing.
            sat = http["saturation"]["requests_per_second"]
            per_core = http["saturation"].get("per_server_core_second") or sat
            at = http["at_half_saturation"]
            out[f"http_binary_{service}_p99_le_5ms_at_1000_per_core"] = {
                "saturation_per_second": sat,
                "per_server_core_second": per_core,
                "p99_ms_at_half_saturation": at["latency"]["p99_ms"],
                "p99_ms_at_1000_per_second": http.get("at_1000_per_second", {}).get("latency", {}).get("p99_ms"),
                "met": per_core >= 1000 and at["latency"]["p99_ms"] <= 5.0,
            }
    for key, r in ratios.items():
        if r.get("p99") is not None:
            out[f"p99_10x_{key}"] = {"ratio": r["p99"], "met": r["p99"] >= 10}
    return out


def print_table(rows: list[list[str]], ratios: dict[str, Any], goals: dict[str, Any]) -> None:
    header = ["system", "path (1 user + 50 articles)", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "slates/s", "n", "note"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) if i < 2 or i == 8 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    if ratios:
        print("\nFeast / skewless (latency) and skewless / Feast (throughput):")
        for key, r in ratios.items():
            print(f"  {key}: p50 {r['p50']:.1f}x, p99 {r['p99']:.1f}x, throughput {r['throughput']:.1f}x")
    print("\nTargets:")
    for key, goal in goals.items():
        shown = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in goal.items()}
        print(f"  {'MET ' if goal['met'] else 'MISS'} {key}: {shown}")


# -- main ------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="20k users, 5k articles, short phases (a smoke test)")
    parser.add_argument("--slates", type=int, help="in-process slates timed per configuration (default 10,000; quick 500)")
    parser.add_argument("--feast-slates", type=int, help="Feast in-process slates timed (default 1,500; quick 100)")
    parser.add_argument("--http-seconds", type=float, help="measured seconds per latency phase (default 20; quick 4)")
    parser.add_argument("--no-feast", action="store_true", help="skewless only")
    parser.add_argument("--no-http", action="store_true", help="in-process only")
    parser.add_argument(
        "--http-only",
        nargs="+",
        metavar="LABEL",
        help="skewless serve phases to run, e.g. ranker_msgpack_cache_off (default: every service x format x cache setting)",
    )
    parser.add_argument("--workdir", help="keep the repo, logs and result files here (default: a temporary folder, removed)")
    parser.add_argument("--wait-idle", type=float, default=0.0, help="wait up to this many minutes for load < 0.5 and no other benchmark")
    parser.add_argument("--reuse", action="store_true", help="reuse the data written by an earlier run in the same --workdir (same sizes)")
    parser.add_argument("--profile", action="store_true", help="also cProfile the in-process path (own time per function)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--windows",
        choices=("tiles", "precomputed"),
        default="tiles",
        help="skewless' windowed views: tiles built from engagement events of the slates' entities (default), or "
        "precomputed rows as before 294418d (which skewless no longer reads: its windows are then empty tiles)",
    )
    args = parser.parse_args()
    if args.quick:
        if args.users == 1_000_000:
            args.users = 20_000
        if args.articles == 50_000:
            args.articles = 5_000
    n_slates = args.slates or (500 if args.quick else 10_000)
    n_feast = args.feast_slates or (100 if args.quick else 1_500)
    lat_seconds = args.http_seconds or (4.0 if args.quick else 20.0)
    phases = {
        "sat": 3.0 if args.quick else 12.0,
        "sat_warm": 1.0 if args.quick else 3.0,
        "lat": lat_seconds,
        "lat_warm": 1.0 if args.quick else 3.0,
    }
    feast_phases = {**phases, "sat": 5.0 if args.quick else 20.0, "lat": 6.0 if args.quick else 60.0}
    feast = not args.no_feast
    if feast and not FEAST_PYTHON.exists():
        raise SystemExit(f"{FEAST_PYTHON} is missing: create it (see bench/requirements-feast-online.txt) or pass --no-feast")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below (stop redis, servers) on kill
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="skewless-online-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "benchmark": "online_latency",
        "started": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "config": {
            "users": args.users,
            "articles": args.articles,
            "slate": f"1 user + {data.SLATE_ARTICLES} articles",
            "user_zipf_s": data.USER_ZIPF_S,
            "article_zipf_s": data.ARTICLE_ZIPF_S,
            "embedding_dim": data.DIM,
            "seed": data.SEED,
            "inprocess_slates": n_slates,
            "feast_inprocess_slates": n_feast,
            "http_phases_seconds": phases,
            "feast_http_phases_seconds": feast_phases,
            "quick": args.quick,
            "data_path": "generated rows written with codec_for + put_many",
            "windows": args.windows,
        },
        "load_at_start": load_state(),
        "skewless": {},
    }
    log(f"machine: {results['machine']['cpu_model']}, {os.cpu_count()} cores; workdir {workdir}")
    marker = workdir / "data.json"
    wanted = {"users": args.users, "articles": args.articles, "feast": feast, "seed": data.SEED, "windows": args.windows}
    previous = json.loads(marker.read_text()) if marker.exists() else None
    # Data written with Feast's rows serves a run without Feast too (skewless' keys are there all the same).
    same = previous is not None and all(previous.get(k) == v for k, v in wanted.items() if k != "feast")
    reuse = bool(args.reuse and previous and same and (previous.get("feast") or not feast))
    if args.reuse and not reuse:
        log("--reuse: no data of these sizes in the workdir; writing it")
    redis_dir = workdir / "redis-data"
    if not reuse:
        marker.unlink(missing_ok=True)
        shutil.rmtree(redis_dir, ignore_errors=True)
    log(f"starting redis-server{' (loading the saved data)' if reuse else ''}")
    redis = start_redis(redis_dir)
    try:
        repo = setup_repo(workdir, redis.url, keep_data=reuse)
        if reuse:
            assert previous is not None
            now_us = int(previous["now_us"])
            results["skewless"]["write"] = previous.get("skewless_write")
            if feast:
                results["feast"] = {"setup": previous.get("feast_setup")}
            results["config"]["reused_data_written_at"] = previous.get("written_at")
            if feast:  # the new redis-server listens on another port
                yaml = workdir / "feast_repo" / "feature_store.yaml"
                lines = [
                    f"  connection_string: 127.0.0.1:{redis.port}" if line.strip().startswith("connection_string:") else line
                    for line in yaml.read_text().splitlines()
                ]
                yaml.write_text("\n".join(lines) + "\n")
            log(f"reusing the data written at {previous.get('written_at')}")
        else:
            now_us = time.time_ns() // 1000
            log(f"writing {args.users:,} users and {args.articles:,} articles to the embedded store and Redis")
            results["skewless"]["write"] = write_skewless(repo, args.users, args.articles, now_us, windows=args.windows)
            if feast:
                log("Feast: apply and write_to_online_store (same rows, same redis-server)")
                t0 = time.perf_counter()
                results["feast"] = {"setup": feast_run(
                    "setup", workdir,
                    ["--redis", f"127.0.0.1:{redis.port}", "--users", str(args.users), "--articles", str(args.articles), "--now-us", str(now_us), "--odfv"],
                )}  # fmt: skip
                results["feast"]["setup"]["total_seconds"] = time.perf_counter() - t0
            if args.workdir:  # keep a snapshot for --reuse
                t0 = time.perf_counter()
                redis_cli(redis.port, "SAVE")
                log(f"saved the Redis data for --reuse in {time.perf_counter() - t0:.0f}s")
                marker.write_text(json.dumps({
                    **wanted, "now_us": now_us, "written_at": datetime.now(UTC).isoformat(),
                    "skewless_write": results["skewless"]["write"], "feast_setup": (results.get("feast") or {}).get("setup"),
                }))  # fmt: skip
        warm = data.slates(max(200, n_slates // 10), args.users, args.articles, stream=1)
        slates = data.slates(n_slates, args.users, args.articles, stream=2)
        http_slates = data.slates(min(20_000, max(2_000, n_slates)), args.users, args.articles, stream=3)
        # Tiles are regenerated every run: they hold events of the last 30 days as of now, and a
        # reused Redis snapshot was saved before them. Precomputed: none, as the old setup had.
        if args.windows == "tiles":
            log("tiles: engagement events of the slates' users and articles, backfilled into both stores")
            results["skewless"]["tiles"] = write_tiles(repo, [warm, slates, http_slates], args.users, args.articles)
            results["skewless"]["tiles"]["read"] = tiles_per_slate(repo, "embedded", slates[:200])
            log(f"tiles: keys and present values per slate: {results['skewless']['tiles']['read']}")
        else:
            results["skewless"]["tiles"] = {"deleted_old_keys": clear_tiles(repo)}
        results["redis_memory"] = redis_cli(redis.port, "info", "memory").split("used_memory_human:")[1].split()[0]
        results["redis_keys"] = redis_cli(redis.port, "dbsize")

        if args.wait_idle:
            results["load_before_measuring"] = wait_for_idle(args.wait_idle, 0.5)
        else:
            results["load_before_measuring"] = load_state()
        log(
            f"load before measuring: {results['load_before_measuring']['loadavg']}, other benchmarks: {results['load_before_measuring']['other_benchmarks']}"
        )

        warmup = results["embedded_page_cache_warmup"] = read_in_like_a_serving_host(repo / "data" / "online")
        log(
            f"dropped the embedded store's file from the page cache and read it in: {warmup['bytes'] / 2**30:.1f} GiB in {warmup['seconds']:.0f} s"
        )
        noise = results["machine_noise"] = machine_noise()
        log(f"machine noise, a fixed {noise['p50_ms']:.2f} ms loop: p99 {noise['p99_ms']:.2f} ms ({noise['p99_over_p50']:.2f}x p50)")
        results["skewless"]["inprocess"] = {}
        for backend in ("embedded", "redis"):
            for service in SERVICES:
                log(f"in-process, {backend}, {service}: {len(slates):,} slates")
                r = time_inprocess(repo, backend, service, warm, slates)
                results["skewless"]["inprocess"][f"{backend}_{service}"] = r
                log(
                    f"  p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, p99.9 {r['p99.9_ms']:.3f} ms, {r['slates_per_second']:,.0f} slates/s; "
                    f"page faults a slate: {r['page_faults_per_slate']['minor']:.2f} minor, {r['page_faults_per_slate']['major']:.2f} major"
                    + ("" if (huge := r["store_mapped_through_2mb_pages"]) is None else f"; store mapped in 2 MB pages: {huge:.0%}")
                    + ("" if (kept := r["snapshot_cache_hit_rate"]) is None else f"; keys from the snapshot cache: {kept:.0%}")
                    + (
                        ""
                        if (noise := r["machine_noise_meanwhile"]) is None
                        else f"; fixed loop meanwhile: p99 {noise['p99_over_p50']:.2f}x p50"
                    )
                )

        if args.profile:
            results["skewless"]["profile"] = {}
            for backend in ("embedded", "redis"):
                log(f"cProfile, in-process, {backend}, ranker_full")
                prof = profile_inprocess(repo, backend, "ranker_full", slates[: min(1000, len(slates))])
                results["skewless"]["profile"][backend] = prof
                for row in prof["top_own_time"][:6]:
                    log(f"  {row['own_share']:5.1%}  {row['own_ms_per_slate']:.3f} ms/slate  {row['function']}")

        if feast:
            requests = feast_requests(repo)
            results["feast"]["requests"] = requests
            refs_files = {}
            for name, refs in requests.items():
                refs_files[name] = workdir / f"feast_refs_{name}.json"
                refs_files[name].write_text(json.dumps(refs))
            sizes = ["--users", str(args.users), "--articles", str(args.articles)]
            theirs = feast_run("values", workdir, [*sizes, "--slates", "3", "--refs", str(refs_files["ranker_full"])])
            results["feast"]["value_check"] = compare_with_feast(skewless_values(repo, slates[:3]), theirs["responses"])
            log(f"values, skewless vs Feast on 3 slates: {results['feast']['value_check']}")
            for name in (*SERVICES, "stored_only"):
                log(f"Feast in-process, {name} request ({len(requests[name])} features): {n_feast:,} slates")
                extra = [*sizes, "--slates", str(n_feast), "--warmup", str(max(20, n_feast // 10)), "--refs", str(refs_files[name])]
                results["feast"][f"inproc_{name}"] = feast_run("inproc", workdir, extra)
                r = results["feast"][f"inproc_{name}"]["get_online_features_to_dict"]
                log(f"  p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, {r['slates_per_second']:.0f} slates/s")

        if not args.no_http:
            results["skewless"]["http"] = skewless_http(repo, redis.url, http_slates, workdir, phases, args.http_only)
            if feast:
                results["feast"].update(feast_http(workdir, http_slates[:5000], results["feast"]["requests"], feast_phases))
        results["load_at_end"] = load_state()
    finally:
        redis.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    rows, ratios = build_report(results)
    results["ratios"] = ratios
    results["targets"] = targets(results, ratios)
    results["table"] = rows
    print_table(rows, ratios, results["targets"])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        log(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
