"""Shared fixtures: real PostgreSQL / Redis servers, started on first use.

The servers are session-scoped and lazy: a run that selects no test needing
PostgreSQL never pays the ~1 s initdb, and a test needing one shares it with
the rest of the session.

Missing server binaries make the dependent tests *skip* on a developer machine
(so a quick `pytest tests/test_x.py` works anywhere), but *fail* when
SKEWLESS_REQUIRE_SERVERS=1, as scripts/test.sh and CI set it: there a skip
would silently turn the integration tests off.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# tests/ has no __init__.py: pytest (default "prepend" import mode) puts this
# directory on sys.path, so the helper module imports as a top-level name.
from servers import (
    PostgresServer,
    RedisClusterServer,
    RedisServer,
    require_server,
    start_postgres,
    start_redis,
    start_redis_cluster,
)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    require_server("postgres")
    server = start_postgres(tmp_path_factory.mktemp("postgres"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_server("redis")
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServer]:
    require_server("redis")
    cluster = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()
