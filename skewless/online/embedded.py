"""The embedded online store: LMDB, a memory-mapped B-tree in one file under the repo.

No server. Any number of processes read concurrently while one writes (MVCC: readers see the
last committed transaction and never wait), and a read of 51 keys is ~51 B-tree lookups in
mapped memory. Values carry their expiry time, checked on read. A hash (an entity's tiles, see
:mod:`skewless.online.tile_keys`) is one value: a msgpack map of field -> bytes. Decoding the maps
of a slate's 51 entities was most of an embedded read, so the decoded maps of recent reads are
kept with the bytes they came from, and reused while the stored bytes are the same (one memcmp).
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
DECODED_STATES = 4_096  # decoded entity states kept (a few KB each): the hot articles of a feed


class EmbeddedOnlineStore:
    def __init__(self, path: str | Path, *, map_size: int = DEFAULT_MAP_SIZE) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        # One environment per process and path; lock=True lets processes share it safely.
        self.env = lmdb.open(str(self.path), map_size=map_size, max_dbs=1, subdir=True, readahead=False, lock=True)
        self._decoded: dict[bytes, tuple[bytes, dict[bytes, bytes]]] = {}  # hash key -> (stored bytes, map)

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
                for key in hashes:
                    state = self._state(txn.get(key), key, now)
                    # map(get) runs in C: an entity of a slate asks ~25 fields, a slate ~1,300.
                    flat += map(state.get, names) if state is not None else [None] * len(names)
                fields.append(flat)
        return values, fields

    def _state(self, raw: bytes | None, key: bytes, now_us: int) -> dict[bytes, bytes] | None:
        if raw is None or 0 < EXPIRY.unpack_from(raw)[0] <= now_us:
            return None
        decoded = self._decoded.get(key)
        if decoded is not None and decoded[0] == raw:
            return decoded[1]
        state: dict[bytes, bytes] = msgpack.unpackb(raw[8:])
        if len(self._decoded) >= DECODED_STATES:
            self._decoded.clear()  # not LRU: a dict cleared now and then is safe from any thread
        self._decoded[key] = (raw, state)
        return state

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
