"""Tile writes on the embedded (LMDB) store: one write transaction for all updates.

LMDB has one writer at a time, so a transaction is the atomic step: its guard checks and tile
merges commit together or not at all. The guard is one key per (entity, event id) holding the
id's expiry, in the store's own value format (expiry header + bytes), so reads skip expired ids
exactly as they skip expired tiles.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgpack

from skewless.aggregation.tiles import merger
from skewless.online.embedded import EXPIRY, EmbeddedOnlineStore
from skewless.online.tile_writes import EntityUpdate


class EmbeddedTileWriter:
    def __init__(self, store: EmbeddedOnlineStore) -> None:
        self.store = store

    def merge_tiles(self, codes: Sequence[str], updates: Sequence[EntityUpdate]) -> list[list[bytes]]:
        now = time.time_ns() // 1000
        merge = merger(codes)
        pack, unpack, expiry = msgpack.packb, msgpack.unpackb, EXPIRY.pack
        result: list[list[bytes]] = []
        with self.store.env.begin(write=True) as txn:
            get, put = txn.get, txn.put
            for update in updates:
                prefix = update.guard_key + b":"
                id_keys = [prefix + i for i in update.ids]
                seen = [i for i, key in zip(update.ids, id_keys, strict=True) if _live(get(key), now) is not None]
                result.append(seen)
                if seen:
                    continue
                for key, ts in zip(id_keys, update.ids_ts_us, strict=True):
                    put(key, expiry(ts + update.keep_ids_us))
                for key, payload, expires in update.tiles:
                    current = _live(get(key), now)
                    value = payload if current is None else pack(merge(unpack(current), unpack(payload)))
                    put(key, expiry(expires) + value)
                for key, payload, expires in update.raws:
                    current = _live(get(key), now)
                    put(key, expiry(expires) + (payload if current is None else current + payload))
        return result


def _live(raw: bytes | None, now_us: int) -> bytes | None:
    if raw is None:
        return None
    (expires,) = EXPIRY.unpack_from(raw)
    return raw[8:] if expires == 0 or expires > now_us else None
