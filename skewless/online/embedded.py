"""The embedded online store: LMDB, a memory-mapped B-tree in one file under the repo.

No server. Any number of processes read concurrently while one writes (MVCC: readers see the
last committed transaction and never wait), and a read of 51 keys is ~51 B-tree lookups in
mapped memory. Values carry their expiry time, checked on read. A hash (an entity's tiles, see
:mod:`skewless.online.tile_keys`) is one value: a msgpack map of field -> bytes, in a tree of its
own (:mod:`skewless.online.embedded_trees`), so the tree a slate reads holds only what it reads.
Decoding the maps of a slate's 51 entities was most of an embedded read, so the values recent
reads took from them are kept with the bytes they came from, and reused while the stored bytes
are the same.

Values read from the main tree are kept for the next reads while no write has committed
(:mod:`skewless.online.snapshot_cache`): a slate's article rows are then dict lookups, not walks of
a B-tree whose pages have left the CPU's caches, and what they give is exactly what the file holds.

With ``prefault``, the first read maps the whole file into the process's page tables
(:mod:`skewless.online.prefault`), so later reads take no page faults. Processes that only write
(materialization, stream workers) never pay it.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import lmdb
import msgpack

from skewless.online.embedded_trees import TREES, open_trees
from skewless.online.prefault import populate_mapping
from skewless.online.protocol import FieldRead, FieldSet, Values
from skewless.online.snapshot_cache import EXPIRY as EXPIRY  # a value's header, for the store's other writers
from skewless.online.snapshot_cache import SnapshotCache, live_values

DEFAULT_MAP_SIZE = 64 << 30  # address space, not disk: the file grows with the data
DECODED_STATES = 4_096  # entity states whose read values are kept: the hot articles of a feed
SNAPSHOT_ENTRIES = 65_536  # main-tree values kept between reads: ~100 MB of 1.5 KB rows


class EmbeddedOnlineStore:
    def __init__(
        self, path: str | Path, *, map_size: int = DEFAULT_MAP_SIZE, prefault: bool = True, read_cache_entries: int = SNAPSHOT_ENTRIES
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        # One environment per process and path; lock=True lets processes share it safely.
        self.env = lmdb.open(str(self.path), map_size=map_size, max_dbs=TREES, subdir=True, readahead=False, lock=True)
        self.trees = open_trees(self.env)
        # hash key -> (stored bytes, fields, values); ordered, so the oldest goes first in O(1)
        self._decoded: OrderedDict[bytes, tuple[bytes, FieldSet, Values]] = OrderedDict()
        self._unmapped = prefault
        self.snapshot_cache = SnapshotCache(read_cache_entries) if read_cache_entries else None

    def _map_pages(self) -> None:
        self._unmapped = False
        populate_mapping(self.path / "data.mdb")

    def get_many(self, keys: Sequence[bytes]) -> Values:
        if self._unmapped:
            self._map_pages()
        with self.env.begin(buffers=False) as txn:
            return self._values(txn, keys, time.time_ns() // 1000)

    def read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        if self._unmapped:
            self._map_pages()
        now = time.time_ns() // 1000
        fields: list[Values] = []
        with self.env.begin(buffers=False) as txn:
            values = self._values(txn, keys, now)
            tree = self.trees.hashes
            for hashes, wanted in field_reads:
                flat: Values = []
                for key in hashes:
                    flat += self._fields(txn.get(key, None, tree), key, wanted, now)
                fields.append(flat)
        return values, fields

    def _values(self, txn: lmdb.Transaction, keys: Sequence[bytes], now_us: int) -> Values:
        cache = self.snapshot_cache
        return live_values(txn, keys, now_us) if cache is None else cache.values(txn, keys, now_us)

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
