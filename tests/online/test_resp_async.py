"""Awaited reads on one pipelined connection per event loop, against a real redis-server: each read
gets its own replies however many are in flight, a read given up on leaves the connection in
step, a connection silent for a second is dropped and a new one made, and passwords and databases
are honoured. The oracle is redis-py's synchronous client reading the same keys."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from pathlib import Path

import pytest
import redis

from servers import RedisServer, start_redis
from skewless.errors import OnlineStoreUnavailableError
from skewless.online.resp import command
from skewless.online.resp_async import PipelinedConnections


def _connections(url: str) -> PipelinedConnections:
    return PipelinedConnections(redis.Redis.from_url(url, socket_connect_timeout=1.0).connection_pool.connection_kwargs, "redis read")


def _mget(keys: list[bytes]) -> bytes:
    return command(b"MGET", keys[0], keys[1:])


def test_concurrent_reads_each_get_their_own_replies(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    prefix = uuid.uuid4().hex.encode()
    keys = [prefix + b"%d" % i for i in range(200)]
    client.mset({k: b"v" + k for k in keys[::2]})  # every other key absent
    rng = random.Random(7)
    reads = [rng.sample(keys, rng.randint(1, 30)) for _ in range(300)]
    connections = _connections(redis_server.url)

    async def all_at_once() -> list[list[object]]:
        answers = await asyncio.gather(*(connections.exchange([_mget(r), _mget(r[:1])]) for r in reads))
        # A read given up on (its client left, or a timeout) while others are in flight on a busy
        # loop: the others, and the reads after, still get their own replies.
        in_flight = [asyncio.ensure_future(connections.exchange([_mget(r)])) for r in reads[:20]]
        await asyncio.sleep(0)  # all sent
        time.sleep(0.02)  # the loop busy with other work: nothing read meanwhile
        in_flight[5].cancel()
        others = await asyncio.gather(*(f for i, f in enumerate(in_flight) if i != 5))
        after = await connections.exchange([_mget(keys[:3])])
        return [*answers, others, after]

    *answers, others, after = asyncio.run(all_at_once())
    assert answers == [[client.mget(r), client.mget(r[:1])] for r in reads]
    assert others == [[client.mget(r)] for i, r in enumerate(reads[:20]) if i != 5]
    assert after == [client.mget(keys[:3])]


def test_a_connection_silent_for_a_second_is_made_again(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    connections = _connections(server.url)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(connections.exchange([command(b"PING", b"x")])) == [b"x"]
        (first_id,) = loop.run_until_complete(connections.exchange([command(b"CLIENT", b"ID")]))
        os.kill(server.pid, signal.SIGSTOP)  # accepts, never answers
        try:
            with pytest.raises(TimeoutError):  # a timeout alone keeps the connection: its replies are dropped when they come
                loop.run_until_complete(asyncio.wait_for(connections.exchange([command(b"PING", b"y")]), 0.1))
            time.sleep(1.1)  # silent for over a second with a read waiting: presumed dead
        finally:
            os.kill(server.pid, signal.SIGCONT)
        # This read is on a new connection, and not handed the "y" meant for the given-up read.
        replies = loop.run_until_complete(connections.exchange([command(b"PING", b"z"), command(b"CLIENT", b"ID")]))
        assert replies[0] == b"z" and replies[1] != first_id
        server.stop()
        with pytest.raises(OnlineStoreUnavailableError, match="redis read"):
            loop.run_until_complete(connections.exchange([command(b"PING", b"gone")]))
    finally:
        loop.close()
        server.stop()


def test_password_and_database(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    try:
        redis.Redis.from_url(server.url).config_set("requirepass", "s3cret")
        secured = server.url.replace("redis://", "redis://:s3cret@").rsplit("/", 1)[0] + "/3"
        redis.Redis.from_url(secured).set(b"k", b"in db 3")
        assert asyncio.run(_connections(secured).exchange([command(b"GET", b"k")])) == [b"in db 3"]
        wrong = server.url.replace("redis://", "redis://:wrong@")
        with pytest.raises(OnlineStoreUnavailableError, match=r"WRONGPASS|invalid"):
            asyncio.run(_connections(wrong).exchange([command(b"GET", b"k")]))
    finally:
        server.stop()
