"""Which delivery of an event id is *the* event: the first one logged, whatever its keys.

Offline, an event id counts once across its source: its first write (lowest log position) wins,
even when a later copy carries other keys (a re-delivery with a changed user or article). The
tiles' guards are per entity, so on their own they would count such a copy for its other entity.
Before events reach the tiles, each claims its id: ``SET id seq NX GET`` (one command, packed by
hand: a batch claims thousands, see :mod:`skewless.online.resp`). The copy whose
log position is stored is the event; any other copy is dropped. A batch redone after a crash has
the same log positions, so it finds its own claims and goes on (the guards keep that idempotent).
Claims expire with the guards: later than that, a copy is late anyway.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from skewless.online.resp import bulk, run_keyed

_EXPIRY_BYTES = 8


def claim_key(project: str, source: str, event_id: bytes) -> bytes:
    return f"sk:{project}:claim:{source}:".encode() + event_id


def claim(writer: Any, keys: Sequence[bytes], seqs: Sequence[int], expires_at_us: Sequence[int]) -> list[bool]:
    """For each (id key, log position), whether that position holds the id (claimed now or before).
    ``writer``: the tile writer of the store (:func:`~skewless.online.tile_writes.tile_writer_for`),
    whose connections suit bulk writes."""
    if not keys:
        return []
    from skewless.online.embedded import EXPIRY, EmbeddedOnlineStore

    store = writer.store
    if isinstance(store, EmbeddedOnlineStore):
        now = time.time_ns() // 1000
        result = []
        guards = store.trees.guards
        with store.env.begin(write=True) as txn:
            for key, seq, expires in zip(keys, seqs, expires_at_us, strict=True):
                stored = txn.get(key, None, guards)
                if stored is not None and EXPIRY.unpack_from(stored)[0] > now:  # a live claim
                    result.append(int(stored[_EXPIRY_BYTES:]) == seq)
                    continue
                txn.put(key, EXPIRY.pack(expires) + str(seq).encode(), db=guards)
                result.append(True)
        return result
    client = getattr(writer, "client", None) or store.client
    # SET key seq NX PXAT t GET: sets only a new claim, and answers the claim there was (None if none).
    head, options = b"*7\r\n$3\r\nSET\r\n", b"$2\r\nNX\r\n$4\r\nPXAT\r\n"
    commands = [
        (key, head + bulk(key) + bulk(b"%d" % seq) + options + bulk(b"%d" % max(1, expires // 1000)) + b"$3\r\nGET\r\n")
        for key, seq, expires in zip(keys, seqs, expires_at_us, strict=True)
    ]
    previous = run_keyed(client, commands, "claiming event ids", node_client=getattr(writer, "node_client", None))
    return [value is None or int(value) == seq for value, seq in zip(previous, seqs, strict=True)]
