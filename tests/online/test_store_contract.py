"""The OnlineStore contract, run against every backend: embedded (LMDB), Redis, Redis Cluster."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from skewless.online.embedded import EmbeddedOnlineStore
from skewless.online.protocol import FieldSet, OnlineStore
from skewless.online.redis_store import RedisClusterOnlineStore, RedisOnlineStore
from skewless.online.tile_keys import state_key
from skewless.online.tile_writes import EntityUpdate, tile_writer_for

BACKENDS = ["embedded", "redis", "redis-cluster"]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "embedded":
        backend: OnlineStore = EmbeddedOnlineStore(tmp_path / "online")
    elif request.param == "redis":
        backend = RedisOnlineStore(request.getfixturevalue("redis_server").url, timeout_seconds=2)
    else:
        cluster = request.getfixturevalue("redis_cluster")
        backend = RedisClusterOnlineStore([f"{h}:{p}" for h, p in cluster.startup_nodes], timeout_seconds=2)
    yield backend
    backend.close()


@pytest.fixture
def prefix() -> bytes:
    return f"test:{uuid.uuid4().hex[:8]}:".encode()  # servers are shared by the session


def test_missing_keys_read_as_none(store: OnlineStore, prefix: bytes) -> None:
    assert store.get_many([prefix + b"a", prefix + b"b"]) == [None, None]
    assert store.get_many([]) == []


def test_many_keys_round_trip_in_order(store: OnlineStore, prefix: bytes) -> None:
    items = [(prefix + str(i).encode(), bytes([i % 256]) * (i + 1)) for i in range(200)]
    store.put_many(items)
    keys = [k for k, _ in items]
    wanted = [*keys[::-1], prefix + b"absent", *keys[:3]]
    expected = {k: v for k, v in items}
    assert store.get_many(wanted) == [expected.get(k) for k in wanted]


def test_binary_values_and_overwrite(store: OnlineStore, prefix: bytes) -> None:
    value = bytes(range(256)) * 40  # 10 KB, every byte value
    store.put_many([(prefix + b"k", value)])
    store.put_many([(prefix + b"k", value[::-1])])
    assert store.get_many([prefix + b"k"]) == [value[::-1]]


def test_delete(store: OnlineStore, prefix: bytes) -> None:
    store.put_many([(prefix + b"x", b"1"), (prefix + b"y", b"2")])
    store.delete_many([prefix + b"x"])
    assert store.get_many([prefix + b"x", prefix + b"y"]) == [None, b"2"]


def test_values_expire_after_their_ttl(store: OnlineStore, prefix: bytes) -> None:
    store.put_many([(prefix + b"short", b"v")], ttl_seconds=1)
    store.put_many([(prefix + b"long", b"v")], ttl_seconds=3600)
    assert store.get_many([prefix + b"short"]) == [b"v"]
    deadline = time.monotonic() + 5
    while store.get_many([prefix + b"short"]) != [None] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert store.get_many([prefix + b"short", prefix + b"long"]) == [None, b"v"]


def test_a_read_returns_rows_and_hash_fields_together(store: OnlineStore, prefix: bytes) -> None:
    """Rows by key and an entity's tiles by field, in one read; hashes spread over the cluster's slots."""
    rows = [(prefix + b"row%d" % i, b"v%d" % i) for i in range(20)]
    store.put_many(rows)
    tags = [b"{" + prefix + b"e%d}" % i for i in range(30)]
    now = time.time_ns() // 1000
    hour = 3_600 * 1_000_000
    updates = [
        EntityUpdate(("a",), tag, hour, [b"id"], [now], [(b"t:%d" % j, msgpack.packb([i * 10 + j]), now + hour) for j in range(i % 4)], [])
        for i, tag in enumerate(tags)
    ]
    assert tile_writer_for(store).merge_tiles(updates) == [[] for _ in tags]
    asked = (0, 1, 2, 9)  # t:9 is never written
    keys = [*(k for k, _ in rows), prefix + b"absent"]
    values, windows = store.read(
        keys, [([state_key(t) for t in tags], FieldSet([b"t:%d" % j for j in asked])), ([state_key(tags[0])], FieldSet([b"t:0"]))]
    )
    assert values == [*(v for _, v in rows), None]
    assert windows[0] == [msgpack.packb([i * 10 + j]) if j < i % 4 else None for i in range(len(tags)) for j in asked]
    assert windows[1] == [None]  # an entity with no tiles has no state
    assert store.read([], []) == ([], [])

    # A state changed after a read is read anew (the embedded store keeps decoded states).
    more = EntityUpdate(("a",), tags[1], hour, [b"id2"], [now], [(b"t:0", msgpack.packb([5]), now + hour)], [])
    assert tile_writer_for(store).merge_tiles([more]) == [[]]
    assert store.read([], [([state_key(tags[1])], FieldSet([b"t:0"]))])[1] == [[msgpack.packb([15])]]
