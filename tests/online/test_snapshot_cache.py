"""The embedded store's snapshot cache never gives a value the file no longer holds.

The oracle is a model of what was written (a dict kept by the test) and raw LMDB reads, never the
cache's own code: writes come from another process, as a materialization or stream worker's do.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from skewless.config import EmbeddedOnlineStoreConfig
from skewless.online.client import open_online_store
from skewless.online.embedded import EmbeddedOnlineStore
from skewless.online.snapshot_cache import EXPIRY, SnapshotCache

WRITER = """
import json, sys
from skewless.online.embedded import EmbeddedOnlineStore
store = EmbeddedOnlineStore(sys.argv[1], prefault=False, read_cache_entries=0)
for line in sys.stdin:
    step = json.loads(line)
    if step["put"]:
        store.put_many([(k.encode(), v.encode()) for k, v in step["put"]])
    if step["delete"]:
        store.delete_many([k.encode() for k in step["delete"]])
    print("committed", flush=True)
"""


class Writer:
    """Another process writing the store through its own environment, one commit per step."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def step(self, put: dict[str, str], delete: list[str]) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"put": sorted(put.items()), "delete": delete}) + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "committed"

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    EmbeddedOnlineStore(tmp_path, prefault=False).close()  # the file and its trees, before either process opens it
    process = Writer(tmp_path)
    yield process
    process.close()


def _raw(store: EmbeddedOnlineStore, keys: list[bytes]) -> list[bytes | None]:
    """What the file holds, read with LMDB alone: the value after its 8-byte expiry, None if absent."""
    with store.env.begin(buffers=False) as txn:
        return [None if (raw := txn.get(k)) is None else raw[8:] for k in keys]


def test_reads_follow_another_process_s_commits(tmp_path: Path, writer: Writer) -> None:
    rng = random.Random(7)
    space = [f"sk:p:v@v1:{i}" for i in range(40)]
    model: dict[str, str] = {}
    store = EmbeddedOnlineStore(tmp_path, prefault=False, read_cache_entries=25)  # smaller than the key space: FIFO at work
    assert store.snapshot_cache is not None
    for step in range(60):
        if step % 3:  # some steps write nothing: the cache is then read across reads of one snapshot
            put = {k: f"{k}={step}" for k in rng.sample(space, rng.randint(1, 6))}
            delete = [k for k in rng.sample(space, rng.randint(0, 3)) if k not in put]
            writer.step(put, delete)
            model.update(put)
            for k in delete:
                model.pop(k, None)
        for _ in range(3):
            keys = rng.sample(space, rng.randint(1, 20))
            got = store.get_many([k.encode() for k in keys])
            assert got == [None if k not in model else model[k].encode() for k in keys], f"step {step}"
    assert got == _raw(store, [k.encode() for k in keys])
    assert store.snapshot_cache.hits > 0 and store.snapshot_cache.misses > 0
    store.close()


def test_a_read_of_an_older_snapshot_neither_uses_nor_fills_the_newer_cache(tmp_path: Path) -> None:
    store = EmbeddedOnlineStore(tmp_path, prefault=False)
    cache = store.snapshot_cache
    assert cache is not None
    key = b"sk:p:v@v1:1"
    store.put_many([(key, b"old")])
    with store.env.begin(buffers=False) as older:  # as another thread's read, begun before the next commit
        store.put_many([(key, b"new")])
        assert store.get_many([key]) == [b"new"]  # the cache now holds the newer snapshot
        assert cache.values(older, [key], now_us=0) == [b"old"]  # the older snapshot's value, as LMDB gives it
        assert older.get(key)[8:] == b"old"
    hits = cache.hits
    assert store.get_many([key]) == [b"new"]  # the older read left nothing of its snapshot behind,
    assert cache.hits == hits + 1  # and the newer snapshot's values are still kept
    store.close()


def test_a_kept_value_expires_on_time(tmp_path: Path) -> None:
    store = EmbeddedOnlineStore(tmp_path, prefault=False)
    cache = store.snapshot_cache
    assert cache is not None
    key, never = b"sk:p:v@v1:1", b"sk:p:v@v1:2"
    store.put_many([(key, b"short")], ttl_seconds=60)
    store.put_many([(never, b"kept")])
    with store.env.begin(buffers=False) as txn:
        (expires,) = EXPIRY.unpack_from(txn.get(key))
        assert cache.values(txn, [key, never], now_us=expires - 1) == [b"short", b"kept"]
        hits = cache.hits
        assert cache.values(txn, [key, never], now_us=expires) == [None, b"kept"]  # from the cache, expired
        assert cache.hits == hits + 2
    store.close()


def test_capacity_is_kept_and_absent_keys_are_remembered(tmp_path: Path) -> None:
    store = EmbeddedOnlineStore(tmp_path, prefault=False, read_cache_entries=3)
    cache = store.snapshot_cache
    assert cache is not None
    keys = [b"sk:p:v@v1:%d" % i for i in range(5)]
    store.put_many([(k, b"value %d" % i) for i, k in enumerate(keys[:4])])
    assert store.get_many(keys) == [b"value 0", b"value 1", b"value 2", b"value 3", None]
    assert (cache.hits, cache.misses) == (0, 5)
    held = cache._snapshot[1]
    assert list(held) == keys[2:]  # the last three read, oldest first out
    assert store.get_many(keys[3:] * 2) == [b"value 3", None] * 2  # the absent key from the cache too
    assert (cache.hits, cache.misses) == (4, 5)
    store.close()


def test_the_setting_reaches_the_store_and_zero_turns_it_off(tmp_path: Path) -> None:
    small = open_online_store(EmbeddedOnlineStoreConfig(read_cache_entries=7, prefault=False), repo_path=tmp_path / "a", timeout_ms=50)
    assert isinstance(small, EmbeddedOnlineStore) and small.snapshot_cache is not None
    assert small.snapshot_cache.capacity == 7
    small.close()
    off = open_online_store(EmbeddedOnlineStoreConfig(read_cache_entries=0, prefault=False), repo_path=tmp_path / "b", timeout_ms=50)
    assert isinstance(off, EmbeddedOnlineStore) and off.snapshot_cache is None
    off.put_many([(b"k", b"v")])
    assert off.get_many([b"k", b"x"]) == [b"v", None]
    off.close()
    with pytest.raises(ValidationError, match="read_cache_entries"):
        EmbeddedOnlineStoreConfig(read_cache_entries=-1)
    with pytest.raises(ValueError, match="at least one entry"):
        SnapshotCache(0)
