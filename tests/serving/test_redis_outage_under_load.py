"""A real `skewless serve` on Redis, under load from another process, while Redis is killed and restarted.

Every request is answered within the store timeout (plus HTTP overhead) with statuses saying what
is missing, never a 5xx; once Redis is back (and re-loaded: it restarts empty), values are
served again by the same server process.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest

from factories import news_definitions
from servers import RedisServer, require_server, start_redis
from skewless import FeatureStore

T0 = datetime.now(UTC) - timedelta(minutes=1)
TIMEOUT_MS = 50
BODY = {"features": ["user_profile:age"], "entities": {"user_id": [1, 2, 3]}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    require_server("redis")
    server = start_redis(tmp_path)
    yield server
    server.stop()


def load(store: FeatureStore) -> None:
    store.materialize(datetime(2020, 1, 1, tzinfo=UTC), datetime.now(UTC), progress=False)


@pytest.mark.slow
def test_outage_under_load(tmp_path: Path, redis: RedisServer) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    port = free_port()
    (repo / "skewless.yaml").write_text(
        f"project: outage\nonline_store: {{type: redis, url: '{redis.url}'}}\n"
        f"serving: {{port: {port}, store_timeout_ms: {TIMEOUT_MS}, store_retry_ms: 200}}\n"
    )
    store = FeatureStore(repo)
    store.apply(news_definitions())
    store.write_to_offline_store(
        "user_profiles",
        pd.DataFrame(
            {
                "user_id": [1, 2, 3],
                "country": ["FR", "DE", "US"],
                "age": [30, 40, 50],
                "embedding": [[0.0] * 8] * 3,
                "event_timestamp": [T0] * 3,
            }
        ),
    )
    load(store)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "skewless.cli", "--repo", str(repo), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("GET", "/health")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # one keep-alive connection
        body = orjson.dumps(BODY)
        results: list[tuple[float, int, list[str], str]] = []  # (latency s, HTTP status, statuses, phase)

        def hammer(seconds: float, phase: str) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                started = time.perf_counter()
                client.request("POST", "/get-online-features", body=body, headers={"Content-Type": "application/json"})
                response = client.getresponse()
                payload = response.read()
                latency = time.perf_counter() - started
                statuses = orjson.loads(payload)["results"][1]["statuses"] if response.status == 200 else []
                results.append((latency, response.status, statuses, phase))

        hammer(1.0, "before")
        redis.kill()
        hammer(1.5, "down")
        redis.restart()
        load(store)  # Redis restarts empty (persistence off): the materialization job runs again
        hammer(1.5, "after")
    finally:
        server.terminate()
        server.wait(timeout=10)
        store.close()

    codes = {code for _, code, _, _ in results}
    assert codes == {200}, codes
    down = [r for r in results if r[3] == "down"]
    assert down and all(set(s) == {"STORE_UNAVAILABLE"} for _, _, s, _ in down)
    slowest_down = max(latency for latency, *_ in down)
    assert slowest_down < TIMEOUT_MS / 1000 + 1.0, slowest_down  # the store timeout, plus HTTP and a busy CI box
    assert all(set(s) == {"PRESENT"} for _, _, s, phase in results if phase == "before")
    after = [s for _, _, s, phase in results if phase == "after"]
    assert after[-1] == ["PRESENT"] * 3  # recovered, same server process
    print(f"{len(results)} requests; while down: {len(down)} answered, slowest {slowest_down * 1000:.0f} ms")
