"""Writing tiles: merge event partials into an entity's tiles, each event id once.

A tile update is computed in Python (:mod:`skewless.streaming.tiling`) and handed to the store
as an :class:`EntityBatch`: the events of one entity of one view, each with its id and the
tiles it changes. The store applies a batch atomically: an event whose id its guard already
holds is skipped, so a batch replayed after a crash (a worker killed between the store and the
acknowledgement) changes nothing. Every key of a batch shares the entity's hash tag, so on
Redis Cluster the whole batch runs in one slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from skewless.online.protocol import OnlineStore


@dataclass(frozen=True)
class TileWrite:
    """Merge ``payload`` (a msgpack partial) into tile ``key``, or append it (a raw event record)."""

    key: bytes
    payload: bytes
    expires_at_us: int
    append: bool = False


@dataclass(frozen=True)
class GuardedEvent:
    event_id: bytes
    ts_us: int
    writes: Sequence[TileWrite]


@dataclass(frozen=True)
class EntityBatch:
    """One entity's events for one view. The guard keeps an event id while the event is younger
    than ``keep_ids_us``; older events are refused as late before they reach the store."""

    guard_key: bytes
    keep_ids_us: int
    events: Sequence[GuardedEvent]


class TileWriter(Protocol):
    def merge_tiles(self, codes: Sequence[str], batches: Sequence[EntityBatch]) -> int:
        """Apply the batches (``codes``: how each slot of a partial merges, see
        :class:`~skewless.aggregation.tiles.Slot`); returns how many events were new."""
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
