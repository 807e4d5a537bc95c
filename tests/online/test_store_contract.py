"""The OnlineStore contract, run against every backend: embedded (LMDB), Redis, Redis Cluster."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from skewless.online.embedded import EmbeddedOnlineStore
from skewless.online.protocol import FieldSet, OnlineStore
from skewless.online.redis_store import RedisClusterOnlineStore, RedisOnlineStore
from skewless.online.tile_keys import state_key
from skewless.online.tile_writes import EntityUpdate, StateSpec, tile_writer_for

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
    spec = StateSpec(("a",), ((b"t:", hour),), 1_000)  # a field t:<start> is kept an hour after its start

    def field(j: int) -> bytes:
        return b"t:%d" % (now + j)

    updates = [
        EntityUpdate(spec, tag, hour, [b"id"], [now], [(field(j), msgpack.packb([i * 10 + j])) for j in range(i % 4)], [])
        for i, tag in enumerate(tags)
    ]
    assert tile_writer_for(store).merge_tiles(updates) == [[] for _ in tags]
    asked = (0, 1, 2, 9)  # field(9) is never written
    keys = [*(k for k, _ in rows), prefix + b"absent"]
    values, windows = store.read(
        keys, [([state_key(t) for t in tags], FieldSet([field(j) for j in asked])), ([state_key(tags[0])], FieldSet([field(0)]))]
    )
    assert values == [*(v for _, v in rows), None]
    assert windows[0] == [msgpack.packb([i * 10 + j]) if j < i % 4 else None for i in range(len(tags)) for j in asked]
    assert windows[1] == [None]  # an entity with no tiles has no state
    assert store.read([], []) == ([], [])

    # A state changed after a read is read anew (the embedded store keeps decoded states).
    more = EntityUpdate(spec, tags[1], hour, [b"id2"], [now], [(field(0), msgpack.packb([5]))], [])
    assert tile_writer_for(store).merge_tiles([more]) == [[]]
    assert store.read([], [([state_key(tags[1])], FieldSet([field(0)]))])[1] == [[msgpack.packb([15])]]


def test_expired_fields_are_written_afresh_and_dropped(store: OnlineStore, prefix: bytes) -> None:
    """A field's expiry follows from its name; past it the field counts as absent, and once a state
    holds more fields than ``prune_above`` the expired ones go."""
    tag, now, second = b"{" + prefix + b"x}", time.time_ns() // 1000, 1_000_000
    spec = StateSpec(("a",), ((b"t:", 10 * second),), 3)  # kept 10 s after its start
    old = [b"t:%d" % (now - (20 + k) * second) for k in range(4)]  # all past their expiry
    writer = tile_writer_for(store)
    # Stored as if written while live (a clock in the past): a spec that keeps fields an hour and
    # never prunes; then what a write under the 10-second spec makes of them.
    lenient = StateSpec(spec.codes, ((b"t:", 3_600 * second),), 100)
    first = EntityUpdate(lenient, tag, 60 * second, [b"a"], [now], [(f, msgpack.packb([1])) for f in old], [])
    assert writer.merge_tiles([first]) == [[]]
    fields = FieldSet(old)
    assert store.read([], [([state_key(tag)], fields)])[1][0] == [msgpack.packb([1])] * 4  # reads do not look at expiry
    live = b"t:%d" % now
    second_update = EntityUpdate(spec, tag, 60 * second, [b"b"], [now], [(old[0], msgpack.packb([5])), (live, msgpack.packb([7]))], [])
    assert writer.merge_tiles([second_update]) == [[]]
    # old[0] started afresh (5, not 1 + 5); 5 fields > 3: the expired ones went, old[0] among them
    # only if it is expired by name (it is), so what is left is the live field.
    assert store.read([], [([state_key(tag)], FieldSet([*old, live]))])[1][0] == [None, None, None, None, msgpack.packb([7])]


def test_an_async_read_gives_what_a_read_gives(store: OnlineStore, prefix: bytes) -> None:
    """Serving awaits ``read_async`` where a backend has one (Redis: its own connections on the event loop)."""
    read_async = getattr(store, "read_async", None)
    if read_async is None:
        pytest.skip("the embedded store never waits: serving calls read")
    store.put_many([(prefix + b"a", b"1"), (prefix + b"b", b"2")])
    keys = [prefix + b"b", prefix + b"nothing", prefix + b"a"]
    field_reads = [([state_key(b"{" + prefix + b"none}")], FieldSet([b"t:1", b"t:2"]))]

    async def twice() -> list[Any]:  # two reads on one loop: the second reuses its connection
        return [await read_async(keys, field_reads), await read_async(keys[:1], [])]

    assert (
        asyncio.run(twice())
        == [store.read(keys, field_reads), store.read(keys[:1], [])]
        == [
            ([b"2", None, b"1"], [[None, None]]),
            ([b"2"], []),
        ]
    )
