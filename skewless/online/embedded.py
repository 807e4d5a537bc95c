"""The embedded online store: LMDB, a memory-mapped B-tree in one file under the repo.

No server. Any number of processes read concurrently while one writes (MVCC: readers see the
last committed transaction and never wait), and a read of 51 keys is ~51 B-tree lookups in
mapped memory. Values carry their expiry time, checked on read. A hash (an entity's tiles, see
:mod:`skewless.online.tile_keys`) is one value: a msgpack map of field -> bytes.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from pathlib import Path

import lmdb
import msgpack

from skewless.online.protocol import FieldRead, Values

EXPIRY = struct.Struct(">q")  # µs since the epoch; 0 = never
DEFAULT_MAP_SIZE = 64 << 30  # address space, not disk: the file grows with the data


class EmbeddedOnlineStore:
    def __init__(self, path: str | Path, *, map_size: int = DEFAULT_MAP_SIZE) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        # One environment per process and path; lock=True lets processes share it safely.
        self.env = lmdb.open(str(self.path), map_size=map_size, max_dbs=1, subdir=True, readahead=False, lock=True)

    def get_many(self, keys: Sequence[bytes]) -> Values:
        with self.env.begin(buffers=False) as txn:
            return _live_values(txn, keys, time.time_ns() // 1000)

    def read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        now = time.time_ns() // 1000
        fields: list[Values] = []
        with self.env.begin(buffers=False) as txn:
            values = _live_values(txn, keys, now)
            for hashes, wanted in field_reads:
                flat: Values = []
                names = wanted.names
                for stored in _live_values(txn, hashes, now):
                    # map(get) runs in C: an entity of a slate asks ~25 fields, a slate ~1,300.
                    flat += map(msgpack.unpackb(stored).get, names) if stored is not None else [None] * len(names)
                fields.append(flat)
        return values, fields

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


def _live_values(txn: lmdb.Transaction, keys: Sequence[bytes], now_us: int) -> Values:
    result: Values = []
    for key in keys:
        raw = txn.get(key)
        if raw is None:
            result.append(None)
            continue
        (expires,) = EXPIRY.unpack_from(raw)
        result.append(raw[8:] if expires == 0 or expires > now_us else None)  # type: ignore[arg-type]  # buffers=False: bytes
    return result
