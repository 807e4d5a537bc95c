"""Tile writes on Redis and Redis Cluster: one Lua script call per entity, pipelined.

The script (``tile_merge.lua``) checks the update's event ids against the entity's guard and,
only if none is there, records them and merges the update into the tiles, in one atomic step.
All keys of a call share the entity's hash tag: on a cluster the call runs on the node owning
that slot. The writer talks to Redis over its own connections: the online store's are tuned for
reads (serving's ``store_timeout_ms``, 50 ms by default), far less than a pipeline of thousands of
script calls may take.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from importlib import resources
from typing import Any, Final

import msgpack
import redis

from skewless.errors import OnlineStoreUnavailableError
from skewless.online.redis_store import RedisClusterOnlineStore, RedisOnlineStore
from skewless.online.tile_writes import EntityUpdate

_SCRIPT = resources.files("skewless.online").joinpath("tile_merge.lua").read_text()
WRITE_TIMEOUT_SECONDS: Final = 30.0


# Per reading client: a stream worker makes a writer per batch, and each would otherwise connect anew.
_WRITING: weakref.WeakKeyDictionary[Any, redis.Redis] = weakref.WeakKeyDictionary()


def _writing_client(client: Any) -> redis.Redis:
    """A client to the same server as ``client`` whose socket timeout suits bulk writes."""
    writing = _WRITING.get(client)
    if writing is None:
        pool = client.connection_pool
        kwargs = {**pool.connection_kwargs, "socket_timeout": WRITE_TIMEOUT_SECONDS, "socket_connect_timeout": 5.0}
        writing = _WRITING[client] = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))
    return writing


class RedisTileWriter:
    def __init__(self, store: RedisOnlineStore) -> None:
        self.store = store
        self.client = _writing_client(store.client)
        self._script: Any = self.client.register_script(_SCRIPT)

    def merge_tiles(self, updates: Sequence[EntityUpdate]) -> list[list[bytes]]:
        try:
            return _run(self.client, self._script, updates)
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(f"{self.store.what} tile write failed: {exc}") from exc


def _run(client: Any, script: Any, updates: Sequence[EntityUpdate]) -> list[list[bytes]]:
    """One script call per entity update, in one pipeline (one round trip)."""
    if not updates:
        return []
    packed = {codes: msgpack.packb(list(codes), use_bin_type=False) for codes in {u.codes for u in updates}}  # Lua's msgpack: no bin
    now_us = time.time_ns() // 1000
    pipe = client.pipeline(transaction=False)
    for u in updates:
        args: list[Any] = [packed[u.codes], (now_us + u.keep_ids_us) // 1000, now_us - u.keep_ids_us, len(u.ids), len(u.tiles)]
        args += u.ids
        args += u.ids_ts_us
        for key, payload, expires in u.tiles:
            args += (key, payload, expires // 1000)
        for key, payload, expires in u.raws:
            args += (key, payload, expires // 1000)
        script(keys=[u.guard_key], args=args, client=pipe)
    return [list(seen) for seen in pipe.execute()]


class RedisClusterTileWriter:
    """The same script on a cluster: redis-py's cluster pipeline refuses scripts, so the calls are
    grouped by the node owning each entity's slot and sent as one plain pipeline per node."""

    def __init__(self, store: RedisClusterOnlineStore) -> None:
        self.store = store
        self._clients: dict[str, tuple[Any, Any]] = {}

    def merge_tiles(self, updates: Sequence[EntityUpdate]) -> list[list[bytes]]:
        cluster = self.store.client
        try:
            try:
                return self._merge(cluster, updates)
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                # A failover moved slots: learn the new topology and send everything again (the calls
                # that already ran find their ids in the guard and change nothing).
                cluster.nodes_manager.initialize()
                self._clients.clear()
                return self._merge(cluster, updates)
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(f"{self.store.what} tile write failed: {exc}") from exc

    def _merge(self, cluster: Any, updates: Sequence[EntityUpdate]) -> list[list[bytes]]:
        by_node: dict[str, tuple[Any, list[int]]] = {}
        for i, update in enumerate(updates):
            node = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(update.guard_key))
            by_node.setdefault(node.name, (node, []))[1].append(i)
        result: list[list[bytes]] = [[] for _ in updates]
        for name, (node, indexes) in by_node.items():
            if name not in self._clients:
                client = _writing_client(cluster.get_redis_connection(node))
                self._clients[name] = (client, client.register_script(_SCRIPT))
            client, script = self._clients[name]
            for i, seen in zip(indexes, _run(client, script, [updates[i] for i in indexes]), strict=True):
                result[i] = seen
        return result
