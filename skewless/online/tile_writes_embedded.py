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

    def merge_tiles(self, updates: Sequence[EntityUpdate]) -> list[list[bytes]]:
        now = time.time_ns() // 1000
        mergers = {codes: merger(codes) for codes in {u.codes for u in updates}}
        pack, unpack, expiry = msgpack.packb, msgpack.unpackb, EXPIRY.pack
        result: list[list[bytes]] = []
        with self.store.env.begin(write=True) as txn:
            cursor = txn.cursor()
            # The keys of one call are distinct (one update per view and entity): read them all with
            # one getmulti, write them all with one putmulti, instead of a call per key.
            id_keys = [[u.guard_key + b":" + i for i in u.ids] for u in updates]
            seen_keys = {k for k, v in cursor.getmulti([k for keys in id_keys for k in keys]) if _live(v, now) is not None}
            fresh = []
            for update, keys in zip(updates, id_keys, strict=True):
                seen = [i for i, k in zip(update.ids, keys, strict=True) if k in seen_keys] if seen_keys else []
                result.append(seen)
                if not seen:
                    fresh.append((update, keys))
            current = dict(cursor.getmulti([w[0] for u, _ in fresh for w in (*u.tiles, *u.raws)]))
            puts: list[tuple[bytes, bytes]] = []
            for update, keys in fresh:
                puts += [(k, expiry(ts + update.keep_ids_us)) for k, ts in zip(keys, update.ids_ts_us, strict=True)]
                merge = mergers[update.codes]
                for key, payload, expires in update.tiles:
                    old = _live(current.get(key), now)
                    puts.append((key, expiry(expires) + (payload if old is None else pack(merge(unpack(old), unpack(payload))))))
                for key, payload, expires in update.raws:
                    old = _live(current.get(key), now)
                    puts.append((key, expiry(expires) + (payload if old is None else old + payload)))
            cursor.putmulti(puts)
        return result


def _live(raw: bytes | None, now_us: int) -> bytes | None:
    if raw is None:
        return None
    (expires,) = EXPIRY.unpack_from(raw)
    return raw[8:] if expires == 0 or expires > now_us else None
