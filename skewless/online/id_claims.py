"""Which delivery of an event id is *the* event: the first one logged, whatever its keys.

Offline, an event id counts once across its source: its first write (lowest log position) wins,
even when a later copy carries other keys (a re-delivery with a changed user or article). The
tiles' guards are per entity, so on their own they would count such a copy for its other entity.
Before events reach the tiles, each claims its id: ``SET id seq NX`` then ``GET``. The copy whose
log position is stored is the event; any other copy is dropped. A batch redone after a crash has
the same log positions, so it finds its own claims and goes on (the guards keep that idempotent).
Claims expire with the guards: later than that, a copy is late anyway.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis

from skewless.errors import OnlineStoreUnavailableError

_EXPIRY_BYTES = 8


def claim_key(project: str, source: str, event_id: bytes) -> bytes:
    return f"sk:{project}:claim:{source}:".encode() + event_id


def claim(store: Any, keys: Sequence[bytes], seqs: Sequence[int], expires_at_us: Sequence[int]) -> list[bool]:
    """For each (id key, log position), whether that position holds the id (claimed now or before)."""
    if not keys:
        return []
    from skewless.online.embedded import EXPIRY, EmbeddedOnlineStore

    if isinstance(store, EmbeddedOnlineStore):
        now = time.time_ns() // 1000
        result = []
        with store.env.begin(write=True) as txn:
            for key, seq, expires in zip(keys, seqs, expires_at_us, strict=True):
                stored = txn.get(key)
                if stored is not None and EXPIRY.unpack_from(stored)[0] > now:  # a live claim
                    result.append(int(stored[_EXPIRY_BYTES:]) == seq)
                    continue
                txn.put(key, EXPIRY.pack(expires) + str(seq).encode())
                result.append(True)
        return result
    client = store if isinstance(store, redis.Redis | redis.RedisCluster) else getattr(store, "client", None)
    if client is None:
        raise TypeError(f"no id claims for {type(store).__name__}")
    try:
        pipe = client.pipeline(transaction=False)
        for key, seq, expires in zip(keys, seqs, expires_at_us, strict=True):
            pipe.set(key, seq, nx=True, pxat=max(1, expires // 1000))
        for key in keys:
            pipe.get(key)
        values = pipe.execute()[len(keys) :]
    except redis.RedisError as exc:
        raise OnlineStoreUnavailableError(f"claiming event ids failed: {exc}") from exc
    return [value is not None and int(value) == seq for value, seq in zip(values, seqs, strict=True)]
