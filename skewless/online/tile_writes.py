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
tiles and raw records are fields of the entity's state hash (:mod:`skewless.online.tile_keys`);
its window summary, merged into the entity's summary, is a value of its own beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple, Protocol

from skewless.aggregation.summaries import SummaryLayout
from skewless.aggregation.tiles import TileLayout
from skewless.aggregation.windows import MICROS
from skewless.online.protocol import OnlineStore
from skewless.online.tile_keys import raw_field, tile_field

# (field, payload): a msgpack partial to merge into a tile, or raw records to append; the field's
# expiry follows from its name (StateSpec). A plain tuple: a batch makes tens of thousands of them.
Write = tuple[bytes, bytes]


@dataclass(frozen=True)
class StateSpec:
    """How a view's entity states are written: ``codes``, how each slot of its partials merges
    (see :class:`~skewless.aggregation.tiles.Slot`); ``keeps``, per field prefix (a tile level's
    ``t:<level>:``, raw records' ``r:``), how long after its start a field is kept, so a field's
    expiry follows from its name; ``prune_above``, the field count past which a state must hold
    expired fields (a quarter more than its live fields can be), when a write drops them;
    ``summary``, the view's window summaries (None: it has none, see
    :mod:`skewless.aggregation.summaries`)."""

    codes: tuple[str, ...]
    keeps: tuple[tuple[bytes, int], ...]
    prune_above: int
    summary: SummaryLayout | None = None

    @classmethod
    def of(cls, layout: TileLayout) -> StateSpec:
        sizes = [(tile_field(level, 0)[:-1], level, level + layout.retention[level] + layout.history_seconds) for level in layout.levels]
        sizes.append((raw_field(0)[:-1], layout.base, layout.base + layout.history_seconds))
        live = sum(kept // size + 1 for _, size, kept in sizes)
        keeps = tuple((prefix, kept * MICROS) for prefix, _, kept in sizes)
        return cls(layout.codes, keeps, live + live // 4 + 8, SummaryLayout.of(layout))

    @cached_property
    def _keep_of(self) -> dict[bytes, int]:
        return dict(self.keeps)

    @cached_property
    def _expiry_of(self) -> dict[bytes, int]:
        return {}

    def expires_us(self, field_name: bytes) -> int:
        # A batch writes the same few hundred fields (tile starts) for thousands of entities: parse each once.
        expiry = self._expiry_of.get(field_name)
        if expiry is None:
            prefix, _, start = field_name.rpartition(b":")
            if len(self._expiry_of) > 100_000:
                self._expiry_of.clear()
            expiry = self._expiry_of[field_name] = int(start) + self._keep_of[prefix + b":"]
        return expiry


class EntityUpdate(NamedTuple):
    """One entity's events of one batch for one view, pre-aggregated. The guard keeps an event id
    while the event is younger than ``keep_ids_us``; older events are refused as late before they
    reach the store. ``ids`` are distinct; ``ids_ts_us`` are their event times."""

    spec: StateSpec
    tag: bytes  # the entity's hash tag: its guard and state keys derive from it
    keep_ids_us: int
    ids: Sequence[bytes]
    ids_ts_us: Sequence[int]
    tiles: Sequence[Write]  # merged with the tile's current partial
    raws: Sequence[Write]  # appended to the base tile's raw records
    summary: bytes = b""  # the events as a window summary, merged into the entity's (b"": the view has none)


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
