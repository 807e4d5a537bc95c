"""Online stores on Redis: standalone (one round trip per read) and Redis Cluster (one per node).

Reads are packed by hand (:mod:`skewless.online.resp`); writes go through redis-py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from skewless.errors import OnlineStoreUnavailableError
from skewless.online.protocol import FieldRead, Values
from skewless.online.resp import place, plan_commands, run_keyed, standalone_commands, standalone_read, standalone_replies
from skewless.online.resp_async import PipelinedConnections


class RedisOnlineStore:
    what = "redis"
    client: Any
    # Its socket timeout bounds a read (no client retries): serving calls it directly, not through a
    # deadline thread, whose hand-offs cost more than the read on a busy machine (see serving.guard).
    bounds_reads = True

    def __init__(self, url: str, *, timeout_seconds: float = 0.05) -> None:
        # No client-side retries: the store timeout must bound a read (redis-py retries 3 times by default).
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds, retry=Retry(NoBackoff(), 0)
        )
        self._pipelined = PipelinedConnections(self.client.connection_pool.connection_kwargs, f"{self.what} read")

    def get_many(self, keys: Sequence[bytes]) -> Values:
        return self.read(keys, ())[0]

    def read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        return standalone_read(self.client, keys, field_reads, f"{self.what} read")

    async def read_async(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        """:meth:`read` on the running event loop's connection (serving awaits it, so one worker
        prepares and answers other requests while Redis works). Unbounded: the caller times it
        out (serving's GuardedStore, which allows for a busy loop; a socket timeout would fire on
        answers that came in time)."""
        replies = await self._pipelined.exchange(standalone_commands(keys, field_reads))
        return standalone_replies(replies, keys, field_reads)

    def put_many(self, items: Sequence[tuple[bytes, bytes]], *, ttl_seconds: int | None = None) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for key, value in items:
                pipe.set(key, value, ex=ttl_seconds)
            pipe.execute()
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(f"{self.what} write failed: {exc}") from exc

    def delete_many(self, keys: Sequence[bytes]) -> None:
        if keys:
            self.client.delete(*keys)

    def close(self) -> None:
        self.client.close()


class RedisClusterOnlineStore(RedisOnlineStore):
    """Keys spread over the cluster's slots; a read sends each node its commands in one write."""

    what = "redis cluster"
    bounds_reads = False  # a retry, and redirects after a failover, can each take the socket timeout

    def __init__(self, addresses: Sequence[str], *, timeout_seconds: float = 0.05) -> None:
        nodes = [ClusterNode(host, int(port)) for host, port in (a.rsplit(":", 1) for a in addresses)]  # type: ignore[no-untyped-call]
        self.client = RedisCluster(
            startup_nodes=nodes,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            require_full_coverage=False,
            retry=Retry(NoBackoff(), 1),  # one retry follows the new topology after a failover
        )

    def read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        """The commands grouped by the node owning each key's slot, sent to all nodes before any
        reply is read. After a failover (a dead node, MOVED) the topology is learned again and
        the read sent once more."""
        try:
            return self._read(keys, field_reads)
        except OnlineStoreUnavailableError:
            try:
                self.client.nodes_manager.initialize()
            except redis.RedisError as exc:
                raise OnlineStoreUnavailableError(f"{self.what} read failed: {exc}") from exc
            return self._read(keys, field_reads)

    async def read_async(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        """The blocking :meth:`read` on a thread: a read may learn a new topology after a failover,
        which redis-py's cluster client only does synchronously."""
        return await asyncio.get_running_loop().run_in_executor(None, self.read, keys, field_reads)

    def _read(self, keys: Sequence[bytes], field_reads: Sequence[FieldRead]) -> tuple[Values, list[Values]]:
        commands = plan_commands(keys, field_reads)
        replies = run_keyed(self.client, [(key, packed) for key, packed, _ in commands], f"{self.what} read")
        return place(replies, [target for _, _, target in commands], keys, field_reads)

    def delete_many(self, keys: Sequence[bytes]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.delete(key)
        pipe.execute()
