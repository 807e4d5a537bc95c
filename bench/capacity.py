"""Bytes per event and per key, measured, for the capacity plan in docs/architecture.md.

Starts its own redis-server on 127.0.0.1, copies the news-feed repo (examples/newsfeed) to a temp
folder with Redis as the online store, pushes engagement events for groups of users with a given
activity (events in the last 30 days) and articles with a given traffic (events in the last hour),
and reads back, per group: Redis memory per entity (tiles, raw events and event-id guards of the
windowed views, ``INFO memory`` before/after), Delta bytes per event on disk (the offline log),
and the bytes of a stored row of each snapshot view (``MEMORY USAGE``).

    .venv/bin/python bench/capacity.py --json bench/results/capacity.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import redis

from skewless import FeatureStore

REPO = Path(__file__).resolve().parents[1] / "examples" / "newsfeed"
S = 1_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


LISTPACK = ["--hash-max-listpack-entries", "64"]


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        # hash-max-listpack-entries as docs/online.md recommends (and tests/servers.py runs)
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder), *LISTPACK],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])  # type: ignore[index]


def events_for(rng: np.random.Generator, entity: str, ids: range, per_entity: int, span_s: int, first_id: int) -> list[dict[str, Any]]:
    now = time.time_ns() // 1000
    n = len(ids) * per_entity
    owners = np.repeat(np.array(list(ids)), per_entity)
    others = rng.integers(1, 50_000, n) if entity == "user" else rng.integers(1, 1_000_000, n)
    ages = rng.integers(0, (span_s - 120) * S, n)  # clear of the late cut-off
    clicked = rng.random(n) < 0.1
    return [
        {
            "event_id": f"c{first_id + i}",
            "user_id": int(owners[i] if entity == "user" else others[i]),
            "article_id": int(others[i] if entity == "user" else owners[i]),
            "position": int(i % 50),
            "clicked": int(clicked[i]),
            "liked": int(clicked[i] and i % 7 == 0),
            "shared": int(clicked[i] and i % 31 == 0),
            "dwell_seconds": float(20 + i % 90) if clicked[i] else None,
            "device": "ios",
            "event_timestamp": datetime.fromtimestamp((now - int(ages[i])) / S, tz=UTC),
        }
        for i in range(n)
    ]


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*.parquet"))


def snapshot_row_bytes(store: FeatureStore, client: redis.Redis, rng: np.random.Generator) -> dict[str, float]:
    """Redis memory of one stored row of each snapshot view (384-dim embeddings included)."""
    import pandas as pd

    now = pd.Timestamp.now(tz="UTC")
    n = 100
    store.write_to_offline_store(
        "user_profiles",
        pd.DataFrame(
            {
                "user_id": range(1, n + 1),
                "top_topics": [["politics", "tech", "sport"]] * n,
                "topic_scores": [[0.5, 0.3, 0.2]] * n,
                "user_embedding": list(rng.normal(size=(n, 384)).astype("float32")),
                "articles_read_total": rng.integers(0, 5_000, n),
                "home_country": ["FR"] * n,
                "event_timestamp": [now] * n,
            }
        ),
    )
    store.write_to_offline_store(
        "article_content",
        pd.DataFrame(
            {
                "article_id": range(1, n + 1),
                "category": ["tech"] * n,
                "headline": ["A headline of about sixty characters, as news headlines go"] * n,
                "named_entities": [["Ada Lovelace", "Acme Corp", "Paris"]] * n,
                "published_at": [now] * n,
                "word_count": [800] * n,
                "content_embedding": list(rng.normal(size=(n, 384)).astype("float32")),
                "event_timestamp": [now] * n,
            }
        ),
    )
    window = (now.to_pydatetime() - pd.Timedelta(days=1), now.to_pydatetime() + pd.Timedelta(seconds=1))
    store.materialize(*window, views=["user_profile", "article_metadata"], progress=False)
    result = {}
    for view in ("user_profile", "article_metadata", "article_embedding"):
        keys = [f"sk:newsfeed:{view}@v1:{i}".encode() for i in range(1, n + 1)]
        sizes = [client.memory_usage(k) for k in keys]
        present = [int(x) for x in sizes if x]
        if present:
            result[view] = round(sum(present) / len(present), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200, help="users per activity group")
    parser.add_argument("--activity", type=int, nargs="+", default=[10, 100, 1000], help="events per user in the last 30 days, per group")
    parser.add_argument("--articles", type=int, default=50, help="articles per traffic group")
    parser.add_argument("--traffic", type=int, nargs="+", default=[100, 2000], help="events per article in the last hour, per group")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    rng = np.random.default_rng(20261126)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        proc, port = start_redis(folder)
        try:
            repo = folder / "repo"
            shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
            config = repo / "skewless.yaml"
            config.write_text(config.read_text() + f"\nonline_store:\n  type: redis\n  url: redis://127.0.0.1:{port}/0\n")
            store = FeatureStore(repo)
            store.apply()
            client = redis.Redis(port=port)
            results: dict[str, Any] = {"machine": platform.platform(), "python": platform.python_version(), "groups": []}
            first_id, offset = 0, 1
            groups = [("user", a, args.users, 30 * 86_400) for a in args.activity] + [
                ("article", t, args.articles, 3_600) for t in args.traffic
            ]
            for entity, per_entity, count, span in groups:
                ids = range(offset, offset + count)
                offset += count
                events = events_for(rng, entity, ids, per_entity, span, first_id)
                first_id += len(events)
                before_mem, before_disk = used_memory(client), dir_bytes(repo / "data" / "offline" / "engagement_events")
                started = time.perf_counter()
                for i in range(0, len(events), 20_000):
                    result = store.push("engagement_events", events[i : i + 20_000])
                    if result.dead_letters:  # the measurement is only meaningful if every event landed
                        raise RuntimeError(f"{len(result.dead_letters)} dead letters, first: {result.dead_letters[0].reason}")
                seconds = time.perf_counter() - started
                # Each event also lands in the *other* entity's view (a user event names an article): divide
                # by the events, not only by the entities, to compare groups.
                memory = used_memory(client) - before_mem
                disk = dir_bytes(repo / "data" / "offline" / "engagement_events") - before_disk
                row = {
                    "entity": entity,
                    "events_per_entity": per_entity,
                    "window_span_s": span,
                    "entities": count,
                    "events": len(events),
                    "redis_bytes_per_event_all_views": round(memory / len(events), 1),
                    "offline_bytes_per_event": round(disk / len(events), 1),
                    "push_events_per_s": round(len(events) / seconds),
                }
                results["groups"].append(row)
                print(json.dumps(row))
            results["row_bytes"] = snapshot_row_bytes(store, client, rng)
            print(json.dumps(results["row_bytes"]))
            store.close()
        finally:
            proc.terminate()
            proc.wait()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
