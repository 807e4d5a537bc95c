"""Tile writes on Redis and Redis Cluster: one Lua script call per entity, pipelined.

The script (``tile_merge.lua``) checks each event id against the entity's guard and merges the
event into its tiles in one atomic step, so a replayed batch is a no-op. All keys of a call
share the entity's hash tag: on a cluster the call runs on the node owning that slot, and
redis-py's cluster pipeline groups the calls per node.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

import msgpack
import redis

from skewless.errors import OnlineStoreUnavailableError
from skewless.online.redis_store import RedisClusterOnlineStore, RedisOnlineStore
from skewless.online.tile_writes import EntityBatch

_SCRIPT = resources.files("skewless.online").joinpath("tile_merge.lua").read_text()


class RedisTileWriter:
    def __init__(self, store: RedisOnlineStore) -> None:
        self.store = store
        self._script: Any = store.client.register_script(_SCRIPT)

    def merge_tiles(self, codes: Sequence[str], batches: Sequence[EntityBatch]) -> int:
        try:
            return _run(self.store.client, self._script, codes, batches)
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(f"{self.store.what} tile write failed: {exc}") from exc


def _run(client: Any, script: Any, codes: Sequence[str], batches: Sequence[EntityBatch]) -> int:
    """One script call per entity batch, in one pipeline (one round trip)."""
    if not batches:
        return 0
    packed_codes = msgpack.packb(list(codes), use_bin_type=False)  # Redis' Lua msgpack has no bin type
    now_us = time.time_ns() // 1000
    pipe = client.pipeline(transaction=False)
    for batch in batches:
        events = [[e.event_id, e.ts_us, [[w.key, w.payload, w.expires_at_us // 1000, w.append] for w in e.writes]] for e in batch.events]
        guard_expiry_ms, forget_before_us = (now_us + batch.keep_ids_us) // 1000, now_us - batch.keep_ids_us
        args = [packed_codes, guard_expiry_ms, forget_before_us, msgpack.packb(events, use_bin_type=False)]
        script(keys=[batch.guard_key], args=args, client=pipe)
    return sum(int(n) for n in pipe.execute())


class RedisClusterTileWriter:
    """The same script on a cluster: redis-py's cluster pipeline refuses scripts, so the calls are
    grouped by the node owning each entity's slot and sent as one plain pipeline per node."""

    def __init__(self, store: RedisClusterOnlineStore) -> None:
        self.store = store

    def merge_tiles(self, codes: Sequence[str], batches: Sequence[EntityBatch]) -> int:
        cluster = self.store.client
        try:
            try:
                return self._merge(cluster, codes, batches)
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                # A failover moved slots: learn the new topology and send everything again (the guards
                # make the calls that already ran no-ops).
                cluster.nodes_manager.initialize()
                return self._merge(cluster, codes, batches)
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(f"{self.store.what} tile write failed: {exc}") from exc

    def _merge(self, cluster: Any, codes: Sequence[str], batches: Sequence[EntityBatch]) -> int:
        by_node: dict[str, tuple[Any, list[EntityBatch]]] = {}
        for batch in batches:
            node = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(batch.guard_key))
            by_node.setdefault(node.name, (node, []))[1].append(batch)
        applied = 0
        for node, node_batches in by_node.values():
            client = cluster.get_redis_connection(node)
            applied += _run(client, client.register_script(_SCRIPT), codes, node_batches)
        return applied
