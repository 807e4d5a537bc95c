"""The stream worker: bus -> offline log -> tiles, exactly once, even when killed at random moments.

Events go through a real redis-server (Redis Streams) and a worker process (``skewless stream``);
the online state is compared with the offline log through get_historical_features, and a run
interrupted by SIGKILL is compared with a clean one, tile by tile and row by row.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
from stream_events import SOURCE, USER, VIEW, assert_online_equals_offline, random_events

from skewless import FeatureStore

S = 1_000_000


def make_repo(path: Path, bus_url: str, *, partitions: int = 2) -> FeatureStore:
    path.mkdir(parents=True)
    (path / "skewless.yaml").write_text(
        f"project: {path.name}\nstreaming:\n  bus_url: {bus_url}\n  partitions: {partitions}\n  batch_size: 2000\n"
    )
    store = FeatureStore(path)
    store.apply([USER, SOURCE, VIEW])
    return store


def start_worker(repo: Path, *, idle_exit: float = 2.0) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "skewless.cli", "--repo", str(repo), "stream", "events", "--idle-exit", str(idle_exit)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture
def bus_url(redis_server: Any) -> str:
    return str(redis_server.url)  # each repo is its own project: its own streams


def test_worker_applies_the_bus_events_as_offline_sees_them(tmp_path: Path, bus_url: str) -> None:
    store = make_repo(tmp_path / "w1", bus_url)
    rng = random.Random(11)
    now = time.time_ns() // 1000
    events = random_events(rng, now, 2_000)
    events[5]["clicked"] = "not a number"  # a dead letter among good events
    assert store.publish("events", events) > 2
    worker = store.stream_worker("events", [0, 1])
    stats = worker.run(idle_exit_s=0.5)
    late = stats.dead_letters - 1
    assert stats.events == 2_000 and 0 <= late < 200
    assert_online_equals_offline(store, rng, now)
    status = store.stream_status()["events"]
    assert [row["lag"] for row in status] == [0, 0] and all(row["events"] > 0 for row in status)
    assert status[0]["dead_letters"] == stats.dead_letters
    store.close()


def _state(store: FeatureStore) -> tuple[list[Any], list[Any]]:
    """Everything the stream wrote: the offline rows (without write metadata) and every tile value."""
    rows = store.offline_tables.read("events").to_pylist()
    offline = sorted(
        (r["_write_seq"], r["event_id"], r["user_id"], r["clicked"], r["dwell"], r["topic"], r["event_timestamp"]) for r in rows
    )
    online = store.online.store
    project = store.project.encode()
    with online.env.begin() as txn:  # type: ignore[attr-defined]  # every entity's state: its tiles and raw records
        states = txn.cursor(db=online.trees.hashes)  # type: ignore[attr-defined]
        tiles = sorted((k.replace(project, b""), sorted(msgpack.unpackb(v[8:]).items())) for k, v in states if k.endswith(b":w"))
    return offline, tiles


@pytest.mark.slow
def test_a_worker_killed_at_random_moments_ends_as_a_clean_run(tmp_path: Path, bus_url: str) -> None:
    rng = random.Random(7)
    now = time.time_ns() // 1000
    # None near the late cut-off (1h 1m), where the two runs' bus arrival times differ by a little, nor near
    # the expiry of raw records (1 h): a 1M-event run lasts minutes, and an expired record restarts its key.
    events = random_events(rng, now, int(os.environ.get("SKEWLESS_CRASH_EVENTS", "100000")), max_age_s=40 * 60)
    # One partition: its batches, hence the log positions that break ties, are the same in both runs.
    clean, crashed = make_repo(tmp_path / "clean", bus_url, partitions=1), make_repo(tmp_path / "crashed", bus_url, partitions=1)
    for store in (clean, crashed):
        store.publish("events", events)
    clean.stream_worker("events", [0]).run(idle_exit_s=0.5)

    kills = 0
    worker = start_worker(tmp_path / "crashed")
    while sum(crashed.event_bus().lag("events").values()) > 0:  # kill it while there is work to interrupt
        assert worker.stdout is not None
        worker.stdout.readline()  # "consuming ...": started, so the kill lands while it works
        time.sleep(rng.uniform(0.05, 1.0))
        if worker.poll() is not None:
            break
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        kills += 1
        worker = start_worker(tmp_path / "crashed")
    worker.wait(timeout=300)  # finishes the rest, then stops after 2 s without events
    output = worker.stdout.read().decode() if worker.stdout else ""
    assert worker.returncode == 0, output
    assert kills >= 10, f"only {kills} kills: make the ingest longer"
    (crashed_rows, crashed_tiles), (clean_rows, clean_tiles) = _state(crashed), _state(clean)
    extra, missing = set(crashed_rows) - set(clean_rows), set(clean_rows) - set(crashed_rows)
    assert (len(crashed_rows), sorted(extra)[:3], sorted(missing)[:3]) == (len(clean_rows), [], [])
    assert crashed_tiles == clean_tiles
    assert_online_equals_offline(crashed, rng, now)
