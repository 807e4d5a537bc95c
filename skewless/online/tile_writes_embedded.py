"""Tile writes on the embedded (LMDB) store: one write transaction for all batches.

LMDB has one writer at a time, so a transaction is the atomic step: its guard checks and tile
merges commit together or not at all. The guard is one key per (entity, event id) holding the
id's expiry, in the store's own value format (expiry header + bytes), so reads skip expired ids
exactly as they skip expired tiles.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgpack

from skewless.aggregation.tiles import merge_coded
from skewless.online.embedded import EXPIRY, EmbeddedOnlineStore
from skewless.online.tile_writes import EntityBatch


class EmbeddedTileWriter:
    def __init__(self, store: EmbeddedOnlineStore) -> None:
        self.store = store

    def merge_tiles(self, codes: Sequence[str], batches: Sequence[EntityBatch]) -> int:
        now = time.time_ns() // 1000
        applied = 0
        with self.store.env.begin(write=True) as txn:
            for batch in batches:
                for event in batch.events:
                    id_key = batch.guard_key + b":" + event.event_id
                    if _live(txn.get(id_key), now) is not None:
                        continue
                    txn.put(id_key, EXPIRY.pack(event.ts_us + batch.keep_ids_us))
                    applied += 1
                    for write in event.writes:
                        current = _live(txn.get(write.key), now)
                        if current is None:
                            value = write.payload
                        elif write.append:
                            value = current + write.payload
                        else:
                            value = msgpack.packb(merge_coded(codes, msgpack.unpackb(current), msgpack.unpackb(write.payload)))
                        txn.put(write.key, EXPIRY.pack(write.expires_at_us) + value)
        return applied


def _live(raw: bytes | None, now_us: int) -> bytes | None:
    if raw is None:
        return None
    (expires,) = EXPIRY.unpack_from(raw)
    return raw[8:] if expires == 0 or expires > now_us else None
