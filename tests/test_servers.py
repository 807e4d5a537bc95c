"""The test servers themselves: they start, answer, and can be crashed and restarted."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from redis.cluster import ClusterNode, RedisCluster

from servers import PostgresServer, RedisClusterServer, RedisServer, require_server, start_redis


@pytest.mark.postgres
def test_postgres_answers_select_1(postgres_server: PostgresServer) -> None:
    engine = sa.create_engine(postgres_server.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar_one() == 1
            assert conn.execute(sa.text("select current_database()")).scalar_one() == "skewless"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_create_database(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database("skewless_extra")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar_one() == "skewless_extra"
    finally:
        engine.dispose()


def test_redis_answers_ping(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.ping() is True
        client.set("skewless:test", b"v")
        assert client.get("skewless:test") == b"v"
    finally:
        client.close()


def test_redis_kill_and_restart_keeps_port(tmp_path: Path) -> None:
    # Its own server: killing the shared session one would break other tests.
    require_server("redis")
    server = start_redis(tmp_path)
    try:
        port, pid = server.port, server.pid
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        client.set("k", b"v")
        server.kill()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.restart()
        assert server.port == port
        assert server.pid != pid
        assert client.ping() is True
        assert client.get("k") is None  # persistence is off
        client.close()
    finally:
        server.stop()
    assert not server.running


def test_redis_cluster_serves_all_slots(redis_cluster: RedisClusterServer) -> None:
    assert len(redis_cluster.nodes) == 6
    client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in redis_cluster.startup_nodes])
    try:
        assert client.cluster_info()["cluster_state"] == "ok"
        assert len(client.get_primaries()) == 3
        assert len(client.get_replicas()) == 3
        # Enough keys to land on every primary.
        for i in range(100):
            client.set(f"key:{i}", str(i))
        assert [client.get(f"key:{i}") for i in range(100)] == [str(i).encode() for i in range(100)]
    finally:
        client.close()
