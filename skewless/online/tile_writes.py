"""Writing tiles: merge a batch's pre-aggregated partials into an entity's tiles, each event id once.

The stream computes, per entity of a view, one partial per tile its events touch plus their raw
records (:mod:`skewless.streaming.tiling`), and hands the store an :class:`EntityUpdate`: the
entity's event ids and those writes. The store applies an update atomically and *optimistically*:
if none of its ids is in the entity's guard, it records them and applies every write; if any is
there, it applies nothing and returns the ids it has seen. The caller then rebuilds the update
without them and sends it again (:func:`skewless.streaming.tiling.apply_events`). So an event
counts once even when a batch is replayed after a crash (a worker killed between the store and
the acknowledgement), and a replay costs one round trip per entity. Every key of an update
shares the entity's hash tag, so on Redis Cluster the update runs in one slot. An update's
tiles and raw records are fields of the entity's state hash (:mod:`skewless.online.tile_keys`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from skewless.online.protocol import OnlineStore

# (field, payload, expires_at_us): a msgpack partial to merge into a tile, or raw records to append.
# A plain tuple: a batch makes tens of thousands of them.
Write = tuple[bytes, bytes, int]


class EntityUpdate(NamedTuple):
    """One entity's events of one batch for one view, pre-aggregated. The guard keeps an event id
    while the event is younger than ``keep_ids_us``; older events are refused as late before they
    reach the store. ``ids`` are distinct; ``ids_ts_us`` are their event times. ``codes``: how each
    slot of the view's partials merges (see :class:`~skewless.aggregation.tiles.Slot`)."""

    codes: tuple[str, ...]
    tag: bytes  # the entity's hash tag: its guard, state and index keys derive from it
    keep_ids_us: int
    ids: Sequence[bytes]
    ids_ts_us: Sequence[int]
    tiles: Sequence[Write]  # merged with the tile's current partial
    raws: Sequence[Write]  # appended to the base tile's raw records


class TileWriter(Protocol):
    def merge_tiles(self, updates: Sequence[EntityUpdate]) -> list[list[bytes]]:
        """Apply each update whose ids are all new, in one transaction / round trip where the store
        allows; returns, per update, the ids already seen (empty: applied; otherwise nothing of it was)."""
        ...


def tile_writer_for(store: OnlineStore) -> TileWriter:
    """The tile writer of an online store backend."""
    from skewless.online.embedded import EmbeddedOnlineStore
    from skewless.online.redis_store import RedisClusterOnlineStore, RedisOnlineStore

    if isinstance(store, EmbeddedOnlineStore):
        from skewless.online.tile_writes_embedded import EmbeddedTileWriter

        return EmbeddedTileWriter(store)
    from skewless.online.tile_writes_redis import RedisClusterTileWriter, RedisTileWriter

    if isinstance(store, RedisClusterOnlineStore):
        return RedisClusterTileWriter(store)
    if isinstance(store, RedisOnlineStore):
        return RedisTileWriter(store)
    raise TypeError(f"no tile writer for {type(store).__name__}")
