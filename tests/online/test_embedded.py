"""The embedded store's snapshot cache: bytes kept from reads are given only in the snapshot they
were read in. The contract suite covers the store's behaviour; these tests read between writes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from skewless.online import embedded
from skewless.online.embedded import EmbeddedOnlineStore

KEYS = [b"user:1", b"user:2", b"article:7"]


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedOnlineStore:
    online = EmbeddedOnlineStore(tmp_path / "online")
    online.put_many([(KEYS[0], b"one"), (KEYS[1], b"two")])
    assert online.get_many(KEYS) == [b"one", b"two", None]  # now kept, the absent key too
    return online


def test_a_write_after_a_read_is_read_next(store: EmbeddedOnlineStore) -> None:
    store.put_many([(KEYS[0], b"uno"), (KEYS[2], b"seven")])
    assert store.read(KEYS, [])[0] == [b"uno", b"two", b"seven"]
    store.delete_many([KEYS[1]])
    assert store.get_many(KEYS) == [b"uno", None, b"seven"]


def test_a_write_by_another_process_is_read_next(store: EmbeddedOnlineStore, tmp_path: Path) -> None:
    writer = (
        "import sys; from skewless.online.embedded import EmbeddedOnlineStore as S; "
        "s = S(sys.argv[1]); s.put_many([(b'user:2', b'dos'), (b'article:7', b'siete')]); s.close()"
    )
    subprocess.run([sys.executable, "-c", writer, str(tmp_path / "online")], check=True, timeout=60)
    assert store.get_many(KEYS) == [b"one", b"dos", b"siete"]


def test_a_read_in_an_older_snapshot_gets_that_snapshots_values(store: EmbeddedOnlineStore) -> None:
    with store.env.begin(buffers=False) as older:
        store.put_many([(KEYS[0], b"uno")])
        assert store.get_many(KEYS[:1]) == [b"uno"]  # the cache now holds the newer snapshot's bytes
        assert embedded._live_values(store._stored(older, KEYS), time.time_ns() // 1000) == [b"one", b"two", None]


def test_kept_values_still_expire(store: EmbeddedOnlineStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put_many([(KEYS[2], b"seven")], ttl_seconds=60)
    assert store.get_many(KEYS) == [b"one", b"two", b"seven"]
    later = time.time_ns() + 61 * 1_000_000_000
    monkeypatch.setattr(embedded.time, "time_ns", lambda: later)
    assert store.get_many(KEYS) == [b"one", b"two", None]


@pytest.mark.parametrize("budget", [0, 300])
def test_reads_past_the_budget_or_without_a_cache_are_right(tmp_path: Path, budget: int) -> None:
    online = EmbeddedOnlineStore(tmp_path / "online", read_cache_bytes=budget)
    items = [(f"k{i}".encode(), f"value {i}".encode() * (1 + i % 7)) for i in range(200)]
    online.put_many(items)
    expected = dict(items)
    for start in range(0, 200, 30):  # overlapping windows of keys: hits, misses and restarts
        keys = [k for k, _ in items[start : start + 45]] + [b"absent"]
        assert online.get_many(keys) == [expected.get(k) for k in keys]
        kept = online._snapshot.values
        assert sum(len(k) + len(v) for k, v in kept.items()) <= budget  # past it, the cache started over
    online.put_many([(b"k0", b"new")])
    assert online.get_many([b"k0", b"k1"]) == [b"new", expected[b"k1"]]
