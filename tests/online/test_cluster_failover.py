"""A Redis Cluster primary dies: after its replica takes over, reads succeed again without a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from servers import RedisClusterServer, require_server, start_redis_cluster
from skewless.errors import OnlineStoreUnavailableError
from skewless.online.redis_store import RedisClusterOnlineStore


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterServer]:
    # A cluster of its own (the session's is shared): this test kills one of its nodes.
    require_server("redis")
    cluster = start_redis_cluster(tmp_path, node_timeout_ms=1000)
    yield cluster
    cluster.stop()


@pytest.mark.slow
def test_reads_survive_a_primary_failing_over(cluster: RedisClusterServer) -> None:
    store = RedisClusterOnlineStore([f"{h}:{p}" for h, p in cluster.startup_nodes], timeout_seconds=0.5)
    items = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(300)]  # spread over every primary
    store.put_many(items)
    keys = [k for k, _ in items]
    expected = [v for _, v in items]
    assert store.get_many(keys) == expected

    primary = next(n for n in cluster.nodes if redis.Redis(port=n.port).info("replication")["role"] == "master")
    primary.kill()
    errors, deadline, recovered_after = 0, time.monotonic() + 30, None
    started = time.monotonic()
    while time.monotonic() < deadline:
        try:
            if store.get_many(keys) == expected:
                recovered_after = time.monotonic() - started
                break
        except OnlineStoreUnavailableError:
            errors += 1
        time.sleep(0.1)
    assert recovered_after is not None, f"reads never recovered ({errors} failed reads)"
    # Writes work again too, on the promoted replica.
    store.put_many([(b"k0", b"after")])
    assert store.get_many([b"k0"]) == [b"after"]
    print(f"recovered {recovered_after:.1f} s after the kill, {errors} reads failed meanwhile")
    store.close()
