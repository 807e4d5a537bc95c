"""Tile writes on Redis and Redis Cluster: Lua script calls, pipelined.

The script (``tile_merge.lua``) checks each update's event ids against the entity's guard and,
only if none is there, records them and merges the update into the tiles, atomically per entity.
On a standalone Redis a call carries many entities; on a cluster one, since all keys of a call
must share a slot: those of an entity do (its hash tag), so the call runs on the node owning it.
The writer talks to Redis over its own connections: the online store's are tuned for reads
(serving's ``store_timeout_ms``, 50 ms by default), far less than a pipeline of script calls takes.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from importlib import resources
from itertools import chain
from typing import Any, Final

import msgpack
import redis

from skewless.errors import OnlineStoreUnavailableError
from skewless.online.redis_store import RedisClusterOnlineStore, RedisOnlineStore
from skewless.online.tile_keys import guard_key, state_key, summary_key
from skewless.online.tile_writes import EntityUpdate, StateSpec

_SCRIPT = resources.files("skewless.online").joinpath("tile_merge.lua").read_text()
WRITE_TIMEOUT_SECONDS: Final = 30.0
# Entities per script call on a standalone Redis (on a cluster, one: each has its own slot). Bigger
# calls amortize the call overhead, but block other clients longer (~50 entities: ~1 ms).
ENTITIES_PER_CALL: Final = 50


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
            return _run(self.client, self._script, updates, per_call=ENTITIES_PER_CALL)
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(f"{self.store.what} tile write failed: {exc}") from exc


def _run(client: Any, script: Any, updates: Sequence[EntityUpdate], *, per_call: int) -> list[list[bytes]]:
    """Script calls of ``per_call`` entities each (a call costs ~10 µs of Redis time before any
    work), in one pipeline; a call whose script the server lost (a restart) is loaded and sent again."""
    try:
        return _send(client, script, updates, per_call)
    except redis.exceptions.NoScriptError:
        script.sha = client.script_load(_SCRIPT)
        return _send(client, script, updates, per_call)  # the calls that ran find their ids seen


def _send(client: Any, script: Any, updates: Sequence[EntityUpdate], per_call: int) -> list[list[bytes]]:
    """Pipelined by hand: each chunk of calls is sent as soon as it is packed, so Redis (on another
    core) runs the first calls while Python packs the next, and the replies are read at the end."""
    if not updates:
        return []
    specs = list(dict.fromkeys(u.spec for u in updates))
    index = {spec: i + 1 for i, spec in enumerate(specs)}  # Lua counts from 1
    packed_specs = msgpack.packb([[list(s.codes), dict(s.keeps), s.prune_above, _summary_spec(s)] for s in specs], use_bin_type=False)
    now_us = time.time_ns() // 1000
    pack = msgpack.packb
    pool = client.connection_pool
    connection = pool.get_connection()
    sent, chunk = 0, []
    try:
        for first in range(0, len(updates), per_call):
            group = updates[first : first + per_call]
            keys = [k for u in group for k in (guard_key(u.tag), state_key(u.tag), summary_key(u.tag))]
            args: list[Any] = ["EVALSHA", script.sha, len(keys), *keys, packed_specs, now_us]
            for u in group:
                update = [u.ids, u.ids_ts_us, list(chain.from_iterable(u.tiles)), list(chain.from_iterable(u.raws))]
                packed = pack(update, use_bin_type=False)
                args += (index[u.spec], (now_us + u.keep_ids_us) // 1000, now_us - u.keep_ids_us, packed, u.summary)
            chunk.append(args)
            if len(chunk) == 10 or first + per_call >= len(updates):
                connection.send_packed_command(connection.pack_commands(chunk))
                sent, chunk = sent + len(chunk), []
        replies = []
        error: Exception | None = None
        for _ in range(sent):  # every reply is read, errors too, so the connection stays in step
            try:
                replies.append(connection.read_response())
            except redis.ResponseError as exc:
                error = error or exc
        if error is not None:
            raise error
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)
    return [list(seen) for call in replies for seen in call]


def _summary_spec(spec: StateSpec) -> list[Any] | bool:
    """What the script needs of a view's summaries (see ``tile_merge.lua``); False: it has none.
    (Redis' Lua msgpack has no bin type: everything here is numbers and short strings.)"""
    s = spec.summary
    if s is None:
        return False
    return [list(s.levels), list(s.spans_us), list(s.codes), list(s.ordered_codes), s.keep_us]


class RedisClusterTileWriter:
    """The same script on a cluster: redis-py's cluster pipeline refuses scripts, so the calls are
    grouped by the node owning each entity's slot and sent as one plain pipeline per node."""

    def __init__(self, store: RedisClusterOnlineStore) -> None:
        self.store = store
        self._scripts: dict[str, Any] = {}

    def node_client(self, node: Any) -> redis.Redis:
        """A client to ``node`` whose timeout suits bulk writes (the id claims use it too)."""
        return _writing_client(self.store.client.get_redis_connection(node))

    def merge_tiles(self, updates: Sequence[EntityUpdate]) -> list[list[bytes]]:
        cluster = self.store.client
        try:
            try:
                return self._merge(cluster, updates)
            except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                # A failover moved slots: learn the new topology and send everything again (the calls
                # that already ran find their ids in the guard and change nothing).
                cluster.nodes_manager.initialize()
                self._scripts.clear()
                return self._merge(cluster, updates)
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(f"{self.store.what} tile write failed: {exc}") from exc

    def _merge(self, cluster: Any, updates: Sequence[EntityUpdate]) -> list[list[bytes]]:
        by_node: dict[str, tuple[Any, list[int]]] = {}
        for i, update in enumerate(updates):
            node = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(guard_key(update.tag)))
            by_node.setdefault(node.name, (node, []))[1].append(i)
        result: list[list[bytes]] = [[] for _ in updates]
        for node, indexes in by_node.values():
            client = self.node_client(node)
            script = self._scripts.get(node.name)
            if script is None:
                script = self._scripts[node.name] = client.register_script(_SCRIPT)
            for i, seen in zip(indexes, _run(client, script, [updates[i] for i in indexes], per_call=1), strict=True):
                result[i] = seen
        return result
