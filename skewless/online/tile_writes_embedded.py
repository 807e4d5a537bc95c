"""Tile writes on the embedded (LMDB) store: one write transaction for all updates.

LMDB has one writer at a time, so a transaction is the atomic step: its guard checks and tile
merges commit together or not at all. The guard is one key per (entity, event id) holding the
id's expiry, in the store's own value format (expiry header + bytes), so reads skip expired ids
exactly as they skip expired values. An entity's state is one value, a msgpack map of field ->
bytes (what :meth:`~skewless.online.embedded.EmbeddedOnlineStore.read` reads), and its index a
map of field -> expiry (µs), as on Redis (:mod:`skewless.online.tile_keys`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgpack

from skewless.aggregation.tiles import merger
from skewless.online.embedded import EXPIRY, EmbeddedOnlineStore
from skewless.online.tile_keys import guard_key, index_key, state_key
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
            id_keys = [[guard_key(u.tag) + b":" + i for i in u.ids] for u in updates]
            seen_keys = {k for k, v in cursor.getmulti([k for keys in id_keys for k in keys]) if _live(v, now) is not None}
            fresh = []
            for update, keys in zip(updates, id_keys, strict=True):
                seen = [i for i, k in zip(update.ids, keys, strict=True) if k in seen_keys] if seen_keys else []
                result.append(seen)
                if not seen:
                    fresh.append((update, keys))
            stored = dict(cursor.getmulti([k for u, _ in fresh for k in (state_key(u.tag), index_key(u.tag))]))
            puts: list[tuple[bytes, bytes]] = []
            for update, keys in fresh:
                puts += [(k, expiry(ts + update.keep_ids_us)) for k, ts in zip(keys, update.ids_ts_us, strict=True)]
                state_at, index_at = state_key(update.tag), index_key(update.tag)
                state, index = _load(stored.get(state_at), now), _load(stored.get(index_at), now)
                for field in [f for f, expires in index.items() if expires <= now]:
                    # Past its expiry: dropped, so a write to it starts afresh (as an expired key would).
                    del index[field]
                    state.pop(field, None)
                merge = mergers[update.codes]
                for field, payload, expires in update.tiles:
                    old = state.get(field)
                    state[field] = payload if old is None else pack(merge(unpack(old), unpack(payload)))
                    index[field] = expires
                for field, payload, expires in update.raws:
                    state[field] = state.get(field, b"") + payload
                    index[field] = expires
                if index:
                    header = expiry(max(index.values()))
                    puts += [(state_at, header + pack(state)), (index_at, header + pack(index))]
            cursor.putmulti(puts)
        return result


def _load(raw: bytes | None, now_us: int) -> dict[bytes, Any]:
    live = _live(raw, now_us)
    return {} if live is None else dict(msgpack.unpackb(live))


def _live(raw: bytes | None, now_us: int) -> bytes | None:
    if raw is None:
        return None
    (expires,) = EXPIRY.unpack_from(raw)
    return raw[8:] if expires == 0 or expires > now_us else None
