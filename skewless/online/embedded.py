"""The embedded online store: LMDB, a memory-mapped B-tree in one file under the repo.

No server. Any number of processes read concurrently while one writes (MVCC: readers see the
last committed transaction and never wait), and a read of 51 keys is ~51 B-tree lookups in
mapped memory. Values carry their expiry time, checked on read. A hash (an entity's tiles, see
:mod:`skewless.online.tile_keys`) is one value: a msgpack map of field -> bytes. Decoding the maps
of a slate's 51 entities was most of an embedded read, so the values recent reads took from them
are kept with the bytes they came from, and reused while the stored bytes are the same.

The bytes of the keys a process reads are kept too, for as long as no transaction commits: LMDB
numbers its snapshots, and a read in a newer one (a write by any process) starts an empty cache,
so a read never sees what an older snapshot held. On a 1M-user store (8 GB) a slate's ~100
B-tree lookups were a third of its read: page-table walks in a VM, not data.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import lmdb
import msgpack

from skewless.online.protocol import FieldRead, FieldSet, Values

EXPIRY = struct.Struct(">q")  # µs since the epoch; 0 = never
DEFAULT_MAP_SIZE = 64 << 30  # address space, not disk: the file grows with the data
DECODED_STATES = 4_096  # entity states whose read values are kept: the hot articles of a feed
READ_CACHE_BYTES = 128 << 20  # stored bytes kept per process for one snapshot (then it starts over)
_ABSENT = b""  # a key the snapshot does not hold (a stored value is never empty: it has its expiry)


class _SnapshotCache:
    """The stored bytes read in one LMDB snapshot, by key (``_ABSENT`` for none)."""

    __slots__ = ("size", "txn_id", "values")

    def __init__(self, txn_id: int) -> None:
        self.txn_id = txn_id
        self.values: dict[bytes, bytes] = {}
        self.size = 0


class EmbeddedOnlineStore:
    def __init__(self, path: str | Path, *, map_size: int = DEFAULT_MAP_SIZE, read_cache_bytes: int = READ_CACHE_BYTES) -> None:
        """``read_cache_bytes``: how much of what reads took to keep while no write commits (0: none)."""
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        # One environment per process and path; lock=True lets processes share it safely.
        self.env = lmdb.open(str(self.path), map_size=map_size, max_dbs=1, subdir=True, readahead=False, lock=True)
        # hash key -> (stored bytes, fields, values); ordered, so the oldest goes first in O(1)
        self._decoded: OrderedDict[bytes, tuple[bytes, FieldSet, Values]] = OrderedDict()
        self.read_cache_bytes = read_cache_bytes
        self._snapshot = _SnapshotCache(-1)

    def get_many(self, keys: Sequence[bytes]) -> Values:
        with self.env.begin(buffers=False) as txn:
            return _live_values(self._stored(txn, keys), time.time_ns() // 1000)

    def read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        now = time.time_ns() // 1000
        fields: list[Values] = []
        with self.env.begin(buffers=False) as txn:
            values = _live_values(self._stored(txn, keys), now)
            for hashes, wanted in field_reads:
                flat: Values = []
                for key in hashes:
                    flat += self._fields(txn.get(key), key, wanted, now)
                fields.append(flat)
        return values, fields

    def _stored(self, txn: lmdb.Transaction, keys: Sequence[bytes]) -> list[bytes | None]:
        """The stored bytes of ``keys`` in ``txn``'s snapshot (``_ABSENT`` or None: no such key)."""
        if self.read_cache_bytes <= 0:
            return _get_all(txn, keys)
        cache, txn_id = self._snapshot, txn.id()
        if txn_id != cache.txn_id:
            if txn_id < cache.txn_id:  # a read begun before a commit another thread has seen: its own
                return _get_all(txn, keys)
            cache = self._snapshot = _SnapshotCache(txn_id)  # a reader holding the old one fills only that
        kept = cache.values
        found: list[bytes | None] = list(map(kept.get, keys))
        if None in found:
            added = 0
            for i, key in enumerate(keys):
                if found[i] is None:
                    raw: bytes = txn.get(key) or _ABSENT  # type: ignore[assignment]
                    found[i] = kept[key] = raw
                    added += len(key) + len(raw)
            cache.size += added
            if cache.size > self.read_cache_bytes:  # start over: the hot keys come back first
                self._snapshot = _SnapshotCache(txn_id)
        return found

    def _fields(self, raw: bytes | None, key: bytes, wanted: FieldSet, now_us: int) -> Values:
        """The ``wanted`` fields of the state stored as ``raw``: decoding whole states was most of an
        embedded read, so the values given for (key, field set) are kept with the stored bytes they
        came from and given again while those bytes are the same (one memcmp). Only the values are
        kept, not the decoded state: fewer objects for the garbage collector to walk."""
        if raw is None or 0 < EXPIRY.unpack_from(raw)[0] <= now_us:
            return [None] * len(wanted)
        kept = self._decoded.get(key)
        if kept is not None and kept[1] is wanted and kept[0] == raw:
            return kept[2]
        # map(get) runs in C: an entity of a slate asks ~25 fields, a slate ~1,300.
        values: Values = list(map(msgpack.unpackb(raw[8:]).get, wanted.names))
        decoded = self._decoded
        if len(decoded) >= DECODED_STATES:
            with contextlib.suppress(KeyError):  # another thread may have taken the oldest
                decoded.popitem(last=False)
        decoded[key] = (raw, wanted, values)
        return values

    def put_many(self, items: Sequence[tuple[bytes, bytes]], *, ttl_seconds: int | None = None) -> None:
        expires = 0 if ttl_seconds is None else time.time_ns() // 1000 + ttl_seconds * 1_000_000
        header = EXPIRY.pack(expires)
        with self.env.begin(write=True) as txn:
            for key, value in items:
                txn.put(key, header + value)

    def delete_many(self, keys: Sequence[bytes]) -> None:
        with self.env.begin(write=True) as txn:
            for key in keys:
                txn.delete(key)

    def close(self) -> None:
        self.env.close()


def _get_all(txn: lmdb.Transaction, keys: Sequence[bytes]) -> list[bytes | None]:
    return list(map(txn.get, keys))  # type: ignore[arg-type]  # the gets in C: bytes, as buffers=False makes them


def _live_values(stored: list[bytes | None], now_us: int) -> Values:
    unpack = EXPIRY.unpack_from
    # One comprehension: a slate reads ~100 keys, and a loop's appends showed.
    return [None if not raw or 0 < unpack(raw)[0] <= now_us else raw[8:] for raw in stored]
